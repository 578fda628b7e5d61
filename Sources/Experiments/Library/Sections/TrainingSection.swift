// TrainingSection: Table 2 — train one or more attention-output SAEs (SAETraining), or evaluate a given
// one, and write the table (L0, % alive, CE loss recovered) with the training curves.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// An SAE the training section produced or evaluated, for the sections after it.
public struct TrainingOutcome {
    public var section: SectionOutcome
    /// The attention SAE the other sections analyse (the one of the settings' layer when several were
    /// trained); nil when the run trained residual SAEs only.
    public var sae: AttentionSAE?
    /// The residual SAEs the run trained (on the settings' layer), for the trace.
    public var residual: [ResidualSAE] = []
    public var evaluation: SAEEvaluationSummary
    /// Firing frequencies on the held-out evaluation rows.
    public var frequencies: FeatureFrequencies
    /// Tokens trained on (0 for a given SAE).
    public var trainingTokens: Int
}

public struct TrainingSection: Section {
    public static let id = ReportSection.trainSAE
    public enum Mode {
        /// Train the settings' SAEs, with checkpoints when a plan is given.
        case train(checkpoint: CheckpointPlan?)
        /// Evaluate given SAEs (each loaded from its path): one SAE's page, or Table 2 of several from one
        /// clean model run per batch.
        case evaluate([GivenSAE])
    }

    /// An SAE to evaluate and the file it came from.
    public struct GivenSAE {
        public var sae: AttentionSAE
        public var path: String
        public init(_ sae: AttentionSAE, path: String) { self.sae = sae; self.path = path }
    }
    public var settings: TrainSAESettings
    public var mode: Mode
    /// The ranks of a data-parallel (MPI) launch; rank 0 writes the page.
    public var ranks: any Collective = SingleProcess()
    public init(settings: TrainSAESettings, mode: Mode) { self.settings = settings; self.mode = mode }

    public func run(in workspace: Workspace, output: SectionOutput) throws -> SectionOutcome {
        try train(in: workspace, output: output)?.section ?? SectionOutcome(page: nil, headline: "rank \(ranks.rank): trained its share")
    }

    /// Trains (or evaluates) and writes the page; nil on ranks other than 0.
    public func train(in workspace: Workspace, output: SectionOutput) throws -> TrainingOutcome? {
        let (folder, model) = (output.folder, workspace.model)
        var outcome: TrainingOutcome
        var body: String
        switch mode {
        case .evaluate(let given) where given.count == 1:
            guard ranks.size == 1 else { throw ExperimentInputError("--evaluate runs in one process; start it without mpirun") }
            let (sae, path) = (given[0].sae, given[0].path)
            workspace.log("evaluating the given SAE \(path) (\(sae.dSAE) features on \(sae.sae.config.hookName)) on \(settings.evaluationRows) held-out rows")
            let (e, frequencies, core) = try SAETraining.evaluate(workspace, sae: sae.sae, rows: settings.evaluationRows)
            try folder.writeJSON(e, to: "evaluation.json")
            try folder.write(data: SAETraining.coreEvaluationOutput(core, sae: sae.sae, workspace: workspace, rows: settings.evaluationRows).jsonData(),
                             to: "core_eval.json")
            body = HTML.h1("The given SAE on \(HTML.escape(model.name)), layer \(sae.layer)") + HTML.p(HTML.code(path))
                + TrainingReport.evaluationTable(e, layer: sae.layer, dSAE: sae.dSAE)
                + TrainingReport.coreTable([(TrainSAESettings.Member(layer: sae.layer, dSAE: sae.dSAE, sparsity: .nan), e)], files: ["core_eval.json"])
            outcome = TrainingOutcome(section: SectionOutcome(page: "index.html", headline: Self.headline(e)), sae: sae, evaluation: e, frequencies: frequencies, trainingTokens: 0)
        case .evaluate(let given):
            guard ranks.size == 1 else { throw ExperimentInputError("--evaluate runs in one process; start it without mpirun") }
            guard !given.isEmpty else { throw ExperimentInputError("--evaluate named no SAE") }
            let start = Date()
            workspace.log("evaluating \(given.count) SAEs on \(settings.evaluationRows) held-out rows, from one clean model run per batch")
            let results = try SAETraining.evaluate(workspace, saes: given.map(\.sae.sae), rows: settings.evaluationRows)
            let members = given.map { TrainSAESettings.Member(layer: $0.sae.layer, dSAE: $0.sae.dSAE, sparsity: .nan) }
            var names: [String] = []
            for m in members {
                var name = "L\(m.layer)", k = 2
                while names.contains(name) { name = "L\(m.layer)-\(k)"; k += 1 }
                names.append(name)
            }
            let coreFiles = names.map { "saes/\($0)/core_eval.json" }
            for ((g, r), file) in zip(zip(given, results), coreFiles) {
                try folder.write(data: SAETraining.coreEvaluationOutput(r.2, sae: g.sae.sae, workspace: workspace, rows: settings.evaluationRows).jsonData(), to: file)
            }
            try folder.writeJSON(zip(given, results).map { g, r in Table2Row(path: g.path, layer: g.sae.layer, dSAE: g.sae.dSAE, evaluation: r.0) }, to: "evaluation.json")
            try folder.writeCSV(header: ["layer", "d_sae", "l0", "alive_percent", "ce_loss_recovered", "ce_clean", "ce_spliced", "ce_zero_ablated",
                                         "explained_variance", "mse", "cossim", "l2_ratio", "kl_div_score", "ce_loss_score", "path"],
                                rows: zip(given, results).map { g, r in
                                    let e = r.0
                                    return ["\(g.sae.layer)", "\(g.sae.dSAE)", "\(e.l0)", "\(e.aliveFraction * 100)", "\(e.ceLossRecovered)", "\(e.ceClean)",
                                            "\(e.ceSpliced)", "\(e.ceZeroAblated)", "\(e.explainedVariance)", "\(e.mse)", "\(e.cossim)", "\(e.l2Ratio)",
                                            "\(e.klDivScore)", "\(e.ceLossScore)", g.path]
                                }, to: "table2.csv")
            let rows = zip(members, results.map(\.0)).map { ($0, $1) }
            body = HTML.h1("Table 2: \(given.count) attention SAEs on \(HTML.escape(model.name))")
                + TrainingReport.evaluationTable(rows)
                + TrainingReport.coreTable(rows, files: coreFiles)
                + HTML.h2("The SAEs") + HTML.table(["layer", "file"], zip(names, given).map { [$0, HTML.code(HTML.escape($1.path))] })
                + HTML.p(String(format: "%d held-out rows of 128 tokens; %.0f s. Data: ", settings.evaluationRows, Date().timeIntervalSince(start))
                         + HTML.link("table2.csv", "table2.csv") + ", " + HTML.link("evaluation.json", "evaluation.json") + ".", class: "note")
            for (n, r) in zip(names, results) { workspace.log(n + ": " + Self.headline(r.0)) }
            let primary = given.indices.first { given[$0].sae.layer == settings.layer } ?? 0
            outcome = TrainingOutcome(section: SectionOutcome(page: "index.html", headline: "\(given.count) SAEs: " + Self.headline(results[primary].0)),
                                      sae: given[primary].sae, evaluation: results[primary].0, frequencies: results[primary].1, trainingTokens: 0)
        case .train(let checkpoint):
            let s = settings, layers = s.layers
            workspace.log("model \(model.name); \(s.members.count == 1 ? "a \(s.dSAE)-feature SAE" : "\(s.members.count) SAEs") on "
                          + s.sites.map(\.description).joined(separator: ", ") + " for \(s.trainingTokens) tokens (\(s.steps) steps of \(s.batchSize))")
            let trained = try SAETraining.run(workspace, settings: s, checkpoint: checkpoint, ranks: ranks)
            guard ranks.rank == 0 else { return nil }
            // The sections after this one analyse the SAE of the settings' layer (the first one trained if it is not among them).
            let attention = trained.saes.filter { $0.member.hook == nil }
            let primary = attention.first { $0.member.layer == s.layer } ?? attention.first ?? trained.saes[0]
            let residual = try trained.saes.filter { $0.member.hook == .residPre && $0.member.layer == primary.member.layer }
                .map { try ResidualSAE($0.sae, model: model.model.config) }
            if workspace.trainsDefaultSAE(s) { try primary.sae.save(saeLens: Workspace.plantedSAEPath) }      // the section executables' default SAE
            for t in trained.saes { workspace.log(t.member.name(sweeping: s.sweepsSettings) + ": " + Self.headline(t.evaluation)) }
            let recovery = try plantedRecovery(trained, settings: s, workspace: workspace)
            body = HTML.h1("Attention-output SAE\(trained.saes.count == 1 ? "" : "s") on \(HTML.escape(model.name)), layer\(layers.count == 1 ? "" : "s") \(layers.map(String.init).joined(separator: ", "))")
                + (try TrainingReport.write(trained, settings: s, workspace: workspace, to: folder))
                + TrainingReport.frontier(trained, settings: s)
                + (try recovery.map { try TrainingReport.recoveryTable($0, tokenizer: workspace.tokenizer, to: folder) } ?? "")
                + (trained.saes.count == 1 ? "" : HTML.p("The other sections analyse the attention SAE of layer \(primary.member.layer)"
                                                         + (residual.isEmpty ? "." : "; the trace also goes through its residual SAE."), class: "note"))
                + (checkpoint == nil ? "" : HTML.p("Checkpoint: " + HTML.code("checkpoint.h5") + " (continue an interrupted run with " + HTML.code("--resume") + ").", class: "note"))
            outcome = TrainingOutcome(section: SectionOutcome(page: "index.html", headline: Self.headline(primary.evaluation)),
                                      sae: primary.member.hook == nil ? try AttentionSAE(primary.sae, model: model.model.config) : nil,
                                      residual: residual, evaluation: primary.evaluation,
                                      frequencies: primary.frequencies, trainingTokens: s.trainingTokens)
        }
        try folder.write(HTML.page(title: "train-sae", body: body, up: output.up), to: "index.html")
        return outcome
    }

    /// Rows of held-out data the planted-recovery comparison scores features on.
    public static let recoveryRows = 32

    /// On the planted model, for a run of several SAEs: each SAE's best induction feature on the layer's
    /// planted induction heads (the ground truth), for the architecture comparison at matched L0.
    func plantedRecovery(_ r: TrainSAEResult, settings s: TrainSAESettings, workspace: Workspace) throws -> [RecoveryRow]? {
        guard workspace.model.isPlanted, r.saes.count > 1 else { return nil }
        var rows: [RecoveryRow] = []
        let heldOut = try workspace.heldOutRows(Self.recoveryRows)                 // the same rows for every SAE
        for t in r.saes where t.member.hook == nil {
            let heads = workspace.model.inductionHeads(layer: t.member.layer)
            guard !heads.isEmpty else { continue }
            let attention = try AttentionSAE(t.sae, model: workspace.model.model.config)
            workspace.log("planted ground truth: the induction feature of \(t.member.name(sweeping: true))")
            let search = try SAEAnalysis(sae: attention, rows: heldOut, inductionHeads: heads).inductionSearch(workspace)
            rows.append(RecoveryRow(member: t.member, l0: t.evaluation.l0, ceLossRecovered: Double(t.evaluation.ceLossRecovered),
                                    explainedVariance: t.evaluation.explainedVariance, best: search.best, passing: search.passing.count))
        }
        return rows.isEmpty ? nil : rows
    }

    /// Table 2's numbers in one line.
    static func headline(_ e: SAEEvaluationSummary) -> String {
        String(format: "L0 %.1f, alive %.1f%%, CE loss recovered %.3f (clean %.3f, spliced %.3f, zero-ablated %.3f)",
               e.l0, e.aliveFraction * 100, e.ceLossRecovered, e.ceClean, e.ceSpliced, e.ceZeroAblated)
    }
}

/// One row of Table 2 of given SAEs (`evaluation.json`).
public struct Table2Row: Codable, Sendable, Equatable {
    public var path: String
    public var layer: Int
    public var dSAE: Int
    public var evaluation: SAEEvaluationSummary
}

/// One SAE's recovery of the planted induction feature (the planted model's ground truth).
public struct RecoveryRow: Sendable {
    public var member: TrainSAESettings.Member
    public var l0: Double, ceLossRecovered: Double, explainedVariance: Double
    /// Its best induction feature (nil when no feature is even a candidate).
    public var best: InductionFeatureScore?
    /// How many of its features pass the induction-feature test.
    public var passing: Int
}

/// The pieces of a training page: Table 2, the curves and the files behind them.
enum TrainingReport {
    /// Table 2: a row per SAE — layer, d_sae, architecture and its knob, L0, % alive, CE loss recovered and the three losses.
    static func evaluationTable(_ rows: [(member: TrainSAESettings.Member, evaluation: SAEEvaluationSummary)]) -> String {
        HTML.table(["layer", "d_sae", "architecture", "sparsity", "L0", "% alive", "CE loss recovered", "CE clean", "CE spliced", "CE zero-ablated", "CE diff"],
                   rows.map { m, e in
                       [m.layerLabel, "\(m.dSAE)", m.sparsity.isNaN ? "—" : m.architecture.rawValue, m.sparsity.isNaN ? "—" : m.sparsityLabel,
                        HTML.number(e.l0, digits: 1), HTML.number(e.aliveFraction * 100, digits: 1), HTML.number(Double(e.ceLossRecovered)),
                        HTML.number(Double(e.ceClean)), HTML.number(Double(e.ceSpliced)), HTML.number(Double(e.ceZeroAblated)), HTML.number(Double(e.ceDiff))]
                   })
    }

    /// SAELens's evaluation metrics (the field's comparison), a row per SAE, with links to the SAEBench JSON files.
    static func coreTable(_ rows: [(member: TrainSAESettings.Member, evaluation: SAEEvaluationSummary)], files: [String]) -> String {
        HTML.h2("The field's metrics (SAELens evals, BOS excluded)")
            + HTML.table(["layer", "d_sae", "architecture", "sparsity", "L0", "L1", "explained variance", "MSE", "cosine", "L2 ratio",
                          "rel. reconstruction bias", "KL (SAE)", "KL score", "CE score", "SAEBench JSON"],
                         zip(rows, files).map { r, file in
                             let (m, e) = r
                             return [m.layerLabel, "\(m.dSAE)", m.sparsity.isNaN ? "—" : m.architecture.rawValue, m.sparsity.isNaN ? "—" : m.sparsityLabel,
                                     HTML.number(e.l0, digits: 1), HTML.number(e.l1, digits: 2), HTML.number(e.explainedVariance), HTML.number(e.mse),
                                     HTML.number(e.cossim), HTML.number(e.l2Ratio), HTML.number(e.relativeReconstructionBias), HTML.number(e.klDivWithSAE),
                                     HTML.number(e.klDivScore), HTML.number(e.ceLossScore), HTML.link(file, "core_eval")]
                         })
            + HTML.p("As SAELens's " + HTML.code("run_evals") + " computes them (Docs/Interp.md): BOS positions are left out and the SAE replaces the activation only elsewhere, so the CE score differs from Table 2's CE loss recovered, which follows the paper's code. Per-feature metrics are in each SAEBench core-evaluation JSON.", class: "note")
    }

    /// L0 against CE loss recovered and explained variance, one line per architecture and initialisation, for runs with
    /// several SAEs of one layer and width (empty otherwise).
    static func frontier(_ r: TrainSAEResult, settings s: TrainSAESettings) -> String {
        let groups = Dictionary(grouping: r.saes) { "\($0.member.layerLabel)/\($0.member.dSAE)" }
        guard r.saes.count > 1, groups.count < r.saes.count else { return "" }
        var ce: [(name: String, points: [(Double, Double)])] = [], ev: [(name: String, points: [(Double, Double)])] = []
        for key in groups.keys.sorted() {
            let group = groups[key]!
            for a in TrainingArchitecture.allCases { for i in SAEInitialization.allCases {
                let line = group.filter { $0.member.architecture == a && ($0.member.initialization ?? .paper) == i }.sorted { $0.evaluation.l0 < $1.evaluation.l0 }
                guard !line.isEmpty else { continue }
                let name = (groups.count > 1 ? "L\(line[0].member.layerLabel) d\(line[0].member.dSAE) " : "") + line[0].member.architectureLabel
                ce.append((name, line.map { ($0.evaluation.l0, Double($0.evaluation.ceLossRecovered)) }))
                ev.append((name, line.map { ($0.evaluation.l0, $0.evaluation.explainedVariance) }))
            } }
        }
        return HTML.h2("Sparsity–fidelity frontier") + "<div class=\"grid\">"
            + HTML.figure(SVGChart.lines(ce, xLabel: "L0 (held-out)", yLabel: "CE loss recovered", title: "L0 vs CE loss recovered"),
                          caption: "One line per architecture (and initialisation): each point an SAE of the run (Table 2's CE loss recovered).", data: "evaluation.json")
            + HTML.figure(SVGChart.lines(ev, xLabel: "L0 (held-out)", yLabel: "explained variance", title: "L0 vs explained variance"),
                          caption: "Explained variance as SAELens defines it (BOS excluded).", data: "evaluation.json")
            + "</div>\n"
    }

    /// The planted model's ground truth: which architecture, at matched L0, recovers the planted
    /// induction feature best. Writes `recovery.csv`.
    static func recoveryTable(_ rows: [RecoveryRow], tokenizer: GPT2Tokenizer, to folder: ReportFolder) throws -> String {
        let sorted = rows.sorted { $0.l0 < $1.l0 }
        try folder.writeCSV(header: ["layer", "d_sae", "architecture", "sparsity", "l0", "ce_loss_recovered", "explained_variance", "feature", "target",
                                     "specificity", "sensitivity", "induction_head_share", "passing_features"],
                            rows: sorted.map { r in
                                ["\(r.member.layer)", "\(r.member.dSAE)", r.member.architecture.rawValue, "\(r.member.sparsity)", "\(r.l0)", "\(r.ceLossRecovered)",
                                 "\(r.explainedVariance)", r.best.map { "\($0.feature)" } ?? "", r.best.map { tokenizer.decode([$0.target]) } ?? "",
                                 r.best.map { "\($0.specificity)" } ?? "", r.best.map { "\($0.sensitivity)" } ?? "",
                                 r.best.map { "\($0.inductionHeadShare)" } ?? "", "\(r.passing)"]
                            }, to: "recovery.csv")
        var body = HTML.h2("Planted ground truth: the induction feature, by architecture")
        body += HTML.p("Each SAE's best induction feature on \(TrainingSection.recoveryRows) held-out rows, scored against the planted induction heads "
                       + "(specificity, sensitivity, induction-head share of its decoder norm; the test of the induction-features section).")
        body += HTML.table(["architecture", "sparsity", "L0", "CE loss recovered", "explained variance", "feature → T", "specificity", "sensitivity",
                            "head share", "passing features"],
                           sorted.map { r in
                               [r.member.architecture.rawValue, r.member.sparsityLabel, HTML.number(r.l0, digits: 1), HTML.number(r.ceLossRecovered),
                                HTML.number(r.explainedVariance), r.best.map { "\($0.feature) → " + HTML.tokenSpan(tokenizer.decode([$0.target])) } ?? "none",
                                r.best.map { HTML.number($0.specificity) } ?? "—", r.best.map { HTML.number($0.sensitivity) } ?? "—",
                                r.best.map { HTML.number(Double($0.inductionHeadShare)) } ?? "—", "\(r.passing)"]
                           })
        if let verdict = matchedL0Verdict(rows) { body += HTML.p(verdict) }
        body += HTML.p("Data: " + HTML.link("recovery.csv", "recovery.csv") + ".", class: "note")
        return body
    }

    /// At matched L0 — for each architecture the SAE whose L0 is nearest the target (the standard SAE's,
    /// else the median of the run), if within ×1.5 of it — the architecture whose best feature has the
    /// largest specificity × sensitivity; architectures with no SAE that close are named as such.
    static func matchedL0Verdict(_ rows: [RecoveryRow]) -> String? {
        let architectures = Set(rows.map(\.member.architecture))
        guard architectures.count > 1 else { return nil }
        let l0s = rows.map(\.l0).sorted()
        let target = rows.first { $0.member.architecture == .standard }?.l0 ?? l0s[l0s.count / 2]
        let nearest = TrainingArchitecture.allCases.compactMap { a in rows.filter { $0.member.architecture == a }.min { Swift.abs($0.l0 - target) < Swift.abs($1.l0 - target) } }
        let matched = nearest.filter { target > 0 && $0.l0 > 0 && Swift.abs(Foundation.log($0.l0 / target)) <= Foundation.log(1.5) }
        let unmatched = nearest.filter { m in !matched.contains { $0.member == m.member } }
        func score(_ r: RecoveryRow) -> Double { r.best.map { $0.specificity * $0.sensitivity } ?? 0 }
        let ranked = matched.sorted { score($0) > score($1) }
        let parts = ranked.map {
            "\($0.member.architecture.rawValue) (\($0.member.sparsityLabel), L0 \(String(format: "%.1f", $0.l0))): \(String(format: "%.2f", score($0)))"
                + ($0.best.map { String(format: ", head share %.2f", Double($0.inductionHeadShare)) } ?? "")
        }
        var text = "At matched L0 (within ×1.5 of \(String(format: "%.1f", target))), specificity × sensitivity of the best induction feature: "
            + (parts.isEmpty ? "no two architectures have an SAE that close" : parts.joined(separator: "; "))
            + (ranked.count > 1 ? ". Best: <b>\(ranked[0].member.architecture.rawValue)</b>." : ".")
        if !unmatched.isEmpty {
            text += " No SAE near that L0 for " + unmatched.map { "\($0.member.architecture.rawValue) (nearest L0 \(String(format: "%.1f", $0.l0)))" }.joined(separator: ", ")
                + ": sweep its knob (--k, --l0-coeff, --l1) to place one there."
        }
        return text
    }

    /// Table 2's row for one SAE.
    static func evaluationTable(_ e: SAEEvaluationSummary, layer: Int, dSAE: Int) -> String {
        evaluationTable([(TrainSAESettings.Member(layer: layer, dSAE: dSAE, sparsity: .nan), e)])
    }

    /// Loss/mse and L0 curves (log scale), one line per SAE, with `data` naming the CSV behind them.
    static func curves(_ runs: [(name: String, history: [TrainingRecord])], data: String) -> String {
        let one = runs.count == 1
        typealias Line = (String, [(Double, Double)])
        func points(_ h: [TrainingRecord], _ value: (TrainingRecord) -> Float) -> [(Double, Double)] { h.map { (Double($0.step), Double(value($0))) } }
        var loss: [Line] = [], l0: [Line] = []
        for r in runs {
            let prefix = one ? "" : r.name + " "
            loss.append((prefix + "loss", points(r.history) { $0.loss }))
            loss.append((prefix + "mse", points(r.history) { $0.mse }))
            l0.append((one ? "L0" : r.name, points(r.history) { $0.l0 }))
        }
        return "<div class=\"grid\">"
            + HTML.figure(SVGChart.lines(loss, xLabel: "step", yLabel: "loss", logY: true, title: "Loss and reconstruction (mse)"),
                          caption: "Training loss and its reconstruction part, averaged between log points.", data: data)
            + HTML.figure(SVGChart.lines(l0, xLabel: "step", yLabel: "active features per token", logY: true, title: "L0"),
                          caption: "Mean active features per token in training batches.", data: data)
            + "</div>\n"
    }

    /// The curves as CSV: a row per (SAE, logged step).
    static func writeHistory(_ runs: [(name: String, history: [TrainingRecord])], to folder: ReportFolder, as name: String) throws {
        try folder.writeCSV(header: ["sae", "step", "loss", "mse", "sparsity_penalty", "auxiliary_loss", "l0", "lr"],
                            rows: runs.flatMap { r in r.history.map {
                                [r.name, "\($0.step)", "\($0.loss)", "\($0.mse)", "\($0.sparsityPenalty)", "\($0.auxiliaryLoss)", "\($0.l0)", "\($0.lr)"]
                            } }, to: name)
    }

    /// Writes a run's SAEs (SAELens format: `sae/` for one, `saes/<name>/` for several), its Table 2
    /// (`evaluation.json`, a list for several), its curves (`training.csv`) and settings; returns the
    /// page body's table and curves.
    static func write(_ r: TrainSAEResult, settings s: TrainSAESettings, workspace: Workspace, to folder: ReportFolder) throws -> String {
        let sweeping = s.sweepsSettings
        let named = r.saes.map { (name: $0.member.name(sweeping: sweeping), history: $0.history) }
        var coreFiles: [String] = []
        if r.saes.count == 1 {
            try r.sae.save(saeLens: folder.path + "/sae")
            try folder.writeJSON(r.evaluation, to: "evaluation.json")
            coreFiles = ["core_eval.json"]
        } else {
            for t in r.saes { try t.sae.save(saeLens: folder.path + "/saes/" + t.member.name(sweeping: sweeping)) }
            try folder.writeJSON(r.saes.map { EvaluationRow(member: $0.member, evaluation: $0.evaluation) }, to: "evaluation.json")
            coreFiles = r.saes.map { "saes/" + $0.member.name(sweeping: sweeping) + "/core_eval.json" }
        }
        for (t, file) in zip(r.saes, coreFiles) {
            try folder.write(data: SAETraining.coreEvaluationOutput(t.core, sae: t.sae, workspace: workspace, rows: s.evaluationRows).jsonData(), to: file)
        }
        try folder.writeJSON(s, to: "settings.json")
        try writeHistory(named, to: folder, as: "training.csv")
        let one = r.saes.count == 1
        return evaluationTable(r.saes.map { ($0.member, $0.evaluation) })
            + coreTable(r.saes.map { ($0.member, $0.evaluation) }, files: coreFiles)
            + HTML.p("\(s.trainingTokens) tokens, batch \(s.batchSize), lr \(s.training.lr); \(one ? "one SAE" : "\(r.saes.count) SAEs from one model run per batch"), "
                     + String(format: "%.0f s of training and evaluation, model forward %.0f tokens/s. ", r.seconds, r.modelTokensPerSecond)
                     + (one ? "SAE (SAELens format): " + HTML.code("sae/") : "SAEs (SAELens format): " + HTML.code("saes/<name>/"))
                     + "; " + HTML.link("settings.json", "settings") + ".", class: "note")
            + HTML.h2("Training curves") + curves(named, data: "training.csv")
    }

    /// One row of a multi-SAE `evaluation.json`.
    public struct EvaluationRow: Codable, Sendable, Equatable {
        public var member: TrainSAESettings.Member
        public var evaluation: SAEEvaluationSummary
    }
}

