// StandardArchitecture: the paper's SAE — ReLU and an L1 penalty (Docs/Method.md §1.6).

import Tensor

/// The paper's: `f = ReLU(pre)`, loss `mse + l1_coeff · mean_n Σ_j f_nj`. Its entries are those with
/// `pre > 0`; `∂L/∂pre = ∂L_mse/∂f + l1_coeff/N` on them (`|f|' = 1` where `f > 0`).
public struct StandardArchitecture: TrainableArchitecture, Equatable {
    /// The L1 coefficient.
    public var l1Coeff: Double

    public var kind: TrainingArchitecture { .standard }
    public var saeArchitecture: SAEArchitecture { .standard }

    public mutating func adopt(_ sae: inout SAE) {
        sae.config.architecture = .standard
        sae.threshold = nil
    }

    public func validate(dSAE: Int?) throws {
        try TrainingSetting.check(l1Coeff.isFinite && l1Coeff >= 0 && l1Coeff <= 1e6, "l1Coeff", l1Coeff, "0…1e6")
    }

    public func gradients(_ input: StepInput) -> StepGradients {
        StepBackward.run(Rule(l1Coeff: Float(l1Coeff), l1Gradient: Float(l1Coeff) / Float(input.normalizer), normalizer: Float(input.normalizer)),
                         StepSelection(), input)
    }

    struct Rule: EntryRule {
        let l1Coeff: Float, l1Gradient: Float, normalizer: Float
        @inline(__always) func takesPart(_ v: Float, feature j: Int) -> Bool { v > 0 }
        @inline(__always) func takesPart(_ v: SIMD16<Float>, features j: Int) -> SIMDMask<SIMD16<Int32>> { v .> 0 }
        @inline(__always) func activation(_ v: Float, feature j: Int) -> Float { v > 0 ? v : 0 }
        @inline(__always) func preGradient(_ v: Float, activation f: Float, outputGradient g: Float, feature j: Int) -> Float {
            f > 0 ? g + l1Gradient : 0
        }
        func sparsityPenalty(activationSum: Float, active: Int) -> Float { l1Coeff * activationSum / normalizer }
    }
}
