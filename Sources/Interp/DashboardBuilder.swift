// DashboardBuilder: the data behind feature dashboards (Docs/Method.md §5.2), for many features in one streaming pass.

import Foundation
import SparseAutoencoder
import Tensor
import Transformer

/// One example of a dashboard: a (row, position) with its activation and the context around it.
public struct DashboardExample: Codable, Sendable, Equatable {
    public var row: Int, position: Int, activation: Float
    /// Tokens at `position − buffer … position + buffer` (clipped to the row).
    public var contextTokens: [Int]
    /// The feature's activation at those tokens.
    public var contextActivations: [Float]
    /// Index of `position` within the context.
    public var center: Int
}

/// An activation interval of the dashboard ("INTERVAL lower – upper, CONTAINS fraction").
public struct DashboardInterval: Codable, Sendable, Equatable {
    public var lower: Float, upper: Float
    /// Fraction of all activations (every row and position, zeros included) in the interval: lower < a ≤ upper,
    /// and 0 ≤ a ≤ upper for the lowest one, so the fractions of a feature's intervals sum to 1.
    public var fraction: Double
    public var examples: [DashboardExample]
}

/// DFA by source position for one top example (Docs/Method.md §2.4): values over the row's source positions.
public struct DashboardDFA: Codable, Sendable, Equatable {
    public var row: Int, destination: Int
    public var values: [Float]
    /// The source position with the largest value.
    public var maxSource: Int
}

/// Everything a feature's dashboard shows.
public struct FeatureDashboard: Codable, Sendable, Equatable {
    public var feature: Int
    public var maxActivation: Float
    /// Fraction of positions where the feature fires.
    public var density: Double
    /// Counts of non-zero activations in `histogramBins` equal bins over (0, maxActivation].
    public var histogram: [Int]
    public var top: [DashboardExample]
    public var intervals: [DashboardInterval]
    public var dfa: [DashboardDFA]
    /// Decoder-norm head attribution (Docs/Method.md §2.3), one value per head.
    public var headAttribution: [Float]
    /// The most positive and most negative logit effects (Docs/Method.md §2.7), (token, value).
    public var positiveLogits: [LogitEntry]
    public var negativeLogits: [LogitEntry]

    public struct LogitEntry: Codable, Sendable, Equatable {
        public var token: Int
        public var value: Float
        public init(token: Int, value: Float) { self.token = token; self.value = value }
    }
}

/// Sizes of the dashboard data (the paper's defaults).
public struct DashboardConfig: Sendable {
    public var topK = 20
    public var intervals = 10
    public var perInterval = 5
    /// Context tokens on each side; centres are restricted to `buffer ..< pos − buffer`.
    public var buffer = 5
    public var histogramBins = 50
    public var logits = 20
    /// Rows per model forward in the streaming pass.
    public var rowsPerForward = 16
    /// When the token set's attention patterns and values fit in this many bytes, the streaming pass
    /// keeps them, so the DFA of the top examples needs no second model run.
    public var cacheBudgetBytes = 1 << 30
    public var seed: UInt64 = 0
    public init() {}
}

/// Builds dashboards for many features in one streaming pass over a token set, then one small pass
/// over the rows of the top examples for DFA.
///
/// Every activation is computed once, in the streaming pass (``FeatureScan``), and every statistic —
/// maximum, density, histogram, intervals, top examples and the activations shown around each example —
/// reads that one value (the firings kept per feature). Only DFA, which needs the attention pattern and
/// values, may run the model again, for the rows of top examples the pass did not keep.
public enum DashboardBuilder {
    /// `m` distinct indices in `0..<n`, uniformly (Floyd's algorithm: O(m) draws), in draw order.
    static func sampleIndices(_ n: Int, _ m: Int, _ rng: inout RandomStream) -> [Int] {
        var chosen = Set<Int>(), order: [Int] = []
        for j in (n - m)..<n {
            let t = rng.nextInt(below: j + 1)
            let pick = chosen.contains(t) ? j : t
            chosen.insert(pick)
            order.append(pick)
        }
        return order
    }

    /// Time spent in the pass, for the benchmark.
    package struct Timings: Sendable {
        /// Seconds in the model forward, the encoder product, collecting firings, the logit tables,
        /// and the rest (summaries, contexts, DFA).
        package var model = 0.0, encoder = 0.0, bookkeeping = 0.0, logits = 0.0, details = 0.0
        package init() {}
    }

    /// The dashboards of `features` of `sae` on `tokens` `[rows, pos]`.
    public static func build(model: GPT2, sae: AttentionSAE, features: [Int], tokens: IndexTensor,
                             config: DashboardConfig = DashboardConfig()) throws -> [FeatureDashboard] {
        var t = Timings()
        return try build(model: model, sae: sae, features: features, tokens: tokens, config: config, timings: &t)
    }

    package static func build(model: GPT2, sae: AttentionSAE, features: [Int], tokens: IndexTensor, config: DashboardConfig,
                              timings t: inout Timings) throws -> [FeatureDashboard] {
        let (nRows, pos) = (tokens.shape[0], tokens.shape[1])
        let c = model.config, layer = sae.layer
        let keep = nRows * (c.nHeads * pos * pos + pos * c.nHeads * c.dHead) * 4 <= config.cacheBudgetBytes
        var patternByRow: [Int: Tensor] = [:], vByRow: [Int: Tensor] = [:]
        var scanTimings = FeatureScan.Timings()
        let scan = try FeatureScan.run(model: model, sae: sae, tokens: tokens, features: features, rowsPerForward: config.rowsPerForward,
                                       alsoCache: keep ? [.pattern(layer), .v(layer)] : [], timings: &scanTimings) { rows, cache in
            guard keep else { return }
            for (i, r) in rows.enumerated() {
                patternByRow[r] = cache[.pattern(layer)]!.sliced(axis: 0, i..<(i + 1))
                vByRow[r] = cache[.v(layer)]!.sliced(axis: 0, i..<(i + 1))
            }
        }
        (t.model, t.encoder, t.bookkeeping) = (scanTimings.model, scanTimings.encoder, scanTimings.bookkeeping)
        let t1 = Date().timeIntervalSince1970
        var dashboards = summaries(scan, sae: sae, config: config)
        let logitStart = Date().timeIntervalSince1970
        attachLogits(&dashboards, sae: sae, model: model, config: config)
        t.logits = Date().timeIntervalSince1970 - logitStart
        attachContexts(&dashboards, scan: scan, tokens: tokens, buffer: config.buffer)
        // The model runs again only for rows of top examples the streaming pass did not keep.
        let missing = Array(Set(dashboards.flatMap { $0.top.map(\.row) })).sorted().filter { patternByRow[$0] == nil }
        for i in stride(from: 0, to: missing.count, by: config.rowsPerForward) {
            let group = Array(missing[i..<min(i + config.rowsPerForward, missing.count)])
            let cache = try model.runWithCache(tokens.rows(group), names: [.pattern(layer), .v(layer)])
            for (gi, r) in group.enumerated() {
                patternByRow[r] = cache[.pattern(layer)]!.sliced(axis: 0, gi..<(gi + 1))
                vByRow[r] = cache[.v(layer)]!.sliced(axis: 0, gi..<(gi + 1))
            }
        }
        attachDFA(&dashboards, encoder: sae.sae.encoder(features: features), pattern: patternByRow, v: vByRow, positions: pos)
        t.details += Date().timeIntervalSince1970 - t1 - t.logits
        return dashboards
    }

    /// Per-feature maximum, density, histogram, top examples and interval samples (no contexts, logits
    /// or DFA yet); independent per feature, so computed in parallel, each with its own random stream.
    static func summaries(_ scan: FeatureScan, sae: AttentionSAE, config: DashboardConfig) -> [FeatureDashboard] {
        let attribution = FeatureAttribution.decoderHeadAttribution(sae.sae, layout: sae.layout).contiguous()
        var out = [FeatureDashboard?](repeating: nil, count: scan.features.count)
        out.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(in: 0..<scan.features.count, minChunk: 64) { j in
                var rng = RandomStream(seed: config.seed &+ UInt64(j))
                out[j] = summary(scan, j, attribution: attribution.selecting(axis: 0, scan.features[j]).scalars, config: config, rng: &rng)
            }
        }
        return out.map { $0! }
    }

    /// The summary of `scan.features[j]`.
    static func summary(_ scan: FeatureScan, _ j: Int, attribution: [Float], config: DashboardConfig, rng: inout RandomStream) -> FeatureDashboard {
        let firings = scan.firings[j], pos = scan.positions
        let window = config.buffer..<max(config.buffer, pos - config.buffer)
        let total = Double(scan.rows * pos)
        let inWindow = firings.filter { window.contains(Int($0.position)) }
        let top = inWindow.sorted { ($0.value, -$0.row, -$0.position) > ($1.value, -$1.row, -$1.position) }.prefix(config.topK)
        let maxAct = firings.map(\.value).max() ?? 0
        var histogram = [Int](repeating: 0, count: config.histogramBins)
        if maxAct > 0 {
            for fi in firings { histogram[min(config.histogramBins - 1, Int(fi.value / maxAct * Float(config.histogramBins)))] += 1 }
        }
        func example(_ f: FeatureFiring) -> DashboardExample {
            DashboardExample(row: Int(f.row), position: Int(f.position), activation: f.value, contextTokens: [], contextActivations: [], center: 0)
        }
        var intervals: [DashboardInterval] = []
        if maxAct > 0 {
            // The last edge is the maximum itself: `n · max / n` can round below it, which left the
            // top activation outside every interval.
            var edges = (0...config.intervals).map { Float($0) * maxAct / Float(config.intervals) }
            edges[config.intervals] = maxAct
            for i in stride(from: config.intervals - 1, through: 0, by: -1) {
                let (lo, hi) = (edges[i], edges[i + 1])
                // (lo, hi], and [0, hi] for the lowest: every activation in exactly one interval.
                let inside = { (a: Float) in a <= hi && (i == 0 || a > lo) }
                let allIn = firings.filter { inside($0.value) }.count + (i == 0 ? Int(total) - firings.count : 0)
                let candidates = inWindow.filter { inside($0.value) }
                // Zeros in the window count as candidates of the lowest interval; they are drawn by
                // rejection among window positions that did not fire (uniform, no state in the pass).
                let zeros = i == 0 ? scan.rows * window.count - inWindow.count : 0
                let picks = sampleIndices(candidates.count + zeros, min(config.perInterval, candidates.count + zeros), &rng)
                let fired = i == 0 ? Set(inWindow.map { Int($0.row) * pos + Int($0.position) }) : []
                var usedZeros = Set<Int>()
                let examples = picks.map { idx -> DashboardExample in
                    if idx < candidates.count { return example(candidates[idx]) }
                    while true {
                        let r = rng.nextInt(below: scan.rows), p = window.lowerBound + rng.nextInt(below: window.count)
                        if !fired.contains(r * pos + p) && usedZeros.insert(r * pos + p).inserted {
                            return DashboardExample(row: r, position: p, activation: 0, contextTokens: [], contextActivations: [], center: 0)
                        }
                    }
                }
                intervals.append(DashboardInterval(lower: lo, upper: hi, fraction: Double(allIn) / total, examples: examples))
            }
        }
        return FeatureDashboard(feature: scan.features[j], maxActivation: maxAct, density: Double(firings.count) / total, histogram: histogram,
                                top: top.map(example), intervals: intervals, dfa: [], headAttribution: attribution,
                                positiveLogits: [], negativeLogits: [])
    }

    /// The most positive and most negative logit effects, in chunks of 256 features: all at once would
    /// be `[features, d_vocab]` (5 GB for 24576 features).
    static func attachLogits(_ dashboards: inout [FeatureDashboard], sae: AttentionSAE, model: GPT2, config: DashboardConfig) {
        let chunk = 256
        for base in stride(from: 0, to: dashboards.count, by: chunk) {
            let group = base..<min(base + chunk, dashboards.count)
            let logits = FeatureAttribution.logitEffects(sae.sae, features: group.map { dashboards[$0].feature },
                                                         wO: model.weights.blocks[sae.layer].wO, wU: model.weights.wU)
            for j in group {
                let row = logits.selecting(axis: 0, j - base)
                let (pv, pi) = row.topK(config.logits), (nv, ni) = (-row).topK(config.logits)
                dashboards[j].positiveLogits = zip(pi.values, pv.scalars).map { FeatureDashboard.LogitEntry(token: $0, value: $1) }
                dashboards[j].negativeLogits = zip(ni.values, nv.scalars).map { FeatureDashboard.LogitEntry(token: $0, value: -$1) }
            }
        }
    }

    /// The tokens and activations around each example, read from the scan's firings — the values every
    /// other statistic used.
    static func attachContexts(_ dashboards: inout [FeatureDashboard], scan: FeatureScan, tokens: IndexTensor, buffer: Int) {
        let pos = scan.positions
        func withContext(_ ex: DashboardExample, _ j: Int) -> DashboardExample {
            var ex = ex
            let (r, lo, hi) = (ex.row, max(0, ex.position - buffer), min(pos, ex.position + buffer + 1))
            ex.contextTokens = Array(tokens.values[(r * pos + lo)..<(r * pos + hi)])
            ex.contextActivations = (lo..<hi).map { scan.activation(j, row: r, position: $0) }
            ex.center = ex.position - lo
            return ex
        }
        for j in dashboards.indices {
            dashboards[j].top = dashboards[j].top.map { withContext($0, j) }
            for iv in dashboards[j].intervals.indices {
                dashboards[j].intervals[iv].examples = dashboards[j].intervals[iv].examples.map { withContext($0, j) }
            }
        }
    }

    /// DFA by source position of every top example (Docs/Method.md §2.4), one product per (row, destination) for
    /// all the features with a top example there (``FeatureAttribution/dfaBySource(pattern:v:destination:encoderRows:)``).
    static func attachDFA(_ dashboards: inout [FeatureDashboard], encoder: SAE.FeatureEncoder, pattern: [Int: Tensor], v: [Int: Tensor], positions pos: Int) {
        var byDestination: [Int: [(j: Int, e: Int)]] = [:]                      // key row · pos + t
        for j in dashboards.indices {
            for (e, ex) in dashboards[j].top.enumerated() { byDestination[ex.row * pos + ex.position, default: []].append((j, e)) }
            dashboards[j].dfa = [DashboardDFA](repeating: DashboardDFA(row: 0, destination: 0, values: [], maxSource: 0), count: dashboards[j].top.count)
        }
        let encoderRows = encoder.weight.transposed().contiguous()                  // [k, d_in]
        let destinations = Array(byDestination.keys).sorted()
        var results = [[DashboardDFA]](repeating: [], count: destinations.count)
        results.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(in: 0..<destinations.count) { di in
                let (r, t) = (destinations[di] / pos, destinations[di] % pos)
                let items = byDestination[destinations[di]]!
                let perSource = FeatureAttribution.dfaBySource(pattern: pattern[r]!, v: v[r]!, destination: t,
                                                               encoderRows: encoderRows.gathering(axis: 0, IndexTensor(items.map(\.j))))   // [t+1, m]
                out[di] = perSource.withUnsafeBufferPointer { o in
                    items.indices.map { i in
                        var values = [Float](repeating: 0, count: pos)
                        for s in 0...t { values[s] = o[s * items.count + i] }
                        let m = values.indices.max { values[$0] < values[$1] } ?? 0
                        return DashboardDFA(row: r, destination: t, values: values, maxSource: m)
                    }
                }
            }
        }
        for (di, key) in destinations.enumerated() {
            for ((j, e), dfa) in zip(byDestination[key]!, results[di]) { dashboards[j].dfa[e] = dfa }
        }
    }
}
