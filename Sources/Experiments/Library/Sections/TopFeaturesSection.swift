// TopFeaturesSection: §4.1 — for every head, the ten features with the largest decoder-norm attribution
// to it (features that never fire on the token set excluded — decision 20), a page per head and an overview.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

public struct TopFeaturesResult: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var feature: Int
        public var attribution: Float
        public var density: Double
    }
    /// Per head ("L.h"), its top features in descending attribution.
    public var heads: [String: [Entry]]
    public var deadExcluded: Int
}

public struct TopFeaturesSection: Section {
    public static let id = ReportSection.topFeatures
    public let analysis: SAEAnalysis
    public var perHead: Int
    public init(analysis: SAEAnalysis, perHead: Int = 10) { self.analysis = analysis; self.perHead = perHead }

    /// Ranks features per head; firing densities come from `tokens`.
    public static func rank(_ sae: AttentionSAE, model: GPT2, tokens: IndexTensor, perHead: Int = 10) throws -> (TopFeaturesResult, FeatureFrequencies) {
        let (_, freq) = try SAEEvaluation.sparsity(model: model, sae: sae.sae, batches: stride(from: 0, to: tokens.shape[0], by: 16).map {
            tokens.rows($0..<min($0 + 16, tokens.shape[0]))
        })
        let attribution = FeatureAttribution.decoderHeadAttribution(sae.sae, layout: sae.layout).contiguous()     // [d_sae, n_heads]
        let alive = (0..<sae.dSAE).filter { freq.freq[$0] > 0 }
        var heads: [String: [TopFeaturesResult.Entry]] = [:]
        for h in 0..<sae.layout.nHeads {
            let ranked = alive.sorted { (attribution[$0, h], -$0) > (attribution[$1, h], -$1) }.prefix(perHead)
            heads["\(sae.layer).\(h)"] = ranked.map { .init(feature: $0, attribution: attribution[$0, h], density: freq.freq[$0]) }
        }
        return (TopFeaturesResult(heads: heads, deadExcluded: sae.dSAE - alive.count), freq)
    }

    /// The mean attribution of each head's top features to that head.
    static func meanAttribution(_ r: TopFeaturesResult, layer: Int, nHeads: Int) -> [Double] {
        (0..<nHeads).map { h in
            let e = r.heads["\(layer).\(h)"] ?? []
            return Double(e.map(\.attribution).reduce(0, +)) / Double(max(1, e.count))
        }
    }

    public func run(in workspace: Workspace, output: SectionOutput) throws -> SectionOutcome {
        let result = try write(workspace, output: output)
        let (layer, names) = (analysis.sae.layer, workspace.model.headLabels(layer: analysis.sae.layer))
        let means = Self.meanAttribution(result, layer: layer, nHeads: names.count)
        let order = means.indices.sorted { means[$0] > means[$1] }.prefix(3)
        return SectionOutcome(page: "index.html", headline: "most dedicated top features: " + order.map { "\(names[$0]) \(String(format: "%.2f", means[$0]))" }.joined(separator: ", ")
                                + String(format: "; median head %.2f", means.sorted()[means.count / 2]))
    }

    /// Ranks, builds the dashboards of every listed feature, writes a page per head and an overview.
    func write(_ workspace: Workspace, output: SectionOutput) throws -> TopFeaturesResult {
        let (sae, tokens, tokenizer, folder) = (analysis.sae, analysis.rows, workspace.tokenizer, output.folder)
        let (result, _) = try Self.rank(sae, model: workspace.model.model, tokens: tokens, perHead: perHead)
        let (layer, nHeads) = (sae.layer, sae.layout.nHeads)
        var features: [Int] = []
        for h in 0..<nHeads { for e in result.heads["\(layer).\(h)"]! where !features.contains(e.feature) { features.append(e.feature) } }
        workspace.log("layer \(layer): \(features.count) distinct top features over \(nHeads) heads (\(result.deadExcluded) dead features excluded); building dashboards")
        let boards = try DashboardBuilder.build(model: workspace.model.model, sae: sae, features: features, tokens: tokens)
        let byFeature = Dictionary(uniqueKeysWithValues: boards.map { ($0.feature, $0) })
        let labels = workspace.model.headLabels(layer: layer)
        for b in boards {
            try folder.write(DashboardPage.render(b, tokens: tokens, tokenizer: tokenizer, layer: layer, headLabels: labels, up: "../index.html"),
                             to: "features/feature-\(b.feature).html")
        }
        func logits(_ f: Int) -> String { byFeature[f]!.positiveLogits.prefix(5).map { HTML.tokenSpan(tokenizer.decode([$0.token])) }.joined(separator: " ") }
        var overview: [[String]] = []
        for h in 0..<nHeads {
            let name = "\(layer).\(h)", entries = result.heads[name]!
            var body = HTML.h1("Head \(HTML.escape(labels[h])): top features")
                + HTML.p("The \(entries.count) features with the largest share of their decoder norm on this head (Docs/Method.md §2.3), among features that fire on the token set.")
            for (k, e) in entries.enumerated() {
                body += HTML.h2("Top feature \(k) in \(name): " + HTML.link("../features/feature-\(e.feature).html", "feature \(e.feature)"))
                body += HTML.p("Attribution to \(name): \(HTML.number(Double(e.attribution), digits: 2)) · density \(HTML.number(e.density * 100, digits: 4))% · top logits: \(logits(e.feature))")
                body += byFeature[e.feature]!.top.prefix(5).map { DashboardPage.example($0, byFeature[e.feature]!.maxActivation, tokenizer) }.joined(separator: "\n")
            }
            try folder.write(HTML.page(title: "Head \(name) top features", body: body, up: "../index.html"), to: "heads/head-\(name).html")
            overview.append([HTML.link("heads/head-\(name).html", HTML.escape(labels[h])),
                             entries.prefix(3).map { HTML.link("features/feature-\($0.feature).html", "\($0.feature)") + " (\(HTML.number(Double($0.attribution), digits: 2)))" }.joined(separator: ", "),
                             HTML.number(Double(entries.map(\.attribution).reduce(0, +)) / Double(max(1, entries.count)), digits: 2)])
        }
        try folder.writeJSON(result, to: "top-features.json")
        let chart = SVGChart.bars(labels: (0..<nHeads).map { "\(layer).\($0)" }, series: [("mean attribution of the top features", Self.meanAttribution(result, layer: layer, nHeads: nHeads))],
                                  yLabel: "mean attribution", title: "How concentrated each head's top features are")
        let body = HTML.h1("Top features per head — \(HTML.escape(workspace.model.name)), layer \(layer)")
            + HTML.p("\(features.count) distinct features; \(result.deadExcluded) features that never fire on the \(tokens.count) tokens are excluded (decision 20).")
            + HTML.figure(chart, caption: "Mean decoder-norm share of each head's top features on that head: near 1 means features dedicated to the head.", data: "top-features.json")
            + HTML.table(["head", "top 3 features (attribution)", "mean attribution of the top \(perHead)"], overview, leftColumns: 2)
        try folder.write(HTML.page(title: "Top features per head", body: body, up: output.up), to: "index.html")
        return result
    }
}
