// GPT2Config: the hyperparameters of a GPT-2-architecture model (TransformerLens names).

/// Hyperparameters of a GPT-2-architecture model, named as TransformerLens names them.
///
/// Shapes elsewhere are written with these names: `[batch, pos, d_model]` for the residual stream,
/// `[batch, pos, head_index, d_head]` for `hook_z`, `[d_vocab]` logits.
public struct GPT2Config: Codable, Sendable, Equatable {
    public var nLayers: Int
    public var dModel: Int
    public var nHeads: Int
    public var dHead: Int
    public var dMLP: Int
    public var nCtx: Int
    public var dVocab: Int
    /// Layer-norm epsilon (`layer_norm_epsilon`).
    public var eps: Float

    public init(nLayers: Int, dModel: Int, nHeads: Int, dHead: Int, dMLP: Int, nCtx: Int, dVocab: Int, eps: Float = 1e-5) {
        self.nLayers = nLayers
        self.dModel = dModel
        self.nHeads = nHeads
        self.dHead = dHead
        self.dMLP = dMLP
        self.nCtx = nCtx
        self.dVocab = dVocab
        self.eps = eps
    }

    /// GPT-2 small: 12 layers, d_model 768, 12 heads of 64, d_mlp 3072, n_ctx 1024, d_vocab 50257.
    public static let gpt2Small = GPT2Config(nLayers: 12, dModel: 768, nHeads: 12, dHead: 64, dMLP: 3072,
                                             nCtx: 1024, dVocab: 50257)

    /// GPT-2's end-of-text token, used as BOS, EOS and padding.
    public static let endOfText = 50256

    /// `sqrt(d_head)`, the attention-score divisor.
    public var attnScale: Float { Float(dHead).squareRoot() }
}
