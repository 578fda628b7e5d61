// ExplorerAPI: the requests and responses of the Circuit Explorer's JSON API (Docs/experiments/circuit-explorer.md
// lists every field). Node ids are the trace graph's (`TraceNode.id`: "1_194_12" is attention feature 194 of
// layer 1 at position 12).

import Foundation
import Interp

// MARK: Requests

/// Every request names its prompt; `bos` (default true) prepends `<|endoftext|>` as the SAEs were trained.
public struct PromptRequest: Codable, Sendable, Equatable {
    public var prompt: String
    public var bos: Bool?
    public init(prompt: String, bos: Bool? = nil) { self.prompt = prompt; self.bos = bos }
}

/// `POST /api/cell`: the features of one SAE at one position.
public struct CellRequest: Codable, Sendable {
    public var prompt: String, bos: Bool?
    public var layer: Int, position: Int
    /// "attention" (default) or "residual".
    public var kind: String?
    public init(prompt: String, bos: Bool? = nil, layer: Int, position: Int, kind: String? = nil) {
        self.prompt = prompt; self.bos = bos; self.layer = layer; self.position = position; self.kind = kind
    }
}

/// `POST /api/expand`: a node's terms.
public struct ExpandRequest: Codable, Sendable {
    public var prompt: String, bos: Bool?
    public var node: String
    /// Terms listed, largest |term| first (default 12); the rest are summed in `otherTerms`.
    public var maxTerms: Int?
    public init(prompt: String, bos: Bool? = nil, node: String, maxTerms: Int? = nil) {
        self.prompt = prompt; self.bos = bos; self.node = node; self.maxTerms = maxTerms
    }
}

/// `POST /api/qk`: why head `layer.head` attended from `destination` to `source`.
public struct QKRequest: Codable, Sendable {
    public var prompt: String, bos: Bool?
    public var layer: Int, head: Int, destination: Int, source: Int
    /// Pairs listed (default 10).
    public var pairs: Int?
    public init(prompt: String, bos: Bool? = nil, layer: Int, head: Int, destination: Int, source: Int, pairs: Int? = nil) {
        self.prompt = prompt; self.bos = bos; self.layer = layer; self.head = head; self.destination = destination; self.source = source; self.pairs = pairs
    }
}

/// `POST /api/intervene`: SAE features set at their positions (ablated to 0, or pinned to a value), with the
/// SAEs' errors kept so that nothing else changes.
public struct InterveneRequest: Codable, Sendable {
    public struct Edit: Codable, Sendable {
        /// An attention or residual feature's node id.
        public var node: String
        /// The activation to pin; absent: 0 (ablate).
        public var value: Float?
        public init(node: String, value: Float? = nil) { self.node = node; self.value = value }
    }
    public var prompt: String, bos: Bool?
    public var edits: [Edit]
    /// Where to read the next-token prediction (default: the last token).
    public var position: Int?
    public init(prompt: String, bos: Bool? = nil, edits: [Edit], position: Int? = nil) {
        self.prompt = prompt; self.bos = bos; self.edits = edits; self.position = position
    }
}

/// `GET /api/graph`: the graph grown from `roots` by expanding exactly `expanded` (as the page shows it).
public struct GraphRequest: Codable, Sendable {
    public var prompt: String, bos: Bool?
    public var roots: [String]
    public var expanded: [String]
    /// Terms kept per expanded node (default 6) and the kept share of the node's value (default 0.05).
    public var maxChildren: Int?, threshold: Float?
    /// QK attributions of the strongest attention links (default 3).
    public var qkEdges: Int?
    public var featuresOnly: Bool?
    public init(prompt: String, bos: Bool? = nil, roots: [String], expanded: [String] = [], maxChildren: Int? = nil, threshold: Float? = nil,
                qkEdges: Int? = nil, featuresOnly: Bool? = nil) {
        self.prompt = prompt; self.bos = bos; self.roots = roots; self.expanded = expanded; self.maxChildren = maxChildren
        self.threshold = threshold; self.qkEdges = qkEdges; self.featuresOnly = featuresOnly
    }
}

// MARK: Responses

/// A node as the page shows it.
public struct NodeInfo: Codable, Sendable, Equatable {
    /// The graph's id (`TraceNode.id`).
    public var id: String
    /// circuit-tracer's `feature_type`.
    public var kind: String
    public var description: String
    public var layer: Int?
    public var position: Int
    /// The SAE feature's index, for SAE features.
    public var feature: Int?
    /// The token at `position`.
    public var token: String
    public var label: String
    public var expandable: Bool
}

public struct TokenInfo: Codable, Sendable, Equatable {
    public var position: Int, id: Int, text: String
}

/// A next-token candidate: its log-probability (natural log) and logit.
public struct Prediction: Codable, Sendable, Equatable {
    public var token: Int, text: String, logit: Float, logProb: Float
}

/// `POST /api/run`'s answer: the tokens, and for each SAE the features that fire at each position.
public struct RunResponse: Codable, Sendable {
    public struct Cell: Codable, Sendable, Equatable {
        /// How many features fire, and the largest activation.
        public var count: Int, maxActivation: Float
        /// The strongest (at most 8), strongest first.
        public var top: [FeatureActivation]
    }
    public struct FeatureActivation: Codable, Sendable, Equatable { public var feature: Int, activation: Float }
    public struct Layer: Codable, Sendable {
        public var layer: Int
        /// "attention" (hook_z) or "residual" (hook_resid_pre).
        public var kind: String
        public var dSAE: Int
        /// One per position.
        public var cells: [Cell]
    }
    public var model: String, saes: [String]
    public var prompt: String, bos: Bool
    public var tokens: [TokenInfo]
    public var nLayers: Int, nHeads: Int
    /// A label per head per layer.
    public var heads: [[String]]
    public var layers: [Layer]
    /// The model's top next-token candidates at the last position.
    public var predictions: [Prediction]
}

/// A feature at one position, with its label and, where a dashboards folder was given, its dashboard.
public struct FeatureDetail: Codable, Sendable {
    public var node: NodeInfo
    public var activation: Float
    public var dashboard: DashboardSummary?
}

/// What the explorer shows of a `feature-dashboards` page: its link, density, maximum and top examples.
public struct DashboardSummary: Codable, Sendable, Equatable {
    public struct Example: Codable, Sendable, Equatable {
        public var tokens: [String], activations: [Float], center: Int, activation: Float
    }
    public var url: String
    public var density: Double, maxActivation: Float
    public var examples: [Example]
}

/// `POST /api/cell`'s answer.
public struct CellResponse: Codable, Sendable {
    public var layer: Int, position: Int, kind: String
    public var features: [FeatureDetail]
    /// Features that fire beyond those listed.
    public var more: Int
}

/// One term of a node's value: what `source` contributes, split over heads where it passes through attention.
public struct TermInfo: Codable, Sendable, Equatable {
    public var source: NodeInfo
    public var value: Float
    public var heads: [Float]?
}

/// `POST /api/expand`'s answer: the node's value and its exact split into terms.
public struct ExpandResponse: Codable, Sendable {
    public var node: NodeInfo
    /// The node's value (a feature's pre-activation `x·W_enc[:,f] + b_enc[f]`); its activation where it has one.
    public var value: Float, activation: Float?
    /// The largest terms; `otherTerms` is the sum of the rest, so `Σ terms + otherTerms = value` (to rounding).
    public var terms: [TermInfo]
    public var otherTerms: Float
    public var termCount: Int
    /// Every term summed by its source's position (DFA by source position, for attention features).
    public var byPosition: [Float]
    /// The head-split terms summed per head (attention features).
    public var byHead: [Float]?
    public var dashboard: DashboardSummary?
}

/// `POST /api/qk`'s answer.
public struct QKResponse: Codable, Sendable {
    public struct Pair: Codable, Sendable, Equatable { public var query: NodeInfo, key: NodeInfo, value: Float }
    public struct Competitor: Codable, Sendable, Equatable { public var source: Int, score: Float, pattern: Float }
    public var layer: Int, head: Int, headLabel: String, destination: Int, source: Int
    public var score: Float, pattern: Float
    /// The head's pattern and scores at `destination`, over sources 0…destination.
    public var patternRow: [Float], scoreRow: [Float]
    public var pairs: [Pair]
    public var otherPairs: Float, pairCount: Int
    /// The query's terms at the destination and the key's at the source (the largest 10 each); each side sums to its marginal.
    public var queryTerms: [TermInfo], keyTerms: [TermInfo]
    public var competitors: [Competitor]
}

/// `POST /api/intervene`'s answer.
public struct InterveneResponse: Codable, Sendable {
    public struct Edit: Codable, Sendable { public var node: NodeInfo, before: Float, after: Float }
    public struct Change: Codable, Sendable, Equatable { public var node: NodeInfo, before: Float, after: Float }
    public struct TokenChange: Codable, Sendable, Equatable { public var token: Int, text: String, before: Float, after: Float }
    public var position: Int
    public var edits: [Edit]
    /// The top candidates before and after (log-probabilities).
    public var clean: [Prediction], edited: [Prediction]
    /// The tokens whose log-probability moved most.
    public var tokenChanges: [TokenChange]
    /// The SAE features downstream whose activation moved most (before → after).
    public var downstream: [Change]
}

/// A request the explorer refuses: the HTTP status and a message naming what is wrong and what is allowed.
public struct ExplorerError: Error, CustomStringConvertible, Sendable, Equatable {
    public let status: Int
    public let message: String
    public init(_ status: Int, _ message: String) { self.status = status; self.message = message }
    public var description: String { message }
    static func bad(_ message: String) -> ExplorerError { ExplorerError(400, message) }
}
