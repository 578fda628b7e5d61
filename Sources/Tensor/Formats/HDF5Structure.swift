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

    // MARK: Messages

    func dataspace(_ p: Int, _ size: Int) throws -> [Int]? {
        let version = try bytes.u8(p)
        let rank = try bytes.u8(p + 1)
        guard rank <= 32 else { throw fail(.corrupt, "dataspace rank \(rank)") }
        var q: Int
        switch version {
        case 1: q = p + 8
        case 2:
            if try bytes.u8(p + 3) == 2 { return nil }   // null dataspace
            q = p + 4
        default: throw fail(.unsupported, "dataspace version \(version)")
        }
        guard q + rank * bytes.lengthSize <= p + size else { throw fail(.corrupt, "dataspace dimensions run past the message") }
        var dims: [Int] = []
        for _ in 0..<rank {
            dims.append(try bytes.length(q))
            q += bytes.lengthSize
        }
        // Maximum dimensions, when present: each extent must fit under its maximum (as libhdf5 checks).
        if try bytes.u8(p + 2) & 0x01 != 0 {
            guard q + rank * bytes.lengthSize <= p + size else { throw fail(.corrupt, "dataspace maximum dimensions run past the message") }
            for d in 0..<rank {
                let max = try bytes.uint(q + d * bytes.lengthSize, bytes.lengthSize)
                let unlimited = bytes.lengthSize == 8 ? UInt64.max : (1 << UInt64(8 * bytes.lengthSize)) - 1
                guard max == unlimited || UInt64(dims[d]) <= max else {
                    throw fail(.corrupt, "dataspace extent \(dims[d]) exceeds its maximum \(max)")
                }
            }
        }
        return dims
    }

    func datatype(_ p: Int, _ size: Int) throws -> (type: HDF5Type, length: Int) {
        guard size >= 8 else { throw fail(.corrupt, "datatype message of \(size) bytes") }
        let classVersion = try bytes.u8(p)
        let cls = classVersion & 0x0F
        let bits0 = try bytes.u8(p + 1), bits1 = try bytes.u8(p + 2)
        let elementSize = try bytes.int(p + 4, 4)
        switch cls {
        case 0:
            guard [1, 2, 4, 8].contains(elementSize) else { return (.unsupported("\(elementSize)-byte integer"), 12) }
            return (.fixed(size: elementSize, signed: bits0 & 0x08 != 0, bigEndian: bits0 & 0x01 != 0), 12)
        case 1:
            guard size >= 20 else { throw fail(.corrupt, "floating-point datatype message of \(size) bytes") }
            let bigEndian = bits0 & 0x01 != 0
            let signLocation = bits1
            let offset = try bytes.int(p + 8, 2), precision = try bytes.int(p + 10, 2)
            let expLoc = try bytes.u8(p + 12), expSize = try bytes.u8(p + 13)
            let manLoc = try bytes.u8(p + 14), manSize = try bytes.u8(p + 15)
            let bias = try bytes.int(p + 16, 4)
            let layout = (elementSize, offset, precision, expLoc, expSize, manLoc, manSize, bias, signLocation)
            let stored: StoredFloat?
            switch layout {
            case (4, 0, 32, 23, 8, 0, 23, 127, 31): stored = .float32
            case (8, 0, 64, 52, 11, 0, 52, 1023, 63): stored = .float64
            case (2, 0, 16, 10, 5, 0, 10, 15, 15): stored = .float16
            case (2, 0, 16, 7, 8, 0, 7, 127, 15): stored = .bfloat16
            default: stored = nil
            }
            guard let stored, bits0 & 0x40 == 0 else { return (.unsupported("a non-IEEE floating-point layout"), 20) }
            return (.float(stored, bigEndian: bigEndian), 20)
        case 3:
            guard elementSize >= 1 else { throw fail(.corrupt, "a string datatype of 0 bytes") }
            return (.string(size: elementSize), 8)
        case 9:
            let isString = bits0 & 0x0F == 1
            return (isString ? .vlenString : .unsupported("a variable-length sequence"), size)
        default:
            return (.unsupported("datatype class \(cls)"), size)
        }
    }

    /// The data layout message at `p` (`size` bytes): compact, contiguous or chunked with its index.
    func layout(_ p: Int, _ size: Int) throws -> HDF5Object.Layout {
        let version = try bytes.u8(p)
        switch version {
        case 3: return try layoutV3(p, end: p + size)
        case 1, 2: return try layoutV1(p, end: p + size)
        case 4, 5: return try layoutV4(p, end: p + size)
        default: throw fail(.unsupported, "data layout version \(version)")
        }
    }

    /// Layout message version 3 (HDF5 1.8's default).
    private func layoutV3(_ p: Int, end: Int) throws -> HDF5Object.Layout {
        let cls = try bytes.u8(p + 1)
        switch cls {
        case 0:
            let n = try bytes.int(p + 2, 2)
            guard p + 4 + n <= end else { throw fail(.corrupt, "compact data runs past its message") }
            return .compact(offset: p + 4, size: n)
        case 1:
            return .contiguous(address: try bytes.address(p + 2), size: try bytes.length(p + 2 + bytes.offsetSize))
        case 2:
            let dimensionality = try bytes.u8(p + 2)
            guard dimensionality >= 1, dimensionality <= 33 else { throw fail(.corrupt, "chunk dimensionality \(dimensionality)") }
            let btree = try bytes.address(p + 3)
            var q = p + 3 + bytes.offsetSize
            var chunk: [Int] = []
            for _ in 0..<dimensionality {
                chunk.append(try bytes.int(q, 4))
                q += 4
            }
            guard q <= end else { throw fail(.corrupt, "chunk dimensions run past the layout message") }
            return .chunked(index: .btreeV1(btree), chunk: chunk)
        default:
            throw fail(.unsupported, "data layout class \(cls)")
        }
    }

    /// Layout message versions 1 and 2 (HDF5 1.6 and older).
    private func layoutV1(_ p: Int, end: Int) throws -> HDF5Object.Layout {
        let dimensionality = try bytes.u8(p + 1), cls = try bytes.u8(p + 2)
        guard dimensionality <= 33 else { throw fail(.corrupt, "layout dimensionality \(dimensionality)") }
        var q = p + 8
        var address: Int? = nil
        if cls != 0 { address = try bytes.address(q); q += bytes.offsetSize }
        var dims: [Int] = []
        for _ in 0..<dimensionality { dims.append(try bytes.int(q, 4)); q += 4 }
        switch cls {
        case 0:
            let n = try bytes.int(q, 4)
            guard q + 4 + n <= end else { throw fail(.corrupt, "compact data runs past its message") }
            return .compact(offset: q + 4, size: n)
        case 1:
            return .contiguous(address: address, size: -1)
        default:
            return .chunked(index: .btreeV1(address), chunk: dims)
        }
    }

    /// Layout message versions 4 and 5 (`libver='latest'`; HDF5 2.0 writes 5): single-chunk,
    /// implicit and fixed-array chunk indexes.
    private func layoutV4(_ p: Int, end: Int) throws -> HDF5Object.Layout {
        // Version 5 (HDF5 2.0) differs only in how filtered chunk sizes are encoded inside the
        // index; the fixed array's entry size, read from its header, covers both.
        let cls = try bytes.u8(p + 1)
        switch cls {
        case 0:
            let n = try bytes.int(p + 2, 2)
            guard n <= end - (p + 4) else { throw fail(.corrupt, "compact data runs past its message") }
            return .compact(offset: p + 4, size: n)
        case 1:
            return .contiguous(address: try bytes.address(p + 2), size: try bytes.length(p + 2 + bytes.offsetSize))
        case 2:
            let flags = try bytes.u8(p + 2)
            guard flags & 0x01 == 0 else { throw fail(.unsupported, "unfiltered partial edge chunks (H5Pset_chunk_opts)") }
            let dimensionality = try bytes.u8(p + 3), encoded = try bytes.u8(p + 4)
            guard dimensionality >= 1, dimensionality <= 33, (1...8).contains(encoded) else {
                throw fail(.corrupt, "chunk dimensionality \(dimensionality) with \(encoded)-byte sizes")
            }
            var q = p + 5
            var chunk: [Int] = []
            for _ in 0..<dimensionality {
                chunk.append(try bytes.int(q, encoded))
                q += encoded
            }
            let indexType = try bytes.u8(q)
            q += 1
            let index: HDF5Object.ChunkIndex
            switch indexType {
            case 1:
                var filtered: (Int, Int)? = nil
                if flags & 0x02 != 0 {
                    filtered = (try bytes.length(q), try bytes.int(q + bytes.lengthSize, 4))
                    q += bytes.lengthSize + 4
                }
                index = .single(address: try bytes.address(q), filtered: filtered)
            case 2: index = .implicit(address: try bytes.address(q))
            case 3: index = .fixedArray(header: try bytes.address(q + 1))   // after the page-bits byte
            case 4: index = .unsupported("an extensible-array chunk index (a dataset with one unlimited dimension)")
            case 5: index = .unsupported("a version-2 B-tree chunk index (a dataset with unlimited dimensions)")
            default: throw fail(.corrupt, "chunk index type \(indexType)")
            }
            return .chunked(index: index, chunk: chunk)
        default:
            throw fail(.unsupported, "data layout class \(cls)")
        }
    }

    func filterPipeline(_ p: Int, _ size: Int) throws -> [(id: Int, values: [UInt32])] {
        let version = try bytes.u8(p), n = try bytes.u8(p + 1)
        guard n <= 32 else { throw fail(.corrupt, "\(n) filters") }
        var q = p + (version == 1 ? 8 : 2)
        let end = p + size
        var out: [(Int, [UInt32])] = []
        for _ in 0..<n {
            let id = try bytes.int(q, 2)
            var nameLength = 0
            if version == 1 || id >= 256 { nameLength = try bytes.int(q + 2, 2); q += 2 }
            let count = try bytes.int(q + 4, 2)
            q += 6
            if version == 1 { nameLength = (nameLength + 7) / 8 * 8 }
            q += nameLength
            guard count <= 256, q + 4 * count <= end else { throw fail(.corrupt, "filter pipeline runs past its message") }
            var values: [UInt32] = []
            for i in 0..<count { values.append(UInt32(try bytes.uint(q + 4 * i, 4))) }
            q += 4 * count
            if version == 1 && count % 2 == 1 { q += 4 }
            out.append((id, values))
        }
        return out
    }

    func linkMessage(_ p: Int, _ size: Int) throws -> (String, Int)? {
        let flags = try bytes.u8(p + 1)
        var q = p + 2
        var linkType = 0
        if flags & 0x08 != 0 { linkType = try bytes.u8(q); q += 1 }
        if flags & 0x04 != 0 { q += 8 }
        if flags & 0x10 != 0 { q += 1 }
        let lengthBytes = 1 << (flags & 3)
        let nameLength = try bytes.int(q, lengthBytes)
        q += lengthBytes
        guard nameLength <= p + size - q else { throw fail(.corrupt, "link name of \(nameLength) bytes runs past its message") }
        let name = String(decoding: try bytes.slice(q, nameLength, "a link name"), as: UTF8.self)
        q += nameLength
        guard linkType == 0 else { return nil }   // soft and external links are not followed
        guard let a = try bytes.address(q) else { throw fail(.corrupt, "hard link '\(name)' has no address") }
        return (name, a)
    }

    // MARK: Groups

    /// The members (name, object header address) of the group whose header is at `address`.
    func members(ofGroup o: HDF5Object) throws -> [(String, Int)] {
        if o.hasDenseLinks { throw fail(.unsupported, "a group with dense link storage (fractal heap)") }
        var out = o.links
        if let (btree, heapAddress) = o.symbolTable {
            guard try bytes.signature(heapAddress, "HEAP") else { throw fail(.corrupt, "no local heap at byte \(heapAddress)") }
            let heapSize = try bytes.length(heapAddress + 8)
            guard let heapData = try bytes.address(heapAddress + 8 + 2 * bytes.lengthSize) else { throw fail(.corrupt, "local heap without data") }
            try bytes.check(heapData, heapSize, "local heap data")
            var nodes = [(btree, 0)]
            var visited = Set<Int>()
            while let (node, depth) = nodes.popLast() {
                guard depth <= Self.maxDepth, visited.insert(node).inserted else { throw fail(.corrupt, "group B-tree is cyclic or too deep") }
                guard try bytes.signature(node, "TREE"), try bytes.u8(node + 4) == 0 else { throw fail(.corrupt, "no group B-tree node at byte \(node)") }
                let level = try bytes.u8(node + 5)
                let used = try bytes.int(node + 6, 2)
                var q = node + 8 + 2 * bytes.offsetSize + bytes.lengthSize   // first key
                for _ in 0..<used {
                    guard let child = try bytes.address(q) else { throw fail(.corrupt, "group B-tree child undefined") }
                    q += bytes.offsetSize + bytes.lengthSize
                    if level > 0 {
                        nodes.append((child, depth + 1))
                    } else {
                        guard try bytes.signature(child, "SNOD") else { throw fail(.corrupt, "no symbol table node at byte \(child)") }
                        let n = try bytes.int(child + 6, 2)
                        let entrySize = 2 * bytes.offsetSize + 24
                        for i in 0..<n {
                            let e = child + 8 + i * entrySize
                            let nameOffset = try bytes.length(e)
                            guard nameOffset < heapSize else { throw fail(.corrupt, "link name offset \(nameOffset) outside the local heap") }
                            let name = try bytes.cString(heapData + nameOffset, limit: heapData + heapSize)
                            guard let header = try bytes.address(e + bytes.offsetSize) else { throw fail(.corrupt, "link '\(name)' has no object header") }
                            out.append((name, header))
                            guard out.count <= 1_000_000 else { throw fail(.corrupt, "too many group members") }
                        }
                    }
                }
            }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// The object header address at `path` ("/a/b"), or nil if a component is missing.
    func resolve(_ path: String) throws -> Int? {
        var address = rootAddress
        for part in path.split(separator: "/") {
            let o = try object(address)
            guard let next = try members(ofGroup: o).first(where: { $0.0 == part }) else { return nil }
            address = next.1
        }
        return address
    }

    /// Every object below the root as (path, address), depth first in name order, without cycles.
    func walk() throws -> [(String, Int)] {
        var out: [(String, Int)] = []
        var visited: Set<Int> = [rootAddress]
        func visit(_ prefix: String, _ address: Int, _ depth: Int) throws {
            guard depth <= Self.maxDepth else { throw fail(.corrupt, "groups nest deeper than \(Self.maxDepth) levels") }
            let o = try object(address)
            for (name, child) in try members(ofGroup: o) {
                guard visited.insert(child).inserted else { continue }
                let path = prefix + "/" + name
                out.append((path, child))
                guard out.count <= 1_000_000 else { throw fail(.corrupt, "too many objects") }
                try visit(path, child, depth + 1)
            }
        }
        try visit("", rootAddress, 0)
        return out
    }

    // MARK: Raw data

    /// The dataset's elements in row-major order as raw bytes (`count × type.size`).
    func rawData(_ o: HDF5Object, shape: [Int], type: HDF5Type, what: String) throws -> [UInt8] {
        guard let total = CheckedSize.bytes(shape, itemSize: type.size), type.size > 0 else {
            throw fail(.corrupt, "\(what): shape \(shape) overflows")
        }
        guard let layout = o.layout else { throw fail(.corrupt, "\(what) has no data layout") }
        switch layout {
        case .compact(let offset, let size):
            guard size >= total else { throw fail(.corrupt, "\(what): compact data holds \(size) bytes, needs \(total)") }
            return Array(try bytes.slice(offset, total, what))
        case .contiguous(let address, let size):
            guard o.filters.isEmpty else { throw fail(.unsupported, "\(what): filters on contiguous data") }
            guard let address else {
                // Never written: HDF5 reads the fill value (zeros by default); bound the allocation.
                guard total <= 1 << 26 else { throw fail(.corrupt, "\(what): \(total) bytes of unallocated data") }
                return [UInt8](repeating: 0, count: total)
            }
            guard size < 0 || size >= total else { throw fail(.corrupt, "\(what): contiguous storage holds \(size) bytes, needs \(total)") }
            return Array(try bytes.slice(address, total, what))
        case .chunked(let index, let chunkDims):
            return try chunkedData(index: index, chunkDims: chunkDims, shape: shape, type: type, filters: o.filters, total: total, what: what)
        }
    }

    private func chunkedData(index: HDF5Object.ChunkIndex, chunkDims: [Int], shape: [Int], type: HDF5Type,
                             filters: [(id: Int, values: [UInt32])], total: Int, what: String) throws -> [UInt8] {
        let elem = type.size
        guard chunkDims.count == shape.count + 1, chunkDims.last == elem, chunkDims.dropLast().allSatisfy({ $0 > 0 }) else {
            throw fail(.corrupt, "\(what): chunk dimensions \(chunkDims) do not fit shape \(shape)")
        }
        let chunk = Array(chunkDims.dropLast())
        guard let chunkBytes = CheckedSize.bytes(chunk, itemSize: elem), chunkBytes <= 1 << 30 else {
            throw fail(.corrupt, "\(what): chunks of \(chunk) are too large")
        }
        for f in filters where f.id != 1 && f.id != 2 {
            throw fail(.unsupported, "\(what): HDF5 filter \(f.id) (only deflate and shuffle are supported)")
        }
        let leaves = try chunkEntries(index, chunk: chunk, shape: shape, chunkBytes: chunkBytes, filtered: !filters.isEmpty, what: what)
        let byAddress = leaves.sorted { $0.address < $1.address }
        for (a, b) in Swift.zip(byAddress, byAddress.dropFirst()) where a.address + a.storedSize > b.address {
            throw fail(.corrupt, "\(what): chunks at bytes \(a.address) and \(b.address) overlap")
        }
        // Memory is bounded by the stored bytes (deflate decodes at most 1032 bytes per stored byte;
        // unstored chunks read as zeros) or 64 MB, whichever is larger.
        let stored = leaves.reduce(0) { $0 + $1.storedSize }
        guard total <= 1 << 26 || total / 1032 <= stored else {
            throw fail(.corrupt, "\(what): \(total) bytes cannot come from \(stored) stored bytes")
        }
        var out = [UInt8](repeating: 0, count: total)
        let outStrides = Tensor.contiguousStrides(shape)
        for leaf in leaves {
            let data = try decodedChunk(leaf, filters: filters, chunkBytes: chunkBytes, elementSize: elem, what: what)
            copyChunk(data, origin: leaf.origin, chunk: chunk, shape: shape, outStrides: outStrides, elem: elem, into: &out)
        }
        return out
    }

    /// The chunks an index lists — each chunk once, at a valid origin, inside the file — for chunks of
    /// shape `chunk` (`chunkBytes` unfiltered) of a dataset of `shape`.
    private func chunkEntries(_ index: HDF5Object.ChunkIndex, chunk: [Int], shape: [Int], chunkBytes: Int, filtered: Bool,
                              what: String) throws -> [ChunkEntry] {
        let rank = shape.count
        var leaves: [ChunkEntry] = []
        var origins = Set<[Int]>()
        func add(_ origin: [Int], _ address: Int, _ storedSize: Int, _ filterMask: Int) throws {
            for d in 0..<rank where origin[d] % chunk[d] != 0 || origin[d] >= Swift.max(shape[d], 1) {
                throw fail(.corrupt, "\(what): chunk origin \(origin) is invalid for shape \(shape)")
            }
            guard origins.insert(origin).inserted else { throw fail(.corrupt, "\(what): chunk \(origin) is stored twice") }
            try bytes.check(address, storedSize, "\(what) chunk")
            leaves.append(ChunkEntry(origin: origin, address: address, storedSize: storedSize, filterMask: filterMask))
        }
        // Chunks per dimension and the origin of chunk number `i` in row-major chunk order.
        let grid = (0..<rank).map { Swift.max(1, (shape[$0] + chunk[$0] - 1) / chunk[$0]) }
        guard let chunkCount = CheckedSize.bytes(grid, itemSize: 1), chunkCount <= 1 << 26 else {
            throw fail(.corrupt, "\(what): too many chunks for shape \(shape)")
        }
        func origin(ofChunk i: Int) -> [Int] {
            var rest = i
            var o = [Int](repeating: 0, count: rank)
            for d in stride(from: rank - 1, through: 0, by: -1) {
                o[d] = rest % grid[d] * chunk[d]
                rest /= grid[d]
            }
            return o
        }
        switch index {
        case .btreeV1(let root):
            guard let root else { break }
            try walkChunkBTree(root, rank: rank, what: what, add)
        case .single(let address, let sizeAndMask):
            guard let address else { break }
            guard chunkCount == 1 else { throw fail(.corrupt, "\(what): a single-chunk index for \(chunkCount) chunks") }
            try add(origin(ofChunk: 0), address, sizeAndMask?.size ?? chunkBytes, sizeAndMask?.mask ?? 0)
        case .implicit(let address):
            guard let address else { break }
            guard !filtered else { throw fail(.corrupt, "\(what): an implicit chunk index with filters") }
            for i in 0..<chunkCount { try add(origin(ofChunk: i), address + i * chunkBytes, chunkBytes, 0) }
        case .fixedArray(let header):
            guard let header else { break }
            for (i, entry) in try fixedArray(header, count: chunkCount, filtered: filtered, what: what).enumerated() {
                guard let (address, size, mask) = entry else { continue }
                try add(origin(ofChunk: i), address, size ?? chunkBytes, mask)
            }
        case .unsupported(let d):
            throw fail(.unsupported, "\(what) uses \(d)")
        }
        return leaves
    }

    /// Hands every leaf entry of a version-1 chunk B-tree to `add(origin, address, stored size, filter
    /// mask)`, visiting each node once and no deeper than ``maxDepth``.
    private func walkChunkBTree(_ root: Int, rank: Int, what: String, _ add: ([Int], Int, Int, Int) throws -> Void) throws {
        var nodes = [(root, 0)]
        var visited = Set<Int>()
        let keySize = 8 + 8 * (rank + 1)
        while let (node, depth) = nodes.popLast() {
            guard depth <= Self.maxDepth, visited.insert(node).inserted else { throw fail(.corrupt, "\(what): chunk B-tree is cyclic or too deep") }
            guard try bytes.signature(node, "TREE"), try bytes.u8(node + 4) == 1 else { throw fail(.corrupt, "\(what): no chunk B-tree node at byte \(node)") }
            let level = try bytes.u8(node + 5)
            let used = try bytes.int(node + 6, 2)
            var q = node + 8 + 2 * bytes.offsetSize
            for _ in 0..<used {
                let storedSize = try bytes.int(q, 4)
                let filterMask = try bytes.int(q + 4, 4)
                var o: [Int] = []
                for d in 0..<rank { o.append(try bytes.int(q + 8 + 8 * d, 8)) }
                guard let child = try bytes.address(q + keySize) else { throw fail(.corrupt, "\(what): chunk B-tree child undefined") }
                q += keySize + bytes.offsetSize
                if level > 0 { nodes.append((child, depth + 1)) } else { try add(o, child, storedSize, filterMask) }
            }
        }
    }

    /// A stored chunk with its filters (deflate, shuffle) undone, except those its mask skips.
    private func decodedChunk(_ leaf: ChunkEntry, filters: [(id: Int, values: [UInt32])], chunkBytes: Int, elementSize elem: Int,
                              what: String) throws -> [UInt8] {
        let raw = try bytes.slice(leaf.address, leaf.storedSize, "\(what) chunk")
        if filters.isEmpty || leaf.filterMask == (1 << filters.count) - 1 {
            guard leaf.storedSize == chunkBytes else { throw fail(.corrupt, "\(what): chunk of \(leaf.storedSize) bytes, expected \(chunkBytes)") }
            return Array(raw)
        }
        var data = Array(raw)
        for (i, f) in filters.enumerated().reversed() where leaf.filterMask & (1 << i) == 0 {
            switch f.id {
            case 1:
                do {
                    data = try data.withUnsafeBytes { try Zlib.inflate($0, expectedSize: chunkBytes) }
                } catch let e as Zlib.Failure {
                    throw fail(.corrupt, "\(what): compressed chunk at byte \(leaf.address): \(e.message)")
                }
            default:
                data = unshuffle(data, elementSize: elem)
            }
        }
        guard data.count == chunkBytes else { throw fail(.corrupt, "\(what): chunk decodes to \(data.count) bytes, expected \(chunkBytes)") }
        return data
    }

    /// The entries of the fixed array whose header is at `header`: (chunk address, stored size when
    /// filtered, filter mask), nil for a chunk never written. Paged data blocks (more than
    /// 2^page_bits chunks, 1024 by default) are refused.
    private func fixedArray(_ header: Int, count: Int, filtered: Bool, what: String) throws -> [(Int, Int?, Int)?] {
        guard try bytes.signature(header, "FAHD"), try bytes.u8(header + 4) == 0 else { throw fail(.corrupt, "\(what): no fixed-array header at byte \(header)") }
        try bytes.checkChecksum(header, 8 + bytes.lengthSize + bytes.offsetSize, "\(what): fixed-array header")
        let client = try bytes.u8(header + 5), entrySize = try bytes.u8(header + 6), pageBits = try bytes.u8(header + 7)
        let n = try bytes.length(header + 8)
        guard client == (filtered ? 1 : 0), n == count else {
            throw fail(.corrupt, "\(what): fixed array of \(n) \(client == 1 ? "filtered " : "")entries for \(count) \(filtered ? "filtered " : "")chunks")
        }
        let sizeBytes = entrySize - bytes.offsetSize - 4
        guard filtered ? (1...8).contains(sizeBytes) : entrySize == bytes.offsetSize else {
            throw fail(.corrupt, "\(what): fixed-array entries of \(entrySize) bytes")
        }
        guard pageBits < 32, n <= 1 << pageBits else {
            throw fail(.unsupported, "\(what): a paged fixed array (\(n) chunks, pages of 2^\(pageBits)); rewrite the file with larger chunks or libver='earliest'")
        }
        guard let block = try bytes.address(header + 8 + bytes.lengthSize) else { return [] }
        guard try bytes.signature(block, "FADB"), try bytes.u8(block + 4) == 0 else { throw fail(.corrupt, "\(what): no fixed-array data block at byte \(block)") }
        guard try bytes.int(block + 6, bytes.offsetSize) == header else { throw fail(.corrupt, "\(what): the fixed-array data block belongs to another header") }
        let first = block + 6 + bytes.offsetSize
        try bytes.check(first, n * entrySize, "\(what): fixed-array entries")
        try bytes.checkChecksum(block, first + n * entrySize - block, "\(what): fixed-array data block")
        return try (0..<n).map { i in
            let e = first + i * entrySize
            guard let address = try bytes.address(e) else { return nil }
            guard filtered else { return (address, nil, 0) }
            return (address, try bytes.int(e + bytes.offsetSize, sizeBytes), try bytes.int(e + bytes.offsetSize + sizeBytes, 4))
        }
    }

    private func unshuffle(_ data: [UInt8], elementSize: Int) -> [UInt8] {
        let n = data.count / elementSize
        var out = data
        for b in 0..<elementSize {
            for i in 0..<n { out[i * elementSize + b] = data[b * n + i] }
        }
        return out
    }

    private func copyChunk(_ data: [UInt8], origin: [Int], chunk: [Int], shape: [Int], outStrides: [Int], elem: Int, into out: inout [UInt8]) {
        let rank = shape.count
        if rank == 0 {
            out.replaceSubrange(0..<elem, with: data[0..<elem])
            return
        }
        let chunkStrides = Tensor.contiguousStrides(chunk)
        let extents = (0..<rank).map { Swift.min(chunk[$0], shape[$0] - origin[$0]) }
        if extents.contains(where: { $0 <= 0 }) { return }
        var idx = [Int](repeating: 0, count: rank)
        let rowLength = extents[rank - 1] * elem
        while true {
            var src = 0, dst = 0
            for d in 0..<rank {
                src += idx[d] * chunkStrides[d]
                dst += (origin[d] + idx[d]) * outStrides[d]
            }
            out.replaceSubrange((dst * elem)..<(dst * elem + rowLength), with: data[(src * elem)..<(src * elem + rowLength)])
            var d = rank - 2
            while d >= 0 {
                idx[d] += 1
                if idx[d] < extents[d] { break }
                idx[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }

    // MARK: Attributes

    /// Decodes the attribute message at `message` (its data offset) of `size` bytes.
    func attribute(message p: Int, size: Int, version: Int, name: String, what: String) throws -> HDF5Attribute {
        let nameSize = try bytes.int(p + 2, 2), typeSize = try bytes.int(p + 4, 2), spaceSize = try bytes.int(p + 6, 2)
        func pad(_ n: Int) -> Int { version == 1 ? (n + 7) / 8 * 8 : n }
        var q = p + (version == 3 ? 9 : 8) + pad(nameSize)
        let end = p + size
        guard q + pad(typeSize) + pad(spaceSize) <= end else { throw fail(.corrupt, "\(what) runs past its message") }
        let attrFlags = try bytes.u8(p + 1)
        if version >= 2 && attrFlags & 0x03 != 0 { throw fail(.unsupported, "\(what) uses a shared datatype or dataspace") }
        let (type, _) = try datatype(q, typeSize)
        q += pad(typeSize)
        let dims = try dataspace(q, spaceSize)
        q += pad(spaceSize)
        let isScalar = dims?.isEmpty ?? false
        guard let count = CheckedSize.bytes(dims ?? [0], itemSize: 1), count <= 1 << 24 else { throw fail(.corrupt, "\(what) has too many elements") }
        // Every element occupies at least one byte of the message (a 0-byte string type would
        // otherwise turn a small message into millions of strings).
        guard let dataBytes = CheckedSize.bytes([count], itemSize: Swift.max(type.size, 1)), dataBytes <= end - q else {
            throw fail(.corrupt, "\(what): \(count) elements of \(type.size) bytes run past the \(size)-byte message")
        }
        switch type {
        case .fixed(let s, let signed, let big):
            let v = try (0..<count).map { try integer(at: q + $0 * s, size: s, signed: signed, bigEndian: big) }
            return isScalar && count == 1 ? .int(v[0]) : .ints(v)
        case .float(let f, let big):
            guard !big else { throw fail(.unsupported, "\(what) is big-endian") }
            let raw = try bytes.slice(q, dataBytes, what)
            let v = (0..<count).map { i -> Double in
                f == .float64 ? raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self) : Double(f.load(raw.baseAddress!, i))
            }
            return isScalar && count == 1 ? .double(v[0]) : .doubles(v)
        case .string(let s):
            let raw = try bytes.slice(q, dataBytes, what)
            let v = (0..<count).map { i -> String in
                let chunk = UnsafeRawBufferPointer(rebasing: raw[(i * s)..<((i + 1) * s)])
                let end = chunk.firstIndex(of: 0) ?? chunk.count
                return String(decoding: UnsafeRawBufferPointer(rebasing: chunk[0..<end]), as: UTF8.self)
            }
            return isScalar && count == 1 ? .string(v[0]) : .strings(v)
        case .vlenString:
            let stride = 4 + bytes.offsetSize + 4
            guard q + count * stride <= end else { throw fail(.corrupt, "\(what): its data runs past the message") }
            let v = try (0..<count).map { i -> String in
                let e = q + i * stride
                let length = try bytes.int(e, 4)
                guard let collection = try bytes.address(e + 4) else { return "" }
                let index = try bytes.int(e + 4 + bytes.offsetSize, 4)
                return try globalHeapString(collection: collection, index: index, length: length, what: what)
            }
            return isScalar && count == 1 ? .string(v[0]) : .strings(v)
        case .unsupported(let d):
            throw fail(.unsupported, "\(what) has \(d)")
        }
    }

    private func integer(at p: Int, size: Int, signed: Bool, bigEndian: Bool) throws -> Int64 {
        var v = try bytes.uint(p, size)
        if bigEndian {
            var r: UInt64 = 0
            for i in 0..<size { r = r << 8 | (v >> (8 * UInt64(i)) & 0xFF) }
            v = r
        }
        if signed && size < 8 && v & (1 << (8 * UInt64(size) - 1)) != 0 { v |= ~0 << (8 * UInt64(size)) }
        return signed ? Int64(bitPattern: v) : Int64(clamping: v)
    }

    /// Object `index` of the global heap collection at `collection`, checked against the collection.
    private func globalHeapString(collection: Int, index: Int, length: Int, what: String) throws -> String {
        guard try bytes.signature(collection, "GCOL") else { throw fail(.corrupt, "\(what): no global heap at byte \(collection)") }
        let size = try bytes.length(collection + 8)
        try bytes.check(collection, size, "\(what): global heap collection")
        var q = collection + 8 + bytes.lengthSize
        let end = collection + size
        while q + 8 + bytes.lengthSize <= end {
            let i = try bytes.int(q, 2)
            let objectSize = try bytes.length(q + 8)
            let data = q + 8 + bytes.lengthSize
            if i == 0 { break }   // free space: the rest of the collection
            guard objectSize <= end - data else { throw fail(.corrupt, "\(what): global heap object \(i) runs past its collection") }
            if i == index {
                guard length <= objectSize else { throw fail(.corrupt, "\(what): string of \(length) bytes in a \(objectSize)-byte heap object") }
                return String(decoding: try bytes.slice(data, length, what), as: UTF8.self)
            }
            q = data + (objectSize + 7) / 8 * 8
        }
        throw fail(.corrupt, "\(what): global heap object \(index) not found")
    }
}
