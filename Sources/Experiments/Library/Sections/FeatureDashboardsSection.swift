// FeatureDashboardsSection: the dashboards of Docs/Method.md §5 (the paper's §3 interface) — for chosen features
// or the N most frequently firing — a page per feature and an index linking them.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

public struct FeatureDashboardSettings: Sendable {
    /// Features to show; empty = the `count` most frequently firing on the analysis rows.
    public var features: [Int] = []
    public var count = 24
    public var dashboard = DashboardConfig()
    /// HTML paragraphs added to chosen features' pages (e.g. their induction test).
    public var notes: [Int: String] = [:]
    /// How many of `features` are there as induction features (for the headline).
    public var inductionFeatures = 0
    public init() {}
}

public struct FeatureDashboardsSection: Section {
    public static let id = ReportSection.featureDashboards
    public let analysis: SAEAnalysis
    public var settings: FeatureDashboardSettings
    public init(analysis: SAEAnalysis, settings: FeatureDashboardSettings = FeatureDashboardSettings()) {
        self.analysis = analysis; self.settings = settings
    }

    public func run(in workspace: Workspace, output: SectionOutput) throws -> SectionOutcome {
        let (sae, tokens, s) = (analysis.sae, analysis.rows, settings)
        for f in s.features where f < 0 || f >= sae.dSAE {
            throw ExperimentInputError("feature \(f) is not in the SAE (it has \(sae.dSAE) features)")
        }
        var features = s.features
        if features.isEmpty {
            let (_, freq) = try SAEEvaluation.sparsity(model: workspace.model.model, sae: sae.sae, batches: [tokens])
            features = freq.freq.enumerated().filter { $0.element > 0 }.sorted { $0.element > $1.element }.prefix(s.count).map(\.offset)
        }
        workspace.log("building \(features.count) dashboards on \(tokens.count) tokens")
        let boards = try DashboardBuilder.build(model: workspace.model.model, sae: sae, features: features, tokens: tokens, config: s.dashboard)
        let tokenizer = workspace.tokenizer, labels = workspace.model.headLabels(layer: sae.layer)
        var rows: [[String]] = []
        for b in boards {
            try output.folder.write(DashboardPage.render(b, tokens: tokens, tokenizer: tokenizer, layer: sae.layer, headLabels: labels, extra: s.notes[b.feature] ?? ""),
                                    to: "features/feature-\(b.feature).html")
            try output.folder.writeJSON(b, to: "features/feature-\(b.feature).json")
            let top = b.headAttribution.indices.max { b.headAttribution[$0] < b.headAttribution[$1] } ?? 0
            rows.append([HTML.link("features/feature-\(b.feature).html", "\(b.feature)"), HTML.number(b.density * 100, digits: 4), HTML.number(Double(b.maxActivation)),
                         HTML.escape(labels[top]) + " (" + HTML.number(Double(b.headAttribution[top]), digits: 2) + ")",
                         b.positiveLogits.prefix(5).map { HTML.tokenSpan(tokenizer.decode([$0.token])) }.joined(separator: " ")])
        }
        let body = HTML.h1("Feature dashboards — \(HTML.escape(workspace.model.name)), \(HTML.escape(sae.sae.config.hookName))")
            + HTML.p("\(boards.count) features on \(tokens.count) held-out tokens; each page shows the top activations, interval samples, DFA by source position, "
                     + "head attribution, logit effects and the activation histogram (Docs/Method.md §5).")
            + HTML.table(["feature", "density %", "max act", "top head", "top logits"], rows, leftColumns: 1)
        try output.folder.write(HTML.page(title: "Feature dashboards", body: body, up: output.up), to: "index.html")
        let inducing = s.inductionFeatures
        return SectionOutcome(page: "index.html", headline: "\(boards.count) dashboards: the most frequently firing features"
                                + (inducing > 0 ? " and the \(inducing) induction feature\(inducing == 1 ? "" : "s")" : ""))
    }
}

extension FeatureDashboardsSection {
    /// The model's id on Neuronpedia: `gpt2-small` for GPT-2 small and `gelu-2l` for the paper's GELU-2L
    /// (recognised by their shapes, whatever the weights' folder is called), else the model's name.
    public static func neuronpediaModelID(_ model: LoadedModel) -> String { neuronpediaModelID(config: model.model.config, name: model.name) }

    public static func neuronpediaModelID(config c: GPT2Config, name: String) -> String {
        if c.nLayers == 12 && c.dModel == 768 && c.nHeads == 12 && c.dVocab == 50257 { return "gpt2-small" }
        if c.nLayers == 2 && c.dModel == 512 && c.nHeads == 8 && c.dVocab == 48262 { return "gelu-2l" }
        return name
    }

    /// Writes the analysis's SAE as SAEDashboard's Neuronpedia runner would (``NeuronpediaExport``): every
    /// feature (or `features`) on the analysis's held-out rows, BOS excluded from firing, into `folder`.
    /// Returns the batch files.
    @discardableResult
    public static func exportNeuronpedia(_ analysis: SAEAnalysis, workspace: Workspace, features: [Int]?, modelID: String?, saeSet: String,
                                         to folder: String) throws -> [String] {
        let sae = analysis.sae
        for f in features ?? [] where f < 0 || f >= sae.dSAE {
            throw ExperimentInputError("feature \(f) is not in the SAE (it has \(sae.dSAE) features)")
        }
        var settings = NeuronpediaExport.Settings(modelID: modelID ?? neuronpediaModelID(workspace.model), layer: sae.layer, saeSet: saeSet,
                                                  dataset: workspace.inputs.corpus.isEmpty ? "the default corpus" : workspace.inputs.corpus.joined(separator: ", "))
        settings.seed = 0
        workspace.log("Neuronpedia export: \(features?.count ?? sae.dSAE) features on \(analysis.rows.shape[0]) rows into \(folder)")
        var t = NeuronpediaExport.Timings()
        let start = Date()
        let files = try NeuronpediaExport.write(model: workspace.model.model, sae: sae, tokens: analysis.rows, features: features, tokenizer: workspace.tokenizer,
                                                ignoredTokens: [workspace.tokenizer.endOfTextID], settings: settings, to: folder, timings: &t)
        workspace.log(String(format: "Neuronpedia export: %.1f s (scan %.1f: model %.1f, encoder %.1f; correlations %.1f; examples %.1f; DFA %.1f, of which model %.1f; batches %.1f: logits %.1f, JSON %.1f)",
                             Date().timeIntervalSince(start), t.scan.model + t.scan.encoder + t.scan.bookkeeping, t.scan.model, t.scan.encoder,
                             t.correlations, t.selection, t.dfa, t.dfaModel, t.batches, t.logits, t.writing))
        return files
    }
}
