// SAETrainer: one training step of the paper's recipe — loss, gradients, decoder-norm constraint,
// Adam (β = (0, 0.9999)), learning-rate schedule and firing counters (Docs/Method.md §1.4–§1.8).

import Foundation
import Tensor

/// Training stopped for a reason the caller must see.
public enum SAETrainingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The loss of step `step` was NaN or infinite (bad input activations, or a learning rate too high).
    case nonFiniteLoss(step: Int, loss: Float)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let s, let l):
            "training stopped: the loss of step \(s) is \(l); the SAE keeps its state from before this step (check the activations for NaN/Inf, or lower the learning rate)"
        }
    }
}

/// The sparsity mechanism an SAE is trained with.
public enum TrainingArchitecture: String, Codable, Sendable, CaseIterable {
    /// The paper's: `ReLU`, L1 penalty `l1_coeff · mean_n Σ_j f_nj`.
    case standard
    /// TopK (Gao et al. 2024): the `k` largest pre-activations of each row, AuxK on dead features.
    case topk
    /// BatchTopK (Bussmann et al. 2024): the `k·batch` largest activations of the batch, AuxK; saved as JumpReLU
    /// with a global threshold (an exponential moving average of the smallest activation kept).
    case batchtopk
    /// JumpReLU (Rajamanoharan et al. 2024): learned thresholds, straight-through estimators, L0 penalty.
    case jumprelu

    /// The architecture of the SAE it trains (what inference and the saved files use). A `k` that is not
    /// an integer gives `k` 0, which validation refuses by name (no trap before it).
    func saeArchitecture(k: Double) -> SAEArchitecture {
        switch self {
        case .standard: .standard
        case .topk: .topK(k: Int(exactly: k) ?? 0)
        case .batchtopk, .jumprelu: .jumpReLU
        }
    }
}

/// Hyperparameters of the paper's training recipe (Docs/Method.md §1.12 defaults) and of the newer architectures
/// (SAELens 6's defaults).
public struct SAETrainingConfig: Codable, Sendable, Equatable {
    /// The sparsity mechanism (the paper's: ``TrainingArchitecture/standard``).
    public var architecture: TrainingArchitecture = .standard
    public var lr: Double = 1.2e-3
    /// The L1 coefficient (standard only).
    public var l1Coeff: Double = 0.5
    /// TopK: features kept per row (an integer); BatchTopK: kept per row on average (`⌊k·batch⌋` per batch).
    public var k: Double = 32
    /// AuxK (TopK, BatchTopK): the loss `auxKCoeff · min(dead/k_aux, 1) · mean_n ‖ê_n − (x_n − x̂_n)‖²`
    /// with `ê = Σ z_j W_dec[j]` over the `k_aux` largest pre-activations `z` of dead features
    /// (SAELens's `calculate_topk_aux_loss`). 0 turns it off.
    public var auxKCoeff: Double = 1
    /// AuxK's `k_aux` (nil: `d_in / 2`, SAELens's and Gao et al.'s heuristic).
    public var auxK: Int? = nil
    /// A feature is dead for AuxK when it has not fired for more than this many steps (SAELens's
    /// `dead_feature_window`).
    public var deadWindow: Int = 1000
    /// BatchTopK: the threshold's moving-average rate, `θ ← (1 − r)·θ + r·min(kept activations)`.
    public var thresholdLR: Double = 0.01
    /// JumpReLU: the L0 coefficient λ of `λ · mean_n Σ_j 1[pre_nj > θ_j]` (SAELens's "step" loss).
    public var l0Coeff: Double = 1
    /// JumpReLU: λ grows linearly from 0 over this many steps (SAELens's `l0_warm_up_steps`).
    public var l0WarmupSteps: Int = 0
    /// JumpReLU: the straight-through estimators' bandwidth ε and the thresholds' initial value.
    public var bandwidth: Double = 0.05
    public var initialThreshold: Double = 0.01
    public var beta1: Double = 0
    public var beta2: Double = 0.9999
    public var adamEps: Double = 1e-8
    /// `sched_type = "cosine_warmup"` (true) or `"none"`.
    public var cosineWarmup: Bool = true
    public var schedEpochs: Int = 1000
    public var schedLRFactor: Double = 0.1
    public var schedWarmupEpochs: Int = 1000
    /// How gradients are computed: chosen per step from the measured density (`automatic`: the
    /// sparse path below 5% active entries), or forced.
    public var gradientPath: GradientPath = .automatic
    /// This SAE's dead-feature cutoff for resampling checks, replacing the run's
    /// (``ResamplingConfig/deadCutoff``) — the paper's published SAEs differ per layer. nil: the run's.
    public var deadCutoff: Double? = nil
    public init() {}

    /// Decodes a config; keys a checkpoint from an older version lacks keep their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try read(.architecture, &architecture); try read(.lr, &lr); try read(.l1Coeff, &l1Coeff); try read(.k, &k)
        try read(.auxKCoeff, &auxKCoeff); auxK = try c.decodeIfPresent(Int.self, forKey: .auxK); try read(.deadWindow, &deadWindow)
        try read(.thresholdLR, &thresholdLR); try read(.l0Coeff, &l0Coeff); try read(.l0WarmupSteps, &l0WarmupSteps)
        try read(.bandwidth, &bandwidth); try read(.initialThreshold, &initialThreshold)
        try read(.beta1, &beta1); try read(.beta2, &beta2); try read(.adamEps, &adamEps); try read(.cosineWarmup, &cosineWarmup)
        try read(.schedEpochs, &schedEpochs); try read(.schedLRFactor, &schedLRFactor); try read(.schedWarmupEpochs, &schedWarmupEpochs)
        try read(.gradientPath, &gradientPath)
        deadCutoff = try c.decodeIfPresent(Double.self, forKey: .deadCutoff)
    }

    /// JumpReLU's L0 coefficient at step `t` (0-based): `λ · min(t, w)/w` with warm-up `w`, else λ.
    func l0Coefficient(atStep t: Int) -> Double {
        l0WarmupSteps > 0 ? l0Coeff * Double(min(t, l0WarmupSteps)) / Double(l0WarmupSteps) : l0Coeff
    }

    /// AuxK's `k_aux` for inputs of width `dIn`.
    func kAux(dIn: Int) -> Int { auxK ?? max(dIn / 2, 1) }

    /// Checks every value (a config decoded from a checkpoint is not trusted); the names are the
    /// `train-sae` options that set them.
    /// - Throws: ``TrainingRunError/invalidSetting(name:value:allowed:)``.
    public func validate() throws {
        func check(_ ok: Bool, _ name: String, _ value: Any, _ allowed: String) throws {
            if !ok { throw TrainingRunError.invalidSetting(name: name, value: "\(value)", allowed: allowed) }
        }
        try check(lr.isFinite && lr > 0 && lr <= 1, "--lr", lr, "0 < lr ≤ 1")
        try check(l1Coeff.isFinite && l1Coeff >= 0 && l1Coeff <= 1e6, "--l1", l1Coeff, "0…1e6")
        try check(beta1 >= 0 && beta1 < 1, "beta1", beta1, "0 ≤ beta1 < 1")
        try check(beta2 >= 0 && beta2 < 1, "beta2", beta2, "0 ≤ beta2 < 1")
        try check(adamEps.isFinite && adamEps > 0, "adam eps", adamEps, "a finite positive number")
        try check(schedEpochs >= 1 && schedEpochs <= 1 << 40, "schedule epochs", schedEpochs, "1…2^40")
        try check(schedWarmupEpochs >= 0 && schedWarmupEpochs <= 1 << 24, "warm-up epochs", schedWarmupEpochs, "0…16777216")
        try check(schedLRFactor.isFinite && schedLRFactor >= 0 && schedLRFactor <= 1, "schedule lr factor", schedLRFactor, "0…1")
        try check(deadCutoff.map { $0.isFinite && $0 >= 0 && $0 <= 1 } ?? true, "dead-feature cutoff", deadCutoff ?? 0, "0…1")
        switch architecture {
        case .standard: break
        case .topk: try check(k >= 1 && k <= Double(1 << 24) && k.rounded() == k, "--k", k, "an integer 1…d_sae for --architecture topk")
        case .batchtopk: try check(k.isFinite && k > 0 && k <= Double(1 << 24), "--k", k, "a number > 0 (features per row on average)")
        case .jumprelu:
            try check(l0Coeff.isFinite && l0Coeff >= 0 && l0Coeff <= 1e6, "--l0-coeff", l0Coeff, "0…1e6")
            try check(l0WarmupSteps >= 0 && l0WarmupSteps <= 1 << 40, "--l0-warmup", l0WarmupSteps, "0…2^40 steps")
            try check(bandwidth.isFinite && bandwidth > 0 && bandwidth <= 1e3, "--bandwidth", bandwidth, "0 < ε ≤ 1000")
            try check(initialThreshold.isFinite && initialThreshold >= 0 && initialThreshold <= 1e3, "--initial-threshold", initialThreshold, "0…1000")
        }
        if architecture == .topk || architecture == .batchtopk {
            try check(auxKCoeff.isFinite && auxKCoeff >= 0 && auxKCoeff <= 1e6, "--aux-coeff", auxKCoeff, "0…1e6")
            try check(auxK.map { $0 >= 1 && $0 <= 1 << 24 } ?? true, "--aux-k", auxK ?? 0, "1…d_sae")
            try check(deadWindow >= 1 && deadWindow <= 1 << 40, "--dead-window", deadWindow, "1…2^40 steps")
            try check(thresholdLR.isFinite && thresholdLR > 0 && thresholdLR <= 1, "threshold rate", thresholdLR, "0 < r ≤ 1")
        }
    }

    /// ``validate()`` and the checks that need the SAE's widths (`k ≤ d_sae`).
    public func validate(for sae: SAEConfig) throws {
        try validate()
        if architecture == .topk || architecture == .batchtopk, k > Double(sae.dSAE) {
            throw TrainingRunError.invalidSetting(name: "--k", value: "\(k)", allowed: "at most d_sae = \(sae.dSAE)")
        }
        if architecture == .topk || architecture == .batchtopk, let auxK, auxK > sae.dSAE {
            throw TrainingRunError.invalidSetting(name: "--aux-k", value: "\(auxK)", allowed: "at most d_sae = \(sae.dSAE)")
        }
    }
}

/// The dense path (five matrix products) or the sparse one (only the encoder product is dense).
public enum GradientPath: String, Codable, Sendable {
    case automatic, dense, sparse
}

/// Adam moments of the four parameters (PyTorch's state order: W_enc, W_dec, b_enc, b_dec).
public struct AdamState: Sendable, Equatable {
    public var m: [Tensor]
    public var v: [Tensor]
    /// Per-parameter step counts (never reset, as in PyTorch).
    public var steps: [Int]

    init(shapes: [[Int]]) {
        m = shapes.map { Tensor(zeros: $0) }
        v = shapes.map { Tensor(zeros: $0) }
        steps = shapes.map { _ in 0 }
    }
}

/// What one step measured on its batch.
public struct StepMetrics: Sendable, Equatable {
    /// `l2 + l1`.
    public let loss: Float
    /// Mean over the batch of `Σ_a (x̂ − x)²`.
    public let l2: Float
    /// `l1_coeff` × mean over the batch of `Σ_j |f_j|`.
    public let l1: Float
    /// Mean number of active features per row.
    public let l0: Float
    /// The learning rate this step used.
    public let lr: Double
    /// Whether the sparse path computed this step's gradients.
    public var sparse: Bool = false

    public init(loss: Float, l2: Float, l1: Float, l0: Float, lr: Double, sparse: Bool = false) {
        self.loss = loss; self.l2 = l2; self.l1 = l1; self.l0 = l0; self.lr = lr; self.sparse = sparse
    }

    public static func == (a: StepMetrics, b: StepMetrics) -> Bool {
        a.loss == b.loss && a.l2 == b.l2 && a.l1 == b.l1 && a.l0 == b.l0 && a.lr == b.lr
    }
}

/// Trains an ``SAE`` with the paper's recipe, one batch at a time.
///
/// A step on `x [batch, d_in]` (Docs/Method.md §1.6): forward; gradients of
/// `loss = mean_n Σ_a (x̂ − x)² + l1_coeff · mean_n Σ_j |f_nj|`; the decoder constraint (remove from
/// each `W_dec` row's gradient its component along the row, then renormalise the rows — before the
/// Adam step, so the rows end the step slightly off unit norm, as in the paper); Adam; the schedule;
/// and the firing counters used for dead-feature detection.
public struct SAETrainer: Sendable {
    public internal(set) var sae: SAE
    public let config: SAETrainingConfig
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
    /// Per feature, the steps since it last fired (AuxK's dead features: more than `deadWindow`).
    public internal(set) var stepsSinceFired: [Int]
    /// BatchTopK's global threshold (a moving average of the smallest activation kept, in Double as
    /// SAELens keeps it); the SAE's JumpReLU thresholds are this value.
    public internal(set) var batchThreshold: Double = 0

    /// A trainer for `sae` with `config`. The SAE takes the architecture `config` trains (TopK → TopK;
    /// BatchTopK and JumpReLU → JumpReLU, with thresholds 0 resp. `initialThreshold` unless it has some).
    public init(sae: SAE, config: SAETrainingConfig = SAETrainingConfig()) {
        var sae = sae
        let architecture = config.architecture.saeArchitecture(k: config.k)
        if sae.config.architecture != architecture {
            sae.config.architecture = architecture
            let initial = config.architecture == .jumprelu ? Float(config.initialThreshold) : 0
            sae.threshold = architecture == .jumpReLU ? Tensor(repeating: initial, shape: [sae.config.dSAE]) : nil
        }
        self.sae = sae
        self.config = config
        adam = AdamState(shapes: [sae.wEnc.shape, sae.wDec.shape, sae.bEnc.shape, sae.bDec.shape]
                                 + (config.architecture == .jumprelu ? [[sae.config.dSAE]] : []))
        schedule = LRSchedule(baseLR: config.lr, epochs: config.schedEpochs, lrFactor: config.schedLRFactor,
                              warmupEpochs: config.schedWarmupEpochs, enabled: config.cosineWarmup)
        firingCounts = [Int](repeating: 0, count: sae.config.dSAE)
        stepsSinceFired = firingCounts
        if config.architecture == .batchtopk, let t = sae.threshold { batchThreshold = Double(t[0]) }
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

    /// Gradients of the loss for `x` with respect to W_enc, W_dec, b_enc, b_dec, the metrics, the
    /// per-feature firing counts, and whether the sparse path was taken. Means are over `normalizer`
    /// rows (default: x's): with data parallelism, the global batch, so the ranks' parts sum to it.
    func gradients(_ x: Tensor, path: GradientPath? = nil, normalizer: Int? = nil)
        -> (grads: [Tensor], metrics: (l2: Float, l1: Float, l0: Float), fired: [Int], sparse: Bool, minKept: Float?) {
        let n = normalizer ?? x.shape[0]
        let centred = sae.config.applyBDecToInput ? x - sae.bDec : x
        let pre = Tensor.affine(centred, sae.wEnc, sae.bEnc)                   // [N, F]
        if config.architecture != .standard {
            return architectureGradients(centred: centred, x: x, pre: pre, normalizer: n, path: path ?? config.gradientPath)
        }
        var useSparse = false
        switch path ?? config.gradientPath {
        case .dense: useSparse = false
        case .sparse: useSparse = true
        case .automatic:
            let active = pre.withUnsafeBufferPointer { p in p.reduce(0) { $0 + ($1 > 0 ? 1 : 0) } }
            useSparse = Double(active) < SAETrainer.sparseDensityThreshold * Double(pre.count)
        }
        if useSparse {
            let r = sparseGradients(centred: centred, x: x, pre: pre, normalizer: n)
            return (r.grads, r.metrics, r.fired, true, nil)
        }
        let f = pre.relu()
        let recons = Tensor.affine(f, sae.wDec, sae.bDec)                       // [N, A]
        let e = recons - x
        let l2 = e.squared().sum() / Float(n)
        let l1 = Float(config.l1Coeff) * f.sum() / Float(n)
        let fired = FeatureFrequencies.firingCounts(f)
        let active = fired.reduce(0, +)
        // d loss / d x̂ = 2 e / N
        let dRecons = e * (2 / Float(n))
        let gDec = Tensor.matmul(f, dRecons, transposeA: true)                  // fᵀ · dx̂   [F, A]
        var gBDec = dRecons.sum(axis: 0)                                        // [A]
        // d loss / d f = dx̂ · W_decᵀ + l1/N (|f|' = 1 where f > 0); through the ReLU: where pre > 0.
        let l1Grad = Float(config.l1Coeff) / Float(n)
        let dF = Tensor.matmul(dRecons, sae.wDec, transposeB: true)             // [N, F]
        let dPre = Tensor.elementwise(dF, pre) { g, p in p > 0 ? g + l1Grad : 0 }
        let gEnc = Tensor.matmul(centred, dPre, transposeA: true)               // [A, F]
        let gBEnc = dPre.sum(axis: 0)                                           // [F]
        if sae.config.applyBDecToInput {
            // x_cent = x − b_dec: d/d b_dec of the encoder side is −Σ_n dpre · W_encᵀ.
            gBDec = gBDec - sae.wEnc.matmul(gBEnc.reshaped([sae.config.dSAE, 1])).reshaped([sae.config.dIn])
        }
        return ([gEnc, gDec, gBEnc, gBDec], (l2, l1, Float(active) / Float(n)), fired, false, nil)
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
        // JumpReLU keeps θ ≥ 0: projected before the forward pass, as SAELens does.
        if config.architecture == .jumprelu, sae.threshold!.withUnsafeBufferPointer({ $0.contains { $0 < 0 } }) {
            sae.threshold = sae.threshold!.relu()
        }
        var (grads, m, fired, usedSparse, minKept) = gradients(x, normalizer: x.shape[0] * size)
        if let ranks, size > 1 {
            for i in grads.indices { try ranks.sum(&grads[i]) }
            var small = [Double(m.l2), Double(m.l1), Double(m.l0)] + fired.map(Double.init)
            try ranks.sum(&small)
            m = (Float(small[0]), Float(small[1]), Float(small[2]))
            fired = small[3...].map { Int($0) }
            if config.architecture == .batchtopk {
                // Every rank's smallest kept activation (rank r fills slot r), then the smallest of them.
                var mins = [Double](repeating: 0, count: 2 * size)
                if let v = minKept { mins[2 * ranks.rank] = 1; mins[2 * ranks.rank + 1] = Double(v) }
                try ranks.sum(&mins)
                minKept = (0..<size).filter { mins[2 * $0] == 1 }.map { Float(mins[2 * $0 + 1]) }.min()
            }
        }
        guard (m.l2 + m.l1).isFinite else { throw SAETrainingError.nonFiniteLoss(step: step, loss: m.l2 + m.l1) }
        // Decoder constraint: project each row's gradient off the row, then renormalise the rows.
        Self.constrainDecoder(&sae.wDec, gradient: &grads[1])
        let lr = schedule.lr
        for i in adam.steps.indices { adam.steps[i] += 1 }
        Self.adamUpdate(&sae.wEnc, &adam.m[0], &adam.v[0], grads[0], step: adam.steps[0], config: config, lr: lr)
        Self.adamUpdate(&sae.wDec, &adam.m[1], &adam.v[1], grads[1], step: adam.steps[1], config: config, lr: lr)
        Self.adamUpdate(&sae.bEnc, &adam.m[2], &adam.v[2], grads[2], step: adam.steps[2], config: config, lr: lr)
        Self.adamUpdate(&sae.bDec, &adam.m[3], &adam.v[3], grads[3], step: adam.steps[3], config: config, lr: lr)
        if config.architecture == .jumprelu {
            Self.adamUpdate(&sae.threshold!, &adam.m[4], &adam.v[4], grads[4], step: adam.steps[4], config: config, lr: lr)
        }
        if config.architecture == .batchtopk, let v = minKept {
            batchThreshold = (1 - config.thresholdLR) * batchThreshold + config.thresholdLR * Double(v)
            sae.threshold = Tensor(repeating: Float(batchThreshold), shape: [sae.config.dSAE])
        }
        schedule.afterTrainingStep(step)
        step += 1
        for j in 0..<fired.count {
            firingCounts[j] += fired[j]
            stepsSinceFired[j] = fired[j] > 0 ? 0 : stepsSinceFired[j] + 1
        }
        rowsCounted += x.shape[0] * size
        return StepMetrics(loss: m.l2 + m.l1, l2: m.l2, l1: m.l1, l0: m.l0, lr: lr, sparse: usedSparse)
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

    /// PyTorch's single-tensor Adam update (`torch.optim.Adam`, no weight decay, no amsgrad), with the
    /// scalar coefficients computed in Double as Python computes them and applied in Float. One fused
    /// pass over the parameter, its gradient and both moments, each element computed with PyTorch's
    /// operations in PyTorch's order: `m ← m + (1−β₁)(g − m)` (`= g` when β₁ = 0), `v ← β₂v + (1−β₂)g²`,
    /// `p ← p − (m / (√v / √(1−β₂ᵗ) + ε)) · lr/(1−β₁ᵗ)`.
    static func adamUpdate(_ p: inout Tensor, _ m: inout Tensor, _ v: inout Tensor, _ g: Tensor, step: Int, config: SAETrainingConfig, lr: Double) {
        let t = Double(step)
        let b1 = config.beta1, b2 = config.beta2
        let w1 = Float(1 - b1), fb2 = Float(b2), w2 = Float(1 - b2)
        let stepSize = Float(lr / (1 - Foundation.pow(b1, t)))
        let bc2Sqrt = Float((1 - Foundation.pow(b2, t)).squareRoot())
        let eps = Float(config.adamEps), firstMomentIsGradient = b1 == 0
        let grad = g.contiguous()
        grad.withUnsafeBufferPointer { gp in
            m.withUnsafeMutableBufferPointer { mp in
                v.withUnsafeMutableBufferPointer { vp in
                    p.withUnsafeMutableBufferPointer { pp in
                        precondition(gp.count == pp.count && mp.count == pp.count && vp.count == pp.count)
                        let box = UnsafeSendableBox((gp.baseAddress!, mp.baseAddress!, vp.baseAddress!, pp.baseAddress!))
                        Parallel.forChunks(of: 0..<pp.count, minChunk: 1 << 16) { r in
                            let (g, m, v, p) = box.value
                            for k in r {
                                let gk = g[k]
                                let mk = firstMomentIsGradient ? gk : m[k] + w1 * (gk - m[k])
                                let vk = v[k] * fb2 + w2 * (gk * gk)
                                m[k] = mk
                                v[k] = vk
                                p[k] = p[k] - (mk / (vk.squareRoot() / bc2Sqrt + eps)) * stepSize
                            }
                        }
                    }
                }
            }
        }
    }

    /// Descends the schedule to its minimum so the warm-up repeats (after a resampling).
    public mutating func rewarmSchedule() { schedule.rewarm() }

    /// Zeroes the firing counters (the start of a new dead-feature window).
    public mutating func resetFiringCounters() {
        firingCounts = [Int](repeating: 0, count: firingCounts.count)
        rowsCounted = 0
    }
}
