// feature-dashboards: Docs/Method.md §5 dashboards for chosen features or the N most active, with an index.
// Thin: options → FeatureDashboardsSection.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation
import Tensor

struct FeatureDashboardsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feature-dashboards",
        abstract: "Feature dashboards: top activations, intervals, DFA by source, head attribution, logits, histogram.",
        discussion: "Default: the planted model and its default SAE (trained into the cache on first use), the 24 most active features.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var saeOptions: SAEOptions
    @OptionGroup var saeLayer: SAELayerOption
    @Option(parsing: .upToNextOption, help: "Features to show (default: the most active).") var features: [Int] = []
    @Option(help: "How many of the most active features.") var count = 24
    @Option(help: "Held-out rows of 128 tokens to build the dashboards on.") var rows = 512
    @Option(help: "Also write Neuronpedia's dashboard batches (SAEDashboard's batch-<n>.json layout) of every feature (or --features) into this folder.") var neuronpedia: String?
    @Option(help: "Neuronpedia model id for --neuronpedia (default: gpt2-small for GPT-2 small, gelu-2l for GELU-2L, else the model's name).") var npModelId: String?
    @Option(help: "Neuronpedia SAE set for --neuronpedia.") var npSaeSet = "att-kk"

    func validate() throws {
        try OptionCheck.each("--features", features, 0...(1 << 24))
        try OptionCheck.range("--count", count, OptionCheck.count)
        try OptionCheck.range("--rows", rows, OptionCheck.rows)
    }

    func run() throws {
        let workspace = try common.workspace()
        let sae = try saeOptions.load(in: workspace, layer: saeLayer.layer)
        try OptionCheck.each("--features", features, 0...(sae.dSAE - 1))
        var settings = FeatureDashboardSettings()
        (settings.features, settings.count, settings.dashboard.seed) = (features, count, common.seed)
        let analysis = try SAEAnalysis(workspace, sae: sae, rows: rows)
        try FeatureDashboardsSection(analysis: analysis, settings: settings).runAlone(in: workspace, output: common.output("feature-dashboards"))
        if let neuronpedia {
            let files = try FeatureDashboardsSection.exportNeuronpedia(analysis, workspace: workspace, features: features.isEmpty ? nil : features,
                                                                       modelID: npModelId, saeSet: npSaeSet, to: neuronpedia)
            log("wrote \(files.count) Neuronpedia batch file\(files.count == 1 ? "" : "s") to \(absolutePath(neuronpedia))")
        }
    }
}

BLAS.relaunchWithBetterKernelsIfNeeded()   // before any product: OpenBLAS reads OPENBLAS_CORETYPE only when it loads
FeatureDashboardsCommand.main()
