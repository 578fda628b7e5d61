// TrainSAEJobTests: checkpoints and resume, evaluate-only mode, and the SAE checks before any work.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments

@Suite struct TrainSAEJobTests {
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
        let inputs = ExperimentInputs()
        let model = plantedModel
        let tokenizer = try inputs.loadTokenizer()
        let dir = temporaryDirectory().path
        let s = Self.smallSettings()
        let plan = CheckpointPlan(path: dir + "/checkpoint.h5", every: 10, resume: true)
        let first = try TrainSAERunner.run(model: model, inputs: inputs, tokenizer: tokenizer, settings: s, checkpoint: plan) { _ in }
        #expect(FileManager.default.fileExists(atPath: plan.path) && FileManager.default.fileExists(atPath: plan.path + ".json"))
        #expect(first.history.last?.step == 30)
        // Resuming a finished run takes no step and gives the same SAE and curve.
        var lines: [String] = []
        let again = try TrainSAERunner.run(model: model, inputs: inputs, tokenizer: tokenizer, settings: s, checkpoint: plan) { lines.append($0) }
        #expect(lines.contains { $0.contains("resumed") && $0.contains("step 30") })
        #expect(again.sae == first.sae && again.history == first.history && again.evaluation == first.evaluation)
        // A checkpoint of other settings is refused.
        var other = s
        other.training.l1Coeff = 1
        #expect(throws: ExperimentInputError.self) { try TrainSAERunner.run(model: model, inputs: inputs, tokenizer: tokenizer, settings: other, checkpoint: plan) { _ in } }
        // Evaluate-only on the saved SAE gives the training run's evaluation.
        try first.sae.save(saeLens: dir + "/sae")
        let loaded = try TrainSAEJob.loadSAE(dir + "/sae", cfg: nil, model: model.model)
        let (e, _) = try TrainSAERunner.evaluate(model: model.model, sae: loaded, inputs: inputs, tokenizer: tokenizer, rows: s.evaluationRows)
        #expect(e == first.evaluation)
    }

    @Test func saeThatDoesNotFitIsRefused() throws {
        let model = plantedModel.model
        let dir = temporaryDirectory().path
        let wrongWidth = SAETrainer.initialSAE(SAEConfig(dIn: 512, dSAE: 16, hookName: "blocks.1.attn.hook_z"), seed: 1)
        try wrongWidth.save(saeLens: dir + "/w")
        #expect { try TrainSAEJob.loadSAE(dir + "/w", cfg: nil, model: model) } throws: { ($0 as? ExperimentInputError)?.detail.contains("d_in 512") == true }
        let wrongLayer = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: 16, hookName: "blocks.7.attn.hook_z"), seed: 1)
        try wrongLayer.save(saeLens: dir + "/l")
        #expect { try TrainSAEJob.loadSAE(dir + "/l", cfg: nil, model: model) } throws: { ($0 as? ExperimentInputError)?.detail.contains("blocks.7.attn.hook_z") == true }
        #expect(throws: ExperimentInputError.self) { try TrainSAEJob.loadSAE(dir + "/missing", cfg: nil, model: model) }
    }
}
