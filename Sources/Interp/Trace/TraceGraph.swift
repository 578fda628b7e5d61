// TraceGraph: recursive direct feature attribution — features expanded into their largest terms, those
// expanded in turn — with the QK attributions of the strongest attention edges.

import Tensor
import Transformer

/// How far a trace expands.
public struct TraceOptions: Sendable, Equatable, Codable {
    /// Levels of expansion below the roots (0: the roots' values only).
    public var depth: Int
    /// At most this many terms of each expanded node become edges (the largest by |value|).
    public var maxChildren: Int
    /// A term becomes an edge only when `|term| ≥ threshold · |node's value|`.
    public var threshold: Float
    /// QK attributions for this many of the strongest edges through attention (by |weight|).
    public var qkEdges: Int
    /// Pairs kept per QK attribution.
    public var qkPairs: Int
    /// Keep only SAE-feature terms as links (errors, embeddings, heads, MLPs and constants then count as
    /// the node's unexplained part): a graph of features alone, as circuit-tracer's pruned graphs.
    public var featuresOnly: Bool

    public init(depth: Int = 3, maxChildren: Int = 6, threshold: Float = 0.05, qkEdges: Int = 3, qkPairs: Int = 10, featuresOnly: Bool = false) {
        self.depth = depth; self.maxChildren = maxChildren; self.threshold = threshold; self.qkEdges = qkEdges; self.qkPairs = qkPairs
        self.featuresOnly = featuresOnly
    }

    enum CodingKeys: String, CodingKey { case depth, maxChildren, threshold, qkEdges, qkPairs, featuresOnly }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(depth: try c.decode(Int.self, forKey: .depth), maxChildren: try c.decode(Int.self, forKey: .maxChildren),
                  threshold: try c.decode(Float.self, forKey: .threshold), qkEdges: try c.decode(Int.self, forKey: .qkEdges),
                  qkPairs: try c.decode(Int.self, forKey: .qkPairs), featuresOnly: try c.decodeIfPresent(Bool.self, forKey: .featuresOnly) ?? false)
    }

    public static let depthRange = 0...8, maxChildrenRange = 1...64, qkEdgesRange = 0...64, qkPairsRange = 1...1000

    /// Checks every field. - Throws: ``TraceOptionError`` naming the field, its value and the allowed range.
    public func validate() throws {
        func check(_ name: String, _ v: Int, _ r: ClosedRange<Int>) throws {
            guard r.contains(v) else { throw TraceOptionError(name: name, value: "\(v)", allowed: "\(r.lowerBound)…\(r.upperBound)") }
        }
        try check("depth", depth, Self.depthRange)
        try check("maxChildren", maxChildren, Self.maxChildrenRange)
        try check("qkEdges", qkEdges, Self.qkEdgesRange)
        try check("qkPairs", qkPairs, Self.qkPairsRange)
        guard threshold.isFinite && threshold >= 0 && threshold <= 1 else {
            throw TraceOptionError(name: "threshold", value: "\(threshold)", allowed: "0…1")
        }
    }
}

/// A trace option outside its range.
public struct TraceOptionError: Error, Equatable, Sendable, CustomStringConvertible {
    public let name: String, value: String, allowed: String
    public var description: String { "trace option '\(name)' is \(value); allowed: \(allowed)" }
}

/// The graph of a trace: nodes, and links from each term's source to the node it feeds, weighted by
/// the term (the node's value is the sum of its incoming weights plus ``Node/unexplained``).
public struct TraceGraph: Sendable {
    public struct Node: Sendable {
        public let node: TraceNode
        /// Features: the pre-activation the terms sum to; nil for leaves.
        public let value: Float?
        /// Features: the activation (0 where the feature does not fire); nil for leaves.
        public let activation: Float?
        /// Fewest expansions from a root.
        public let depth: Int
        /// The share of the roots' values that flows through this node along the graph's links:
        /// 1 at each root; a child gets `Σ parent's influence × weight / parent's value`.
        public internal(set) var influence: Float
        /// Whether the node was expanded (its largest terms are links into it).
        public let expanded: Bool
        /// For expanded nodes: the sum of the terms left out (below the threshold or past `maxChildren`).
        public let unexplained: Float?
    }

    public struct Link: Sendable, Equatable {
        public let source: TraceNode
        public let target: TraceNode
        public let weight: Float
        /// For links into an attention feature: the weight's split over the layer's heads.
        public let heads: [Float]?

        /// The head carrying most of the weight (links into attention features).
        public var strongestHead: Int? { heads.flatMap { h in h.indices.max { abs(h[$0]) < abs(h[$1]) } } }
    }

    public let tokens: [Int]
    public let roots: [TraceNode]
    public let options: TraceOptions
    /// Nodes in the order the model computes them, latest first (roots before their sources).
    public let nodes: [Node]
    public let links: [Link]
    /// QK attributions of the strongest links through attention.
    public let qk: [QKAttribution]
    /// Nodes asked to be expanded (``PromptTrace/trace(_:expanding:options:)``) that no kept link reached.
    public internal(set) var unreached: [TraceNode] = []
    /// `nodes`' index by node, and the links into each node (largest |weight| first), built once.
    private let position: [TraceNode: Int]
    private let linksInto: [TraceNode: [Link]]

    init(tokens: [Int], roots: [TraceNode], options: TraceOptions, nodes: [Node], links: [Link], qk: [QKAttribution]) {
        self.tokens = tokens; self.roots = roots; self.options = options; self.nodes = nodes; self.links = links; self.qk = qk
        position = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($0.element.node, $0.offset) })
        linksInto = Dictionary(grouping: links, by: \.target).mapValues { $0.sorted { abs($0.weight) > abs($1.weight) } }
    }

    /// The node record of `node`, if it is in the graph.
    public func record(_ node: TraceNode) -> Node? { position[node].map { nodes[$0] } }

    /// Links into `node`, largest |weight| first.
    public func incoming(_ node: TraceNode) -> [Link] { linksInto[node] ?? [] }
}

extension PromptTrace {
    /// The attention features that fire at `position` (every position when nil), strongest first, over
    /// every layer with an attention SAE.
    public func strongestAttentionFeatures(at position: Int? = nil, count: Int) -> [(node: TraceNode, activation: Float)] {
        var all: [(node: TraceNode, activation: Float)] = []
        for (l, rows) in activeAttention {
            for (p, row) in rows.enumerated() where position == nil || position == p {
                for (f, a) in row { all.append((.attentionFeature(layer: l, position: p, feature: f), a)) }
            }
        }
        return Array(all.sorted { $0.activation != $1.activation ? $0.activation > $1.activation : $0.node < $1.node }.prefix(count))
    }

    /// Recursive direct feature attribution from `roots` (features of this run): each feature's terms
    /// (``terms(of:)``), the largest kept as links (``TraceOptions``), the features among their sources
    /// expanded in turn up to `options.depth`; then the QK attributions of the strongest links through
    /// attention (``qkAttribution(layer:head:destination:source:maxPairs:)``).
    /// - Throws: ``TraceOptionError`` for bad options, ``TraceError`` for roots outside the run or leaves.
    public func trace(_ requested: [TraceNode], options: TraceOptions = TraceOptions()) throws -> TraceGraph {
        try trace(requested, options: options) { _, level in level < options.depth }
    }

    /// The graph a researcher grows by hand: the `roots` expanded, and below them exactly the reachable
    /// nodes named in `expanding` (each into its largest terms, as ``TraceOptions`` keeps them; `depth` is
    /// not used). Named nodes that no kept link reaches are left out (``TraceGraph/unreached``), so a
    /// saved state still opens when the options that kept their links have changed.
    /// - Throws: as ``trace(_:options:)``.
    public func trace(_ roots: [TraceNode], expanding: Set<TraceNode>, options: TraceOptions = TraceOptions()) throws -> TraceGraph {
        let rootSet = Set(roots)
        var graph = try trace(roots, options: options) { node, _ in rootSet.contains(node) || expanding.contains(node) }
        graph.unreached = expanding.filter { graph.record($0) == nil }.sorted()
        return graph
    }

    /// The trace, expanding each reached node for which `expand(node, level)` holds.
    private func trace(_ requested: [TraceNode], options: TraceOptions, expand: (TraceNode, Int) -> Bool) throws -> TraceGraph {
        try options.validate()
        var seenRoots: Set<TraceNode> = []
        let roots = requested.filter { seenRoots.insert($0).inserted }          // a root named twice is traced once
        for r in roots {
            try check(r)
            guard r.isExpandable else { throw TraceError.notExpandable(node: r.description) }
        }
        var depth: [TraceNode: Int] = [:]
        var expanded: [TraceNode: Float] = [:]      // node → unexplained
        var values: [TraceNode: Float] = [:]        // features' values, each computed once
        var links: [TraceGraph.Link] = []
        var frontier = Array(Set(roots)).sorted(by: >)
        for r in frontier { depth[r] = 0 }
        var level = 0
        while !frontier.isEmpty {
            var next: [TraceNode] = []
            for node in frontier where expanded[node] == nil && expand(node, level) {
                let value = try self.value(of: node)!
                values[node] = value
                let terms = try self.terms(of: node).filter { !options.featuresOnly || $0.source.isExpandable }
                    .sorted { abs($0.value) != abs($1.value) ? abs($0.value) > abs($1.value) : $0.source < $1.source }
                let kept = terms.prefix(options.maxChildren).filter { abs($0.value) >= options.threshold * abs(value) && $0.value != 0 }
                expanded[node] = value - kept.reduce(0) { $0 + $1.value }
                for t in kept {
                    links.append(TraceGraph.Link(source: t.source, target: node, weight: t.value, heads: t.heads))
                    if depth[t.source] == nil {
                        depth[t.source] = level + 1
                        if t.source.isExpandable { next.append(t.source) }
                    }
                }
            }
            frontier = Array(Set(next)).sorted(by: >)
            level += 1
        }
        // Influence, latest node first: every link goes from an earlier node to a later one.
        let ordered = depth.keys.sorted(by: >)
        var influence: [TraceNode: Float] = Dictionary(uniqueKeysWithValues: roots.map { ($0, Float(1)) })
        for n in ordered where n.isExpandable && values[n] == nil { values[n] = try value(of: n) }
        let byTarget = Dictionary(grouping: links, by: \.target)
        for n in ordered {
            guard let parentInfluence = influence[n], let v = values[n], v != 0 else { continue }
            for link in byTarget[n] ?? [] { influence[link.source, default: 0] += parentInfluence * link.weight / v }
        }
        let nodes = try ordered.map { n in
            TraceGraph.Node(node: n, value: values[n], activation: try activation(of: n), depth: depth[n]!, influence: influence[n] ?? 0,
                            expanded: expanded[n] != nil, unexplained: expanded[n])
        }
        // QK attributions of the strongest links into attention features, one per (layer, head, destination, source).
        var qk: [QKAttribution] = []
        var seen: Set<[Int]> = []
        for link in links.filter({ $0.heads != nil }).sorted(by: { abs($0.weight) > abs($1.weight) }) where qk.count < options.qkEdges {
            guard case .attentionFeature(let l, let t, _) = link.target, let h = link.strongestHead else { continue }
            let s = link.source.position
            guard seen.insert([l, h, t, s]).inserted else { continue }
            qk.append(try qkAttribution(layer: l, head: h, destination: t, source: s, maxPairs: options.qkPairs))
        }
        return TraceGraph(tokens: tokens, roots: roots, options: options, nodes: nodes, links: links, qk: qk)
    }
}
