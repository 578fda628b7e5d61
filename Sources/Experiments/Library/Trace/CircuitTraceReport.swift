// CircuitTraceReport: one prompt's trace as a researcher reads it — the tree in the terminal, the graph
// as JSON in circuit-tracer's schema (what Neuronpedia's attribution-graph viewer loads, extended for
// attention), and a static page with the token strip, the graph as inline SVG and the QK pairs.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// What to trace in a prompt.
public struct CircuitTraceRequest: Sendable {
    public var prompt: String
    /// Features to trace (`layer.feature@position`); empty: the strongest at ``position``, or at the last token.
    public var features: [TraceNode]
    public var position: Int?
    /// How many of the strongest features to trace when none are named.
    public var top: Int
    public var options: TraceOptions
    /// Prepend BOS (`<|endoftext|>`), as the SAEs were trained (default true).
    public var prependBOS: Bool

    public init(prompt: String, features: [TraceNode] = [], position: Int? = nil, top: Int = 3, options: TraceOptions = TraceOptions(), prependBOS: Bool = true) {
        self.prompt = prompt; self.features = features; self.position = position; self.top = top; self.options = options; self.prependBOS = prependBOS
    }

    /// The default prompt: a sentence and its repeat, so induction features fire on the second copy.
    public static let defaultPrompt = "The quick brown fox jumps over the lazy dog, then the quick brown fox jumps over the lazy"

    /// The prompt's tokens (BOS first unless `prependBOS` is off).
    public func tokens(_ tokenizer: GPT2Tokenizer) -> [Int] { prependBOS ? tokenizer.toTokens(prompt) : tokenizer.encode(prompt) }

    /// Checks the prompt's `tokens` against `nCtx`, and the named features and the position against them
    /// and the attention SAEs' widths by layer — before any run, and before a default SAE is trained.
    /// - Throws: ``ExperimentInputError`` naming the option, its value and what is allowed.
    public func check(tokens: [Int], nCtx: Int, attentionWidths: [Int: Int]) throws {
        guard !tokens.isEmpty else { throw ExperimentInputError("--prompt is empty; allowed: at least one token") }
        guard tokens.count <= nCtx else {
            throw ExperimentInputError("--prompt is \(tokens.count) tokens\(prependBOS ? " with BOS" : ""); allowed: at most \(nCtx) — the model takes at most n_ctx = \(nCtx)")
        }
        let positions = "positions 0…\(tokens.count - 1) (the prompt's \(tokens.count) tokens\(prependBOS ? ", BOS at 0" : ""))"
        for case .attentionFeature(let l, let p, let f) in features {
            guard let width = attentionWidths[l], f < width, p < tokens.count else {
                let layers = attentionWidths.keys.sorted().map { "\($0) (features 0…\(attentionWidths[$0]! - 1))" }.joined(separator: ", ")
                throw ExperimentInputError("--feature is \(l).\(f)@\(p); allowed: layer.feature@position with an attention SAE's layer and feature — "
                                           + "layers \(layers.isEmpty ? "none" : layers) — and \(positions)")
            }
        }
        if let p = position, features.isEmpty, p < 0 || p >= tokens.count {
            throw ExperimentInputError("--position is \(p); allowed: \(positions)")
        }
    }

    /// Parses `layer.feature@position` (e.g. `1.194@12`) as an attention feature.
    public static func parseFeature(_ text: String) throws -> TraceNode {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        let lf = parts.first.map { $0.split(separator: ".", omittingEmptySubsequences: false) } ?? []
        guard parts.count == 2, lf.count == 2, let l = Int(lf[0]), let f = Int(lf[1]), let p = Int(parts[1]), l >= 0, f >= 0, p >= 0 else {
            throw ExperimentInputError("--feature is \(text); allowed: layer.feature@position, each a whole number ≥ 0, e.g. 1.194@12")
        }
        return .attentionFeature(layer: l, position: p, feature: f)
    }
}

/// No attention feature fires where a trace was asked for (at `position`, or anywhere in the prompt).
public struct NoFeatureFires: Error, CustomStringConvertible, Sendable {
    public let position: Int?
    public var description: String {
        position.map { "no attention feature fires at position \($0); give another --position or name --feature" }
            ?? "no attention feature fires anywhere in the prompt"
    }
}

/// A traced prompt with its labels, ready to print and write.
public struct CircuitTraceReport {
    public let run: PromptTrace
    public let graph: TraceGraph
    /// The prompt's tokens as text.
    public let tokenStrings: [String]
    /// A short label per node of the graph and of its QK pairs (circuit-tracer's `clerp`): the top tokens a
    /// feature promotes, a token's text, a head's role; empty for the rest (their names say what they are).
    public let labels: [TraceNode: String]
    public let prompt: String
    public let modelName: String
    public let saeNames: [String]
    /// Per layer, a label per head (with the planted role where there is one).
    public let headLabels: [[String]]

    /// Runs the prompt and traces it.
    /// - Throws: ``ExperimentInputError`` for an empty or too long prompt, or features and a position outside the
    ///   prompt or the SAEs (``CircuitTraceRequest/check(tokens:nCtx:attentionWidths:)``).
    public init(tracer: CircuitTracer, tokenizer: GPT2Tokenizer, model: LoadedModel, saeNames: [String], request r: CircuitTraceRequest) throws {
        let tokens = r.tokens(tokenizer)
        try r.check(tokens: tokens, nCtx: tracer.model.config.nCtx, attentionWidths: tracer.attention.mapValues(\.dSAE))
        let run = try tracer.run(tokens)
        var roots = r.features
        if roots.isEmpty {
            roots = run.strongestAttentionFeatures(at: r.position ?? tokens.count - 1, count: r.top).map(\.node)
            // Nothing at the last token (a position was not asked for): the strongest anywhere in the prompt.
            if roots.isEmpty && r.position == nil { roots = run.strongestAttentionFeatures(count: r.top).map(\.node) }
            guard !roots.isEmpty else { throw NoFeatureFires(position: r.position) }
        }
        let graph = try run.trace(roots, options: r.options)
        self.init(run: run, graph: graph, prompt: r.prompt, model: model, saeNames: saeNames, labeler: NodeLabeler(tracer: tracer, tokenizer: tokenizer, model: model))
    }

    /// A report of a graph already traced in `run` (the explorer's, grown by hand), labelled by `labeler`.
    public init(run: PromptTrace, graph: TraceGraph, prompt: String, model: LoadedModel, saeNames: [String], labeler: NodeLabeler) {
        self.run = run
        self.graph = graph
        tokenStrings = labeler.tokenizer.stringTokens(run.tokens)
        self.prompt = prompt
        modelName = model.name
        self.saeNames = saeNames
        headLabels = labeler.headLabels
        let named = graph.nodes.map(\.node) + graph.qk.flatMap { q in q.pairs.flatMap { [$0.query, $0.key] } }
        labels = labeler.labels(named, tokenStrings: tokenStrings)
    }

    func label(_ n: TraceNode) -> String { labels[n] ?? "" }

    static func number(_ x: Float) -> String { String(format: "%+.4g", Double(x)) }

    // MARK: Terminal

    /// The trace as an indented tree (a node reached twice is printed once; later mentions say so).
    public func treeText() -> String {
        var lines: [String] = []
        lines.append("prompt (\(tokenStrings.count) tokens): " + tokenStrings.enumerated().map { "\($0.offset):\(Self.visible($0.element))" }.joined(separator: " "))
        var printed: Set<TraceNode> = []
        func visit(_ n: TraceNode, prefix: String, lead: String, weight: Float?, heads: [Float]?, layer: Int?) {
            let record = graph.record(n)
            var line = prefix + lead
            if let weight { line += Self.number(weight) + "  " }
            line += "\(n) \(Self.visible(tokenStrings[n.position]))"
            if !label(n).isEmpty { line += "  " + label(n) }
            if let v = record?.value { line += String(format: "  [value %.4g", Double(v)) + (record?.activation.map { String(format: ", act %.4g", Double($0)) } ?? "") + "]" }
            if let heads, let h = heads.indices.max(by: { abs(heads[$0]) < abs(heads[$1]) }), let l = layer, let w = weight, w != 0 {
                line += String(format: "  via %@ (%.0f%%)", headLabels[l][h], 100 * Double(heads[h] / w))
            }
            let seen = !printed.insert(n).inserted
            if seen && !graph.incoming(n).isEmpty { lines.append(line + "  (expanded above)"); return }
            lines.append(line)
            let children = graph.incoming(n)
            let childPrefix = prefix + (lead.isEmpty ? "" : (lead.hasPrefix("└") ? "    " : "│   "))
            for (i, link) in children.enumerated() {
                visit(link.source, prefix: childPrefix, lead: i == children.count - 1 ? "└── " : "├── ", weight: link.weight, heads: link.heads, layer: n.layer)
            }
            if let u = record?.unexplained, !children.isEmpty, abs(u) > 1e-6 {
                lines.append(childPrefix + "    (other terms: " + Self.number(u) + ")")
            }
        }
        for r in graph.roots { visit(r, prefix: "", lead: "", weight: nil, heads: nil, layer: nil) }
        for qk in graph.qk {
            lines.append("")
            lines.append(String(format: "QK %@: destination %d %@ ← source %d %@: score %.4g, pattern %.3f", headLabels[qk.layer][qk.head],
                                qk.destination, Self.visible(tokenStrings[qk.destination]), qk.source, Self.visible(tokenStrings[qk.source]),
                                Double(qk.score), Double(qk.pattern)))
            let shown = qk.pairs.prefix(5).filter { $0.value != 0 }
            for p in shown {
                lines.append("  " + Self.number(p.value) + "  query \(p.query) \(Self.visible(tokenStrings[p.query.position])) \(label(p.query))  ×  key \(p.key) \(Self.visible(tokenStrings[p.key.position])) \(label(p.key))")
            }
            let rest = qk.otherPairs + qk.pairs.filter { !shown.contains($0) }.reduce(Float(0)) { $0 + $1.value }
            lines.append("  " + Self.number(rest) + "  the other \(qk.pairCount - shown.count) pairs")
        }
        return lines.joined(separator: "\n")
    }

    /// A token with spaces and newlines visible.
    static func visible(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\n", with: "\\n") + "\"" }

    // MARK: JSON (circuit-tracer's schema)

    /// `{metadata, qParams, nodes, links}` as circuit-tracer's `create_graph_files` writes them (and
    /// Neuronpedia's attribution-graph viewer reads them), extended for attention: per node `value`,
    /// `unexplained`, `sublayer` and `label`; per link `heads`; and the QK attributions under `qk`
    /// (Docs/experiments/circuit-explorer.md has every field).
    public func graphJSON(slug: String) -> [String: Any] {
        /// circuit-tracer's fields of a node and ours that need no graph record (null where they would).
        func fields(_ n: TraceNode) -> [String: Any] {
            ["node_id": n.id, "jsNodeId": n.id, "feature": featureIndex(n), "layer": layerString(n), "ctx_idx": n.position,
             "feature_type": n.featureType, "token_prob": 0.0, "is_target_logit": false, "run_idx": 0, "reverse_ctx_idx": 0,
             "clerp": label(n), "sublayer": sublayer(n),
             "influence": NSNull(), "activation": NSNull(), "value": NSNull(), "unexplained": NSNull(), "depth": NSNull()]
        }
        func node(_ r: TraceGraph.Node) -> [String: Any] {
            var d = fields(r.node)
            d["influence"] = Double(r.influence)
            d["depth"] = r.depth
            d["activation"] = r.activation.map { Double($0) } ?? NSNull()
            d["value"] = r.value.map { Double($0) } ?? NSNull()
            d["unexplained"] = r.unexplained.map { Double($0) } ?? NSNull()
            return d
        }
        let links: [[String: Any]] = graph.links.map { l in
            var d: [String: Any] = ["source": l.source.id, "target": l.target.id, "weight": Double(l.weight)]
            if let h = l.heads { d["heads"] = h.map(Double.init) }
            return d
        }
        let qk: [[String: Any]] = graph.qk.map { q in
            [
                "layer": q.layer, "head": q.head, "destination": q.destination, "source": q.source, "score": Double(q.score), "pattern": Double(q.pattern),
                "pairs": q.pairs.map { ["query": $0.query.id, "key": $0.key.id, "value": Double($0.value)] as [String: Any] },
                "other_pairs": Double(q.otherPairs), "pair_count": q.pairCount,
                "query_terms": q.queryTerms.map { ["node_id": $0.source.id, "value": Double($0.value)] as [String: Any] },
                "key_terms": q.keyTerms.map { ["node_id": $0.source.id, "value": Double($0.value)] as [String: Any] },
                "competitors": q.competitors.map { ["source": $0.source, "score": Double($0.score), "pattern": Double($0.pattern)] as [String: Any] },
            ]
        }
        // QK terms name nodes that need not be in the graph: they are listed too, with no incoming links.
        var extra: [String: [String: Any]] = [:]
        let inGraph = Set(graph.nodes.map(\.node))
        for q in graph.qk {
            for n in q.pairs.flatMap({ [$0.query, $0.key] }) where !inGraph.contains(n) && extra[n.id] == nil {
                var d = fields(n)
                d["qk_only"] = true
                extra[n.id] = d
            }
        }
        let o = graph.options
        return [
            "metadata": [
                "slug": slug, "scan": modelName, "transcoder_list": saeNames, "prompt_tokens": tokenStrings, "prompt": prompt,
                "node_threshold": Double(o.threshold), "schema_version": 1,
                "generator": "attention-saes circuit-explorer trace",
                "trace": ["depth": o.depth, "max_children": o.maxChildren, "threshold": Double(o.threshold), "qk_edges": o.qkEdges, "qk_pairs": o.qkPairs, "features_only": o.featuresOnly,
                          "frozen": "every LayerNorm scale and attention pattern at the prompt's run"] as [String: Any],
            ] as [String: Any],
            "qParams": ["pinnedIds": graph.roots.map(\.id), "supernodes": [] as [[String]], "linkType": "both",
                        "clickedId": graph.roots.first?.id ?? "", "sg_pos": ""] as [String: Any],
            "nodes": graph.nodes.map(node) + extra.keys.sorted().map { extra[$0]! },
            "links": links,
            "qk": qk,
        ]
    }

    /// circuit-tracer's `feature`: the SAE feature index for features, −1 for SAE errors, the token id for
    /// embeddings, the position for position embeddings, the head for heads, 0 otherwise.
    func featureIndex(_ n: TraceNode) -> Int {
        switch n {
        case .attentionFeature(_, _, let f), .residualFeature(_, _, let f): f
        case .attentionError, .residualError: -1
        case .tokenEmbedding(_, let t): t
        case .positionEmbedding(let p): p
        case .head(_, _, let h): h
        case .mlp, .bias: 0
        }
    }

    /// circuit-tracer's `layer`: "E" for embeddings, else the block's number.
    func layerString(_ n: TraceNode) -> String { n.layer.map(String.init) ?? "E" }

    /// Where in the block the node lives: "embed", "resid_pre", "attn", "mlp".
    func sublayer(_ n: TraceNode) -> String {
        switch n {
        case .tokenEmbedding, .positionEmbedding: "embed"
        case .residualFeature, .residualError: "resid_pre"
        case .mlp: "mlp"
        case .bias(let k, _, _): [.residualDecoder, .residualEncoder].contains(k) ? "resid_pre" : "attn"
        default: "attn"
        }
    }

    /// The JSON as text (sorted keys, pretty-printed).
    public func graphJSONData(slug: String) throws -> Data {
        try JSONSerialization.data(withJSONObject: graphJSON(slug: slug), options: [.prettyPrinted, .sortedKeys])
    }

    // MARK: HTML

    /// A static page: the token strip (roots outlined), the graph (positions across, the order the model
    /// computes down; link width ∝ |weight|, blue positive, red negative), the incoming terms of every
    /// expanded node with their head splits, and the QK pairs with each destination's competitors.
    public func html(title: String, up: String? = nil) -> String {
        let rootPositions = Set(graph.roots.map(\.position))
        var body = "<h1>\(HTML.escape(title))</h1>\n"
        body += "<p class=\"note\">Model: \(HTML.escape(modelName)); SAEs: \(HTML.escape(saeNames.joined(separator: ", "))). Every LayerNorm scale and attention pattern is frozen at this prompt's run; each node's value is the exact sum of its terms (Docs/Interp.md, Tracing).</p>\n"
        body += "<div class=\"ex\">" + tokenStrings.enumerated().map { i, s in
            "<span class=\"tok\(rootPositions.contains(i) ? " center" : "")\" title=\"position \(i)\">\(HTML.token(s))</span>"
        }.joined() + "</div>\n"
        body += svg()
        body += "<h2>Terms</h2>\n"
        for r in graph.nodes where r.expanded {
            body += "<h3>\(HTML.escape(r.node.description)) \(HTML.escape(label(r.node)))</h3>\n"
            body += String(format: "<p>value %.4g, activation %.4g, influence %.3f</p>\n", Double(r.value ?? 0), Double(r.activation ?? 0), Double(r.influence))
            var rows = graph.incoming(r.node).map { l -> String in
                let head = l.strongestHead.map { h in String(format: "%@ (%.0f%%)", headLabels[r.node.layer!][h], 100 * Double(l.heads![h] / l.weight)) } ?? ""
                return "<tr><td>\(Self.number(l.weight))</td><td class=\"l\">\(HTML.escape(l.source.description))</td><td class=\"l\">\(HTML.tokenLabel(tokenStrings[l.source.position]))</td><td class=\"l\">\(HTML.escape(label(l.source)))</td><td class=\"l\">\(HTML.escape(head))</td></tr>"
            }
            if let u = r.unexplained { rows.append("<tr><td>\(Self.number(u))</td><td class=\"l\" colspan=\"4\">the other terms</td></tr>") }
            body += "<table><tr><th>term</th><th class=\"l\">source</th><th class=\"l\">token</th><th class=\"l\">label</th><th class=\"l\">strongest head</th></tr>\n" + rows.joined(separator: "\n") + "</table>\n"
        }
        if !graph.qk.isEmpty { body += "<h2>QK attribution</h2>\n<p class=\"note\">Why the head attended from the destination to the source: the score split into (query component × key component) pairs; the pattern is the softmax of the row's scores.</p>\n" }
        for q in graph.qk {
            body += String(format: "<h3>%@: %d %@ ← %d %@</h3>\n<p>score %.4g, pattern %.3f</p>\n", HTML.escape(headLabels[q.layer][q.head]), q.destination,
                           HTML.tokenLabel(tokenStrings[q.destination]), q.source, HTML.tokenLabel(tokenStrings[q.source]), Double(q.score), Double(q.pattern))
            body += "<table><tr><th>term</th><th class=\"l\">query component</th><th class=\"l\">key component</th></tr>\n"
            let shown = q.pairs.filter { $0.value != 0 }
            body += shown.map { "<tr><td>\(Self.number($0.value))</td><td class=\"l\">\(HTML.escape($0.query.description + " " + label($0.query)))</td><td class=\"l\">\(HTML.escape($0.key.description + " " + label($0.key)))</td></tr>" }.joined(separator: "\n")
            body += "<tr><td>\(Self.number(q.otherPairs))</td><td class=\"l\" colspan=\"2\">the other \(q.pairCount - shown.count) pairs</td></tr></table>\n"
            let best = q.competitors.sorted { $0.score > $1.score }.prefix(5)
            body += "<p class=\"note\">Strongest competitors in the row: " + best.map { String(format: "%d %@ (score %.3g, pattern %.3f)", $0.source, HTML.tokenLabel(tokenStrings[$0.source]), Double($0.score), Double($0.pattern)) }.joined(separator: "; ") + "</p>\n"
        }
        return HTML.page(title: title, body: body, up: up)
    }

    /// The graph as inline SVG: a column per position, a row per computing stage.
    func svg() -> String {
        let stages = Array(Set(graph.nodes.map(\.node.computeOrder))).sorted(by: >)
        // At most 1040 px wide (the page's width), however long the prompt.
        let colW = min(46.0, 1000.0 / Double(max(tokenStrings.count, 1))), rowH = 56.0, left = 20.0, top = 20.0
        let width = left * 2 + colW * Double(tokenStrings.count), height = top * 2 + rowH * Double(max(stages.count - 1, 0)) + 34
        func point(_ n: TraceNode) -> (Double, Double) {
            (left + colW * (Double(n.position) + 0.5), top + rowH * Double(stages.firstIndex(of: n.computeOrder) ?? 0))
        }
        let maxWeight = graph.links.map { abs(Double($0.weight)) }.max() ?? 1
        var s = String(format: "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"trace graph\">\n", width, height)
        for l in graph.links {
            let (x1, y1) = point(l.source), (x2, y2) = point(l.target)
            let w = 0.5 + 5 * abs(Double(l.weight)) / max(maxWeight, 1e-12)
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-opacity=\"0.6\" stroke-width=\"%.2f\"><title>%@</title></line>\n",
                        x1, y1, x2, y2, l.weight >= 0 ? "#2b6cb0" : "#c53030", w, HTML.escape("\(l.source) → \(l.target): \(Self.number(l.weight))"))
        }
        for r in graph.nodes {
            let (x, y) = point(r.node)
            let fill = r.node.isExpandable ? (graph.roots.contains(r.node) ? "#d69e2e" : "#4a5568") : "#a0aec0"
            s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%@\"><title>%@</title></circle>\n", x, y,
                        min(colW / 2.5, r.node.isExpandable ? 7.0 : 5.0), fill,
                        HTML.escape("\(r.node) \(label(r.node)) — influence \(String(format: "%.3f", Double(r.influence)))"))
        }
        // The tokens (or, where columns are narrow, every tenth position) along the bottom, inside the chart.
        let maxChars = Int(colW / 6)
        for (i, t) in tokenStrings.enumerated() {
            let text = maxChars >= 3 ? String(t.replacingOccurrences(of: "\n", with: "↵").prefix(maxChars)) : (i % 10 == 0 ? "\(i)" : "")
            guard !text.isEmpty else { continue }
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\"><title>%@</title>%@</text>\n",
                        left + colW * (Double(i) + 0.5), height - 6, HTML.escape("position \(i): \(t)"), HTML.escape(text))
        }
        s += "</svg><figcaption>Token positions across (labelled along the bottom), from the embeddings (bottom row of nodes) to the traced features (top): circles are nodes (features dark, the roots gold, leaves grey; hover for names), lines the kept terms (width ∝ |term|; blue positive, red negative).</figcaption></figure>\n"
        return s
    }

    /// Writes `trace.json` and `index.html` into `folder`.
    public func write(to folder: ReportFolder, title: String, slug: String, up: String? = nil) throws {
        try folder.write(data: try graphJSONData(slug: slug), to: "trace.json")
        try folder.write(html(title: title, up: up), to: "index.html")
    }
}
