// feature-dashboards: SPEC §5 dashboards for chosen features or the N most active, with an index.
// Thin: options → FeatureDashboards.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation

struct FeatureDashboardsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feature-dashboards",
        abstract: "Feature dashboards: top activations, intervals, DFA by source, head attribution, logits, histogram.",
        discussion: "Default: the planted model and its default SAE (trained into the cache on first use), the 24 most active features.")

    @OptionGroup var common: CommonOptions
    @Option(help: "SAE: a SAELens folder or the paper's .pt (default on the planted model: the cached one).") var sae: String?
    @Option(help: "The .pt's _cfg.json when it is not beside it.") var cfg: String?
    @Option(parsing: .upToNextOption, help: "Features to show (default: the most active).") var features: [Int] = []
    @Option(help: "How many of the most active features.") var count = 24
    @Option(help: "Held-out rows of 128 tokens to build the dashboards on.") var rows = 512

    func run() throws {
        let inputs = common.inputs
        let tokenizer = try inputs.loadTokenizer()
        _ = try inputs.corpusSpec()
        let loaded = try inputs.loadModel(log: log)
        let s = try inputs.loadSAE(sae, cfg: cfg, model: loaded, tokenizer: tokenizer, log: log)
        var settings = FeatureDashboardSettings()
        settings.features = features
        settings.count = count
        settings.rows = rows
        settings.dashboard.seed = common.seed
        let tokens = try TrainSAERunner.heldOutRows(inputs: inputs, tokenizer: tokenizer, rows: rows)
        let page = try FeatureDashboards.run(model: loaded, sae: s, tokens: tokens, tokenizer: tokenizer, settings: settings,
                                             output: common.output ?? "out/feature-dashboards", log: log)
        log("report: \(absolutePath(page))")
    }
}

FeatureDashboardsCommand.main()
