// Tensor+Reduction: sum, mean, max, argmax and L2 norm over any axis.

extension Tensor {
    /// Sum over `axis`; the axis is removed unless `keepingAxis` is true.
    public func sum(axis: Int, keepingAxis: Bool = false) -> Tensor {
        reduce(axis: axis, keepingAxis: keepingAxis, row: Kernels.sum, column: { $0 += $1 }, finalize: nil)
    }

    /// Arithmetic mean over `axis`.
    public func mean(axis: Int, keepingAxis: Bool = false) -> Tensor {
        let n = Float(shape[normalizedAxis(axis)])
        return reduce(axis: axis, keepingAxis: keepingAxis, row: Kernels.sum, column: { $0 += $1 }, finalize: { $0 / n })
    }

    /// Maximum over `axis`. NaN propagates (a row holding NaN has maximum NaN), as in PyTorch.
    public func max(axis: Int, keepingAxis: Bool = false) -> Tensor {
        precondition(shape[normalizedAxis(axis)] > 0, "max over an empty axis of shape \(shape)")
        return reduce(axis: axis, keepingAxis: keepingAxis, row: Kernels.max,
                      column: { if $1 > $0 || $1.isNaN { $0 = $1 } }, finalize: nil, initial: -.infinity)
    }

    /// Euclidean norm over `axis`: sqrt(Σ x²).
    public func l2Norm(axis: Int, keepingAxis: Bool = false) -> Tensor {
        reduce(axis: axis, keepingAxis: keepingAxis, row: Kernels.sumOfSquares,
               column: { $0 += $1 * $1 }, finalize: { $0.squareRoot() })
    }

    /// Sum of all elements.
    public func sum() -> Float { withUnsafeBufferPointer { Kernels.sum($0.baseAddress!, $0.count) } }

    /// Mean of all elements.
    public func mean() -> Float { sum() / Float(count) }

    /// Maximum of all elements (NaN propagates).
    public func max() -> Float {
        precondition(count > 0, "max of an empty tensor")
        return withUnsafeBufferPointer { Kernels.max($0.baseAddress!, $0.count) }
    }

    /// Index of the maximum along `axis` (the first one when several are equal; a NaN counts as the
    /// maximum, as in PyTorch). The result has `self`'s shape without `axis`.
    public func argmax(axis: Int) -> IndexTensor {
        let a = normalizedAxis(axis)
        precondition(shape[a] > 0, "argmax over an empty axis of shape \(shape)")
        let moved = a == rank - 1 ? self : permuted(Array(0..<a) + Array((a + 1)..<rank) + [a])
        let c = moved.contiguous()
        let n = shape[a], rows = c.count / n
        var outShape = shape
        outShape.remove(at: a)
        var result = [Int](repeating: 0, count: rows)
        let base = c.storage.base + c.offset
        result.withUnsafeMutableBufferPointer { res in
            let resBase = UnsafeSendableBox(res.baseAddress!)
            Parallel.forEach(in: 0..<rows, minChunk: Swift.max(1, 4096 / n)) { r in
                let p = base + r * n
                var best = 0
                var bestValue = p[0]
                if !bestValue.isNaN {
                    for i in 1..<n where p[i] > bestValue || p[i].isNaN {
                        best = i
                        bestValue = p[i]
                        if bestValue.isNaN { break }
                    }
                }
                resBase.value[r] = best
            }
        }
        return IndexTensor(shape: outShape, values: result)
    }

    /// Reduces over `axis`. `row(p, n)` reduces `n` contiguous values; `column(&acc, x)` folds one
    /// value into an accumulator (used when the reduced axis is not innermost).
    private func reduce(axis: Int, keepingAxis: Bool, row: (UnsafePointer<Float>, Int) -> Float,
                        column: (inout Float, Float) -> Void, finalize: ((Float) -> Float)?,
                        initial: Float = 0) -> Tensor {
        let a = normalizedAxis(axis)
        let c = contiguous()
        let n = shape[a]
        let outer = shape[..<a].reduce(1, *)
        let inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        if keepingAxis { outShape[a] = 1 } else { outShape.remove(at: a) }
        let src = c.storage.base + c.offset
        return Tensor(shape: outShape) { out in
            let o = UnsafeSendableBox(out.baseAddress!)
            if inner == 1 {
                Parallel.forEach(in: 0..<outer, minChunk: Swift.max(1, 16384 / Swift.max(n, 1))) { r in
                    let v = row(src + r * n, n)
                    o.value[r] = finalize.map { $0(v) } ?? v
                }
            } else {
                Parallel.forEach(in: 0..<outer, minChunk: Swift.max(1, 16384 / Swift.max(n * inner, 1))) { r in
                    let acc = o.value + r * inner
                    acc.initialize(repeating: initial, count: inner)
                    for k in 0..<n {
                        let p = src + (r * n + k) * inner
                        for i in 0..<inner { column(&acc[i], p[i]) }
                    }
                    if let f = finalize { for i in 0..<inner { acc[i] = f(acc[i]) } }
                }
            }
        }
    }
}

/// Vectorised row kernels of the reductions.
extension Kernels {
    /// Σ p[0..<n] in ``Kernels/sum(_:count:path:)``'s order, at the machine's width.
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float { sum(p, count: n) }

    /// Σ p[i]² over n values.
    @inlinable
    static func sumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 16 <= n {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            acc += v * v
            i += 16
        }
        var s = acc.sum()
        while i < n { s += p[i] * p[i]; i += 1 }
        return s
    }

    /// max p[0..<n] (NaN propagates; −∞ for n = 0).
    @inlinable
    static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = -Float.infinity
        for i in 0..<n {
            let v = p[i]
            if v > m { m = v } else if v.isNaN { return v }
        }
        return m
    }
}
