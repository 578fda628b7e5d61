// HDF5Structure+RawData: the HDF5 parser's raw data: contiguous, compact and chunked layouts, their indexes and filters (see HDF5Structure.swift).


extension HDF5Parser {

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
}
