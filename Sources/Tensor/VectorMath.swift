// VectorMath: the statically dispatched elementwise kernels of the Swift tensor operations (4 lanes, the
// baseline x86-64 width). exp, tanh and GELU live in the C target at the machine's width (Kernels.swift).

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

@usableFromInline enum ReluKernel: UnaryKernel {
    @inlinable static func scalar(_ x: Float) -> Float { x > 0 || x.isNaN ? x : 0 }
    @inlinable static func vector(_ x: SIMD4<Float>) -> SIMD4<Float> {
        var r = x
        r.replace(with: 0, where: x .<= 0)
        return r
    }
}
