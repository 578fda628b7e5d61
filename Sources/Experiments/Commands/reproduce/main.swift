// reproduce: the main job. With no arguments it trains an SAE on the planted-circuit model's layer-1
// hook_z over the default corpus, evaluates it, looks for induction features and writes a report.
// Thin: it parses options and calls MainJob.run.

import ArgumentParser
import Experiments
import Foundation

struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an attention-output SAE, evaluate it, find induction features and write an HTML report.",
        discussion: "With no options: the planted-circuit model (built into the cache on first use), layer 1, the default corpus. Give --model and --layer for real GPT-2 small.")

    @Option(help: "GPT-2 model file (tf_model.h5, model.safetensors or our HDF5); default: the planted-circuit model.") var model: String?
    @Option(help: "Folder with encoder.json and vocab.bpe; default: the cache's gpt2-tokenizer.") var tokenizer: String?
    @Option(parsing: .upToNextOption, help: "Corpus files or folders (text, .jsonl, .bin); default: the Python documentation.") var corpus: [String] = []
    @Option(help: "Report folder.") var output = "out/reproduce"
    @Option(help: "Layer whose hook_z the SAE reads (default: 1 on the planted model, 5 on GPT-2).") var layer: Int?
    @Option(help: "Training tokens (default: 1,600,000 on the planted model, 100 million on GPT-2).") var tokens: Int?
    @Option(name: .customLong("d-sae"), help: "SAE width.") var dSAE: Int?
    @Option(help: "Batch size.") var batch: Int?
    @Option(help: "l1 coefficient.") var l1: Double?
    @Option(help: "Learning rate.") var lr: Double?
    @Option(help: "Seed of the SAE's initialisation and the buffer's shuffling.") var seed: UInt64 = 0
    @Option(help: "Dashboards of the N most active features.") var dashboards = 16
    @Option(parsing: .upToNextOption, help: "Heads of the layer counted as induction heads (default: the planted model's).") var inductionHeads: [Int] = []

    func run() throws {
        let inputs = ExperimentInputs(modelPath: model, tokenizerDirectory: tokenizer, corpus: corpus)
        var training = model == nil ? TrainSAESettings.planted() : TrainSAESettings.gpt2(layer: layer ?? 5)
        if let layer { training.layer = layer }
        if let tokens { training.trainingTokens = tokens }
        if let dSAE { training.dSAE = dSAE }
        if let batch { training.batchSize = batch }
        if let l1 { training.training.l1Coeff = l1 }
        if let lr { training.training.lr = lr }
        training.seed = seed
        var settings = MainJobSettings(training: training, output: output)
        settings.dashboards = dashboards
        if !inductionHeads.isEmpty { settings.inductionHeads = inductionHeads }
        let log: (String) -> Void = { FileHandle.standardOutput.write(($0 + "\n").data(using: .utf8)!) }
        let index = try MainJob.run(inputs: inputs, settings: settings, log: log)
        log("report: \(URL(fileURLWithPath: index).standardizedFileURL.path)")
    }
}

Reproduce.main()
