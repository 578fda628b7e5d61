// StridedLoop: row-by-row iteration over strided views (the engine of elementwise ops and copies).

/// Iterates over a shape in row-major order for several operands that share that shape but have
/// their own strides and offsets. Adjacent axes that are contiguous for every operand are merged,
/// so a contiguous tensor is one long row. The body receives, per row, each operand's starting
/// offset, the row length and each operand's stride along the row.
@usableFromInline
struct StridedLoop {
    /// Extents of the outer axes (all but the row axis).
    @usableFromInline let outerShape: [Int]
    /// Per operand, strides of the outer axes.
    @usableFromInline let outerStrides: [[Int]]
    @usableFromInline let baseOffsets: [Int]
    /// Length of each row and per-operand strides along it.
    @usableFromInline let rowLength: Int
    @usableFromInline let rowStrides: [Int]
    /// Number of rows.
    @usableFromInline let rowCount: Int

    @usableFromInline
    init(shape: [Int], strides: [[Int]], offsets: [Int]) {
        // Drop unit axes, then merge axis i into i+1 when every operand is contiguous across them.
        var dims: [Int] = []
        var st: [[Int]] = Array(repeating: [], count: strides.count)
        for axis in 0..<shape.count where shape[axis] != 1 {
            dims.append(shape[axis])
            for k in 0..<strides.count { st[k].append(strides[k][axis]) }
        }
        if dims.isEmpty { dims = [1]; for k in 0..<st.count { st[k] = [1] } }
        var i = dims.count - 2
        while i >= 0 {
            let mergeable = (0..<st.count).allSatisfy { st[$0][i] == st[$0][i + 1] * dims[i + 1] }
            if mergeable {
                dims[i] *= dims[i + 1]
                dims.remove(at: i + 1)
                for k in 0..<st.count { st[k][i] = st[k][i + 1]; st[k].remove(at: i + 1) }
            }
            i -= 1
        }
        rowLength = dims.last!
        rowStrides = st.map { $0.last! }
        outerShape = Array(dims.dropLast())
        outerStrides = st.map { Array($0.dropLast()) }
        baseOffsets = offsets
        rowCount = shape.contains(0) ? 0 : outerShape.reduce(1, *)
    }

    /// Calls `body(offsets, rowLength, rowStrides)` for the rows in `rows`, in order.
    @inlinable
    func forEachRow(in rows: Range<Int>, _ body: (UnsafeBufferPointer<Int>, Int, UnsafeBufferPointer<Int>) -> Void) {
        if rows.isEmpty { return }
        let nOps = baseOffsets.count
        let nOuter = outerShape.count
        withUnsafeTemporaryAllocation(of: Int.self, capacity: nOps + nOuter) { scratch in
            let offsets = UnsafeMutableBufferPointer(rebasing: scratch[0..<nOps])
            let counters = UnsafeMutableBufferPointer(rebasing: scratch[nOps..<(nOps + nOuter)])
            // Decompose the first row index into outer counters.
            var rem = rows.lowerBound
            for axis in stride(from: nOuter - 1, through: 0, by: -1) {
                counters[axis] = rem % outerShape[axis]
                rem /= outerShape[axis]
            }
            for k in 0..<nOps {
                var o = baseOffsets[k]
                for axis in 0..<nOuter { o += counters[axis] * outerStrides[k][axis] }
                offsets[k] = o
            }
            rowStrides.withUnsafeBufferPointer { rs in
                for _ in rows {
                    body(UnsafeBufferPointer(offsets), rowLength, rs)
                    // Advance the odometer.
                    var axis = nOuter - 1
                    while axis >= 0 {
                        counters[axis] += 1
                        for k in 0..<nOps { offsets[k] += outerStrides[k][axis] }
                        if counters[axis] < outerShape[axis] { break }
                        for k in 0..<nOps { offsets[k] -= outerStrides[k][axis] * outerShape[axis] }
                        counters[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
    }

    /// Runs all rows, split across cores when there are at least `grain` elements per chunk. When
    /// there are fewer rows than workers (a contiguous tensor is a single row), rows are cut into
    /// segments instead, so long rows are shared too.
    @inlinable
    func run(grain: Int = 1 << 15, _ body: (UnsafeBufferPointer<Int>, Int, UnsafeBufferPointer<Int>) -> Void) {
        let workers = Parallel.workerCount
        if rowCount >= workers || rowLength < 2 * grain || workers == 1 {
            let rowsPerChunk = Swift.max(1, grain / Swift.max(rowLength, 1))
            Parallel.forChunks(of: 0..<rowCount, minChunk: rowsPerChunk) { range in
                forEachRow(in: range, body)
            }
            return
        }
        let segments = Swift.min(workers, rowLength / grain)
        let nOps = baseOffsets.count
        Parallel.forEach(in: 0..<(rowCount * segments)) { job in
            let row = job / segments, seg = job % segments
            let lo = rowLength * seg / segments, hi = rowLength * (seg + 1) / segments
            forEachRow(in: row..<(row + 1)) { off, _, st in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: nOps) { shifted in
                    for k in 0..<nOps { shifted[k] = off[k] + lo * st[k] }
                    body(UnsafeBufferPointer(shifted), hi - lo, st)
                }
            }
        }
    }
}

/// Copies strided views into contiguous buffers.
@usableFromInline
enum StridedCopy {
    /// Writes `t`'s elements in row-major order to `out` (which must hold `t.count` elements).
    @usableFromInline
    static func copy(_ t: Tensor, into out: UnsafeMutablePointer<Float>) {
        let src = t.storage.base
        let loop = StridedLoop(shape: t.shape, strides: [Tensor.contiguousStrides(t.shape), t.strides],
                               offsets: [0, t.offset])
        loop.run { off, n, st in
            let o = out + off[0], s = src + off[1], ss = st[1]
            if ss == 1 {
                o.update(from: s, count: n)
            } else {
                for i in 0..<n { o[i] = s[i * ss] }
            }
        }
    }
}
