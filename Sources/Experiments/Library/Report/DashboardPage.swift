// DashboardPage: a feature dashboard (Docs/Method.md §5.2) as one self-contained HTML page.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

package enum DashboardPage {
    /// A logit table whose cells are shaded by |effect| / max |effect| in the table, so the strongest
    /// entry is the darkest on both sides — the most negative logit too (decision 19).
    static func logitTable(_ entries: [FeatureDashboard.LogitEntry], rgb: String, _ tokenizer: GPT2Tokenizer) -> String {
        let m = max(entries.map { Swift.abs(Double($0.value)) }.max() ?? 1, 1e-12)
        return HTML.table(["token", "effect"], entries.map { e in
            let alpha = String(format: "%.2f", 0.08 + 0.6 * Swift.abs(Double(e.value)) / m)
            return ["<span class=\"tok\" style=\"background: rgba(\(rgb),\(alpha))\">\(HTML.tokenLabel(tokenizer.decode([e.token])))</span>", String(format: "%+.3f", e.value)]
        })
    }

    /// Background of a token with activation `a` on a scale whose maximum is `maxAct`.
    static func shade(_ a: Float, _ maxAct: Float, rgb: String = "255,140,0") -> String {
        let alpha = maxAct > 0 ? max(0, min(1, a / maxAct)) : 0
        return alpha > 0 ? String(format: " style=\"background: rgba(%@,%.2f)\"", rgb, alpha) : ""
    }

    package static func example(_ e: DashboardExample, _ maxAct: Float, _ tokenizer: GPT2Tokenizer) -> String {
        let toks = e.contextTokens.enumerated().map { i, t -> String in
            let s = tokenizer.decode([t])
            let a = i < e.contextActivations.count ? e.contextActivations[i] : 0
            let title = HTML.escape(String(format: "%@  act %.4g", s.debugDescription, a))
            return "<span class=\"tok\(i == e.center ? " center" : "")\" title=\"\(title)\"\(shade(a, maxAct))>\(HTML.token(s))</span>"
        }.joined()
        return "<div class=\"ex\"><code>\(String(format: "%.3f", e.activation))</code> \(toks) <span class=\"note\">row \(e.row), pos \(e.position)</span></div>"
    }

    /// The page of one feature. `headLabels` name the heads (e.g. "1.5 (short-prefix induction)");
    /// `extra` is HTML placed after the header (e.g. an induction score).
    package static func render(_ b: FeatureDashboard, tokens: IndexTensor, tokenizer: GPT2Tokenizer, layer: Int,
                              headLabels: [String], extra: String = "", up: String? = "../index.html") -> String {
        var body = "<h1>Feature \(b.feature) <span class=\"note\">(layer \(layer) hook_z SAE)</span></h1>\n"
        body += "<p>Density \(HTML.number(b.density * 100, digits: 4))% of tokens · max activation \(HTML.number(Double(b.maxActivation)))</p>\n"
        body += extra
        // Head attribution and histogram.
        let heads = SVGChart.bars(labels: headLabels.map { String($0.prefix(4)) }, series: [("attribution", b.headAttribution.map(Double.init))],
                                  yLabel: "share of |W_dec|", width: 420, height: 220, title: "Decoder-norm head attribution")
        let edges = (0..<b.histogram.count).map { Double($0) * Double(b.maxActivation) / Double(max(1, b.histogram.count)) }
        let hist = SVGChart.bars(labels: edges.map { String(format: "%.2g", $0) }, series: [("count", b.histogram.map(Double.init))],
                                 yLabel: "firings", width: 520, height: 220, title: "Activation histogram (non-zero)")
        body += HTML.element("div", HTML.figure(heads, caption: "Share of the decoder row's norm per head (Docs/Method.md §2.3).")
                                + HTML.figure(hist, caption: "Activations above zero, \(b.histogram.count) bins up to the maximum."), class: "grid") + "\n"
        // Logits.
        body += HTML.element("h2", "Logit effects (W_dec · W_O · W_U)")
            + HTML.element("div", HTML.element("div", "<b>Positive</b>" + logitTable(b.positiveLogits, rgb: "30,120,255", tokenizer))
                                + HTML.element("div", "<b>Negative</b>" + logitTable(b.negativeLogits, rgb: "230,40,40", tokenizer)), class: "grid") + "\n"
        // Top examples with DFA.
        body += "<h2>Top activations</h2>\n" + b.top.map { example($0, b.maxActivation, tokenizer) }.joined(separator: "\n")
        if !b.dfa.isEmpty {
            body += "<h2>Direct feature attribution by source position (top examples)</h2>\n"
            body += "<p class=\"note\">For each top example, the contribution of each source position to the pre-activation at the destination (Docs/Method.md §2.4); the strongest source is outlined.</p>\n"
            let pos = tokens.shape[1]
            for d in b.dfa.prefix(3) {
                let lo = max(0, d.destination - 24)
                let src = Array(lo...d.destination)
                let labels = src.map { tokenizer.decode([tokens.values[d.row * pos + $0]]).debugDescription }
                body += HTML.figure(SVGChart.bars(labels: labels, series: [("DFA", src.map { Double(d.values[$0]) })], yLabel: "DFA",
                                                   width: 760, height: 290),
                                    caption: "Row \(d.row), destination \(d.destination); largest at source \(d.maxSource).")
            }
            let maxAbs = b.dfa.flatMap(\.values).map { Swift.abs($0) }.max() ?? 1
            body += "<p>" + b.dfa.prefix(10).map { d -> String in
                let lo = max(0, d.destination - 16)
                return "<div class=\"ex\">" + (lo...d.destination).map { s -> String in
                    let t = tokenizer.decode([tokens.values[d.row * pos + s]])
                    let cls = s == d.maxSource ? "tok center" : "tok"
                    return "<span class=\"\(cls)\" title=\"\(HTML.escape(String(format: "DFA %.4g", d.values[s])))\"\(shade(d.values[s], maxAbs, rgb: "30,120,255"))>\(HTML.token(t))</span>"
                }.joined() + "</div>"
            }.joined(separator: "\n") + "</p>\n"
        }
        // Intervals.
        body += "<h2>Interval samples</h2>\n"
        for iv in b.intervals {
            body += "<h3 style=\"font-size:1em\">Interval \(String(format: "%.3g – %.3g", iv.lower, iv.upper)), contains \(HTML.number(iv.fraction * 100, digits: 3))%</h3>\n"
            body += iv.examples.map { example($0, b.maxActivation, tokenizer) }.joined(separator: "\n")
        }
        return HTML.page(title: "Feature \(b.feature)", body: body, up: up)
    }
}
