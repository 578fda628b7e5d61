// GPT2Weights: the parameters of a GPT-2 model in TransformerLens layout, with TL state-dict names.
import Tensor

/// Weight and bias of a layer norm (`w`, `b` `[d_model]`), or `nil` where the norm has been folded
/// into the following weights (TransformerLens `LNPre`: centre and scale only).
public struct LayerNormWeights: Sendable, Equatable {
    public var w: Tensor
    public var b: Tensor
    public init(w: Tensor, b: Tensor) { self.w = w; self.b = b }
}

/// One transformer block's parameters in TransformerLens layout.
public struct BlockWeights: Sendable, Equatable {
    public var ln1: LayerNormWeights?
    /// `W_Q`, `W_K`, `W_V` `[n_heads, d_model, d_head]`; `b_Q`, `b_K`, `b_V` `[n_heads, d_head]`.
    public var wQ: Tensor, wK: Tensor, wV: Tensor
    public var bQ: Tensor, bK: Tensor, bV: Tensor
    /// `W_O` `[n_heads, d_head, d_model]`; `b_O` `[d_model]`.
    public var wO: Tensor, bO: Tensor
    public var ln2: LayerNormWeights?
    /// `W_in` `[d_model, d_mlp]`, `b_in` `[d_mlp]`, `W_out` `[d_mlp, d_model]`, `b_out` `[d_model]`.
    public var wIn: Tensor, bIn: Tensor, wOut: Tensor, bOut: Tensor

    public init(ln1: LayerNormWeights?, wQ: Tensor, wK: Tensor, wV: Tensor, bQ: Tensor, bK: Tensor, bV: Tensor,
                wO: Tensor, bO: Tensor, ln2: LayerNormWeights?, wIn: Tensor, bIn: Tensor, wOut: Tensor, bOut: Tensor) {
        self.ln1 = ln1
        self.wQ = wQ; self.wK = wK; self.wV = wV
        self.bQ = bQ; self.bK = bK; self.bV = bV
        self.wO = wO; self.bO = bO
        self.ln2 = ln2
        self.wIn = wIn; self.bIn = bIn; self.wOut = wOut; self.bOut = bOut
    }
}

/// Which TransformerLens weight processing has been applied (all on in `from_pretrained`).
public struct WeightProcessing: Codable, Sendable, Equatable {
    public var foldLN: Bool
    public var centerWritingWeights: Bool
    public var centerUnembed: Bool
    public var foldValueBiases: Bool

    public init(foldLN: Bool, centerWritingWeights: Bool, centerUnembed: Bool, foldValueBiases: Bool) {
        self.foldLN = foldLN
        self.centerWritingWeights = centerWritingWeights
        self.centerUnembed = centerUnembed
        self.foldValueBiases = foldValueBiases
    }

    /// TransformerLens `from_pretrained` defaults: everything on.
    public static let transformerLensDefault = WeightProcessing(foldLN: true, centerWritingWeights: true, centerUnembed: true, foldValueBiases: true)
    /// `from_pretrained_no_processing`: the weights as HuggingFace stores them.
    public static let none = WeightProcessing(foldLN: false, centerWritingWeights: false, centerUnembed: false, foldValueBiases: false)
}

/// All parameters of a GPT-2 model, in TransformerLens layout and names.
public struct GPT2Weights: Sendable, Equatable {
    public var config: GPT2Config
    /// `W_E` `[d_vocab, d_model]`.
    public var wE: Tensor
    /// `W_pos` `[n_ctx, d_model]`.
    public var wPos: Tensor
    public var blocks: [BlockWeights]
    public var lnFinal: LayerNormWeights?
    /// `W_U` `[d_model, d_vocab]`, `b_U` `[d_vocab]`.
    public var wU: Tensor, bU: Tensor
    /// What processing these weights have had.
    public var processing: WeightProcessing

    public init(config: GPT2Config, wE: Tensor, wPos: Tensor, blocks: [BlockWeights], lnFinal: LayerNormWeights?,
                wU: Tensor, bU: Tensor, processing: WeightProcessing) {
        self.config = config
        self.wE = wE
        self.wPos = wPos
        self.blocks = blocks
        self.lnFinal = lnFinal
        self.wU = wU
        self.bU = bU
        self.processing = processing
    }

    /// The tensors as a TransformerLens state dict (`embed.W_E`, `blocks.0.attn.W_Q`, ...), with the
    /// expected shape of each. Folded layer norms have no entries.
    public var stateDict: [(name: String, tensor: Tensor)] {
        var out: [(String, Tensor)] = [("embed.W_E", wE), ("pos_embed.W_pos", wPos)]
        for (l, b) in blocks.enumerated() {
            let p = "blocks.\(l)."
            if let ln = b.ln1 { out += [(p + "ln1.w", ln.w), (p + "ln1.b", ln.b)] }
            out += [(p + "attn.W_Q", b.wQ), (p + "attn.W_K", b.wK), (p + "attn.W_V", b.wV), (p + "attn.W_O", b.wO),
                    (p + "attn.b_Q", b.bQ), (p + "attn.b_K", b.bK), (p + "attn.b_V", b.bV), (p + "attn.b_O", b.bO)]
            guard !config.attnOnly else { continue }
            if let ln = b.ln2 { out += [(p + "ln2.w", ln.w), (p + "ln2.b", ln.b)] }
            out += [(p + "mlp.W_in", b.wIn), (p + "mlp.b_in", b.bIn), (p + "mlp.W_out", b.wOut), (p + "mlp.b_out", b.bOut)]
        }
        if let ln = lnFinal { out += [("ln_final.w", ln.w), ("ln_final.b", ln.b)] }
        out += [("unembed.W_U", wU), ("unembed.b_U", bU)]
        return out
    }

    /// The shape each TransformerLens state-dict entry must have under `config`.
    public static func expectedShapes(_ c: GPT2Config) -> [String: [Int]] {
        var s: [String: [Int]] = ["embed.W_E": [c.dVocab, c.dModel], "pos_embed.W_pos": [c.nCtx, c.dModel],
                                  "ln_final.w": [c.dModel], "ln_final.b": [c.dModel],
                                  "unembed.W_U": [c.dModel, c.dVocab], "unembed.b_U": [c.dVocab]]
        for l in 0..<c.nLayers {
            let p = "blocks.\(l)."
            for n in ["ln1.w", "ln1.b", "attn.b_O"] { s[p + n] = [c.dModel] }
            for n in ["attn.W_Q", "attn.W_K", "attn.W_V"] { s[p + n] = [c.nHeads, c.dModel, c.dHead] }
            for n in ["attn.b_Q", "attn.b_K", "attn.b_V"] { s[p + n] = [c.nHeads, c.dHead] }
            s[p + "attn.W_O"] = [c.nHeads, c.dHead, c.dModel]
            guard !c.attnOnly else { continue }           // no ln2, no MLP
            for n in ["ln2.w", "ln2.b", "mlp.b_out"] { s[p + n] = [c.dModel] }
            s[p + "mlp.W_in"] = [c.dModel, c.dMLP]
            s[p + "mlp.b_in"] = [c.dMLP]
            s[p + "mlp.W_out"] = [c.dMLP, c.dModel]
        }
        return s
    }

    /// Builds weights from a TransformerLens-named state dict, checking every shape. LN entries
    /// may be absent only when `processing.foldLN` is set.
    public static func fromStateDict(_ get: (String) throws -> Tensor?, config c: GPT2Config,
                                     processing: WeightProcessing, file: String) throws -> GPT2Weights {
        try c.validate(file: file)
        let shapes = expectedShapes(c)
        func tensor(_ name: String) throws -> Tensor {
            guard let t = try get(name) else { throw TransformerError.missingTensor(file: file, name: name, expectedShape: shapes[name]!) }
            guard t.shape == shapes[name]! else { throw TransformerError.shapeMismatch(file: file, name: name, expected: shapes[name]!, found: t.shape) }
            return t
        }
        func ln(_ prefix: String) throws -> LayerNormWeights? {
            if processing.foldLN, try get(prefix + ".w") == nil { return nil }
            return LayerNormWeights(w: try tensor(prefix + ".w"), b: try tensor(prefix + ".b"))
        }
        var blocks: [BlockWeights] = []
        for l in 0..<c.nLayers {
            let p = "blocks.\(l)."
            // An attention-only block's MLP is empty (d_mlp 0) and never runs.
            let attnOnly = c.attnOnly
            blocks.append(BlockWeights(
                ln1: try ln(p + "ln1"),
                wQ: try tensor(p + "attn.W_Q"), wK: try tensor(p + "attn.W_K"), wV: try tensor(p + "attn.W_V"),
                bQ: try tensor(p + "attn.b_Q"), bK: try tensor(p + "attn.b_K"), bV: try tensor(p + "attn.b_V"),
                wO: try tensor(p + "attn.W_O"), bO: try tensor(p + "attn.b_O"),
                ln2: attnOnly ? nil : try ln(p + "ln2"),
                wIn: attnOnly ? Tensor(zeros: [c.dModel, 0]) : try tensor(p + "mlp.W_in"),
                bIn: attnOnly ? Tensor(zeros: [0]) : try tensor(p + "mlp.b_in"),
                wOut: attnOnly ? Tensor(zeros: [0, c.dModel]) : try tensor(p + "mlp.W_out"),
                bOut: attnOnly ? Tensor(zeros: [c.dModel]) : try tensor(p + "mlp.b_out")))
        }
        return GPT2Weights(config: c, wE: try tensor("embed.W_E"), wPos: try tensor("pos_embed.W_pos"), blocks: blocks,
                           lnFinal: try ln("ln_final"), wU: try tensor("unembed.W_U"), bU: try tensor("unembed.b_U"),
                           processing: processing)
    }
}
