// TrainSAE: the training recipe of SPEC §1.12–§1.13 on one layer's hook_z, with the evaluation of
// Table 2 (L0, alive features, CE loss recovered) on held-out rows.

import Foundation

/// What to train and for how long.
public struct TrainSAESettings: Codable, Sendable, Equatable {
    public var layer: Int
    public var dSAE: Int
    public var batchSize: Int
    /// Activation rows (tokens) to train on; steps = trainingTokens / batchSize.
    public var trainingTokens: Int
    /// Rows of the shuffling buffer (SPEC §1.3).
    public var bufferRows: Int
    public var training: SAETrainingConfig
    /// Dead-feature resampling, or nil for none.
    public var resampling: ResamplingConfig?
    /// Held-out rows (of 128 tokens) for the evaluation.
    public var evaluationRows: Int
    public var seed: UInt64

    public var steps: Int { trainingTokens / batchSize }

    /// The paper's GPT-2-small recipe for `layer` (SPEC §1.12–§1.13): 24576 features, batch 4096,
    /// lr 1.2e-3, l1 = 1 (layer 0: 2; layers 1–9 as in the paper's table are between 0.8 and 3),
    /// 2 billion tokens would be the paper's budget — the default here is 100 million.
    public static func gpt2(layer: Int) -> TrainSAESettings {
        var t = SAETrainingConfig()
        t.lr = 1.2e-3
        t.l1Coeff = layer == 0 ? 2 : 1
        var r = ResamplingConfig()
        r.reinitEvery = 25_000
        return TrainSAESettings(layer: layer, dSAE: 24576, batchSize: 4096, trainingTokens: 100_000_000,
                                bufferRows: 4096 * 384, training: t, resampling: r, evaluationRows: 256, seed: 0)
    }

    /// The planted-circuit model's defaults, sized for about ten minutes on two cores with the analysis.
    /// Its `hook_z` norms are about 1 (the planted heads' values are unit codes, the random heads'
    /// smaller), so the paper's l1 ≈ 1 silences nearly every feature; l1 = 0.25 gives L0 ≈ 4
    /// (Docs/PlantedModel.md has the sweep).
    public static func planted() -> TrainSAESettings {
        var t = SAETrainingConfig()
        t.lr = 1e-3
        t.l1Coeff = 0.25
        t.schedWarmupEpochs = 100
        t.schedEpochs = 100
        return TrainSAESettings(layer: 1, dSAE: 3072, batchSize: 512, trainingTokens: 1_600_000,
                                bufferRows: 32_768, training: t, resampling: nil, evaluationRows: 48, seed: 0)
    }
}

/// Where and how often training writes checkpoints, and whether it resumes from one.
public struct CheckpointPlan: Sendable {
    public var path: String
    public var every: Int
    public var resume: Bool
    public init(path: String, every: Int, resume: Bool) { self.path = path; self.every = every; self.resume = resume }
}

/// What a checkpoint needs beside the trainer's state: the step it was written at, the corpus rows
/// the activation source had consumed, and the logged curve.
struct CheckpointSidecar: Codable {
    var step: Int
    var rowsConsumed: Int
    var history: [TrainingRecord]
    var settings: TrainSAESettings
}

/// The evaluation of Table 2 on held-out rows.
public struct SAEEvaluationSummary: Codable, Sendable, Equatable {
    public var l0: Double
    public var aliveFraction: Double
    public var deadFraction: Double
    public var ceClean: Float, ceSpliced: Float, ceZeroAblated: Float
    public var ceLossRecovered: Float
    public var ceDiff: Float
    public var tokens: Int
}

/// One logged training step.
public struct TrainingRecord: Codable, Sendable, Equatable {
    public var step: Int
    public var loss: Float, l2: Float, l1: Float, l0: Float
    public var lr: Double
}

/// What training produced.
public struct TrainSAEResult: Sendable {
    public var sae: SAE
    public var history: [TrainingRecord]
    public var evaluation: SAEEvaluationSummary
    /// Firing frequencies on the held-out rows.
    public var frequencies: FeatureFrequencies
    public var seconds: Double
    public var modelTokensPerSecond: Double
}

public enum TrainSAERunner {
    /// Trains an SAE on `settings.layer`'s `hook_z`, then evaluates it on held-out rows.
    public static func run(model: LoadedModel, inputs: ExperimentInputs, tokenizer: GPT2Tokenizer, settings s: TrainSAESettings,
                           checkpoint: CheckpointPlan? = nil, log: @escaping (String) -> Void) throws -> TrainSAEResult {
        let cfg = model.model.config
        guard s.layer >= 0 && s.layer < cfg.nLayers else {
            throw ExperimentInputError("layer \(s.layer) is not in the model (it has \(cfg.nLayers) layers)")
        }
        guard s.steps > 0, s.bufferRows >= 4 * s.batchSize else {
            throw ExperimentInputError("training needs at least one step (tokens \(s.trainingTokens), batch \(s.batchSize)) and a buffer of at least four batches (\(s.bufferRows) rows)")
        }
        let start = Date()
        let config = SAEConfig(dIn: cfg.nHeads * cfg.dHead, dSAE: s.dSAE, hookName: HookName.z(s.layer).description,
                               headLayout: HeadLayout(nHeads: cfg.nHeads, dHead: cfg.dHead),
                               provenance: SAEProvenance(source: "trained", notes: ["model": model.name, "tokens": "\(s.trainingTokens)"]))
        var trainer = SAETrainer(sae: SAETrainer.initialSAE(config, seed: s.seed &+ 49), config: s.training)
        var rng = RandomStream(seed: s.seed &+ 7)
        var history: [TrainingRecord] = []
        var rows = try inputs.rows(heldOut: false, tokenizer: tokenizer)
        var firstStep = 0
        if let plan = checkpoint, plan.resume, FileManager.default.fileExists(atPath: plan.path) {
            let (loadedTrainer, rngs, _) = try SAETrainer.loadCheckpoint(from: plan.path)
            let sidecar = try JSONDecoder().decode(CheckpointSidecar.self, from: Data(contentsOf: URL(fileURLWithPath: plan.path + ".json")))
            guard sidecar.step == loadedTrainer.step, sidecar.settings == s, loadedTrainer.sae.config.dIn == config.dIn else {
                throw ExperimentInputError("checkpoint \(plan.path) was written by another run (step or settings differ); delete it to start afresh")
            }
            trainer = loadedTrainer
            rng = rngs["resample"] ?? rng
            history = sidecar.history
            firstStep = sidecar.step
            // The data stream continues after the rows already consumed (rows waiting in the shuffling
            // buffer at the checkpoint are not replayed).
            var skipped = 0
            while skipped < sidecar.rowsConsumed, let r = try rows.nextRows(min(256, sidecar.rowsConsumed - skipped)) { skipped += r.shape[0] }
            log("resumed from \(plan.path) at step \(firstStep)")
        }
        let rowsBefore = rows.tokensDelivered / rows.rowLength
        let source = ModelActivationSource(model: model.model, layer: s.layer, rows: rows)
        var buffer = try ActivationBuffer(source: source, size: s.bufferRows, batchSize: s.batchSize, seed: s.seed &+ UInt64(firstStep))
        let every = max(1, s.steps / 20)
        var window: [StepMetrics] = []
        for i in firstStep..<s.steps {
            let m = try trainer.step(try buffer.next())
            window.append(m)
            if let r = s.resampling {
                try trainer.endOfStep(i, resampling: r, rng: &rng) { try buffer.next() }
            }
            if (i + 1) % max(1, every / 4) == 0 || i == s.steps - 1 {
                let n = Float(window.count)
                history.append(TrainingRecord(step: i + 1, loss: window.map(\.loss).reduce(0, +) / n, l2: window.map(\.l2).reduce(0, +) / n,
                                              l1: window.map(\.l1).reduce(0, +) / n, l0: window.map(\.l0).reduce(0, +) / n, lr: m.lr))
                window = []
            }
            if (i + 1) % every == 0 || i == s.steps - 1 {
                let h = history.last!
                log(String(format: "  step %d/%d  loss %.4f  l2 %.4f  L0 %.1f  model %.0f tokens/s  %.0f s",
                           i + 1, s.steps, h.loss, h.l2, h.l0, buffer.source.tokensPerSecond, Date().timeIntervalSince(start)))
            }
            if let plan = checkpoint, (i + 1) % plan.every == 0 || i == s.steps - 1 {
                let consumed = rowsBefore + buffer.source.tokensProcessed / rows.rowLength
                let sidecar = CheckpointSidecar(step: i + 1, rowsConsumed: consumed, history: history, settings: s)
                let e = JSONEncoder()
                try AtomicFile.write(try e.encode(sidecar), to: plan.path + ".json", format: "checkpoint sidecar")
                try trainer.saveCheckpoint(to: plan.path, rngs: ["resample": rng])
            }
        }
        log("evaluating on \(s.evaluationRows) held-out rows")
        let (evaluation, frequencies) = try evaluate(model: model.model, sae: trainer.sae, inputs: inputs, tokenizer: tokenizer, rows: s.evaluationRows)
        return TrainSAEResult(sae: trainer.sae, history: history, evaluation: evaluation, frequencies: frequencies,
                              seconds: Date().timeIntervalSince(start), modelTokensPerSecond: buffer.source.tokensPerSecond)
    }

    /// Held-out token rows, `[rows, 128]`.
    public static func heldOutRows(inputs: ExperimentInputs, tokenizer: GPT2Tokenizer, rows: Int) throws -> IndexTensor {
        var stream = try inputs.rows(heldOut: true, tokenizer: tokenizer)
        guard let t = try stream.nextRows(rows), t.shape[0] > 0 else {
            throw ExperimentInputError("the corpus has no held-out rows (every 20th document is held out); give a larger corpus")
        }
        return t
    }

    /// L0, alive fraction and CE loss recovered of `sae` on `rows` held-out rows, in batches of 8 rows.
    public static func evaluate(model: GPT2, sae: SAE, inputs: ExperimentInputs, tokenizer: GPT2Tokenizer,
                                rows: Int) throws -> (SAEEvaluationSummary, FeatureFrequencies) {
        let tokens = try heldOutRows(inputs: inputs, tokenizer: tokenizer, rows: rows)
        let n = tokens.shape[0], pos = tokens.shape[1]
        let batches = stride(from: 0, to: n, by: 8).map { s in
            IndexTensor(shape: [min(8, n - s), pos], values: Array(tokens.values[(s * pos)..<(min(n, s + 8) * pos)]))
        }
        let ce = try SAEEvaluation.reconstruction(model: model, sae: sae, batches: batches)
        let (l0, freq) = try SAEEvaluation.sparsity(model: model, sae: sae, batches: batches)
        return (SAEEvaluationSummary(l0: l0, aliveFraction: freq.aliveFraction, deadFraction: freq.deadFraction,
                                     ceClean: ce.clean, ceSpliced: ce.spliced, ceZeroAblated: ce.zeroAblated,
                                     ceLossRecovered: ce.score, ceDiff: ce.ceDiff, tokens: tokens.count), freq)
    }
}

/// The pieces of a training report, shared by `train-sae` and the main job.
public enum TrainSAEReport {
    /// Table 2's row: layer, d_sae, L0, % alive, CE loss recovered and the three losses.
    public static func evaluationTable(_ e: SAEEvaluationSummary, layer: Int, dSAE: Int) -> String {
        HTML.table(["layer", "d_sae", "L0", "% alive", "CE loss recovered", "CE clean", "CE spliced", "CE zero-ablated", "CE diff"],
                   [["\(layer)", "\(dSAE)", HTML.number(e.l0, digits: 1), HTML.number(e.aliveFraction * 100, digits: 1), HTML.number(Double(e.ceLossRecovered)),
                     HTML.number(Double(e.ceClean)), HTML.number(Double(e.ceSpliced)), HTML.number(Double(e.ceZeroAblated)), HTML.number(Double(e.ceDiff))]])
    }

    /// Loss/l2 and L0 curves (log scale), with `data` naming the CSV behind them.
    public static func curves(_ h: [TrainingRecord], data: String) -> String {
        "<div class=\"grid\">"
            + HTML.figure(SVGChart.lines([("loss", h.map { (Double($0.step), Double($0.loss)) }), ("l2", h.map { (Double($0.step), Double($0.l2)) })],
                                         xLabel: "step", yLabel: "loss", logY: true, title: "Loss and reconstruction (l2)"),
                          caption: "Training loss and its reconstruction part, averaged between log points.", data: data)
            + HTML.figure(SVGChart.lines([("L0", h.map { (Double($0.step), Double($0.l0)) })], xLabel: "step", yLabel: "active features per token", logY: true, title: "L0"),
                          caption: "Mean active features per token in training batches.", data: data)
            + "</div>\n"
    }

    public static func writeHistory(_ h: [TrainingRecord], to folder: ReportFolder, as name: String) throws {
        try folder.writeCSV(header: ["step", "loss", "l2", "l1", "l0", "lr"],
                            rows: h.map { ["\($0.step)", "\($0.loss)", "\($0.l2)", "\($0.l1)", "\($0.l0)", "\($0.lr)"] }, to: name)
    }
}

/// `train-sae`: train one layer's SAE (with checkpoints and resume) or evaluate a given one, and
/// write Table 2's row with the curves.
public enum TrainSAEJob {
    public enum Mode: Sendable {
        case train(checkpointEvery: Int, resume: Bool)
        /// A trained SAE: a SAELens folder, or the paper's `.pt` (with its `_cfg.json` if not beside it).
        case evaluate(sae: String, cfg: String?)
    }

    /// Loads an SAE file and checks it fits the model: hook_z of an existing layer, d_in = n_heads·d_head.
    public static func loadSAE(_ path: String, cfg: String?, model: GPT2) throws -> SAE {
        let c = model.config
        let layout = HeadLayout(nHeads: c.nHeads, dHead: c.dHead)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ExperimentInputError("SAE \(path) does not exist") }
        // Loaded without a head layout first: one that does not match d_in is a precondition of SAEConfig.
        var sae = isDir.boolValue ? try SAE.load(saeLens: path) : try SAE.load(kissanePT: path, cfg: cfg)
        guard sae.config.dIn == c.nHeads * c.dHead else {
            throw ExperimentInputError("SAE \(path) has d_in \(sae.config.dIn); the model's hook_z is \(c.nHeads)×\(c.dHead) = \(c.nHeads * c.dHead)")
        }
        guard let site = try? HookName(parsing: sae.config.hookName), case .z(let l) = site, l < c.nLayers else {
            throw ExperimentInputError("SAE \(path) reads '\(sae.config.hookName)', not blocks.L.attn.hook_z of one of the model's \(c.nLayers) layers")
        }
        sae.config.headLayout = layout
        return sae
    }

    /// Runs the job; returns the report page's path.
    @discardableResult
    public static func run(inputs: ExperimentInputs, settings s: TrainSAESettings, mode: Mode, output: String,
                           log: @escaping (String) -> Void) throws -> String {
        let tokenizer = try inputs.loadTokenizer()
        _ = try inputs.corpusSpec()
        let loaded = try inputs.loadModel(log: log)
        let folder = try ReportFolder(output)
        var body: String
        switch mode {
        case .evaluate(let path, let cfg):
            let sae = try loadSAE(path, cfg: cfg, model: loaded.model)
            let layer = sae.config.layer ?? s.layer
            log("evaluating \(path) (\(sae.config.dSAE) features on \(sae.config.hookName)) on \(s.evaluationRows) held-out rows")
            let (e, _) = try TrainSAERunner.evaluate(model: loaded.model, sae: sae, inputs: inputs, tokenizer: tokenizer, rows: s.evaluationRows)
            try folder.writeJSON(e, to: "evaluation.json")
            body = "<h1>SAE evaluation on \(HTML.escape(loaded.name))</h1>\n<p>\(HTML.escape(path))</p>\n"
                + TrainSAEReport.evaluationTable(e, layer: layer, dSAE: sae.config.dSAE)
            log(String(format: "L0 %.1f, alive %.1f%%, CE loss recovered %.3f, CE diff %.3f", e.l0, e.aliveFraction * 100, e.ceLossRecovered, e.ceDiff))
        case .train(let every, let resume):
            let plan = CheckpointPlan(path: output + "/checkpoint.h5", every: every, resume: resume)
            let r = try TrainSAERunner.run(model: loaded, inputs: inputs, tokenizer: tokenizer, settings: s, checkpoint: plan, log: log)
            try r.sae.save(saeLens: output + "/sae")
            if loaded.isPlanted && inputs.modelPath == nil && inputs.corpus.isEmpty && s == TrainSAESettings.planted() {
                try r.sae.save(saeLens: ExperimentInputs.plantedSAEPath)      // the sections' default SAE
            }
            try folder.writeJSON(r.evaluation, to: "evaluation.json")
            try folder.writeJSON(s, to: "settings.json")
            try TrainSAEReport.writeHistory(r.history, to: folder, as: "training.csv")
            body = "<h1>SAE on \(HTML.escape(loaded.name)), layer \(s.layer)</h1>\n"
                + TrainSAEReport.evaluationTable(r.evaluation, layer: s.layer, dSAE: s.dSAE)
                + "<p class=\"note\">\(s.trainingTokens) tokens, batch \(s.batchSize), lr \(s.training.lr), l1 \(s.training.l1Coeff). SAE (SAELens format): <code>sae/</code>; checkpoint: <code>checkpoint.h5</code>.</p>\n"
                + "<h2>Training curves</h2>\n" + TrainSAEReport.curves(r.history, data: "training.csv")
            let e = r.evaluation
            log(String(format: "L0 %.1f, alive %.1f%%, CE loss recovered %.3f, CE diff %.3f", e.l0, e.aliveFraction * 100, e.ceLossRecovered, e.ceDiff))
        }
        try folder.write(HTML.page(title: "train-sae", body: body), to: "index.html")
        return output + "/index.html"
    }
}
