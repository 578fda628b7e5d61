// SAE: the sparse autoencoder of the paper — encode, decode, forward with an optional error term.
import Tensor

/// A sparse autoencoder (the paper's `AutoEncoder`; SAELens "standard", "topk" or "jumprelu"):
///
/// - pre-activations `(x − b_dec) · W_enc + b_enc` `[..., d_sae]` (without the `− b_dec` when
///   `config.applyBDecToInput` is false),
/// - feature activations `f = σ(pre)`, σ the architecture's (``SAEArchitecture``): `ReLU(pre)`; ReLU of the
///   `k` largest pre-activations of each row; or `pre · 1[pre > θ]`,
/// - reconstruction `x̂ = f · W_dec + b_dec` `[..., d_in]`.
///
/// Shapes: `W_enc [d_in, d_sae]`, `b_enc [d_sae]`, `W_dec [d_sae, d_in]`, `b_dec [d_in]`, JumpReLU's
/// `threshold [d_sae]`; inputs are `[..., d_in]` with any leading axes (`[batch, pos, d_in]` or `[tokens, d_in]`).
public struct SAE: Sendable, Equatable {
    public var config: SAEConfig
    public var wEnc: Tensor
    public var bEnc: Tensor
    public var wDec: Tensor
    public var bDec: Tensor
    /// JumpReLU's thresholds θ `[d_sae]` (nil for the other architectures).
    public var threshold: Tensor?

    public init(config: SAEConfig, wEnc: Tensor, bEnc: Tensor, wDec: Tensor, bDec: Tensor, threshold: Tensor? = nil) {
        let (i, s) = (config.dIn, config.dSAE)
        precondition(wEnc.shape == [i, s] && bEnc.shape == [s] && wDec.shape == [s, i] && bDec.shape == [i],
                     "SAE weights W_enc \(wEnc.shape), b_enc \(bEnc.shape), W_dec \(wDec.shape), b_dec \(bDec.shape) do not fit d_in \(i), d_sae \(s)")
        precondition((config.architecture == .jumpReLU) == (threshold != nil) && (threshold == nil || threshold!.shape == [s]),
                     "a JumpReLU SAE needs a threshold [d_sae = \(s)], the other architectures none (\(config.architecture), threshold \(threshold?.shape.description ?? "none"))")
        self.config = config
        self.wEnc = wEnc
        self.bEnc = bEnc
        self.wDec = wDec
        self.bDec = bDec
        self.threshold = threshold
    }

    /// Feature activations from pre-activations `[..., d_sae]`: the architecture's σ (see the type's
    /// documentation), row by row over the last axis.
    public func activations(_ pre: Tensor) -> Tensor {
        precondition(pre.shape.last == config.dSAE, "pre-activations \(pre.shape) do not end in d_sae \(config.dSAE)")
        switch config.architecture {
        case .standard: return pre.relu()
        case .jumpReLU: return Self.jumpReLU(pre, threshold: threshold!)
        case .topK(let k): return Self.topKReLU(pre, k: k)
        }
    }

    /// `pre · 1[pre > θ]` for `θ ≥ 0`, computed as SAELens's `ReLU(pre) · 1[pre > θ]` (equal for θ ≥ 0,
    /// and never negative for a negative θ read from a file).
    static func jumpReLU(_ pre: Tensor, threshold: Tensor) -> Tensor {
        Tensor.elementwise(pre, threshold) { p, t in p > t && p > 0 ? p : 0 }
    }

    /// ReLU of the `k` largest entries of each row of `pre` `[..., n]` (ties: lower index), 0 elsewhere.
    static func topKReLU(_ pre: Tensor, k: Int) -> Tensor {
        let n = pre.shape.last!, rows = n == 0 ? 0 : pre.count / n
        let picked = pre.topK(k)
        var out = Tensor(zeros: pre.shape)
        picked.values.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<rows {
                    for j in 0..<k { o[r * n + picked.indices.values[r * k + j]] = max(v[r * k + j], 0) }
                }
            }
        }
        return out
    }

    /// Pre-activations `(x − b_dec) · W_enc + b_enc`, `[..., d_sae]`.
    public func encodePre(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == config.dIn, "SAE input \(x.shape) does not end in d_in \(config.dIn)")
        let centred = config.applyBDecToInput ? x - bDec : x
        return Tensor.affine(centred, wEnc, bEnc)
    }

    /// Feature activations `σ(encodePre(x))`, `[..., d_sae]`.
    public func encode(_ x: Tensor) -> Tensor { activations(encodePre(x)) }

    /// The activations of a subset of features: `σ((x − b_dec) · W_enc[:, F] + b_enc[F])`, `[..., F.count]`,
    /// in the order of `features` — the same product as ``encode(_:)`` on fewer columns (a TopK SAE
    /// needs every pre-activation to know which are the k largest: it encodes in full, then picks `F`).
    /// For many inputs, make the ``FeatureEncoder`` once (``encoder(features:)``): it gathers the columns once.
    public func encode(_ x: Tensor, features: [Int]) -> Tensor { encoder(features: features).encode(x) }

    /// An encoder restricted to `features` (each in `0..<d_sae`), with its columns gathered once.
    public func encoder(features: [Int]) -> FeatureEncoder { FeatureEncoder(self, features: features) }

    /// The encoder of some features of an SAE: `W_enc[:, F]` `[d_in, F.count]` and `b_enc[F]`, gathered once.
    public struct FeatureEncoder: Sendable {
        public let features: [Int]
        /// `W_enc[:, F]` `[d_in, k]` and `b_enc[F]` `[k]`, contiguous.
        public let weight: Tensor, bias: Tensor
        let bDec: Tensor?
        /// JumpReLU's `θ[F]`.
        let threshold: Tensor?
        /// A TopK SAE, which encodes every feature to pick `F` from them.
        let full: SAE?

        init(_ sae: SAE, features: [Int]) {
            for f in features { precondition(f >= 0 && f < sae.config.dSAE, "feature \(f) is out of range 0..<\(sae.config.dSAE)") }
            self.features = features
            weight = sae.wEnc.gathering(axis: 1, IndexTensor(features)).contiguous()
            bias = sae.bEnc.gathering(axis: 0, IndexTensor(features)).contiguous()
            bDec = sae.config.applyBDecToInput ? sae.bDec : nil
            threshold = sae.threshold.map { $0.gathering(axis: 0, IndexTensor(features)).contiguous() }
            if case .topK = sae.config.architecture { full = sae } else { full = nil }
        }

        /// `σ((x − b_dec) · W_enc[:, F] + b_enc[F])`: `[..., d_in]` → `[..., k]`.
        public func encode(_ x: Tensor) -> Tensor {
            precondition(x.shape.last == weight.shape[0], "SAE input \(x.shape) does not end in d_in \(weight.shape[0])")
            if let full { return full.encode(x).gathering(axis: x.rank - 1, IndexTensor(features)) }
            let pre = Tensor.affine(bDec.map { x - $0 } ?? x, weight, bias)
            return threshold.map { SAE.jumpReLU(pre, threshold: $0) } ?? pre.relu()
        }
    }

    /// Reconstruction `f · W_dec + b_dec`, `[..., d_in]`.
    public func decode(_ f: Tensor) -> Tensor {
        precondition(f.shape.last == config.dSAE, "feature activations \(f.shape) do not end in d_sae \(config.dSAE)")
        return Tensor.affine(f, wDec, bDec)
    }

    /// The parts of one forward pass.
    public struct Forward: Sendable {
        public let pre: Tensor
        public let acts: Tensor
        public let reconstruction: Tensor
        /// `x − x̂` (nil without the error term).
        public let error: Tensor?
        /// What replaces the input: `x̂`, or `x̂ + error` (= the input, up to rounding) with the error term.
        public let output: Tensor
    }

    /// Encodes and decodes `x`; with `errorTerm` the output adds back `x − x̂`, so splicing the SAE
    /// changes nothing unless features are edited (Docs/Method.md §2.2).
    public func forward(_ x: Tensor, errorTerm: Bool = false) -> Forward {
        let pre = encodePre(x)
        let acts = activations(pre)
        let recons = decode(acts)
        let error = errorTerm ? x - recons : nil
        return Forward(pre: pre, acts: acts, reconstruction: recons, error: error, output: error.map { recons + $0 } ?? recons)
    }

    /// `z [..., n_heads, d_head]` flattened head-major to `[..., n_heads·d_head]` (a view when contiguous).
    public static func flattenHeads(_ z: Tensor) -> Tensor {
        precondition(z.rank >= 2, "hook_z must end in [n_heads, d_head], got \(z.shape)")
        return z.reshaped(Array(z.shape.dropLast(2)) + [z.shape[z.rank - 2] * z.shape[z.rank - 1]])
    }

    /// `x [..., n_heads·d_head]` back to `[..., n_heads, d_head]`.
    public static func unflattenHeads(_ x: Tensor, _ layout: HeadLayout) -> Tensor {
        precondition(x.shape.last == layout.width, "\(x.shape) does not end in n_heads·d_head = \(layout.width)")
        return x.reshaped(Array(x.shape.dropLast()) + [layout.nHeads, layout.dHead])
    }
}
