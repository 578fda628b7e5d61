// JumpReLUArchitecture: learned thresholds trained through straight-through estimators, and an L0
// penalty (Rajamanoharan et al. 2024; SAELens's JumpReLU and Step autograd functions).

import Foundation
import Tensor

/// JumpReLU: `f = pre · 1[pre > θ_j]` with a learned `θ ≥ 0` per feature, loss
/// `mse + λ_t · mean_n Σ_j 1[pre_nj > θ_j]` (λ grows linearly over the warm-up). With
/// `rect(u) = 1[−½ < u < ½]`, `u = (pre − θ)/ε`: `∂L/∂pre = 1[pre > θ]·∂L_mse/∂f` and
/// `∂L/∂θ_j = −Σ_n rect(u_nj)·(θ_j/ε · ∂L_mse/∂f_nj + λ/(N ε))` (SAELens with `ste_to_input = false`:
/// DeepMind's estimator). Its entries are the active ones and those inside the estimators' band.
public struct JumpReLUArchitecture: TrainableArchitecture, Equatable {
    /// λ, the L0 coefficient.
    public var l0Coeff: Double
    /// λ grows linearly from 0 over this many steps.
    public var l0WarmupSteps: Int
    /// The estimators' bandwidth ε.
    public var bandwidth: Double
    /// The thresholds' value in an SAE that has none.
    public var initialThreshold: Double

    public var kind: TrainingArchitecture { .jumprelu }
    public var saeArchitecture: SAEArchitecture { .jumpReLU }
    public var ownParameterNames: [String] { ["threshold"] }

    public func ownParameters(of sae: SAE) -> [String: Tensor] { ["threshold": sae.threshold!] }
    public func setOwnParameters(_ parameters: [String: Tensor], in sae: inout SAE) { sae.threshold = parameters["threshold"] }

    public mutating func adopt(_ sae: inout SAE) {
        if sae.config.architecture != .jumpReLU {
            sae.config.architecture = .jumpReLU
            sae.threshold = Tensor(repeating: Float(initialThreshold), shape: [sae.config.dSAE])
        }
    }

    public func validate(dSAE: Int?) throws {
        try TrainingSetting.check(l0Coeff.isFinite && l0Coeff >= 0 && l0Coeff <= 1e6, "l0Coeff", l0Coeff, "0…1e6")
        try TrainingSetting.check(l0WarmupSteps >= 0 && l0WarmupSteps <= 1 << 40, "l0WarmupSteps", l0WarmupSteps, "0…2^40 steps")
        try TrainingSetting.check(bandwidth.isFinite && bandwidth > 0 && bandwidth <= 1e3, "bandwidth", bandwidth, "0 < ε ≤ 1000")
        try TrainingSetting.check(initialThreshold.isFinite && initialThreshold >= 0 && initialThreshold <= 1e3, "initialThreshold", initialThreshold, "0…1000")
    }

    /// λ at step `t` (0-based): `λ · min(t, w)/w` with warm-up `w`, else λ.
    func l0Coefficient(atStep t: Int) -> Double {
        l0WarmupSteps > 0 ? l0Coeff * Double(min(t, l0WarmupSteps)) / Double(l0WarmupSteps) : l0Coeff
    }

    public func prepare(_ sae: inout SAE) {
        if sae.threshold!.withUnsafeBufferPointer({ $0.contains { $0 < 0 } }) { sae.threshold = sae.threshold!.relu() }
    }

    public func gradients(_ input: StepInput) -> StepGradients {
        let n = Float(input.normalizer), eps = Float(bandwidth), lambda = Float(l0Coefficient(atStep: input.step))
        let rule = Rule(theta: input.sae.threshold!.contiguous().scalars, bandwidth: eps, l0Coeff: lambda, stepGradient: lambda / n, normalizer: n)
        return StepBackward.run(rule, StepSelection(), input)
    }

    struct Rule: EntryRule {
        let theta: [Float]
        let bandwidth: Float, l0Coeff: Float, stepGradient: Float, normalizer: Float

        /// Active (`pre > θ`) or inside the estimators' band (`(pre − θ)/ε > −½`).
        @inline(__always) func takesPart(_ v: Float, feature j: Int) -> Bool { v > theta[j] || (v - theta[j]) / bandwidth > -0.5 }
        @inline(__always) func takesPart(_ v: SIMD16<Float>, features j: Int) -> SIMDMask<SIMD16<Int32>> {
            let t = theta.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress! + j).loadUnaligned(as: SIMD16<Float>.self) }
            return (v .> t) .| ((v - t) / bandwidth .> -0.5)
        }
        @inline(__always) func activation(_ v: Float, feature j: Int) -> Float { v > theta[j] ? v : 0 }
        @inline(__always) func preGradient(_ v: Float, activation f: Float, outputGradient g: Float, feature j: Int) -> Float { f != 0 ? g : 0 }
        var ownParameter: String? { "threshold" }
        @inline(__always) func ownGradient(_ v: Float, activation f: Float, outputGradient g: Float, feature j: Int) -> Float {
            let t = theta[j], u = (v - t) / bandwidth
            return u > -0.5 && u < 0.5 ? -((t / bandwidth) * g + stepGradient / bandwidth) : 0
        }
        func sparsityPenalty(activationSum: Float, active: Int) -> Float { l0Coeff * Float(active) / normalizer }
    }
}
