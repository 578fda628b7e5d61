// train-sae: Table 2 — train one layer's SAE (checkpoints, resume) or evaluate a given one.
// Thin: options → TrainSAEJob.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation

struct TrainSAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-sae",
        abstract: "Train an attention-output SAE on one layer's hook_z, or evaluate a given SAE (Table 2).",
        discussion: "Default: the planted-circuit model's layer 1 with the planted recipe. With --model: GPT-2 and the paper's recipe (layer 5 unless --layer). --evaluate <SAELens folder or .pt> skips training.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Layer (default: 1 planted, 5 GPT-2).") var layer: Int?
    @Option(help: "Training tokens.") var tokens: Int?
    @Option(name: .customLong("d-sae"), help: "SAE width.") var dSAE: Int?
    @Option(help: "Batch size.") var batch: Int?
    @Option(help: "l1 coefficient.") var l1: Double?
    @Option(help: "Learning rate.") var lr: Double?
    @Option(help: "Held-out rows (of 128 tokens) for the evaluation.") var evalRows: Int?
    @Option(help: "Write a checkpoint every N steps.") var checkpointEvery = 500
    @Flag(help: "Continue from <output>/checkpoint.h5 if it exists.") var resume = false
    @Option(help: "Evaluate this SAE instead of training (a SAELens folder or the paper's .pt).") var evaluate: String?
    @Option(help: "The .pt's _cfg.json when it is not beside it.") var cfg: String?

    func run() throws {
        var s = common.model == nil ? TrainSAESettings.planted() : TrainSAESettings.gpt2(layer: layer ?? 5)
        if let layer { s.layer = layer }
        if let tokens { s.trainingTokens = tokens }
        if let dSAE { s.dSAE = dSAE }
        if let batch { s.batchSize = batch }
        if let l1 { s.training.l1Coeff = l1 }
        if let lr { s.training.lr = lr }
        if let evalRows { s.evaluationRows = evalRows }
        s.seed = common.seed
        let mode: TrainSAEJob.Mode = evaluate.map { .evaluate(sae: $0, cfg: cfg) } ?? .train(checkpointEvery: checkpointEvery, resume: resume)
        let page = try TrainSAEJob.run(inputs: common.inputs, settings: s, mode: mode, output: common.output ?? "out/train-sae", log: log)
        log("report: \(absolutePath(page))")
    }
}

TrainSAECommand.main()
