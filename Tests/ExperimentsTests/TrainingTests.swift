// TrainingTests: checkpoints and resume, evaluate-only mode, and the SAE checks before any work.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct TrainingTests {
    static func smallSettings() -> TrainSAESettings {
        var s = TrainSAESettings.planted()
        s.dSAE = 256
        s.batchSize = 128
        s.trainingTokens = 128 * 30
        s.bufferRows = 1024
        s.evaluationRows = 4
        return s
    }

    @Test func checkpointResumeAndEvaluate() throws {
        let dir = temporaryDirectory().path
        let s = Self.smallSettings()
        var lines: [String] = []
        let workspace = try plantedWorkspace { lines.append($0) }
        let plan = CheckpointPlan(path: dir + "/checkpoint.h5", every: 10, resume: true)
        let first = try SAETraining.run(workspace, settings: s, checkpoint: plan)
        // One checkpoint file, nothing beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["checkpoint.h5"])
        #expect(first.history.last?.step == 30)
        // Resuming a finished run takes no step and gives the same SAE and curve.
        lines = []
        let again = try SAETraining.run(workspace, settings: s, checkpoint: plan)
        #expect(lines.contains { $0.contains("resuming") && $0.contains("step 30/30") })
        #expect(again.sae == first.sae && again.history == first.history && again.evaluation == first.evaluation)
        // A checkpoint of other settings is refused.
        var other = s
        other.training.l1Coeff = 1
        #expect(throws: ExperimentInputError.self) { try SAETraining.run(workspace, settings: other, checkpoint: plan) }
        // Evaluate-only on the saved SAE gives the training run's evaluation.
        try first.sae.save(saeLens: dir + "/sae")
        let loaded = try workspace.loadSAE(dir + "/sae")
        let (e, _, _) = try SAETraining.evaluate(workspace, sae: loaded.sae, rows: s.evaluationRows)
        #expect(e == first.evaluation)
    }

    @Test func saeThatDoesNotFitIsRefused() throws {
        let workspace = try plantedWorkspace()
        let dir = temporaryDirectory().path
        let wrongWidth = SAETrainer.initialSAE(SAEConfig(dIn: 512, dSAE: 16, hookName: "blocks.1.attn.hook_z"), seed: 1)
        try wrongWidth.save(saeLens: dir + "/w")
        #expect { try workspace.loadSAE(dir + "/w") } throws: { ($0 as? ExperimentInputError)?.detail.contains("d_in 512") == true }
        let wrongLayer = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: 16, hookName: "blocks.7.attn.hook_z"), seed: 1)
        try wrongLayer.save(saeLens: dir + "/l")
        #expect { try workspace.loadSAE(dir + "/l") } throws: { ($0 as? ExperimentInputError)?.detail.contains("blocks.7.attn.hook_z") == true }
        #expect(throws: ExperimentInputError.self) { try workspace.loadSAE(dir + "/missing") }
    }

    @Test func manyLayersFromOneForwardPass() throws {
        let workspace = try plantedWorkspace()
        var s = Self.smallSettings()
        s.trainingTokens = 128 * 12
        s.evaluationRows = 2
        s.sweep = TrainingSweep(layers: [0, 1])
        #expect(s.members.map(\.layer) == [0, 1] && s.layers == [0, 1])
        let both = try SAETraining.run(workspace, settings: s)
        #expect(both.saes.map(\.sae.config.hookName) == ["blocks.0.attn.hook_z", "blocks.1.attn.hook_z"])
        // The first member (layer 0, the same seeds) is the SAE that layer 0 alone gives, bit for bit:
        // the same rows, shuffled alike, from a model run that went on to layer 1.
        var alone = s
        alone.sweep = TrainingSweep()
        alone.layer = 0
        let single = try SAETraining.run(workspace, settings: alone)
        #expect(both.saes[0].sae == single.sae && both.saes[0].history == single.history)
        #expect(both.saes[1].sae != single.sae)
        // A sweep of l1 on one layer: the same batches, different SAEs.
        var sweep = alone
        sweep.sweep = TrainingSweep(l1Coeffs: [0.1, 1])
        #expect(sweep.members.map(\.sparsity) == [0.1, 1] && sweep.sweepsSettings)
        let swept = try SAETraining.run(workspace, settings: sweep)
        #expect(swept.saes[0].evaluation.l0 > swept.saes[1].evaluation.l0)
        // Every member starts where training it alone would, whatever its place in the sweep: the second
        // member (l1 1) is the SAE that l1 1 alone gives, bit for bit (no resampling: the same batches).
        var second = alone
        second.training.l1Coeff = 1
        let single1 = try SAETraining.run(workspace, settings: second)
        #expect(swept.saes[1].sae == single1.sae && swept.saes[1].history == single1.history)
    }

    /// The paper's SAE trained beside an active-subspace one (`--init paper,active-subspace`) is the SAE the
    /// paper's initialisation alone gives, bit for bit: the subspace is computed from the buffer's first
    /// fill without disturbing its rows, and both start from the run's seed.
    @Test func initialisationsSideBySideLeaveEachOtherAlone() throws {
        let workspace = try plantedWorkspace()
        var s = Self.smallSettings()
        s.trainingTokens = 128 * 12
        s.evaluationRows = 2
        s.sweep = TrainingSweep(initializations: [.paper, .activeSubspace])
        let both = try SAETraining.run(workspace, settings: s)
        var alone = s
        alone.sweep = TrainingSweep()
        let single = try SAETraining.run(workspace, settings: alone)
        let paper = try #require(both.saes.first { $0.member.initialization == nil })     // the paper's is stored as nil
        let asi = try #require(both.saes.first { $0.member.initialization == .activeSubspace })
        #expect(both.saes.count == 2 && paper.sae == single.sae && paper.history == single.history)
        #expect(asi.sae != single.sae)
        #expect(paper.evaluation.l0 == single.saes[0].evaluation.l0 && paper.evaluation.aliveFraction == single.saes[0].evaluation.aliveFraction)
    }

    /// Attention and residual SAEs of two layers from one model pass: each member reads its hook's columns
    /// (hook_z head-major, hook_resid_pre d_model wide), is saved with its hook and evaluated spliced there.
    @Test func attentionAndResidualSAEsFromOnePass() throws {
        let workspace = try plantedWorkspace()
        var s = Self.smallSettings()
        s.trainingTokens = 128 * 12
        s.evaluationRows = 2
        s.sweep = TrainingSweep(layers: [0, 1])
        s.hooks = [.z, .residPre]
        #expect(s.members.map(\.site) == [.z(0), .residPre(0), .z(1), .residPre(1)])
        #expect(s.members.map { $0.name(sweeping: false) } == ["L0", "L0-resid_pre", "L1", "L1-resid_pre"])
        let dir = temporaryDirectory().path
        let outcome = try #require(try TrainingSection(settings: s, mode: .train(checkpoint: nil)).train(in: workspace, output: SectionOutput(folder: try ReportFolder(dir))))
        #expect(outcome.sae?.layer == 1 && outcome.residual.map(\.layer) == [1])
        let page = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        #expect(page.contains("1 resid_pre"))
        for (name, hook) in [("L0", "blocks.0.attn.hook_z"), ("L0-resid_pre", "blocks.0.hook_resid_pre"), ("L1-resid_pre", "blocks.1.hook_resid_pre")] {
            let sae = try SAE.load(saeLens: dir + "/saes/" + name)
            #expect(sae.config.hookName == hook && sae.config.dIn == 768, "\(name)")
        }
        // The residual SAE's evaluation spliced it at hook_resid_pre: its row equals evaluating the saved SAE
        // alone (which splices at the hook its config names). (Zero ablation cannot tell the sites apart on the
        // planted model: every one of the four removes the induction heads' OUT write, leaving uniform logits.)
        let rows = try JSONDecoder().decode([TrainingReport.EvaluationRow].self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/evaluation.json")))
        #expect(rows.count == 4)
        let residual = try SAE.load(saeLens: dir + "/saes/L0-resid_pre")
        let (alone, _, _) = try SAETraining.evaluate(workspace, sae: residual, rows: s.evaluationRows)
        let row = rows[1].evaluation
        #expect(abs(alone.mse - row.mse) <= 1e-5 * max(1, abs(alone.mse)) && abs(alone.ceSpliced - row.ceSpliced) <= 1e-4
                && abs(alone.explainedVariance - row.explainedVariance) <= 1e-5,
                "alone: mse \(alone.mse) ce \(alone.ceSpliced) ev \(alone.explainedVariance); row: mse \(row.mse) ce \(row.ceSpliced) ev \(row.explainedVariance)")
        #expect(throws: ExperimentInputError.self) { var bad = s; bad.hooks = [.z, .z]; try bad.validate(nLayers: 2) }
    }

    /// TopK, BatchTopK and JumpReLU side by side with the standard recipe, from one model run per batch:
    /// each member has its architecture, the section writes SAELens folders, SAEBench JSON, the frontier
    /// and (planted model) the ground-truth recovery table.
    @Test func architecturesSideBySide() throws {
        let workspace = try plantedWorkspace()
        var s = Self.smallSettings()
        s.trainingTokens = 128 * 20
        s.evaluationRows = 2
        s.sweep = TrainingSweep(architectures: [.standard, .topk, .batchtopk, .jumprelu], ks: [4, 8])
        #expect(s.members.map { $0.name(sweeping: s.sweepsSettings) } == ["L1-d256-l1_0.25", "L1-d256-topk_k_4", "L1-d256-topk_k_8",
                                                                        "L1-d256-batchtopk_k_4", "L1-d256-batchtopk_k_8", "L1-d256-jumprelu_l0_0.01"])
        let dir = temporaryDirectory().path
        let outcome = try TrainingSection(settings: s, mode: .train(checkpoint: nil)).train(in: workspace, output: SectionOutput(folder: try ReportFolder(dir), up: nil))
        #expect(outcome != nil)
        let page = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        #expect(page.contains("Sparsity–fidelity frontier") && page.contains("Planted ground truth") && page.contains("At matched L0"))
        for (name, architecture) in [("L1-d256-topk_k_4", "topk"), ("L1-d256-batchtopk_k_8", "jumprelu"), ("L1-d256-jumprelu_l0_0.01", "jumprelu")] {
            let sae = try SAE.load(saeLens: dir + "/saes/" + name)
            #expect(sae.config.architecture.saeLensName == architecture, "\(name)")
            let core = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/saes/" + name + "/core_eval.json"))) as! [String: Any]
            #expect(core["eval_type_id"] as? String == "core")
        }
        let rows = try JSONDecoder().decode([TrainingReport.EvaluationRow].self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/evaluation.json")))
        #expect(rows[1].evaluation.l0 <= 4 && rows[2].evaluation.l0 <= 8)                            // TopK: at most k per token
        #expect(try String(contentsOfFile: dir + "/recovery.csv", encoding: .utf8).split(separator: "\n").count == 7)
    }

    @Test func optionsOutOfRangeAreNamedBeforeAnyWork() throws {
        var s = Self.smallSettings()
        s.batchSize = 0
        #expect { try s.validate(nLayers: 2) } throws: { ($0 as? ExperimentInputError)?.detail.contains("--batch is 0") == true }
        s = Self.smallSettings()
        s.sweep = TrainingSweep(layers: [0, 2])
        #expect { try s.validate(nLayers: 2) } throws: { ($0 as? ExperimentInputError)?.detail.contains("0…1") == true }
        s = Self.smallSettings()
        s.bufferRows = 100
        #expect { try s.validate(nLayers: 2) } throws: { ($0 as? ExperimentInputError)?.detail.contains("--buffer-rows") == true }
        s = Self.smallSettings()
        s.training.architecture = .topk
        s.training.k = 300
        #expect { try s.validate(nLayers: 2) } throws: { ($0 as? ExperimentInputError)?.detail.contains("--k is 300.0; allowed: an integer 1…d_sae (256) for TopK") == true }
        s = Self.smallSettings()
        s.sweep = TrainingSweep(architectures: [.topk, .topk])
        #expect { try s.validate(nLayers: 2) } throws: { ($0 as? ExperimentInputError)?.detail.contains("distinct architectures") == true }
        // A short run's buffer holds no more rows than it trains on.
        s = Self.smallSettings()
        s.bufferRows = 1 << 20
        #expect(s.effectiveBufferRows == s.trainingTokens)
    }
}
