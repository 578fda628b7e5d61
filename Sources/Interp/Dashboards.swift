// Dashboards: the data behind feature dashboards (SPEC §5.2), for many features in one streaming pass.

import Foundation

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
    /// Fraction of all activations (every row and position, zeros included) with lower ≤ a ≤ upper.
    public var fraction: Double
    public var examples: [DashboardExample]
}

/// DFA by source position for one top example (SPEC §2.4): values over the row's source positions.
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
    /// Decoder-norm head attribution (SPEC §2.3), one value per head.
    public var headAttribution: [Float]
    /// The most positive and most negative logit effects (SPEC §2.7), (token, value).
    public var positiveLogits: [LogitEntry]
    public var negativeLogits: [LogitEntry]

    public struct LogitEntry: Codable, Sendable, Equatable { public var token: Int; public var value: Float }
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
    public var seed: UInt64 = 0
    public init() {}
}

/// Builds dashboards for many features in one streaming pass over a token set, then one small pass
/// over the rows of the chosen examples for contexts and DFA.
public enum DashboardBuilder {
    struct Firing { let value: Float; let row: Int32; let pos: Int32 }

    /// Per-feature state of the streaming pass.
    struct State {
        var firings: [Firing] = []        // every non-zero activation, all positions
        var zeroReservoir: [(Int, Int)] = []
        var zerosInWindow = 0
        var rng: RandomStream
    }

    /// Time spent in the pass, for the benchmark.
    public struct Timings: Sendable { public var model = 0.0, encoder = 0.0, bookkeeping = 0.0, details = 0.0 }

    public static func build(model: GPT2, sae: SAE, features: [Int], tokens: IndexTensor, config: DashboardConfig = DashboardConfig(),
                             timings: UnsafeMutablePointer<Timings>? = nil) throws -> [FeatureDashboard] {
        let site = try HookName(parsing: sae.config.hookName)
        guard case .z(let layer) = site, let layout = sae.config.headLayout else {
            throw TransformerError.unknownHook("dashboards need an SAE on blocks.L.attn.hook_z with a head layout")
        }
        let (nRows, pos) = (tokens.shape[0], tokens.shape[1])
        let window = config.buffer..<max(config.buffer, pos - config.buffer)
        let k = features.count
        let wSel = sae.wEnc.gathering(axis: 1, IndexTensor(features)).contiguous()     // [d_in, k]
        let bSel = sae.bEnc.gathering(axis: 0, IndexTensor(features)).contiguous()
        var states = (0..<k).map { State(rng: RandomStream(seed: config.seed &+ UInt64($0))) }
        var t = Timings()
        func now() -> Double { Date().timeIntervalSince1970 }
        // Pass 1: stream the rows.
        var start = 0
        while start < nRows {
            let n = min(config.rowsPerForward, nRows - start)
            let chunk = IndexTensor(shape: [n, pos], values: Array(tokens.values[(start * pos)..<((start + n) * pos)]))
            var t0 = now()
            let z = try model.runWithCache(chunk, names: [site])[site]!
            t.model += now() - t0
            t0 = now()
            let x = SAE.flattenHeads(z).reshaped([n * pos, sae.config.dIn])
            let acts = Tensor.affine(sae.config.applyBDecToInput ? x - sae.bDec : x, wSel, bSel).relu()   // [n·pos, k]
            t.encoder += now() - t0
            t0 = now()
            acts.withUnsafeBufferPointer { a in
                for r in 0..<(n * pos) {
                    let row = start + r / pos, p = r % pos
                    let inWindow = window.contains(p)
                    for j in 0..<k {
                        let v = a[r * k + j]
                        if v > 0 {
                            states[j].firings.append(Firing(value: v, row: Int32(row), pos: Int32(p)))
                        } else if inWindow {
                            // Reservoir (algorithm R) over zero positions in the window.
                            states[j].zerosInWindow += 1
                            if states[j].zeroReservoir.count < config.perInterval {
                                states[j].zeroReservoir.append((row, p))
                            } else {
                                let slot = states[j].rng.nextInt(below: states[j].zerosInWindow)
                                if slot < config.perInterval { states[j].zeroReservoir[slot] = (row, p) }
                            }
                        }
                    }
                }
            }
            t.bookkeeping += now() - t0
            start += n
        }
        // Summaries and the examples to detail.
        let t1 = now()
        let total = Double(nRows * pos)
        let attribution = FeatureAttribution.decoderHeadAttribution(sae, layout: layout)
        let logits = FeatureAttribution.logitEffects(sae, features: features, wO: model.weights.blocks[layer].wO, wU: model.weights.wU)
        var dashboards: [FeatureDashboard] = []
        var wanted: [(feature: Int, row: Int, pos: Int)] = []
        for (j, f) in features.enumerated() {
            var st = states[j]
            let inWindow = st.firings.filter { window.contains(Int($0.pos)) }
            let top = inWindow.sorted { ($0.value, -$0.row, -$0.pos) > ($1.value, -$1.row, -$1.pos) }.prefix(config.topK)
            let maxAct = st.firings.map(\.value).max() ?? 0
            var histogram = [Int](repeating: 0, count: config.histogramBins)
            if maxAct > 0 {
                for fi in st.firings { histogram[min(config.histogramBins - 1, Int(fi.value / maxAct * Float(config.histogramBins)))] += 1 }
            }
            var intervals: [DashboardInterval] = []
            if maxAct > 0 {
                let edges = (0...config.intervals).map { Float($0) * maxAct / Float(config.intervals) }
                for i in stride(from: config.intervals - 1, through: 0, by: -1) {
                    let (lo, hi) = (edges[i], edges[i + 1])
                    let allIn = st.firings.filter { $0.value >= lo && $0.value <= hi }.count + (lo <= 0 ? Int(total) - st.firings.count : 0)
                    let candidates = inWindow.filter { $0.value >= lo && $0.value <= hi }
                    let zeros = lo <= 0 ? st.zerosInWindow : 0
                    let m = min(config.perInterval, candidates.count + zeros)
                    let picks = m == 0 ? [] : st.rng.sampleWithoutReplacement(weights: [Double](repeating: 1, count: candidates.count + zeros), count: m)
                    var zeroUsed = 0
                    let examples = picks.map { idx -> DashboardExample in
                        if idx < candidates.count {
                            let c = candidates[idx]
                            return DashboardExample(row: Int(c.row), position: Int(c.pos), activation: c.value, contextTokens: [], contextActivations: [], center: 0)
                        }
                        let (r, p) = st.zeroReservoir[zeroUsed]
                        zeroUsed += 1
                        return DashboardExample(row: r, position: p, activation: 0, contextTokens: [], contextActivations: [], center: 0)
                    }
                    intervals.append(DashboardInterval(lower: lo, upper: hi, fraction: Double(allIn) / total, examples: examples))
                }
            }
            states[j] = st
            let row = logits.selecting(axis: 0, j)
            let (pv, pi) = row.topK(config.logits), (nv, ni) = (-row).topK(config.logits)
            dashboards.append(FeatureDashboard(
                feature: f, maxActivation: maxAct, density: Double(st.firings.count) / total, histogram: histogram,
                top: top.map { DashboardExample(row: Int($0.row), position: Int($0.pos), activation: $0.value, contextTokens: [], contextActivations: [], center: 0) },
                intervals: intervals, dfa: [], headAttribution: attribution.selecting(axis: 0, f).scalars,
                positiveLogits: zip(pi.values, pv.scalars).map { FeatureDashboard.LogitEntry(token: $0, value: $1) },
                negativeLogits: zip(ni.values, nv.scalars).map { FeatureDashboard.LogitEntry(token: $0, value: -$1) }))
            for e in dashboards[j].top { wanted.append((j, e.row, e.position)) }
            for iv in intervals { for e in iv.examples { wanted.append((j, e.row, e.position)) } }
        }
        // Pass 2: contexts (activations around each example) and DFA for the top examples.
        let rows = Array(Set(wanted.map(\.row))).sorted()
        var actsByRow: [Int: Tensor] = [:], patternByRow: [Int: Tensor] = [:], vByRow: [Int: Tensor] = [:]
        var i = 0
        while i < rows.count {
            let group = Array(rows[i..<min(i + config.rowsPerForward, rows.count)])
            let chunk = IndexTensor(shape: [group.count, pos], values: group.flatMap { Array(tokens.values[($0 * pos)..<(($0 + 1) * pos)]) })
            let cache = try model.runWithCache(chunk, names: [.pattern(layer), .v(layer), site])
            let x = SAE.flattenHeads(cache[site]!).reshaped([group.count * pos, sae.config.dIn])
            let acts = Tensor.affine(sae.config.applyBDecToInput ? x - sae.bDec : x, wSel, bSel).relu().reshaped([group.count, pos, k])
            for (gi, r) in group.enumerated() {
                actsByRow[r] = acts.selecting(axis: 0, gi)
                patternByRow[r] = cache[.pattern(layer)]!.sliced(axis: 0, gi..<(gi + 1))
                vByRow[r] = cache[.v(layer)]!.sliced(axis: 0, gi..<(gi + 1))
            }
            i += config.rowsPerForward
        }
        func context(_ e: DashboardExample, _ j: Int) -> DashboardExample {
            var out = e
            let lo = max(0, e.position - config.buffer), hi = min(pos, e.position + config.buffer + 1)
            out.contextTokens = Array(tokens.values[(e.row * pos + lo)..<(e.row * pos + hi)])
            let a = actsByRow[e.row]!.selecting(axis: 1, j)
            out.contextActivations = (lo..<hi).map { a[$0] }
            out.center = e.position - lo
            return out
        }
        for (j, f) in features.enumerated() {
            dashboards[j].top = dashboards[j].top.map { context($0, j) }
            for iv in dashboards[j].intervals.indices {
                dashboards[j].intervals[iv].examples = dashboards[j].intervals[iv].examples.map { context($0, j) }
            }
            let column = FeatureAttribution.encoderColumn(sae, f)
            dashboards[j].dfa = dashboards[j].top.map { e in
                let dfa = FeatureAttribution.dfaBySource(pattern: patternByRow[e.row]!, v: vByRow[e.row]!, encoderColumn: column)
                let values = dfa.selecting(axis: 0, 0).selecting(axis: 0, e.position).scalars
                let m = values.indices.max { values[$0] < values[$1] } ?? 0
                return DashboardDFA(row: e.row, destination: e.position, values: values, maxSource: m)
            }
        }
        t.details += now() - t1
        timings?.pointee = t
        return dashboards
    }
}
