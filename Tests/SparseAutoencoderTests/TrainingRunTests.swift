// TrainingRunTests: the training loop — the reference loop's behaviour with one SAE, several SAEs on
// the same batches, and checkpoints from which a run continues bit for bit (also mid-window, mid-buffer
// and across resampling).

import Foundation
import Testing
import TensorTestSupport
@testable import SparseAutoencoder
import Tensor

/// Seeded synthetic activations addressed by position: the chunk that starts at row `p` depends only on
/// `p` (its size cycles through 24, 32, 40), so a fresh source skipped to `p` continues exactly.
struct PositionalSource: ResumableActivationSource {
    let dIn: Int
    /// Another stream of rows (a rank's share of the data).
    var salt: UInt64 = 0
    var rowsDelivered = 0
    var chunks = 0
    static func chunkSize(at p: Int) -> Int { 24 + (p / 8 % 3) * 8 }
    mutating func nextChunk() throws -> Tensor {
        let n = Self.chunkSize(at: rowsDelivered)
        var rng = RandomStream(seed: UInt64(rowsDelivered) &+ 77 &+ salt &* 1_000_003)
        // Two groups of columns with different scales, so members on different columns differ.
        let x = Tensor.randomNormal([n, dIn], using: &rng) * Tensor((0..<dIn).map { $0 < dIn / 2 ? 1 : 0.5 })
        rowsDelivered += n
        chunks += 1
        return x
    }
    mutating func skip(rows: Int) throws {
        var p = rowsDelivered
        while p < rowsDelivered + rows { p += Self.chunkSize(at: p) }
        precondition(p == rowsDelivered + rows, "not a chunk boundary")
        rowsDelivered = p
    }
}

@Suite struct TrainingRunTests {
    static func member(dIn: Int, dSAE: Int, columns: Range<Int>, seed: UInt64, l1: Double = 0.5,
                       architecture: TrainingArchitecture = .standard) -> TrainingRunMember {
        var sae = SAETrainer.initialSAE(SAEConfig(dIn: dIn, dSAE: dSAE, hookName: "blocks.0.attn.hook_z"), seed: seed)
        sae.bEnc = Tensor((0..<dSAE).map { $0 % 5 == 0 ? -50 : 0 })       // dead features, so resampling (or AuxK) happens
        var t = SAETrainingConfig()
        t.schedEpochs = 20; t.schedWarmupEpochs = 20; t.l1Coeff = l1
        t.architecture = architecture
        t.k = 3; t.deadWindow = 4; t.l0WarmupSteps = 10; t.initialThreshold = 0.1
        return TrainingRunMember(sae: sae, config: t, columns: columns, resampleSeed: seed &+ 1)
    }

    /// One member of each architecture, side by side on the same columns.
    static func everyArchitecture(dIn: Int, columns: Range<Int>) -> [TrainingRunMember] {
        TrainingArchitecture.allCases.enumerated().map { i, a in member(dIn: dIn, dSAE: 16 + 4 * i, columns: columns, seed: 3 &+ UInt64(i), architecture: a) }
    }

    static func plan(steps: Int = 40) -> TrainingRunPlan {
        var r = ResamplingConfig()
        r.reinitEvery = 10; r.resampleLast = 10; r.resampleBatches = 3
        return TrainingRunPlan(steps: steps, batchSize: 16, bufferRows: 96, precision: .bfloat16, bufferSeed: 5, resampling: r, recordEvery: 3)
    }

    @Test func oneSAEFollowsTheReferenceLoop() throws {
        var run = try TrainingRun(plan: Self.plan(), members: [Self.member(dIn: 8, dSAE: 24, columns: 0..<8, seed: 3)], source: PositionalSource(dIn: 8))
        try run.run()
        // The loop written out: buffer → step → end-of-step bookkeeping drawing from the buffer.
        var buffer = try ActivationBuffer(source: PositionalSource(dIn: 8), size: 96, batchSize: 16, precision: .bfloat16, seed: 5)
        var trainer = Self.member(dIn: 8, dSAE: 24, columns: 0..<8, seed: 3).trainer
        var rng = RandomStream(seed: 4)
        var metrics: [StepMetrics] = []
        for i in 0..<40 {
            metrics.append(try trainer.step(try buffer.next()))
            try trainer.endOfStep(i, resampling: Self.plan().resampling!, rng: &rng) { try buffer.next() }
        }
        let m = run.members[0]
        #expect(m.trainer.sae == trainer.sae && m.trainer.adam == trainer.adam && m.resampleRNG == rng)
        #expect(trainer.resamplesDone == 4 && !m.resampleEvents.isEmpty)
        // The curve: a point every 3 steps and after the last, each the mean of its window.
        #expect(m.history.map(\.step) == Array(stride(from: 3, through: 39, by: 3)) + [40])
        #expect(m.history[0] == TrainingRecord(step: 3, averaging: Array(metrics[0..<3])) && m.history.last! == TrainingRecord(step: 40, averaging: [metrics[39]]))
        #expect(run.buffer.source.rowsDelivered == buffer.source.rowsDelivered)
    }

    @Test func severalSAEsTrainOnTheSameBatches() throws {
        // Without resampling, a member of a three-SAE run equals that SAE trained alone on its columns.
        var plan = Self.plan()
        plan.resampling = nil
        let members = [Self.member(dIn: 6, dSAE: 16, columns: 0..<6, seed: 3), Self.member(dIn: 6, dSAE: 16, columns: 6..<12, seed: 4),
                       Self.member(dIn: 6, dSAE: 16, columns: 6..<12, seed: 4, l1: 2)]
        var all = try TrainingRun(plan: plan, members: members, source: PositionalSource(dIn: 12))
        try all.run()
        var buffer = try ActivationBuffer(source: PositionalSource(dIn: 12), size: 96, batchSize: 16, precision: .bfloat16, seed: 5)
        var alone = members[1].trainer
        for _ in 0..<40 { try alone.step(try buffer.next().sliced(axis: 1, 6..<12).contiguous()) }
        #expect(all.members[1].trainer.sae == alone.sae)
        #expect(all.members[0].trainer.sae != all.members[1].trainer.sae && all.members[1].trainer.sae != all.members[2].trainer.sae)
        // With resampling, the batches drawn for new directions are shared: the run reads what one member would.
        var withResampling = try TrainingRun(plan: Self.plan(), members: members, source: PositionalSource(dIn: 12))
        try withResampling.run()
        var single = try TrainingRun(plan: Self.plan(), members: [members[0]], source: PositionalSource(dIn: 12))
        try single.run()
        #expect(withResampling.buffer.source.rowsDelivered == single.buffer.source.rowsDelivered)
        #expect(withResampling.members[0].trainer.sae == single.members[0].trainer.sae)
    }

    /// A member's own dead-feature cutoff replaces the run's at its checks, and only for it.
    @Test func aMembersDeadCutoffReplacesTheRuns() throws {
        var strict = Self.member(dIn: 6, dSAE: 16, columns: 0..<6, seed: 3)
        var config = strict.trainer.config
        config.deadCutoff = 1                                               // every feature counts as dead
        strict = TrainingRunMember(sae: strict.trainer.sae, config: config, columns: 0..<6, resampleSeed: 4)
        let usual = Self.member(dIn: 6, dSAE: 16, columns: 6..<12, seed: 3)
        var run = try TrainingRun(plan: Self.plan(steps: 10), members: [strict, usual], source: PositionalSource(dIn: 12))
        try run.run()
        let strictDead = run.members[0].resampleEvents.first?.dead.count ?? 0
        let usualDead = run.members[1].resampleEvents.first?.dead.count ?? 0
        #expect(strictDead == 16 && usualDead > 0 && usualDead < 16, "\(strictDead) \(usualDead)")
        config.deadCutoff = 2
        #expect(throws: TrainingRunError.self) { try config.validate() }
    }

    @Test(arguments: [1, 7, 12, 20, 33])
    func resumeIsBitIdentical(_ stopAt: Int) throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Two standard SAEs on different columns, and one of every architecture.
        let members = [Self.member(dIn: 6, dSAE: 16, columns: 0..<6, seed: 3), Self.member(dIn: 6, dSAE: 20, columns: 6..<12, seed: 4)]
            + Self.everyArchitecture(dIn: 6, columns: 6..<12)
        var a = try TrainingRun(plan: Self.plan(), members: members, source: PositionalSource(dIn: 12), metadata: "run A")
        try a.run()
        var b = try TrainingRun(plan: Self.plan(), members: members, source: PositionalSource(dIn: 12), metadata: "run A")
        let path = dir.path + "/run.h5"
        try b.run(until: stopAt, checkpoint: (path, 1000))
        try b.save(to: path)
        #expect(try TrainingRun<PositionalSource>.checkpointInfo(path).step == stopAt)
        var c = try TrainingRun.resume(from: path, source: PositionalSource(dIn: 12), metadata: "run A")
        #expect(c.step == stopAt && c.buffer.snapshot == b.buffer.snapshot && c.buffer.source.rowsDelivered == b.buffer.source.rowsDelivered)
        try c.run()
        for (x, y) in zip(a.members, c.members) {
            #expect(x.trainer.sae == y.trainer.sae && x.trainer.adam == y.trainer.adam && x.trainer.schedule == y.trainer.schedule)
            #expect(x.trainer.auxK == y.trainer.auxK && x.trainer.sae.threshold == y.trainer.sae.threshold)
            if x.trainer.config.architecture == .batchtopk { #expect(x.trainer.batchThreshold == y.trainer.batchThreshold) }
            #expect(x.trainer.firingCounts == y.trainer.firingCounts && x.resampleRNG == y.resampleRNG && x.history == y.history)
        }
        #expect(a.buffer.snapshot == c.buffer.snapshot && a.buffer.source.rowsDelivered == c.buffer.source.rowsDelivered)
        // The newer architectures did what they are for: AuxK saw dead features, BatchTopK moved its threshold.
        #expect(a.members.contains { ($0.trainer.auxK?.deadFeatures.count ?? 0) > 0 } || stopAt > 0)
        #expect(a.members.filter { $0.trainer.config.architecture == .batchtopk }.allSatisfy { $0.trainer.batchThreshold > 0 })
        // The model's work after a resume is only what was left: the source computed no skipped rows.
        #expect(c.buffer.source.chunks < a.buffer.source.chunks || stopAt == 0)
        // Another run's checkpoint is refused by name.
        #expect(throws: TrainingRunError.self) { try TrainingRun.resume(from: path, source: PositionalSource(dIn: 12), metadata: "run B") }
        #expect(throws: (any Error).self) { try TrainingRun.resume(from: path, source: PositionalSource(dIn: 10), metadata: "run A") }
    }

    @Test func resamplingMayDrawMoreBatchesThanHalfTheBuffer() throws {
        // 10 batches for new directions from a buffer whose half holds 3: it refills as they are drawn.
        var plan = Self.plan(steps: 12)
        plan.resampling!.resampleBatches = 10
        var run = try TrainingRun(plan: plan, members: [Self.member(dIn: 8, dSAE: 24, columns: 0..<8, seed: 3)], source: PositionalSource(dIn: 8))
        try run.run()
        #expect(run.members[0].trainer.resamplesDone == 1 && run.buffer.refreshes > 12 / 3 + 10 / 3)
        // The paper's recipe on a short run (its buffer capped at the 204,800 rows trained on) is a valid plan.
        try TrainingRunPlan(steps: 50, batchSize: 4096, bufferRows: 204_800, resampling: ResamplingConfig()).validate()
    }

    @Test func badPlansAreNamed() throws {
        var p = Self.plan()
        p.bufferRows = 40
        #expect(throws: TrainingRunError.invalidSetting(name: "bufferRows", value: "40", allowed: "at least four batches (64) and at most 2³¹")) {
            try TrainingRun(plan: p, members: [Self.member(dIn: 8, dSAE: 8, columns: 0..<8, seed: 1)], source: PositionalSource(dIn: 8))
        }
        #expect(throws: TrainingRunError.self) {
            try TrainingRun(plan: Self.plan(), members: [Self.member(dIn: 8, dSAE: 8, columns: 4..<12, seed: 1)], source: PositionalSource(dIn: 8))
        }
        var run = try TrainingRun(plan: Self.plan(steps: 2), members: [Self.member(dIn: 8, dSAE: 8, columns: 0..<8, seed: 1)], source: PositionalSource(dIn: 8))
        #expect(throws: TrainingRunError.invalidSetting(name: "checkpointEvery", value: "0", allowed: "≥ 1")) { try run.run(checkpoint: ("/tmp/x.h5", 0)) }
    }

    /// N ranks (threads of this process, summing as MPI does) against one process stepping on the whole
    /// batch — each rank's share concatenated in rank order — with the same rows, for every architecture.
    /// BatchTopK selects over each rank's share (Docs/Deviations.md #27): its ranks agree with each other,
    /// not with one whole-batch selection.
    @Test(arguments: [(TrainingArchitecture.standard, false), (.standard, true), (.topk, false), (.batchtopk, false), (.jumprelu, false)])
    func dataParallelEqualsOneProcessOnTheWholeBatch(_ architecture: TrainingArchitecture, _ resampling: Bool) throws {
        var p = Self.plan(steps: 30)
        if !resampling { p.resampling = nil }
        let plan = p
        let member = Self.member(dIn: 8, dSAE: 24, columns: 0..<8, seed: 3, architecture: architecture)
        let ranks = InProcessRanks(size: 2)
        let runs = try ranks.run { c in
            var run = try TrainingRun(plan: plan, members: [member], source: PositionalSource(dIn: 8, salt: UInt64(c.rank)), ranks: c)
            try run.run()
            return run.members[0]
        }
        // Every rank ends with the same SAE and state, bit for bit.
        #expect(runs[0].trainer.sae == runs[1].trainer.sae && runs[0].trainer.adam == runs[1].trainer.adam && runs[0].history == runs[1].history)
        #expect(runs[0].trainer.auxK == runs[1].trainer.auxK)
        guard architecture != .batchtopk else {
            #expect(runs[0].trainer.batchThreshold > 0 && runs[0].trainer.batchThreshold == runs[1].trainer.batchThreshold)
            return
        }
        // One process: the ranks' buffers side by side, each step on their shares concatenated.
        var buffers = try (0..<2).map { try ActivationBuffer(source: PositionalSource(dIn: 8, salt: UInt64($0)), size: 48, batchSize: 8, precision: .bfloat16, seed: 5) }
        func globalBatch() throws -> Tensor { Tensor.concatenate(try buffers.indices.map { try buffers[$0].next() }, axis: 0) }
        var trainer = member.trainer
        var rng = member.resampleRNG
        var losses: [Float] = []
        for i in 0..<30 {
            losses.append(try trainer.step(try globalBatch()).loss)
            if let r = plan.resampling { try trainer.endOfStep(i, resampling: r, rng: &rng) { try globalBatch() } }
        }
        // Equal to float rounding: the sum of two half-batch gradients against one whole-batch product.
        let d = runs[0].trainer
        #expect(d.resamplesDone == trainer.resamplesDone && d.firingCounts == trainer.firingCounts && d.step == trainer.step)
        #expect(d.auxK == trainer.auxK)
        expectClose(d.sae.wEnc, trainer.sae.wEnc, atol: 1e-4, rtol: 1e-3, "W_enc")
        expectClose(d.sae.wDec, trainer.sae.wDec, atol: 1e-4, rtol: 1e-3, "W_dec")
        expectClose(d.sae.bDec, trainer.sae.bDec, atol: 1e-4, rtol: 1e-3, "b_dec")
        if let t = trainer.sae.threshold { expectClose(d.sae.threshold!, t, atol: 1e-4, rtol: 1e-3, "threshold") }
        // The curve's last point is the mean loss of its window: the same steps, to rounding.
        let window = Array(losses.suffix(from: (runs[0].history.dropLast().last?.step ?? 0)))
        #expect(Swift.abs(runs[0].history.last!.loss - window.reduce(0, +) / Float(window.count)) < 1e-4 * Swift.abs(window[0]) + 1e-6)
    }
}
