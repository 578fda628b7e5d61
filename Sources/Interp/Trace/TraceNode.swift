// TraceNode: the nodes of a trace — SAE features, the leaves they split into — and their ids in
// circuit-tracer's graph schema.

/// A node of a trace: something whose value one prompt's run gives, and which (for features) splits
/// exactly into terms from the nodes below it (Docs/Interp.md#tracing).
///
/// Positions are token positions of the prompt (0 = BOS); `layer` is the block whose attention output
/// (attention features) or residual stream before it (`blocks.L.hook_resid_pre`: residual features) the
/// node lives in.
public enum TraceNode: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Feature `feature` of layer `layer`'s attention SAE (on `hook_z`) at `position`; its value is the
    /// pre-activation (the activation, where it fires).
    case attentionFeature(layer: Int, position: Int, feature: Int)
    /// Feature `feature` of the residual SAE on `blocks.layer.hook_resid_pre` at `position`.
    case residualFeature(layer: Int, position: Int, feature: Int)
    /// The attention SAE's error `(flat(z) − ẑ) · W_O` of layer `layer` at `position` (a leaf).
    case attentionError(layer: Int, position: Int)
    /// The residual SAE's error `x − x̂` of layer `layer` at `position` (a leaf).
    case residualError(layer: Int, position: Int)
    /// Head `head`'s output `z_h · W_O^h` at `position`, for a layer traced without an attention SAE (a leaf).
    case head(layer: Int, position: Int, head: Int)
    /// `W_E[token]` at `position` (a leaf).
    case tokenEmbedding(position: Int, token: Int)
    /// `W_pos[position]`: in the residual stream (standard positions) or added to the queries' and keys'
    /// inputs (shortformer) (a leaf).
    case positionEmbedding(position: Int)
    /// Block `layer`'s MLP output at `position` (a leaf).
    case mlp(layer: Int, position: Int)
    /// A constant: the terms of a node that no input changes (a leaf); see ``BiasKind``.
    case bias(kind: BiasKind, layer: Int, position: Int)

    /// The constant terms, each named by where it enters.
    public enum BiasKind: String, Sendable, Hashable, Comparable, CaseIterable {
        /// `b_enc[j] − b_dec · W_enc[:, j]` of an attention feature (layer, destination).
        case attentionEncoder = "attn-encoder-bias"
        /// `b_enc[k] − b_dec · W_enc[:, k]` of a residual feature (layer, position).
        case residualEncoder = "resid-encoder-bias"
        /// The value side's constant through the pattern: `Σ_h Σ_s A^h[t,s] (ln1.b · W_V^h + b_V^h) · W_enc[h, j]`
        /// (0 on a processed model, whose layer norms and value biases are folded).
        case value = "value-bias"
        /// The residual SAE's `b_dec` (layer, position).
        case residualDecoder = "resid-decoder-bias"
        /// An attention layer's constant write: `b_O`, plus `b_dec · W_O` of its SAE when it has one.
        case attentionOutput = "attn-output-bias"
        /// The query side's constant `ln1.b · W_Q^h + b_Q^h` (QK attribution only).
        case query = "query-bias"
        /// The key side's constant `ln1.b · W_K^h + b_K^h` (QK attribution only).
        case key = "key-bias"

        public static func < (a: BiasKind, b: BiasKind) -> Bool { a.rawValue < b.rawValue }
    }

    /// The block the node belongs to (nil for embeddings).
    public var layer: Int? {
        switch self {
        case .attentionFeature(let l, _, _), .residualFeature(let l, _, _), .attentionError(let l, _), .residualError(let l, _),
             .head(let l, _, _), .mlp(let l, _), .bias(_, let l, _): l
        case .tokenEmbedding, .positionEmbedding: nil
        }
    }

    public var position: Int {
        switch self {
        case .attentionFeature(_, let p, _), .residualFeature(_, let p, _), .attentionError(_, let p), .residualError(_, let p),
             .head(_, let p, _), .tokenEmbedding(let p, _), .positionEmbedding(let p), .mlp(_, let p), .bias(_, _, let p): p
        }
    }

    /// Whether the node splits further (SAE features do; everything else is a leaf).
    public var isExpandable: Bool {
        switch self {
        case .attentionFeature, .residualFeature: true
        default: false
        }
    }

    /// The order in which the model computes the nodes (a node's terms come from nodes strictly earlier):
    /// embeddings, then per layer the residual stream's SAE before the block, then the attention output,
    /// then the MLP.
    public var computeOrder: Int {
        switch self {
        case .tokenEmbedding, .positionEmbedding: 0
        case .residualFeature(let l, _, _), .residualError(let l, _): 4 * l + 1
        case .bias(let kind, let l, _):
            switch kind {
            case .residualDecoder: 4 * l + 1
            case .residualEncoder, .query, .key: 4 * l + 2
            case .attentionEncoder, .value, .attentionOutput: 4 * l + 3
            }
        case .attentionFeature(let l, _, _), .attentionError(let l, _), .head(let l, _, _): 4 * l + 3
        case .mlp(let l, _): 4 * l + 4
        }
    }

    /// The id in circuit-tracer's graph schema, `"{layer}_{feature}_{position}"`: attention features keep
    /// exactly that form (`"1_194_12"`); the other kinds prefix the layer (`R` residual features, `H`
    /// heads, `M` MLPs, `P` positions, `B` constants) so every id is unique; SAE errors use feature −1
    /// (`"1_-1_12"`, `"R1_-1_12"`) and token embeddings `"E_{token}_{position}"`, as circuit-tracer does.
    public var id: String {
        switch self {
        case .attentionFeature(let l, let p, let f): "\(l)_\(f)_\(p)"
        case .residualFeature(let l, let p, let f): "R\(l)_\(f)_\(p)"
        case .attentionError(let l, let p): "\(l)_-1_\(p)"
        case .residualError(let l, let p): "R\(l)_-1_\(p)"
        case .head(let l, let p, let h): "H\(l)_\(h)_\(p)"
        case .tokenEmbedding(let p, let t): "E_\(t)_\(p)"
        case .positionEmbedding(let p): "P_\(p)_\(p)"
        case .mlp(let l, let p): "M\(l)_0_\(p)"
        case .bias(let k, let l, let p): "B\(l)_\(k.rawValue)_\(p)"
        }
    }

    /// Parses ``id``, the inverse of it.
    public init?(id: String) {
        let parts = id.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        func int(_ s: String) -> Int? { Int(s) }
        if parts.count == 3, let l = int(parts[0]), let f = int(parts[1]), let p = int(parts[2]) {
            guard f >= -1 else { return nil }
            self = f == -1 ? .attentionError(layer: l, position: p) : .attentionFeature(layer: l, position: p, feature: f)
            return
        }
        guard parts.count == 3, let first = parts[0].first, let p = int(parts[2]) else { return nil }
        let rest = String(parts[0].dropFirst())
        switch first {
        case "R":
            guard let l = int(rest), let f = int(parts[1]), f >= -1 else { return nil }
            self = f == -1 ? .residualError(layer: l, position: p) : .residualFeature(layer: l, position: p, feature: f)
        case "H": guard let l = int(rest), let h = int(parts[1]) else { return nil }; self = .head(layer: l, position: p, head: h)
        case "E": guard rest.isEmpty, let t = int(parts[1]) else { return nil }; self = .tokenEmbedding(position: p, token: t)
        case "P": guard rest.isEmpty, parts[1] == parts[2] else { return nil }; self = .positionEmbedding(position: p)
        case "M": guard let l = int(rest), parts[1] == "0" else { return nil }; self = .mlp(layer: l, position: p)
        case "B": guard let l = int(rest), let k = BiasKind(rawValue: parts[1]) else { return nil }; self = .bias(kind: k, layer: l, position: p)
        default: return nil
        }
    }

    /// circuit-tracer's `feature_type`, with the kinds attention needs added.
    public var featureType: String {
        switch self {
        case .attentionFeature: "attention sae feature"
        case .residualFeature: "residual sae feature"
        case .attentionError: "attention sae error"
        case .residualError: "residual sae error"
        case .head: "attention head"
        case .tokenEmbedding: "embedding"
        case .positionEmbedding: "position embedding"
        case .mlp: "mlp output"
        case .bias: "bias"
        }
    }

    /// A short human-readable name: `attn L1 #194 @12`, `resid L1 #7 @3`, `head 0.3 @4`, `W_E @4`, ….
    public var description: String {
        switch self {
        case .attentionFeature(let l, let p, let f): "attn L\(l) #\(f) @\(p)"
        case .residualFeature(let l, let p, let f): "resid L\(l) #\(f) @\(p)"
        case .attentionError(let l, let p): "attn L\(l) SAE error @\(p)"
        case .residualError(let l, let p): "resid L\(l) SAE error @\(p)"
        case .head(let l, let p, let h): "head \(l).\(h) @\(p)"
        case .tokenEmbedding(let p, _): "W_E @\(p)"
        case .positionEmbedding(let p): "W_pos @\(p)"
        case .mlp(let l, let p): "MLP \(l) @\(p)"
        case .bias(let k, let l, let p): "\(k.rawValue) L\(l) @\(p)"
        }
    }

    public static func < (a: TraceNode, b: TraceNode) -> Bool {
        (a.computeOrder, a.position, a.id) < (b.computeOrder, b.position, b.id)
    }
}

/// One term of a node's exact split: the part of the node's value that `source` contributes, and for terms
/// through an attention layer, its split over the layer's heads (`heads[h]`, summing to `value`).
public struct TraceTerm: Sendable, Equatable {
    public let source: TraceNode
    public let value: Float
    public let heads: [Float]?
    public init(source: TraceNode, value: Float, heads: [Float]? = nil) { self.source = source; self.value = value; self.heads = heads }
}
