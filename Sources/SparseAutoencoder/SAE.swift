// SAE: the sparse autoencoder of the paper — encode, decode, forward with an optional error term.

/// A sparse autoencoder (the paper's `AutoEncoder`, SAELens "standard"):
///
/// - pre-activations `(x − b_dec) · W_enc + b_enc` `[..., d_sae]` (without the `− b_dec` when
///   `config.applyBDecToInput` is false),
/// - feature activations `f = ReLU(pre)`,
/// - reconstruction `x̂ = f · W_dec + b_dec` `[..., d_in]`.
///
/// Shapes: `W_enc [d_in, d_sae]`, `b_enc [d_sae]`, `W_dec [d_sae, d_in]`, `b_dec [d_in]`; inputs are
/// `[..., d_in]` with any leading axes (`[batch, pos, d_in]` or `[tokens, d_in]`).
public struct SAE: Sendable, Equatable {
    public var config: SAEConfig
    public var wEnc: Tensor
    public var bEnc: Tensor
    public var wDec: Tensor
    public var bDec: Tensor

    public init(config: SAEConfig, wEnc: Tensor, bEnc: Tensor, wDec: Tensor, bDec: Tensor) {
        let (i, s) = (config.dIn, config.dSAE)
        precondition(wEnc.shape == [i, s] && bEnc.shape == [s] && wDec.shape == [s, i] && bDec.shape == [i],
                     "SAE weights W_enc \(wEnc.shape), b_enc \(bEnc.shape), W_dec \(wDec.shape), b_dec \(bDec.shape) do not fit d_in \(i), d_sae \(s)")
        self.config = config
        self.wEnc = wEnc
        self.bEnc = bEnc
        self.wDec = wDec
        self.bDec = bDec
    }

    /// Pre-activations `(x − b_dec) · W_enc + b_enc`, `[..., d_sae]`.
    public func encodePre(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == config.dIn, "SAE input \(x.shape) does not end in d_in \(config.dIn)")
        let centred = config.applyBDecToInput ? x - bDec : x
        return Tensor.affine(centred, wEnc, bEnc)
    }

    /// Feature activations `ReLU(encodePre(x))`, `[..., d_sae]`.
    public func encode(_ x: Tensor) -> Tensor { encodePre(x).relu() }

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
    /// changes nothing unless features are edited (SPEC §2.2).
    public func forward(_ x: Tensor, errorTerm: Bool = false) -> Forward {
        let pre = encodePre(x)
        let acts = pre.relu()
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
