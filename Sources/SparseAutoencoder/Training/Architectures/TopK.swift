// TopKArchitecture: the k largest pre-activations of each row (Gao et al. 2024), with AuxK.

import Tensor

/// TopK: `f = ReLU(pre)` on the `k` largest pre-activations of each row (ties: the lower feature index),
/// 0 elsewhere; loss `mse + AuxK`. `∂L/∂pre = ∂L_mse/∂f` on the kept entries (a selection has no
/// gradient), plus AuxK's on its entries.
public struct TopKArchitecture: TrainableArchitecture, Equatable {
    /// Features kept per row (an integer in a valid config).
    public var k: Double
    public var auxK: AuxK

    public var kind: TrainingArchitecture { .topk }
    public var saeArchitecture: SAEArchitecture { .topK(k: Int(exactly: k) ?? 0) }

    public mutating func adopt(_ sae: inout SAE) {
        sae.config.architecture = saeArchitecture
        sae.threshold = nil
    }

    public func validate(dSAE: Int?) throws {
        try TrainingSetting.check(k >= 1 && k <= Double(dSAE ?? 1 << 24) && k.rounded() == k, "k", k,
                                  "an integer 1…d_sae" + (dSAE.map { " (\($0))" } ?? "") + " for TopK")
        try auxK.validate(dSAE: dSAE)
    }

    public func gradients(_ input: StepInput) -> StepGradients {
        let selection = StepSelection(support: Self.topK(input.pre, k: Int(k)), auxiliary: auxK.entries(input.pre, dIn: input.sae.config.dIn))
        return StepBackward.run(KeptEntriesRule(), selection, input)
    }

    public mutating func finishStep(_ step: StepGradients, fired: [Int], sae: inout SAE, across ranks: (any Collective)?) throws {
        auxK.record(fired: fired)
    }

    public func write(into w: HDF5Writer, group: String) throws { try auxK.write(into: w, group: group) }

    public mutating func read(from f: HDF5File, group: String, path: String, dSAE: Int, step: Int) throws {
        try auxK.read(from: f, group: group, path: path, dSAE: dSAE, step: step)
    }

    /// The `k` largest entries of each row with a positive value (ties: lower index).
    static func topK(_ pre: Tensor, k: Int) -> EntrySupport {
        let rows = pre.shape[0]
        let picked = pre.topK(k)
        var perRow = [[Int32]](repeating: [], count: rows)
        picked.values.withUnsafeBufferPointer { v in
            for r in 0..<rows {
                var entries: [Int32] = []
                for t in 0..<k where v[r * k + t] > 0 { entries.append(Int32(picked.indices.values[r * k + t])) }
                entries.sort()
                perRow[r] = entries
            }
        }
        return EntrySupport(rows: perRow)
    }
}

/// The rule of architectures whose entries are chosen (TopK, BatchTopK): a kept entry is active with
/// `f = pre` (every kept entry is positive), and its gradient is the reconstruction's; no penalty.
struct KeptEntriesRule: EntryRule {
    @inline(__always) func takesPart(_ v: Float, feature j: Int) -> Bool { v > 0 }
    @inline(__always) func takesPart(_ v: SIMD16<Float>, features j: Int) -> SIMDMask<SIMD16<Int32>> { v .> 0 }
    @inline(__always) func activation(_ v: Float, feature j: Int) -> Float { v > 0 ? v : 0 }
    @inline(__always) func preGradient(_ v: Float, activation f: Float, outputGradient g: Float, feature j: Int) -> Float { f != 0 ? g : 0 }
    func sparsityPenalty(activationSum: Float, active: Int) -> Float { 0 }
}
