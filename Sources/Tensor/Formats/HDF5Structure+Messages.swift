// HDF5Structure+Messages: the HDF5 parser's dataspaces, datatypes, layouts, filter pipelines and the other header messages (see HDF5Structure.swift).


extension HDF5Parser {

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
}
