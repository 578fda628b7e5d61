// reproduce: the report site (the main job) — every section of the analysis into one report site. With no arguments it
// trains an SAE on the planted-circuit model's layer-1 hook_z over the default corpus, then runs the
// induction-feature search, dashboards, the induction deep dive, top features per head, long- vs
// short-prefix induction and the IOI analysis. Thin: it parses options and calls ReportSite.run.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation
import Tensor

struct Reproduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train (or take) an attention-output SAE and run every section of the analysis into one HTML report site.",
        discussion: """
        With no options: the planted-circuit model (built into the cache on first use), layer 1, the default corpus. \
        On GPT-2 small: --model gpt2/model.safetensors --corpus <files> [--layer 5] [--sae l5.pt to analyse a published SAE instead of training]. \
        Sections: \(ReportSection.allCases.map(\.rawValue).joined(separator: ", ")).
        """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var recipe: TrainingOptions
    @OptionGroup var saeOptions: SAEOptions
    @Option(help: "Dashboards of the N most active features.") var dashboards = 16
    @Option(help: "Held-out rows of 128 tokens for the feature analyses.") var rows = 256
    @Option(parsing: .upToNextOption, help: "Heads of the layer counted as induction heads (default: the planted model's).") var inductionHeads: [Int] = []
    @Option(help: "Synthetic examples per prefix length in long-prefix-induction (default: 100 planted, 400 GPT-2).") var longPrefixExamples: Int?
    @Option(help: "Corpus rows scanned in long-prefix-induction (default 1600).") var longPrefixRows: Int?
    @Option(parsing: .upToNextOption, help: "Sections to leave out (train-sae cannot be: with --sae it only evaluates).") var skip: [String] = []

    func validate() throws {
        try OptionCheck.range("--dashboards", dashboards, 0...10_000)
        try OptionCheck.range("--rows", rows, OptionCheck.rows)
        try OptionCheck.each("--induction-heads", inductionHeads, 0...(1 << 16))
        try OptionCheck.range("--long-prefix-examples", longPrefixExamples, OptionCheck.count)
        try OptionCheck.range("--long-prefix-rows", longPrefixRows, OptionCheck.rows)
        for name in skip {
            guard let s = ReportSection(rawValue: name), s != .trainSAE else {
                throw ValidationError("--skip \(name): the sections that can be left out are \(ReportSection.allCases.dropFirst().map(\.rawValue).joined(separator: ", "))")
            }
        }
    }

    func run() throws {
        let workspace = try common.workspace()
        var settings = ReportSiteSettings(training: try recipe.settings(common, model: workspace.model), output: common.output("reproduce"))
        (settings.sae, settings.saeConfig) = (saeOptions.sae, saeOptions.cfg)
        (settings.dashboards, settings.analysisRows) = (dashboards, rows)
        (settings.longPrefixExamples, settings.longPrefixRows) = (longPrefixExamples, longPrefixRows)
        settings.skip = Set(skip.compactMap(ReportSection.init(rawValue:)))
        settings.inductionHeads = inductionHeads.isEmpty ? nil : inductionHeads
        log("report: \(absolutePath(try ReportSite.run(in: workspace, settings: settings)))")
    }
}

BLAS.relaunchWithBetterKernelsIfNeeded()   // before any product: OpenBLAS reads OPENBLAS_CORETYPE only when it loads
Reproduce.main()
