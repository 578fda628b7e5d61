// SAETrainer+Resampling: dead-feature detection and Anthropic resampling with the Adam-state reset
// and the learning-rate re-warm (Docs/Method.md §1.9).

import Foundation
import Tensor

/// When and how dead features are resampled (the paper's "anthropic" scheme; Docs/Method.md §1.9 defaults).
public struct ResamplingConfig: Codable, Sendable, Equatable {
    /// Check for dead features when `(step + 1) % reinitEvery == 0` (`re_init_every`; the paper's
    /// GPT-2 SAEs used 25000).
    public var reinitEvery: Int = 100_000
    /// At most this many checks (`num_resamples`); a check with no dead feature still counts (the
    /// reference code's behaviour, kept: Docs/Deviations.md #3).
    public var numResamples: Int = 4
    /// A feature is dead when its firing fraction over the window is ≤ this (`dead_direction_cutoff`).
    public var deadCutoff: Double = 1e-6
    /// The counters restart when `(step + resampleLast) % reinitEvery == 0` (`anthropic_resample_last`).
    public var resampleLast: Int = 100_000
    /// Batches drawn to choose new directions (`anthropic_resample_batches`).
    public var resampleBatches: Int = 100
    /// New encoder columns get this fraction of the mean alive column norm (`anthropic_neuron_resample_scale`).
    public var encoderScale: Float = 0.2
    public init() {}
}

/// What a resampling check did.
public struct ResampleEvent: Sendable, Equatable {
    public let step: Int
    public let dead: [Int]
    /// False when no feature was dead, or when the reconstruction error was too small to sample from.
    public let resampled: Bool
}

extension SAETrainer {
    /// Features whose firing fraction since the last counter reset is ≤ `cutoff` (ascending).
    public func deadFeatures(cutoff: Double) -> [Int] {
        guard rowsCounted > 0 else { return [] }
        return firingCounts.indices.filter { Double(firingCounts[$0]) / Double(rowsCounted) <= cutoff }
    }

    /// Per-row squared reconstruction error `Σ_a (x̂ − x)²` with the current SAE, `[rows]`.
    public func reconstructionErrors(_ x: Tensor) -> Tensor {
        (sae.decode(sae.encode(x)) - x).squared().sum(axis: -1)
    }

    /// Draws the inputs for `dead.count` new directions: probabilities ∝ (squared error)², without
    /// replacement (Docs/Method.md §1.9, decision 4: reproduced). Returns nil — resample nothing — when some
    /// batch's largest error is below 1e-6, as the reference code does.
    public func chooseResampleInputs(_ batches: [Tensor], count: Int, rng: inout RandomStream) -> (inputs: Tensor, chosen: [Int])? {
        var weights: [Double] = []
        for b in batches {
            let e = reconstructionErrors(b).scalars
            if (e.max() ?? 0) < 1e-6 { return nil }
            weights += e.map { Double($0) * Double($0) }
        }
        let all = Tensor.concatenate(batches, axis: 0)
        let positive = weights.filter { $0 > 0 }.count
        let chosen = rng.sampleWithoutReplacement(weights: weights, count: Swift.min(count, positive))
        return (all, chosen)
    }

    /// ``chooseResampleInputs(_:count:rng:)`` over the ranks of a data-parallel run: each rank holds its
    /// share (`[batch / N, d_in]`) of every batch. The weights of all rows, in the order one process
    /// stepping on the whole batches sees them (batch by batch, each the ranks' shares in rank order),
    /// are summed into place; every rank draws the same rows with the same stream, and the chosen rows
    /// reach every rank through one more sum. Returns the chosen inputs `[chosen, d_in]` in draw order.
    public func chooseResampleInputs(_ batches: [Tensor], count: Int, rng: inout RandomStream, across ranks: any Collective) throws -> Tensor? {
        let share = batches.first?.shape[0] ?? 0, d = sae.config.dIn, n = ranks.size
        precondition(batches.allSatisfy { $0.shape[0] == share }, "every share of a resampling batch has the same rows")
        // Global row of (batch b, this rank, row i): b · share · N + rank · share + i.
        // After the weights, one slot per batch counts the shares whose largest error reaches 1e-6: a
        // batch whose count is 0 is too well reconstructed everywhere, and one process would return nil.
        let rows = batches.count * share * n
        var weights = [Double](repeating: 0, count: rows + batches.count)
        for (b, x) in batches.enumerated() {
            let e = reconstructionErrors(x).scalars
            if (e.max() ?? 0) >= 1e-6 { weights[rows + b] = 1 }
            for (i, v) in e.enumerated() { weights[b * share * n + ranks.rank * share + i] = Double(v) * Double(v) }
        }
        try ranks.sum(&weights)
        if weights[rows...].contains(0) { return nil }
        weights.removeLast(batches.count)
        let positive = weights.filter { $0 > 0 }.count
        let chosen = rng.sampleWithoutReplacement(weights: weights, count: Swift.min(count, positive))
        let mine = Tensor.concatenate(batches, axis: 0).contiguous()
        var inputs = Tensor(zeros: [chosen.count, d])
        mine.withUnsafeBufferPointer { src in
            inputs.withUnsafeMutableBufferPointer { dst in
                for (k, g) in chosen.enumerated() where g % (share * n) / share == ranks.rank {
                    let row = g / (share * n) * share + g % share
                    for a in 0..<d { dst[k * d + a] = src[row * d + a] }
                }
            }
        }
        try ranks.sum(&inputs)
        return inputs
    }

    /// Replaces dead features by chosen inputs (in order): `W_dec[j] = r̂`, `W_enc[:, j] = r̂ · m ·
    /// encoderScale`, `b_enc[j] = 0`, with `r̂ = (x − b_dec)/(‖x − b_dec‖ + 1e-8)` and `m` the mean
    /// norm of the alive encoder columns (1 if none is alive). Then zeroes the Adam moments of those
    /// features (W_enc columns, W_dec rows, b_enc entries; b_dec and the step counts untouched).
    public mutating func resample(dead: [Int], inputs: Tensor, chosen: [Int], encoderScale: Float = 0.2) {
        let deadSet = Set(dead)
        let alive = (0..<sae.config.dSAE).filter { !deadSet.contains($0) }
        let colNorms = sae.wEnc.l2Norm(axis: 0).scalars
        let m: Float = alive.isEmpty ? 1 : alive.reduce(Float(0)) { $0 + colNorms[$1] } / Float(alive.count)
        var wEnc = sae.wEnc, wDec = sae.wDec, bEnc = sae.bEnc
        for (j, n) in zip(dead, chosen) {
            let r = inputs.selecting(axis: 0, n) - sae.bDec
            let unit = r / (r.l2Norm(axis: 0).scalar + 1e-8)
            wDec.assign(unit.unsqueezed(axis: 0), axis: 0, range: j..<(j + 1))
            wEnc.assign((unit * (m * encoderScale)).unsqueezed(axis: 1), axis: 1, range: j..<(j + 1))
            bEnc[j] = 0
        }
        sae.wEnc = wEnc; sae.wDec = wDec; sae.bEnc = bEnc
        resetAdam(features: dead)
    }

    /// Zeroes both Adam moments of `features` in W_enc (columns), W_dec (rows) and b_enc.
    public mutating func resetAdam(features: [Int]) {
        func zero(_ moments: inout SAEParameters<Tensor>) {
            for j in features {
                moments.wEnc.assign(Tensor(zeros: [sae.config.dIn, 1]), axis: 1, range: j..<(j + 1))
                moments.wDec.assign(Tensor(zeros: [1, sae.config.dIn]), axis: 0, range: j..<(j + 1))
                moments.bEnc[j] = 0
            }
        }
        zero(&adam.m)
        zero(&adam.v)
    }

    /// The paper's end-of-step bookkeeping for step `stepIndex` (0-based, the step just taken):
    /// the resampling check at `(i + 1) % reinitEvery == 0` (resample, reset Adam, re-warm the
    /// schedule; the counters restart and the check counts even with no dead feature), then the
    /// window reset at `(i + resampleLast) % reinitEvery == 0`. `nextBatch` supplies the batches
    /// new directions are drawn from.
    /// With a ``Collective``, `nextBatch` supplies this rank's share of each batch and the choice is
    /// made over all ranks' rows (``chooseResampleInputs(_:count:rng:across:)``): every rank resamples alike.
    @discardableResult
    public mutating func endOfStep(_ stepIndex: Int, resampling r: ResamplingConfig, rng: inout RandomStream,
                                   across ranks: (any Collective)? = nil, nextBatch: () throws -> Tensor) throws -> ResampleEvent? {
        var event: ResampleEvent? = nil
        if (stepIndex + 1) % r.reinitEvery == 0 {
            let dead = deadFeatures(cutoff: r.deadCutoff)
            var changed = false
            if !dead.isEmpty && resamplesDone < r.numResamples {
                var batches: [Tensor] = []
                for _ in 0..<r.resampleBatches { batches.append(try nextBatch()) }
                var choice: (inputs: Tensor, chosen: [Int])?
                if let ranks, ranks.size > 1 {
                    choice = try chooseResampleInputs(batches, count: dead.count, rng: &rng, across: ranks).map { ($0, Array(0..<$0.shape[0])) }
                } else {
                    choice = chooseResampleInputs(batches, count: dead.count, rng: &rng)
                }
                if let (inputs, chosen) = choice {
                    resample(dead: Array(dead.prefix(chosen.count)), inputs: inputs, chosen: chosen, encoderScale: r.encoderScale)
                    changed = true
                } else {
                    resetAdam(features: dead)
                }
                rewarmSchedule()
            }
            event = ResampleEvent(step: stepIndex, dead: dead, resampled: changed)
            resetFiringCounters()
            resamplesDone += 1
        }
        if (stepIndex + r.resampleLast) % r.reinitEvery == 0 { resetFiringCounters() }
        return event
    }
}
