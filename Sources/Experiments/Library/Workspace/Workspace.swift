// Workspace: what every command starts from, built once — tokenizer, model (with its head labels),
// the corpus resolved to a spec, and the attention SAE the analyses run on — each checked before any
// long work, in that order.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// The inputs of one command, loaded and checked once: tokenizer, then corpus, then model, so a
/// wrong input fails before any model run.
public struct Workspace {
    public let inputs: ExperimentInputs
    public let tokenizer: GPT2Tokenizer
    public let model: LoadedModel
    /// The corpus, resolved once (formats detected, paths checked).
    public let corpus: CorpusSpec
    /// Progress lines (standard output in the executables).
    public let log: (String) -> Void

    public init(_ inputs: ExperimentInputs, log: @escaping (String) -> Void = { _ in }) throws {
        self.inputs = inputs
        self.log = log
        tokenizer = try inputs.loadTokenizer()
        corpus = try inputs.corpusSpec()
        model = try inputs.loadModel(log: log)
        if case .transformerLensConcatenate(let pad?) = inputs.rowRecipe, tokenizer.singleToken(pad) == nil {
            throw ExperimentInputError("--pad-token '\(pad)' is not a single token of the tokenizer in \(inputs.resolvedTokenizerDirectory)")
        }
        let dVocab = model.model.config.dVocab
        guard tokenizer.idLimit <= dVocab else {
            throw ExperimentInputError("the tokenizer in \(inputs.resolvedTokenizerDirectory) has token ids up to \(tokenizer.idLimit - 1), but \(model.name) has d_vocab \(dVocab): they are not from the same model (give the model's own tokenizer with --tokenizer, or put its tokenizer.json beside the weights)")
        }
    }

    /// A workspace of parts already loaded (tests, notebooks).
    public init(inputs: ExperimentInputs, tokenizer: GPT2Tokenizer, model: LoadedModel, corpus: CorpusSpec, log: @escaping (String) -> Void = { _ in }) {
        self.inputs = inputs; self.tokenizer = tokenizer; self.model = model; self.corpus = corpus; self.log = log
    }

    /// Token rows of the training (or held-out) part of the corpus; every 20th document is held out.
    /// With ``ExperimentInputs/rowRecipe`` `.transformerLensConcatenate`, TransformerLens's concatenation
    /// of the GELU-2L era; otherwise given corpora follow Docs/Method.md §1.2 (each document cut at 1024 tokens); the default corpus's
    /// documents (whole manual pages, ~6k tokens each) are kept whole, or most of its text would be
    /// dropped.
    public func rows(heldOut: Bool, rowLength: Int = 128) throws -> TokenRowStream {
        let docs = try DocumentStream(corpus, split: DocumentStream.Split(every: 20, heldOut: heldOut))
        let recipe: TokenRowStream.Recipe
        switch inputs.rowRecipe {
        case .documents: recipe = .documents
        case .transformerLensConcatenate(let pad): recipe = .transformerLensConcatenate(padID: pad.flatMap(tokenizer.singleToken))
        }
        return TokenRowStream(documents: docs, tokenizer: tokenizer, rowLength: rowLength, nCtx: inputs.corpus.isEmpty ? Int.max : 1024, recipe: recipe)
    }

    /// The first `count` held-out rows, `[rows, 128]`.
    public func heldOutRows(_ count: Int) throws -> IndexTensor {
        var stream = try rows(heldOut: true)
        guard let t = try stream.nextRows(count), t.shape[0] > 0 else {
            throw ExperimentInputError("the corpus has no held-out rows (every 20th document is held out); give a larger corpus")
        }
        return t
    }

    /// The first `count` rows of the training part, `[rows, 128]`.
    public func trainingRows(_ count: Int) throws -> IndexTensor {
        var stream = try rows(heldOut: false)
        guard let t = try stream.nextRows(count) else { throw ExperimentInputError("the corpus has no rows of 128 tokens") }
        return t
    }

    // MARK: - The attention SAE

    /// Loads an SAE file (a SAELens folder, or the paper's `.pt` with its `_cfg.json` if not beside it)
    /// and checks it against the model: hook_z of one of its layers, d_in = n_heads·d_head.
    public func loadSAE(_ path: String, cfg: String? = nil) throws -> AttentionSAE {
        // Loaded without a head layout: the model's is set once the SAE is checked against it.
        let sae = try loadAnySAE(path, cfg: cfg)
        let c = model.model.config
        guard sae.config.dIn == c.nHeads * c.dHead else {
            throw ExperimentInputError("SAE \(path) has d_in \(sae.config.dIn); the model's hook_z is \(c.nHeads)×\(c.dHead) = \(c.nHeads * c.dHead)")
        }
        do { return try AttentionSAE(sae, model: c) } catch {
            throw ExperimentInputError("SAE \(path) reads '\(sae.config.hookName)', not blocks.L.attn.hook_z of one of the model's \(c.nLayers) layers")
        }
    }

    /// Where the planted model's default SAE (the planted recipe on layer 1) is kept once trained.
    public static var plantedSAEPath: String {
        (PlantedCircuitModel.cachePath() as NSString).deletingLastPathComponent + "/sae-v\(PlantedCircuitModel.version)-layer1"
    }

    /// Whether a run of `settings` on these inputs trains the planted model's default SAE (which is
    /// then kept at ``plantedSAEPath`` for the section executables).
    public func trainsDefaultSAE(_ settings: TrainSAESettings) -> Bool {
        model.isPlanted && inputs.isDefault && settings == .planted()
    }

    /// The SAE a section runs on: the given one (a path, or a release id or hub repository with `layer`:
    /// ``SAEReference``), or — on the planted model — the default one from the
    /// cache, trained there with the planted recipe on first use (a few minutes; `reproduce` and
    /// `train-sae` with default settings leave it there too).
    ///
    /// `layer` (the commands' `--layer`) picks one SAE of a release or hub repository; with one SAE it must
    /// be the layer that SAE reads (checked before the planted model's SAE is trained).
    public func attentionSAE(_ path: String?, cfg: String? = nil, layer: Int? = nil) throws -> AttentionSAE {
        func check(_ reads: Int, _ what: String) throws {
            if let layer, layer != reads {
                throw ExperimentInputError("--layer is \(layer); allowed: \(reads), the layer \(what) reads (--layer picks one SAE of a release or hub repository)")
            }
        }
        if let path {
            let sae = try loadSAE(try SAEReference.resolveOne(path, layer: layer, cache: inputs.hubCache), cfg: cfg)
            try check(sae.layer, path)
            return sae
        }
        guard model.isPlanted else {
            throw ExperimentInputError("give an SAE with --sae (a SAELens folder or the paper's .pt); only the planted model has a default one")
        }
        try check(TrainSAESettings.planted().layer, "the planted model's SAE")
        let cached = Self.plantedSAEPath
        if FileManager.default.fileExists(atPath: cached + "/cfg.json") { return try loadSAE(cached) }
        log("no trained SAE for the planted model yet: training one with the planted recipe (saved to \(cached))")
        let r = try SAETraining.run(self, settings: .planted())
        try r.sae.save(saeLens: cached)
        return try AttentionSAE(r.sae, model: model.model.config)
    }
}
