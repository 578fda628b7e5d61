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
    /// The SAE the other sections analyse (the one of `analysedLayer` when several were trained).
    public var sae: AttentionSAE
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
        /// Evaluate a given SAE (loaded from `path`).
        case evaluate(AttentionSAE, path: String)
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
        case .evaluate(let sae, let path):
            guard ranks.size == 1 else { throw ExperimentInputError("--evaluate runs in one process; start it without mpirun") }
            workspace.log("evaluating the given SAE \(path) (\(sae.dSAE) features on \(sae.sae.config.hookName)) on \(settings.evaluationRows) held-out rows")
            let (e, frequencies) = try SAETraining.evaluate(workspace, sae: sae.sae, rows: settings.evaluationRows)
            try folder.writeJSON(e, to: "evaluation.json")
            body = HTML.h1("The given SAE on \(HTML.escape(model.name)), layer \(sae.layer)") + HTML.p(HTML.code(path))
                + TrainingReport.evaluationTable(e, layer: sae.layer, dSAE: sae.dSAE)
            outcome = TrainingOutcome(section: SectionOutcome(page: "index.html", headline: Self.headline(e)), sae: sae, evaluation: e, frequencies: frequencies, trainingTokens: 0)
        case .train(let checkpoint):
            let s = settings, layers = s.layers
            workspace.log("model \(model.name); \(s.members.count == 1 ? "a \(s.dSAE)-feature SAE" : "\(s.members.count) SAEs") on "
                          + layers.map { "blocks.\($0).attn.hook_z" }.joined(separator: ", ") + " for \(s.trainingTokens) tokens (\(s.steps) steps of \(s.batchSize))")
            let trained = try SAETraining.run(workspace, settings: s, checkpoint: checkpoint, ranks: ranks)
            guard ranks.rank == 0 else { return nil }
            // The sections after this one analyse the SAE of the settings' layer (the first one trained if it is not among them).
            let primary = trained.saes.first { $0.member.layer == s.layer } ?? trained.saes[0]
            if workspace.trainsDefaultSAE(s) { try primary.sae.save(saeLens: Workspace.plantedSAEPath) }      // the section executables' default SAE
            for t in trained.saes { workspace.log(t.member.name(sweeping: s.sweepsSettings) + ": " + Self.headline(t.evaluation)) }
            body = HTML.h1("Attention-output SAE\(trained.saes.count == 1 ? "" : "s") on \(HTML.escape(model.name)), layer\(layers.count == 1 ? "" : "s") \(layers.map(String.init).joined(separator: ", "))")
                + (try TrainingReport.write(trained, settings: s, to: folder))
                + (trained.saes.count == 1 ? "" : HTML.p("The other sections analyse the SAE of layer \(primary.member.layer).", class: "note"))
                + (checkpoint == nil ? "" : HTML.p("Checkpoint: " + HTML.code("checkpoint.h5") + " (continue an interrupted run with " + HTML.code("--resume") + ").", class: "note"))
            outcome = TrainingOutcome(section: SectionOutcome(page: "index.html", headline: Self.headline(primary.evaluation)),
                                      sae: try AttentionSAE(primary.sae, model: model.model.config), evaluation: primary.evaluation,
                                      frequencies: primary.frequencies, trainingTokens: s.trainingTokens)
        }
        try folder.write(HTML.page(title: "train-sae", body: body, up: output.up), to: "index.html")
        return outcome
    }

    /// Table 2's numbers in one line.
    static func headline(_ e: SAEEvaluationSummary) -> String {
        String(format: "L0 %.1f, alive %.1f%%, CE loss recovered %.3f (clean %.3f, spliced %.3f, zero-ablated %.3f)",
               e.l0, e.aliveFraction * 100, e.ceLossRecovered, e.ceClean, e.ceSpliced, e.ceZeroAblated)
    }
}

/// The pieces of a training page: Table 2, the curves and the files behind them.
enum TrainingReport {
    /// Table 2: a row per SAE — layer, d_sae, architecture and its knob, L0, % alive, CE loss recovered and the three losses.
    static func evaluationTable(_ rows: [(member: TrainSAESettings.Member, evaluation: SAEEvaluationSummary)]) -> String {
        HTML.table(["layer", "d_sae", "architecture", "sparsity", "L0", "% alive", "CE loss recovered", "CE clean", "CE spliced", "CE zero-ablated", "CE diff"],
                   rows.map { m, e in
                       ["\(m.layer)", "\(m.dSAE)", m.sparsity.isNaN ? "—" : m.architecture.rawValue, m.sparsity.isNaN ? "—" : m.sparsityLabel,
                        HTML.number(e.l0, digits: 1), HTML.number(e.aliveFraction * 100, digits: 1), HTML.number(Double(e.ceLossRecovered)),
                        HTML.number(Double(e.ceClean)), HTML.number(Double(e.ceSpliced)), HTML.number(Double(e.ceZeroAblated)), HTML.number(Double(e.ceDiff))]
                   })
    }

    /// Table 2's row for one SAE.
    static func evaluationTable(_ e: SAEEvaluationSummary, layer: Int, dSAE: Int) -> String {
        evaluationTable([(TrainSAESettings.Member(layer: layer, dSAE: dSAE, sparsity: .nan), e)])
    }

    /// Loss/l2 and L0 curves (log scale), one line per SAE, with `data` naming the CSV behind them.
    static func curves(_ runs: [(name: String, history: [TrainingRecord])], data: String) -> String {
        let one = runs.count == 1
        typealias Line = (String, [(Double, Double)])
        func points(_ h: [TrainingRecord], _ value: (TrainingRecord) -> Float) -> [(Double, Double)] { h.map { (Double($0.step), Double(value($0))) } }
        var loss: [Line] = [], l0: [Line] = []
        for r in runs {
            let prefix = one ? "" : r.name + " "
            loss.append((prefix + "loss", points(r.history) { $0.loss }))
            loss.append((prefix + "l2", points(r.history) { $0.l2 }))
            l0.append((one ? "L0" : r.name, points(r.history) { $0.l0 }))
        }
        return "<div class=\"grid\">"
            + HTML.figure(SVGChart.lines(loss, xLabel: "step", yLabel: "loss", logY: true, title: "Loss and reconstruction (l2)"),
                          caption: "Training loss and its reconstruction part, averaged between log points.", data: data)
            + HTML.figure(SVGChart.lines(l0, xLabel: "step", yLabel: "active features per token", logY: true, title: "L0"),
                          caption: "Mean active features per token in training batches.", data: data)
            + "</div>\n"
    }

    /// The curves as CSV: a row per (SAE, logged step).
    static func writeHistory(_ runs: [(name: String, history: [TrainingRecord])], to folder: ReportFolder, as name: String) throws {
        try folder.writeCSV(header: ["sae", "step", "loss", "l2", "l1", "l0", "lr"],
                            rows: runs.flatMap { r in r.history.map { [r.name, "\($0.step)", "\($0.loss)", "\($0.l2)", "\($0.l1)", "\($0.l0)", "\($0.lr)"] } }, to: name)
    }

    /// Writes a run's SAEs (SAELens format: `sae/` for one, `saes/<name>/` for several), its Table 2
    /// (`evaluation.json`, a list for several), its curves (`training.csv`) and settings; returns the
    /// page body's table and curves.
    static func write(_ r: TrainSAEResult, settings s: TrainSAESettings, to folder: ReportFolder) throws -> String {
        let sweeping = s.sweepsSettings
        let named = r.saes.map { (name: $0.member.name(sweeping: sweeping), history: $0.history) }
        if r.saes.count == 1 {
            try r.sae.save(saeLens: folder.path + "/sae")
            try folder.writeJSON(r.evaluation, to: "evaluation.json")
        } else {
            for t in r.saes { try t.sae.save(saeLens: folder.path + "/saes/" + t.member.name(sweeping: sweeping)) }
            try folder.writeJSON(r.saes.map { EvaluationRow(member: $0.member, evaluation: $0.evaluation) }, to: "evaluation.json")
        }
        try folder.writeJSON(s, to: "settings.json")
        try writeHistory(named, to: folder, as: "training.csv")
        let one = r.saes.count == 1
        return evaluationTable(r.saes.map { ($0.member, $0.evaluation) })
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

