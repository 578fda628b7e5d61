// induction-deep-dive: Fig. 2 — specificity and sensitivity of an induction feature. Thin: options → InductionDeepDiveSection.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation
import Tensor

struct InductionDeepDiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "induction-deep-dive",
        abstract: "Specificity (activation histogram by proxy, expected value) and sensitivity (false negatives) of an induction feature.",
        discussion: "Default: the planted model, its default SAE and its best induction feature, found automatically.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var saeOptions: SAEOptions
    @OptionGroup var saeLayer: SAELayerOption
    @Option(help: "The feature (default: the best induction feature on held-out rows).") var feature: Int?
    @Option(help: "The target token, as text (default: the feature's top logit-effect token).") var target: String?
    @Option(help: "Held-out rows of 128 tokens.") var rows = 512

    func validate() throws {
        try OptionCheck.range("--feature", feature, 0...(1 << 24))
        try OptionCheck.range("--rows", rows, OptionCheck.rows)
    }

    func run() throws {
        let workspace = try common.workspace()
        let targetID = try target.map { t in
            guard let id = workspace.tokenizer.singleToken(t) else { throw ValidationError("--target '\(t)' is not a single token of the model's tokenizer") }
            return id
        }
        let sae = try saeOptions.load(in: workspace, layer: saeLayer.layer)
        try OptionCheck.range("--feature", feature, 0...(sae.dSAE - 1))
        try InductionDeepDiveSection(analysis: try SAEAnalysis(workspace, sae: sae, rows: rows), feature: feature, target: targetID)
            .runAlone(in: workspace, output: common.output("induction-deep-dive"))
    }
}

BLAS.relaunchWithBetterKernelsIfNeeded()   // before any product: OpenBLAS reads OPENBLAS_CORETYPE only when it loads
InductionDeepDiveCommand.main()
