// Tensor+Elementwise: arithmetic with NumPy broadcasting, unary maps, in-place updates.

import Foundation

extension Tensor {
    // MARK: Kernels

    /// A new contiguous tensor of `self`'s shape, written row by row: `body(out, src, n, srcStride)`
    /// fills `n` outputs from `n` inputs `srcStride` apart.
    @inlinable
    func unaryRows(_ body: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int, Int) -> Void) -> Tensor {
        let src = self
        return Tensor(shape: shape) { out in
            let loop = StridedLoop(shape: src.shape, strides: [Tensor.contiguousStrides(src.shape), src.strides],
                                   offsets: [0, src.offset])
            let o0 = out.baseAddress!, s0 = src.storage.base
            loop.run { off, n, st in body(o0 + off[0], s0 + off[1], n, st[1]) }
        }
    }

    /// A new contiguous tensor of the broadcast shape of `a` and `b`, written by `rows` over a loop
    /// whose operands are (output, a, b).
    @inlinable
    static func binaryRows(_ a: Tensor, _ b: Tensor,
                           _ rows: (StridedLoop, UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>) -> Void) -> Tensor {
        let shape = a.shape == b.shape ? a.shape : Tensor.broadcastShape(a.shape, b.shape)
        let x = a.shape == shape ? a : a.expanded(to: shape)
        let y = b.shape == shape ? b : b.expanded(to: shape)
        return Tensor(shape: shape) { out in
            let loop = StridedLoop(shape: shape, strides: [Tensor.contiguousStrides(shape), x.strides, y.strides],
                                   offsets: [0, x.offset, y.offset])
            rows(loop, out.baseAddress!, x.storage.base, y.storage.base)
        }
    }

    /// `op` applied to every element; the result is contiguous with `self`'s shape.
    @inlinable
    public func map(_ op: (Float) -> Float) -> Tensor {
        unaryRows { o, s, n, ss in
            if ss == 1 {
                for i in 0..<n { o[i] = op(s[i]) }
            } else {
                for i in 0..<n { o[i] = op(s[i * ss]) }
            }
        }
    }

    /// `op(a, b)` elementwise over the broadcast shape of `a` and `b` (NumPy rules).
    @inlinable
    public static func elementwise(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
        binaryRows(a, b) { loop, o, x, y in elementwiseRows(loop, o, x, y, op) }
    }

    @inlinable
    static func elementwiseRows(_ loop: StridedLoop, _ o0: UnsafeMutablePointer<Float>, _ x0: UnsafePointer<Float>,
                        _ y0: UnsafePointer<Float>, _ op: (Float, Float) -> Float) {
        loop.run { off, n, st in
            let o = o0 + off[0], x = x0 + off[1], y = y0 + off[2]
            let sx = st[1], sy = st[2]
            if sx == 1 && sy == 1 {
                for i in 0..<n { o[i] = op(x[i], y[i]) }
            } else if sx == 1 && sy == 0 {
                let v = y[0]
                for i in 0..<n { o[i] = op(x[i], v) }
            } else if sx == 0 && sy == 1 {
                let v = x[0]
                for i in 0..<n { o[i] = op(v, y[i]) }
            } else {
                for i in 0..<n { o[i] = op(x[i * sx], y[i * sy]) }
            }
        }
    }

    /// `K` applied to every element (statically dispatched, 4 lanes at a time on unit-stride rows).
    @inlinable
    func apply<K: UnaryKernel>(_: K.Type) -> Tensor {
        unaryRows { o, s, n, ss in
            var i = 0
            if ss == 1 {
                let ro = UnsafeMutableRawPointer(o), rs = UnsafeRawPointer(s)
                while i + 4 <= n {
                    ro.storeBytes(of: K.vector(rs.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self)),
                                  toByteOffset: 4 * i, as: SIMD4<Float>.self)
                    i += 4
                }
            }
            while i < n { o[i] = K.scalar(s[i * ss]); i += 1 }
        }
    }

    /// `K` applied elementwise over the broadcast shape of `a` and `b`.
    @inlinable
    static func apply<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _: K.Type) -> Tensor {
        binaryRows(a, b) { loop, o, x, y in kernelRows(loop, o, x, y, K.self) }
    }

    @inlinable
    static func kernelRows<K: BinaryKernel>(_ loop: StridedLoop, _ o0: UnsafeMutablePointer<Float>, _ x0: UnsafePointer<Float>,
                                            _ y0: UnsafePointer<Float>, _: K.Type) {
        loop.run { off, n, st in
            let o = o0 + off[0], x = x0 + off[1], y = y0 + off[2]
            let sx = st[1], sy = st[2]
            var i = 0
            let ro = UnsafeMutableRawPointer(o), rx = UnsafeRawPointer(x), ry = UnsafeRawPointer(y)
            if sx == 1 && sy == 1 {
                while i + 4 <= n {
                    ro.storeBytes(of: K.vector(rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self),
                                               ry.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self)),
                                  toByteOffset: 4 * i, as: SIMD4<Float>.self)
                    i += 4
                }
            } else if sx == 1 && sy == 0 {
                let v = SIMD4<Float>(repeating: y[0])
                while i + 4 <= n {
                    ro.storeBytes(of: K.vector(rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self), v),
                                  toByteOffset: 4 * i, as: SIMD4<Float>.self)
                    i += 4
                }
            } else if sx == 0 && sy == 1 {
                let v = SIMD4<Float>(repeating: x[0])
                while i + 4 <= n {
                    ro.storeBytes(of: K.vector(v, ry.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self)),
                                  toByteOffset: 4 * i, as: SIMD4<Float>.self)
                    i += 4
                }
            }
            while i < n { o[i] = K.scalar(x[i * sx], y[i * sy]); i += 1 }
        }
    }

    /// In-place `self[i] = K(self[i], rhs[i])` with `rhs` broadcast to `self`'s shape.
    @inlinable
    mutating func applyInPlace<K: BinaryKernel>(_ rhs: Tensor, _: K.Type) {
        let y = rhs.shape == shape ? rhs : rhs.expanded(to: shape)
        makeWritable()
        let loop = StridedLoop(shape: shape, strides: [strides, strides, y.strides], offsets: [offset, offset, y.offset])
        Tensor.kernelRows(loop, storage.base, storage.base, y.storage.base, K.self)
    }

    /// Updates `self[i] = op(self[i], rhs[i])` with `rhs` broadcast to `self`'s shape; writes in
    /// place when `self` owns its storage.
    @inlinable
    public mutating func update(with rhs: Tensor, _ op: (Float, Float) -> Float) {
        let y = rhs.shape == shape ? rhs : rhs.expanded(to: shape)
        makeWritable()
        let loop = StridedLoop(shape: shape, strides: [strides, strides, y.strides], offsets: [offset, offset, y.offset])
        Tensor.elementwiseRows(loop, storage.base, storage.base, y.storage.base, op)
    }

    /// Updates every element with `op` in place (copying first if the storage is shared).
    @inlinable
    public mutating func update(_ op: (Float) -> Float) {
        makeWritable()
        let loop = StridedLoop(shape: shape, strides: [strides], offsets: [offset])
        let base = storage.base
        loop.run { off, n, st in
            let p = base + off[0], s = st[0]
            if s == 1 {
                for i in 0..<n { p[i] = op(p[i]) }
            } else {
                for i in 0..<n { p[i * s] = op(p[i * s]) }
            }
        }
    }

    // MARK: Operators

    public static func + (a: Tensor, b: Tensor) -> Tensor { apply(a, b, AddKernel.self) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { apply(a, b, SubKernel.self) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { apply(a, b, MulKernel.self) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { apply(a, b, DivKernel.self) }

    public static func + (a: Tensor, s: Float) -> Tensor { apply(a, Tensor(scalar: s), AddKernel.self) }
    public static func - (a: Tensor, s: Float) -> Tensor { apply(a, Tensor(scalar: s), SubKernel.self) }
    public static func * (a: Tensor, s: Float) -> Tensor { apply(a, Tensor(scalar: s), MulKernel.self) }
    public static func / (a: Tensor, s: Float) -> Tensor { apply(a, Tensor(scalar: s), DivKernel.self) }
    public static func + (s: Float, a: Tensor) -> Tensor { apply(Tensor(scalar: s), a, AddKernel.self) }
    public static func - (s: Float, a: Tensor) -> Tensor { apply(Tensor(scalar: s), a, SubKernel.self) }
    public static func * (s: Float, a: Tensor) -> Tensor { apply(Tensor(scalar: s), a, MulKernel.self) }
    public static func / (s: Float, a: Tensor) -> Tensor { apply(Tensor(scalar: s), a, DivKernel.self) }
    public static prefix func - (a: Tensor) -> Tensor { a.map { -$0 } }

    public static func += (a: inout Tensor, b: Tensor) { a.applyInPlace(b, AddKernel.self) }
    public static func -= (a: inout Tensor, b: Tensor) { a.applyInPlace(b, SubKernel.self) }
    public static func *= (a: inout Tensor, b: Tensor) { a.applyInPlace(b, MulKernel.self) }
    public static func /= (a: inout Tensor, b: Tensor) { a.applyInPlace(b, DivKernel.self) }
    public static func += (a: inout Tensor, s: Float) { a.applyInPlace(Tensor(scalar: s), AddKernel.self) }
    public static func -= (a: inout Tensor, s: Float) { a.applyInPlace(Tensor(scalar: s), SubKernel.self) }
    public static func *= (a: inout Tensor, s: Float) { a.applyInPlace(Tensor(scalar: s), MulKernel.self) }
    public static func /= (a: inout Tensor, s: Float) { a.applyInPlace(Tensor(scalar: s), DivKernel.self) }

    // MARK: Unary functions

    /// e^x elementwise at the machine's width (``Kernels/exp(_:_:count:path:)``; within 2 ulp of the
    /// correctly rounded value).
    public func exp() -> Tensor {
        let path = KernelPath.active
        return Kernels.elementwise(self) { Kernels.exp($0, $1, count: $2, path: path) }
    }
    /// Natural logarithm elementwise.
    public func log() -> Tensor { map { Foundation.log($0) } }
    /// Square root elementwise.
    public func sqrt() -> Tensor { map { $0.squareRoot() } }
    /// Absolute value elementwise.
    public func abs() -> Tensor { map { Swift.abs($0) } }
    /// x² elementwise.
    public func squared() -> Tensor { map { $0 * $0 } }
    /// Hyperbolic tangent elementwise at the machine's width (``Kernels/tanh(_:_:count:path:)``; within 3 ulp).
    public func tanh() -> Tensor {
        let path = KernelPath.active
        return Kernels.elementwise(self) { Kernels.tanh($0, $1, count: $2, path: path) }
    }
    /// max(x, 0) elementwise (NaN propagates, as `torch.relu`).
    public func relu() -> Tensor { apply(ReluKernel.self) }
    /// min(max(x, lower), upper) elementwise.
    public func clamped(_ lower: Float, _ upper: Float) -> Tensor { map { Swift.min(Swift.max($0, lower), upper) } }

    /// max(a, b) elementwise with broadcasting.
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { elementwise(a, b) { Swift.max($0, $1) } }
    /// min(a, b) elementwise with broadcasting.
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { elementwise(a, b) { Swift.min($0, $1) } }
}
