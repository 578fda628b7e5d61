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
        let x = contiguous()
        if case .custom(let m) = mask { return x.maskedSoftmax(keep: (m.shape == shape ? m : m.expanded(to: shape)).contiguous()) }
        let n = shape[a]
        let rows = n == 0 ? 0 : count / n
        let isCausal: Bool = { if case .causal = mask { return true } else { return false } }()
        let nq = isCausal ? (rank >= 2 ? shape[rank - 2] : 1) : 1
        let src = UnsafeSendableBox(UnsafePointer(x.storage.base + x.offset))
        let path = KernelPath.active
        let result = Tensor(shape: shape) { out in
            let o = UnsafeSendableBox(out.baseAddress!)
            Parallel.forChunks(of: 0..<rows, minChunk: Swift.max(1, 8192 / Swift.max(n, 1))) { chunk in
                for r in chunk {
                    // Causal: query q sees keys 0 … q + (n_keys − n_queries).
                    let visible = isCausal ? Swift.min(n, r % nq + (n - nq) + 1) : n
                    Kernels.softmax(src.value + r * n, o.value + r * n, count: n, visible: visible, path: path)
                }
            }
        }
        withExtendedLifetime(x) {}
        return result
    }

    /// Softmax of this contiguous tensor over its last axis keeping only the entries where `keep` (same
    /// shape, contiguous) is not 0, in the operations and order of ``Kernels/naiveSoftmax(_:_:visible:)``.
    private func maskedSoftmax(keep: Tensor) -> Tensor {
        let n = shape.last ?? 0
        let rows = n == 0 ? 0 : count / n
        let keepBase = UnsafeSendableBox(UnsafePointer(keep.storage.base + keep.offset))
        let srcBox = UnsafeSendableBox(UnsafePointer(storage.base + offset))
        let result = Tensor(shape: shape) { out in
            let o = UnsafeSendableBox(out.baseAddress!)
            Parallel.forEach(in: 0..<rows, minChunk: Swift.max(1, 8192 / Swift.max(n, 1))) { r in
                let p = srcBox.value + r * n, q = o.value + r * n, km = keepBase.value + r * n
                var m = -Float.infinity
                var any = false
                for i in 0..<n where km[i] != 0 {
                    any = true
                    if p[i] > m || p[i].isNaN { m = p[i] }
                }
                for i in 0..<n { q[i] = any && km[i] != 0 ? Kernels.naiveExp(p[i] - m) : 0 }
                if !any { return }
                let inv = 1 / Kernels.sum(q, n)
                for j in 0..<n { q[j] *= inv }
            }
        }
        withExtendedLifetime((self, keep)) {}
        return result
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
        let src = UnsafeSendableBox(UnsafePointer(x.storage.base + x.offset))
        let wp = UnsafeSendableBox(w.map { UnsafePointer($0.storage.base + $0.offset) })
        let bp = UnsafeSendableBox(b.map { UnsafePointer($0.storage.base + $0.offset) })
        var scaleShape = shape
        scaleShape[rank - 1] = 1
        var scale = Tensor(shape: scaleShape) { _ in }
        let path = KernelPath.active
        let normalized = scale.withUnsafeMutableBufferPointer { sc in
            let scBox = UnsafeSendableBox(sc.baseAddress!)
            return Tensor(shape: shape) { out in
                let o = UnsafeSendableBox(out.baseAddress!)
                Parallel.forChunks(of: 0..<rows, minChunk: Swift.max(1, 8192 / d)) { chunk in
                    let r = chunk.lowerBound
                    Kernels.layerNorm(src.value + r * d, o.value + r * d, scale: scBox.value + r, rows: chunk.count, d: d,
                                      weight: wp.value, bias: bp.value, eps: eps, path: path)
                }
            }
        }
        withExtendedLifetime((x, w, b)) {}
        return (normalized, scale)
    }

    /// GPT-2's GELU, tanh form (`gelu_new`):
    /// `0.5 · x · (1 + tanh(sqrt(2/π) · (x + 0.044715 · x³)))`, evaluated in that order (vectorised
    /// tanh, within a few ulp) by the C kernel at the machine's width (``Kernels/gelu(_:_:count:path:)``).
    public func gelu() -> Tensor {
        let path = KernelPath.active
        return Kernels.elementwise(self) { Kernels.gelu($0, $1, count: $2, path: path) }
    }

    /// `gelu_new` for one value (the same bits as ``gelu()``).
    public static func geluScalar(_ x: Float) -> Float { Kernels.naiveGelu(x) }

    /// The exact GELU, `0.5 · x · (1 + erf(x / √2))` (PyTorch's `F.gelu`, TransformerLens `act_fn="gelu"`),
    /// with the C library's `erff` (within an ulp or two of PyTorch's vectorised erf).
    /// Both cores share the work (there is no vector erf here: one `erff` call per value).
    public func geluExact() -> Tensor {
        Kernels.elementwise(self) { x, y, n in for i in 0..<n { y[i] = GeluErfKernel.scalar(x[i]) } }
    }
}

/// The exact GELU through `erff`.
enum GeluErfKernel {
    static func scalar(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.707_106_77)) }
}
