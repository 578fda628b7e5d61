// SAETrainer: one training step — the architecture's gradients, the paper's decoder-norm constraint,
// Adam (β = (0, 0.9999)) on every parameter by name, learning-rate schedule and firing counters
// (Docs/Method.md §1.4–§1.8).

import Foundation
import Tensor

/// Trains an ``SAE`` one batch at a time, with the paper's recipe or another architecture's
/// (``TrainableArchitecture``).
///
/// A step on `x [batch, d_in]` (Docs/Method.md §1.6): the architecture's preparation; forward; gradients
/// of its loss (`mse + l1_coeff · mean_n Σ_j |f_nj|` for the paper's); the decoder constraint (remove
/// from each `W_dec` row's gradient its component along the row, then renormalise the rows — before the
/// Adam step, so the rows end the step slightly off unit norm, as in the paper); Adam on every parameter,
/// by name; the schedule; the firing counters used for dead-feature detection; and the architecture's
/// own state.
public struct SAETrainer: Sendable {
    public internal(set) var sae: SAE
    public let config: SAETrainingConfig
    /// How the SAE's sparsity is trained, with its state (dead counters, BatchTopK's threshold).
    public internal(set) var architecture: any TrainableArchitecture
    public internal(set) var adam: AdamState
    public internal(set) var schedule: LRSchedule
    /// Training steps taken.
    public internal(set) var step = 0
    /// Per feature, the number of rows it fired on since the counters were last reset.
    public internal(set) var firingCounts: [Int]
    /// Rows seen since the counters were last reset.
    public internal(set) var rowsCounted = 0
    /// Resampling checks done so far (bounded by `ResamplingConfig.numResamples`).
    public internal(set) var resamplesDone = 0

    /// A trainer for `sae` with `config`. The SAE takes the architecture `config` trains (TopK → TopK;
    /// BatchTopK and JumpReLU → JumpReLU, with thresholds 0 resp. `initialThreshold` unless it has some).
    public init(sae: SAE, config: SAETrainingConfig = SAETrainingConfig()) {
        var sae = sae
        var architecture = TrainingArchitecture.make(config, dSAE: sae.config.dSAE)
        architecture.adopt(&sae)
        self.sae = sae
        self.config = config
        self.architecture = architecture
        adam = AdamState(zerosLike: SAEParameters(of: sae, architecture))
        schedule = LRSchedule(baseLR: config.lr, epochs: config.schedEpochs, lrFactor: config.schedLRFactor,
                              warmupEpochs: config.schedWarmupEpochs, enabled: config.cosineWarmup)
        firingCounts = [Int](repeating: 0, count: sae.config.dSAE)
    }

    /// The paper's initialisation (Docs/Method.md §1.4): `W_enc [d_in, d_sae]` ~ U(±√(6/d_sae)) (PyTorch's
    /// kaiming_uniform fan-in is the size of dim 1), `W_dec [d_sae, d_in]` ~ U(±√(6/d_in)) with unit
    /// rows, zero biases. Our own random stream: the same seed gives the same SAE here, not torch's.
    public static func initialSAE(_ config: SAEConfig, seed: UInt64 = 49) -> SAE {
        var rng = RandomStream(seed: seed)
        let be = Float((6.0 / Double(config.dSAE)).squareRoot()), bd = Float((6.0 / Double(config.dIn)).squareRoot())
        let wEnc = Tensor.randomUniform([config.dIn, config.dSAE], low: -be, high: be, using: &rng)
        let wDec = Tensor.randomUniform([config.dSAE, config.dIn], low: -bd, high: bd, using: &rng)
        return SAE(config: config, wEnc: wEnc, bEnc: Tensor(zeros: [config.dSAE]),
                   wDec: wDec / wDec.l2Norm(axis: -1, keepingAxis: true), bDec: Tensor(zeros: [config.dIn]))
    }

    /// The step's gradients for `x` and what it measured, through `path` (default: the config's). Means
    /// are over `normalizer` rows (default: x's): with data parallelism, the global batch, so the ranks'
    /// parts sum to it.
    func gradients(_ x: Tensor, path: GradientPath? = nil, normalizer: Int? = nil) -> StepGradients {
        let centred = sae.config.applyBDecToInput ? x - sae.bDec : x
        let pre = Tensor.affine(centred, sae.wEnc, sae.bEnc)                   // [N, d_sae]
        return architecture.gradients(StepInput(sae: sae, x: x, centred: centred, pre: pre, normalizer: normalizer ?? x.shape[0],
                                                step: step, path: path ?? config.gradientPath))
    }

    /// One training step on `x [batch, d_in]`.
    /// - Throws: ``SAETrainingError/nonFiniteLoss(step:loss:)`` before changing anything when the
    ///   loss is NaN or infinite, so the trainer (and any checkpoint) keeps the last good state.
    ///
    /// With a ``Collective`` of N ranks, `x` is this rank's `[batch / N, d_in]` share of the global batch:
    /// gradients, loss parts and firing counts are normalised by the global batch and summed across
    /// ranks before the update, which every rank then applies identically.
    @discardableResult
    public mutating func step(_ x: Tensor, across ranks: (any Collective)? = nil) throws -> StepMetrics {
        precondition(x.rank == 2 && x.shape[1] == sae.config.dIn, "a training batch is [batch, d_in = \(sae.config.dIn)], got \(x.shape)")
        let size = ranks?.size ?? 1
        architecture.prepare(&sae)
        var g = gradients(x, normalizer: x.shape[0] * size)
        if let ranks, size > 1 {
            try g.gradients.forEach { _, t in try ranks.sum(&t) }
            var small = [Double(g.mse), Double(g.sparsityPenalty), Double(g.auxiliaryLoss), Double(g.l0)] + g.fired.map(Double.init)
            try ranks.sum(&small)
            (g.mse, g.sparsityPenalty, g.auxiliaryLoss, g.l0) = (Float(small[0]), Float(small[1]), Float(small[2]), Float(small[3]))
            g.fired = small[4...].map { Int($0) }
        }
        let loss = g.mse + g.sparsityPenalty + g.auxiliaryLoss
        guard loss.isFinite else { throw SAETrainingError.nonFiniteLoss(step: step, loss: loss) }
        // Decoder constraint: project each row's gradient off the row, then renormalise the rows.
        Self.constrainDecoder(&sae.wDec, gradient: &g.gradients.wDec)
        let lr = schedule.lr
        adam.steps.forEach { _, n in n += 1 }
        let c = config
        Self.adamUpdate(&sae.wEnc, &adam.m.wEnc, &adam.v.wEnc, g.gradients.wEnc, step: adam.steps.wEnc, config: c, lr: lr)
        Self.adamUpdate(&sae.wDec, &adam.m.wDec, &adam.v.wDec, g.gradients.wDec, step: adam.steps.wDec, config: c, lr: lr)
        Self.adamUpdate(&sae.bEnc, &adam.m.bEnc, &adam.v.bEnc, g.gradients.bEnc, step: adam.steps.bEnc, config: c, lr: lr)
        Self.adamUpdate(&sae.bDec, &adam.m.bDec, &adam.v.bDec, g.gradients.bDec, step: adam.steps.bDec, config: c, lr: lr)
        var own = architecture.ownParameters(of: sae)
        for name in own.keys.sorted() {
            Self.adamUpdate(&own[name]!, &adam.m.own[name]!, &adam.v.own[name]!, g.gradients.own[name]!, step: adam.steps.own[name]!, config: c, lr: lr)
        }
        architecture.setOwnParameters(own, in: &sae)
        try architecture.finishStep(g, fired: g.fired, sae: &sae, across: ranks)
        schedule.afterTrainingStep(step)
        step += 1
        for j in 0..<g.fired.count { firingCounts[j] += g.fired[j] }
        rowsCounted += x.shape[0] * size
        return StepMetrics(loss: loss, mse: g.mse, sparsityPenalty: g.sparsityPenalty, auxiliaryLoss: g.auxiliaryLoss, l0: g.l0, lr: lr, sparse: g.sparse)
    }

    /// The paper's decoder constraint, one row of `W_dec [d_sae, d_in]` at a time in one pass:
    /// `û = w / ‖w‖`, `g ← g − û (g · û)`, `w ← û`.
    static func constrainDecoder(_ wDec: inout Tensor, gradient g: inout Tensor) {
        let (rows, d) = (wDec.shape[0], wDec.shape[1])
        precondition(g.shape == wDec.shape, "a W_dec gradient of \(g.shape) for \(wDec.shape)")
        wDec.withUnsafeMutableBufferPointer { wp in
            g.withUnsafeMutableBufferPointer { gp in
                let box = UnsafeSendableBox((wp.baseAddress!, gp.baseAddress!))
                Parallel.forChunks(of: 0..<rows, minChunk: 64) { range in
                    let (w0, g0) = box.value
                    for j in range {
                        let w = w0 + j * d, g = g0 + j * d
                        let norm = dot(w, w, d).squareRoot()
                        for k in 0..<d { w[k] = w[k] / norm }
                        let along = dot(g, w, d)
                        for k in 0..<d { g[k] = g[k] - w[k] * along }
                    }
                }
            }
        }
    }

    /// `Σ a[k]·b[k]` over `n` elements in eight lanes (then the lanes in order, then the tail).
    @inline(__always)
    static func dot(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        let whole = n / 8 * 8
        var k = 0
        while k < whole {
            let x = UnsafeRawPointer(a + k).loadUnaligned(as: SIMD8<Float>.self)
            let y = UnsafeRawPointer(b + k).loadUnaligned(as: SIMD8<Float>.self)
            acc += x * y
            k += 8
        }
        var s: Float = 0
        for l in 0..<8 { s += acc[l] }
        while k < n { s += a[k] * b[k]; k += 1 }
        return s
    }

    /// PyTorch's single-tensor Adam update (`torch.optim.Adam`, no weight decay, no amsgrad) at the
    /// machine's width (``Kernels/adamUpdate(_:_:_:gradient:_:path:)``): the scalar coefficients computed
    /// in Double as Python computes them and applied in Float, each element with PyTorch's operations in
    /// PyTorch's order: `m ← m + (1−β₁)(g − m)` (`= g` when β₁ = 0), `v ← β₂v + (1−β₂)g²`,
    /// `p ← p − (m / (√v / √(1−β₂ᵗ) + ε)) · lr/(1−β₁ᵗ)`.
    static func adamUpdate(_ p: inout Tensor, _ m: inout Tensor, _ v: inout Tensor, _ g: Tensor, step: Int, config: SAETrainingConfig, lr: Double) {
        Kernels.adamUpdate(&p, &m, &v, gradient: g, Kernels.AdamStep(beta1: config.beta1, beta2: config.beta2, eps: config.adamEps, lr: lr, step: step))
    }

    /// Descends the schedule to its minimum so the warm-up repeats (after a resampling).
    public mutating func rewarmSchedule() { schedule.rewarm() }

    /// Zeroes the firing counters (the start of a new dead-feature window).
    public mutating func resetFiringCounters() {
        firingCounts = [Int](repeating: 0, count: firingCounts.count)
        rowsCounted = 0
    }
}
