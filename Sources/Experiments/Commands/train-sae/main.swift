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
    @OptionGroup var recipe: TrainingOptions
    @Option(help: "Held-out rows (of 128 tokens) for the evaluation.") var evalRows: Int?
    @Option(help: "Write a checkpoint every N steps.") var checkpointEvery = 500
    @Flag(help: "Continue from <output>/checkpoint.h5 if it exists.") var resume = false
    @Option(help: "Evaluate this SAE instead of training (a SAELens folder or the paper's .pt).") var evaluate: String?
    @Option(help: "The .pt's _cfg.json when it is not beside it.") var cfg: String?

    func run() throws {
        var s = recipe.settings(common)
        if let evalRows { s.evaluationRows = evalRows }
        let mode: TrainSAEJob.Mode = evaluate.map { .evaluate(sae: $0, cfg: cfg) } ?? .train(checkpointEvery: checkpointEvery, resume: resume)
        let page = try TrainSAEJob.run(inputs: common.inputs, settings: s, mode: mode, output: common.output ?? "out/train-sae", log: log)
        log("report: \(absolutePath(page))")
    }
}

TrainSAECommand.main()
