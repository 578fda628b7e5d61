// MainJob: train an attention-output SAE, evaluate it, look for induction features and write the
// report — the README's first command (on the planted-circuit model unless files are given).

import Foundation

public struct MainJobSettings: Sendable {
    public var training: TrainSAESettings
    /// Output folder of the report.
    public var output: String
    /// Held-out rows (of 128 tokens) for the induction-feature search and the dashboards.
    public var analysisRows = 256
    /// Dashboards of the N most frequently firing features (plus every induction feature found, up to 8).
    public var dashboards = 16
    /// Heads of the SAE's layer whose decoder-norm share counts as "induction" (default: the planted
    /// model's induction heads; none for other models unless given).
    public var inductionHeads: [Int]?
    public init(training: TrainSAESettings, output: String) { self.training = training; self.output = output }
}

/// What the main job found, also written as `summary.json`.
public struct MainJobSummary: Codable, Sendable {
    public var model: String
    public var layer: Int
    public var dSAE: Int
    public var trainingTokens: Int
    public var evaluation: SAEEvaluationSummary
    public var inductionFeatures: [InductionFeatureScore]
    public var bestCandidates: [InductionFeatureScore]
    public var dashboards: [Int]
    public var seconds: Double
}

public enum MainJob {
    /// Runs the job and returns the path of the report's index page.
    @discardableResult
    public static func run(inputs: ExperimentInputs, settings: MainJobSettings, log: @escaping (String) -> Void) throws -> String {
        let start = Date()
        // Everything that can be wrong with the inputs is checked before any work.
        let tokenizer = try inputs.loadTokenizer()
        _ = try inputs.corpusSpec()
        let loaded = try inputs.loadModel(log: log)
        let s = settings.training
        guard s.layer < loaded.model.config.nLayers else {
            throw ExperimentInputError("layer \(s.layer) is not in \(loaded.name) (it has \(loaded.model.config.nLayers) layers)")
        }
        let out = try ReportFolder(settings.output)
        log("model: \(loaded.name); training a \(s.dSAE)-feature SAE on blocks.\(s.layer).attn.hook_z for \(s.trainingTokens) tokens (\(s.steps) steps of \(s.batchSize))")

        let trained = try TrainSAERunner.run(model: loaded, inputs: inputs, tokenizer: tokenizer, settings: s, log: log)
        try trained.sae.save(saeLens: out.path + "/sae")
        // The planted model's default SAE, reused by the section executables.
        if loaded.isPlanted && inputs.modelPath == nil && s == TrainSAESettings.planted() && inputs.corpus.isEmpty {
            try trained.sae.save(saeLens: ExperimentInputs.plantedSAEPath)
        }
        let e = trained.evaluation
        log(String(format: "L0 %.1f, alive %.1f%%, CE loss recovered %.3f (clean %.3f, spliced %.3f, zero-ablated %.3f)",
                   e.l0, e.aliveFraction * 100, e.ceLossRecovered, e.ceClean, e.ceSpliced, e.ceZeroAblated))

        log("searching for induction features on \(settings.analysisRows) held-out rows")
        let rows = try TrainSAERunner.heldOutRows(inputs: inputs, tokenizer: tokenizer, rows: settings.analysisRows)
        let heads = settings.inductionHeads ?? loaded.inductionHeads(layer: s.layer)
        let scores = try InductionFeatures.score(model: loaded.model, sae: trained.sae, tokens: rows, inductionHeads: heads)
        let found = scores.filter { $0.isInduction() }.sorted { $0.specificity * $0.sensitivity > $1.specificity * $1.sensitivity }
        let ranked = scores.filter { $0.narrowPositions >= 5 }.sorted { $0.specificity * $0.sensitivity > $1.specificity * $1.sensitivity }

        let byFrequency = trained.frequencies.freq.enumerated().sorted { $0.element > $1.element }.prefix(settings.dashboards).map(\.offset)
        var features: [Int] = []
        for f in found.prefix(8).map(\.feature) + byFrequency where !features.contains(f) { features.append(f) }
        log("building \(features.count) dashboards")
        let boards = try DashboardBuilder.build(model: loaded.model, sae: trained.sae, features: features, tokens: rows)

        // Pages.
        let headLabels = headNames(loaded, layer: s.layer)
        let scoreOf = Dictionary(scores.map { ($0.feature, $0) }, uniquingKeysWith: { a, _ in a })
        for b in boards {
            let extra = scoreOf[b.feature].map { inductionParagraph($0, tokenizer) } ?? ""
            try out.write(DashboardPage.render(b, tokens: rows, tokenizer: tokenizer, layer: s.layer, headLabels: headLabels, extra: extra),
                          to: "features/feature-\(b.feature).html")
            try out.writeJSON(b, to: "features/feature-\(b.feature).json")
        }
        try TrainSAEReport.writeHistory(trained.history, to: out, as: "training.csv")
        try out.writeCSV(header: ["feature", "target", "target_string", "firings", "specificity", "narrow_positions", "sensitivity", "induction_head_share", "dfa_examples", "dfa_peak_after_earlier_occurrence", "is_induction"],
                         rows: scores.map { ["\($0.feature)", "\($0.target)", tokenizer.decode([$0.target]), "\($0.firings)", "\($0.specificity)", "\($0.narrowPositions)",
                                             "\($0.sensitivity)", "\($0.inductionHeadShare)", "\($0.dfaExamples)", "\($0.dfaPeakAfterEarlierOccurrence)", "\($0.isInduction())"] },
                         to: "induction-features.csv")
        let summary = MainJobSummary(model: loaded.name, layer: s.layer, dSAE: s.dSAE, trainingTokens: s.trainingTokens, evaluation: e,
                                     inductionFeatures: found, bestCandidates: Array(ranked.prefix(10)), dashboards: features,
                                     seconds: Date().timeIntervalSince(start))
        try out.writeJSON(summary, to: "summary.json")
        try out.writeJSON(s, to: "settings.json")
        try out.write(indexPage(summary, trained: trained, loaded: loaded, settings: settings, ranked: ranked, tokenizer: tokenizer), to: "index.html")
        log(found.isEmpty ? "no feature passed the induction-feature test (best candidates in the report)"
                          : "induction features: " + found.prefix(8).map { "\($0.feature) (→ \(tokenizer.decode([$0.target]).debugDescription), specificity \(String(format: "%.2f", $0.specificity)), sensitivity \(String(format: "%.2f", $0.sensitivity)))" }.joined(separator: ", "))
        log(String(format: "done in %.0f s", Date().timeIntervalSince(start)))
        return out.path + "/index.html"
    }

    static func headNames(_ m: LoadedModel, layer: Int) -> [String] {
        (0..<m.model.config.nHeads).map { h in
            guard let r = m.roles else { return "\(layer).\(h)" }
            let head = PlantedCircuitModel.Head(layer: layer, head: h)
            switch head {
            case r.shortInduction: return "\(head) short-prefix induction"
            case r.longInduction: return "\(head) long-prefix induction"
            case r.previousToken: return "\(head) previous token"
            case r.twoBack: return "\(head) two back"
            default: return "\(head)"
            }
        }
    }

    static func inductionParagraph(_ s: InductionFeatureScore, _ tok: GPT2Tokenizer) -> String {
        "<p>Induction test for T = <span class=\"tok\">\(HTML.tokenLabel(tok.decode([s.target])))</span>: specificity \(HTML.number(s.specificity)) (share of \(s.firings) firings where an earlier occurrence of the current token was followed by T), sensitivity \(HTML.number(s.sensitivity)) (of \(s.narrowPositions) positions where every earlier occurrence was followed by T), induction-head share \(HTML.number(Double(s.inductionHeadShare))), DFA peak after an earlier occurrence in \(HTML.number(s.dfaPeakAfterEarlierOccurrence * 100, digits: 0))% of \(s.dfaExamples) top examples — \(s.isInduction() ? "<b>an induction feature</b>" : "not an induction feature by the thresholds 0.85 / 0.5 / 0.5 / 0.9")</p>\n"
    }

    static func indexPage(_ summary: MainJobSummary, trained: TrainSAEResult, loaded: LoadedModel, settings: MainJobSettings,
                          ranked: [InductionFeatureScore], tokenizer: GPT2Tokenizer) -> String {
        let e = summary.evaluation, s = settings.training
        var body = "<h1>Attention-output SAE on \(HTML.escape(loaded.name)), layer \(s.layer)</h1>\n"
        if loaded.isPlanted {
            body += "<p class=\"note\">The planted-circuit model is built by our code with known heads (Docs/PlantedModel.md); its results check the method end to end, they are not GPT-2's.</p>\n"
        }
        body += "<h2>Evaluation (Table 2 style, \(e.tokens) held-out tokens)</h2>\n"
        body += TrainSAEReport.evaluationTable(e, layer: s.layer, dSAE: s.dSAE)
        body += "<p class=\"note\">\(s.trainingTokens) training tokens, batch \(s.batchSize), lr \(s.training.lr), l1 \(s.training.l1Coeff); \(String(format: "%.0f", trained.seconds)) s of training and evaluation, model forward \(String(format: "%.0f", trained.modelTokensPerSecond)) tokens/s. <a href=\"settings.json\">settings</a> · <a href=\"summary.json\">summary</a> · SAE in SAELens format: <code>sae/</code></p>\n"
        body += "<h2>Training curves</h2>\n" + TrainSAEReport.curves(trained.history, data: "training.csv")
        body += "<h2>Induction features</h2>\n"
        body += "<p>A feature is an induction feature for the token T it promotes most when, on held-out rows, ≥ 85% of its firings are at positions whose token occurred earlier followed by T (specificity), it fires at ≥ 50% of positions where every earlier occurrence was followed by T (sensitivity), ≥ 50% of its decoder norm is on the induction heads, and its DFA on ≥ 90% of its top examples peaks right after an earlier occurrence.</p>\n"
        let show = Array((summary.inductionFeatures + ranked.filter { !$0.isInduction() }).prefix(12))
        body += HTML.table(["feature", "T", "firings", "specificity", "sensitivity", "narrow positions", "induction-head share", "DFA peak", "induction?"],
                           show.map { f in
                               let link = summary.dashboards.contains(f.feature) ? "<a href=\"features/feature-\(f.feature).html\">\(f.feature)</a>" : "\(f.feature)"
                               return [link, "<span class=\"tok\">\(HTML.tokenLabel(tokenizer.decode([f.target])))</span>", "\(f.firings)", HTML.number(f.specificity), HTML.number(f.sensitivity),
                                       "\(f.narrowPositions)", HTML.number(Double(f.inductionHeadShare)), HTML.number(f.dfaPeakAfterEarlierOccurrence), f.isInduction() ? "yes" : "no"]
                           }, leftColumns: 2)
        body += "<p class=\"note\">All features: <a href=\"induction-features.csv\">induction-features.csv</a>.</p>\n"
        body += "<h2>Dashboards</h2>\n<p>" + summary.dashboards.map { f in "<a href=\"features/feature-\(f).html\">feature \(f)</a>" }.joined(separator: " · ") + "</p>\n"
        return HTML.page(title: "Attention SAE report", body: body)
    }
}
