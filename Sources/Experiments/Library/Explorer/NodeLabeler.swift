// NodeLabeler: the short label of a trace node (circuit-tracer's `clerp`) — the tokens an SAE feature
// promotes most, a token's text, a head's role — computed in batches and remembered.

import Foundation
import Interp
import SparseAutoencoder
import Synchronization
import Tensor
import Transformer

/// Labels trace nodes: a feature by the three tokens its decoder row promotes most (attention:
/// `W_dec[f] · W_O · W_U`; residual: `W_dec[f] · W_U`, both `[d_vocab]`), a token embedding by its text,
/// a head by its label (with the planted role where there is one); other nodes get "" (their names say
/// what they are). Feature labels are computed one product per layer for all the features asked at once,
/// and kept (at most `capacity` of them; the oldest go first). Safe to share between threads.
public final class NodeLabeler: Sendable {
    public let tracer: CircuitTracer
    public let tokenizer: GPT2Tokenizer
    public let headLabels: [[String]]
    let capacity: Int
    private struct Key: Hashable { let residual: Bool, layer: Int, feature: Int }
    private let cache = Mutex<(labels: [Key: String], order: [Key])>(([:], []))

    public init(tracer: CircuitTracer, tokenizer: GPT2Tokenizer, model: LoadedModel, capacity: Int = 1 << 16) {
        self.tracer = tracer
        self.tokenizer = tokenizer
        headLabels = (0..<tracer.model.config.nLayers).map { model.headLabels(layer: $0) }
        self.capacity = max(capacity, 1)
    }

    /// Labels for `nodes` of a prompt whose tokens read `tokenStrings`.
    public func labels(_ nodes: [TraceNode], tokenStrings: [String]) -> [TraceNode: String] {
        var out: [TraceNode: String] = [:]
        var wanted: [Key: [TraceNode]] = [:]
        for n in nodes where out[n] == nil {
            switch n {
            case .attentionFeature(let l, _, let f): wanted[Key(residual: false, layer: l, feature: f), default: []].append(n)
            case .residualFeature(let l, _, let f): wanted[Key(residual: true, layer: l, feature: f), default: []].append(n)
            case .tokenEmbedding(let p, _): out[n] = "\"" + tokenStrings[p] + "\""
            case .head(let l, _, let h): out[n] = headLabels[l][h]
            default: out[n] = ""
            }
        }
        let known = cache.withLock { c in wanted.keys.compactMap { k in c.labels[k].map { (k, $0) } } }
        var found = Dictionary(uniqueKeysWithValues: known)
        let missing = wanted.keys.filter { found[$0] == nil }
        let w = tracer.model.weights
        for (group, keys) in Dictionary(grouping: missing, by: { [$0.residual ? 1 : 0, $0.layer] }) {
            let features = keys.map(\.feature)
            let effects: Tensor                                     // [n, d_vocab]
            if group[0] == 1 {
                let sae = tracer.residual[group[1]]!.sae
                effects = sae.wDec.gathering(axis: 0, IndexTensor(features)).matmul(w.wU)
            } else {
                effects = FeatureAttribution.logitEffects(tracer.attention[group[1]]!.sae, features: features, wO: w.blocks[group[1]].wO, wU: w.wU)
            }
            let top = effects.topK(3).indices.values
            for (i, k) in keys.enumerated() {
                found[k] = "→ " + top[(3 * i)..<(3 * i + 3)].map { "\"" + tokenizer.decode([$0]) + "\"" }.joined(separator: " ")
            }
        }
        if !missing.isEmpty {
            cache.withLock { c in
                for k in missing where c.labels[k] == nil { c.labels[k] = found[k]; c.order.append(k) }
                if c.order.count > capacity {
                    for k in c.order.prefix(c.order.count - capacity) { c.labels[k] = nil }
                    c.order.removeFirst(c.order.count - capacity)
                }
            }
        }
        for (k, ns) in wanted { for n in ns { out[n] = found[k] } }
        return out
    }
}
