// SVGChart: inline SVG line and bar charts for the report pages.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// Inline SVG charts.
package enum SVGChart {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var t = ceil(lo / step) * step
        while t <= hi + step * 1e-9 { out.append(t); t += step }
        return out
    }

    /// A generous estimate of a label's width in px at 11 px (DejaVu Sans advances: "=" and the
    /// like 0.84 em, capitals 0.72 em, the rest at most 0.62 em).
    static func textWidth(_ s: String) -> Double {
        s.reduce(0.0) { w, c in w + 11 * ("=+<>~#%@&MWmw_—…".contains(c) ? 0.84 : c.isUppercase ? 0.72 : 0.62) }
    }

    static func label(_ x: Double) -> String {
        if x == 0 { return "0" }
        if abs(x) >= 1e4 || abs(x) < 1e-2 { return String(format: "%.0e", x) }
        return x == x.rounded() ? String(format: "%.0f", x) : String(format: "%.2g", x)
    }

    /// A line chart of one or more series (x, y); `logY` plots log10(y) for y > 0.
    package static func lines(_ series: [(name: String, points: [(Double, Double)])], xLabel: String, yLabel: String,
                             width: Int = 520, height: Int = 260, logY: Bool = false, title: String = "") -> String {
        let pts = series.map { s in s.points.filter { !$0.1.isNaN && (!logY || $0.1 > 0) }.map { ($0.0, logY ? log10($0.1) : $0.1) } }
        let all = pts.flatMap { $0 }
        guard !all.isEmpty else { return "<svg width=\"\(width)\" height=\"40\" role=\"img\"><text x=\"10\" y=\"25\">no data</text></svg>" }
        var (x0, x1) = (all.map(\.0).min()!, all.map(\.0).max()!)
        var (y0, y1) = (all.map(\.1).min()!, all.map(\.1).max()!)
        if x1 == x0 { x1 = x0 + 1 }
        if y1 == y0 { y0 -= 0.5; y1 += 0.5 }
        let (l, r, t, b) = (60.0, 12.0, 24.0, 42.0)
        let (w, h) = (Double(width) - l - r, Double(height) - t - b)
        func sx(_ x: Double) -> Double { l + (x - x0) / (x1 - x0) * w }
        func sy(_ y: Double) -> Double { t + (1 - (y - y0) / (y1 - y0)) * h }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" font-size=\"11\">"
        if !title.isEmpty { svg += "<text x=\"\(l)\" y=\"14\" font-weight=\"bold\">\(HTML.escape(title))</text>" }
        for v in ticks(y0, y1) {
            svg += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", l, l + w, sy(v), sy(v))
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%@</text>", l - 4, sy(v) + 4, logY ? label(pow(10, v)) : label(v))
        }
        for v in ticks(x0, x1) {
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>", sx(v), t + h + 14, label(v))
        }
        svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>", l, t, w, h)
        svg += String(format: "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%@</text>", l + w / 2, height - 6, HTML.escape(xLabel))
        svg += String(format: "<text transform=\"translate(12 %.1f) rotate(-90)\" text-anchor=\"middle\">%@</text>", t + h / 2, HTML.escape(yLabel + (logY ? " (log)" : "")))
        for (i, p) in pts.enumerated() where !p.isEmpty {
            let color = palette[i % palette.count]
            let d = p.map { String(format: "%.1f,%.1f", sx($0.0), sy($0.1)) }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.6\" points=\"\(d)\"/>"
            if p.count <= 12 { for q in p { svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%@\"/>", sx(q.0), sy(q.1), color) } }
            if series.count > 1 {
                svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"%@\">%@</text>", l + 8, t + 14 + Double(i) * 13, color, HTML.escape(series[i].name))
            }
        }
        return svg + "</svg>"
    }

    /// Vertical bars, one per label, in one or more series: stacked (values ≥ 0, or signed single
    /// bars) or, with `grouped`, side by side. `errors` (per series, per label) draws ± error bars;
    /// `references` draws a dotted horizontal line with its label at each value.
    package static func bars(labels: [String], series: [(name: String, values: [Double])], yLabel: String,
                            width: Int = 520, height: Int = 240, title: String = "", grouped: Bool = false,
                            errors: [[Double]]? = nil, references: [(name: String, value: Double)] = []) -> String {
        let n = labels.count
        guard n > 0, !series.isEmpty else { return "<svg width=\"\(width)\" height=\"40\" role=\"img\"><text x=\"10\" y=\"25\">no data</text></svg>" }
        func err(_ si: Int, _ i: Int) -> Double { errors.map { abs($0[si][i]) } ?? 0 }
        let tops = (0..<n).map { i in grouped ? series.indices.map { max(0, series[$0].values[i] + err($0, i)) }.max()!
                                              : series.reduce(0.0) { $0 + max(0, $1.values[i]) } }
        let bottoms = (0..<n).map { i in grouped ? series.indices.map { min(0, series[$0].values[i] - err($0, i)) }.min()!
                                                 : series.reduce(0.0) { $0 + min(0, $1.values[i]) } }
        let refs = references.map(\.value).filter { $0.isFinite }
        let y0 = min(0, bottoms.min()!, refs.min() ?? 0)
        var y1 = max(tops.max()!, refs.max() ?? 0)
        if y1 <= y0 { y1 = y0 + 1e-12 }
        let rotate = n > 12 || labels.contains { $0.count > (grouped ? 18 : 6) }
        // Rotated labels are cut to 14 characters (the bar's tooltip has the whole one) and the bottom
        // margin fits the longest, rotated by 60°.
        let shown = rotate ? labels.map { $0.count > 14 ? String($0.prefix(13)) + "…" : $0 } : labels
        let longest = shown.map { textWidth($0) }.max() ?? 0
        let (l, r, t, b) = (60.0, references.isEmpty ? 12.0 : 90.0, 24.0, rotate ? 22 + longest * 0.87 : 36.0)
        let (w, h) = (Double(width) - l - r, Double(height) - t - b)
        func sy(_ y: Double) -> Double { t + (1 - (y - y0) / (y1 - y0)) * h }
        let bw = w / Double(n)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" font-size=\"11\">"
        if !title.isEmpty { svg += "<text x=\"\(l)\" y=\"14\" font-weight=\"bold\">\(HTML.escape(title))</text>" }
        for v in ticks(y0, y1) {
            svg += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", l, l + w, sy(v), sy(v))
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%@</text>", l - 4, sy(v) + 4, label(v))
        }
        let labelEvery = max(1, n / 25)          // at most ~25 labels, or they overlap
        func rect(_ x: Double, _ width: Double, _ lo: Double, _ hi: Double, _ si: Int, _ tip: String) -> String {
            String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"><title>%@</title></rect>",
                   x, sy(hi), width, max(0, sy(lo) - sy(hi)), palette[si % palette.count], HTML.escape(tip))
        }
        for i in 0..<n {
            if grouped {
                let sw = bw * 0.8 / Double(series.count)
                for (si, s) in series.enumerated() {
                    let v = s.values[i], x = l + Double(i) * bw + bw * 0.1 + Double(si) * sw
                    svg += rect(x, sw, min(0, v), max(0, v), si, "\(labels[i]) \(s.name): \(String(format: "%.4g", v))")
                    let e = err(si, i)
                    if e > 0 {
                        let cx = x + sw / 2
                        svg += String(format: "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" stroke=\"#222\" fill=\"none\"/>",
                                      cx, sy(v - e), sy(v + e), cx - 4, sy(v - e), cx + 4, cx - 4, sy(v + e), cx + 4)
                    }
                }
            } else {
                var up = 0.0, down = 0.0
                for (si, s) in series.enumerated() {
                    let v = s.values[i]
                    let (a, bb) = v >= 0 ? (up, up + v) : (down + v, down)
                    if v >= 0 { up += v } else { down += v }
                    svg += rect(l + Double(i) * bw + bw * 0.1, bw * 0.8, a, bb, si, "\(labels[i]) \(s.name): \(String(format: "%.4g", v))")
                }
            }
            let x = l + (Double(i) + 0.5) * bw
            if i % labelEvery != 0 {
            } else if rotate {
                svg += String(format: "<text transform=\"translate(%.1f %.1f) rotate(-60)\" text-anchor=\"end\">%@</text>", x + 3, t + h + 8, HTML.escape(shown[i]))
            } else {
                svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>", x, t + h + 14, HTML.escape(shown[i]))
            }
        }
        svg += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#666\"/>", l, l + w, sy(0), sy(0))
        for ref in references where ref.value.isFinite {
            svg += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#444\" stroke-dasharray=\"2 3\"/>", l, l + w, sy(ref.value), sy(ref.value))
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>", l + w + 4, sy(ref.value) + 4, HTML.escape(ref.name))
        }
        svg += String(format: "<text transform=\"translate(12 %.1f) rotate(-90)\" text-anchor=\"middle\">%@</text>", t + h / 2, HTML.escape(yLabel))
        if series.count > 1 {
            for (si, s) in series.enumerated() {
                svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%@\"/><text x=\"%.1f\" y=\"%.1f\">%@</text>",
                              l + w - 150, t + 4 + Double(si) * 14, palette[si % palette.count], l + w - 136, t + 13 + Double(si) * 14, HTML.escape(s.name))
            }
        }
        return svg + "</svg>"
    }
}
