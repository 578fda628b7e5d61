// GPT2Config: the hyperparameters of a GPT-2-architecture model (TransformerLens names).
import Tensor

/// Hyperparameters of a GPT-2-architecture model, named as TransformerLens names them.
///
/// The architecture is GPT-2's (pre-LN blocks, learned absolute positions, MLP after attention), with
/// the two variations Neel Nanda's TransformerLens-trained models use: the MLP's activation
/// (`act_fn`) and shortformer positions (``PositionalEmbedding/shortformer``).
///
/// Shapes elsewhere are written with these names: `[batch, pos, d_model]` for the residual stream,
/// `[batch, pos, head_index, d_head]` for `hook_z`, `[d_vocab]` logits.
public struct GPT2Config: Codable, Sendable, Equatable {
    /// The MLP's nonlinearity (TransformerLens `act_fn`).
    public enum ActivationFunction: String, Codable, Sendable, CaseIterable {
        /// GPT-2's tanh approximation `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
        case geluNew = "gelu_new"
        /// The exact GELU `0.5·x·(1 + erf(x/√2))` (PyTorch's `F.gelu`), as in GELU-1L/2L/3L/4L.
        case gelu
        /// `max(x, 0)`.
        case relu
    }

    /// How positions enter the model (TransformerLens `positional_embedding_type`).
    public enum PositionalEmbedding: String, Codable, Sendable, CaseIterable {
        /// GPT-2's: `W_pos[pos]` is added to the residual stream with the token embedding.
        case standard
        /// `W_pos[pos]` is added only to the queries' and keys' inputs of every attention layer, after
        /// `ln1` (`q = (ln1(resid_pre) + pos)·W_Q`, the same for k; values read `ln1(resid_pre)`); the
        /// residual stream carries tokens only. `hook_pos_embed` still fires.
        case shortformer
    }

    public var nLayers: Int
    public var dModel: Int
    public var nHeads: Int
    public var dHead: Int
    public var dMLP: Int
    public var nCtx: Int
    public var dVocab: Int
    /// Layer-norm epsilon (`layer_norm_epsilon`).
    public var eps: Float
    /// The MLP's nonlinearity; GPT-2's `gelu_new` by default.
    public var actFn: ActivationFunction
    /// Standard (GPT-2) or shortformer positions.
    public var positionalEmbedding: PositionalEmbedding
    /// Attention-only blocks (TransformerLens `attn_only`): no `ln2`, no MLP, `resid_post = resid_pre +
    /// attn_out` with no `hook_resid_mid`; `dMLP` is 0.
    public var attnOnly: Bool

    public init(nLayers: Int, dModel: Int, nHeads: Int, dHead: Int, dMLP: Int, nCtx: Int, dVocab: Int, eps: Float = 1e-5,
                actFn: ActivationFunction = .geluNew, positionalEmbedding: PositionalEmbedding = .standard, attnOnly: Bool = false) {
        self.nLayers = nLayers
        self.dModel = dModel
        self.nHeads = nHeads
        self.dHead = dHead
        self.dMLP = dMLP
        self.nCtx = nCtx
        self.dVocab = dVocab
        self.eps = eps
        self.actFn = actFn
        self.positionalEmbedding = positionalEmbedding
        self.attnOnly = attnOnly
    }

    private enum CodingKeys: String, CodingKey { case nLayers, dModel, nHeads, dHead, dMLP, nCtx, dVocab, eps, actFn, positionalEmbedding, attnOnly }

    /// Decodes a config; `actFn`, `positionalEmbedding` and `attnOnly` may be absent (GPT-2's, as before they existed).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(nLayers: try c.decode(Int.self, forKey: .nLayers), dModel: try c.decode(Int.self, forKey: .dModel),
                  nHeads: try c.decode(Int.self, forKey: .nHeads), dHead: try c.decode(Int.self, forKey: .dHead),
                  dMLP: try c.decode(Int.self, forKey: .dMLP), nCtx: try c.decode(Int.self, forKey: .nCtx),
                  dVocab: try c.decode(Int.self, forKey: .dVocab), eps: try c.decode(Float.self, forKey: .eps),
                  actFn: try c.decodeIfPresent(ActivationFunction.self, forKey: .actFn) ?? .geluNew,
                  positionalEmbedding: try c.decodeIfPresent(PositionalEmbedding.self, forKey: .positionalEmbedding) ?? .standard,
                  attnOnly: try c.decodeIfPresent(Bool.self, forKey: .attnOnly) ?? false)
    }

    /// Whether this is GPT-2's architecture exactly (`gelu_new`, standard positions, MLP blocks).
    public var isGPT2Architecture: Bool { actFn == .geluNew && positionalEmbedding == .standard && !attnOnly }

    /// GPT-2 small: 12 layers, d_model 768, 12 heads of 64, d_mlp 3072, n_ctx 1024, d_vocab 50257.
    public static let gpt2Small = GPT2Config(nLayers: 12, dModel: 768, nHeads: 12, dHead: 64, dMLP: 3072,
                                             nCtx: 1024, dVocab: 50257)

    /// GPT-2's end-of-text token, used as BOS, EOS and padding.
    public static let endOfText = 50256

    /// The range each hyperparameter may take (the same as `config.json`'s; see
    /// ``HuggingFaceGPT2Config``), by TransformerLens name, with this config's value.
    public var checkedValues: [(key: String, range: ClosedRange<Int>, value: Int)] {
        [("n_layers", 1...1024, nLayers), ("d_model", 1...1 << 20, dModel), ("n_heads", 1...4096, nHeads),
         ("d_head", 1...1 << 16, dHead), ("d_mlp", 0...1 << 24, dMLP), ("n_ctx", 1...1 << 24, nCtx),
         ("d_vocab", 1...1 << 24, dVocab)]
    }

    /// Checks every hyperparameter against its range in ``checkedValues``, `eps` for a finite positive value and
    /// `n_heads · d_head` for at most 2²⁰, before any tensor is allocated (a file could say
    /// `n_layers = -1` or `2⁶⁰`).
    /// - Throws: ``TransformerError/invalidConfig(file:key:detail:)`` naming `file`, the key and its range.
    public func validate(file: String) throws {
        for (key, range, value) in checkedValues where !range.contains(value) {
            throw TransformerError.invalidConfig(file: file, key: key, detail: "is \(value), expected an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        guard nHeads * dHead <= 1 << 20 else {
            throw TransformerError.invalidConfig(file: file, key: "n_heads", detail: "× d_head is \(nHeads) × \(dHead), more than 2^20")
        }
        guard eps.isFinite, eps > 0 else {
            throw TransformerError.invalidConfig(file: file, key: "eps", detail: "is \(eps), expected a finite positive number")
        }
    }

    /// `sqrt(d_head)`, the attention-score divisor.
    public var attnScale: Float { Float(dHead).squareRoot() }
}
