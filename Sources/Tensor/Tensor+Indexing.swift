// Tensor+Indexing: gather / embedding lookup, concatenation, stacking and top-k.

extension Tensor {
    /// Picks entries along `axis` by index (PyTorch `index_select`, generalised to an index array of
    /// any shape): the result's shape is `shape[..<axis] + indices.shape + shape[(axis+1)...]`.
    ///
    /// Embedding lookup is `W_E.gathering(axis: 0, tokens)`: `[d_vocab, d_model]` gathered by
    /// `[batch, pos]` token ids gives `[batch, pos, d_model]`.
    public func gathering(axis: Int, _ indices: IndexTensor) -> Tensor {
        let a = normalizedAxis(axis)
        let extent = shape[a]
        for i in indices.values {
            precondition(i >= 0 && i < extent, "index \(i) is out of range 0..<\(extent) for axis \(a) of shape \(shape)")
        }
        let outer = shape[..<a].reduce(1, *)
        let inner = shape[(a + 1)...].reduce(1, *)
        let outShape = Array(shape[..<a]) + indices.shape + Array(shape[(a + 1)...])
        let c = contiguous()
        let src = c.storage.base + c.offset
        let m = indices.count
        return indices.values.withUnsafeBufferPointer { idx in
            Tensor(shape: outShape) { out in
                let o = UnsafeSendableBox(out.baseAddress!)
                Parallel.forEach(in: 0..<(outer * m), minChunk: Swift.max(1, 16384 / Swift.max(inner, 1))) { job in
                    let r = job / m, j = job % m
                    (o.value + job * inner).update(from: src + (r * extent + idx[j]) * inner, count: inner)
                }
            }
        }
    }

    /// Joins tensors along an existing `axis`; all other extents must agree.
    public static func concatenate(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate needs at least one tensor")
        let first = tensors[0]
        let a = first.normalizedAxis(axis)
        for t in tensors {
            precondition(t.rank == first.rank && (0..<t.rank).allSatisfy { $0 == a || t.shape[$0] == first.shape[$0] },
                         "cannot concatenate shapes \(tensors.map(\.shape)) along axis \(a)")
        }
        var outShape = first.shape
        outShape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
        var result = Tensor(zeros: outShape)
        var start = 0
        for t in tensors {
            let n = t.shape[a]
            result.assign(t, axis: a, range: start..<(start + n))
            start += n
        }
        return result
    }

    /// Joins equally shaped tensors along a new axis inserted at `axis`.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack needs at least one tensor")
        let shape = tensors[0].shape
        precondition(tensors.allSatisfy { $0.shape == shape }, "cannot stack shapes \(tensors.map(\.shape))")
        let a = axis < 0 ? axis + shape.count + 1 : axis
        return concatenate(tensors.map { $0.unsqueezed(axis: a) }, axis: a)
    }

    /// Copies `source` into the slice `range` of `axis` (source shape = that slice's shape).
    public mutating func assign(_ source: Tensor, axis: Int, range: Range<Int>) {
        let a = normalizedAxis(axis)
        makeWritable()
        let target = sliced(axis: a, range)
        precondition(source.shape == target.shape, "cannot assign shape \(source.shape) to a slice of shape \(target.shape)")
        let loop = StridedLoop(shape: target.shape, strides: [target.strides, source.strides],
                               offsets: [target.offset, source.offset])
        let dst = storage.base, src = source.storage.base
        loop.run { off, n, st in
            let d = dst + off[0], s = src + off[1]
            if st[0] == 1 && st[1] == 1 {
                d.update(from: s, count: n)
            } else {
                for i in 0..<n { d[i * st[0]] = s[i * st[1]] }
            }
        }
    }

    /// The `k` largest entries along the last axis, largest first, with their indices.
    ///
    /// Order: descending by value; a NaN ranks above every number (as in PyTorch); **ties go to the
    /// lower index first**, so the result is fully deterministic. Shapes: values and indices are
    /// `shape[..<last] + [k]`.
    public func topK(_ k: Int) -> (values: Tensor, indices: IndexTensor) {
        precondition(rank >= 1 && k >= 0 && k <= shape[rank - 1], "top-\(k) of shape \(shape)")
        let n = shape[rank - 1]
        let rows = n == 0 ? 0 : count / n
        let c = contiguous()
        let src = c.storage.base + c.offset
        var outShape = shape
        outShape[rank - 1] = k
        var indexValues = [Int](repeating: 0, count: rows * k)
        let values = indexValues.withUnsafeMutableBufferPointer { idxBuf in
            let idx = UnsafeSendableBox(idxBuf.baseAddress!)
            return Tensor(shape: outShape) { out in
                let o = UnsafeSendableBox(out.baseAddress!)
                Parallel.forEach(in: 0..<rows, minChunk: Swift.max(1, 4096 / Swift.max(n, 1))) { r in
                    let p = src + r * n
                    let chosen = TopK.select(p, n, k)
                    for (j, i) in chosen.enumerated() {
                        idx.value[r * k + j] = i
                        o.value[r * k + j] = p[i]
                    }
                }
            }
        }
        return (values, IndexTensor(shape: outShape, values: indexValues))
    }
}

/// Selection of the k best entries of a row with a total order (value descending, NaN first,
/// then index ascending).
enum TopK {
    /// True when entry (a, i) ranks before (b, j).
    @inline(__always)
    static func before(_ a: Float, _ i: Int, _ b: Float, _ j: Int) -> Bool {
        if a.isNaN || b.isNaN {
            if a.isNaN && b.isNaN { return i < j }
            return a.isNaN
        }
        return a > b || (a == b && i < j)
    }

    /// Indices of the k best entries of p[0..<n], best first. Uses a bounded min-heap (the worst
    /// kept entry at the root), so the cost is O(n log k).
    static func select(_ p: UnsafePointer<Float>, _ n: Int, _ k: Int) -> [Int] {
        if k == 0 { return [] }
        var heap: [Int] = []
        heap.reserveCapacity(k)
        // `worse(x, y)`: x ranks after y — the heap keeps the worst at index 0.
        func worse(_ x: Int, _ y: Int) -> Bool { before(p[y], y, p[x], x) }
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var w = i
                if l < heap.count && worse(heap[l], heap[w]) { w = l }
                if r < heap.count && worse(heap[r], heap[w]) { w = r }
                if w == i { return }
                heap.swapAt(i, w)
                i = w
            }
        }
        for i in 0..<n {
            if heap.count < k {
                heap.append(i)
                var c = heap.count - 1
                while c > 0 {
                    let parent = (c - 1) / 2
                    if worse(heap[c], heap[parent]) { heap.swapAt(c, parent); c = parent } else { break }
                }
            } else if before(p[i], i, p[heap[0]], heap[0]) {
                heap[0] = i
                siftDown(0)
            }
        }
        return heap.sorted { before(p[$0], $0, p[$1], $1) }
    }
}
