// SAETrainer+Checkpoint: the trainer's complete state in an HDF5 file, written atomically, read back
// bit for bit so training resumes exactly.

import Foundation
import Tensor

extension SAETrainer {
    static let checkpointFormat = "attention-saes.sae-training-checkpoint"
    static let checkpointVersion: Int64 = 1

    /// Writes everything a resumed run needs: the SAE, the Adam moments and step counts, the
    /// schedule, the step, the resample count, the firing counters, the named random-stream states
    /// (`rngs`, e.g. the resampling stream) and the metric history. Atomic and durable (temporary
    /// file, fsync, rename): a crash mid-write leaves the previous checkpoint in place.
    public func saveCheckpoint(to path: String, rngs: [String: RandomStream] = [:], history: [StepMetrics] = []) throws {
        try HDF5Writer.write(to: path, durable: true) { w in
            try write(into: w, group: "")
            if !history.isEmpty {
                try w.write(Tensor(shape: [history.count, 4], scalars: history.flatMap { [$0.loss, $0.l2, $0.l1, $0.l0] }), at: "/history/loss_l2_l1_l0")
                try w.setAttribute("lr", .doubles(history.map(\.lr)), of: "/history")
            }
            try w.setAttribute("format", .string(SAETrainer.checkpointFormat))
            try w.setAttribute("version", .int(SAETrainer.checkpointVersion))
            try w.setAttribute("rng_names", .strings(rngs.keys.sorted()))
            for (name, r) in rngs { try w.setAttribute("rng." + name, .ints(r.state.map { Int64(bitPattern: $0) })) }
        }
    }

    /// Writes the trainer's state under `group` ("" = the root): datasets `sae/…`, `adam/m0…v3`,
    /// `firing_counts`, and the configs, schedule and counters as the group's attributes.
    public func write(into w: HDF5Writer, group g: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func json<T: Encodable>(_ v: T) throws -> HDF5Attribute { .string(String(decoding: try encoder.encode(v), as: UTF8.self)) }
        if !g.isEmpty { try w.createGroup(g) }
        try w.write(sae.wEnc, at: g + "/sae/W_enc")
        try w.write(sae.bEnc, at: g + "/sae/b_enc")
        try w.write(sae.wDec, at: g + "/sae/W_dec")
        try w.write(sae.bDec, at: g + "/sae/b_dec")
        if let t = sae.threshold { try w.write(t, at: g + "/sae/threshold") }
        for i in adam.m.indices {
            try w.write(adam.m[i], at: g + "/adam/m\(i)")
            try w.write(adam.v[i], at: g + "/adam/v\(i)")
        }
        try w.write(IndexTensor(firingCounts), at: g + "/firing_counts")
        try w.write(IndexTensor(stepsSinceFired), at: g + "/steps_since_fired")
        let a = g.isEmpty ? "/" : g
        try w.setAttribute("sae_config", try json(sae.config), of: a)
        try w.setAttribute("training_config", try json(config), of: a)
        try w.setAttribute("schedule", try json(schedule), of: a)
        try w.setAttribute("step", .int(Int64(step)), of: a)
        try w.setAttribute("resamples_done", .int(Int64(resamplesDone)), of: a)
        try w.setAttribute("rows_counted", .int(Int64(rowsCounted)), of: a)
        try w.setAttribute("adam_steps", .ints(adam.steps.map { Int64($0) }), of: a)
        try w.setAttribute("batch_threshold", .doubles([batchThreshold]), of: a)
    }

    /// Reads a trainer written by ``write(into:group:)``, checking every shape and counter against its
    /// SAE config; `path` names the file in errors.
    public static func read(from f: HDF5File, group g: String, path: String) throws -> SAETrainer {
        let a = g.isEmpty ? "/" : g
        func fail(_ detail: String) -> SAEFormatError { .unsupported(file: path, detail: (g.isEmpty ? "" : "\(g): ") + detail) }
        func json<T: Decodable>(_ key: String, _ type: T.Type) throws -> T {
            guard let s = try? f.attribute(key, of: a).stringValue, let v = try? JSONDecoder().decode(T.self, from: Data(s.utf8)) else {
                throw SAEFormatError.missingKey(file: path, key: (g.isEmpty ? "" : g + ".") + key)
            }
            return v
        }
        func int(_ key: String) throws -> Int { try readCount(f, key, of: a, path: path) }
        // Decoded configs are checked again: a damaged or edited checkpoint must fail here, not trap later.
        let saeConfig = try json("sae_config", SAEConfig.self)
        try saeConfig.validate(file: path)
        let trainingConfig = try json("training_config", SAETrainingConfig.self)
        let schedule = try json("schedule", LRSchedule.self)
        do {
            try trainingConfig.validate(for: saeConfig)
            try schedule.validate()
        } catch { throw fail("\(error)") }
        guard saeConfig.architecture == trainingConfig.architecture.saeArchitecture(k: trainingConfig.k) else {
            throw fail("its SAE is \(saeConfig.architecture), which --architecture \(trainingConfig.architecture.rawValue) does not train")
        }
        let sae = try SAE.assemble(saeConfig, file: path) { name in f.contains(g + "/sae/" + name) ? try f.readTensor(g + "/sae/" + name) : nil }
        var trainer = SAETrainer(sae: sae, config: trainingConfig)
        trainer.schedule = schedule
        let params = [sae.wEnc, sae.wDec, sae.bEnc, sae.bDec] + (trainingConfig.architecture == .jumprelu ? [sae.threshold!] : [])
        for i in params.indices {
            trainer.adam.m[i] = try f.readTensor(g + "/adam/m\(i)")
            trainer.adam.v[i] = try f.readTensor(g + "/adam/v\(i)")
            guard trainer.adam.m[i].shape == params[i].shape, trainer.adam.v[i].shape == params[i].shape else {
                throw fail("Adam state \(i) does not match the SAE's shapes")
            }
        }
        guard case .ints(let steps)? = try? f.attribute("adam_steps", of: a), steps.count == params.count, steps.allSatisfy({ $0 >= 0 }) else {
            throw SAEFormatError.missingKey(file: path, key: (g.isEmpty ? "" : g + ".") + "adam_steps")
        }
        trainer.adam.steps = steps.map { Int($0) }
        trainer.step = try int("step")
        trainer.resamplesDone = try int("resamples_done")
        trainer.rowsCounted = try int("rows_counted")
        trainer.firingCounts = try f.readIndices(g + "/firing_counts").values
        guard trainer.firingCounts.count == saeConfig.dSAE, trainer.firingCounts.allSatisfy({ $0 >= 0 && $0 <= trainer.rowsCounted }) else {
            throw fail("firing counters do not match d_sae or the rows counted")
        }
        // Written since the newer architectures (an older checkpoint's features count as just fired).
        if f.contains(g + "/steps_since_fired") {
            trainer.stepsSinceFired = try f.readIndices(g + "/steps_since_fired").values
            guard trainer.stepsSinceFired.count == saeConfig.dSAE, trainer.stepsSinceFired.allSatisfy({ $0 >= 0 && $0 <= trainer.step }) else {
                throw fail("steps-since-fired counters do not match d_sae or the steps taken")
            }
        }
        if case .doubles(let t)? = try? f.attribute("batch_threshold", of: a) {
            guard t.count == 1, t[0].isFinite else { throw fail("batch_threshold is not one finite number") }
            trainer.batchThreshold = t[0]
        }
        return trainer
    }

    /// Reads a checkpoint written by ``saveCheckpoint(to:rngs:history:)``.
    public static func loadCheckpoint(from path: String) throws -> (trainer: SAETrainer, rngs: [String: RandomStream], history: [StepMetrics]) {
        let f = try HDF5File(path: path)
        func fail(_ detail: String) -> SAEFormatError { .unsupported(file: path, detail: detail) }
        guard (try? f.attribute("format").stringValue) == checkpointFormat else { throw fail("not an SAE training checkpoint (root attribute format)") }
        guard (try? f.attribute("version").intValue) == checkpointVersion else { throw fail("checkpoint version is not \(checkpointVersion)") }
        let trainer = try read(from: f, group: "", path: path)
        var rngs: [String: RandomStream] = [:]
        for name in (try f.attribute("rng_names").stringsValue) ?? [] {
            rngs[name] = try readRandomStream(f, "rng." + name, of: "/", path: path)
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

    /// A non-negative integer attribute (a count, a step, a position), named `object.key` when missing.
    static func readCount(_ f: HDF5File, _ key: String, of object: String = "/", path: String) throws -> Int {
        guard let v = try? f.attribute(key, of: object).intValue, v >= 0 else {
            throw SAEFormatError.missingKey(file: path, key: (object == "/" ? "" : object + ".") + key)
        }
        return Int(v)
    }

    /// A random stream's four state words stored as an int64 attribute (all zero is not a valid state).
    static func readRandomStream(_ f: HDF5File, _ key: String, of object: String, path: String) throws -> RandomStream {
        guard case .ints(let words)? = try? f.attribute(key, of: object), words.count == 4, words.contains(where: { $0 != 0 }) else {
            throw SAEFormatError.missingKey(file: path, key: (object == "/" ? "" : object + ".") + key)
        }
        return RandomStream(state: words.map { UInt64(bitPattern: $0) })
    }
}
