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
    /// Fraction of all activations (every row and position, zeros included) in the interval: lower < a ≤ upper,
    /// and 0 ≤ a ≤ upper for the lowest one, so the fractions of a feature's intervals sum to 1.
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
/// Every activation is computed once, in the streaming pass, and every statistic — maximum, density,
/// histogram, intervals, top examples and the activations shown around each example — reads that one
/// value (the firings kept per feature). Only DFA, which needs the attention pattern and values, may run
/// the model again, for the rows of top examples the pass did not keep.
public enum DashboardBuilder {
    struct Firing { let value: Float; let row: Int32; let pos: Int32 }

    /// Per-feature state of the streaming pass.
    struct State {
        var firings: [Firing] = []        // every non-zero activation, all positions
        var rng: RandomStream
    }

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
    public struct Timings: Sendable {
        /// Seconds in the model forward, the encoder product, collecting firings, the logit tables,
        /// and the rest (summaries, contexts, DFA).
        public var model = 0.0, encoder = 0.0, bookkeeping = 0.0, logits = 0.0, details = 0.0
        public init() {}
    }

    public static func build(model: GPT2, sae: SAE, features: [Int], tokens: IndexTensor, config: DashboardConfig = DashboardConfig(),
                             timings: UnsafeMutablePointer<Timings>? = nil) throws -> [FeatureDashboard] {
        let site = try HookName(parsing: sae.config.hookName)
        guard case .z(let layer) = site, let layout = sae.config.headLayout else {
            throw InterpError.incompatibleSAE(hook: sae.config.hookName, reason: "dashboards need an SAE on blocks.L.attn.hook_z with a head layout")
        }
        let (nRows, pos) = (tokens.shape[0], tokens.shape[1])
        let window = config.buffer..<max(config.buffer, pos - config.buffer)
        let k = features.count
        let wSel = sae.wEnc.gathering(axis: 1, IndexTensor(features)).contiguous()     // [d_in, k]
        let bSel = sae.bEnc.gathering(axis: 0, IndexTensor(features)).contiguous()
        var states = (0..<k).map { State(rng: RandomStream(seed: config.seed &+ UInt64($0))) }
        let c = model.config
        let cacheBytes = nRows * (c.nHeads * pos * pos + pos * c.nHeads * c.dHead) * 4
        let keep = cacheBytes <= config.cacheBudgetBytes
        var patternByRow: [Int: Tensor] = [:], vByRow: [Int: Tensor] = [:]
        var t = Timings()
        func now() -> Double { Date().timeIntervalSince1970 }
        // Pass 1: stream the rows.
        var start = 0
        while start < nRows {
            let n = min(config.rowsPerForward, nRows - start)
            let chunk = IndexTensor(shape: [n, pos], values: Array(tokens.values[(start * pos)..<((start + n) * pos)]))
            var t0 = now()
            let cache = try model.runWithCache(chunk, names: keep ? [site, .pattern(layer), .v(layer)] : [site])
            let z = cache[site]!
            if keep {
                for r in 0..<n {
                    patternByRow[start + r] = cache[.pattern(layer)]!.sliced(axis: 0, r..<(r + 1))
                    vByRow[start + r] = cache[.v(layer)]!.sliced(axis: 0, r..<(r + 1))
                }
            }
            t.model += now() - t0
            t0 = now()
            let x = SAE.flattenHeads(z).reshaped([n * pos, sae.config.dIn])
            let acts = Tensor.affine(sae.config.applyBDecToInput ? x - sae.bDec : x, wSel, bSel).relu()   // [n·pos, k]
            t.encoder += now() - t0
            t0 = now()
            acts.withUnsafeBufferPointer { a in
                for r in 0..<(n * pos) {
                    let row = Int32(start + r / pos), p = Int32(r % pos)
                    let base = a.baseAddress! + r * k
                    for j in 0..<k where base[j] > 0 {
                        states[j].firings.append(Firing(value: base[j], row: row, pos: p))
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
        // Logit effects in chunks of features: all at once would be [features, d_vocab] (5 GB for 24576 features).
        let logitChunk = 256
        var logits = Tensor(zeros: [0])
        var logitBase = -logitChunk
        var dashboards: [FeatureDashboard] = []
        // Per-feature summaries are independent: computed in parallel, each with its own random stream.
        let attributionRows = attribution.contiguous()
        var partial = [FeatureDashboard?](repeating: nil, count: k)
        partial.withUnsafeMutableBufferPointer { out in
          states.withUnsafeMutableBufferPointer { stateBuffer in
            Parallel.forEach(in: 0..<k, minChunk: 64) { j in
            let f = features[j]
            var st = stateBuffer[j]
            let inWindow = st.firings.filter { window.contains(Int($0.pos)) }
            let top = inWindow.sorted { ($0.value, -$0.row, -$0.pos) > ($1.value, -$1.row, -$1.pos) }.prefix(config.topK)
            let maxAct = st.firings.map(\.value).max() ?? 0
            var histogram = [Int](repeating: 0, count: config.histogramBins)
            if maxAct > 0 {
                for fi in st.firings { histogram[min(config.histogramBins - 1, Int(fi.value / maxAct * Float(config.histogramBins)))] += 1 }
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
                    let allIn = st.firings.filter { inside($0.value) }.count + (i == 0 ? Int(total) - st.firings.count : 0)
                    let candidates = inWindow.filter { inside($0.value) }
                    // Zeros in the window count as candidates of the lowest interval; they are drawn by
                    // rejection among window positions that did not fire (uniform, no state in the pass).
                    let zeros = i == 0 ? nRows * window.count - inWindow.count : 0
                    let m = min(config.perInterval, candidates.count + zeros)
                    let picks = sampleIndices(candidates.count + zeros, m, &st.rng)
                    let fired = i == 0 ? Set(inWindow.map { Int($0.row) * pos + Int($0.pos) }) : []
                    var usedZeros = Set<Int>()
                    let examples = picks.map { idx -> DashboardExample in
                        if idx < candidates.count {
                            let c = candidates[idx]
                            return DashboardExample(row: Int(c.row), position: Int(c.pos), activation: c.value, contextTokens: [], contextActivations: [], center: 0)
                        }
                        while true {
                            let r = st.rng.nextInt(below: nRows), p = window.lowerBound + st.rng.nextInt(below: window.count)
                            let key = r * pos + p
                            if !fired.contains(key) && usedZeros.insert(key).inserted {
                                return DashboardExample(row: r, position: p, activation: 0, contextTokens: [], contextActivations: [], center: 0)
                            }
                        }
                    }
                    intervals.append(DashboardInterval(lower: lo, upper: hi, fraction: Double(allIn) / total, examples: examples))
                }
            }
            stateBuffer[j] = st
            out[j] = FeatureDashboard(
                feature: f, maxActivation: maxAct, density: Double(st.firings.count) / total, histogram: histogram,
                top: top.map { DashboardExample(row: Int($0.row), position: Int($0.pos), activation: $0.value, contextTokens: [], contextActivations: [], center: 0) },
                intervals: intervals, dfa: [], headAttribution: attributionRows.selecting(axis: 0, f).scalars,
                positiveLogits: [], negativeLogits: [])
            }
          }
        }
        for j in 0..<k {
            var board = partial[j]!
            if j >= logitBase + logitChunk {
                let tl = now()
                defer { t.logits += now() - tl }
                logitBase = j
                let chunkFeatures = Array(features[j..<min(j + logitChunk, k)])
                logits = FeatureAttribution.logitEffects(sae, features: chunkFeatures, wO: model.weights.blocks[layer].wO, wU: model.weights.wU)
            }
            let tl = now()
            let row = logits.selecting(axis: 0, j - logitBase)
            let (pv, pi) = row.topK(config.logits), (nv, ni) = (-row).topK(config.logits)
            t.logits += now() - tl
            board.positiveLogits = zip(pi.values, pv.scalars).map { FeatureDashboard.LogitEntry(token: $0, value: $1) }
            board.negativeLogits = zip(ni.values, nv.scalars).map { FeatureDashboard.LogitEntry(token: $0, value: -$1) }
            dashboards.append(board)
        }
        // Contexts: the activations around each example, read from the feature's firings (sorted by
        // row, then position) — the values every other statistic used.
        func activation(_ j: Int, _ r: Int, _ p: Int) -> Float {
            let firings = states[j].firings, key = r * pos + p
            var (lo, hi) = (0, firings.count)
            while lo < hi {
                let mid = (lo + hi) / 2
                if Int(firings[mid].row) * pos + Int(firings[mid].pos) < key { lo = mid + 1 } else { hi = mid }
            }
            return lo < firings.count && Int(firings[lo].row) == r && Int(firings[lo].pos) == p ? firings[lo].value : 0
        }
        func withContext(_ ex: DashboardExample, _ j: Int) -> DashboardExample {
            var ex = ex
            let (r, lo, hi) = (ex.row, max(0, ex.position - config.buffer), min(pos, ex.position + config.buffer + 1))
            ex.contextTokens = Array(tokens.values[(r * pos + lo)..<(r * pos + hi)])
            ex.contextActivations = (lo..<hi).map { activation(j, r, $0) }
            ex.center = ex.position - lo
            return ex
        }
        for j in features.indices {
            dashboards[j].top = dashboards[j].top.map { withContext($0, j) }
            for iv in dashboards[j].intervals.indices {
                dashboards[j].intervals[iv].examples = dashboards[j].intervals[iv].examples.map { withContext($0, j) }
            }
        }
        // The model runs again only for rows of top examples the streaming pass did not keep.
        let rows = Array(Set(dashboards.flatMap { $0.top.map(\.row) })).sorted().filter { patternByRow[$0] == nil }
        var i = 0
        while i < rows.count {
            let group = Array(rows[i..<min(i + config.rowsPerForward, rows.count)])
            let chunk = IndexTensor(shape: [group.count, pos], values: group.flatMap { Array(tokens.values[($0 * pos)..<(($0 + 1) * pos)]) })
            let cache = try model.runWithCache(chunk, names: [.pattern(layer), .v(layer)])
            for (gi, r) in group.enumerated() {
                patternByRow[r] = cache[.pattern(layer)]!.sliced(axis: 0, gi..<(gi + 1))
                vByRow[r] = cache[.v(layer)]!.sliced(axis: 0, gi..<(gi + 1))
            }
            i += config.rowsPerForward
        }
        // DFA of the top examples (SPEC §2.4). For a destination t of row r and the features j with a top
        // example there: U[s, (h, d)] = pattern[h, t, s] · v[s, h, d] for s ≤ t, and DFA_j[s] = U[s, :] · W_enc[:, f_j]
        // — one product [t+1, d_in] × [d_in, m] per (row, destination), over only the sources that can attend.
        var byDestination: [Int: [(j: Int, e: Int)]] = [:]                      // key row · pos + t
        for j in features.indices {
            for (e, ex) in dashboards[j].top.enumerated() { byDestination[ex.row * pos + ex.position, default: []].append((j, e)) }
            dashboards[j].dfa = [DashboardDFA](repeating: DashboardDFA(row: 0, destination: 0, values: [], maxSource: 0), count: dashboards[j].top.count)
        }
        let (nh, dh, dIn) = (layout.nHeads, layout.dHead, sae.config.dIn)
        let wSelT = wSel.transposed().contiguous()                                  // [k, d_in]
        let destinations = Array(byDestination.keys).sorted()
        var results = [[DashboardDFA]](repeating: [], count: destinations.count)
        results.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(in: 0..<destinations.count) { di in
                let (r, t) = (destinations[di] / pos, destinations[di] % pos)
                let items = byDestination[destinations[di]]!
                let v = vByRow[r]!.reshaped([pos, dIn]).contiguous(), pattern = patternByRow[r]!.contiguous()
                let u = Tensor(shape: [t + 1, dIn], unsafeUninitialized: { u in
                    v.withUnsafeBufferPointer { vp in
                        pattern.withUnsafeBufferPointer { pp in
                            for s in 0...t {
                                for h in 0..<nh {
                                    let w = pp[h * pos * pos + t * pos + s]
                                    for d in 0..<dh { u[s * dIn + h * dh + d] = w * vp[s * dIn + h * dh + d] }
                                }
                            }
                        }
                    }
                })
                let perSource = Tensor.matmul(u, wSelT.gathering(axis: 0, IndexTensor(items.map(\.j))), transposeB: true)   // [t+1, m]
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
        t.details += now() - t1 - t.logits
        timings?.pointee = t
        return dashboards
    }
}
