// InductionFeatures: measuring whether SAE features are induction features (Docs/Method.md §3.3), from firings on
// held-out rows, the logit effect, decoder-norm head attribution and DFA by source position.

import Foundation
import SparseAutoencoder
import Tensor
import Transformer

/// How much a feature behaves like an induction feature for the token it promotes most.
public struct InductionFeatureScore: Codable, Sendable, Equatable {
    public var feature: Int
    /// T: the top token of the feature's logit effect `W_dec[f] · W_O · W_U`.
    public var target: Int
    /// Positions where the feature fires (activation > 0).
    public var firings: Int
    /// Share of firings where the *broad* proxy holds: the current token occurred earlier and at least
    /// one earlier occurrence was followed by T.
    public var specificity: Double
    /// Positions where the *narrow* proxy holds: the current token occurred earlier and every earlier
    /// occurrence was followed by T.
    public var narrowPositions: Int
    /// Share of narrow-proxy positions where the feature fires.
    public var sensitivity: Double
    /// Decoder-norm head attribution (Docs/Method.md §2.3), one value per head, summing to 1.
    public var headAttribution: [Float]
    /// The attribution summed over the heads named as induction heads.
    public var inductionHeadShare: Float
    /// Top examples whose DFA was computed, and the share of them whose DFA by source position peaks
    /// right after an earlier occurrence of the destination's token (source s with t[s−1] = t[dest]).
    public var dfaExamples: Int
    public var dfaPeakAfterEarlierOccurrence: Double

    /// The paper-style test of an induction feature (the thresholds of the planted-model check).
    public func isInduction(specificity minSpec: Double = 0.85, sensitivity minSens: Double = 0.5,
                            headShare minShare: Float = 0.5, dfaPeak minPeak: Double = 0.9) -> Bool {
        specificity >= minSpec && sensitivity >= minSens && inductionHeadShare >= minShare && dfaPeakAfterEarlierOccurrence >= minPeak
    }
}

public enum InductionFeatures {
    /// For every position of `rows`, the tokens that followed earlier occurrences of its token
    /// (positions `i < p` with `t[i] = t[p]`, follower `t[i+1]`, which may be `t[p]` itself).
    static func followers(_ rows: [[Int]]) -> [[[Int]]] {
        rows.map { row in
            var seen: [Int: [Int]] = [:]           // token → followers of its occurrences i with i + 1 ≤ p
            return row.indices.map { p in
                if p > 0 { seen[row[p - 1], default: []].append(row[p]) }
                return seen[row[p]] ?? []
            }
        }
    }

    /// Scores `features` (default: every feature that fires) of `sae` on the token rows `tokens`
    /// `[batch, pos]`. `inductionHeads` are the head indices of the SAE's layer whose attribution counts
    /// as "induction"; DFA is computed for each scored feature's `dfaExamples` strongest firings.
    public static func score(model: GPT2, sae attention: AttentionSAE, tokens: IndexTensor, inductionHeads: [Int], features: [Int]? = nil,
                             dfaExamples: Int = 20, rowsPerForward: Int = 16) throws -> [InductionFeatureScore] {
        let (sae, layer, layout) = (attention.sae, attention.layer, attention.layout)
        let (nRows, pos) = (tokens.shape[0], tokens.shape[1])
        let rows = (0..<nRows).map { Array(tokens.row($0)) }
        // Firings of every feature over every position, in (row, position) order.
        let scan = try FeatureScan.run(model: model, sae: attention, tokens: tokens, rowsPerForward: rowsPerForward)
        let firings = scan.firings
        /// A firing's position as the proxies index it: row · pos + p.
        func index(_ f: FeatureFiring) -> Int32 { Int32(Int(f.row) * pos + Int(f.position)) }
        let chosen = features ?? (0..<sae.config.dSAE).filter { !firings[$0].isEmpty }
        guard !chosen.isEmpty else { return [] }
        // Proxies, indexed by target token.
        let follow = followers(rows)
        var broad: [Int: Set<Int32>] = [:], narrow: [Int: [Int32]] = [:]
        for r in 0..<nRows {
            for p in 0..<pos where !follow[r][p].isEmpty {
                let f = follow[r][p], index = Int32(r * pos + p)
                for t in Set(f) { broad[t, default: []].insert(index) }
                if f.allSatisfy({ $0 == f[0] }) { narrow[f[0], default: []].append(index) }
            }
        }
        let attribution = FeatureAttribution.decoderHeadAttribution(sae, layout: layout)
        let wO = model.weights.blocks[layer].wO, wU = model.weights.wU
        var scores: [InductionFeatureScore] = []
        for chunkStart in stride(from: 0, to: chosen.count, by: 256) {
            let group = Array(chosen[chunkStart..<min(chunkStart + 256, chosen.count)])
            let logits = FeatureAttribution.logitEffects(sae, features: group, wO: wO, wU: wU)     // [group, d_vocab]
            for (gi, f) in group.enumerated() {
                let target = logits.selecting(axis: 0, gi).topK(1).indices.values[0]
                let fired = firings[f]
                let broadT = broad[target] ?? []
                let narrowT = narrow[target] ?? []
                let firedSet = Set(fired.map(index))
                let spec = fired.isEmpty ? 0 : Double(fired.filter { broadT.contains(index($0)) }.count) / Double(fired.count)
                let sens = narrowT.isEmpty ? 0 : Double(narrowT.filter { firedSet.contains($0) }.count) / Double(narrowT.count)
                let heads = attribution.selecting(axis: 0, f).scalars
                scores.append(InductionFeatureScore(
                    feature: f, target: target, firings: fired.count, specificity: spec, narrowPositions: narrowT.count,
                    sensitivity: sens, headAttribution: heads, inductionHeadShare: inductionHeads.reduce(0) { $0 + heads[$1] },
                    dfaExamples: 0, dfaPeakAfterEarlierOccurrence: 0))
            }
        }
        // DFA of the strongest firings, grouped by row so each row runs once.
        var wanted: [Int: [(score: Int, dest: Int)]] = [:]
        for (si, s) in scores.enumerated() {
            let top = firings[s.feature].sorted { ($0.value, -$0.row, -$0.position) > ($1.value, -$1.row, -$1.position) }.prefix(dfaExamples)
            for e in top { wanted[Int(e.row), default: []].append((si, Int(e.position))) }
            scores[si].dfaExamples = top.count
        }
        var peaks = [Int](repeating: 0, count: scores.count)
        let rowIDs = wanted.keys.sorted()
        for groupStart in stride(from: 0, to: rowIDs.count, by: rowsPerForward) {
            let group = Array(rowIDs[groupStart..<min(groupStart + rowsPerForward, rowIDs.count)])
            let cache = try model.runWithCache(tokens.rows(group), names: [.pattern(layer), .v(layer)])
            for (gi, r) in group.enumerated() {
                let pattern = cache[.pattern(layer)]!.sliced(axis: 0, gi..<(gi + 1))
                let v = cache[.v(layer)]!.sliced(axis: 0, gi..<(gi + 1))
                var dfaOf: [Int: Tensor] = [:]
                for (si, dest) in wanted[r]! {
                    let f = scores[si].feature
                    if dfaOf[f] == nil {
                        dfaOf[f] = FeatureAttribution.dfaBySource(pattern: pattern, v: v, encoderColumn: FeatureAttribution.encoderColumn(sae, f))
                    }
                    let values = dfaOf[f]!.selecting(axis: 0, 0).selecting(axis: 0, dest).scalars    // [k_pos]
                    let peak = (0...dest).max { values[$0] < values[$1] }!
                    if peak >= 1 && peak - 1 < dest && rows[r][peak - 1] == rows[r][dest] { peaks[si] += 1 }
                }
            }
        }
        for si in scores.indices where scores[si].dfaExamples > 0 {
            scores[si].dfaPeakAfterEarlierOccurrence = Double(peaks[si]) / Double(scores[si].dfaExamples)
        }
        return scores
    }
}
