// InductionDeepDive: Fig. 2 (SPEC §3.1) — specificity and sensitivity of one induction feature for a
// target token, with the fuzzy "is T-induction" proxy.

import Foundation

public struct InductionDeepDiveResult: Codable, Sendable, Equatable {
    public var feature: Int
    public var target: Int
    public var targetString: String
    /// Every firing: activation and whether the proxy holds there.
    public var firings: Int, firingsWithProxy: Int
    /// Histogram edges (101 values) and counts per bin for proxy true / false.
    public var edges: [Double]
    public var countsProxy: [Int], countsNoProxy: [Int]
    /// Proxy positions, and those where the feature does not fire (false negatives).
    public var proxyPositions: Int, falseNegatives: Int
    public var specificity: Double { firings == 0 ? 0 : Double(firingsWithProxy) / Double(firings) }
    public var sensitivity: Double { proxyPositions == 0 ? 0 : 1 - Double(falseNegatives) / Double(proxyPositions) }
    /// (row, position) of the first false positives (strong firings without the proxy) and false negatives.
    public var falsePositiveExamples: [[Int]], falseNegativeExamples: [[Int]]
}

public enum InductionDeepDive {
    /// The planted model's best induction feature: the highest specificity × sensitivity among features
    /// that pass the induction test (or among all scored features when none passes), with its target.
    public static func bestFeature(model: LoadedModel, sae: SAE, tokens: IndexTensor) throws -> (feature: Int, target: Int) {
        let heads = model.inductionHeads(layer: sae.config.layer ?? 0)
        let scores = try InductionFeatures.score(model: model.model, sae: sae, tokens: tokens, inductionHeads: heads)
        let r = ranked(scores)
        guard let best = r.passing.first ?? r.candidates.first else {
            throw ExperimentInputError("no feature fires on the token set; give --feature and --target")
        }
        return (best.feature, best.target)
    }

    /// Scores in descending specificity × sensitivity: those that pass the induction test, and the
    /// candidates (every feature seen at ≥ 5 narrow induction positions, passing or not).
    public static func ranked(_ scores: [InductionFeatureScore]) -> (passing: [InductionFeatureScore], candidates: [InductionFeatureScore]) {
        func order(_ a: InductionFeatureScore, _ b: InductionFeatureScore) -> Bool { a.specificity * a.sensitivity > b.specificity * b.sensitivity }
        return (scores.filter { $0.isInduction() }.sorted(by: order), scores.filter { $0.narrowPositions >= 5 }.sorted(by: order))
    }

    public static func run(model: LoadedModel, sae: SAE, feature: Int, target: Int, tokens: IndexTensor, tokenizer: GPT2Tokenizer,
                           rowsPerForward: Int = 32) throws -> InductionDeepDiveResult {
        guard feature >= 0 && feature < sae.config.dSAE else { throw ExperimentInputError("feature \(feature) is not in the SAE (\(sae.config.dSAE) features)") }
        guard target >= 0 && target < model.model.config.dVocab else { throw ExperimentInputError("target token \(target) is not in the vocabulary") }
        let site = try HookName(parsing: sae.config.hookName)
        let fuzzy = FuzzyTokens(tokenizer: tokenizer)
        let (nRows, pos) = (tokens.shape[0], tokens.shape[1])
        var firings: [(act: Float, proxy: Bool, row: Int, pos: Int)] = []
        var proxyPositions = 0
        var falseNegatives: [[Int]] = []
        var fnCount = 0
        let column = FeatureAttribution.encoderColumn(sae, feature).reshaped([sae.config.dIn, 1])
        let bias = sae.bEnc[feature]
        for start in stride(from: 0, to: nRows, by: rowsPerForward) {
            let n = min(rowsPerForward, nRows - start)
            let chunk = IndexTensor(shape: [n, pos], values: Array(tokens.values[(start * pos)..<((start + n) * pos)]))
            let z = try model.model.runWithCache(chunk, names: [site])[site]!
            var x = SAE.flattenHeads(z).reshaped([n * pos, sae.config.dIn])
            if sae.config.applyBDecToInput { x = x - sae.bDec }
            let acts = (x.matmul(column) + bias).relu().scalars                       // [n·pos]
            for r in 0..<n {
                let row = Array(chunk.values[(r * pos)..<((r + 1) * pos)])
                let proxy = Induction.proxy(tokens: row, target: target, fuzzy: fuzzy)
                for p in 0..<pos {
                    let a = acts[r * pos + p]
                    if a > 0 { firings.append((a, proxy[p], start + r, p)) }
                    if proxy[p] {
                        proxyPositions += 1
                        if a == 0 { fnCount += 1; if falseNegatives.count < 3 { falseNegatives.append([start + r, p]) } }
                    }
                }
            }
        }
        let (lo, hi) = (Double(firings.map(\.act).min() ?? 0), Double(firings.map(\.act).max() ?? 1))
        let edges = (0...100).map { lo + (hi - lo) * Double($0) / 100 }
        var cp = [Int](repeating: 0, count: 100), cn = cp
        for f in firings {
            let b = hi > lo ? min(99, Int((Double(f.act) - lo) / (hi - lo) * 100)) : 0
            if f.proxy { cp[b] += 1 } else { cn[b] += 1 }
        }
        let strong = Float(lo + 0.5 * (hi - lo))
        let fps = firings.filter { !$0.proxy && $0.act > strong }.prefix(3).map { [$0.row, $0.pos] }
        return InductionDeepDiveResult(feature: feature, target: target, targetString: tokenizer.decode([target]), firings: firings.count,
                                       firingsWithProxy: firings.filter(\.proxy).count, edges: edges, countsProxy: cp, countsNoProxy: cn,
                                       proxyPositions: proxyPositions, falseNegatives: fnCount, falsePositiveExamples: Array(fps), falseNegativeExamples: falseNegatives)
    }

    /// Writes the page and its data; returns the page's path.
    @discardableResult
    public static func writeReport(_ r: InductionDeepDiveResult, model: LoadedModel, sae: SAE, tokens: IndexTensor, tokenizer: GPT2Tokenizer, to folder: ReportFolder, up: String? = nil) throws -> String {
        try folder.writeJSON(r, to: "induction-deep-dive.json")
        try folder.writeCSV(header: ["bin_low", "bin_high", "count_proxy", "count_no_proxy"],
                            rows: (0..<100).map { ["\(r.edges[$0])", "\(r.edges[$0 + 1])", "\(r.countsProxy[$0])", "\(r.countsNoProxy[$0])"] }, to: "activation-histogram.csv")
        let labels = (0..<100).map { String(format: "%.2g", (r.edges[$0] + r.edges[$0 + 1]) / 2) }
        let t = HTML.tokenLabel(r.targetString)
        let hist = SVGChart.bars(labels: labels, series: [("proxy holds", r.countsProxy.map(Double.init)), ("proxy fails", r.countsNoProxy.map(Double.init))],
                                 yLabel: "count", width: 760, height: 280, title: "Feature activation distribution")
        // Expected value: bin centre × count / all firings (decision 8: normalised by the total, not per category).
        let total = Double(max(1, r.firings))
        let centres = (0..<100).map { (r.edges[$0] + r.edges[$0 + 1]) / 2 }
        let ev = SVGChart.bars(labels: labels, series: [("proxy holds", (0..<100).map { centres[$0] * Double(r.countsProxy[$0]) / total }),
                                                        ("proxy fails", (0..<100).map { centres[$0] * Double(r.countsNoProxy[$0]) / total })],
                               yLabel: "activation × share", width: 760, height: 280, title: "Expected value plot")
        func example(_ rp: [Int], missing: Bool) throws -> String {
            let (row, p) = (rp[0], rp[1]), pos = tokens.shape[1]
            let ids = Array(tokens.values[(row * pos)..<((row + 1) * pos)])
            let z = try model.model.runWithCache(IndexTensor(shape: [1, pos], values: ids), names: [try HookName(parsing: sae.config.hookName)])
            let acts = sae.encode(SAE.flattenHeads(z.values.first!.value).reshaped([pos, sae.config.dIn])).selecting(axis: 1, r.feature).scalars
            let m = max(acts.max() ?? 1, 1e-3)
            let lo = max(0, p - 20), hi = min(pos, p + 4)
            return "<div class=\"ex\">" + (lo..<hi).map { i -> String in
                let style: String
                if missing && i == p { style = " style=\"background: rgba(230,40,40,0.6)\"" }             // decision 9: red with |S|, not a malformed colour
                else if acts[i] > 0 { style = String(format: " style=\"background: rgba(30,120,255,%.2f)\"", min(1, acts[i] / m)) }
                else { style = "" }
                return "<span class=\"tok\(i == p ? " center" : "")\" title=\"\(HTML.escape(String(format: "act %.4g", acts[i])))\"\(style)>\(HTML.token(tokenizer.decode([ids[i]])))</span>"
            }.joined() + " <span class=\"note\">row \(row), pos \(p)</span></div>"
        }
        var body = "<h1>Induction deep dive: feature \(r.feature), T = <span class=\"tok\">\(t)</span></h1>\n"
        body += "<p>The proxy holds at a position when an earlier occurrence of its token — or of a variant with/without a leading space, capitalised or lower-cased — was followed by T (SPEC §3.1).</p>\n"
        body += HTML.table(["firings", "with the proxy", "specificity", "proxy positions", "false negatives", "sensitivity"],
                           [["\(r.firings)", "\(r.firingsWithProxy)", HTML.number(r.specificity), "\(r.proxyPositions)", "\(r.falseNegatives)", HTML.number(r.sensitivity)]], leftColumns: 0)
        body += "<h2>Specificity</h2>\n" + HTML.figure(hist, caption: "Every firing on \(tokens.count) tokens, 100 bins, stacked by whether the proxy holds.", data: "activation-histogram.csv")
        body += HTML.figure(ev, caption: "Bin centre × count over all firings: where the feature's output mass comes from.", data: "activation-histogram.csv")
        body += "<h3>Strong firings without the proxy</h3>\n" + (r.falsePositiveExamples.isEmpty ? "<p>None above half the maximum activation.</p>" : try r.falsePositiveExamples.map { try example($0, missing: false) }.joined(separator: "\n"))
        body += "<h2>Sensitivity</h2>\n<p>\(r.falseNegatives) of \(r.proxyPositions) proxy positions have activation 0.</p>\n"
        body += try r.falseNegativeExamples.map { try example($0, missing: true) }.joined(separator: "\n")
        try folder.write(HTML.page(title: "Induction deep dive", body: body, up: up), to: "index.html")
        return folder.path + "/index.html"
    }
}
