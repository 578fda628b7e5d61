// SAETrainingConfig: the hyperparameters of SAE training, the architectures' names, and their checks.

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
    /// How a ``TrainingRun`` initialises this SAE from its first buffer fill: the paper's (keeping the SAE
    /// it was given) or Active Subspace Initialisation (``SAEInitialization``).
    public var initialization: SAEInitialization = .paper
    /// Active Subspace Initialisation's dimension (nil: the fewest directions holding 99% of the variance).
    public var activeSubspaceDim: Int? = nil
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
        try read(.initialization, &initialization)
        activeSubspaceDim = try c.decodeIfPresent(Int.self, forKey: .activeSubspaceDim)
    }

    /// Checks every value (a config decoded from a checkpoint is not trusted), with the architecture's
    /// checks for SAEs of width `dSAE` when given; errors name the setting (this type's property names).
    /// - Throws: ``TrainingRunError/invalidSetting(name:value:allowed:)``.
    public func validate(dSAE: Int? = nil) throws {
        try TrainingSetting.check(lr.isFinite && lr > 0 && lr <= 1, "lr", lr, "0 < lr ≤ 1")
        try TrainingSetting.check(beta1 >= 0 && beta1 < 1, "beta1", beta1, "0 ≤ beta1 < 1")
        try TrainingSetting.check(beta2 >= 0 && beta2 < 1, "beta2", beta2, "0 ≤ beta2 < 1")
        try TrainingSetting.check(adamEps.isFinite && adamEps > 0, "adamEps", adamEps, "a finite positive number")
        try TrainingSetting.check(schedEpochs >= 1 && schedEpochs <= 1 << 40, "schedEpochs", schedEpochs, "1…2^40")
        try TrainingSetting.check(schedWarmupEpochs >= 0 && schedWarmupEpochs <= 1 << 24, "schedWarmupEpochs", schedWarmupEpochs, "0…16777216")
        try TrainingSetting.check(schedLRFactor.isFinite && schedLRFactor >= 0 && schedLRFactor <= 1, "schedLRFactor", schedLRFactor, "0…1")
        try TrainingSetting.check(deadCutoff.map { $0.isFinite && $0 >= 0 && $0 <= 1 } ?? true, "deadCutoff", deadCutoff ?? 0, "0…1")
        try TrainingSetting.check(activeSubspaceDim.map { $0 >= 1 && $0 <= 1 << 20 } ?? true, "activeSubspaceDim", activeSubspaceDim ?? 0, "1…d_in")
        try TrainingArchitecture.make(self, dSAE: dSAE ?? 1).validate(dSAE: dSAE)
    }

    /// ``validate(dSAE:)`` for SAEs of `sae`'s widths (and an active subspace no wider than `d_in`).
    public func validate(for sae: SAEConfig) throws {
        try validate(dSAE: sae.dSAE)
        try TrainingSetting.check(activeSubspaceDim.map { $0 <= sae.dIn } ?? true, "activeSubspaceDim", activeSubspaceDim ?? 0, "1…d_in (\(sae.dIn))")
    }
}

/// Checks of training settings, named in the library's terms (the properties of ``SAETrainingConfig``
/// and ``TrainingRunPlan``); a command maps the names to its options.
public enum TrainingSetting {
    /// - Throws: ``TrainingRunError/invalidSetting(name:value:allowed:)`` unless `ok`.
    static func check(_ ok: Bool, _ name: String, _ value: Any, _ allowed: String) throws {
        if !ok { throw TrainingRunError.invalidSetting(name: name, value: "\(value)", allowed: allowed) }
    }
}

/// How a step's gradients are computed: the dense path (the rule over every entry, then five matrix
/// products), the entry path (only the encoder product is dense), chosen per step (`automatic`: the
/// entry path below 5% of entries taking part), or `naive` — the entry path written out in Double with
/// no pointers (the tests' reference; slow).
public enum GradientPath: String, Codable, Sendable {
    case automatic, dense, sparse, naive
}

