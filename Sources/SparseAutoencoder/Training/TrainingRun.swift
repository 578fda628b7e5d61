// TrainingRun: the training loop — shuffling buffer → step → resampling → curve → checkpoint — for
// one or more SAEs trained side by side on the same batches, with one checkpoint file from which a
// run continues bit for bit.

import Foundation
import Tensor

/// One point of a training curve: the means over the steps since the previous point.
public struct TrainingRecord: Codable, Sendable, Equatable {
    /// Steps taken when the point was logged (1-based: the point after step 0 has `step` 1).
    public var step: Int
    /// See ``StepMetrics``.
    public var loss: Float, mse: Float, sparsityPenalty: Float, auxiliaryLoss: Float, l0: Float
    /// The learning rate of the last step of the window.
    public var lr: Double

    public init(step: Int, loss: Float, mse: Float, sparsityPenalty: Float, auxiliaryLoss: Float, l0: Float, lr: Double) {
        self.step = step; self.loss = loss; self.mse = mse; self.sparsityPenalty = sparsityPenalty; self.auxiliaryLoss = auxiliaryLoss
        self.l0 = l0; self.lr = lr
    }

    /// The mean of `window` (not empty), logged at `step`.
    public init(step: Int, averaging window: [StepMetrics]) {
        let n = Float(window.count)
        func mean(_ k: KeyPath<StepMetrics, Float>) -> Float { window.map { $0[keyPath: k] }.reduce(0, +) / n }
        self.init(step: step, loss: mean(\.loss), mse: mean(\.mse), sparsityPenalty: mean(\.sparsityPenalty),
                  auxiliaryLoss: mean(\.auxiliaryLoss), l0: mean(\.l0), lr: window.last!.lr)
    }

    enum CodingKeys: String, CodingKey { case step, loss, mse, sparsityPenalty, auxiliaryLoss, l0, lr, l2, l1 }

    /// Reads a point; one from a version-1 checkpoint has `l2` (the mse) and `l1` (the architecture's
    /// side loss, counted here as its sparsity penalty).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decodeIfPresent(Int.self, forKey: .step) ?? 0
        loss = try c.decode(Float.self, forKey: .loss)
        mse = try c.decodeIfPresent(Float.self, forKey: .mse) ?? c.decode(Float.self, forKey: .l2)
        sparsityPenalty = try c.decodeIfPresent(Float.self, forKey: .sparsityPenalty) ?? c.decode(Float.self, forKey: .l1)
        auxiliaryLoss = try c.decodeIfPresent(Float.self, forKey: .auxiliaryLoss) ?? 0
        l0 = try c.decode(Float.self, forKey: .l0)
        lr = try c.decode(Double.self, forKey: .lr)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(step, forKey: .step); try c.encode(loss, forKey: .loss); try c.encode(mse, forKey: .mse)
        try c.encode(sparsityPenalty, forKey: .sparsityPenalty); try c.encode(auxiliaryLoss, forKey: .auxiliaryLoss)
        try c.encode(l0, forKey: .l0); try c.encode(lr, forKey: .lr)
    }
}

/// A training run that cannot start, or a checkpoint it cannot continue from.
public enum TrainingRunError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A value of the plan or of a member is outside its range; `name` is the setting's name in the
    /// library (a property of ``TrainingRunPlan``, ``ResamplingConfig`` or ``SAETrainingConfig``).
    case invalidSetting(name: String, value: String, allowed: String)
    /// A checkpoint written by a run with other settings (or another model, corpus, SAE list).
    case checkpointMismatch(file: String, detail: String)

    public var description: String {
        switch self {
        case .invalidSetting(let n, let v, let a): "\(n) is \(v); allowed: \(a)"
        case .checkpointMismatch(let f, let d):
            "checkpoint \(f) was written by another run (\(d)); delete it to start afresh, or run with the settings it was written with"
        }
    }
}

/// The schedule of a run, shared by all its SAEs: they see the same batches in the same order.
public struct TrainingRunPlan: Codable, Sendable, Equatable {
    /// Training steps; each takes one batch of `batchSize` rows.
    public var steps: Int
    public var batchSize: Int
    /// Rows of the shuffling buffer (Docs/Method.md §1.3: the paper's 4096 · 384).
    public var bufferRows: Int
    /// Storage of the buffer (the paper: bfloat16).
    public var precision: HalfPrecision
    public var bufferSeed: UInt64
    /// Dead-feature resampling for every standard-architecture SAE of the run, or nil for none.
    public var resampling: ResamplingConfig?
    /// A curve point every this many steps (and after the last).
    public var recordEvery: Int

    public init(steps: Int, batchSize: Int, bufferRows: Int, precision: HalfPrecision = .bfloat16, bufferSeed: UInt64 = 0,
                resampling: ResamplingConfig? = nil, recordEvery: Int = 1) {
        self.steps = steps; self.batchSize = batchSize; self.bufferRows = bufferRows; self.precision = precision
        self.bufferSeed = bufferSeed; self.resampling = resampling; self.recordEvery = recordEvery
    }

    /// Checks every value; errors name the setting by this type's property names.
    public func validate() throws {
        func check(_ ok: Bool, _ name: String, _ value: Any, _ allowed: String) throws {
            if !ok { throw TrainingRunError.invalidSetting(name: name, value: "\(value)", allowed: allowed) }
        }
        try check(batchSize >= 1 && batchSize <= 1 << 24, "batchSize", batchSize, "1…16777216")
        try check(steps >= 1 && steps <= 1 << 40, "steps", steps, "1…2^40")
        try check(bufferRows >= 4 * batchSize && bufferRows <= 1 << 31, "bufferRows", bufferRows, "at least four batches (\(4 * batchSize)) and at most 2³¹")
        try check(recordEvery >= 1, "recordEvery", recordEvery, "≥ 1")
        if let r = resampling {
            try check(r.reinitEvery >= 1, "resampling.reinitEvery", r.reinitEvery, "≥ 1")
            // Batches for new directions come from the buffer, which refills as they are drawn: any count works.
            try check(r.resampleBatches >= 1, "resampling.resampleBatches", r.resampleBatches, "≥ 1")
            try check(r.numResamples >= 0, "resampling.numResamples", r.numResamples, "≥ 0")
            try check(r.resampleLast >= 0, "resampling.resampleLast", r.resampleLast, "≥ 0")
            try check(r.deadCutoff.isFinite && r.deadCutoff >= 0 && r.deadCutoff <= 1, "resampling.deadCutoff", r.deadCutoff, "0…1")
            try check(r.encoderScale.isFinite && r.encoderScale >= 0, "resampling.encoderScale", r.encoderScale, "a finite number ≥ 0")
        }
    }
}

/// One SAE of a run: the columns of each row it reads, its trainer, its resampling stream and its curve.
public struct TrainingRunMember: Sendable {
    public internal(set) var trainer: SAETrainer
    /// Columns of the source's rows (e.g. one layer's `hook_z` among several layers' side by side).
    public let columns: Range<Int>
    public internal(set) var resampleRNG: RandomStream
    public internal(set) var history: [TrainingRecord] = []
    /// Steps since the last curve point.
    var window: [StepMetrics] = []
    /// The resampling checks that found dead features.
    public internal(set) var resampleEvents: [ResampleEvent] = []

    /// The seed of Active Subspace Initialisation's random directions.
    public let initializationSeed: UInt64
    /// With Active Subspace Initialisation, the subspace the run started the SAE in: its dimension and
    /// the fraction of the sample's variance it holds (not part of a checkpoint).
    public internal(set) var activeSubspace: (dimension: Int, heldVariance: Double)?

    public init(sae: SAE, config: SAETrainingConfig, columns: Range<Int>, resampleSeed: UInt64) {
        trainer = SAETrainer(sae: sae, config: config)
        self.columns = columns
        resampleRNG = RandomStream(seed: resampleSeed)
        initializationSeed = resampleSeed &+ 0x5EED_0A51
    }
}

/// What a running ``TrainingRun`` reports.
public struct TrainingProgress: Sendable {
    public enum Phase: Sendable, Equatable {
        /// The buffer's first fill: rows filled of the rows to fill.
        case filling(rows: Int, of: Int)
        case training
    }
    public var phase: Phase
    /// Steps done, of the plan's steps.
    public var step: Int, steps: Int
    /// Tokens per second — read from the source while filling, trained on (all ranks) while training —
    /// and seconds since this process started the run.
    public var rowsPerSecond: Double, seconds: Double
    /// Estimated seconds left (nil until it can be estimated).
    public var eta: Double?
    /// Each member's latest curve point.
    public var latest: [TrainingRecord?]
}

/// The training loop of Docs/Method.md §1.3–§1.9 for one or more SAEs trained side by side.
///
/// Each step takes one batch `[batch, Σ widths]` from the shared shuffling buffer; every member trains
/// on its columns of it (a sweep of settings on one layer reads the same columns; several layers read
/// theirs). Resampling checks happen at the same steps for all members; when any member needs batches
/// to draw new directions from, they are drawn once and every member that needs them uses the same
/// ones (with one member this is the reference code's behaviour exactly).
///
/// **Data parallelism.** With a ``Collective`` of N ranks (MPI), each rank runs this loop on its own
/// source (its share of the corpus), a buffer of `bufferRows / N` rows and batches of `batchSize / N`
/// rows; every step sums the gradients across ranks (``SAETrainer/step(_:across:)``) and resampling
/// chooses among all ranks' rows, so the SAEs stay identical on every rank. Rank 0 reports.
///
/// A checkpoint (``save(to:)``) is one HDF5 file, written atomically and durably, holding every
/// member's SAE, Adam state, schedule, counters, random streams and curve, the buffer's rows (bit for
/// bit), read pointer, random stream and the rows waiting for its next refresh, and the source's
/// position; ``resume(from:source:metadata:onFill:)`` continues from it exactly: the final weights
/// equal an uninterrupted run's bit for bit.
public struct TrainingRun<Source: ResumableActivationSource> {
    public let plan: TrainingRunPlan
    public private(set) var members: [TrainingRunMember]
    public private(set) var buffer: ActivationBuffer<Source>
    /// Steps done.
    public private(set) var step = 0
    /// The caller's description of the run (e.g. its settings as JSON), stored in every checkpoint and
    /// compared on resume.
    public let metadata: String
    /// The ranks of a data-parallel run (``SingleProcess`` for one).
    public let ranks: any Collective
    /// When this process started the run and at which step (for rates; not part of the state).
    private var clock = (start: Date(), stepAtStart: 0)

    /// Starts a run: checks the plan and the members' columns, then fills the buffer (reporting it).
    public init(plan: TrainingRunPlan, members: [TrainingRunMember], source: Source, metadata: String = "",
                ranks: any Collective = SingleProcess(), progress: @escaping (TrainingProgress) -> Void = { _ in }) throws {
        try plan.validate()
        try Self.check(plan, ranks: ranks)
        try Self.check(members, width: source.dIn)
        self.plan = plan
        self.members = members
        self.metadata = metadata
        self.ranks = ranks
        let start = Date(), steps = plan.steps
        var lastReport = Date.distantPast
        buffer = try ActivationBuffer(source: source, size: plan.bufferRows / ranks.size, batchSize: plan.batchSize / ranks.size, precision: plan.precision,
                                      seed: plan.bufferSeed, onFill: { filled, total in
            let now = Date()
            guard filled == total || now.timeIntervalSince(lastReport) >= 1 else { return }
            lastReport = now
            let t = now.timeIntervalSince(start)
            progress(TrainingProgress(phase: .filling(rows: filled, of: total), step: 0, steps: steps,
                                      rowsPerSecond: t > 0 ? Double(filled) / t : 0, seconds: t,
                                      eta: filled > 0 ? t * Double(total - filled) / Double(filled) : nil, latest: members.map { _ in nil }))
        })
        buffer.onFill = nil
        clock = (start, 0)
        try initializeActiveSubspaces()
    }

    /// Rows of the buffer (over all ranks) the active subspace is estimated from.
    static var activeSubspaceRows: Int { 65_536 }

    /// Active Subspace Initialisation of the members that ask for it, from the first buffer fill: evenly
    /// spaced rows (at most ``activeSubspaceRows`` over all ranks), their moments summed across ranks —
    /// so every rank computes the same subspace and the same SAE.
    mutating func initializeActiveSubspaces() throws {
        let asking = members.indices.filter { members[$0].trainer.config.initialization == .activeSubspace }
        guard !asking.isEmpty else { return }
        let rows = buffer.storage.shape[0], take = min(rows, max(1, Self.activeSubspaceRows / ranks.size))
        let sample = buffer.storage.rows((0..<take).map { $0 * rows / take })
        // One subspace per (columns, dimension): a sweep on one layer shares it.
        var subspaces: [String: ActiveSubspace] = [:]
        for k in asking {
            let m = members[k]
            let dIn = m.columns.count, dimension = m.trainer.config.activeSubspaceDim
            let key = "\(m.columns) \(dimension.map(String.init) ?? "auto")"
            if subspaces[key] == nil {
                var moments = ActiveSubspace.moments(of: Self.columns(sample, m.columns)).flattened
                try ranks.sum(&moments)
                subspaces[key] = try ActiveSubspace(.init(flattened: moments, dIn: dIn), dimension: dimension)
            }
            let subspace = subspaces[key]!
            let sae = SAETrainer.activeSubspaceSAE(m.trainer.sae.config, subspace: subspace, seed: m.initializationSeed)
            members[k].trainer = SAETrainer(sae: sae, config: m.trainer.config)
            members[k].activeSubspace = (subspace.dimension, subspace.heldVariance)
        }
    }

    static func check(_ plan: TrainingRunPlan, ranks: any Collective) throws {
        let n = ranks.size
        guard plan.batchSize % n == 0, plan.bufferRows % n == 0 else {
            throw TrainingRunError.invalidSetting(name: "batchSize and bufferRows", value: "\(plan.batchSize) and \(plan.bufferRows)",
                                                  allowed: "multiples of the \(n) ranks (each rank takes an equal share)")
        }
    }

    static func check(_ members: [TrainingRunMember], width: Int) throws {
        guard !members.isEmpty else { throw TrainingRunError.invalidSetting(name: "SAEs", value: "none", allowed: "at least one") }
        for m in members { try m.trainer.config.validate(for: m.trainer.sae.config) }
        for m in members where m.columns.lowerBound < 0 || m.columns.upperBound > width || m.columns.count != m.trainer.sae.config.dIn {
            throw TrainingRunError.invalidSetting(name: "columns of \(m.trainer.sae.config.hookName)", value: "\(m.columns)",
                                                  allowed: "\(m.trainer.sae.config.dIn) columns within the source's \(width)")
        }
    }

    /// Trains until `until` steps are done (default: the plan's), writing a checkpoint to `checkpoint`
    /// every `every` steps and after the last, and reporting progress about once a second.
    public mutating func run(until: Int? = nil, checkpoint: (path: String, every: Int)? = nil,
                             progress: (TrainingProgress) -> Void = { _ in }) throws {
        let end = min(until ?? plan.steps, plan.steps)
        if let c = checkpoint {
            guard c.every >= 1 else { throw TrainingRunError.invalidSetting(name: "checkpointEvery", value: "\(c.every)", allowed: "≥ 1") }
            AtomicFile.removeStaleTemporaries(of: c.path)
            if ranks.rank > 0 { Self.removeStaleRankTemporaries(c.path, rank: ranks.rank) }
        }
        var lastReport = Date()
        while step < end {
            try trainOneStep()
            let now = Date()
            if now.timeIntervalSince(lastReport) >= 1 || step == end {
                lastReport = now
                progress(currentProgress)
            }
            if let c = checkpoint, step % c.every == 0 || step == plan.steps { try save(to: c.path) }
        }
    }

    /// Progress now.
    public var currentProgress: TrainingProgress {
        let t = Date().timeIntervalSince(clock.start)
        let done = step - clock.stepAtStart
        // Tokens trained on per second (all ranks), buffer fills included.
        let rows = Double(done * plan.batchSize)
        return TrainingProgress(phase: .training, step: step, steps: plan.steps, rowsPerSecond: t > 0 ? rows / t : 0, seconds: t,
                                eta: done > 0 ? t / Double(done) * Double(plan.steps - step) : nil, latest: members.map(\.history.last))
    }

    /// One step for every member, their resampling checks, and the curve.
    mutating func trainOneStep() throws {
        let i = step
        let batch = try buffer.next()
        for k in members.indices {
            let m = try members[k].trainer.step(Self.columns(batch, members[k].columns), across: ranks)
            members[k].window.append(m)
        }
        if let r = plan.resampling {
            // Batches drawn at most once per check, shared by the members that need them. They come from
            // the shared buffer, as the paper's resampling takes them from its own: once a member resamples,
            // every member's later batches are later rows than training it alone would give.
            var drawn: [Tensor] = []
            // The paper's resampling is part of the standard recipe; the other architectures have AuxK or none.
            for k in members.indices where members[k].trainer.config.architecture == .standard {
                var used = 0
                var (trainer, rng, cols) = (members[k].trainer, members[k].resampleRNG, members[k].columns)
                var own = r
                if let cutoff = trainer.config.deadCutoff { own.deadCutoff = cutoff }       // this SAE's own cutoff
                let event = try trainer.endOfStep(i, resampling: own, rng: &rng, across: ranks) {
                    if used == drawn.count { drawn.append(try buffer.next()) }
                    used += 1
                    return Self.columns(drawn[used - 1], cols)
                }
                (members[k].trainer, members[k].resampleRNG) = (trainer, rng)
                if let e = event, !e.dead.isEmpty { members[k].resampleEvents.append(e) }
            }
        }
        step += 1
        if step % plan.recordEvery == 0 || step == plan.steps {
            for k in members.indices where !members[k].window.isEmpty {
                members[k].history.append(TrainingRecord(step: step, averaging: members[k].window))
                members[k].window = []
            }
        }
    }

    /// Columns `c` of a batch (the batch itself when it is all of them).
    static func columns(_ batch: Tensor, _ c: Range<Int>) -> Tensor {
        c.count == batch.shape[1] ? batch : batch.sliced(axis: 1, c).contiguous()
    }

    // MARK: Checkpoints

    static var checkpointFormat: String { "attention-saes.training-run" }
    /// 2: the trainers' Adam moments by name and the curve's named metrics; 1 is read too.
    static var checkpointVersion: Int64 { 2 }

    /// Writes the run's complete state to `path` (one HDF5 file; temporary file, fsync, rename).
    ///
    /// With several ranks, every rank but 0 first writes its own buffer and source position to
    /// ``rankFile(_:rank:step:)`` (durably), then rank 0 writes `path` — which names the step — and
    /// finally the ranks delete their files of other steps: a kill at any point leaves a `path` whose
    /// step has every rank's file.
    public func save(to path: String) throws {
        let size = ranks.size
        if size > 1 {
            if ranks.rank > 0 { try Self.writeBuffer(buffer, to: Self.rankFile(path, rank: ranks.rank, step: step), step: step) }
            var barrier = [0.0]
            try ranks.sum(&barrier)
            if ranks.rank == 0 { try writeMain(to: path) }
            try ranks.sum(&barrier)
            if ranks.rank > 0 { Self.removeRankFiles(path, rank: ranks.rank, except: step) }
        } else {
            try writeMain(to: path)
        }
    }

    /// The file of rank `rank`'s buffer for the checkpoint `path` at `step`.
    public static func rankFile(_ path: String, rank: Int, step: Int) -> String { path + ".rank\(rank)-step\(step)" }

    /// Rank `rank`'s buffer files of `path` for steps other than `step`.
    static func removeRankFiles(_ path: String, rank: Int, except step: Int) {
        let prefix = URL(fileURLWithPath: path).lastPathComponent + ".rank\(rank)-step"
        let keep = URL(fileURLWithPath: rankFile(path, rank: rank, step: step)).lastPathComponent
        AtomicFile.removeFiles(inFolderOf: path) { $0.hasPrefix(prefix) && $0 != keep }
    }

    /// Temporary files of rank `rank`'s buffer files left by a killed writer.
    static func removeStaleRankTemporaries(_ path: String, rank: Int) {
        let prefix = "." + URL(fileURLWithPath: path).lastPathComponent + ".rank\(rank)-step"
        AtomicFile.removeFiles(inFolderOf: path) { $0.hasPrefix(prefix) && $0.contains(".tmp-") }
    }

    static func writeBuffer(_ buffer: ActivationBuffer<Source>, to path: String, step: Int) throws {
        try HDF5Writer.write(to: path, durable: true) { w in
            try w.setAttribute("step", .int(Int64(step)))
            try writeBuffer(buffer, into: w)
        }
    }

    static func writeBuffer(_ buffer: ActivationBuffer<Source>, into w: HDF5Writer) throws {
        let snap = buffer.snapshot
        try w.setAttribute("source_rows", .int(Int64(buffer.source.rowsDelivered)))
        try w.writeBits(snap.storage, at: "/buffer/rows")
        if let p = snap.pending { try w.write(p, at: "/buffer/pending") }
        try w.setAttribute("read_pointer", .int(Int64(snap.readPointer)), of: "/buffer")
        try w.setAttribute("refreshes", .int(Int64(snap.refreshes)), of: "/buffer")
        try w.setAttribute("rng", .ints(snap.rng.state.map { Int64(bitPattern: $0) }), of: "/buffer")
    }

    func writeMain(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let windows = try members.map { String(decoding: try encoder.encode($0.window.map(CheckpointWindowEntry.init)), as: UTF8.self) }
        try HDF5Writer.write(to: path, durable: true) { w in
            try w.setAttribute("format", .string(Self.checkpointFormat))
            try w.setAttribute("version", .int(Self.checkpointVersion))
            try w.setAttribute("plan", .string(String(decoding: try encoder.encode(plan), as: UTF8.self)))
            try w.setAttribute("metadata", .string(metadata))
            try w.setAttribute("step", .int(Int64(step)))
            try w.setAttribute("members", .int(Int64(members.count)))
            try w.setAttribute("ranks", .int(Int64(ranks.size)))
            try Self.writeBuffer(buffer, into: w)
            for (k, m) in members.enumerated() {
                let g = "/member\(k)"
                try m.trainer.write(into: w, group: g)
                try w.setAttribute("columns", .ints([Int64(m.columns.lowerBound), Int64(m.columns.upperBound)]), of: g)
                try w.setAttribute("resample_rng", .ints(m.resampleRNG.state.map { Int64(bitPattern: $0) }), of: g)
                try w.setAttribute("history", .string(String(decoding: try encoder.encode(m.history), as: UTF8.self)), of: g)
                try w.setAttribute("window", .string(windows[k]), of: g)
            }
        }
    }

    /// StepMetrics as stored in a checkpoint's unfinished curve window.

    /// The plan and metadata a checkpoint was written with, without loading its tensors.
    public static func checkpointInfo(_ path: String) throws -> (plan: TrainingRunPlan, metadata: String, step: Int) {
        let f = try HDF5File(path: path)
        let plan = try readPlan(f, path)
        guard let metadata = try? f.attribute("metadata").stringValue, let step = try? f.attribute("step").intValue else {
            throw SAEFormatError.missingKey(file: path, key: "metadata")
        }
        return (plan, metadata, Int(step))
    }

    static func readPlan(_ f: HDF5File, _ path: String) throws -> TrainingRunPlan {
        guard (try? f.attribute("format").stringValue) == checkpointFormat else {
            throw SAEFormatError.unsupported(file: path, detail: "not a training-run checkpoint (root attribute format is not '\(checkpointFormat)')")
        }
        guard let version = try? f.attribute("version").intValue, (1...checkpointVersion).contains(version) else {
            throw SAEFormatError.unsupported(file: path, detail: "checkpoint version is not 1…\(checkpointVersion)")
        }
        guard let s = try? f.attribute("plan").stringValue, let plan = try? JSONDecoder().decode(TrainingRunPlan.self, from: Data(s.utf8)) else {
            throw SAEFormatError.missingKey(file: path, key: "plan")
        }
        do { try plan.validate() } catch { throw SAEFormatError.unsupported(file: path, detail: "its plan is invalid: \(error)") }
        return plan
    }

    /// Continues the run saved at `path`. `source` is a fresh source (at row 0), which is skipped to
    /// the saved position; `metadata` must equal the saved run's.
    public static func resume(from path: String, source: Source, metadata: String, ranks: any Collective = SingleProcess()) throws -> TrainingRun {
        let f = try HDF5File(path: path)
        let plan = try readPlan(f, path)
        try check(plan, ranks: ranks)
        let savedRanks = (try? f.attribute("ranks").intValue).map(Int.init) ?? 1
        guard savedRanks == ranks.size else {
            throw TrainingRunError.checkpointMismatch(file: path, detail: "it was written by \(savedRanks) rank\(savedRanks == 1 ? "" : "s"), this run has \(ranks.size)")
        }
        func int(_ key: String, of object: String = "/") throws -> Int { try SAETrainer.readCount(f, key, of: object, path: path) }
        guard let saved = try? f.attribute("metadata").stringValue else { throw SAEFormatError.missingKey(file: path, key: "metadata") }
        guard saved == metadata else {
            throw TrainingRunError.checkpointMismatch(file: path, detail: "it was written with \(saved), this run is \(metadata)")
        }
        let step = try int("step"), count = try int("members")
        guard step <= plan.steps, count >= 1, count <= 4096 else { throw SAEFormatError.unsupported(file: path, detail: "step \(step) of \(plan.steps), \(count) SAEs") }
        let decoder = JSONDecoder()
        var members: [TrainingRunMember] = []
        for k in 0..<count {
            let g = "/member\(k)"
            let trainer = try SAETrainer.read(from: f, group: g, path: path)
            guard case .ints(let c)? = try? f.attribute("columns", of: g), c.count == 2, c[0] >= 0, c[0] <= c[1] else {
                throw SAEFormatError.missingKey(file: path, key: g + ".columns")
            }
            var m = TrainingRunMember(sae: trainer.sae, config: trainer.config, columns: Int(c[0])..<Int(c[1]), resampleSeed: 0)
            m.trainer = trainer
            m.resampleRNG = try SAETrainer.readRandomStream(f, "resample_rng", of: g, path: path)
            guard let h = try? f.attribute("history", of: g).stringValue, let history = try? decoder.decode([TrainingRecord].self, from: Data(h.utf8)),
                  let w = try? f.attribute("window", of: g).stringValue, let window = try? decoder.decode([CheckpointWindowEntry].self, from: Data(w.utf8)) else {
                throw SAEFormatError.missingKey(file: path, key: g + ".history")
            }
            guard trainer.step == step else { throw SAEFormatError.unsupported(file: path, detail: "\(g) is at step \(trainer.step), the run at \(step)") }
            m.history = history
            m.window = window.map(\.metrics)
            members.append(m)
        }
        try check(members, width: source.dIn)
        // The buffer: rank 0's (or one process's) is in the main file, the others' in their rank files.
        let bufferPath = ranks.rank == 0 ? path : rankFile(path, rank: ranks.rank, step: step)
        let bf = ranks.rank == 0 ? f : try HDF5File(path: bufferPath)
        if ranks.rank > 0 {
            guard (try? bf.attribute("step").intValue).map(Int.init) == step else {
                throw SAEFormatError.unsupported(file: bufferPath, detail: "rank \(ranks.rank)'s buffer is not of step \(step)")
            }
        }
        let (snapshot, sourceRows) = try readBuffer(bf, path: bufferPath, plan: plan, width: source.dIn, ranks: ranks.size)
        var source = source
        try source.skip(rows: sourceRows)
        var run = try TrainingRun(plan: plan, members: members, metadata: metadata, ranks: ranks,
                                  buffer: ActivationBuffer(source: source, restoring: snapshot, batchSize: plan.batchSize / ranks.size))
        run.step = step
        run.clock = (Date(), step)
        return run
    }

    private init(plan: TrainingRunPlan, members: [TrainingRunMember], metadata: String, ranks: any Collective, buffer: ActivationBuffer<Source>) throws {
        self.plan = plan
        self.members = members
        self.metadata = metadata
        self.ranks = ranks
        self.buffer = buffer
    }

    static func readBuffer(_ f: HDF5File, path: String, plan: TrainingRunPlan, width: Int, ranks: Int) throws -> (ActivationBuffer<Source>.Snapshot, Int) {
        func int(_ key: String, of object: String = "/") throws -> Int { try SAETrainer.readCount(f, key, of: object, path: path) }
        let (rowsPerRank, batch) = (plan.bufferRows / ranks, plan.batchSize / ranks)
        let rows = try f.readHalfBits("/buffer/rows")
        guard rows.shape == [rowsPerRank, width], rows.precision == plan.precision else {
            throw SAEFormatError.unsupported(file: path, detail: "buffer rows \(rows.shape) (\(rows.precision)) do not fit [\(rowsPerRank), \(width)] (\(plan.precision))")
        }
        let pending = f.contains("/buffer/pending") ? try f.readTensor("/buffer/pending") : nil
        if let p = pending, p.rank != 2 || p.shape[1] != width || p.shape[0] < 1 {
            throw SAEFormatError.unsupported(file: path, detail: "pending rows \(p.shape) do not fit width \(width)")
        }
        let readPointer = try int("read_pointer", of: "/buffer"), refreshes = try int("refreshes", of: "/buffer")
        guard refreshes >= 1, readPointer <= rowsPerRank / 2, readPointer % batch == 0 else {
            throw SAEFormatError.unsupported(file: path, detail: "buffer read pointer \(readPointer) / refreshes \(refreshes) are not a state of this plan")
        }
        let snapshot = ActivationBuffer<Source>.Snapshot(storage: rows, readPointer: readPointer, refreshes: refreshes,
                                                         rng: try SAETrainer.readRandomStream(f, "rng", of: "/buffer", path: path), pending: pending)
        return (snapshot, try int("source_rows"))
    }
}

/// One step's metrics in a checkpoint's averaging window (outside the generic `TrainingRun`, whose
/// writer closure must not capture its `Source` type).
struct CheckpointWindowEntry: Codable {
    var point: TrainingRecord
    init(_ m: StepMetrics) {
        point = TrainingRecord(step: 0, loss: m.loss, mse: m.mse, sparsityPenalty: m.sparsityPenalty, auxiliaryLoss: m.auxiliaryLoss, l0: m.l0, lr: m.lr)
    }
    init(from decoder: any Decoder) throws { point = try TrainingRecord(from: decoder) }
    func encode(to encoder: any Encoder) throws { try point.encode(to: encoder) }
    var metrics: StepMetrics {
        StepMetrics(loss: point.loss, mse: point.mse, sparsityPenalty: point.sparsityPenalty, auxiliaryLoss: point.auxiliaryLoss, l0: point.l0, lr: point.lr)
    }
}
