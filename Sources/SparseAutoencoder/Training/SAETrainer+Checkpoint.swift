// SAETrainer+Checkpoint: the trainer's complete state in an HDF5 file, written atomically, read back
// bit for bit so training resumes exactly.

import Foundation
import Tensor

extension SAETrainer {
    static let checkpointFormat = "attention-saes.sae-training-checkpoint"
    /// 2: Adam's moments under the parameters' names (`adam/m/W_enc`); 1 (read): by position (`adam/m0`).
    static let checkpointVersion: Int64 = 2

    /// Writes everything a resumed run needs: the SAE, the Adam moments and step counts, the
    /// schedule, the step, the resample count, the firing counters, the named random-stream states
    /// (`rngs`, e.g. the resampling stream) and the metric history. Atomic and durable (temporary
    /// file, fsync, rename): a crash mid-write leaves the previous checkpoint in place.
    public func saveCheckpoint(to path: String, rngs: [String: RandomStream] = [:], history: [StepMetrics] = []) throws {
        try HDF5Writer.write(to: path, durable: true) { w in
            try write(into: w, group: "")
            if !history.isEmpty {
                try w.write(Tensor(shape: [history.count, 5], scalars: history.flatMap { [$0.loss, $0.mse, $0.sparsityPenalty, $0.auxiliaryLoss, $0.l0] }),
                            at: "/history/loss_mse_sparsity_auxiliary_l0")
                try w.setAttribute("lr", .doubles(history.map(\.lr)), of: "/history")
            }
            try w.setAttribute("format", .string(SAETrainer.checkpointFormat))
            try w.setAttribute("version", .int(SAETrainer.checkpointVersion))
            try w.setAttribute("rng_names", .strings(rngs.keys.sorted()))
            for (name, r) in rngs { try w.setAttribute("rng." + name, .ints(r.state.map { Int64(bitPattern: $0) })) }
        }
    }

    /// Writes the trainer's state under `group` ("" = the root): datasets `sae/…`, `adam/m/<name>` and
    /// `adam/v/<name>` for every parameter, `firing_counts`, the architecture's state, and the configs,
    /// schedule and counters as the group's attributes.
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
        for name in adam.m.names {
            try w.write(adam.m[name]!, at: g + "/adam/m/" + name)
            try w.write(adam.v[name]!, at: g + "/adam/v/" + name)
        }
        try w.write(IndexTensor(firingCounts), at: g + "/firing_counts")
        try architecture.write(into: w, group: g)
        let a = g.isEmpty ? "/" : g
        try w.setAttribute("sae_config", try json(sae.config), of: a)
        try w.setAttribute("training_config", try json(config), of: a)
        try w.setAttribute("schedule", try json(schedule), of: a)
        try w.setAttribute("step", .int(Int64(step)), of: a)
        try w.setAttribute("resamples_done", .int(Int64(resamplesDone)), of: a)
        try w.setAttribute("rows_counted", .int(Int64(rowsCounted)), of: a)
        try w.setAttribute("adam_steps", .ints(adam.steps.names.map { Int64(adam.steps[$0]!) }), of: a)
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
        guard saeConfig.architecture == TrainingArchitecture.make(trainingConfig, dSAE: saeConfig.dSAE).saeArchitecture else {
            throw fail("its SAE is \(saeConfig.architecture), which --architecture \(trainingConfig.architecture.rawValue) does not train")
        }
        let sae = try SAE.assemble(saeConfig, file: path) { name in f.contains(g + "/sae/" + name) ? try f.readTensor(g + "/sae/" + name) : nil }
        var trainer = SAETrainer(sae: sae, config: trainingConfig)
        trainer.schedule = schedule
        // Adam's moments by name (version 2) or by position in PyTorch's order (version 1).
        let parameters = SAEParameters(of: sae, trainer.architecture)
        let names = parameters.names
        for (i, name) in names.enumerated() {
            let (mPath, vPath) = f.contains(g + "/adam/m/" + name) ? (g + "/adam/m/" + name, g + "/adam/v/" + name) : (g + "/adam/m\(i)", g + "/adam/v\(i)")
            guard f.contains(mPath), f.contains(vPath) else { throw SAEFormatError.missingKey(file: path, key: mPath) }
            let (m, v) = (try f.readTensor(mPath), try f.readTensor(vPath))
            guard m.shape == parameters[name]!.shape, v.shape == parameters[name]!.shape else {
                throw fail("Adam state of \(name) does not match the SAE's shapes")
            }
            trainer.adam.m[name] = m
            trainer.adam.v[name] = v
        }
        guard case .ints(let steps)? = try? f.attribute("adam_steps", of: a), steps.count == names.count, steps.allSatisfy({ $0 >= 0 }) else {
            throw SAEFormatError.missingKey(file: path, key: (g.isEmpty ? "" : g + ".") + "adam_steps")
        }
        for (name, s) in zip(names, steps) { trainer.adam.steps[name] = Int(s) }
        trainer.step = try int("step")
        trainer.resamplesDone = try int("resamples_done")
        trainer.rowsCounted = try int("rows_counted")
        trainer.firingCounts = try f.readIndices(g + "/firing_counts").values
        guard trainer.firingCounts.count == saeConfig.dSAE, trainer.firingCounts.allSatisfy({ $0 >= 0 && $0 <= trainer.rowsCounted }) else {
            throw fail("firing counters do not match d_sae or the rows counted")
        }
        try trainer.architecture.read(from: f, group: g, path: path, dSAE: saeConfig.dSAE, step: trainer.step)
        return trainer
    }

    /// Reads a checkpoint written by ``saveCheckpoint(to:rngs:history:)``.
    public static func loadCheckpoint(from path: String) throws -> (trainer: SAETrainer, rngs: [String: RandomStream], history: [StepMetrics]) {
        let f = try HDF5File(path: path)
        func fail(_ detail: String) -> SAEFormatError { .unsupported(file: path, detail: detail) }
        guard (try? f.attribute("format").stringValue) == checkpointFormat else { throw fail("not an SAE training checkpoint (root attribute format)") }
        guard let version = try? f.attribute("version").intValue, (1...checkpointVersion).contains(version) else {
            throw fail("checkpoint version is not 1…\(checkpointVersion)")
        }
        let trainer = try read(from: f, group: "", path: path)
        var rngs: [String: RandomStream] = [:]
        for name in (try f.attribute("rng_names").stringsValue) ?? [] {
            rngs[name] = try readRandomStream(f, "rng." + name, of: "/", path: path)
        }
        var history: [StepMetrics] = []
        if f.contains("/history/loss_mse_sparsity_auxiliary_l0") {
            let h = try f.readTensor("/history/loss_mse_sparsity_auxiliary_l0").scalars
            let lrs = try f.attribute("lr", of: "/history")
            guard case .doubles(let lr) = lrs, lr.count * 5 == h.count else { throw fail("metric history is inconsistent") }
            history = (0..<lr.count).map {
                StepMetrics(loss: h[5 * $0], mse: h[5 * $0 + 1], sparsityPenalty: h[5 * $0 + 2], auxiliaryLoss: h[5 * $0 + 3], l0: h[5 * $0 + 4], lr: lr[$0])
            }
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
