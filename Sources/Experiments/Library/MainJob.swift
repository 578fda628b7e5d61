// MainJob: `reproduce` — every section of the paper's analysis into one report site: train (or
// evaluate) an attention-output SAE, find its induction features, dashboards, the induction deep dive,
// top features per head, long- vs short-prefix induction and the IOI analysis, with an index page.
// The README's first command (on the planted-circuit model unless files are given).

import Foundation

/// The sections of the report site, named as their executables.
public enum ReportSection: String, CaseIterable, Codable, Sendable {
    case trainSAE = "train-sae"
    case inductionFeatures = "induction-features"
    case featureDashboards = "feature-dashboards"
    case inductionDeepDive = "induction-deep-dive"
    case topFeatures = "top-features"
    case longPrefixInduction = "long-prefix-induction"
    case ioiCircuit = "ioi-circuit"

    /// The part of the paper the section reproduces.
    public var paper: String {
        switch self {
        case .trainSAE: "Table 2"
        case .inductionFeatures: "§4.2"
        case .featureDashboards: "§3, dashboards"
        case .inductionDeepDive: "Fig. 2"
        case .topFeatures: "§4.1"
        case .longPrefixInduction: "Fig. 4, Fig. 19"
        case .ioiCircuit: "Fig. 16a, Fig. 5"
        }
    }
}

public struct MainJobSettings: Sendable {
    public var training: TrainSAESettings
    /// Output folder of the report site.
    public var output: String
    /// A trained SAE to analyse instead of training one (a SAELens folder or the paper's `.pt`, with
    /// `saeConfig` for a `.pt` whose `_cfg.json` is not beside it); `train-sae` then only evaluates it.
    public var sae: String?
    public var saeConfig: String?
    /// Sections to leave out.
    public var skip: Set<ReportSection> = []
    /// Held-out rows (of 128 tokens) for the induction-feature search, dashboards, deep dive and top features.
    public var analysisRows = 256
    /// Dashboards of the N most frequently firing features (plus every induction feature found, up to 8).
    public var dashboards = 16
    /// Heads of the SAE's layer whose decoder-norm share counts as "induction" (default: the planted
    /// model's induction heads; none for other models unless given).
    public var inductionHeads: [Int]?
    /// Synthetic examples per prefix length in the long-prefix section (default: 100 on the planted model, 400 otherwise).
    public var longPrefixExamples: Int?
    /// Corpus rows scanned for the long-prefix section's detections and intervention (default 1600).
    public var longPrefixRows: Int?
    public init(training: TrainSAESettings, output: String) { self.training = training; self.output = output }
}

/// One section's outcome in the site index and `summary.json`.
public struct SectionSummary: Codable, Sendable {
    public var section: ReportSection
    /// The page, relative to the site's index.
    public var page: String
    /// The finding in one line (plain text).
    public var headline: String
    public var seconds: Double
}

/// What the main job found, also written as `summary.json`.
public struct MainJobSummary: Codable, Sendable {
    public var model: String
    public var layer: Int
    public var dSAE: Int
    /// 0 when a given SAE was analysed.
    public var trainingTokens: Int
    public var evaluation: SAEEvaluationSummary
    public var inductionFeatures: [InductionFeatureScore]
    public var bestCandidates: [InductionFeatureScore]
    public var dashboards: [Int]
    public var sections: [SectionSummary]
    public var seconds: Double
}

public enum MainJob {
    /// Runs every section not skipped and returns the path of the site's index page.
    @discardableResult
    public static func run(inputs: ExperimentInputs, settings: MainJobSettings, log: @escaping (String) -> Void) throws -> String {
        let start = Date()
        // Everything that can be wrong with the inputs is checked before any work.
        let tokenizer = try inputs.loadTokenizer()
        _ = try inputs.corpusSpec()
        let loaded = try inputs.loadModel(log: log)
        let given = try settings.sae.map { try TrainSAEJob.loadSAE($0, cfg: settings.saeConfig, model: loaded.model) }
        var s = settings.training
        if let given { s.layer = given.config.layer!; s.dSAE = given.config.dSAE }
        guard s.layer < loaded.model.config.nLayers else {
            throw ExperimentInputError("layer \(s.layer) is not in \(loaded.name) (it has \(loaded.model.config.nLayers) layers)")
        }
        // Checked here, before training, not when the induction sections reach them.
        let nHeads = loaded.model.config.nHeads
        for h in settings.inductionHeads ?? [] where h < 0 || h >= nHeads {
            throw ExperimentInputError("--induction-heads: head \(h) is not in \(loaded.name); allowed: 0…\(nHeads - 1)")
        }
        guard settings.dashboards >= 0, settings.analysisRows >= 1 else {
            throw ExperimentInputError("--dashboards \(settings.dashboards) / --rows \(settings.analysisRows); allowed: ≥ 0 / ≥ 1")
        }
        let out = try ReportFolder(settings.output)
        var sections: [SectionSummary] = []
        /// Runs one section unless skipped; `earlier` is time spent on it before (shared work).
        func section(_ which: ReportSection, earlier: Double = 0, _ body: () throws -> (page: String, headline: String)) rethrows {
            guard !settings.skip.contains(which) else { return }
            log("── \(which.rawValue) (\(which.paper))")
            let t0 = Date()
            let (page, headline) = try body()
            sections.append(SectionSummary(section: which, page: page, headline: headline, seconds: earlier + Date().timeIntervalSince(t0)))
            log("   \(headline)")
        }

        // Table 2: the SAE, trained here or given.
        let t0 = Date()
        let sae: SAE, evaluation: SAEEvaluationSummary, frequencies: FeatureFrequencies
        let train = try ReportFolder(out.path + "/train-sae")
        var trainBody: String
        if let given {
            log("── train-sae (Table 2): evaluating the given SAE \(settings.sae!) (\(given.config.dSAE) features on \(given.config.hookName))")
            (evaluation, frequencies) = try TrainSAERunner.evaluate(model: loaded.model, sae: given, inputs: inputs, tokenizer: tokenizer, rows: s.evaluationRows)
            sae = given
            trainBody = "<h1>The given SAE on \(HTML.escape(loaded.name)), layer \(s.layer)</h1>\n<p><code>\(HTML.escape(settings.sae!))</code></p>\n"
                + TrainSAEReport.evaluationTable(evaluation, layer: s.layer, dSAE: s.dSAE, l1Coeff: .nan)
            try train.writeJSON(evaluation, to: "evaluation.json")
        } else {
            let layers = s.layers
            log("── train-sae (Table 2): model \(loaded.name); \(s.members.count == 1 ? "a \(s.dSAE)-feature SAE" : "\(s.members.count) SAEs") on "
                + layers.map { "blocks.\($0).attn.hook_z" }.joined(separator: ", ") + " for \(s.trainingTokens) tokens (\(s.steps) steps of \(s.batchSize))")
            let trained = try TrainSAERunner.run(model: loaded, inputs: inputs, tokenizer: tokenizer, settings: s, log: log)
            // The sections analyse the SAE of the settings' layer (the first one trained if it is not among them).
            let primary = trained.saes.first { $0.member.layer == s.layer } ?? trained.saes[0]
            (sae, evaluation, frequencies) = (primary.sae, primary.evaluation, primary.frequencies)
            s.layer = primary.member.layer
            // The planted model's default SAE, reused by the section executables.
            if loaded.isPlanted && inputs.modelPath == nil && s == TrainSAESettings.planted() && inputs.corpus.isEmpty {
                try sae.save(saeLens: ExperimentInputs.plantedSAEPath)
            }
            trainBody = "<h1>Attention-output SAE\(trained.saes.count == 1 ? "" : "s") on \(HTML.escape(loaded.name)), layer\(layers.count == 1 ? "" : "s") \(layers.map(String.init).joined(separator: ", "))</h1>\n"
                + (try TrainSAEReport.write(trained, settings: s, to: train))
                + (trained.saes.count == 1 ? "" : "<p class=\"note\">The other sections analyse the SAE of layer \(s.layer).</p>\n")
        }
        try train.write(HTML.page(title: "train-sae", body: trainBody, up: "../index.html"), to: "index.html")
        let e = evaluation
        let evalLine = String(format: "L0 %.1f, alive %.1f%%, CE loss recovered %.3f (clean %.3f, spliced %.3f, zero-ablated %.3f)",
                              e.l0, e.aliveFraction * 100, e.ceLossRecovered, e.ceClean, e.ceSpliced, e.ceZeroAblated)
        log("   " + evalLine)
        sections.append(SectionSummary(section: .trainSAE, page: "train-sae/index.html", headline: evalLine, seconds: Date().timeIntervalSince(t0)))

        let rows = try TrainSAERunner.heldOutRows(inputs: inputs, tokenizer: tokenizer, rows: settings.analysisRows)
        let heads = settings.inductionHeads ?? loaded.inductionHeads(layer: s.layer)
        var found: [InductionFeatureScore] = [], ranked: [InductionFeatureScore] = [], scores: [InductionFeatureScore] = []
        let needsScores = !settings.skip.isSuperset(of: [.inductionFeatures, .featureDashboards, .inductionDeepDive])
        let scoringStart = Date()
        if needsScores {
            log("scoring every feature as an induction feature on \(rows.shape[0]) held-out rows")
            scores = try InductionFeatures.score(model: loaded.model, sae: sae, tokens: rows, inductionHeads: heads)
            (found, ranked) = InductionDeepDive.ranked(scores)
        }
        let byFrequency = frequencies.freq.enumerated().filter { $0.element > 0 }.sorted { $0.element > $1.element }.prefix(settings.dashboards).map(\.offset)
        var dashboardFeatures: [Int] = []
        for f in found.prefix(8).map(\.feature) + byFrequency where !dashboardFeatures.contains(f) { dashboardFeatures.append(f) }
        if settings.skip.contains(.featureDashboards) { dashboardFeatures = [] }
        func dashboardLink(_ f: Int, from prefix: String) -> String? {
            dashboardFeatures.contains(f) ? "\(prefix)feature-dashboards/features/feature-\(f).html" : nil
        }

        try section(.inductionFeatures, earlier: Date().timeIntervalSince(scoringStart)) {
            try out.writeCSV(header: ["feature", "target", "target_string", "firings", "specificity", "narrow_positions", "sensitivity", "induction_head_share", "dfa_examples", "dfa_peak_after_earlier_occurrence", "is_induction"],
                             rows: scores.map { ["\($0.feature)", "\($0.target)", tokenizer.decode([$0.target]), "\($0.firings)", "\($0.specificity)", "\($0.narrowPositions)",
                                                 "\($0.sensitivity)", "\($0.inductionHeadShare)", "\($0.dfaExamples)", "\($0.dfaPeakAfterEarlierOccurrence)", "\($0.isInduction())"] },
                             to: "induction-features/induction-features.csv")
            try out.write(inductionFeaturesPage(found: found, ranked: ranked, heads: heads, rows: rows, tokenizer: tokenizer, link: { dashboardLink($0, from: "../") }),
                          to: "induction-features/index.html")
            let headline = found.isEmpty ? "no feature passed the induction-feature test (best candidates on the page)"
                : "\(found.count) induction feature\(found.count == 1 ? "" : "s"): " + found.prefix(4).map {
                    "\($0.feature) → \(tokenizer.decode([$0.target]).debugDescription) (specificity \(String(format: "%.2f", $0.specificity)), sensitivity \(String(format: "%.2f", $0.sensitivity)))"
                }.joined(separator: ", ")
            return ("induction-features/index.html", headline)
        }

        try section(.featureDashboards) {
            var d = FeatureDashboardSettings()
            d.features = dashboardFeatures
            let scoreOf = Dictionary(scores.map { ($0.feature, $0) }, uniquingKeysWith: { a, _ in a })
            for f in dashboardFeatures { d.notes[f] = scoreOf[f].map { inductionParagraph($0, tokenizer) } }
            try FeatureDashboards.run(model: loaded, sae: sae, tokens: rows, tokenizer: tokenizer, settings: d,
                                      output: out.path + "/feature-dashboards", up: "../index.html", log: log)
            let inducing = found.prefix(8).count
            return ("feature-dashboards/index.html", "\(dashboardFeatures.count) dashboards: the most frequently firing features"
                        + (inducing > 0 ? " and the \(inducing) induction feature\(inducing == 1 ? "" : "s")" : ""))
        }

        try section(.inductionDeepDive) {
            guard let best = found.first ?? ranked.first else {
                return ("", "not run: no feature fires at enough induction positions")
            }
            let r = try InductionDeepDive.run(model: loaded, sae: sae, feature: best.feature, target: best.target, tokens: rows, tokenizer: tokenizer)
            _ = try InductionDeepDive.writeReport(r, model: loaded, sae: sae, tokens: rows, tokenizer: tokenizer,
                                                  to: try ReportFolder(out.path + "/induction-deep-dive"), up: "../index.html")
            return ("induction-deep-dive/index.html", String(format: "feature %d → %@: specificity %.3f (%d of %d firings), sensitivity %.3f (%d of %d proxy positions missed)",
                                                             r.feature, r.targetString.debugDescription, r.specificity, r.firingsWithProxy, r.firings,
                                                             r.sensitivity, r.falseNegatives, r.proxyPositions))
        }

        try section(.topFeatures) {
            let result = try TopFeatures.run(model: loaded, sae: sae, tokens: rows, tokenizer: tokenizer, output: out.path + "/top-features",
                                             up: "../index.html", log: log).result
            let names = headNames(loaded, layer: s.layer)
            let means = (0..<names.count).map { h in
                let e = result.heads["\(s.layer).\(h)"] ?? []
                return Double(e.map(\.attribution).reduce(0, +)) / Double(max(1, e.count))
            }
            let order = means.indices.sorted { means[$0] > means[$1] }.prefix(3)
            return ("top-features/index.html", "most dedicated top features: " + order.map { "\(names[$0]) \(String(format: "%.2f", means[$0]))" }.joined(separator: ", ")
                        + String(format: "; median head %.2f", means.sorted()[means.count / 2]))
        }

        try section(.longPrefixInduction) {
            var l = LongPrefixSettings.defaults(for: loaded)
            if let n = settings.longPrefixExamples { l.examples = n }
            if let n = settings.longPrefixRows { (l.detectionRows, l.interventionRows) = (n, n) }
            var stream = try inputs.rows(heldOut: false, tokenizer: tokenizer)
            guard let tokens = try stream.nextRows(l.detectionRows) else { throw ExperimentInputError("the corpus has no rows of 128 tokens") }
            let r = try LongPrefixInduction.run(model: loaded, rows: tokens, tokenizer: tokenizer, settings: l, log: log)
            let page = try LongPrefixInduction.writeReport(r, settings: l, to: out, isPlanted: loaded.isPlanted, up: "../index.html")
            return (page, [r.long, r.short].map { String(format: "%@: score %.2f at prefix 1, %.2f at %d; clean %.2f → corrupted %.2f", $0.head, $0.inductionScore[0], $0.inductionScore.last!, l.maxPrefix, $0.clean, $0.corrupted) }.joined(separator: "; "))
        }

        try section(.ioiCircuit) {
            let settingsIOI = IOICircuitSettings.defaults(for: loaded)
            let r = try IOICircuit.run(model: loaded, sae: sae, tokenizer: tokenizer, settings: settingsIOI, log: log)
            let page = try IOICircuit.writeReport(r, settings: settingsIOI, to: out, isPlanted: loaded.isPlanted, up: "../index.html",
                                                  featurePages: { dashboardLink($0, from: "../") })
            let worst = IOICircuit.mostNegative(r, count: 1).first
            return (page, (loaded.isPlanted ? "not meaningful on the planted model; " : "")
                        + String(format: "logit difference clean %.2f, filler %.2f, alongside %.2f, zero-ablated %.2f", r.cleanSummary.mean, r.fillerSummary.mean, r.alongsideSummary.mean, r.zeroAblationSummary.mean)
                        + (worst.map { String(format: "; most negative ablation: %@ (%@) %.3f", $0.feature < 0 ? "error term" : "feature \($0.feature)", $0.template, $0.effect) } ?? ""))
        }

        let summary = MainJobSummary(model: loaded.name, layer: s.layer, dSAE: s.dSAE, trainingTokens: given == nil ? s.trainingTokens : 0,
                                     evaluation: evaluation, inductionFeatures: found, bestCandidates: Array(ranked.prefix(10)), dashboards: dashboardFeatures,
                                     sections: sections, seconds: Date().timeIntervalSince(start))
        try out.writeJSON(summary, to: "summary.json")
        try out.write(indexPage(summary, loaded: loaded), to: "index.html")
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

    static func inductionFeaturesPage(found: [InductionFeatureScore], ranked: [InductionFeatureScore], heads: [Int], rows: IndexTensor,
                                      tokenizer: GPT2Tokenizer, link: (Int) -> String?) -> String {
        var body = "<h1>Induction features</h1>\n"
        body += "<p>A feature is an induction feature for the token T it promotes most when, on \(rows.shape[0]) held-out rows, ≥ 85% of its firings are at positions whose token occurred earlier followed by T (specificity), it fires at ≥ 50% of positions where every earlier occurrence was followed by T (sensitivity), ≥ 50% of its decoder norm is on the induction heads (\(heads.isEmpty ? "none given" : heads.map(String.init).joined(separator: ", "))), and its DFA on ≥ 90% of its top examples peaks right after an earlier occurrence.</p>\n"
        let show = Array((found + ranked.filter { !$0.isInduction() }).prefix(12))
        body += HTML.table(["feature", "T", "firings", "specificity", "sensitivity", "narrow positions", "induction-head share", "DFA peak", "induction?"],
                           show.map { f in
                               let name = link(f.feature).map { "<a href=\"\(HTML.escape($0))\">\(f.feature)</a>" } ?? "\(f.feature)"
                               return [name, "<span class=\"tok\">\(HTML.tokenLabel(tokenizer.decode([f.target])))</span>", "\(f.firings)", HTML.number(f.specificity), HTML.number(f.sensitivity),
                                       "\(f.narrowPositions)", HTML.number(Double(f.inductionHeadShare)), HTML.number(f.dfaPeakAfterEarlierOccurrence), f.isInduction() ? "yes" : "no"]
                           }, leftColumns: 2)
        body += "<p class=\"note\">All features: <a href=\"induction-features.csv\">induction-features.csv</a>.</p>\n"
        return HTML.page(title: "Induction features", body: body, up: "../index.html")
    }

    static func indexPage(_ summary: MainJobSummary, loaded: LoadedModel) -> String {
        var body = "<h1>Attention-output SAE report: \(HTML.escape(loaded.name)), layer \(summary.layer)</h1>\n"
        if loaded.isPlanted {
            body += "<p class=\"note\">The planted-circuit model is built by our code with known heads (Docs/PlantedModel.md); its results check the method end to end, they are not GPT-2's.</p>\n"
        }
        let e = summary.evaluation
        body += "<p>\(summary.trainingTokens > 0 ? "A \(summary.dSAE)-feature SAE trained on \(summary.trainingTokens) tokens" : "The given \(summary.dSAE)-feature SAE") on <code>blocks.\(summary.layer).attn.hook_z</code>: L0 \(HTML.number(e.l0, digits: 1)), \(HTML.number(e.aliveFraction * 100, digits: 1))% alive, CE loss recovered \(HTML.number(Double(e.ceLossRecovered))).</p>\n"
        body += HTML.table(["section", "paper", "finding", "time"], summary.sections.map { s in
            [s.page.isEmpty ? s.section.rawValue : "<a href=\"\(HTML.escape(s.page))\">\(s.section.rawValue)</a>", s.section.paper, HTML.escape(s.headline), String(format: "%.0f&nbsp;s", s.seconds)]
        }, leftColumns: 3)
        body += "<p class=\"note\">\(String(format: "%.0f", summary.seconds)) s in all. <a href=\"summary.json\">summary.json</a> holds these results; each section's page links the CSV/JSON behind its figures.</p>\n"
        return HTML.page(title: "Attention SAE report", body: body)
    }
}
