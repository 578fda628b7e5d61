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
    @OptionGroup var recipe: TrainingOptions
    @Option(help: "Dashboards of the N most active features.") var dashboards = 16
    @Option(parsing: .upToNextOption, help: "Heads of the layer counted as induction heads (default: the planted model's).") var inductionHeads: [Int] = []

    func run() throws {
        var settings = MainJobSettings(training: recipe.settings(common), output: common.output ?? "out/reproduce")
        settings.dashboards = dashboards
        if !inductionHeads.isEmpty { settings.inductionHeads = inductionHeads }
        let index = try MainJob.run(inputs: common.inputs, settings: settings, log: log)
        log("report: \(absolutePath(index))")
    }
}

Reproduce.main()
