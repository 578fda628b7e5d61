// LongPrefixInductionSection: Fig. 4 and Fig. 19 (Docs/Method.md §3.4) — a long-prefix and a short-prefix
// induction head compared by induction score and DLA against prefix length, on real data (detected
// prefix lengths), and under corruption of long prefixes to length 1.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

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

public struct LongPrefixInductionSection: Section {
    public static let id = ReportSection.longPrefixInduction
    public var settings: LongPrefixSettings
    public init(settings: LongPrefixSettings) { self.settings = settings }

    public func run(in workspace: Workspace, output: SectionOutput) throws -> SectionOutcome {
        let r = try measure(workspace, rows: try workspace.trainingRows(settings.detectionRows))
        try writeReport(r, to: output.folder, isPlanted: workspace.model.isPlanted, up: output.up)
        return SectionOutcome(page: "index.html", headline: [r.long, r.short].map {
            String(format: "%@: score %.2f at prefix 1, %.2f at %d; clean %.2f → corrupted %.2f", $0.head, $0.inductionScore[0], $0.inductionScore.last!,
                   settings.maxPrefix, $0.clean, $0.corrupted)
        }.joined(separator: "; "))
    }

    /// Both heads measured: (a) induction score and (b) DLA against prefix length on synthetic
    /// sequences, (c) detected prefix lengths on the corpus `rows`, (d) the intervention.
    /// Why the site leaves this section out for the workspace's model, or nil: the default heads
    /// (GPT-2 small's 5.1 and 5.5, the planted model's) must be in the model.
    static func reasonNotToRun(_ s: LongPrefixSettings, _ workspace: Workspace) -> String? {
        let c = workspace.model.model.config
        guard s.layer >= c.nLayers || max(s.longHead, s.shortHead) >= c.nHeads else { return nil }
        return "Fig. 4's heads are GPT-2 small's \(s.layer).\(s.longHead) and \(s.layer).\(s.shortHead), not in \(workspace.model.name); run long-prefix-induction with --layer, --long-head and --short-head for this model's heads"
    }

    public func measure(_ workspace: Workspace, rows: IndexTensor) throws -> LongPrefixResult {
        let (model, s) = (workspace.model.model, settings), cfg = model.config
        guard (0..<cfg.nLayers).contains(s.layer), (0..<cfg.nHeads).contains(s.longHead), (0..<cfg.nHeads).contains(s.shortHead) else {
            throw ExperimentInputError("heads \(s.layer).\(s.longHead) / \(s.layer).\(s.shortHead) are not in \(workspace.model.name) (\(cfg.nLayers) layers × \(cfg.nHeads) heads)")
        }
        guard s.examples >= 1, s.maxPrefix >= 1, s.detectionRows >= 1, s.interventionRows >= 1, s.rowsPerForward >= 1, s.threshold.isFinite else {
            throw ExperimentInputError("long-prefix settings out of range: \(s.examples) examples, prefixes 1…\(s.maxPrefix), \(s.detectionRows)/\(s.interventionRows) rows, \(s.rowsPerForward) rows per forward (each must be ≥ 1)")
        }
        workspace.log("induction score against prefix length (\(s.examples) examples per length)")
        let bos = workspace.tokenizer.endOfTextID
        let scores = try synthetic(vocab: cfg.dVocab, bos: bos) { ex, h in try inductionScores(model, ex, head: h) }
        workspace.log("direct logit attribution against prefix length")
        let dla = try synthetic(vocab: cfg.dVocab, bos: bos) { ex, h in try directLogitAttribution(model, ex, head: h) }
        let n = min(s.detectionRows, rows.shape[0])
        workspace.log("detecting attention > \(s.threshold) on \(n) corpus rows")
        let detections = try detect(model, rows: rows.rows(0..<n), tokenizer: workspace.tokenizer)
        let heads = [s.longHead, s.shortHead]
        let results = try heads.indices.map { k in
            try intervention(model, head: heads[k], detections: detections[k], rows: rows, scores: scores[k], dla: dla[k])
        }
        return LongPrefixResult(model: workspace.model.name, long: results[0], short: results[1])
    }

    /// The mean of `measure` over synthetic examples, per head (long, then short) and prefix length
    /// 1…max: one random stream throughout, reseeded per call so every measure sees the same sequences.
    func synthetic(vocab: Int, bos: Int, _ measure: ([Induction.Example], Int) throws -> [Double]) throws -> [[Double]] {
        var python = CPythonRandom(seed: 0)
        var rng = RandomStream(seed: 0)
        return try [settings.longHead, settings.shortHead].map { h in
            try (1...settings.maxPrefix).map { p in
                let ex = Induction.syntheticExamples(count: settings.examples, prefixLength: p, vocab: vocab, bos: bos, python: &python, rng: &rng)
                let v = try measure(ex, h)
                return v.reduce(0, +) / Double(v.count)
            }
        }
    }

    func batches(_ ex: [Induction.Example]) -> [ArraySlice<Induction.Example>] {
        stride(from: 0, to: ex.count, by: settings.rowsPerForward).map { ex[$0..<min($0 + settings.rowsPerForward, ex.count)] }
    }

    /// Attention from each example's destination to its source.
    func inductionScores(_ model: GPT2, _ ex: [Induction.Example], head h: Int) throws -> [Double] {
        let L = settings.layer
        return try batches(ex).flatMap { b -> [Double] in
            let pattern = try model.runWithCache(IndexTensor(shape: [b.count, 128], values: b.flatMap(\.tokens)), names: [.pattern(L)])[.pattern(L)]!
            return b.enumerated().map { i, e in Double(pattern[i, h, e.destination, e.source]) }
        }
    }

    /// The head's direct logit attribution to the token to predict: r = z[dest, h] · W_O[h], centred over
    /// d_model, / final-LN scale (decision 11), · W_U[:, answer].
    func directLogitAttribution(_ model: GPT2, _ ex: [Induction.Example], head h: Int) throws -> [Double] {
        let L = settings.layer
        let wOh = model.weights.blocks[L].wO.selecting(axis: 0, h), wU = model.weights.wU             // [d_head, d_model]
        return try batches(ex).flatMap { b -> [Double] in
            let cache = try model.runWithCache(IndexTensor(shape: [b.count, 128], values: b.flatMap(\.tokens)), names: [.z(L), .lnFinalScale])
            let z = cache[.z(L)]!, scale = cache[.lnFinalScale]!
            return b.enumerated().map { i, e in
                var r = z.selecting(axis: 0, i).selecting(axis: 0, e.destination).selecting(axis: 0, h).reshaped([1, -1]).matmul(wOh).reshaped([-1])
                r = r - r.mean()
                return Double((r * wU.selecting(axis: 1, e.tokens[e.source])).sum() / scale[i, e.destination, 0])
            }
        }
    }

    /// Per head (long, short): the rows where its attention exceeds the threshold, with the detected prefix.
    func detect(_ model: GPT2, rows: IndexTensor, tokenizer: GPT2Tokenizer) throws -> [[(row: Int, d: Induction.Detection)]] {
        let (L, heads, fuzzy) = (settings.layer, [settings.longHead, settings.shortHead], FuzzyTokens(tokenizer: tokenizer))
        var detections = [[(row: Int, d: Induction.Detection)]](repeating: [], count: 2)
        for start in stride(from: 0, to: rows.shape[0], by: settings.rowsPerForward) {
            let chunk = rows.rows(start..<min(start + settings.rowsPerForward, rows.shape[0]))
            let pattern = try model.runWithCache(chunk, names: [.pattern(L)])[.pattern(L)]!
            for i in 0..<chunk.shape[0] {
                for (k, h) in heads.enumerated() {
                    if let d = Induction.detectLongPrefix(pattern: pattern.selecting(axis: 0, i).selecting(axis: 0, h), tokens: Array(chunk.row(i)),
                                                          threshold: settings.threshold, fuzzy: fuzzy) {
                        detections[k].append((start + i, d))
                    }
                }
            }
        }
        return detections
    }

    /// (d) Attention before and after cutting detected prefixes ≥ 2 to length 1 (the token two before
    /// the source replaced by a random one) in the first intervention rows; the seed resets per head.
    func intervention(_ model: GPT2, head h: Int, detections: [(row: Int, d: Induction.Detection)], rows: IndexTensor,
                      scores: [Double], dla: [Double]) throws -> LongPrefixHeadResult {
        let L = settings.layer
        var python = CPythonRandom(seed: 0)
        let chosen = detections.filter { $0.row < settings.interventionRows && $0.d.prefixLength >= 2 }
        var before: [Double] = [], after: [Double] = []
        for start in stride(from: 0, to: chosen.count, by: settings.rowsPerForward) {
            let b = chosen[start..<min(start + settings.rowsPerForward, chosen.count)]
            let corrupted = b.flatMap { Induction.corruptPrefix(Array(rows.row($0.row)), detection: $0.d, vocab: model.config.dVocab, python: &python) }
            let p0 = try model.runWithCache(rows.rows(b.map(\.row)), names: [.pattern(L)])[.pattern(L)]!
            let p1 = try model.runWithCache(IndexTensor(shape: [b.count, rows.shape[1]], values: corrupted), names: [.pattern(L)])[.pattern(L)]!
            for (i, e) in b.enumerated() {
                before.append(Double(p0[i, h, e.d.destination, e.d.source]))
                after.append(Double(p1[i, h, e.d.destination, e.d.source]))
            }
        }
        let lengths = detections.map(\.d.prefixLength)
        var histogram = [Int](repeating: 0, count: (lengths.max() ?? 0) + 1)
        for l in lengths { histogram[l] += 1 }
        func mean(_ x: [Double]) -> Double { x.isEmpty ? .nan : x.reduce(0, +) / Double(x.count) }
        return LongPrefixHeadResult(head: "\(L).\(h)", inductionScore: scores, dla: dla, prefixHistogram: histogram,
                                    interventionExamples: chosen.count, clean: mean(before), corrupted: mean(after))
    }

    /// Writes the page (four figures and a table) and the data behind it.
    func writeReport(_ r: LongPrefixResult, to folder: ReportFolder, isPlanted: Bool, up: String?) throws {
        let s = settings, ps = (1...settings.maxPrefix).map(Double.init)
        let heads = [r.long, r.short]
        try folder.writeCSV(header: ["prefix_length"] + heads.flatMap { ["score_\($0.head)", "dla_\($0.head)"] },
                            rows: ps.indices.map { i in ["\(i + 1)"] + heads.flatMap { ["\($0.inductionScore[i])", "\($0.dla[i])"] } }, to: "by-prefix-length.csv")
        let maxLen = heads.map { $0.prefixHistogram.count }.max() ?? 1
        try folder.writeCSV(header: ["prefix_length"] + heads.map { "count_\($0.head)" },
                            rows: (0..<maxLen).map { l in ["\(l)"] + heads.map { l < $0.prefixHistogram.count ? "\($0.prefixHistogram[l])" : "0" } },
                            to: "detected-prefix-lengths.csv")
        try folder.writeJSON(r, to: "result.json")
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
        let barLabels = heads.flatMap { ["\($0.head) clean", "\($0.head) corrupted"] }
        let barValues = heads.flatMap { [$0.clean.isNaN ? 0 : $0.clean, $0.corrupted.isNaN ? 0 : $0.corrupted] }
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
        try folder.write(HTML.page(title: "Long-prefix induction", body: body, up: up), to: "index.html")
    }
}
