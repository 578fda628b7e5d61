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
}
