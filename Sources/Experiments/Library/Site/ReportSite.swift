// ReportSite: `reproduce` — every section of the paper's analysis into one report site: train (or
// evaluate) an attention-output SAE, then each section on it in turn, with an index page and
// `summary.json`. The README's first command (on the planted-circuit model unless files are given).

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

public struct ReportSiteSettings: Sendable {
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
    /// The page, relative to the site's index ("" when the section had nothing to show).
    public var page: String
    /// The finding in one line (plain text).
    public var headline: String
    public var seconds: Double
}

/// What the site found, also written as `summary.json`.
public struct ReportSiteSummary: Codable, Sendable {
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

public enum ReportSite {
    /// Runs every section not skipped and returns the path of the site's index page.
    @discardableResult
    public static func run(inputs: ExperimentInputs, settings: ReportSiteSettings, log: @escaping (String) -> Void) throws -> String {
        // Everything that can be wrong with the inputs is checked before any work (and before the folder exists).
        try run(in: Workspace(inputs, log: log), settings: settings)
    }

    /// Runs every section not skipped in a workspace already loaded; returns the index page's path.
    @discardableResult
    public static func run(in workspace: Workspace, settings: ReportSiteSettings) throws -> String {
        let start = Date()
        let log = workspace.log
        // A release id or repository names the SAE of the training layer (--layer).
        let given = try settings.sae.map { try workspace.loadSAE(try SAEReference.resolveOne($0, layer: settings.training.layer, cache: workspace.inputs.hubCache), cfg: settings.saeConfig) }
        try check(settings, given: given, workspace: workspace)
        let out = try ReportFolder(settings.output)
        var sections: [SectionSummary] = []
        func record(_ id: ReportSection, _ outcome: SectionOutcome, since t0: Date, earlier: Double = 0) {
            sections.append(SectionSummary(section: id, page: outcome.page.map { id.folder + "/" + $0 } ?? "", headline: outcome.headline,
                                           seconds: earlier + Date().timeIntervalSince(t0)))
            log("   \(outcome.headline)")
        }

        // Table 2: the SAE, trained here or given.
        log("── train-sae (Table 2)")
        var t0 = Date()
        let mode: TrainingSection.Mode = given.map { .evaluate([TrainingSection.GivenSAE($0, path: settings.sae!)]) } ?? .train(checkpoint: nil)
        let trained = try TrainingSection(settings: settings.training, mode: mode).train(in: workspace, output: output(.trainSAE, out))!
        record(.trainSAE, trained.section, since: t0)
        guard let attentionSAE = trained.sae else { throw ExperimentInputError("the site analyses an attention SAE: --hook must include z") }

        let analysis = try SAEAnalysis(workspace, sae: attentionSAE, rows: settings.analysisRows, inductionHeads: settings.inductionHeads)
        let search = settings.skip.isSuperset(of: [.inductionFeatures, .featureDashboards, .inductionDeepDive])
            ? InductionSearch(scores: []) : try analysis.inductionSearch(workspace)
        let dashboards = settings.skip.contains(.featureDashboards) ? [] : dashboardFeatures(search, trained.frequencies, count: settings.dashboards)
        let links = { (f: Int) in dashboards.contains(f) ? "../feature-dashboards/features/feature-\(f).html" : nil }

        for section in plan(settings, workspace: workspace, analysis: analysis, search: search, dashboards: dashboards, residual: trained.residual)
        where !settings.skip.contains(type(of: section).id) {
            let id = type(of: section).id
            log("── \(id.rawValue) (\(id.paper))")
            t0 = Date()
            let sectionOutput = try output(id, out, featurePage: links)
            let outcome = try section.run(in: workspace, output: sectionOutput)
            if outcome.page == nil, (try? FileManager.default.contentsOfDirectory(atPath: sectionOutput.folder.path))?.isEmpty == true {
                try? FileManager.default.removeItem(atPath: sectionOutput.folder.path)        // nothing to show: no empty folder
            }
            record(id, outcome, since: t0, earlier: id == .inductionFeatures ? search.seconds : 0)
        }

        let summary = ReportSiteSummary(model: workspace.model.name, layer: attentionSAE.layer, dSAE: attentionSAE.dSAE, trainingTokens: trained.trainingTokens,
                                        evaluation: trained.evaluation, inductionFeatures: search.passing, bestCandidates: Array(search.candidates.prefix(10)),
                                        dashboards: dashboards, sections: sections, seconds: Date().timeIntervalSince(start))
        try out.writeJSON(summary, to: "summary.json")
        try out.write(indexPage(summary, model: workspace.model), to: "index.html")
        log(String(format: "done in %.0f s", Date().timeIntervalSince(start)))
        return out.path + "/index.html"
    }

    /// The options that name layers or heads, checked against the model before any work.
    static func check(_ settings: ReportSiteSettings, given: AttentionSAE?, workspace: Workspace) throws {
        let (model, name) = (workspace.model.model.config, workspace.model.name)
        var training = settings.training
        if let given { (training.layer, training.dSAE) = (given.layer, given.dSAE) }
        guard training.layer >= 0 && training.layer < model.nLayers else {
            throw ExperimentInputError(given == nil ? "--layer is \(training.layer); allowed: 0…\(model.nLayers - 1) (\(name) has \(model.nLayers) layers)"
                                                    : "the SAE given reads layer \(training.layer), which \(name) does not have (layers 0…\(model.nLayers - 1))")
        }
        if given == nil { try training.validate(nLayers: model.nLayers) }
        if let hooks = training.hooks, !hooks.contains(.z) {
            throw ExperimentInputError("--hook \(hooks.map(\.rawValue).joined(separator: ",")): the site analyses an attention SAE, so the hooks must include z")
        }
        for h in settings.inductionHeads ?? [] where h < 0 || h >= model.nHeads {
            throw ExperimentInputError("--induction-heads: head \(h) is not in \(name); allowed: 0…\(model.nHeads - 1)")
        }
        guard settings.dashboards >= 0, settings.analysisRows >= 1 else {
            throw ExperimentInputError("--dashboards \(settings.dashboards) / --rows \(settings.analysisRows); allowed: ≥ 0 / ≥ 1")
        }
    }

    /// The sections after training, in the site's order.
    static func plan(_ settings: ReportSiteSettings, workspace: Workspace, analysis: SAEAnalysis, search: InductionSearch, dashboards: [Int],
                     residual: [ResidualSAE] = []) -> [any Section] {
        var boards = FeatureDashboardSettings()
        boards.features = dashboards
        boards.inductionFeatures = search.passing.prefix(8).count
        let scoreOf = Dictionary(search.scores.map { ($0.feature, $0) }, uniquingKeysWith: { a, _ in a })
        for f in dashboards { boards.notes[f] = scoreOf[f].map { InductionFeaturesSection.paragraph($0, workspace.tokenizer) } }
        var longPrefix = LongPrefixSettings.defaults(for: workspace.model)
        if let n = settings.longPrefixExamples { longPrefix.examples = n }
        if let n = settings.longPrefixRows { (longPrefix.detectionRows, longPrefix.interventionRows) = (n, n) }
        let ioi = IOICircuitSettings.defaults(for: workspace.model)
        return [InductionFeaturesSection(analysis: analysis),
                FeatureDashboardsSection(analysis: analysis, settings: boards),
                InductionDeepDiveSection(analysis: analysis),
                TopFeaturesSection(analysis: analysis),
                LongPrefixInductionSection.reasonNotToRun(longPrefix, workspace).map { NotRun<LongPrefixInductionSection>(reason: $0) }
                    ?? LongPrefixInductionSection(settings: longPrefix),
                IOICircuitSettings.reasonNotToRun(ioi, workspace).map { NotRun<IOICircuitSection>(reason: $0) }
                    ?? IOICircuitSection(sae: analysis.sae, settings: ioi),
                CircuitTraceSection(sae: analysis.sae, residual: residual)]
    }

    /// Dashboards for the induction features found (up to 8), then the most frequently firing features.
    static func dashboardFeatures(_ search: InductionSearch, _ frequencies: FeatureFrequencies, count: Int) -> [Int] {
        let byFrequency = frequencies.freq.enumerated().filter { $0.element > 0 }.sorted { $0.element > $1.element }.prefix(count).map(\.offset)
        var features: [Int] = []
        for f in search.passing.prefix(8).map(\.feature) + byFrequency where !features.contains(f) { features.append(f) }
        return features
    }

    static func output(_ id: ReportSection, _ site: ReportFolder, featurePage: @escaping (Int) -> String? = { _ in nil }) throws -> SectionOutput {
        SectionOutput(folder: try ReportFolder(site.path + "/" + id.folder), up: "../index.html", featurePage: featurePage)
    }

    static func indexPage(_ summary: ReportSiteSummary, model: LoadedModel) -> String {
        let e = summary.evaluation
        var body = HTML.h1("Attention-output SAE report: \(HTML.escape(model.name)), layer \(summary.layer)")
        if model.isPlanted {
            body += HTML.p("The planted-circuit model is built by our code with known heads (Docs/PlantedModel.md); its results check the method end to end, they are not GPT-2's.", class: "note")
        }
        body += HTML.p((summary.trainingTokens > 0 ? "A \(summary.dSAE)-feature SAE trained on \(summary.trainingTokens) tokens" : "The given \(summary.dSAE)-feature SAE")
                       + " on " + HTML.code("blocks.\(summary.layer).attn.hook_z") + ": L0 \(HTML.number(e.l0, digits: 1)), \(HTML.number(e.aliveFraction * 100, digits: 1))% alive, "
                       + "CE loss recovered \(HTML.number(Double(e.ceLossRecovered))).")
        body += HTML.table(["section", "paper", "finding", "time"], summary.sections.map { s in
            [s.page.isEmpty ? s.section.rawValue : HTML.link(s.page, s.section.rawValue), s.section.paper, HTML.escape(s.headline), String(format: "%.0f&nbsp;s", s.seconds)]
        }, leftColumns: 3)
        body += HTML.p(String(format: "%.0f", summary.seconds) + " s in all. " + HTML.link("summary.json", "summary.json")
                       + " holds these results; each section's page links the CSV/JSON behind its figures.", class: "note")
        return HTML.page(title: "Attention SAE report", body: body)
    }
}
