// GPT2Config: the hyperparameters of a GPT-2-architecture model (TransformerLens names).
import Tensor

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
