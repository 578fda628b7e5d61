// long-prefix-induction: Fig. 4 and Fig. 19 — a long- and a short-prefix induction head by prefix length,
// on real data, and under corruption of long prefixes. Thin: options → LongPrefixInduction.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation

struct LongPrefixInductionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "long-prefix-induction",
        abstract: "Compare a long-prefix and a short-prefix induction head (SPEC §3.4).",
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
        let inputs = common.inputs
        let tokenizer = try inputs.loadTokenizer()
        _ = try inputs.corpusSpec()
        let loaded = try inputs.loadModel(log: log)
        try OptionCheck.layer("--layer", layer, of: loaded)
        try OptionCheck.heads("--long-head", longHead.map { [$0] } ?? [], of: loaded)
        try OptionCheck.heads("--short-head", shortHead.map { [$0] } ?? [], of: loaded)
        var s = LongPrefixSettings.defaults(for: loaded)
        if let layer { s.layer = layer }
        if let longHead { s.longHead = longHead }
        if let shortHead { s.shortHead = shortHead }
        if let examples { s.examples = examples }
        if let rows { s.detectionRows = rows }
        var stream = try inputs.rows(heldOut: false, tokenizer: tokenizer)
        guard let tokens = try stream.nextRows(s.detectionRows) else { throw ExperimentInputError("the corpus has no rows of 128 tokens") }
        let result = try LongPrefixInduction.run(model: loaded, rows: tokens, tokenizer: tokenizer, settings: s, log: log)
        let output = common.output ?? "out/long-prefix-induction"
        let folder = try ReportFolder(output)
        let page = try LongPrefixInduction.writeReport(result, settings: s, to: folder, isPlanted: loaded.isPlanted)
        for h in [result.long, result.short] {
            log(String(format: "%@: induction score %.3f at prefix 1, %.3f at prefix %d; clean %.3f → corrupted %.3f (%d examples)",
                       h.head, h.inductionScore[0], h.inductionScore.last!, s.maxPrefix, h.clean, h.corrupted, h.interventionExamples))
        }
        log("report: \(absolutePath(output + "/" + page))")
    }
}

LongPrefixInductionCommand.main()
