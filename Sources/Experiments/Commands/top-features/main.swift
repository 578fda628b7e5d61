// top-features: §4.1 — the top features of every head by decoder-norm attribution, a page per head.
// Thin: options → TopFeatures.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation

struct TopFeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top-features",
        abstract: "The top features of every head by decoder-norm attribution (dead features excluded), with a page per head.",
        discussion: "Default: the planted model and its default SAE. On GPT-2 run it once per layer's SAE.")

    @OptionGroup var common: CommonOptions
    @Option(help: "SAE: a SAELens folder or the paper's .pt (default on the planted model: the cached one).") var sae: String?
    @Option(help: "The .pt's _cfg.json when it is not beside it.") var cfg: String?
    @Option(help: "Features per head.") var perHead = 10
    @Option(help: "Held-out rows of 128 tokens (firing densities and dashboards).") var rows = 512

    func run() throws {
        let inputs = common.inputs
        let tokenizer = try inputs.loadTokenizer()
        _ = try inputs.corpusSpec()
        let loaded = try inputs.loadModel(log: log)
        let s = try inputs.loadSAE(sae, cfg: cfg, model: loaded, tokenizer: tokenizer, log: log)
        let tokens = try TrainSAERunner.heldOutRows(inputs: inputs, tokenizer: tokenizer, rows: rows)
        let page = try TopFeatures.run(model: loaded, sae: s, tokens: tokens, tokenizer: tokenizer, output: common.output ?? "out/top-features",
                                       perHead: perHead, log: log)
        log("report: \(absolutePath(page))")
    }
}

TopFeaturesCommand.main()
