// FeatureDashboards: the dashboards of SPEC §5 for chosen features or the N most active, with an
// index page linking all of them — and the default SAE the section executables share.

import Foundation

extension ExperimentInputs {
    /// Where the planted model's default SAE (the planted recipe on layer 1) is kept once trained.
    public static var plantedSAEPath: String {
        (PlantedCircuitModel.cachePath() as NSString).deletingLastPathComponent + "/sae-v\(PlantedCircuitModel.version)-layer1"
    }

    /// The SAE a section runs on: the given file (SAELens folder or the paper's `.pt`), or — on the
    /// planted model — the default one from the cache, trained there with the planted recipe on first
    /// use (a few minutes; `reproduce` and `train-sae` with default settings leave it there too).
    public func loadSAE(_ path: String?, cfg: String? = nil, model: LoadedModel, tokenizer: GPT2Tokenizer, log: @escaping (String) -> Void) throws -> SAE {
        if let path { return try TrainSAEJob.loadSAE(path, cfg: cfg, model: model.model) }
        guard model.isPlanted else {
            throw ExperimentInputError("give an SAE with --sae (a SAELens folder or the paper's .pt); only the planted model has a default one")
        }
        let cached = Self.plantedSAEPath
        if FileManager.default.fileExists(atPath: cached + "/cfg.json") { return try TrainSAEJob.loadSAE(cached, cfg: nil, model: model.model) }
        log("no trained SAE for the planted model yet: training one with the planted recipe (saved to \(cached))")
        let r = try TrainSAERunner.run(model: model, inputs: self, tokenizer: tokenizer, settings: .planted(), log: log)
        try r.sae.save(saeLens: cached)
        return r.sae
    }
}

public struct FeatureDashboardSettings: Sendable {
    /// Features to show; empty = the `count` most frequently firing on the token set.
    public var features: [Int] = []
    public var count = 24
    /// Held-out rows (of 128 tokens) the dashboards are built on.
    public var rows = 512
    public var dashboard = DashboardConfig()
    /// HTML paragraphs added to chosen features' pages (e.g. their induction test).
    public var notes: [Int: String] = [:]
    public init() {}
}

public enum FeatureDashboards {
    /// Builds and writes the dashboards; returns the index page's path.
    @discardableResult
    public static func run(model: LoadedModel, sae: SAE, tokens: IndexTensor, tokenizer: GPT2Tokenizer, settings s: FeatureDashboardSettings,
                           output: String, up: String? = nil, log: (String) -> Void) throws -> String {
        guard let layer = sae.config.layer else { throw ExperimentInputError("the SAE's hook \(sae.config.hookName) has no layer") }
        for f in s.features where f < 0 || f >= sae.config.dSAE {
            throw ExperimentInputError("feature \(f) is not in the SAE (it has \(sae.config.dSAE) features)")
        }
        var features = s.features
        if features.isEmpty {
            let (_, freq) = try SAEEvaluation.sparsity(model: model.model, sae: sae, batches: [tokens])
            features = freq.freq.enumerated().filter { $0.element > 0 }.sorted { $0.element > $1.element }.prefix(s.count).map(\.offset)
        }
        log("building \(features.count) dashboards on \(tokens.count) tokens")
        let boards = try DashboardBuilder.build(model: model.model, sae: sae, features: features, tokens: tokens, config: s.dashboard)
        let folder = try ReportFolder(output)
        let headLabels = MainJob.headNames(model, layer: layer)
        var rows: [[String]] = []
        for b in boards {
            try folder.write(DashboardPage.render(b, tokens: tokens, tokenizer: tokenizer, layer: layer, headLabels: headLabels, extra: s.notes[b.feature] ?? ""),
                             to: "features/feature-\(b.feature).html")
            try folder.writeJSON(b, to: "features/feature-\(b.feature).json")
            let topHead = b.headAttribution.indices.max { b.headAttribution[$0] < b.headAttribution[$1] } ?? 0
            rows.append(["<a href=\"features/feature-\(b.feature).html\">\(b.feature)</a>", HTML.number(b.density * 100, digits: 4), HTML.number(Double(b.maxActivation)),
                         HTML.escape(headLabels[topHead]) + " (" + HTML.number(Double(b.headAttribution[topHead]), digits: 2) + ")",
                         b.positiveLogits.prefix(5).map { "<span class=\"tok\">\(HTML.tokenLabel(tokenizer.decode([$0.token])))</span>" }.joined(separator: " ")])
        }
        let body = "<h1>Feature dashboards — \(HTML.escape(model.name)), \(HTML.escape(sae.config.hookName))</h1>\n"
            + "<p>\(boards.count) features on \(tokens.count) held-out tokens; each page shows the top activations, interval samples, DFA by source position, head attribution, logit effects and the activation histogram (SPEC §5).</p>\n"
            + HTML.table(["feature", "density %", "max act", "top head", "top logits"], rows, leftColumns: 1)
        try folder.write(HTML.page(title: "Feature dashboards", body: body, up: up), to: "index.html")
        return output + "/index.html"
    }
}
