// SAETrainer+Checkpoint: the trainer's complete state in an HDF5 file, written atomically, read back
// bit for bit so training resumes exactly.

import Foundation

extension SAETrainer {
    static let checkpointFormat = "attention-saes.sae-training-checkpoint"
    static let checkpointVersion: Int64 = 1

    /// Writes everything a resumed run needs: the SAE, the Adam moments and step counts, the
    /// schedule, the step, the resample count, the firing counters, the named random-stream states
    /// (`rngs`, e.g. the resampling stream) and the metric history. Atomic: a crash mid-write leaves
    /// the previous checkpoint in place.
    public func saveCheckpoint(to path: String, rngs: [String: RandomStream] = [:], history: [StepMetrics] = []) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let saeConfig = String(decoding: try encoder.encode(sae.config), as: UTF8.self)
        let trainingConfig = String(decoding: try encoder.encode(config), as: UTF8.self)
        let scheduleJSON = String(decoding: try encoder.encode(schedule), as: UTF8.self)
        try HDF5Writer.write(to: path) { w in
            try w.write(sae.wEnc, at: "/sae/W_enc")
            try w.write(sae.bEnc, at: "/sae/b_enc")
            try w.write(sae.wDec, at: "/sae/W_dec")
            try w.write(sae.bDec, at: "/sae/b_dec")
            for i in 0..<4 {
                try w.write(adam.m[i], at: "/adam/m\(i)")
                try w.write(adam.v[i], at: "/adam/v\(i)")
            }
            try w.write(IndexTensor(firingCounts), at: "/firing_counts")
            if !history.isEmpty {
                try w.write(Tensor(shape: [history.count, 4], scalars: history.flatMap { [$0.loss, $0.l2, $0.l1, $0.l0] }), at: "/history/loss_l2_l1_l0")
                try w.setAttribute("lr", .doubles(history.map(\.lr)), of: "/history")
            }
            try w.setAttribute("format", .string(SAETrainer.checkpointFormat))
            try w.setAttribute("version", .int(SAETrainer.checkpointVersion))
            try w.setAttribute("sae_config", .string(saeConfig))
            try w.setAttribute("training_config", .string(trainingConfig))
            try w.setAttribute("schedule", .string(scheduleJSON))
            try w.setAttribute("step", .int(Int64(step)))
            try w.setAttribute("resamples_done", .int(Int64(resamplesDone)))
            try w.setAttribute("rows_counted", .int(Int64(rowsCounted)))
            try w.setAttribute("adam_steps", .ints(adam.steps.map { Int64($0) }))
            try w.setAttribute("rng_names", .strings(rngs.keys.sorted()))
            for (name, r) in rngs {
                try w.setAttribute("rng." + name, .ints(r.state.map { Int64(bitPattern: $0) }))
            }
        }
    }

    /// Reads a checkpoint written by ``saveCheckpoint(to:rngs:history:)``.
    public static func loadCheckpoint(from path: String) throws -> (trainer: SAETrainer, rngs: [String: RandomStream], history: [StepMetrics]) {
        let f = try HDF5File(path: path)
        func fail(_ detail: String) -> SAEFormatError { .unsupported(file: path, detail: detail) }
        guard (try? f.attribute("format").stringValue) == checkpointFormat else { throw fail("not an SAE training checkpoint (root attribute format)") }
        guard (try? f.attribute("version").intValue) == checkpointVersion else { throw fail("checkpoint version is not \(checkpointVersion)") }
        func json<T: Decodable>(_ key: String, _ type: T.Type) throws -> T {
            guard let s = try f.attribute(key).stringValue, let v = try? JSONDecoder().decode(T.self, from: Data(s.utf8)) else {
                throw SAEFormatError.missingKey(file: path, key: key)
            }
            return v
        }
        func int(_ key: String) throws -> Int {
            guard let v = try f.attribute(key).intValue else { throw SAEFormatError.missingKey(file: path, key: key) }
            return Int(v)
        }
        let saeConfig = try json("sae_config", SAEConfig.self)
        let sae = try SAE.assemble(saeConfig, file: path) { name in f.contains("/sae/" + name) ? try f.readTensor("/sae/" + name) : nil }
        var trainer = SAETrainer(sae: sae, config: try json("training_config", SAETrainingConfig.self))
        trainer.schedule = try json("schedule", LRSchedule.self)
        for i in 0..<4 {
            trainer.adam.m[i] = try f.readTensor("/adam/m\(i)")
            trainer.adam.v[i] = try f.readTensor("/adam/v\(i)")
            guard trainer.adam.m[i].shape == trainer.adam.v[i].shape, trainer.adam.m[i].count == [sae.wEnc, sae.wDec, sae.bEnc, sae.bDec][i].count else {
                throw fail("Adam state \(i) does not match the SAE's shapes")
            }
        }
        guard case .ints(let steps)? = try? f.attribute("adam_steps"), steps.count == 4 else { throw SAEFormatError.missingKey(file: path, key: "adam_steps") }
        trainer.adam.steps = steps.map { Int($0) }
        trainer.step = try int("step")
        trainer.resamplesDone = try int("resamples_done")
        trainer.rowsCounted = try int("rows_counted")
        trainer.firingCounts = try f.readIndices("/firing_counts").values
        guard trainer.firingCounts.count == saeConfig.dSAE else { throw fail("firing counters do not match d_sae") }
        var rngs: [String: RandomStream] = [:]
        for name in (try f.attribute("rng_names").stringsValue) ?? [] {
            guard case .ints(let words)? = try? f.attribute("rng." + name), words.count == 4, words.contains(where: { $0 != 0 }) else {
                throw SAEFormatError.missingKey(file: path, key: "rng." + name)
            }
            rngs[name] = RandomStream(state: words.map { UInt64(bitPattern: $0) })
        }
        var history: [StepMetrics] = []
        if f.contains("/history/loss_l2_l1_l0") {
            let h = try f.readTensor("/history/loss_l2_l1_l0").scalars
            let lrs = try f.attribute("lr", of: "/history")
            guard case .doubles(let lr) = lrs, lr.count * 4 == h.count else { throw fail("metric history is inconsistent") }
            history = (0..<lr.count).map { StepMetrics(loss: h[4 * $0], l2: h[4 * $0 + 1], l1: h[4 * $0 + 2], l0: h[4 * $0 + 3], lr: lr[$0]) }
        }
        return (trainer, rngs, history)
    }
}
