// Kernels: the Swift face of CKernels — kernels compiled for AVX-512, AVX2 and the baseline and chosen
// at run time — with the naive Swift version of each beside it (the tests' reference, on every path).

import CKernels
import Foundation

/// A compiled width of the C kernels (CKernels). Every path performs the same IEEE operations in the
/// same order (floating-point contraction is off), so all give the same bits; they differ in speed.
public enum KernelPath: String, CaseIterable, Sendable, Comparable {
    /// 128-bit vectors: SSE2 on x86-64 (what Swift code in this package compiles to), NEON on AArch64.
    case baseline
    /// 256-bit vectors, on x86-64 CPUs with AVX2.
    case avx2
    /// 512-bit vectors, on x86-64 CPUs with AVX-512F.
    case avx512

    var code: Int32 {
        switch self {
        case .baseline: Int32(ATTN_KERNELS_BASELINE)
        case .avx2: Int32(ATTN_KERNELS_AVX2)
        case .avx512: Int32(ATTN_KERNELS_AVX512)
        }
    }

    /// Whether this CPU runs it.
    public var isSupported: Bool { attn_kernels_supported(code) != 0 }

    /// Floats per vector.
    public var lanes: Int {
        switch self {
        case .baseline: 4
        case .avx2: 8
        case .avx512: 16
        }
    }

    public static func < (a: KernelPath, b: KernelPath) -> Bool { a.code < b.code }

    /// The paths this CPU runs, narrowest first.
    public static let supported: [KernelPath] = allCases.filter(\.isSupported)

    /// The path used when a call names none: the widest this CPU runs, or the one the environment
    /// variable `ATTN_SAE_KERNELS` names (`baseline`, `avx2`, `avx512`) when this CPU runs it. A value
    /// that is not a path, or one this CPU cannot run, is reported on standard error once and the
    /// widest path is used.
    public static let active: KernelPath = {
        let widest = supported.last ?? .baseline
        guard let asked = ProcessInfo.processInfo.environment["ATTN_SAE_KERNELS"], !asked.isEmpty else { return widest }
        guard let path = KernelPath(rawValue: asked) else {
            FileHandle.standardError.write(Data("warning: ATTN_SAE_KERNELS=\(asked) is not a kernel path (allowed: \(allCases.map(\.rawValue).joined(separator: ", "))); using \(widest.rawValue)\n".utf8))
            return widest
        }
        guard path.isSupported else {
            FileHandle.standardError.write(Data("warning: ATTN_SAE_KERNELS=\(asked): this CPU cannot run it (allowed here: \(supported.map(\.rawValue).joined(separator: ", "))); using \(widest.rawValue)\n".utf8))
            return widest
        }
        return path
    }()
}

/// Kernels at the machine's width. Each C kernel takes the path to run (default ``KernelPath/active``),
/// so tests can run every supported path against the naive version.
public enum Kernels {
    // MARK: Adam

    /// PyTorch's single-tensor Adam update (`torch.optim.Adam`, no weight decay, no amsgrad) as its
    /// scalar coefficients, computed in Double as Python computes them and applied in Float.
    public struct AdamStep: Sendable, Equatable {
        /// `1 − β₁`, `β₂`, `1 − β₂`, `lr / (1 − β₁ᵗ)`, `√(1 − β₂ᵗ)`, `ε`.
        public var firstMomentWeight: Float, beta2: Float, secondMomentWeight: Float, stepSize: Float, biasCorrection2Sqrt: Float, eps: Float
        /// `β₁ = 0`: the first moment is the gradient, exactly.
        public var firstMomentIsGradient: Bool

        /// The coefficients of step `t` (1-based) at learning rate `lr`.
        public init(beta1: Double, beta2: Double, eps: Double, lr: Double, step t: Int) {
            firstMomentWeight = Float(1 - beta1)
            self.beta2 = Float(beta2)
            secondMomentWeight = Float(1 - beta2)
            stepSize = Float(lr / (1 - Foundation.pow(beta1, Double(t))))
            biasCorrection2Sqrt = Float((1 - Foundation.pow(beta2, Double(t))).squareRoot())
            self.eps = Float(eps)
            firstMomentIsGradient = beta1 == 0
        }

        var c: attn_adam_coefficients {
            attn_adam_coefficients(first_moment_weight: firstMomentWeight, beta2: beta2, second_moment_weight: secondMomentWeight,
                                   step_size: stepSize, bias_correction2_sqrt: biasCorrection2Sqrt, eps: eps,
                                   first_moment_is_gradient: firstMomentIsGradient ? 1 : 0)
        }
    }

    /// One Adam step on parameter `p` with moments `m`, `v` (same shape) and gradient `g`, element by
    /// element: `m ← m + (1−β₁)(g − m)` (`= g` when β₁ = 0), `v ← β₂v + (1−β₂)g²`,
    /// `p ← p − (m / (√v / √(1−β₂ᵗ) + ε)) · lr/(1−β₁ᵗ)` — PyTorch's operations in PyTorch's order.
    /// Both cores share the work.
    public static func adamUpdate(_ p: inout Tensor, _ m: inout Tensor, _ v: inout Tensor, gradient g: Tensor, _ step: AdamStep,
                                  path: KernelPath = .active) {
        precondition(g.shape == p.shape && m.shape == p.shape && v.shape == p.shape,
                     "Adam: parameter \(p.shape), gradient \(g.shape), moments \(m.shape) and \(v.shape) must match")
        if p.count == 0 { return }
        var c = step.c
        let grad = g.contiguous()
        let gBase = UnsafeSendableBox(UnsafePointer(grad.storage.base + grad.offset))
        p.withUnsafeMutableBufferPointer { pp in m.withUnsafeMutableBufferPointer { mp in v.withUnsafeMutableBufferPointer { vp in
            let box = UnsafeSendableBox((pp.baseAddress!, mp.baseAddress!, vp.baseAddress!, gBase.value))
            withUnsafePointer(to: &c) { cp in
                let coefficients = UnsafeSendableBox(cp)
                Parallel.forChunks(of: 0..<pp.count, minChunk: 1 << 16) { r in
                    let (p, m, v, g) = box.value
                    let at = r.lowerBound
                    attn_adam_update(path.code, p + at, m + at, v + at, g + at, r.count, coefficients.value)
                }
            }
        }}}
        withExtendedLifetime(grad) {}
    }

    /// The naive version of ``adamUpdate(_:_:_:gradient:_:path:)``: one element at a time in Swift.
    public static func naiveAdamUpdate(_ p: inout Tensor, _ m: inout Tensor, _ v: inout Tensor, gradient g: Tensor, _ s: AdamStep) {
        precondition(g.shape == p.shape && m.shape == p.shape && v.shape == p.shape)
        let grad = g.contiguous().scalars
        p.withUnsafeMutableBufferPointer { p in m.withUnsafeMutableBufferPointer { m in v.withUnsafeMutableBufferPointer { v in
            for k in 0..<p.count {
                let gk = grad[k]
                let mk = s.firstMomentIsGradient ? gk : m[k] + s.firstMomentWeight * (gk - m[k])
                let vk = v[k] * s.beta2 + s.secondMomentWeight * (gk * gk)
                m[k] = mk
                v[k] = vk
                p[k] = p[k] - (mk / (vk.squareRoot() / s.biasCorrection2Sqrt + s.eps)) * s.stepSize
            }
        }}}
    }

    // MARK: gelu_new, exp, tanh, layer norm, softmax, sum

    /// gelu_new on `n` contiguous values, `y[i] = (0.5·x)·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`, with
    /// the package's vector exp and tanh (see ``naiveGelu(_:)``, which gives the same bits). `x` and `y`
    /// may be the same buffer. One thread; callers split large buffers.
    public static func gelu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, path: KernelPath = .active) {
        attn_gelu_tanh(path.code, x, y, n)
    }

    /// `eˣ` on `n` contiguous values (see ``naiveExp(_:)``, same bits). `x` and `y` may be the same buffer.
    public static func exp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, path: KernelPath = .active) {
        attn_exp(path.code, x, y, n)
    }

    /// `tanh x` on `n` contiguous values (see ``naiveTanh(_:)``, same bits). `x` and `y` may be the same buffer.
    public static func tanh(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, path: KernelPath = .active) {
        attn_tanh(path.code, x, y, n)
    }

    /// A buffer function above over a whole tensor, on both cores: the result is contiguous, `x`'s shape.
    static func elementwise(_ x: Tensor, _ kernel: @escaping @Sendable (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let c = x.contiguous()
        let src = UnsafeSendableBox(UnsafePointer(c.storage.base + c.offset))
        let result = Tensor(shape: x.shape) { out in
            let o = UnsafeSendableBox(out.baseAddress!)
            Parallel.forChunks(of: 0..<out.count, minChunk: 1 << 15) { r in
                kernel(src.value + r.lowerBound, o.value + r.lowerBound, r.count)
            }
        }
        withExtendedLifetime(c) {}
        return result
    }

    /// Layer norm of `rows` contiguous rows `[rows, d]` with TransformerLens's semantics:
    /// `mean = Σx/d`, `variance = Σ(x − mean)²/d` (summed in ``sum(_:count:path:)``'s order),
    /// `scale = √(variance + eps)`, `y = (x − mean)/scale`, then `· w[d]` and `+ b[d]` when given;
    /// `scale[rows]` receives the scales when given. One thread.
    public static func layerNorm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, scale: UnsafeMutablePointer<Float>?,
                                 rows: Int, d: Int, weight w: UnsafePointer<Float>?, bias b: UnsafePointer<Float>?, eps: Float,
                                 path: KernelPath = .active) {
        attn_layer_norm_rows(path.code, x, y, scale, rows, d, w, b, eps)
    }

    /// Softmax of one row `x[n]` over its first `visible` entries: `exp(x − max) · (1 / Σ exp(x − max))`
    /// (the sum in ``sum(_:count:path:)``'s order); entries from `visible` on are 0 and a row with
    /// nothing visible is all 0.
    public static func softmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, visible: Int,
                               path: KernelPath = .active) {
        attn_softmax_row(path.code, x, y, n, Swift.max(0, visible))
    }

    /// `Σ p[0..<n]` in one order on every path: 64 lane sums over the whole 64-element blocks (lane j
    /// holds p[j] + p[j+64] + …), combined as 16-lane blocks (B0 + B1) + (B2 + B3), the 16 lanes halved
    /// (l[j] += l[j+8], +4, +2, +1), then the remaining elements added in order.
    public static func sum(_ p: UnsafePointer<Float>, count n: Int, path: KernelPath = .active) -> Float {
        attn_sum(path.code, p, n)
    }

    // MARK: The arithmetic peak

    /// What ``arithmeticPeak(path:seconds:)`` measured.
    public struct ArithmeticPeak: Sendable, CustomStringConvertible {
        /// Floating-point operations per second, in billions.
        public let gflops: Double
        /// The path the chains ran on, and whether its steps were fused multiply-adds.
        public let path: KernelPath, fused: Bool
        /// The workers that ran them at once.
        public let workers: Int
        /// "352 GFLOP/s on 2 workers (avx512 fused multiply-adds)".
        public var description: String {
            String(format: "%.0f GFLOP/s on %d workers (%@ %@)", gflops, workers, path.rawValue, fused ? "fused multiply-adds" : "multiplies and adds")
        }
    }

    /// Floating-point operations per second this machine can issue at most: every worker runs the
    /// probe's 12 independent multiply-add chains at `path`'s width (fused where the path has FMA), three
    /// times for about `seconds` in all, and the flops of the fastest run (12 · lanes · 2 per step and
    /// worker) are divided by its wall time. No product kernel can pass it; benchmarks report their
    /// GFLOP/s as a share of it (the physical floor of a matrix product's time is its flops over this rate).
    ///
    /// - Precondition: this CPU runs `path`.
    public static func arithmeticPeak(path: KernelPath = KernelPath.supported.last ?? .baseline, seconds: Double = 0.6) -> ArithmeticPeak {
        precondition(path.isSupported, "this CPU cannot run the \(path.rawValue) path (it runs \(KernelPath.supported.map(\.rawValue).joined(separator: ", ")))")
        func run(_ iterations: Int, workers: Int) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            Parallel.forEach(in: 0..<workers) { _ in
                _ = peakChains(iterations: iterations, path: path)      // an opaque call: its work cannot be dropped
            }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        // Calibrate on one worker; then every worker at once, three runs of a third of `seconds` each.
        var iterations = 1 << 16
        var t = run(iterations, workers: 1)
        while t < 0.02 { iterations *= 4; t = run(iterations, workers: 1) }
        let perRun = Swift.max(1, Int(Double(iterations) * seconds / 3 / t))
        // A peak is a maximum: the best of three runs (a virtual machine's clock and neighbours vary).
        let workers = Parallel.workerCount
        let elapsed = (0..<3).map { _ in run(perRun, workers: workers) }.min()!
        let flops = Double(workers) * Double(perRun) * 12 * Double(path.lanes) * 2
        return ArithmeticPeak(gflops: flops / elapsed / 1e9, path: path, fused: peakIsFused(path), workers: workers)
    }

    /// The probe behind ``arithmeticPeak(path:seconds:)``: `iterations` steps of 12 chains
    /// `a ← a·x + y` (x = 0.999999, y = 1e-7, chain j from a = j) on every lane; returns the lanes'
    /// sum (see ``naivePeakChains(iterations:fused:lanes:)``, same bits).
    static func peakChains(iterations: Int, path: KernelPath) -> Float { attn_peak_chains(path.code, iterations) }

    /// Whether the probe's steps on `path` are fused multiply-adds (one rounding) or a multiply and an add.
    static func peakIsFused(_ path: KernelPath) -> Bool { attn_peak_fused(path.code) != 0 }

    // MARK: Naive versions (the tests' references: the same operations, one value at a time)

    /// `eˣ`: x = n·ln 2 + r (ln 2 in two parts), a degree-6 polynomial for eʳ, 2ⁿ through the exponent
    /// field in two factors; +∞ above 88.72283, 0 below −87.33654, NaN stays NaN.
    public static func naiveExp(_ x: Float) -> Float {
        if x.isNaN { return x }
        if x > 88.72283 { return .infinity }
        if x < -87.33654 { return 0 }
        let magic: Float = 12_582_912
        let k = x * 1.442_695_04 + magic
        let fx = k - magic
        var r = x - fx * 0.693_359_375
        r = r - fx * -2.121_944_4e-4
        let z = r * r
        var y: Float = 1.987_569_15e-4
        y = y * r + 1.398_199_95e-3
        y = y * r + 8.333_451_9e-3
        y = y * r + 4.166_579_59e-2
        y = y * r + 1.666_666_55e-1
        y = y * r + 5.000_000_12e-1
        y = y * z + r + 1
        let n = Int32(bitPattern: k.bitPattern) &- 0x4B40_0000
        let half = n >> 1
        let p1 = Float(bitPattern: UInt32(bitPattern: (half &+ 127) << 23))
        let p2 = Float(bitPattern: UInt32(bitPattern: ((n &- half) &+ 127) << 23))
        return y * p1 * p2
    }

    /// `tanh x`: `1 − 2/(e^{2|x|} + 1)` with x's sign for |x| ≥ 0.625, else `x + x·z·P(z)` with z = x².
    public static func naiveTanh(_ x: Float) -> Float {
        let a = Float(bitPattern: x.bitPattern & 0x7FFF_FFFF)
        if a >= 0.625 {
            let large = 1 - 2 / (naiveExp(a + a) + 1)
            return x < 0 ? -large : large
        }
        let z = x * x
        var p: Float = -5.704_988_727_45e-3
        p = p * z + 2.063_908_879_54e-2
        p = p * z - 5.373_971_555_31e-2
        p = p * z + 1.333_144_220_36e-1
        p = p * z - 3.333_328_194_22e-1
        return p * z * x + x
    }

    /// gelu_new, `(0.5·x)·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    public static func naiveGelu(_ x: Float) -> Float {
        let inner = x + 0.044715 * (x * x * x)
        return (0.5 * x) * (1 + naiveTanh(0.797_884_56 * inner))
    }

    /// ``sum(_:count:path:)`` one value at a time.
    public static func naiveSum(_ p: UnsafeBufferPointer<Float>) -> Float { naiveSum(p, deviationFrom: nil) }

    static func naiveSum(_ p: UnsafeBufferPointer<Float>, deviationFrom c: Float?) -> Float {
        func term(_ v: Float) -> Float { c.map { (v - $0) * (v - $0) } ?? v }
        var lanes = [Float](repeating: 0, count: 64)
        let whole = p.count / 64 * 64
        for i in 0..<whole { lanes[i % 64] += term(p[i]) }
        var l = [Float](repeating: 0, count: 16)
        for j in 0..<16 {
            let low: Float = lanes[j] + lanes[16 + j], high: Float = lanes[32 + j] + lanes[48 + j]
            l[j] = low + high
        }
        for h in [8, 4, 2, 1] { for j in 0..<h { l[j] = l[j] + l[j + h] } }
        var s = l[0]
        for i in whole..<p.count { s += term(p[i]) }
        return s
    }

    /// ``layerNorm(_:_:scale:rows:d:weight:bias:eps:path:)`` for one row; returns the row's scale.
    @discardableResult
    public static func naiveLayerNorm(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>,
                                      weight w: [Float]?, bias b: [Float]?, eps: Float) -> Float {
        let d = Float(x.count)
        let mean = naiveSum(x) / d
        let variance = naiveSum(x, deviationFrom: mean) / d
        let s = (variance + eps).squareRoot()
        for i in 0..<x.count {
            var v = (x[i] - mean) / s
            if let w { v = v * w[i] }
            if let b { v = v + b[i] }
            y[i] = v
        }
        return s
    }

    /// ``peakChains(iterations:path:)`` one chain at a time: the twelve chains, summed as the probe sums
    /// them — ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)) — then the
    /// equal lanes added in order.
    static func naivePeakChains(iterations: Int, fused: Bool, lanes: Int) -> Float {
        let x: Float = 0.999999, y: Float = 1e-7
        var a = (0..<12).map(Float.init)
        for _ in 0..<iterations {
            for j in 0..<12 { a[j] = fused ? y.addingProduct(a[j], x) : a[j] * x + y }
        }
        let s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + ((a[8] + a[9]) + (a[10] + a[11]))
        var t: Float = 0
        for _ in 0..<lanes { t += s }
        return t
    }

    /// ``softmax(_:_:count:visible:path:)`` one value at a time.
    public static func naiveSoftmax(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, visible: Int) {
        let visible = Swift.min(Swift.max(visible, 0), x.count)
        for j in visible..<x.count { y[j] = 0 }
        if visible == 0 { return }
        var m = -Float.infinity
        for i in 0..<visible { if x[i] > m || x[i].isNaN { m = x[i] } }
        for i in 0..<visible { y[i] = naiveExp(x[i] - m) }
        let inv = 1 / naiveSum(UnsafeBufferPointer(rebasing: y[0..<visible]))
        for i in 0..<visible { y[i] *= inv }
    }
}
