// reproduce: the main job. With no arguments it trains an SAE on the planted-circuit model's layer-1
// hook_z over the default corpus, evaluates it, looks for induction features and writes a report.
// Thin: it parses options and calls MainJob.run.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation

struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an attention-output SAE, evaluate it, find induction features and write an HTML report.",
        discussion: "With no options: the planted-circuit model (built into the cache on first use), layer 1, the default corpus. Give --model and --layer for real GPT-2 small.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Layer whose hook_z the SAE reads (default: 1 on the planted model, 5 on GPT-2).") var layer: Int?
    @Option(help: "Training tokens (default: 1,600,000 on the planted model, 100 million on GPT-2).") var tokens: Int?
    @Option(name: .customLong("d-sae"), help: "SAE width.") var dSAE: Int?
    @Option(help: "Batch size.") var batch: Int?
    @Option(help: "l1 coefficient.") var l1: Double?
    @Option(help: "Learning rate.") var lr: Double?
    @Option(help: "Dashboards of the N most active features.") var dashboards = 16
    @Option(parsing: .upToNextOption, help: "Heads of the layer counted as induction heads (default: the planted model's).") var inductionHeads: [Int] = []

    func run() throws {
        let inputs = common.inputs
        var training = common.model == nil ? TrainSAESettings.planted() : TrainSAESettings.gpt2(layer: layer ?? 5)
        if let layer { training.layer = layer }
        if let tokens { training.trainingTokens = tokens }
        if let dSAE { training.dSAE = dSAE }
        if let batch { training.batchSize = batch }
        if let l1 { training.training.l1Coeff = l1 }
        if let lr { training.training.lr = lr }
        training.seed = common.seed
        var settings = MainJobSettings(training: training, output: common.output ?? "out/reproduce")
        settings.dashboards = dashboards
        if !inductionHeads.isEmpty { settings.inductionHeads = inductionHeads }
        let index = try MainJob.run(inputs: inputs, settings: settings, log: log)
        log("report: \(absolutePath(index))")
    }
}

Reproduce.main()
