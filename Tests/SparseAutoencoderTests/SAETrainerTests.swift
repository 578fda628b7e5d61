// SAETrainerTests: the learning-rate schedule and training steps against PyTorch
// (Scripts/reference/make_training_fixtures.py).

import Foundation
import Testing
import TensorTestSupport
@testable import SparseAutoencoder
import Tensor

struct TrainReference {
    let file: HDF5File
    init() throws { file = try HDF5File(path: fixtures.appendingPathComponent("train_reference.h5").path) }
    subscript(_ name: String) -> Tensor { get throws { try file.readTensor("/" + name) } }
}

@Suite struct LRScheduleTests {
    @Test func matchesTorchCosineAnnealingStepByStepThroughWarmupAndRewarm() throws {
        let ref = try TrainReference()
        let expected = try ref["lrs"].scalars   // Float32 view of the float64 sequence is enough to locate; compare in Double below
        var s = LRSchedule(baseLR: 1.2e-3)
        #expect(Swift.abs(s.lr - 1.2e-4) < 1e-12)
        s.afterTrainingStep(0); s.afterTrainingStep(1)
        var lrs = [s.lr]
        for i in 2..<1500 { s.afterTrainingStep(i); lrs.append(s.lr) }
        let before = s.lastEpoch
        s.rewarm()
        #expect(s.lastEpoch - before == Int(try ref.file.attribute("rewarm_steps").intValue!))
        for i in 1500..<2700 { lrs.append(s.lr); s.afterTrainingStep(i) }
        #expect(lrs.count == expected.count)
        var worst = 0.0
        for (a, e) in zip(lrs, expected) { worst = Swift.max(worst, Swift.abs(a - Double(e)) / Double(e)) }
        #expect(worst < 1e-7, "max relative difference \(worst)")   // float32 storage of the reference
        // The closed form of Docs/Method.md §1.8 at the warm-up's midpoint and end.
        var c = LRSchedule(baseLR: 1.2e-3)
        for i in 0..<500 { c.afterTrainingStep(i) }
        #expect(Swift.abs(c.lr - 6.6e-4) < 1e-9)
        for i in 500..<1200 { c.afterTrainingStep(i) }
        #expect(Swift.abs(c.lr - 1.2e-3) < 1e-12)
    }
}

@Suite struct SAETrainerTests {
    @Test func twoStepsMatchPyTorch() throws {
        let ref = try TrainReference()
        let config = SAEConfig(dIn: 16, dSAE: 32, hookName: "blocks.1.attn.hook_z")
        let sae = SAE(config: config, wEnc: try ref["init/W_enc"], bEnc: try ref["init/b_enc"],
                      wDec: try ref["init/W_dec"], bDec: try ref["init/b_dec"])
        var training = SAETrainingConfig()
        training.l1Coeff = 0.8
        var trainer = SAETrainer(sae: sae, config: training)
        for i in 0..<2 {
            let m = try trainer.step(try ref["x\(i)"])
            #expect(Swift.abs(Double(m.loss) - Double(try ref["step\(i)/loss"].scalar)) < 1e-4 * Double(m.loss))
            #expect(Swift.abs(Double(m.sparsityPenalty) - Double(try ref["step\(i)/l1"].scalar)) < 1e-4 * Double(m.sparsityPenalty) && m.auxiliaryLoss == 0)
            #expect(Swift.abs(m.lr - Double(try ref["step\(i)/lr"].scalar)) < 1e-10)
            for (name, t) in [("W_enc", trainer.sae.wEnc), ("W_dec", trainer.sae.wDec), ("b_enc", trainer.sae.bEnc), ("b_dec", trainer.sae.bDec)] {
                expectClose(t, try ref["step\(i)/\(name)"], atol: 2e-6, rtol: 1e-5, Comment(rawValue: "step \(i) \(name)"))
            }
        }
        #expect(trainer.step == 2 && trainer.rowsCounted == 128)

        // Resampling three dead features from two batches with torch's draw, the Adam reset, the
        // re-warm, then one more step (Docs/Method.md §1.9).
        let inputs = Tensor.concatenate([try ref["resample/x0"], try ref["resample/x1"]], axis: 0)
        let chosen = try ref.file.readIndices("/resample/chosen").values
        trainer.resample(dead: [2, 5, 17], inputs: inputs, chosen: chosen)
        trainer.rewarmSchedule()
        for (name, t) in [("W_enc", trainer.sae.wEnc), ("W_dec", trainer.sae.wDec), ("b_enc", trainer.sae.bEnc), ("b_dec", trainer.sae.bDec)] {
            expectClose(t, try ref["resampled/\(name)"], atol: 2e-6, rtol: 1e-5, Comment(rawValue: "resampled \(name)"))
        }
        #expect(trainer.adam.m.wEnc.selecting(axis: 1, 5).abs().max() == 0 && trainer.adam.v.wDec.selecting(axis: 0, 17).abs().max() == 0)
        let m = try trainer.step(try ref["x2"])
        #expect(Swift.abs(m.lr - Double(try ref["step2/lr"].scalar)) < 1e-10)
        for (name, t) in [("W_enc", trainer.sae.wEnc), ("W_dec", trainer.sae.wDec), ("b_enc", trainer.sae.bEnc), ("b_dec", trainer.sae.bDec)] {
            expectClose(t, try ref["step2/\(name)"], atol: 2e-6, rtol: 1e-5, Comment(rawValue: "step 2 \(name)"))
        }
    }

    @Test func resamplingScheduleFollowsThePaper() throws {
        // Tiny run: 4 features, one never fires; checks every 10 steps, counters restart 5 steps before.
        let config = SAEConfig(dIn: 4, dSAE: 4, hookName: "blocks.0.attn.hook_z")
        var sae = SAETrainer.initialSAE(config, seed: 2)
        sae.bEnc = Tensor([0, 0, 0, -100])                    // feature 3 is dead
        var training = SAETrainingConfig()
        training.cosineWarmup = false
        var trainer = SAETrainer(sae: sae, config: training)
        var r = ResamplingConfig()
        r.reinitEvery = 10; r.resampleLast = 5; r.numResamples = 2; r.resampleBatches = 2
        var rng = RandomStream(seed: 3), data = RandomStream(seed: 4)
        var events: [ResampleEvent] = []
        for i in 0..<40 {
            try trainer.step(Tensor.randomNormal([8, 4], using: &data))
            if let e = try trainer.endOfStep(i, resampling: r, rng: &rng, nextBatch: { Tensor.randomNormal([8, 4], using: &data) }) {
                events.append(e)
            }
        }
        #expect(events.map(\.step) == [9, 19, 29, 39])
        #expect(events[0].dead.contains(3) && events[0].resampled)
        #expect(trainer.resamplesDone == 4)                   // checks count even after the limit (quirk kept)
        #expect(!events[2].resampled && !events[3].resampled) // past num_resamples: nothing changes
    }

    @Test func initialisationFollowsThePaper() {
        let sae = SAETrainer.initialSAE(SAEConfig(dIn: 64, dSAE: 256, hookName: "blocks.0.attn.hook_z"), seed: 1)
        expectClose(sae.wDec.l2Norm(axis: -1), Tensor(repeating: 1, shape: [256]), atol: 1e-6)
        let bound = Float((6.0 / 256).squareRoot())
        #expect(sae.wEnc.abs().max() <= bound && sae.wEnc.abs().max() > 0.9 * bound)
        #expect(sae.bEnc.abs().max() == 0 && sae.bDec.abs().max() == 0)
        #expect(SAETrainer.initialSAE(sae.config, seed: 1) == sae)
    }
}

@Suite struct CheckpointTests {
    /// Runs `steps` steps from `trainer` with resampling every 10 steps; batches depend only on the
    /// step index, resampling batches on `rng`.
    static func train(_ trainer: inout SAETrainer, from start: Int, to end: Int, rng: inout RandomStream, history: inout [StepMetrics]) throws {
        var r = ResamplingConfig()
        r.reinitEvery = 10; r.resampleLast = 10; r.resampleBatches = 2
        for i in start..<end {
            var data = RandomStream(seed: UInt64(1000 + i))
            history.append(try trainer.step(Tensor.randomNormal([16, 8], using: &data)))
            var source = RandomStream(seed: UInt64(5000 + i))
            try trainer.endOfStep(i, resampling: r, rng: &rng, nextBatch: { Tensor.randomNormal([16, 8], using: &source) })
        }
    }

    @Test func resumeContinuesExactlyAsAnUninterruptedRun() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var sae = SAETrainer.initialSAE(SAEConfig(dIn: 8, dSAE: 24, hookName: "blocks.0.attn.hook_z"), seed: 8)
        sae.bEnc = Tensor((0..<24).map { $0 % 5 == 0 ? -50 : 0 })    // some dead features, so resampling happens
        var training = SAETrainingConfig()
        training.schedEpochs = 20; training.schedWarmupEpochs = 20
        // Uninterrupted.
        var a = SAETrainer(sae: sae, config: training)
        var rngA = RandomStream(seed: 9), histA: [StepMetrics] = []
        try Self.train(&a, from: 0, to: 30, rng: &rngA, history: &histA)
        // Interrupted after 12 steps, saved, loaded, continued.
        var b = SAETrainer(sae: sae, config: training)
        var rngB = RandomStream(seed: 9), histB: [StepMetrics] = []
        try Self.train(&b, from: 0, to: 12, rng: &rngB, history: &histB)
        let path = dir.appendingPathComponent("ckpt.h5").path
        try b.saveCheckpoint(to: path, rngs: ["resample": rngB], history: histB)
        var (c, rngs, histC) = try SAETrainer.loadCheckpoint(from: path)
        #expect(histC == histB && c.step == 12)
        var rngC = try #require(rngs["resample"])
        try Self.train(&c, from: 12, to: 30, rng: &rngC, history: &histC)
        #expect(c.sae == a.sae)
        #expect(c.adam == a.adam && c.schedule == a.schedule && c.firingCounts == a.firingCounts)
        #expect(c.resamplesDone == a.resamplesDone && rngC == rngA)
        #expect(histC == histA)
        #expect(a.resamplesDone == 3)
    }

    @Test func nonFiniteLossStopsWithoutChangingAnything() throws {
        let sae = SAETrainer.initialSAE(SAEConfig(dIn: 4, dSAE: 8, hookName: "blocks.0.attn.hook_z"), seed: 1)
        var t = SAETrainer(sae: sae)
        var x = Tensor(repeating: 1, shape: [2, 4])
        x[1, 2] = .nan
        #expect(throws: SAETrainingError.self) { try t.step(x) }
        #expect(t.sae == sae && t.step == 0)
    }

    @Test func notACheckpointIsATypedError() throws {
        #expect(throws: (any Error).self) { try SAETrainer.loadCheckpoint(from: fixtures.appendingPathComponent("sae_reference.h5").path) }
    }
}

@Suite struct SparsePathTests {
    /// The sparse path's gradients equal the dense path's up to float rounding, for sparse and for
    /// fairly dense activations, and a whole step agrees too.
    @Test(arguments: [-0.3, 0.0, 0.3])
    func sparseAndDenseGradientsAgree(_ bias: Float) throws {
        var sae = SAETrainer.initialSAE(SAEConfig(dIn: 24, dSAE: 96, hookName: "blocks.0.attn.hook_z"), seed: 4)
        var rng = RandomStream(seed: 6)
        sae.bEnc = Tensor.randomNormal([96], mean: bias, std: 0.2, using: &rng)
        sae.bDec = Tensor.randomNormal([24], std: 0.1, using: &rng)
        let x = Tensor.randomNormal([40, 24], using: &rng)
        let trainer = SAETrainer(sae: sae)
        let d = trainer.gradients(x, path: .dense), s = trainer.gradients(x, path: .sparse)
        #expect(!d.sparse && s.sparse)
        #expect(d.gradients.names == ["W_enc", "W_dec", "b_enc", "b_dec"] && s.gradients.names == d.gradients.names)
        for name in d.gradients.names {
            expectClose(s.gradients[name]!, d.gradients[name]!, atol: 1e-5, rtol: 1e-4, Comment(rawValue: name))
        }
        #expect(s.fired == d.fired)
        #expect(Swift.abs(s.mse - d.mse) <= 1e-4 * d.mse && s.l0 == d.l0)
        #expect(Swift.abs(s.sparsityPenalty - d.sparsityPenalty) <= 1e-4 * Swift.max(d.sparsityPenalty, 1e-6))
        // The fast kernels against the naive entry path (Double, entry by entry).
        let naive = trainer.gradients(x, path: .naive)
        #expect(naive.fired == s.fired && Swift.abs(naive.sparsityPenalty - s.sparsityPenalty) <= 1e-5 * Swift.max(s.sparsityPenalty, 1e-6))
        for name in naive.gradients.names { expectClose(s.gradients[name]!, naive.gradients[name]!, atol: 1e-6, rtol: 1e-4, Comment(rawValue: "naive " + name)) }
        var a = SAETrainer(sae: sae), b = SAETrainer(sae: sae)
        var ca = SAETrainingConfig(), cb = SAETrainingConfig()
        ca.gradientPath = .dense; cb.gradientPath = .sparse
        a = SAETrainer(sae: sae, config: ca); b = SAETrainer(sae: sae, config: cb)
        for _ in 0..<3 {
            let batch = Tensor.randomNormal([40, 24], using: &rng)
            try a.step(batch); try b.step(batch)
        }
        expectClose(b.sae.wEnc, a.sae.wEnc, atol: 1e-5, rtol: 1e-4, "W_enc after 3 steps")
        expectClose(b.sae.wDec, a.sae.wDec, atol: 1e-5, rtol: 1e-4, "W_dec after 3 steps")
    }
}

/// Configs decoded from a checkpoint are checked again: an edited or damaged one is refused when
/// loading, naming the file, instead of trapping in the schedule or an allocation later.
@Suite struct CheckpointConfigTests {
    static func checkpoint(editing key: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let dir = temporaryDirectory()
        let path = dir.appendingPathComponent("c.h5").path
        let trainer = SAETrainer(sae: SAETrainer.initialSAE(SAEConfig(dIn: 8, dSAE: 16, hookName: "blocks.0.attn.hook_z"), seed: 1))
        try HDF5Writer.write(to: path) { w in
            try trainer.write(into: w, group: "")
            try w.setAttribute("format", .string(SAETrainer.checkpointFormat))
            try w.setAttribute("version", .int(SAETrainer.checkpointVersion))
            try w.setAttribute("rng_names", .strings([]))
            let original = try HDF5Writer.jsonString(of: key, trainer: trainer)
            var object = try JSONSerialization.jsonObject(with: Data(original.utf8)) as! [String: Any]
            edit(&object)
            try w.setAttribute(key, .string(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)))
        }
        return path
    }

    @Test func editedConfigsAreRefusedWhenLoading() throws {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("training_config", { $0["schedEpochs"] = 0 }),          // T_max 0: a division by zero in the schedule
            ("training_config", { $0["lr"] = -1.0 }),
            ("training_config", { $0["beta2"] = 1.0 }),
            ("schedule", { $0["tMax"] = 0 }),
            ("schedule", { $0["lastEpoch"] = -5 }),
            ("sae_config", { $0["headLayout"] = ["nHeads": 3, "dHead": 4] }),   // 12 ≠ d_in 8: a precondition of SAEConfig
            ("sae_config", { $0["dSAE"] = 1 << 30 }),
        ]
        for (key, edit) in cases {
            let path = try Self.checkpoint(editing: key, edit)
            defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
            do {
                _ = try SAETrainer.loadCheckpoint(from: path)
                Issue.record("\(key): accepted")
            } catch let e as SAEFormatError {
                #expect("\(e)".hasPrefix(path), "\(e)")
            }
        }
    }
}

extension HDF5Writer {
    /// The JSON a trainer writes under `key` (the same encoder as its checkpoint).
    static func jsonString(of key: String, trainer: SAETrainer) throws -> String {
        let e = JSONEncoder()
        let data: Data
        switch key {
        case "training_config": data = try e.encode(trainer.config)
        case "schedule": data = try e.encode(trainer.schedule)
        default: data = try e.encode(trainer.sae.config)
        }
        return String(decoding: data, as: UTF8.self)
    }
}
