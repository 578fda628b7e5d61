// QKAttribution: why a head attended from a destination to a source — the attention score split exactly
// into (query-side component × key-side component) terms.

import Tensor
import Transformer

/// The split of one attention score `score = q_t · k_s / √d_head` of head (layer, head), destination t,
/// source s, with the LayerNorm scales frozen:
/// `q_t = Σ_a (P(c_a)/σ_t ⊙ w) W_Q^h + (ln1.b W_Q^h + b_Q^h)` over the components `c_a` of the residual
/// stream at t (and, for shortformer models, `+ W_pos[t] W_Q^h` — added after `ln1`, so neither centred
/// nor scaled), and `k_s` alike; so `score = Σ_a Σ_b q_a · k_b / √d_head`, every pair a term, the
/// constants included as components. The pattern is the softmax of the scores over sources ≤ t:
/// ``competitors`` shows the scores the source competed with.
public struct QKAttribution: Sendable {
    /// One (query-side component, key-side component) term.
    public struct Pair: Sendable, Equatable {
        public let query: TraceNode
        public let key: TraceNode
        public let value: Float
    }

    /// One source's score and pattern in the destination's row.
    public struct Competitor: Sendable, Equatable {
        public let source: Int
        public let score: Float
        public let pattern: Float
    }

    public let layer: Int, head: Int, destination: Int, source: Int
    /// The score from the run (`hook_attn_scores`) and the pattern `A^h[t, s]`.
    public let score: Float
    public let pattern: Float
    /// The largest pairs by |value| (at most the requested number), and the sum of all the others.
    public let pairs: [Pair]
    public let otherPairs: Float
    /// Query-side marginals `q_a · k_s / √d_head` (each query component against the whole key) and
    /// key-side marginals `q_t · k_b / √d_head`, every component, by decreasing |value|. Each list sums to the score.
    public let queryTerms: [TraceTerm]
    public let keyTerms: [TraceTerm]
    /// Every source ≤ t of the destination's row, in position order.
    public let competitors: [Competitor]
    /// The number of pairs in the full split (`queryTerms.count × keyTerms.count`).
    public var pairCount: Int { queryTerms.count * keyTerms.count }
}

extension PromptTrace {
    /// The components of the query (`side` = Q) or key (K) input of head `h` of layer `l` at position `p`,
    /// each with its `[d_head]` vector: through the layer's residual SAE when it has one, else upstream;
    /// plus the constant and, for shortformer positions, `W_pos[p] W^h`.
    func qkSide(layer l: Int, head h: Int, position p: Int, query: Bool) -> [(node: TraceNode, values: [Float])] {
        let block = weights.blocks[l], dm = config.dModel, dh = config.dHead
        let w = (query ? block.wQ : block.wK).selecting(axis: 0, h).contiguous()        // [d_model, d_head]
        let reader = ResidualReader(self, layer: l, reading: lnReading(w, layer: l), throughResidualSAE: true)
        let inverse = 1 / scale[l][p]
        var out = reader.contributions(at: p).map { ($0.node, $0.values.map { $0 * inverse }) }
        var constant = (query ? block.bQ : block.bK).selecting(axis: 0, h)
        if let b = ln1(l).b { constant = constant + b.reshaped([1, dm]).matmul(w).reshaped([dh]) }
        out.append((.bias(kind: query ? .query : .key, layer: l, position: p), constant.scalars))
        if config.positionalEmbedding == .shortformer {
            out.append((.positionEmbedding(position: p), ResidualReader.times(positions.sliced(axis: 0, p..<(p + 1)), w)[0]))
        }
        return out
    }

    /// The QK attribution of head `head` of layer `layer` from `destination` to `source` (see
    /// ``QKAttribution``), keeping the `maxPairs` largest pairs.
    /// - Throws: ``TraceError`` for a layer, head or position outside the run, or a source after the destination.
    public func qkAttribution(layer l: Int, head h: Int, destination t: Int, source s: Int, maxPairs: Int = 20) throws -> QKAttribution {
        try check(layer: l)
        try check(position: t)
        try check(position: s)
        guard h >= 0 && h < config.nHeads else { throw TraceError.headOutOfRange(head: h, nHeads: config.nHeads) }
        guard s <= t else { throw TraceError.sourceAfterDestination(source: s, destination: t) }
        let q = qkSide(layer: l, head: h, position: t, query: true)
        let k = qkSide(layer: l, head: h, position: s, query: false)
        let dh = config.dHead, scaleFactor = 1 / config.attnScale
        let qMatrix = Tensor(shape: [q.count, dh], scalars: q.flatMap(\.values))
        let kMatrix = Tensor(shape: [k.count, dh], scalars: k.flatMap(\.values))
        let products = Tensor.matmul(qMatrix, kMatrix, transposeB: true, alpha: scaleFactor).contiguous().scalars   // [n_q, n_k]
        let qTotal = qMatrix.sum(axis: 0), kTotal = kMatrix.sum(axis: 0)
        let queryMarginals = qMatrix.matmul(kTotal.reshaped([dh, 1])).scalars.map { $0 * scaleFactor }
        let keyMarginals = kMatrix.matmul(qTotal.reshaped([dh, 1])).scalars.map { $0 * scaleFactor }
        // The largest pairs: a bounded selection over n_q · n_k products.
        let order = products.indices.sorted { abs(products[$0]) != abs(products[$1]) ? abs(products[$0]) > abs(products[$1]) : $0 < $1 }
        let kept = order.prefix(max(0, maxPairs))
        let pairs = kept.map { QKAttribution.Pair(query: q[$0 / k.count].node, key: k[$0 % k.count].node, value: products[$0]) }
        let keptSum = kept.reduce(Float(0)) { $0 + products[$1] }
        let total = products.reduce(Float(0), +)
        func sortedTerms(_ side: [(node: TraceNode, values: [Float])], _ marginals: [Float]) -> [TraceTerm] {
            zip(side, marginals).map { TraceTerm(source: $0.node, value: $1) }.sorted { abs($0.value) > abs($1.value) }
        }
        return QKAttribution(layer: l, head: h, destination: t, source: s, score: scores[l][h, t, s], pattern: pattern[l][h, t, s],
                             pairs: pairs, otherPairs: total - keptSum,
                             queryTerms: sortedTerms(q, queryMarginals), keyTerms: sortedTerms(k, keyMarginals),
                             competitors: (0...t).map { QKAttribution.Competitor(source: $0, score: scores[l][h, t, $0], pattern: pattern[l][h, t, $0]) })
    }
}
