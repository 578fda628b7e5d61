// Tensor+Shape: views that change shape or strides without copying, and broadcasting rules.

extension Tensor {
    /// The same elements viewed with a new shape; one extent may be `-1` (inferred).
    ///
    /// Returns a view without copying whenever the current strides allow it (always for contiguous
    /// tensors, and for any view whose merged axes are contiguous among themselves, as PyTorch's
    /// `view`); otherwise returns a contiguous copy.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        let target = resolveShape(newShape)
        if let st = Tensor.viewStrides(shape: shape, strides: strides, newShape: target) {
            return Tensor(storage: storage, shape: target, strides: st, offset: offset)
        }
        let c = contiguousCopy()
        return Tensor(storage: c.storage, shape: target, strides: Tensor.contiguousStrides(target), offset: 0)
    }

    private func resolveShape(_ newShape: [Int]) -> [Int] {
        var target = newShape
        let inferred = target.indices.filter { target[$0] == -1 }
        precondition(inferred.count <= 1, "at most one -1 in reshape target \(newShape)")
        if let i = inferred.first {
            let known = target.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            target[i] = count / known
        }
        precondition(Tensor.elementCount(target) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        return target
    }

    /// Strides that view (`shape`, `strides`) as `newShape`, or nil if a copy is needed.
    static func viewStrides(shape: [Int], strides: [Int], newShape: [Int]) -> [Int]? {
        let n = Tensor.elementCount(shape)
        if n == 0 { return Tensor.contiguousStrides(newShape) }
        // Group old axes (skipping unit ones) into contiguous chunks; each chunk can be re-split freely.
        let old = Swift.zip(shape, strides).filter { $0.0 != 1 }
        var result = [Int](repeating: 0, count: newShape.count)
        var oi = 0, ni = 0
        while ni < newShape.count || oi < old.count {
            // Skip unit new axes.
            if ni < newShape.count && newShape[ni] == 1 { result[ni] = 1; ni += 1; continue }
            guard oi < old.count, ni < newShape.count else { return nil }
            // Collect a chunk of old axes and new axes with equal products.
            var oldProd = old[oi].0, newProd = newShape[ni]
            var oEnd = oi, nEnd = ni
            while oldProd != newProd {
                if oldProd < newProd {
                    oEnd += 1
                    guard oEnd < old.count else { return nil }
                    // The merged old axes must be contiguous with respect to each other.
                    guard old[oEnd - 1].1 == old[oEnd].1 * old[oEnd].0 else { return nil }
                    oldProd *= old[oEnd].0
                } else {
                    nEnd += 1
                    guard nEnd < newShape.count else { return nil }
                    newProd *= newShape[nEnd]
                }
            }
            // The chunk's innermost stride is the last old axis's stride.
            var acc = old[oEnd].1
            for k in stride(from: nEnd, through: ni, by: -1) {
                result[k] = acc
                acc *= newShape[k]
            }
            oi = oEnd + 1
            ni = nEnd + 1
        }
        return result
    }

    /// Reorders the axes: axis `i` of the result is axis `axes[i]` of `self`. No copy.
    public func permuted(_ axes: [Int]) -> Tensor {
        let ax = axes.map { normalizedAxis($0) }
        precondition(ax.count == rank && Set(ax).count == rank, "\(axes) is not a permutation of the axes of shape \(shape)")
        return Tensor(storage: storage, shape: ax.map { shape[$0] }, strides: ax.map { strides[$0] }, offset: offset)
    }

    /// Swaps two axes (by default the last two). No copy.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        let i = normalizedAxis(a), j = normalizedAxis(b)
        var axes = Array(0..<rank)
        axes.swapAt(i, j)
        return permuted(axes)
    }

    /// The elements `range` along `axis` (a view; `range` must lie within the axis).
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = normalizedAxis(axis)
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[a],
                     "slice \(range) is out of bounds for axis \(a) of shape \(shape)")
        var newShape = shape
        newShape[a] = range.count
        return Tensor(storage: storage, shape: newShape, strides: strides,
                      offset: range.isEmpty ? offset : offset + range.lowerBound * strides[a])
    }

    /// The sub-tensor at `index` along `axis`, with that axis removed (a view).
    public func selecting(axis: Int, _ index: Int) -> Tensor {
        let a = normalizedAxis(axis)
        precondition(index >= 0 && index < shape[a], "index \(index) is out of bounds for axis \(a) of shape \(shape)")
        var newShape = shape, newStrides = strides
        newShape.remove(at: a)
        newStrides.remove(at: a)
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset + index * strides[a])
    }

    /// Inserts an axis of extent 1 at `axis` (0...rank). No copy.
    public func unsqueezed(axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        precondition(a >= 0 && a <= rank, "axis \(axis) out of range for unsqueezing shape \(shape)")
        var newShape = shape, newStrides = strides
        newShape.insert(1, at: a)
        newStrides.insert(a < rank ? strides[a] * shape[a] : 1, at: a)
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
    }

    /// Removes an axis of extent 1. No copy.
    public func squeezed(axis: Int) -> Tensor {
        let a = normalizedAxis(axis)
        precondition(shape[a] == 1, "cannot squeeze axis \(a) of shape \(shape)")
        var newShape = shape, newStrides = strides
        newShape.remove(at: a)
        newStrides.remove(at: a)
        return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
    }

    /// A broadcast view of `self` with shape `target` (NumPy rules: align trailing axes; an axis of
    /// extent 1 repeats with stride 0). No copy; writing to the result copies it first.
    public func expanded(to target: [Int]) -> Tensor {
        precondition(target.count >= rank, "cannot broadcast shape \(shape) to \(target)")
        var newStrides = [Int](repeating: 0, count: target.count)
        let lead = target.count - rank
        for i in 0..<rank {
            if shape[i] == target[lead + i] {
                newStrides[lead + i] = strides[i]
            } else {
                precondition(shape[i] == 1, "cannot broadcast shape \(shape) to \(target)")
            }
        }
        return Tensor(storage: storage, shape: target, strides: newStrides, offset: offset)
    }

    /// The broadcast shape of two shapes (NumPy rules), or a precondition failure naming both.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
        let n = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let x = i < n - a.count ? 1 : a[i - (n - a.count)]
            let y = i < n - b.count ? 1 : b[i - (n - b.count)]
            precondition(x == y || x == 1 || y == 1, "shapes \(a) and \(b) do not broadcast")
            out[i] = x == 1 ? y : x
        }
        return out
    }
}
