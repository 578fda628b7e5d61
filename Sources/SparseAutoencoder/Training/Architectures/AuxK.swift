// AuxK: the auxiliary loss TopK and BatchTopK train dead features with (Gao et al. 2024; SAELens's
// calculate_topk_aux_loss), and the dead-feature counters it needs.

import Foundation
import Tensor

/// AuxK: with `dead` the features that have not fired for more than `deadWindow` steps, the `k_aux`
/// largest pre-activations `z` of dead features in each row reconstruct the residual:
/// `ê = Σ z_j W_dec[j]`, loss `coefficient · min(dead/k_aux, 1) · mean_n ‖ê_n − (x_n − x̂_n)‖²`
/// (the residual detached). Part of an architecture's state: the steps since each feature last fired.
public struct AuxK: Sendable, Equatable {
    /// 0 turns it off.
    public var coefficient: Double
    /// `k_aux` (nil: `d_in / 2`, SAELens's and Gao et al.'s heuristic).
    public var k: Int?
    /// A feature is dead after more than this many steps without firing.
    public var deadWindow: Int
    /// Per feature, the steps since it last fired (on any rank).
    public var stepsSinceFired: [Int]

    init(_ config: SAETrainingConfig, dSAE: Int) {
        coefficient = config.auxKCoeff
        k = config.auxK
        deadWindow = config.deadWindow
        stepsSinceFired = [Int](repeating: 0, count: dSAE)
    }

    /// The features dead for AuxK (ascending).
    public var deadFeatures: [Int] { stepsSinceFired.indices.filter { stepsSinceFired[$0] > deadWindow } }

    func validate(dSAE: Int?) throws {
        try TrainingSetting.check(coefficient.isFinite && coefficient >= 0 && coefficient <= 1e6, "auxKCoeff", coefficient, "0…1e6")
        if let k { try TrainingSetting.check(k >= 1 && k <= (dSAE ?? 1 << 24), "auxK", k, "1…d_sae" + (dSAE.map { " (\($0))" } ?? "")) }
        try TrainingSetting.check(deadWindow >= 1 && deadWindow <= 1 << 40, "deadWindow", deadWindow, "1…2^40 steps")
    }

    /// This step's AuxK entries for `pre [N, d_sae]` of an SAE reading `dIn` columns: per row, the `k_aux`
    /// largest pre-activations among the dead features (any sign); nil when off or no feature is dead.
    func entries(_ pre: Tensor, dIn: Int) -> AuxiliaryEntries? {
        guard coefficient > 0 else { return nil }
        let dead = deadFeatures
        guard !dead.isEmpty else { return nil }
        let kAux = k ?? max(dIn / 2, 1)
        let rows = pre.shape[0], kept = min(kAux, dead.count)
        let picked = pre.gathering(axis: 1, IndexTensor(dead)).topK(kept)
        var perRow = [[Int32]](repeating: [], count: rows)
        for r in 0..<rows {
            perRow[r] = picked.indices.values[(r * kept)..<((r + 1) * kept)].map { Int32(dead[$0]) }.sorted()
        }
        return AuxiliaryEntries(entries: EntrySupport(rows: perRow), scale: Float(coefficient * min(Double(dead.count) / Double(kAux), 1)))
    }

    /// Counts the step: a feature that fired (on any rank) is 0 steps from firing.
    mutating func record(fired: [Int]) {
        for j in fired.indices { stepsSinceFired[j] = fired[j] > 0 ? 0 : stepsSinceFired[j] + 1 }
    }

    func write(into w: HDF5Writer, group g: String) throws {
        try w.write(IndexTensor(stepsSinceFired), at: g + "/steps_since_fired")
    }

    /// Reads the counters (a checkpoint without them: every feature just fired).
    mutating func read(from f: HDF5File, group g: String, path: String, dSAE: Int, step: Int) throws {
        guard f.contains(g + "/steps_since_fired") else { return }
        let counts = try f.readIndices(g + "/steps_since_fired").values
        guard counts.count == dSAE, counts.allSatisfy({ $0 >= 0 && $0 <= step }) else {
            throw SAEFormatError.unsupported(file: path, detail: (g.isEmpty ? "" : "\(g): ") + "steps-since-fired counters do not match d_sae or the steps taken")
        }
        stepsSinceFired = counts
    }
}
