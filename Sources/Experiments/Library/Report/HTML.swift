// HTML: pages with the shared style, tables, figures and the small elements the sections use, so
// section code builds pages from named pieces rather than long literal lines. No scripts, no CDN:
// the pages work offline.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

package enum HTML {
    /// Escapes text for HTML content and attribute values.
    package static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A token as displayed: escaped, with spaces and newlines made visible.
    package static func token(_ s: String) -> String {
        escape(s).replacingOccurrences(of: "\n", with: "↵").replacingOccurrences(of: " ", with: "&nbsp;")
    }

    /// A token for tables and labels, where a lone space would be invisible: spaces as ␣, newlines as ↵.
    package static func tokenLabel(_ s: String) -> String {
        escape(s).replacingOccurrences(of: "\n", with: "↵").replacingOccurrences(of: " ", with: "␣")
    }

    /// A whole page with the shared style.
    package static func page(title: String, body: String, up: String? = nil) -> String {
        let nav = up.map { "<p class=\"nav\"><a href=\"\(escape($0))\">← index</a></p>" } ?? ""
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
        h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
        table { border-collapse: collapse; margin: .6em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
        th { background: #f3f3f3; } td.l, th.l { text-align: left; }
        .tok { font-family: ui-monospace, monospace; white-space: pre; padding: 1px 0; border-radius: 2px; }
        .ex { margin: 2px 0; overflow-x: auto; } .center { outline: 2px solid #333; }
        .note { color: #555; font-size: .92em; } .nav { font-size: .9em; }
        figure { margin: 1em 0; } figcaption { font-size: .9em; color: #444; }
        .grid { display: flex; flex-wrap: wrap; gap: 1.5em; }
        </style></head><body>
        \(nav)
        \(body)
        </body></html>

        """
    }

    /// A table; cells are given as HTML (escape text first). The first `leftColumns` are left-aligned.
    package static func table(_ header: [String], _ rows: [[String]], leftColumns: Int = 1) -> String {
        func cls(_ i: Int) -> String { i < leftColumns ? " class=\"l\"" : "" }
        let head = "<tr>" + header.enumerated().map { "<th\(cls($0))>\(escape($1))</th>" }.joined() + "</tr>"
        let body = rows.map { "<tr>" + $0.enumerated().map { "<td\(cls($0))>\($1)</td>" }.joined() + "</tr>" }.joined(separator: "\n")
        return "<table>\n\(head)\n\(body)\n</table>"
    }

    package static func figure(_ svg: String, caption: String, data: String? = nil) -> String {
        let link = data.map { " <a href=\"\(escape($0))\">data</a>" } ?? ""
        return "<figure>\(svg)<figcaption>\(escape(caption))\(link)</figcaption></figure>"
    }

    /// Formats a number compactly for tables.
    package static func number(_ x: Double, digits: Int = 3) -> String {
        if x.isNaN { return "nan" }
        if x != 0 && (abs(x) < 1e-3 || abs(x) >= 1e6) { return String(format: "%.\(digits)e", x) }
        return String(format: "%.\(digits)f", x)
    }

    // MARK: - Elements (content is HTML: escape text first)

    /// `<name attrs>content</name>`; `cls` becomes the class attribute.
    package static func element(_ name: String, _ content: String, class cls: String? = nil, style: String? = nil) -> String {
        let c = cls.map { " class=\"\($0)\"" } ?? "", st = style.map { " style=\"\($0)\"" } ?? ""
        return "<\(name)\(c)\(st)>\(content)</\(name)>"
    }

    /// A paragraph and a newline.
    package static func p(_ content: String, class cls: String? = nil) -> String { element("p", content, class: cls) + "\n" }

    /// A heading and a newline.
    package static func h1(_ content: String) -> String { element("h1", content) + "\n" }
    package static func h2(_ content: String) -> String { element("h2", content) + "\n" }

    /// A link; `href` is escaped, `content` is HTML.
    package static func link(_ href: String, _ content: String) -> String { "<a href=\"\(escape(href))\">\(content)</a>" }

    /// A token as a label in a monospace span (spaces as ␣, newlines as ↵).
    package static func tokenSpan(_ s: String) -> String { element("span", tokenLabel(s), class: "tok") }

    /// Inline code, escaped.
    package static func code(_ s: String) -> String { element("code", escape(s)) }
}
