// TransformerLensCheckpoint: models trained with TransformerLens and shipped as its state_dict — Neel
// Nanda's GELU-1L…4L (the paper's GELU-2L among them) — read from `model_final.pth` + the repository's
// `config.json`, mapped as TransformerLens's own loader maps them.

import Foundation
import Tensor

/// The `config.json` of a TransformerLens-trained model repository (`NeelNanda/GELU_2L512W_C4_Code`
/// and its family), read as TransformerLens's `convert_neel_model_config` reads it:
///
/// `d_model`, `n_layers`, `d_mlp`, `d_head`, `n_heads`, `n_ctx`, `d_vocab`, `act_fn`, `attn_only`,
/// `normalization` (older files: `normalization_type`), `shortformer_pos` (absent: standard
/// positions), `final_rms` (absent: false) and `tokenizer_name`. Every other key (`lr_hidden`,
/// `ln_eps`, `dataset_name`, …) is training metadata TransformerLens ignores — `ln_eps` included:
/// TransformerLens runs these models with its default ε = 1e-5, and so do we.
///
/// `attn_only: true` gives attention-only blocks (the attn-only-*l models; `act_fn` and `d_mlp` unused).
/// Architectures this toolkit does not run are refused by key: `act_fn` other than `gelu`, `gelu_new`,
/// `relu` (the SoLU models' `solu_ln`),
/// `normalization` other than `LN`/`LNPre` (RMS, none), `final_rms: true`.
public struct TransformerLensRepoConfig: Sendable, Equatable {
    /// The model's configuration.
    public var config: GPT2Config
    /// `tokenizer_name` (e.g. `NeelNanda/gpt-neox-tokenizer-digits`), when given.
    public var tokenizerName: String?
    /// Whether `normalization` says the norms are already folded (`LNPre`).
    public var normsFolded: Bool
    /// The file it was read from.
    public var file: String

    /// The `act_fn` values this toolkit computes.
    public static let supportedActivations: [String: GPT2Config.ActivationFunction] = ["gelu": .gelu, "gelu_new": .geluNew, "relu": .relu]

    /// Reads and checks a repository `config.json` (at most 1 MiB).
    /// - Throws: ``TransformerError/invalidConfig(file:key:detail:)`` naming the key, its value and what is allowed.
    public init(contentsOf path: String) throws {
        let json = try ConfigJSON(contentsOf: path)
        let attnOnly = try json.bool("attn_only", default: false)
        // An attention-only model has no MLP: its act_fn and d_mlp are not used (TransformerLens reads neither).
        var actFn = GPT2Config.ActivationFunction.geluNew
        if !attnOnly {
            let act = try json.string("act_fn")
            guard let f = Self.supportedActivations[act] else {
                throw json.bad("act_fn", "is \"\(act)\"; supported: \(Self.supportedActivations.keys.sorted().joined(separator: ", ")) (SoLU models, solu_ln, are not)")
            }
            actFn = f
        }
        if try json.bool("final_rms", default: false) {
            throw json.bad("final_rms", "is true; an RMS final norm is not supported")
        }
        let normKey = json.object["normalization"] != nil ? "normalization" : "normalization_type"
        let norm = try json.string(normKey)
        guard norm == "LN" || norm == "LNPre" else {
            throw json.bad(normKey, "is \"\(norm)\"; supported: LN, LNPre (RMS norms and models without norms are not)")
        }
        let shortformer = try json.bool("shortformer_pos", default: false)
        config = GPT2Config(nLayers: try json.int("n_layers", 1...1024), dModel: try json.int("d_model", 1...1 << 20),
                            nHeads: try json.int("n_heads", 1...4096), dHead: try json.int("d_head", 1...1 << 16),
                            dMLP: attnOnly ? 0 : try json.int("d_mlp", 1...1 << 24), nCtx: try json.int("n_ctx", 1...1 << 24),
                            dVocab: try json.int("d_vocab", 1...1 << 24), eps: 1e-5, actFn: actFn,
                            positionalEmbedding: shortformer ? .shortformer : .standard, attnOnly: attnOnly)
        try config.validate(file: path)
        tokenizerName = json.has("tokenizer_name") ? try json.string("tokenizer_name") : nil
        normsFolded = norm == "LNPre"
        file = path
    }
}

extension GPT2Weights {
    /// State-dict entries of a TransformerLens model that are buffers, not weights: the causal mask
    /// (`attn.mask`, a bool `[n_ctx, n_ctx]` — `[0, 0]` in TransformerLens 3) and `attn.IGNORE` (−∞).
    static func isTransformerLensBuffer(_ name: String) -> Bool {
        name.hasSuffix(".attn.mask") || name.hasSuffix(".attn.IGNORE")
    }

    /// Loads a TransformerLens checkpoint: `torch.save(model.state_dict())` (`model_final.pth`, or any
    /// checkpoint of the run) with its repository's `config.json` (by default the one beside it).
    ///
    /// The state dict is in TransformerLens names and layout already (`blocks.0.attn.W_Q
    /// [n_heads, d_model, d_head]`, …), as ``stateDict`` prints it; buffers are skipped, any other
    /// entry the model does not have is an error (it would mean the config describes another
    /// architecture). The weights come back unprocessed — unless the config says `LNPre`, or the file has
    /// no layer-norm weights at all, which TransformerLens also takes as folded norms; call
    /// ``processed(_:)`` for what `from_pretrained` applies (for shortformer models: the value-bias fold only).
    /// - Throws: ``FileFormatError`` for the `.pth` container, ``TransformerError`` for the config and tensors.
    public static func load(transformerLensCheckpoint path: String, config configPath: String? = nil) throws -> GPT2Weights {
        let configFile = configPath ?? ConfigJSON.path(beside: path)
        guard FileManager.default.fileExists(atPath: configFile) else {
            throw TransformerError.invalidModelFile(file: path, detail: "no config.json beside it (\(configFile)); a TransformerLens checkpoint needs its repository's config.json")
        }
        let repo = try TransformerLensRepoConfig(contentsOf: configFile)
        let checkpoint = try TorchCheckpoint(contentsOf: path)
        let names = Set(checkpoint.names)
        let expected = expectedShapes(repo.config)
        if let unknown = checkpoint.names.first(where: { expected[$0] == nil && !isTransformerLensBuffer($0) }) {
            throw TransformerError.invalidModelFile(file: path, detail: "tensor '\(unknown)' is not a weight of the model \(configFile) describes (a GPT-2-architecture model of \(repo.config.nLayers) layers)")
        }
        let hasNorms = names.contains { $0.hasSuffix("ln1.w") || $0.hasSuffix("ln2.w") || $0 == "ln_final.w" }
        let processing = WeightProcessing(foldLN: repo.normsFolded || !hasNorms, centerWritingWeights: false, centerUnembed: false, foldValueBiases: false)
        return try fromStateDict({ names.contains($0) ? try checkpoint.tensor($0) : nil }, config: repo.config, processing: processing, file: path)
    }
}
