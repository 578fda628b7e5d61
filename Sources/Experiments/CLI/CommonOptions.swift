// CommonOptions: the options every experiment executable shares (model, tokenizer, corpus, output, seed).

import ArgumentParser
import Experiments
import Foundation

public struct CommonOptions: ParsableArguments {
    @Option(help: "GPT-2 model file (tf_model.h5, model.safetensors or our HDF5); default: the planted-circuit model.")
    public var model: String?
    @Option(help: "The model's HuggingFace config.json when it is not beside the weights.")
    public var config: String?
    @Option(help: "Folder with encoder.json and vocab.bpe; default: the cache's gpt2-tokenizer.")
    public var tokenizer: String?
    @Option(parsing: .upToNextOption, help: "Corpus files or folders (text, .jsonl, nanoGPT/llm.c .bin); default: the Python documentation.")
    public var corpus: [String] = []
    @Option(help: "Report folder (default: out/<command>).")
    public var output: String?
    @Option(help: "Seed.")
    public var seed: UInt64 = 0

    public init() {}

    /// Runs once per command: warns when OpenBLAS runs generic kernels on a CPU that has better ones.
    public func validate() throws {
        if let warning = BLAS.genericKernelWarning { log("warning: " + warning) }
    }

    public var inputs: ExperimentInputs { ExperimentInputs(modelPath: model, modelConfigPath: config, tokenizerDirectory: tokenizer, corpus: corpus) }
}

/// The training recipe's options: each one given overrides the default recipe — the planted one on the
/// planted model, the paper's on GPT-2 (layer 5 unless `--layer`).
public struct TrainingOptions: ParsableArguments {
    @Option(help: "Layer whose hook_z the SAE reads (default: 1 on the planted model, 5 on GPT-2).") public var layer: Int?
    @Option(help: "Training tokens (default: 1,600,000 on the planted model, 100 million on GPT-2).") public var tokens: Int?
    @Option(name: .customLong("d-sae"), help: "SAE width.") public var dSAE: Int?
    @Option(help: "Batch size.") public var batch: Int?
    @Option(help: "l1 coefficient.") public var l1: Double?
    @Option(help: "Learning rate.") public var lr: Double?
    public init() {}

    public func settings(_ common: CommonOptions) -> TrainSAESettings {
        var s = common.model == nil ? TrainSAESettings.planted() : TrainSAESettings.gpt2(layer: layer ?? 5)
        if let layer { s.layer = layer }
        if let tokens { s.trainingTokens = tokens }
        if let dSAE { s.dSAE = dSAE }
        if let batch { s.batchSize = batch }
        if let l1 { s.training.l1Coeff = l1 }
        if let lr { s.training.lr = lr }
        s.seed = common.seed
        return s
    }
}

/// The SAE a section runs on.
public struct SAEOptions: ParsableArguments {
    @Option(help: "SAE: a SAELens folder or the paper's .pt (default on the planted model: the cached one).")
    public var sae: String?
    @Option(help: "The .pt's _cfg.json when it is not beside it.")
    public var cfg: String?
    public init() {}
}

/// What a section that analyses an SAE starts from, checked and loaded in this order: tokenizer,
/// corpus, model, SAE (so a wrong input fails before any model run).
public struct SectionContext {
    public let inputs: ExperimentInputs
    public let tokenizer: GPT2Tokenizer
    public let model: LoadedModel
    public let sae: SAE

    public init(_ common: CommonOptions, _ options: SAEOptions) throws {
        inputs = common.inputs
        tokenizer = try inputs.loadTokenizer()
        _ = try inputs.corpusSpec()
        model = try inputs.loadModel(log: log)
        sae = try inputs.loadSAE(options.sae, cfg: options.cfg, model: model, tokenizer: tokenizer, log: log)
    }

    /// `rows` held-out rows of 128 tokens.
    public func heldOutRows(_ rows: Int) throws -> IndexTensor {
        try TrainSAERunner.heldOutRows(inputs: inputs, tokenizer: tokenizer, rows: rows)
    }
}

/// Progress and summaries go to standard output, line by line.
public func log(_ line: String) { FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!) }

/// The absolute path of a written page, for the last line of a run.
public func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
