// VectorMath: SIMD exp and tanh (Cephes-style range reduction and polynomials, about 1–2 ulp),
// and the statically dispatched elementwise kernels built on them.

/// Vectorised transcendental functions on 4 lanes (the SSE2 width: the package is built without
/// `unsafeFlags`, so for the baseline x86-64 target; wider vectors only add register spills there).
///
/// `exp`: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two parts for exact reduction), a degree-6
/// polynomial for eʳ, then scaling by 2ⁿ through the exponent bits. Inputs beyond ±88.7 saturate to
/// +∞ / 0. `tanh`: for |x| ≥ 0.625, `1 − 2/(e^{2|x|} + 1)` with the sign restored; below, an odd
/// polynomial (no cancellation near 0). Both agree with the correctly rounded results to a few ulp
/// (tested against Double).
@usableFromInline
enum VectorMath {
    @usableFromInline typealias V = SIMD4<Float>

    @inlinable @inline(__always)
    static func exp(_ x: V) -> V {
        // Only comparisons, blends and arithmetic: the generic SIMD clamping, rounding and
        // float-to-int conversions of the standard library run lane by lane, 10–100× slower.
        let hi = V(repeating: 88.72283), lo = V(repeating: -87.33654)
        let overflow = x .> hi, underflow = x .< lo
        var xc = x
        xc.replace(with: hi, where: overflow)
        xc.replace(with: lo, where: underflow)
        // n = round(x·log2 e) by the 1.5·2²³ trick: the sum's low mantissa bits hold n.
        let magic = V(repeating: 12_582_912)
        let k = xc * 1.442_695_04 + magic
        let fx = k - magic
        var r = xc - fx * 0.693_359_375
        r = r - fx * -2.121_944_4e-4
        let z = r * r
        var y = V(repeating: 1.987_569_15e-4)
        y = y * r + 1.398_199_95e-3
        y = y * r + 8.333_451_9e-3
        y = y * r + 4.166_579_59e-2
        y = y * r + 1.666_666_55e-1
        y = y * r + 5.000_000_12e-1
        y = y * z + r + 1
        // 2ⁿ through the exponent field (n is in [-126, 128]; split in two to keep both factors normal).
        let n = unsafeBitCast(k, to: SIMD4<Int32>.self) &- 0x4B40_0000
        let half = n &>> 1
        let p1 = unsafeBitCast((half &+ 127) &<< 23, to: V.self)
        let p2 = unsafeBitCast(((n &- half) &+ 127) &<< 23, to: V.self)
        var result = y * p1 * p2
        result.replace(with: Float.infinity, where: overflow)
        result.replace(with: 0, where: underflow)
        result.replace(with: x, where: x .!= x)   // NaN stays NaN
        return result
    }

    @inlinable @inline(__always)
    static func tanh(_ x: V) -> V {
        let a = abs(x)
        // Large: 1 − 2/(e^{2a} + 1), saturating to 1 (e^{2a} = ∞ gives exactly 1).
        let e = exp(a + a)
        var large = 1 - 2 / (e + 1)
        large.replace(with: -large, where: x .< 0)
        // Small: x + x·z·P(z), z = x².
        let z = x * x
        var p = V(repeating: -5.704_988_727_45e-3)
        p = p * z + 2.063_908_879_54e-2
        p = p * z - 5.373_971_555_31e-2
        p = p * z + 1.333_144_220_36e-1
        p = p * z - 3.333_328_194_22e-1
        let small = p * z * x + x
        var result = small
        result.replace(with: large, where: a .>= 0.625)
        return result
    }

    @inlinable @inline(__always)
    static func abs(_ x: V) -> V { unsafeBitCast(unsafeBitCast(x, to: SIMD4<UInt32>.self) & 0x7FFF_FFFF, to: V.self) }

    /// Scalar versions through lane 0, so scalar tails round exactly as the vector body.
    @inlinable @inline(__always)
    static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }
    @inlinable @inline(__always)
    static func tanh(_ x: Float) -> Float { tanh(V(repeating: x))[0] }
}

/// An elementwise unary function with a scalar and a 4-lane form that compute the same values.
@usableFromInline
protocol UnaryKernel {
    static func scalar(_ x: Float) -> Float
    static func vector(_ x: SIMD4<Float>) -> SIMD4<Float>
}

/// An elementwise binary function with a scalar and a 4-lane form.
@usableFromInline
protocol BinaryKernel {
    static func scalar(_ x: Float, _ y: Float) -> Float
    static func vector(_ x: SIMD4<Float>, _ y: SIMD4<Float>) -> SIMD4<Float>
}

@usableFromInline enum AddKernel: BinaryKernel {
    @inlinable static func scalar(_ x: Float, _ y: Float) -> Float { x + y }
    @inlinable static func vector(_ x: SIMD4<Float>, _ y: SIMD4<Float>) -> SIMD4<Float> { x + y }
}
@usableFromInline enum SubKernel: BinaryKernel {
    @inlinable static func scalar(_ x: Float, _ y: Float) -> Float { x - y }
    @inlinable static func vector(_ x: SIMD4<Float>, _ y: SIMD4<Float>) -> SIMD4<Float> { x - y }
}
@usableFromInline enum MulKernel: BinaryKernel {
    @inlinable static func scalar(_ x: Float, _ y: Float) -> Float { x * y }
    @inlinable static func vector(_ x: SIMD4<Float>, _ y: SIMD4<Float>) -> SIMD4<Float> { x * y }
}
@usableFromInline enum DivKernel: BinaryKernel {
    @inlinable static func scalar(_ x: Float, _ y: Float) -> Float { x / y }
    @inlinable static func vector(_ x: SIMD4<Float>, _ y: SIMD4<Float>) -> SIMD4<Float> { x / y }
}

@usableFromInline enum ExpKernel: UnaryKernel {
    @inlinable static func scalar(_ x: Float) -> Float { VectorMath.exp(x) }
    @inlinable static func vector(_ x: SIMD4<Float>) -> SIMD4<Float> { VectorMath.exp(x) }
}
@usableFromInline enum TanhKernel: UnaryKernel {
    @inlinable static func scalar(_ x: Float) -> Float { VectorMath.tanh(x) }
    @inlinable static func vector(_ x: SIMD4<Float>) -> SIMD4<Float> { VectorMath.tanh(x) }
}
@usableFromInline enum ReluKernel: UnaryKernel {
    @inlinable static func scalar(_ x: Float) -> Float { x > 0 || x.isNaN ? x : 0 }
    @inlinable static func vector(_ x: SIMD4<Float>) -> SIMD4<Float> {
        var r = x
        r.replace(with: 0, where: x .<= 0)
        return r
    }
}
