// TopFeatures: §4.1 — for every head, the ten features with the largest decoder-norm attribution to it
// (features that never fire on the token set excluded — decision 20), a page per head and an overview.

import Foundation

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

public enum TopFeatures {
    /// Ranks features per head for one SAE on `blocks.L.attn.hook_z`; firing densities come from `tokens`.
    public static func rank(sae: SAE, model: GPT2, tokens: IndexTensor, perHead: Int = 10) throws -> (TopFeaturesResult, FeatureFrequencies) {
        guard let layer = sae.config.layer, let layout = sae.config.headLayout else {
            throw ExperimentInputError("top features need an SAE on blocks.L.attn.hook_z with a head layout (got \(sae.config.hookName))")
        }
        let (_, freq) = try SAEEvaluation.sparsity(model: model, sae: sae, batches: stride(from: 0, to: tokens.shape[0], by: 16).map { s in
            IndexTensor(shape: [min(16, tokens.shape[0] - s), tokens.shape[1]], values: Array(tokens.values[(s * tokens.shape[1])..<(min(tokens.shape[0], s + 16) * tokens.shape[1])]))
        })
        let attribution = FeatureAttribution.decoderHeadAttribution(sae, layout: layout).contiguous()     // [d_sae, n_heads]
        let alive = (0..<sae.config.dSAE).filter { freq.freq[$0] > 0 }
        var heads: [String: [TopFeaturesResult.Entry]] = [:]
        for h in 0..<layout.nHeads {
            let ranked = alive.sorted { (attribution[$0, h], -$0) > (attribution[$1, h], -$1) }.prefix(perHead)
            heads["\(layer).\(h)"] = ranked.map { .init(feature: $0, attribution: attribution[$0, h], density: freq.freq[$0]) }
        }
        return (TopFeaturesResult(heads: heads, deadExcluded: sae.config.dSAE - alive.count), freq)
    }

    /// Ranks, builds the dashboards of every listed feature, writes a page per head and an overview;
    /// returns the overview page's path and the ranking.
    @discardableResult
    public static func run(model: LoadedModel, sae: SAE, tokens: IndexTensor, tokenizer: GPT2Tokenizer, output: String,
                           perHead: Int = 10, up: String? = nil, log: (String) -> Void) throws -> (index: String, result: TopFeaturesResult) {
        let (result, _) = try rank(sae: sae, model: model.model, tokens: tokens, perHead: perHead)
        let layer = sae.config.layer!
        let nHeads = sae.config.headLayout!.nHeads
        var features: [Int] = []
        for h in 0..<nHeads { for e in result.heads["\(layer).\(h)"]! where !features.contains(e.feature) { features.append(e.feature) } }
        log("layer \(layer): \(features.count) distinct top features over \(nHeads) heads (\(result.deadExcluded) dead features excluded); building dashboards")
        let boards = try DashboardBuilder.build(model: model.model, sae: sae, features: features, tokens: tokens)
        let byFeature = Dictionary(uniqueKeysWithValues: boards.map { ($0.feature, $0) })
        let folder = try ReportFolder(output)
        let labels = MainJob.headNames(model, layer: layer)
        for b in boards {
            try folder.write(DashboardPage.render(b, tokens: tokens, tokenizer: tokenizer, layer: layer, headLabels: labels, up: "../index.html"),
                             to: "features/feature-\(b.feature).html")
        }
        func logits(_ f: Int) -> String {
            byFeature[f]!.positiveLogits.prefix(5).map { "<span class=\"tok\">\(HTML.tokenLabel(tokenizer.decode([$0.token])))</span>" }.joined(separator: " ")
        }
        var overview: [[String]] = []
        for h in 0..<nHeads {
            let name = "\(layer).\(h)", entries = result.heads[name]!
            var body = "<h1>Head \(HTML.escape(labels[h])): top features</h1>\n<p>The \(entries.count) features with the largest share of their decoder norm on this head (SPEC §2.3), among features that fire on the token set.</p>\n"
            for (k, e) in entries.enumerated() {
                let b = byFeature[e.feature]!
                body += "<h2>Top feature \(k) in \(name): <a href=\"../features/feature-\(e.feature).html\">feature \(e.feature)</a></h2>\n"
                body += "<p>Attribution to \(name): \(HTML.number(Double(e.attribution), digits: 2)) · density \(HTML.number(e.density * 100, digits: 4))% · top logits: \(logits(e.feature))</p>\n"
                body += b.top.prefix(5).map { DashboardPage.example($0, b.maxActivation, tokenizer) }.joined(separator: "\n")
            }
            try folder.write(HTML.page(title: "Head \(name) top features", body: body, up: "../index.html"), to: "heads/head-\(name).html")
            overview.append(["<a href=\"heads/head-\(name).html\">\(HTML.escape(labels[h]))</a>",
                             entries.prefix(3).map { "<a href=\"features/feature-\($0.feature).html\">\($0.feature)</a> (\(HTML.number(Double($0.attribution), digits: 2)))" }.joined(separator: ", "),
                             HTML.number(Double(entries.map(\.attribution).reduce(0, +)) / Double(max(1, entries.count)), digits: 2)])
        }
        try folder.writeJSON(result, to: "top-features.json")
        let chart = SVGChart.bars(labels: (0..<nHeads).map { "\(layer).\($0)" }, series: [("mean attribution of the top features", (0..<nHeads).map { h in
            let e = result.heads["\(layer).\(h)"]!
            return Double(e.map(\.attribution).reduce(0, +)) / Double(max(1, e.count))
        })], yLabel: "mean attribution", title: "How concentrated each head's top features are")
        let body = "<h1>Top features per head — \(HTML.escape(model.name)), layer \(layer)</h1>\n"
            + "<p>\(features.count) distinct features; \(result.deadExcluded) features that never fire on the \(tokens.count) tokens are excluded (decision 20).</p>\n"
            + HTML.figure(chart, caption: "Mean decoder-norm share of each head's top features on that head: near 1 means features dedicated to the head.", data: "top-features.json")
            + HTML.table(["head", "top 3 features (attribution)", "mean attribution of the top \(perHead)"], overview, leftColumns: 2)
        try folder.write(HTML.page(title: "Top features per head", body: body, up: up), to: "index.html")
        return (output + "/index.html", result)
    }
}
