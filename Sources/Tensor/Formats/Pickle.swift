// Pickle: a safe interpreter for the subset of Python pickles that torch.save writes for a state_dict.

/// A value on the pickle machine's stack. Containers are reference types because pickles fill them
/// after memoising them (a later `BINGET` must see the filled container).
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue], depth: Int)
    case list(PickleList)
    case dict(PickleDict)
    case global(module: String, name: String)
    case storage(TorchStorageRef)
    case tensor(TorchTensorRef)

    /// Nesting depth (bounded, so a hostile pickle cannot build values too deep to free).
    ///
    /// Lists and dicts are mutable and reachable through the memo after they are placed inside
    /// another container, so a recorded depth could go stale (append B into A, then grow B through
    /// the memo: A's depth no longer covers B's). Placing a container inside another *seals* its
    /// depth: it may still receive items, but none that would make it deeper.
    var depth: Int {
        switch self {
        case .tuple(_, let d): d
        case .list(let l): l.depth
        case .dict(let d): d.depth
        default: 1
        }
    }
}

final class PickleList {
    var items: [PickleValue] = []
    var depth = 1
    /// Set once the list is inside another container: its depth may no longer grow.
    var sealed = false
}

final class PickleDict {
    var items: [(key: PickleValue, value: PickleValue)] = []
    var depth = 1
    /// Set once the dict is inside another container: its depth may no longer grow.
    var sealed = false
}

extension PickleValue {
    /// Marks a list or dict as contained (see ``depth``).
    func seal() {
        switch self {
        case .list(let l): l.sealed = true
        case .dict(let d): d.sealed = true
        default: break
        }
    }
}

/// `('storage', torch.<Type>Storage, key, location, numel)` from a persistent id.
struct TorchStorageRef {
    let dtype: StoredFloat?
    let typeName: String
    let key: String
    let numel: Int
}

/// The arguments of `torch._utils._rebuild_tensor_v2`.
struct TorchTensorRef {
    let storage: TorchStorageRef
    let storageOffset: Int
    let size: [Int]
    let stride: [Int]
}

/// Runs a pickle program and returns its result. Only the opcodes of protocols 0–5 that carry data
/// (no `INST`/`OBJ`/`NEWOBJ`, no extension registry) and only an allow-list of globals are accepted:
/// `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`
/// and the `torch.*Storage` classes. Anything else is an error, so no code is ever run.
struct PickleMachine {
    let data: UnsafeRawBufferPointer
    let fail: (FileFormatError.Reason, String) -> FileFormatError
    static let maxDepth = 64

    private var pos = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    init(data: UnsafeRawBufferPointer, fail: @escaping (FileFormatError.Reason, String) -> FileFormatError) {
        self.data = data
        self.fail = fail
    }

    private static let storageTypes: [String: StoredFloat?] = [
        "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16, "DoubleStorage": .float64,
        "LongStorage": nil, "IntStorage": nil, "ShortStorage": nil, "CharStorage": nil, "ByteStorage": nil, "BoolStorage": nil,
    ]

    private static let storageSizes: [String: Int] = [
        "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
        "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    ]

    static func itemSize(ofStorageType name: String) -> Int? { storageSizes[name] }

    mutating func run() throws -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()                                   // PROTO
            case 0x95: _ = try bytes(8)                                 // FRAME (protocol 4)
            case 0x2E:                                                  // STOP
                guard let top = stack.popLast() else { throw fail(.corrupt, "pickle STOP with an empty stack") }
                return top
            case 0x28: marks.append(stack.count)                        // MARK
            case 0x29: push(.tuple([], depth: 1))                       // EMPTY_TUPLE
            case 0x74: try push(tuple(try popMark()))                   // TUPLE
            case 0x85: let a = try pop(); try push(tuple([a]))          // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); try push(tuple([a, b]))
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); try push(tuple([a, b, c]))
            case 0x5D: push(.list(PickleList()))                        // EMPTY_LIST
            case 0x6C: let l = PickleList(); try append(l, try popMark()); push(.list(l))  // LIST
            case 0x61: let v = try pop(); try append(try topList(), [v])                   // APPEND
            case 0x65: let vs = try popMark(); try append(try topList(), vs)               // APPENDS
            case 0x7D: push(.dict(PickleDict()))                        // EMPTY_DICT
            case 0x64: let d = PickleDict(); try setItems(d, try popMark()); push(.dict(d))  // DICT
            case 0x73: let v = try pop(), k = try pop(); try setItems(try topDict(), [k, v]) // SETITEM
            case 0x75: let kvs = try popMark(); try setItems(try topDict(), kvs)           // SETITEMS
            case 0x4E: push(.none)                                      // NONE
            case 0x88: push(.bool(true))                                // NEWTRUE
            case 0x89: push(.bool(false))                               // NEWFALSE
            case 0x4A: push(.int(Int(Int32(bitPattern: UInt32(try uint(4))))))  // BININT
            case 0x4B: push(.int(try uint(1)))                          // BININT1
            case 0x4D: push(.int(try uint(2)))                          // BININT2
            case 0x8A: push(.int(try long(try uint(1))))                // LONG1
            case 0x47:                                                  // BINFLOAT (big-endian)
                let raw = try bytes(8)
                var bits: UInt64 = 0
                for b in raw { bits = bits << 8 | UInt64(b) }
                push(.float(Double(bitPattern: bits)))
            case 0x58: push(.string(try text(try uint(4))))             // BINUNICODE
            case 0x8C: push(.string(try text(try uint(1))))             // SHORT_BINUNICODE
            case 0x8D: push(.string(try text(try uint(8))))             // BINUNICODE8
            case 0x55: push(.string(try text(try uint(1))))             // SHORT_BINSTRING
            case 0x54: push(.string(try text(try uint(4))))             // BINSTRING
            case 0x42: push(.bytes(try bytes(try uint(4))))             // BINBYTES
            case 0x43: push(.bytes(try bytes(try uint(1))))             // SHORT_BINBYTES
            case 0x63:                                                  // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                push(try global(module, name))
            case 0x93:                                                  // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail(.corrupt, "STACK_GLOBAL needs two strings")
                }
                push(try global(module, name))
            case 0x52:                                                  // REDUCE
                let args = try pop(), callable = try pop()
                push(try reduce(callable, args))
            case 0x62:                                                  // BUILD: object state (state_dict `_metadata`) is ignored
                _ = try pop()
                guard let top = stack.last, case .dict = top else { throw fail(.unsupported, "pickle BUILD on a non-dict object") }
            case 0x51:                                                  // BINPERSID
                push(try persistentLoad(try pop()))
            case 0x71: try put(try uint(1))                             // BINPUT
            case 0x72: try put(try uint(4))                             // LONG_BINPUT
            case 0x94: try put(memo.count)                              // MEMOIZE
            case 0x68: try get(try uint(1))                             // BINGET
            case 0x6A: try get(try uint(4))                             // LONG_BINGET
            case 0x30: _ = try pop()                                    // POP
            case 0x31: _ = try popMark()                                // POP_MARK
            case 0x32: guard let top = stack.last else { throw fail(.corrupt, "DUP on an empty stack") }; push(top)
            default:
                throw fail(.unsupported, "pickle opcode 0x\(String(op, radix: 16)) at byte \(pos - 1) is not supported")
            }
        }
    }

    // MARK: Reading the byte stream

    private mutating func byte() throws -> UInt8 {
        guard pos < data.count else { throw fail(.truncated, "the pickle ends at byte \(pos) without STOP") }
        defer { pos += 1 }
        return data[pos]
    }

    private mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, n <= data.count - pos else { throw fail(.truncated, "a \(n)-byte pickle argument at byte \(pos) runs past the end") }
        defer { pos += n }
        return Array(data[pos..<(pos + n)])
    }

    private mutating func uint(_ n: Int) throws -> Int {
        let b = try bytes(n)
        var v: UInt64 = 0
        for (i, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
        guard v <= UInt64(Int.max) else { throw fail(.corrupt, "pickle length \(v) is too large") }
        return Int(v)
    }

    private mutating func long(_ n: Int) throws -> Int {
        guard n <= 8 else { throw fail(.unsupported, "pickle LONG1 of \(n) bytes exceeds 64 bits") }
        if n == 0 { return 0 }
        let b = try bytes(n)
        var v: UInt64 = 0
        for (i, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
        if n < 8 && b[n - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }   // sign-extend
        return Int(Int64(bitPattern: v))
    }

    private mutating func text(_ n: Int) throws -> String { String(decoding: try bytes(n), as: UTF8.self) }

    private mutating func line() throws -> String {
        var out: [UInt8] = []
        while true {
            let b = try byte()
            if b == 0x0A { break }
            out.append(b)
            if out.count > 256 { throw fail(.corrupt, "pickle GLOBAL name too long") }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Stack and memo

    private mutating func push(_ v: PickleValue) { stack.append(v) }

    private mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw fail(.corrupt, "pickle stack underflow at byte \(pos)") }
        if let m = marks.last, stack.count < m { throw fail(.corrupt, "pickle pops across a MARK at byte \(pos)") }
        return v
    }

    private mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw fail(.corrupt, "pickle has no MARK to pop at byte \(pos)") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private func tuple(_ items: [PickleValue]) throws -> PickleValue {
        let d = 1 + (items.map(\.depth).max() ?? 0)
        guard d <= Self.maxDepth else { throw fail(.unsupported, "pickle nests deeper than \(Self.maxDepth) levels") }
        items.forEach { $0.seal() }
        return .tuple(items, depth: d)
    }

    private func topList() throws -> PickleList {
        guard let top = stack.last, case .list(let l) = top else { throw fail(.corrupt, "pickle APPEND without a list") }
        return l
    }

    private func topDict() throws -> PickleDict {
        guard let top = stack.last, case .dict(let d) = top else { throw fail(.corrupt, "pickle SETITEM without a dict") }
        return d
    }

    private func append(_ l: PickleList, _ items: [PickleValue]) throws {
        for v in items {
            if case .list(let inner) = v, inner === l { throw fail(.unsupported, "pickle appends a list to itself (at byte \(pos))") }
            try deepen(&l.depth, to: v.depth + 1, sealed: l.sealed)
            v.seal()
            l.items.append(v)
        }
    }

    private func setItems(_ d: PickleDict, _ kvs: [PickleValue]) throws {
        guard kvs.count % 2 == 0 else { throw fail(.corrupt, "pickle SETITEMS with an odd number of values") }
        for i in stride(from: 0, to: kvs.count, by: 2) {
            for v in [kvs[i], kvs[i + 1]] {
                if case .dict(let inner) = v, inner === d { throw fail(.unsupported, "pickle puts a dict into itself (at byte \(pos))") }
            }
            try deepen(&d.depth, to: Swift.max(kvs[i].depth, kvs[i + 1].depth) + 1, sealed: d.sealed)
            kvs[i].seal()
            kvs[i + 1].seal()
            d.items.append((kvs[i], kvs[i + 1]))
        }
    }

    /// Raises a container's recorded depth to `depth`, within the limit and only while unsealed.
    private func deepen(_ current: inout Int, to depth: Int, sealed: Bool) throws {
        guard depth > current else { return }
        guard depth <= Self.maxDepth else { throw fail(.unsupported, "pickle nests deeper than \(Self.maxDepth) levels") }
        guard !sealed else { throw fail(.unsupported, "pickle deepens a container after placing it inside another (at byte \(pos))") }
        current = depth
    }

    private mutating func put(_ index: Int) throws {
        guard let top = stack.last else { throw fail(.corrupt, "pickle PUT on an empty stack") }
        memo[index] = top
    }

    private mutating func get(_ index: Int) throws {
        guard let v = memo[index] else { throw fail(.corrupt, "pickle GET of unknown memo entry \(index)") }
        push(v)
    }

    // MARK: Globals and reductions

    private func global(_ module: String, _ name: String) throws -> PickleValue {
        switch (module, name) {
        case ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"):
            return .global(module: module, name: name)
        case ("torch", _) where Self.storageTypes.keys.contains(name):
            return .global(module: module, name: name)
        default:
            throw fail(.unsupported, "pickle refers to \(module).\(name), which a state_dict of tensors does not need; refusing to load it")
        }
    }

    private func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let module, let name) = callable, case .tuple(let a, _) = args else {
            throw fail(.corrupt, "pickle REDUCE needs a global and an argument tuple")
        }
        switch (module, name) {
        case ("collections", "OrderedDict"):
            guard a.isEmpty else { throw fail(.unsupported, "OrderedDict built with arguments") }
            return .dict(PickleDict())
        case ("torch._utils", "_rebuild_tensor_v2"):
            guard a.count >= 4, case .storage(let s) = a[0], case .int(let off) = a[1],
                  let size = ints(a[2]), let stride = ints(a[3]) else {
                throw fail(.corrupt, "malformed _rebuild_tensor_v2 arguments")
            }
            guard size.count == stride.count, off >= 0, size.allSatisfy({ $0 >= 0 }), stride.allSatisfy({ $0 >= 0 }) else {
                throw fail(.corrupt, "tensor with size \(size), stride \(stride), offset \(off) is invalid")
            }
            return .tensor(TorchTensorRef(storage: s, storageOffset: off, size: size, stride: stride))
        case ("torch._utils", "_rebuild_parameter"):
            guard let first = a.first, case .tensor = first else { throw fail(.corrupt, "malformed _rebuild_parameter arguments") }
            return first
        default:
            throw fail(.unsupported, "pickle calls \(module).\(name)")
        }
    }

    private func ints(_ v: PickleValue) -> [Int]? {
        guard case .tuple(let items, _) = v else { return nil }
        var out: [Int] = []
        for i in items {
            guard case .int(let x) = i else { return nil }
            out.append(x)
        }
        return out
    }

    private func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        guard case .tuple(let t, _) = pid, t.count == 5, case .string("storage") = t[0],
              case .global("torch", let typeName) = t[1], case .string(let key) = t[2],
              case .int(let numel) = t[4], numel >= 0 else {
            throw fail(.unsupported, "pickle persistent id is not a torch storage reference")
        }
        return .storage(TorchStorageRef(dtype: Self.storageTypes[typeName] ?? nil, typeName: typeName, key: key, numel: numel))
    }
}
