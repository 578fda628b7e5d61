// FeatureFrequencies: the firing-frequency metrics of Docs/Method.md §1.10.
import Tensor

/// Firing frequencies of every feature over some rows, and the summary fractions the paper logs.
public struct FeatureFrequencies: Sendable, Equatable {
    /// `freq[j]` = rows where feature j fired / rows.
    public let freq: [Double]

    /// From per-feature firing counts over `rows` rows.
    public init(counts: [Int], rows: Int) {
        freq = counts.map { rows > 0 ? Double($0) / Double(rows) : 0 }
    }

    /// From activations `[rows, d_sae]` (a feature fires where its activation is non-zero).
    public init(acts: Tensor) {
        self.init(counts: FeatureFrequencies.firingCounts(acts), rows: acts.shape[0])
    }

    /// Per feature, the rows of `acts` `[rows, d_sae]` where it is non-zero.
    public static func firingCounts(_ acts: Tensor) -> [Int] {
        let d = acts.shape[acts.rank - 1]
        var counts = [Int](repeating: 0, count: d)
        acts.withUnsafeBufferPointer { p in
            for r in 0..<(p.count / Swift.max(d, 1)) { for j in 0..<d where p[r * d + j] != 0 { counts[j] += 1 } }
        }
        return counts
    }

    /// Fraction of features that never fired (`dead`).
    public var deadFraction: Double { fraction { $0 == 0 } }
    /// Fraction of features firing on fewer than 1e-6 of rows (`below_1e-6`).
    public var below1e6: Double { fraction { $0 < 1e-6 } }
    /// Fraction of features firing on fewer than 1e-5 of rows (`below_1e-5`).
    public var below1e5: Double { fraction { $0 < 1e-5 } }
    /// Fraction of features that are alive (fired at least once).
    public var aliveFraction: Double { 1 - deadFraction }

    private func fraction(_ p: (Double) -> Bool) -> Double {
        freq.isEmpty ? 0 : Double(freq.filter(p).count) / Double(freq.count)
    }
}
