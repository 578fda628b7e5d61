// circuit-explorer: trace any prompt back through the model — recursive direct feature attribution
// through attention and residual SAEs, and QK attribution of the attention edges.
// Thin: options → CircuitTraceReport.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation
import Interp

struct CircuitExplorer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "circuit-explorer",
        abstract: "Trace features of any prompt back through the model (recursive DFA and QK attribution).",
        subcommands: [Trace.self], defaultSubcommand: Trace.self)
}

struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Trace attention-SAE features of a prompt: print the tree, write the graph (circuit-tracer's JSON schema) and a page.",
        discussion: """
        Default: the planted model with its default SAEs, the strongest features at the last token of a prompt with a \
        repeated phrase. Every LayerNorm scale and attention pattern is frozen at the prompt's run, so each node's value \
        is the exact sum of its terms (Docs/experiments/circuit-explorer.md).
        """)

    @OptionGroup var common: CommonOptions
    @Option(help: "The prompt (BOS is prepended unless --no-bos).") var prompt = CircuitTraceRequest.defaultPrompt
    @Option(help: "An attention feature to trace, as layer.feature@position (e.g. 1.194@12); repeat for several.") var feature: [String] = []
    @Option(help: "Trace the strongest features at this token position (0 = BOS); default: the last token.") var position: Int?
    @Option(help: "How many of the strongest features to trace when none is named.") var top = 3
    @Option(parsing: .upToNextOption, help: "Attention SAEs (hook_z): SAELens folders, the paper's .pt files, or folders of them; one per layer. Default on the planted model: its default SAE.")
    var saes: [String] = []
    @Option(name: .customLong("resid-saes"), parsing: .upToNextOption, help: "Residual SAEs (blocks.L.hook_resid_pre), as --saes.")
    var residSAEs: [String] = []
    @Option(help: "Levels of expansion below the traced features.") var depth = 3
    @Option(help: "Terms kept per expanded node (the largest).") var maxChildren = 6
    @Option(help: "Keep a term only when |term| ≥ threshold · |node value|.") var threshold: Float = 0.05
    @Option(help: "QK attributions for this many of the strongest attention edges.") var qkEdges = 3
    @Option(help: "Pairs shown per QK attribution.") var qkPairs = 10
    @Flag(help: "Keep only SAE-feature terms as links (errors, embeddings, heads, MLPs and constants count as each node's unexplained part).")
    var featuresOnly = false
    @Flag(help: "Do not prepend BOS to the prompt.") var noBOS = false

    var options: TraceOptions {
        TraceOptions(depth: depth, maxChildren: maxChildren, threshold: threshold, qkEdges: qkEdges, qkPairs: qkPairs, featuresOnly: featuresOnly)
    }

    func validate() throws {
        try OptionCheck.range("--top", top, 1...64)
        try OptionCheck.range("--position", position, 0...(1 << 20))
        do { try options.validate() } catch let e as TraceOptionError {
            let flag = ["maxChildren": "max-children", "qkEdges": "qk-edges", "qkPairs": "qk-pairs"][e.name] ?? e.name
            throw ValidationError("--\(flag) is \(e.value); allowed: \(e.allowed)")
        }
        if !feature.isEmpty && position != nil { throw ValidationError("give --feature or --position, not both") }
        for f in feature { _ = try CircuitTraceRequest.parseFeature(f) }
        guard prompt.utf8.count <= 1 << 16 else { throw ValidationError("--prompt is \(prompt.utf8.count) bytes; allowed: at most 65536") }
    }

    func run() throws {
        let workspace = try common.workspace()
        let (tracer, names) = try workspace.tracer(attention: saes, residual: residSAEs)
        let request = CircuitTraceRequest(prompt: prompt, features: try feature.map(CircuitTraceRequest.parseFeature), position: position, top: top,
                                          options: options, prependBOS: !noBOS)
        let report = try CircuitTraceReport(tracer: tracer, tokenizer: workspace.tokenizer, model: workspace.model, saeNames: names, request: request)
        print(report.treeText())
        let folder = try ReportFolder(common.output("circuit-explorer"))
        try report.write(to: folder, title: "Trace: " + prompt, slug: "trace")
        print("graph: \(absolutePath(folder.path + "/trace.json"))")
        print("report: \(absolutePath(folder.path + "/index.html"))")
    }
}

CircuitExplorer.main()
