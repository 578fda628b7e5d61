// ThriftCompact: a bounds-checked reader of Thrift's compact protocol, the encoding of Parquet's footer
// and page headers (Apache Thrift, "Thrift Compact protocol encoding").

/// Reads compact-protocol values from a byte range. Every read checks the range; a collection's count
/// is bounded by the bytes left (every element, even an empty struct, takes at least one byte) and by
/// ``maxCount``, nesting by ``maxDepth``.
struct ThriftCompactReader {
    /// Compact-protocol type codes.
    enum FieldType: UInt8 {
        case stop = 0, boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7
        case binary = 8, list = 9, set = 10, map = 11, structure = 12
    }

    struct Failure: Error { let message: String }

    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int
    private var depth = 0
    static let maxDepth = 32
    /// Elements of one list/map at most (Parquet's footers list columns and row groups: far below).
    static let maxCount = 1 << 24

    init(_ bytes: UnsafeRawBufferPointer, at position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    private mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw Failure(message: "ends at byte \(position) inside a value") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw Failure(message: "varint longer than 10 bytes at byte \(position)") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    private mutating func zigzag() throws -> Int64 {
        let v = try varint()
        return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }

    private func expect(_ type: FieldType, _ allowed: FieldType...) throws {
        guard allowed.contains(type) else { throw Failure(message: "field of type \(type) where \(allowed) was expected") }
    }

    mutating func int(_ type: FieldType) throws -> Int64 {
        switch type {
        case .byte: return Int64(Int8(bitPattern: try byte()))
        case .i16, .i32, .i64: return try zigzag()
        default: throw Failure(message: "field of type \(type) where an integer was expected")
        }
    }

    /// An integer field that must fit in `Int32` (counts, sizes and enums in Parquet's structures).
    mutating func int32(_ type: FieldType) throws -> Int {
        let v = try int(type)
        guard v >= Int64(Int32.min), v <= Int64(Int32.max) else { throw Failure(message: "value \(v) does not fit a 32-bit field") }
        return Int(v)
    }

    mutating func bool(_ type: FieldType) throws -> Bool {
        switch type {
        case .boolTrue: return true
        case .boolFalse: return false
        default: throw Failure(message: "field of type \(type) where a boolean was expected")
        }
    }

    mutating func binary(_ type: FieldType) throws -> UnsafeRawBufferPointer {
        try expect(type, .binary)
        let n = try varint()
        guard n <= UInt64(bytes.count - position) else { throw Failure(message: "a \(n)-byte string runs past the end at byte \(position)") }
        defer { position += Int(n) }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + Int(n))])
    }

    mutating func string(_ type: FieldType) throws -> String {
        String(decoding: try binary(type), as: UTF8.self)
    }

    /// A list's elements, each read by `element` (given the element type).
    mutating func list(_ type: FieldType, _ element: (inout ThriftCompactReader, FieldType) throws -> Void) throws {
        try expect(type, .list, .set)
        let header = try byte()
        var count = UInt64(header >> 4)
        if count == 15 { count = try varint() }
        guard let elementType = FieldType(rawValue: header & 0x0F) else { throw Failure(message: "unknown list element type \(header & 0x0F)") }
        guard count <= UInt64(Self.maxCount), count <= UInt64(bytes.count - position) else {
            throw Failure(message: "a list of \(count) elements cannot fit in the \(bytes.count - position) bytes left")
        }
        try nested {
            for _ in 0..<Int(count) {
                if elementType == .boolTrue || elementType == .boolFalse {
                    _ = try $0.byte()   // booleans in lists are one byte each
                } else {
                    try element(&$0, elementType)
                }
            }
        }
    }

    /// A struct's fields: `field` gets each id and type and must read or ``skip(_:)`` it.
    mutating func structure(_ field: (inout ThriftCompactReader, Int, FieldType) throws -> Void) throws {
        try nested { r in
            var last = 0
            while true {
                let header = try r.byte()
                guard let type = FieldType(rawValue: header & 0x0F) else { throw Failure(message: "unknown field type \(header & 0x0F) at byte \(r.position - 1)") }
                if type == .stop { return }
                let delta = Int(header >> 4)
                let id = delta == 0 ? Int(try r.int(.i16)) : last + delta
                last = id
                try field(&r, id, type)
            }
        }
    }

    private mutating func nested(_ body: (inout ThriftCompactReader) throws -> Void) throws {
        guard depth < Self.maxDepth else { throw Failure(message: "structures nested deeper than \(Self.maxDepth)") }
        depth += 1
        defer { depth -= 1 }
        try body(&self)
    }

    /// Reads past a value of `type`.
    mutating func skip(_ type: FieldType) throws {
        switch type {
        case .stop: throw Failure(message: "unexpected stop")
        case .boolTrue, .boolFalse: return
        case .byte: _ = try byte()
        case .i16, .i32, .i64: _ = try varint()
        case .double:
            guard bytes.count - position >= 8 else { throw Failure(message: "a double runs past the end") }
            position += 8
        case .binary: _ = try binary(type)
        case .list, .set: try list(type) { r, t in try r.skip(t) }
        case .map:
            let count = try varint()
            guard count > 0 else { return }
            let kinds = try byte()
            guard let k = FieldType(rawValue: kinds >> 4), let v = FieldType(rawValue: kinds & 0x0F) else {
                throw Failure(message: "unknown map types \(kinds)")
            }
            guard count <= UInt64(min(Self.maxCount, bytes.count - position)) else { throw Failure(message: "a map of \(count) entries cannot fit") }
            try nested { r in
                for _ in 0..<Int(count) { try r.skip(k); try r.skip(v) }
            }
        case .structure: try structure { r, _, t in try r.skip(t) }
        }
    }
}
