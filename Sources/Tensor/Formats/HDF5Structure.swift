// HDF5Structure: a pure-Swift, bounds-checked parser of HDF5 metadata (superblock, object headers,
// groups, datatypes, dataspaces, layouts, attributes, heaps) — the read side of HDF5File.
//
// libhdf5 itself crashes on some corrupt files (a flipped byte in a global heap object is enough),
// so reading never goes through it: this parser checks every offset, length and count against the
// file before using it. It covers what h5py, Keras/TensorFlow and libhdf5 write with their default
// settings: superblock versions 0–3, object header versions 1–2, symbol-table groups and compact
// link messages, contiguous, compact and chunked layouts (v1 B-tree; and, from libver='latest'
// files, single-chunk, implicit and unpaged fixed-array indexes) with deflate (through zlib) and
// shuffle filters, and attributes of numbers and fixed- or variable-length strings. Anything else
// is a typed `.unsupported` error.

/// A bounds-checked view of the file's bytes.
struct HDF5Bytes {
    let base: UnsafeRawBufferPointer
    var offsetSize = 8
    var lengthSize = 8
    let fail: (FileFormatError.Reason, String) -> FileFormatError

    var count: Int { base.count }

    func check(_ at: Int, _ n: Int, _ what: @autoclosure () -> String) throws {
        guard at >= 0, n >= 0, at <= count, n <= count - at else {
            throw fail(.truncated, "\(what()) at byte \(at) (+\(n)) lies outside the \(count)-byte file")
        }
    }

    func u8(_ at: Int) throws -> Int { try check(at, 1, "a byte"); return Int(base[at]) }

    func uint(_ at: Int, _ n: Int) throws -> UInt64 {
        try check(at, n, "a \(n)-byte field")
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(base[at + i]) << (8 * UInt64(i)) }
        return v
    }

    func int(_ at: Int, _ n: Int) throws -> Int {
        let v = try uint(at, n)
        guard v <= UInt64(Int.max) else { throw fail(.corrupt, "value \(v) at byte \(at) is too large") }
        return Int(v)
    }

    /// An address field; nil for the undefined address (all bits set).
    func address(_ at: Int) throws -> Int? {
        let v = try uint(at, offsetSize)
        if v == (offsetSize == 8 ? UInt64.max : (1 << UInt64(8 * offsetSize)) - 1) { return nil }
        guard v < UInt64(count) else { throw fail(.truncated, "address \(v) at byte \(at) lies past the end of the file (\(count) bytes)") }
        return Int(v)
    }

    func length(_ at: Int) throws -> Int { try int(at, lengthSize) }

    func signature(_ at: Int, _ s: String) throws -> Bool { try signature(at, Array(s.utf8)) }

    func signature(_ at: Int, _ b: [UInt8]) throws -> Bool {
        try check(at, b.count, "a signature")
        return (0..<b.count).allSatisfy { base[at + $0] == b[$0] }
    }

    func slice(_ at: Int, _ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try check(at, n, what())
        return UnsafeRawBufferPointer(rebasing: base[at..<(at + n)])
    }

    /// Checks the Jenkins lookup3 checksum that the 4 bytes at `at + n` hold over `n` bytes from `at`
    /// (every metadata block of the newer format versions carries one).
    func checkChecksum(_ at: Int, _ n: Int, _ what: @autoclosure () -> String) throws {
        let stored = UInt32(try uint(at + n, 4))
        let computed = HDF5Checksum.lookup3(try slice(at, n, what()))
        guard stored == computed else {
            throw fail(.corrupt, "\(what()) at byte \(at) fails its checksum (stored 0x\(String(stored, radix: 16)), computed 0x\(String(computed, radix: 16)))")
        }
    }

    func cString(_ at: Int, limit: Int) throws -> String {
        var end = at
        while true {
            guard end < limit else { throw fail(.corrupt, "unterminated name at byte \(at)") }
            try check(end, 1, "a name")
            if base[end] == 0 { break }
            end += 1
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: base[at..<end]), as: UTF8.self)
    }
}

/// Bob Jenkins' lookup3 `hashlittle` with initial value 0: the checksum of HDF5's version-2
/// superblocks, object headers and chunk indexes (`H5_checksum_lookup3`).
enum HDF5Checksum {
    static func lookup3(_ k: UnsafeRawBufferPointer) -> UInt32 {
        func rot(_ x: UInt32, _ r: UInt32) -> UInt32 { (x << r) | (x >> (32 - r)) }
        var a = 0xDEAD_BEEF &+ UInt32(truncatingIfNeeded: k.count), b = a, c = a
        func word(_ i: Int) -> UInt32 { UInt32(k[i]) | UInt32(k[i + 1]) << 8 | UInt32(k[i + 2]) << 16 | UInt32(k[i + 3]) << 24 }
        var i = 0, length = k.count
        while length > 12 {
            a &+= word(i); b &+= word(i + 4); c &+= word(i + 8)
            a &-= c; a ^= rot(c, 4); c &+= b
            b &-= a; b ^= rot(a, 6); a &+= c
            c &-= b; c ^= rot(b, 8); b &+= a
            a &-= c; a ^= rot(c, 16); c &+= b
            b &-= a; b ^= rot(a, 19); a &+= c
            c &-= b; c ^= rot(b, 4); b &+= a
            length -= 12
            i += 12
        }
        if length == 0 { return c }
        // The last 1…12 bytes, little-endian into a, b, c.
        for j in 0..<length {
            let v = UInt32(k[i + j]) << (8 * UInt32(j % 4))
            switch j / 4 {
            case 0: a &+= v
            case 1: b &+= v
            default: c &+= v
            }
        }
        c ^= b; c &-= rot(b, 14)
        a ^= c; a &-= rot(c, 11)
        b ^= a; b &-= rot(a, 25)
        c ^= b; c &-= rot(b, 16)
        a ^= c; a &-= rot(c, 4)
        b ^= a; b &-= rot(a, 14)
        c ^= b; c &-= rot(b, 24)
        return c
    }
}

/// An element type as HDF5 describes it.
indirect enum HDF5Type {
    case fixed(size: Int, signed: Bool, bigEndian: Bool)
    case float(StoredFloat, bigEndian: Bool)
    case string(size: Int)
    case vlenString
    case unsupported(String)

    var size: Int {
        switch self {
        case .fixed(let s, _, _): s
        case .float(let f, _): f.byteSize
        case .string(let s): s
        case .vlenString: 16
        case .unsupported: 0
        }
    }

    var publicType: HDF5ElementType {
        switch self {
        case .fixed(let s, let signed, _): .integer(bits: 8 * s, signed: signed)
        case .float(let f, _): .float(bits: 8 * f.byteSize)
        case .string, .vlenString: .string
        case .unsupported(let d): .other(d)
        }
    }
}

/// The parts of an object header that matter here.
struct HDF5Object {
    var isDataset: Bool { layout != nil }
    var shape: [Int]? = nil
    var type: HDF5Type? = nil
    var layout: Layout? = nil
    var filters: [(id: Int, values: [UInt32])] = []
    var attributes: [(name: String, message: Int, size: Int, version: Int)] = []
    var symbolTable: (btree: Int, heap: Int)? = nil
    var links: [(name: String, address: Int)] = []
    var hasDenseLinks = false

    enum Layout {
        case compact(offset: Int, size: Int)
        case contiguous(address: Int?, size: Int)
        /// `chunk` holds the chunk's extents and, last, the element size.
        case chunked(index: ChunkIndex, chunk: [Int])
    }

    /// Where a chunked dataset's chunks are listed.
    enum ChunkIndex {
        /// A version-1 B-tree (layout versions 1–3); nil when nothing was written.
        case btreeV1(Int?)
        /// One chunk at `address` (layout 4/5), with its stored size and filter mask when filtered.
        case single(address: Int?, filtered: (size: Int, mask: Int)?)
        /// Unfiltered chunks side by side from `address`, in row-major chunk order (layout 4/5).
        case implicit(address: Int?)
        /// A fixed array (header `FAHD`) of chunk entries in row-major chunk order (layout 4/5).
        case fixedArray(header: Int?)
        /// Extensible arrays and version-2 B-trees (datasets with unlimited dimensions).
        case unsupported(String)
    }
}

/// A stored chunk: its origin in the dataset, where it is, how many bytes, which filters it skipped.
struct ChunkEntry {
    let origin: [Int]
    let address: Int
    let storedSize: Int
    let filterMask: Int
}

/// Parses HDF5 structures from a mapped file.
struct HDF5Parser {
    var bytes: HDF5Bytes
    let rootAddress: Int
    static let maxDepth = 32

    init(_ base: UnsafeRawBufferPointer, fail: @escaping (FileFormatError.Reason, String) -> FileFormatError) throws {
        bytes = HDF5Bytes(base: base, fail: fail)
        // The superblock is at 0, 512, 1024, 2048, ...
        var sb = -1
        var candidate = 0
        while candidate + 8 <= base.count {
            if try bytes.signature(candidate, [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]) { sb = candidate; break }
            candidate = candidate == 0 ? 512 : candidate * 2
        }
        guard sb >= 0 else { throw fail(.corrupt, "no HDF5 signature: not an HDF5 file") }
        let version = try bytes.u8(sb + 8)
        switch version {
        case 0, 1:
            bytes.offsetSize = try bytes.u8(sb + 13)
            bytes.lengthSize = try bytes.u8(sb + 14)
            guard [4, 8].contains(bytes.offsetSize), [4, 8].contains(bytes.lengthSize) else {
                throw fail(.unsupported, "offset/length sizes \(bytes.offsetSize)/\(bytes.lengthSize)")
            }
            var p = sb + 24 + (version == 1 ? 4 : 0)
            guard try bytes.int(p, bytes.offsetSize) == 0 else { throw fail(.unsupported, "a non-zero base address") }
            p += 2 * bytes.offsetSize
            let eof = try bytes.int(p, bytes.offsetSize)
            guard eof <= base.count else { throw fail(.truncated, "the superblock says the file ends at byte \(eof) but it has \(base.count) bytes") }
            p += 2 * bytes.offsetSize
            // Root group symbol table entry: link name offset, object header address, ...
            guard let root = try bytes.address(p + bytes.offsetSize) else { throw fail(.corrupt, "no root group") }
            rootAddress = root
        case 2, 3:
            bytes.offsetSize = try bytes.u8(sb + 9)
            bytes.lengthSize = try bytes.u8(sb + 10)
            guard [4, 8].contains(bytes.offsetSize), [4, 8].contains(bytes.lengthSize) else {
                throw fail(.unsupported, "offset/length sizes \(bytes.offsetSize)/\(bytes.lengthSize)")
            }
            let p = sb + 12
            try bytes.checkChecksum(sb, 12 + 4 * bytes.offsetSize, "the superblock")
            guard try bytes.int(p, bytes.offsetSize) == 0 else { throw fail(.unsupported, "a non-zero base address") }
            let eof = try bytes.int(p + 2 * bytes.offsetSize, bytes.offsetSize)
            guard eof <= base.count else { throw fail(.truncated, "the superblock says the file ends at byte \(eof) but it has \(base.count) bytes") }
            guard let root = try bytes.address(p + 3 * bytes.offsetSize) else { throw fail(.corrupt, "no root group") }
            rootAddress = root
        default:
            throw fail(.unsupported, "superblock version \(version)")
        }
    }

    var fail: (FileFormatError.Reason, String) -> FileFormatError { bytes.fail }

    // MARK: Object headers

    /// Calls `body(type, dataOffset, size, flags)` for every message of the object header at `address`.
    func forEachMessage(_ address: Int, _ body: (Int, Int, Int, Int) throws -> Void) throws {
        let b = bytes
        if try b.signature(address, "OHDR") {
            let version = try b.u8(address + 4)
            guard version == 2 else { throw fail(.unsupported, "object header version \(version)") }
            let flags = try b.u8(address + 5)
            var p = address + 6
            if flags & 0x20 != 0 { p += 16 }
            if flags & 0x10 != 0 { p += 4 }
            let sizeBytes = 1 << (flags & 3)
            let chunk0 = try b.int(p, sizeBytes)
            p += sizeBytes
            try b.check(p, chunk0, "an object header block")
            try b.checkChecksum(address, p + chunk0 - address, "object header")
            var blocks = [(p, chunk0)]
            var seenBlocks: Set<Int> = [p]
            while let (start, size) = blocks.popLast() {
                try b.check(start, size, "an object header block")
                var q = start
                let end = start + size
                let creationOrder = flags & 0x04 != 0
                while q + 4 <= end {
                    let type = try b.u8(q), msize = try b.int(q + 1, 2), mflags = try b.u8(q + 3)
                    let data = q + 4 + (creationOrder ? 2 : 0)
                    guard data + msize <= end else { throw fail(.corrupt, "object header message runs past its block at byte \(q)") }
                    if type == 0x10 {
                        guard let a = try b.address(data) else { throw fail(.corrupt, "undefined continuation address") }
                        let len = try b.length(data + b.offsetSize)
                        guard try b.signature(a, "OCHK"), len >= 8 else { throw fail(.corrupt, "bad continuation block at byte \(a)") }
                        // Each block is read once: a cycle of continuations would otherwise repeat forever.
                        guard seenBlocks.insert(a + 4).inserted, seenBlocks.count <= 10_000 else {
                            throw fail(.corrupt, "object header continuation blocks repeat or are too many (at byte \(a))")
                        }
                        try b.checkChecksum(a, len - 4, "object header continuation block")
                        blocks.append((a + 4, len - 8))
                    } else {
                        try body(type, data, msize, mflags)
                    }
                    q = data + msize
                }
            }
            return
        }
        let version = try b.u8(address)
        guard version == 1 else { throw fail(.corrupt, "object header at byte \(address) has version \(version)") }
        let nmessages = try b.int(address + 2, 2)
        let size = try b.int(address + 8, 4)
        var blocks = [(address + 16, size)]
        var seen = 0
        var seenBlocks: Set<Int> = [address + 16]
        while let (start, bsize) = blocks.popLast() {
            try b.check(start, bsize, "an object header block")
            var q = start
            let end = start + bsize
            while q + 8 <= end {
                guard seen < nmessages else { throw fail(.corrupt, "object header at byte \(address) holds more than its \(nmessages) messages") }
                let type = try b.int(q, 2), msize = try b.int(q + 2, 2), mflags = try b.u8(q + 4)
                let data = q + 8
                guard data + msize <= end else { throw fail(.corrupt, "object header message runs past its block at byte \(q)") }
                seen += 1
                if type == 0x10 {
                    guard let a = try b.address(data) else { throw fail(.corrupt, "undefined continuation address") }
                    guard seenBlocks.insert(a).inserted, seenBlocks.count <= 10_000 else {
                        throw fail(.corrupt, "object header continuation blocks repeat or are too many (at byte \(a))")
                    }
                    blocks.append((a, try b.length(data + b.offsetSize)))
                } else {
                    try body(type, data, msize, mflags)
                }
                q = data + msize
            }
        }
        // libhdf5 refuses a header whose blocks do not hold exactly its message count: a damaged
        // count or a lost continuation would otherwise drop members and attributes silently.
        guard seen == nmessages else { throw fail(.corrupt, "object header at byte \(address) holds \(seen) of its \(nmessages) messages") }
    }

    /// The messages of the object at `address` that datasets, groups and attributes need.
    func object(_ address: Int) throws -> HDF5Object {
        var o = HDF5Object()
        try forEachMessage(address) { type, data, size, mflags in
            let isShared = mflags & 0x02 != 0
            switch type {
            case 0x01: o.shape = try dataspace(data, size)
            case 0x03:
                if isShared { throw fail(.unsupported, "a shared (committed) datatype") }
                o.type = try datatype(data, size).type
            case 0x08: o.layout = try layout(data, size)
            case 0x0B: o.filters = try filterPipeline(data, size)
            case 0x0C:
                if o.attributes.count < 100_000 {
                    let version = try bytes.u8(data)
                    let nameSize = try bytes.int(data + 2, 2)
                    let nameStart = data + (version == 3 ? 9 : 8)
                    guard nameSize >= 1, nameStart + nameSize <= data + size else { throw fail(.corrupt, "attribute name runs past its message") }
                    let name = try bytes.cString(nameStart, limit: nameStart + nameSize)
                    o.attributes.append((name, data, size, version))
                }
            case 0x11:
                guard let bt = try bytes.address(data), let heap = try bytes.address(data + bytes.offsetSize) else {
                    throw fail(.corrupt, "symbol table message with undefined addresses")
                }
                o.symbolTable = (bt, heap)
            case 0x06:
                if let link = try linkMessage(data, size) { o.links.append(link) }
            case 0x02:
                // Link info: dense storage lives in a fractal heap when its address is defined.
                let flags = try bytes.u8(data + 1)
                let heapAt = data + 2 + (flags & 1 != 0 ? 8 : 0)
                if try bytes.address(heapAt) != nil { o.hasDenseLinks = true }
            default: break
            }
        }
        return o
    }
}
