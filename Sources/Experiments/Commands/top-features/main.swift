// top-features: §4.1 — the top features of every head by decoder-norm attribution, a page per head.
// Thin: options → TopFeaturesSection.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation
import Tensor

struct TopFeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top-features",
        abstract: "The top features of every head by decoder-norm attribution (dead features excluded), with a page per head.",
        discussion: "Default: the planted model and its default SAE. On GPT-2 run it once per layer's SAE.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var saeOptions: SAEOptions
    @OptionGroup var saeLayer: SAELayerOption
    @Option(help: "Features per head.") var perHead = 10
    @Option(help: "Held-out rows of 128 tokens (firing densities and dashboards).") var rows = 512

    func validate() throws {
        try OptionCheck.range("--per-head", perHead, OptionCheck.count)
        try OptionCheck.range("--rows", rows, OptionCheck.rows)
    }

    func run() throws {
        let workspace = try common.workspace()
        let analysis = try SAEAnalysis(workspace, sae: try saeOptions.load(in: workspace, layer: saeLayer.layer), rows: rows)
        try TopFeaturesSection(analysis: analysis, perHead: perHead).runAlone(in: workspace, output: common.output("top-features"))
    }
}

BLAS.relaunchWithBetterKernelsIfNeeded()   // before any product: OpenBLAS reads OPENBLAS_CORETYPE only when it loads
TopFeaturesCommand.main()
