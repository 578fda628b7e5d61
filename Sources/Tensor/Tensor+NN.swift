// Tensor+NN: softmax (stable, masked), layer norm (TransformerLens semantics), GELU (tanh form and exact).

import Foundation

/// Which entries a softmax may attend to.
public enum SoftmaxMask: Sendable {
    /// Every entry takes part.
    case none
    /// Over the last two axes `[..., query_pos, key_pos]`: key `k` is visible from query `q` when
    /// `k <= q + (n_keys − n_queries)` (the usual causal mask; with equal lengths, `k <= q`).
    case causal
    /// An explicit mask, broadcastable to the input's shape: entries where the mask is 0 are
    /// excluded, every other value keeps the entry.
    case custom(Tensor)
}

extension Tensor {
    /// Softmax along `axis`: `exp(x − max) / Σ exp(x − max)` over the unmasked entries.
    ///
    /// Masked entries come out exactly 0. A row whose entries are all masked comes out all zeros
    /// (TransformerLens turns the NaNs of such rows into 0 in `hook_pattern`). The maximum is taken
    /// over unmasked entries only, so the result is stable for any finite input.
    public func softmax(axis: Int = -1, mask: SoftmaxMask = .none) -> Tensor {
        let a = normalizedAxis(axis)
        if a != rank - 1 {
            if case .causal = mask { preconditionFailure("a causal softmax must run over the last axis") }
            var axes = Array(0..<rank)
            axes.swapAt(a, rank - 1)
            let maskMoved: SoftmaxMask
            if case .custom(let m) = mask { maskMoved = .custom(m.expanded(to: shape).permuted(axes)) } else { maskMoved = mask }
            return permuted(axes).softmax(axis: -1, mask: maskMoved).permuted(axes).contiguous()
        }
        let n = shape[a]
        let x = contiguous()
        let rows = n == 0 ? 0 : count / n
        var keep: Tensor? = nil
        if case .custom(let m) = mask { keep = (m.shape == shape ? m : m.expanded(to: shape)).contiguous() }
        let isCausal: Bool = { if case .causal = mask { return true } else { return false } }()
        let nq = isCausal ? (rank >= 2 ? shape[rank - 2] : 1) : 1
        let src = x.storage.base + x.offset
        let keepBase = keep.map { UnsafePointer($0.storage.base + $0.offset) }
        return Tensor(shape: shape) { out in
            let o = UnsafeSendableBox(out.baseAddress!)
            Parallel.forEach(in: 0..<rows, minChunk: Swift.max(1, 8192 / Swift.max(n, 1))) { r in
                let p = src + r * n, q = o.value + r * n
                // Number of leading visible entries (causal) or n.
                var visible = n
                if isCausal {
                    let queryIndex = r % nq
                    visible = Swift.max(0, Swift.min(n, queryIndex + (n - nq) + 1))
                }
                let km = keepBase.map { $0 + r * n }
                var m = -Float.infinity
                var any = false
                for i in 0..<visible where km == nil || km![i] != 0 {
                    any = true
                    if p[i] > m || p[i].isNaN { m = p[i] }
                }
                if !any {
                    q.initialize(repeating: 0, count: n)
                    return
                }
                // Exponentials 4 lanes at a time, masked entries zeroed, then normalised.
                let rp = UnsafeRawPointer(p), rq = UnsafeMutableRawPointer(q)
                let mv = SIMD4<Float>(repeating: m)
                var i = 0
                while i + 4 <= visible {
                    let v = rp.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self) - mv
                    rq.storeBytes(of: VectorMath.exp(v), toByteOffset: 4 * i, as: SIMD4<Float>.self)
                    i += 4
                }
                while i < visible { q[i] = VectorMath.exp(p[i] - m); i += 1 }
                if let km { for j in 0..<visible where km[j] == 0 { q[j] = 0 } }
                for j in visible..<n { q[j] = 0 }
                let inv = 1 / Kernels.sum(q, visible)
                for j in 0..<visible { q[j] *= inv }
            }
        }
    }

    /// Layer norm over the last axis with TransformerLens semantics (biased variance):
    /// `x − mean(x)`, then divided by `scale = sqrt(mean((x − mean)²) + eps)`, then `· weight + bias`
    /// when given. `weight` and `bias` are `[d_model]`.
    public func layerNorm(weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) -> Tensor {
        layerNormWithScale(weight: weight, bias: bias, eps: eps).normalized
    }

    /// Layer norm that also returns the scale, as TransformerLens's `hook_scale` `[..., 1]`
    /// (see ``layerNorm(weight:bias:eps:)``). Without weight and bias, `normalized` is what
    /// TransformerLens's `hook_normalized` holds (TL applies the weight and bias after that hook).
    public func layerNormWithScale(weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5)
        -> (normalized: Tensor, scale: Tensor) {
        let d = shape.last ?? 1
        precondition(rank >= 1 && d > 0, "layer norm needs a non-empty last axis, shape is \(shape)")
        if let w = weight { precondition(w.shape == [d], "layer norm weight \(w.shape) does not match d_model \(d)") }
        if let b = bias { precondition(b.shape == [d], "layer norm bias \(b.shape) does not match d_model \(d)") }
        let x = contiguous()
        let rows = count / d
        let w = weight?.contiguous(), b = bias?.contiguous()
        let src = x.storage.base + x.offset
        let wp = w.map { UnsafePointer($0.storage.base + $0.offset) }
        let bp = b.map { UnsafePointer($0.storage.base + $0.offset) }
        var scaleShape = shape
        scaleShape[rank - 1] = 1
        var scale = Tensor(zeros: scaleShape)
        let normalized = scale.withUnsafeMutableBufferPointer { sc in
            let scBox = UnsafeSendableBox(sc.baseAddress!)
            return Tensor(shape: shape) { out in
                let o = UnsafeSendableBox(out.baseAddress!)
                Parallel.forEach(in: 0..<rows, minChunk: Swift.max(1, 8192 / d)) { r in
                    let p = src + r * d, q = o.value + r * d
                    let mean = Kernels.sum(p, d) / Float(d)
                    let variance = Kernels.sumOfSquaredDeviations(p, d, mean) / Float(d)
                    let s = (variance + eps).squareRoot()
                    scBox.value[r] = s
                    for i in 0..<d { q[i] = (p[i] - mean) / s }
                    if let wp { for i in 0..<d { q[i] *= wp[i] } }
                    if let bp { for i in 0..<d { q[i] += bp[i] } }
                }
            }
        }
        return (normalized, scale)
    }

    /// GPT-2's GELU, tanh form (`gelu_new`):
    /// `0.5 · x · (1 + tanh(sqrt(2/π) · (x + 0.044715 · x³)))`, evaluated in that order (vectorised
    /// tanh, within a few ulp).
    public func gelu() -> Tensor { apply(GeluKernel.self) }

    /// `gelu_new` for one value (the same arithmetic as ``gelu()``).
    public static func geluScalar(_ x: Float) -> Float { GeluKernel.scalar(x) }

    /// The exact GELU, `0.5 · x · (1 + erf(x / √2))` (PyTorch's `F.gelu`, TransformerLens `act_fn="gelu"`),
    /// with the C library's `erff` (within an ulp or two of PyTorch's vectorised erf).
    public func geluExact() -> Tensor { apply(GeluErfKernel.self) }
}

/// The exact GELU through `erff`, one lane at a time (no vector erf here).
enum GeluErfKernel: UnaryKernel {
    static func scalar(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.707_106_77)) }
    static func vector(_ x: SIMD4<Float>) -> SIMD4<Float> { SIMD4(scalar(x[0]), scalar(x[1]), scalar(x[2]), scalar(x[3])) }
}
