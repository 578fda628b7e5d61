// BatchTopKArchitecture: the k·batch largest activations of the whole batch (Bussmann et al. 2024),
// with AuxK; saved as JumpReLU with one global threshold.

import Foundation
import Tensor

/// BatchTopK: the `⌊k · N⌋` largest entries of `ReLU(pre)` over the batch of `N` rows (ties: the first in
/// row-major order), positive ones only; loss `mse + AuxK`. The SAE it trains is a JumpReLU SAE whose
/// thresholds are all `θ`, an exponential moving average of the smallest activation kept:
/// `θ ← (1 − r)·θ + r·min(kept)` (kept in Double, as SAELens keeps it). With several ranks each rank
/// selects over its own share of the batch and `min(kept)` is the smallest over the ranks (Docs/Deviations.md #27).
public struct BatchTopKArchitecture: TrainableArchitecture, Equatable {
    /// Features kept per row on average.
    public var k: Double
    /// The threshold's moving-average rate `r`.
    public var thresholdRate: Double
    public var auxK: AuxK
    /// The global threshold θ.
    public var threshold: Double = 0

    public var kind: TrainingArchitecture { .batchtopk }
    public var saeArchitecture: SAEArchitecture { .jumpReLU }

    /// A JumpReLU SAE (thresholds 0 if it had none); the moving average continues from its thresholds.
    public mutating func adopt(_ sae: inout SAE) {
        if sae.config.architecture != .jumpReLU {
            sae.config.architecture = .jumpReLU
            sae.threshold = Tensor(repeating: 0, shape: [sae.config.dSAE])
        }
        if let t = sae.threshold, t.count > 0 { threshold = Double(t[0]) }
    }

    public func validate(dSAE: Int?) throws {
        try TrainingSetting.check(k.isFinite && k > 0 && k <= Double(dSAE ?? 1 << 24), "k", k,
                                  "a number > 0 and ≤ d_sae" + (dSAE.map { " (\($0))" } ?? "") + " (features per row on average)")
        try TrainingSetting.check(thresholdRate.isFinite && thresholdRate > 0 && thresholdRate <= 1, "thresholdLR", thresholdRate, "0 < r ≤ 1")
        try auxK.validate(dSAE: dSAE)
    }

    public func gradients(_ input: StepInput) -> StepGradients {
        let (support, minKept) = Self.batchTopK(input.pre, total: Int(k * Double(input.x.shape[0])))
        let selection = StepSelection(support: support, auxiliary: auxK.entries(input.pre, dIn: input.sae.config.dIn), statistic: minKept)
        return StepBackward.run(KeptEntriesRule(), selection, input)
    }

    /// The moving average follows the smallest activation kept on any rank (rank r fills slot r of a
    /// sum, so every rank sees every rank's minimum).
    public mutating func finishStep(_ step: StepGradients, fired: [Int], sae: inout SAE, across ranks: (any Collective)?) throws {
        auxK.record(fired: fired)
        var minKept = step.statistic
        if let ranks, ranks.size > 1 {
            var mins = [Double](repeating: 0, count: 2 * ranks.size)
            if let v = minKept { mins[2 * ranks.rank] = 1; mins[2 * ranks.rank + 1] = Double(v) }
            try ranks.sum(&mins)
            minKept = (0..<ranks.size).filter { mins[2 * $0] == 1 }.map { Float(mins[2 * $0 + 1]) }.min()
        }
        if let v = minKept {
            threshold = (1 - thresholdRate) * threshold + thresholdRate * Double(v)
            sae.threshold = Tensor(repeating: Float(threshold), shape: [sae.config.dSAE])
        }
    }

    public func write(into w: HDF5Writer, group g: String) throws {
        try auxK.write(into: w, group: g)
        try w.setAttribute("batch_threshold", .doubles([threshold]), of: g.isEmpty ? "/" : g)
    }

    public mutating func read(from f: HDF5File, group g: String, path: String, dSAE: Int, step: Int) throws {
        try auxK.read(from: f, group: g, path: path, dSAE: dSAE, step: step)
        if case .doubles(let t)? = try? f.attribute("batch_threshold", of: g.isEmpty ? "/" : g) {
            guard t.count == 1, t[0].isFinite else {
                throw SAEFormatError.unsupported(file: path, detail: (g.isEmpty ? "" : "\(g): ") + "batch_threshold is not one finite number")
            }
            threshold = t[0]
        }
    }

    /// The `total` largest entries of `ReLU(pre)` over the whole batch (ties: the first in row-major
    /// order), positive ones only (a selected zero contributes nothing), and the smallest activation
    /// kept (nil when none is positive).
    static func batchTopK(_ pre: Tensor, total: Int) -> (support: EntrySupport, minKept: Float?) {
        var positives: [Float] = []
        pre.withUnsafeBufferPointer { p in for v in p where v > 0 { positives.append(v) } }
        guard total < positives.count else { return (EntrySupport.filter(pre, KeptEntriesRule())!, positives.min()) }
        guard total > 0 else { return (EntrySupport(rows: [[Int32]](repeating: [], count: pre.shape[0])), nil) }
        // The total-th largest positive value t: everything above t is kept, and the first entries equal to t.
        let t = Selection.kthLargest(&positives, total)
        var above = 0
        pre.withUnsafeBufferPointer { p in for v in p where v > t { above += 1 } }
        var ties = total - above
        let (rows, f) = (pre.shape[0], pre.shape[1])
        var perRow = [[Int32]](repeating: [], count: rows)
        pre.contiguous().withUnsafeBufferPointer { p in
            for r in 0..<rows {
                var entries: [Int32] = []
                for j in 0..<f {
                    let v = p[r * f + j]
                    if v > t || (v == t && ties > 0) {
                        if v == t { ties -= 1 }
                        entries.append(Int32(j))
                    }
                }
                perRow[r] = entries
            }
        }
        return (EntrySupport(rows: perRow), t)
    }
}
