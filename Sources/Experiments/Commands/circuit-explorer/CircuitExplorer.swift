// circuit-explorer: trace any prompt back through the model — recursive direct feature attribution
// through attention and residual SAEs, and QK attribution of the attention edges — in the terminal
// (`trace`) or in the browser (`serve`, the interactive explorer).
// Thin: options → CircuitTraceReport, or options → ExplorerEngine + ExplorerServer.

import ArgumentParser
import Experiments
import ExperimentsCLI
import ExplorerServer
import Foundation
import Hummingbird
import Interp
import Tensor

@main
struct CircuitExplorer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "circuit-explorer",
        abstract: "Trace features of any prompt back through the model (recursive DFA and QK attribution), in the terminal or the browser.",
        subcommands: [Trace.self, Serve.self], defaultSubcommand: Trace.self)

    static func main() async {
        BLAS.relaunchWithBetterKernelsIfNeeded()   // before any product: OpenBLAS reads OPENBLAS_CORETYPE only when it loads
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand { try await asyncCommand.run() } else { try command.run() }
        } catch {
            exit(withError: error)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the interactive explorer: a local web app to run any prompt, open its features and grow their trace by hand.",
        discussion: """
        Default: the planted model with its default SAE, on http://127.0.0.1:8765/ (this machine only). The page and its \
        assets are in the binary; nothing is fetched from elsewhere. Docs/experiments/circuit-explorer.md has the API.
        """)

    @OptionGroup var common: CommonOptions
    @Option(parsing: .upToNextOption, help: "Attention SAEs (hook_z), as for trace. Default on the planted model: its default SAE.")
    var saes: [String] = []
    @Option(name: .customLong("resid-saes"), parsing: .upToNextOption, help: "Residual SAEs (blocks.L.hook_resid_pre), as --saes.")
    var residSAEs: [String] = []
    @Option(parsing: .upToNextOption, help: "feature-dashboards output folders, as LAYER=DIR (or DIR when there is one attention SAE): features link to their dashboards.")
    var dashboards: [String] = []
    @Option(help: "Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port).") var port = 8765
    @Option(help: "Longest prompt in UTF-8 bytes.") var maxPromptBytes = 16_384
    @Option(help: "Longest prompt in tokens, BOS included (default: the model's context).") var maxTokens: Int?
    @Option(help: "Memory the cached prompt runs may hold, in MiB.") var cacheMb = 1024
    @Option(help: "Requests computed at once (default: the number of cores).") var concurrency: Int?

    func validate() throws {
        try OptionCheck.range("--port", port, 0...65535)
        try OptionCheck.range("--max-prompt-bytes", maxPromptBytes, 1...(1 << 20))
        try OptionCheck.range("--max-tokens", maxTokens, 1...(1 << 20))
        try OptionCheck.range("--cache-mb", cacheMb, 1...(1 << 20))
        try OptionCheck.range("--concurrency", concurrency, 1...256)
        guard !host.isEmpty else { throw ValidationError("--host is empty; give an address such as 127.0.0.1") }
    }

    /// `LAYER=DIR` or `DIR` (for the only attention SAE).
    func dashboardFolders(layers: [Int]) throws -> [Int: String] {
        var out: [Int: String] = [:]
        for d in dashboards {
            if let eq = d.firstIndex(of: "="), let l = Int(d[..<eq]) {
                out[l] = String(d[d.index(after: eq)...])
            } else {
                guard layers.count == 1 else {
                    throw ValidationError("--dashboards \(d): there are attention SAEs for layers \(layers.map(String.init).joined(separator: ", ")); give LAYER=DIR")
                }
                out[layers[0]] = d
            }
        }
        return out
    }

    func run() async throws {
        let workspace = try common.workspace()
        let (tracer, names) = try workspace.tracer(attention: saes, residual: residSAEs)
        var settings = ExplorerSettings()
        settings.maxPromptBytes = maxPromptBytes
        settings.maxTokens = maxTokens
        settings.cacheBytes = cacheMb << 20
        if let concurrency { settings.concurrency = concurrency }
        let engine = try ExplorerEngine(tracer: tracer, tokenizer: workspace.tokenizer, model: workspace.model, saeNames: names,
                                        dashboards: try dashboardFolders(layers: tracer.attention.keys.sorted()), settings: settings)
        let host = host
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(host)
        let app = ExplorerServer.application(engine: engine, host: host, port: port) { address in
            print("Circuit Explorer: \(address)")
            print(loopback ? "Listening on \(host) only: reachable from this machine, not from the network (--host 0.0.0.0 to change that)."
                           : "warning: listening on \(host): anyone who can reach this machine can use the explorer.")
            fflush(nil)
        }
        try await app.runService()
    }
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
        let request = CircuitTraceRequest(prompt: prompt, features: try feature.map(CircuitTraceRequest.parseFeature), position: position, top: top,
                                          options: options, prependBOS: !noBOS)
        if saes.isEmpty && workspace.model.isPlanted {
            // The default SAE may not be trained yet: check the request against the planted recipe's first.
            let planted = TrainSAESettings.planted()
            try request.check(tokens: request.tokens(workspace.tokenizer), nCtx: workspace.model.model.config.nCtx,
                              attentionWidths: [planted.layer: planted.dSAE])
        }
        let (tracer, names) = try workspace.tracer(attention: saes, residual: residSAEs)
        let report = try CircuitTraceReport(tracer: tracer, tokenizer: workspace.tokenizer, model: workspace.model, saeNames: names, request: request)
        print(report.treeText())
        let folder = try ReportFolder(common.output("circuit-explorer"))
        try report.write(to: folder, title: "Trace: " + prompt, slug: "trace")
        print("graph: \(absolutePath(folder.path + "/trace.json"))")
        print("report: \(absolutePath(folder.path + "/index.html"))")
    }
}

