// LongPrefixInduction: Fig. 4 and Fig. 19 (SPEC §3.4) — a long-prefix and a short-prefix induction head
// compared by induction score and DLA against prefix length, on real data (detected prefix lengths),
// and under corruption of long prefixes to length 1.

import Foundation

public struct LongPrefixSettings: Sendable, Codable {
    /// The two heads (same layer): GPT-2 5.1 (long) and 5.5 (short); the planted model's 1.1 and 1.5.
    public var layer: Int
    public var longHead: Int, shortHead: Int
    /// Synthetic examples per prefix length, and the prefix lengths 1…maxPrefix.
    public var examples = 400
    public var maxPrefix = 9
    /// Corpus rows scanned for attention > threshold (histogram); the intervention uses the first
    /// `interventionRows` of them (the paper: 32,000 and 1,600).
    public var detectionRows = 1600
    public var interventionRows = 1600
    public var threshold: Float = 0.3
    public var rowsPerForward = 64
    public init(layer: Int, longHead: Int, shortHead: Int) { self.layer = layer; self.longHead = longHead; self.shortHead = shortHead }

    public static let gpt2 = LongPrefixSettings(layer: 5, longHead: 1, shortHead: 5)

    /// The defaults for a model: GPT-2's heads 5.1 and 5.5 with 400 examples per prefix length, or the
    /// planted model's long- and short-prefix heads with 100.
    public static func defaults(for model: LoadedModel) -> LongPrefixSettings {
        guard let roles = model.roles else { return .gpt2 }
        var s = planted(roles)
        s.examples = 100
        return s
    }
    /// The planted model's induction heads (from its roles).
    public static func planted(_ r: PlantedCircuitModel.Roles) -> LongPrefixSettings {
        LongPrefixSettings(layer: r.longInduction.layer, longHead: r.longInduction.head, shortHead: r.shortInduction.head)
    }
}

/// Per-head results.
public struct LongPrefixHeadResult: Codable, Sendable, Equatable {
    public var head: String
    /// Mean attention from the second occurrence's last token to the token after the first, for prefix 1…max.
    public var inductionScore: [Double]
    /// Mean direct logit attribution of the head to that token (final-LayerNorm scale, decision 11).
    public var dla: [Double]
    /// Detected (attention > threshold) prefix lengths on real rows: count per length 0…
    public var prefixHistogram: [Int]
    /// Examples with a detected prefix ≥ 2 in the intervention rows, and the mean attention before and
    /// after replacing the token two before the source (prefix cut to 1).
    public var interventionExamples: Int
    public var clean: Double, corrupted: Double
}

public struct LongPrefixResult: Codable, Sendable, Equatable {
    public var model: String
    public var long: LongPrefixHeadResult, short: LongPrefixHeadResult
}

public enum LongPrefixInduction {
    public static func run(model loaded: LoadedModel, rows: IndexTensor, tokenizer: GPT2Tokenizer, settings s: LongPrefixSettings,
                           log: (String) -> Void = { _ in }) throws -> LongPrefixResult {
        let model = loaded.model, cfg = model.config, L = s.layer
        guard (0..<cfg.nLayers).contains(L), (0..<cfg.nHeads).contains(s.longHead), (0..<cfg.nHeads).contains(s.shortHead) else {
            throw ExperimentInputError("heads \(L).\(s.longHead) / \(L).\(s.shortHead) are not in \(loaded.name) (\(cfg.nLayers) layers × \(cfg.nHeads) heads)")
        }
        guard s.examples >= 1, s.maxPrefix >= 1, s.detectionRows >= 1, s.interventionRows >= 1, s.rowsPerForward >= 1, s.threshold.isFinite else {
            throw ExperimentInputError("long-prefix settings out of range: \(s.examples) examples, prefixes 1…\(s.maxPrefix), \(s.detectionRows)/\(s.interventionRows) rows, \(s.rowsPerForward) rows per forward (each must be ≥ 1)")
        }
        let heads = [s.longHead, s.shortHead]
        // (a) induction score and (b) DLA on synthetic sequences: head `long` for p = 1…max, then `short`,
        // one random stream throughout (a); (b) reseeds so its sequences equal (a)'s.
        func synthetic(_ measure: ([Induction.Example], Int) throws -> [Double]) throws -> [[Double]] {
            var python = CPythonRandom(seed: 0)
            var rng = RandomStream(seed: 0)
            return try heads.map { h in
                try (1...s.maxPrefix).map { p in
                    let ex = Induction.syntheticExamples(count: s.examples, prefixLength: p, vocab: cfg.dVocab, python: &python, rng: &rng)
                    let v = try measure(ex, h)
                    return v.reduce(0, +) / Double(v.count)
                }
            }
        }
        func batches(_ ex: [Induction.Example]) -> [ArraySlice<Induction.Example>] {
            stride(from: 0, to: ex.count, by: s.rowsPerForward).map { ex[$0..<min($0 + s.rowsPerForward, ex.count)] }
        }
        log("induction score against prefix length (\(s.examples) examples per length)")
        let scores = try synthetic { ex, h in
            try batches(ex).flatMap { b -> [Double] in
                let t = IndexTensor(shape: [b.count, 128], values: b.flatMap(\.tokens))
                let pattern = try model.runWithCache(t, names: [.pattern(L)])[.pattern(L)]!
                return b.enumerated().map { i, e in Double(pattern[i, h, e.destination, e.source]) }
            }
        }
        log("direct logit attribution against prefix length")
        let wO = model.weights.blocks[L].wO, wU = model.weights.wU
        let dla = try synthetic { ex, h in
            try batches(ex).flatMap { b -> [Double] in
                let t = IndexTensor(shape: [b.count, 128], values: b.flatMap(\.tokens))
                let cache = try model.runWithCache(t, names: [.z(L), .lnFinalScale])
                let z = cache[.z(L)]!, scale = cache[.lnFinalScale]!
                let wOh = wO.selecting(axis: 0, h)                                   // [d_head, d_model]
                return b.enumerated().map { i, e in
                    // r = z[dest, h] · W_O[h], centred over d_model, / final-LN scale, · W_U[:, answer].
                    var r = z.selecting(axis: 0, i).selecting(axis: 0, e.destination).selecting(axis: 0, h).reshaped([1, -1]).matmul(wOh).reshaped([-1])
                    r = r - r.mean()
                    let answer = e.tokens[e.source]
                    return Double((r * wU.selecting(axis: 1, answer)).sum() / scale[i, e.destination, 0])
                }
            }
        }
        // (c, e) detection on real rows.
        let fuzzy = FuzzyTokens(tokenizer: tokenizer)
        let n = min(s.detectionRows, rows.shape[0]), pos = rows.shape[1]
        log("detecting attention > \(s.threshold) on \(n) corpus rows")
        var detections = [[(row: Int, d: Induction.Detection)]](repeating: [], count: 2)
        for start in stride(from: 0, to: n, by: s.rowsPerForward) {
            let m = min(s.rowsPerForward, n - start)
            let t = IndexTensor(shape: [m, pos], values: Array(rows.values[(start * pos)..<((start + m) * pos)]))
            let pattern = try model.runWithCache(t, names: [.pattern(L)])[.pattern(L)]!
            for i in 0..<m {
                let toks = Array(t.values[(i * pos)..<((i + 1) * pos)])
                for (k, h) in heads.enumerated() {
                    if let d = Induction.detectLongPrefix(pattern: pattern.selecting(axis: 0, i).selecting(axis: 0, h), tokens: toks, threshold: s.threshold, fuzzy: fuzzy) {
                        detections[k].append((start + i, d))
                    }
                }
            }
        }
        // (d) the intervention on detections with prefix ≥ 2 in the first rows; seeds reset per head.
        var results: [LongPrefixHeadResult] = []
        for (k, h) in heads.enumerated() {
            var python = CPythonRandom(seed: 0)
            let chosen = detections[k].filter { $0.row < s.interventionRows && $0.d.prefixLength >= 2 }
            var before: [Double] = [], after: [Double] = []
            for start in stride(from: 0, to: chosen.count, by: s.rowsPerForward) {
                let b = chosen[start..<min(start + s.rowsPerForward, chosen.count)]
                let clean = b.flatMap { Array(rows.values[($0.row * pos)..<(($0.row + 1) * pos)]) }
                let corrupted = b.flatMap { Induction.corruptPrefix(Array(rows.values[($0.row * pos)..<(($0.row + 1) * pos)]), detection: $0.d, vocab: cfg.dVocab, python: &python) }
                let p0 = try model.runWithCache(IndexTensor(shape: [b.count, pos], values: clean), names: [.pattern(L)])[.pattern(L)]!
                let p1 = try model.runWithCache(IndexTensor(shape: [b.count, pos], values: corrupted), names: [.pattern(L)])[.pattern(L)]!
                for (i, e) in b.enumerated() {
                    before.append(Double(p0[i, h, e.d.destination, e.d.source]))
                    after.append(Double(p1[i, h, e.d.destination, e.d.source]))
                }
            }
            let lengths = detections[k].map(\.d.prefixLength)
            var histogram = [Int](repeating: 0, count: (lengths.max() ?? 0) + 1)
            for l in lengths { histogram[l] += 1 }
            func mean(_ x: [Double]) -> Double { x.isEmpty ? .nan : x.reduce(0, +) / Double(x.count) }
            results.append(LongPrefixHeadResult(head: "\(L).\(h)", inductionScore: scores[k], dla: dla[k], prefixHistogram: histogram,
                                                interventionExamples: chosen.count, clean: mean(before), corrupted: mean(after)))
        }
        return LongPrefixResult(model: loaded.name, long: results[0], short: results[1])
    }

    /// Writes the section's page, its data and returns the page's file name.
    @discardableResult
    public static func writeReport(_ r: LongPrefixResult, settings s: LongPrefixSettings, to folder: ReportFolder, isPlanted: Bool,
                                   up: String? = nil) throws -> String {
        let ps = (1...s.maxPrefix).map(Double.init)
        let heads = [r.long, r.short]
        try folder.writeCSV(header: ["prefix_length"] + heads.flatMap { ["score_\($0.head)", "dla_\($0.head)"] },
                            rows: ps.indices.map { i in ["\(i + 1)"] + heads.flatMap { ["\($0.inductionScore[i])", "\($0.dla[i])"] } }, to: "long-prefix/by-prefix-length.csv")
        let maxLen = heads.map { $0.prefixHistogram.count }.max() ?? 1
        try folder.writeCSV(header: ["prefix_length"] + heads.map { "count_\($0.head)" },
                            rows: (0..<maxLen).map { l in ["\(l)"] + heads.map { l < $0.prefixHistogram.count ? "\($0.prefixHistogram[l])" : "0" } },
                            to: "long-prefix/detected-prefix-lengths.csv")
        try folder.writeJSON(r, to: "long-prefix/result.json")
        let names = heads.map { $0.head + ($0.head == r.long.head ? " (long-prefix)" : " (short-prefix)") }
        var body = "<h1>Long-prefix vs short-prefix induction (Fig. 4, Fig. 19)</h1>\n"
        if isPlanted {
            body += "<p class=\"note\">On the planted-circuit model: \(r.long.head) is planted to need two matching tokens, \(r.short.head) one (Docs/PlantedModel.md).</p>\n"
        }
        body += "<div class=\"grid\">"
        body += HTML.figure(SVGChart.lines(zip(names, heads).map { ($0, zip(ps, $1.inductionScore).map { ($0, $1) }) }, xLabel: "prefix length", yLabel: "attention to the induction source",
                                           title: "Average induction score by prefix length"),
                            caption: "\(s.examples) synthetic sequences per length (random distinct tokens, a repeated span).", data: "by-prefix-length.csv")
        body += HTML.figure(SVGChart.lines(zip(names, heads).map { ($0, zip(ps, $1.dla).map { ($0, $1) }) }, xLabel: "prefix length", yLabel: "DLA of the correct token",
                                           title: "Average correct-token DLA by prefix length"),
                            caption: "Head output at the destination, divided by the final LayerNorm's scale (decision 11), on the unembedding of the token to predict.", data: "by-prefix-length.csv")
        let clean = heads.map { $0.clean.isNaN ? 0 : $0.clean }, corrupted = heads.map { $0.corrupted.isNaN ? 0 : $0.corrupted }
        var barLabels: [String] = [], barValues: [Double] = []
        for (i, name) in names.enumerated() {
            barLabels += ["\(heads[i].head) clean", "\(heads[i].head) corrupted"]
            barValues += [clean[i], corrupted[i]]
            _ = name
        }
        body += HTML.figure(SVGChart.bars(labels: barLabels, series: [("attention", barValues)], yLabel: "attention",
                                          title: "Induction score before and after cutting the prefix to 1"),
                            caption: "Detected examples with prefix ≥ 2 (\(heads.map { "\($0.head): \($0.interventionExamples)" }.joined(separator: ", "))); corrupted = the token two before the source replaced by a random one.",
                            data: "result.json")
        var histogramSeries: [(name: String, values: [Double])] = []
        for (name, head) in zip(names, heads) {
            histogramSeries.append((name, (0..<maxLen).map { l in l < head.prefixHistogram.count ? Double(head.prefixHistogram[l]) : 0 }))
        }
        let histogram = SVGChart.bars(labels: (0..<maxLen).map(String.init), series: histogramSeries, yLabel: "detections",
                                      title: "Prefix lengths where attention > \(s.threshold)")
        body += HTML.figure(histogram, caption: "First (destination, source) per row with attention above the threshold; length 0 = not an induction pattern.",
                            data: "detected-prefix-lengths.csv")
        body += "</div>\n"
        body += HTML.table(["head", "score at prefix 1", "score at prefix \(s.maxPrefix)", "clean", "corrupted", "examples"],
                           zip(names, heads).map { [HTML.escape($0), HTML.number($1.inductionScore[0]), HTML.number($1.inductionScore.last!), HTML.number($1.clean), HTML.number($1.corrupted), "\($1.interventionExamples)"] })
        try folder.write(HTML.page(title: "Long-prefix induction", body: body, up: up), to: "long-prefix/index.html")
        return "long-prefix/index.html"
    }
}
