// InductionDeepDiveSection: Fig. 2 (Docs/Method.md §3.1) — specificity and sensitivity of one induction feature
// for a target token, with the fuzzy "is T-induction" proxy.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

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

public struct InductionDeepDiveSection: Section {
    public static let id = ReportSection.inductionDeepDive
    public let analysis: SAEAnalysis
    /// The feature (default: the best induction feature of the analysis) and the target token (default:
    /// the best feature's target, or the given feature's top logit-effect token).
    public var feature: Int?, target: Int?
    public var rowsPerForward = 32
    public init(analysis: SAEAnalysis, feature: Int? = nil, target: Int? = nil) {
        self.analysis = analysis; self.feature = feature; self.target = target
    }

    public func run(in workspace: Workspace, output: SectionOutput) throws -> SectionOutcome {
        guard let (feature, target) = try choose(workspace) else {
            return SectionOutcome(page: nil, headline: "not run: no feature fires at enough induction positions")
        }
        let r = try measure(workspace, feature: feature, target: target)
        try writeReport(r, workspace: workspace, to: output.folder, up: output.up)
        return SectionOutcome(page: "index.html", headline: String(format: "feature %d → %@: specificity %.3f (%d of %d firings), sensitivity %.3f (%d of %d proxy positions missed)",
                                                                   r.feature, r.targetString.debugDescription, r.specificity, r.firingsWithProxy, r.firings,
                                                                   r.sensitivity, r.falseNegatives, r.proxyPositions))
    }

    /// The feature and target to study: as given, else the analysis's best induction feature (nil when
    /// no feature fires at enough induction positions); a given feature's default target is the token
    /// its logit effect promotes most.
    func choose(_ workspace: Workspace) throws -> (feature: Int, target: Int)? {
        if let feature {
            guard feature >= 0 && feature < analysis.sae.dSAE else { throw ExperimentInputError("feature \(feature) is not in the SAE (\(analysis.sae.dSAE) features)") }
            if let target { return (feature, target) }
            let logits = FeatureAttribution.logitEffects(analysis.sae.sae, features: [feature], wO: workspace.model.model.weights.blocks[analysis.sae.layer].wO,
                                                         wU: workspace.model.model.weights.wU)
            return (feature, logits.selecting(axis: 0, 0).topK(1).indices.values[0])
        }
        guard let best = try analysis.inductionSearch(workspace).best else { return nil }
        workspace.log("best induction feature: \(best.feature) → \(workspace.tokenizer.decode([best.target]).debugDescription)")
        return (best.feature, target ?? best.target)
    }

    /// Every firing of `feature` on the analysis rows, by whether the proxy holds, and the proxy
    /// positions where it does not fire.
    public func measure(_ workspace: Workspace, feature: Int, target: Int) throws -> InductionDeepDiveResult {
        let (sae, tokens, tokenizer) = (analysis.sae, analysis.rows, workspace.tokenizer)
        guard feature >= 0 && feature < sae.dSAE else { throw ExperimentInputError("feature \(feature) is not in the SAE (\(sae.dSAE) features)") }
        guard target >= 0 && target < workspace.model.model.config.dVocab else { throw ExperimentInputError("target token \(target) is not in the vocabulary") }
        let fuzzy = FuzzyTokens(tokenizer: tokenizer)
        let (nRows, pos) = (tokens.shape[0], tokens.shape[1])
        var acts = [Float](repeating: 0, count: nRows * pos)
        let scan = try FeatureScan.run(model: workspace.model.model, sae: sae, tokens: tokens, features: [feature], rowsPerForward: rowsPerForward)
        for f in scan.firings[0] { acts[Int(f.row) * pos + Int(f.position)] = f.value }
        var firings: [(act: Float, proxy: Bool, row: Int, pos: Int)] = []
        var proxyPositions = 0, fnCount = 0
        var falseNegatives: [[Int]] = []
        for r in 0..<nRows {
            let proxy = Induction.proxy(tokens: Array(tokens.row(r)), target: target, fuzzy: fuzzy)
            for p in 0..<pos {
                let a = acts[r * pos + p]
                if a > 0 { firings.append((a, proxy[p], r, p)) }
                if proxy[p] {
                    proxyPositions += 1
                    if a == 0 { fnCount += 1; if falseNegatives.count < 3 { falseNegatives.append([r, p]) } }
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

    /// Writes the page and its data into `folder`.
    func writeReport(_ r: InductionDeepDiveResult, workspace: Workspace, to folder: ReportFolder, up: String?) throws {
        let (tokens, tokenizer, sae) = (analysis.rows, workspace.tokenizer, analysis.sae)
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
            let ids = Array(tokens.row(row))
            let z = try workspace.model.model.runWithCache(tokens.rows(row..<(row + 1)), names: [sae.site])[sae.site]!
            let acts = sae.sae.encode(sae.inputRows(z)).selecting(axis: 1, r.feature).scalars
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
        body += "<p>The proxy holds at a position when an earlier occurrence of its token — or of a variant with/without a leading space, capitalised or lower-cased — was followed by T (Docs/Method.md §3.1).</p>\n"
        body += HTML.table(["firings", "with the proxy", "specificity", "proxy positions", "false negatives", "sensitivity"],
                           [["\(r.firings)", "\(r.firingsWithProxy)", HTML.number(r.specificity), "\(r.proxyPositions)", "\(r.falseNegatives)", HTML.number(r.sensitivity)]], leftColumns: 0)
        body += "<h2>Specificity</h2>\n" + HTML.figure(hist, caption: "Every firing on \(tokens.count) tokens, 100 bins, stacked by whether the proxy holds.", data: "activation-histogram.csv")
        body += HTML.figure(ev, caption: "Bin centre × count over all firings: where the feature's output mass comes from.", data: "activation-histogram.csv")
        body += "<h3>Strong firings without the proxy</h3>\n"
            + (r.falsePositiveExamples.isEmpty ? "<p>None above half the maximum activation.</p>" : try r.falsePositiveExamples.map { try example($0, missing: false) }.joined(separator: "\n"))
        body += "<h2>Sensitivity</h2>\n<p>\(r.falseNegatives) of \(r.proxyPositions) proxy positions have activation 0.</p>\n"
        body += try r.falseNegativeExamples.map { try example($0, missing: true) }.joined(separator: "\n")
        try folder.write(HTML.page(title: "Induction deep dive", body: body, up: up), to: "index.html")
    }
}
