// long-prefix-induction: Fig. 4 and Fig. 19 — a long- and a short-prefix induction head by prefix length,
// on real data, and under corruption of long prefixes. Thin: options → LongPrefixInductionSection.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation
import Tensor

struct LongPrefixInductionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "long-prefix-induction",
        abstract: "Compare a long-prefix and a short-prefix induction head (Docs/Method.md §3.4).",
        discussion: "Default: the planted-circuit model's heads 1.1 (long) and 1.5 (short), 100 examples per prefix length. With --model: GPT-2's 5.1 and 5.5, 400 examples, as the paper.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Layer of the two heads (default: 1 planted, 5 GPT-2).") var layer: Int?
    @Option(help: "The long-prefix head (default: 1).") var longHead: Int?
    @Option(help: "The short-prefix head (default: 5).") var shortHead: Int?
    @Option(help: "Synthetic examples per prefix length.") var examples: Int?
    @Option(help: "Corpus rows scanned for the prefix-length histogram.") var rows: Int?

    func validate() throws {
        try OptionCheck.range("--layer", layer, 0...(1 << 16))
        try OptionCheck.range("--long-head", longHead, 0...(1 << 16))
        try OptionCheck.range("--short-head", shortHead, 0...(1 << 16))
        try OptionCheck.range("--examples", examples, OptionCheck.count)
        try OptionCheck.range("--rows", rows, OptionCheck.rows)
    }

    func run() throws {
        let workspace = try common.workspace()
        let model = workspace.model
        try OptionCheck.layer("--layer", layer, of: model)
        try OptionCheck.heads("--long-head", longHead.map { [$0] } ?? [], of: model)
        try OptionCheck.heads("--short-head", shortHead.map { [$0] } ?? [], of: model)
        var s = LongPrefixSettings.defaults(for: model)
        s.layer = layer ?? s.layer
        (s.longHead, s.shortHead) = (longHead ?? s.longHead, shortHead ?? s.shortHead)
        s.examples = examples ?? s.examples
        s.detectionRows = rows ?? s.detectionRows
        try LongPrefixInductionSection(settings: s).runAlone(in: workspace, output: common.output("long-prefix-induction"))
    }
}

BLAS.relaunchWithBetterKernelsIfNeeded()   // before any product: OpenBLAS reads OPENBLAS_CORETYPE only when it loads
LongPrefixInductionCommand.main()
