// CircuitTracer: a model with attention SAEs (on hook_z) and residual SAEs (on hook_resid_pre) for any of
// its layers, and one cached run of a prompt from which every node's value splits exactly into terms.

import Foundation
import SparseAutoencoder
import Synchronization
import Tensor
import Transformer

/// A request the tracer cannot serve: each case names the value and what is allowed.
public enum TraceError: Error, Equatable, Sendable, CustomStringConvertible {
    case emptyPrompt
    case promptTooLong(tokens: Int, nCtx: Int)
    case invalidToken(token: Int, dVocab: Int)
    case layerOutOfRange(layer: Int, nLayers: Int)
    /// No SAE of this kind ("attention" or "residual") was given for the layer.
    case noSAE(kind: String, layer: Int, available: [Int])
    case featureOutOfRange(feature: Int, dSAE: Int)
    case positionOutOfRange(position: Int, count: Int)
    case headOutOfRange(head: Int, nHeads: Int)
    /// A source after the destination: causal attention never reads it.
    case sourceAfterDestination(source: Int, destination: Int)
    /// Two SAEs of one kind for one layer.
    case duplicateSAE(kind: String, layer: Int)
    /// A node that does not split further (a leaf) was asked for its terms.
    case notExpandable(node: String)

    public var description: String {
        switch self {
        case .emptyPrompt: "the prompt has no tokens"
        case .promptTooLong(let n, let c): "the prompt has \(n) tokens; the model takes at most n_ctx = \(c)"
        case .invalidToken(let t, let v): "token id \(t) is outside 0..<\(v)"
        case .layerOutOfRange(let l, let n): "layer \(l) is outside 0..<\(n)"
        case .noSAE(let k, let l, let a): "no \(k) SAE for layer \(l); \(k) SAEs are given for layers \(a.isEmpty ? "none" : a.map(String.init).joined(separator: ", "))"
        case .featureOutOfRange(let f, let d): "feature \(f) is outside 0..<\(d) (d_sae)"
        case .positionOutOfRange(let p, let n): "position \(p) is outside 0..<\(n) (the prompt's tokens)"
        case .headOutOfRange(let h, let n): "head \(h) is outside 0..<\(n)"
        case .sourceAfterDestination(let s, let t): "source position \(s) is after destination \(t): attention is causal"
        case .duplicateSAE(let k, let l): "two \(k) SAEs for layer \(l)"
        case .notExpandable(let n): "\(n) is a leaf: it does not split further"
        }
    }
}

/// A model and its SAEs, ready to trace prompts.
///
/// ```swift
/// let tracer = try CircuitTracer(model: model, attentionSAEs: [attnL1], residualSAEs: [residL1])
/// let run = try tracer.run(tokens)                                   // one cached forward pass
/// let terms = try run.terms(of: .attentionFeature(layer: 1, position: 12, feature: 194))
/// let graph = try run.trace([.attentionFeature(layer: 1, position: 12, feature: 194)])
/// let qk = try run.qkAttribution(layer: 1, head: 5, destination: 12, source: 6)
/// ```
public struct CircuitTracer: Sendable {
    public let model: GPT2
    /// Attention SAEs by layer.
    public let attention: [Int: AttentionSAE]
    /// Residual SAEs (`blocks.L.hook_resid_pre`) by layer.
    public let residual: [Int: ResidualSAE]

    /// - Throws: ``TraceError/duplicateSAE(kind:layer:)`` for two SAEs of one kind on one layer.
    public init(model: GPT2, attentionSAEs: [AttentionSAE], residualSAEs: [ResidualSAE] = []) throws {
        var a: [Int: AttentionSAE] = [:], r: [Int: ResidualSAE] = [:]
        for s in attentionSAEs {
            guard a[s.layer] == nil else { throw TraceError.duplicateSAE(kind: "attention", layer: s.layer) }
            a[s.layer] = s
        }
        for s in residualSAEs {
            guard r[s.layer] == nil else { throw TraceError.duplicateSAE(kind: "residual", layer: s.layer) }
            r[s.layer] = s
        }
        self.model = model
        attention = a
        residual = r
    }

    /// Checks a prompt's token ids against the model.
    public func validate(_ tokens: [Int]) throws {
        let c = model.config
        guard !tokens.isEmpty else { throw TraceError.emptyPrompt }
        guard tokens.count <= c.nCtx else { throw TraceError.promptTooLong(tokens: tokens.count, nCtx: c.nCtx) }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= c.dVocab }) { throw TraceError.invalidToken(token: bad, dVocab: c.dVocab) }
    }

    /// One run of `tokens` (a single prompt, BOS first if the SAEs expect it) with everything the
    /// decompositions read cached, and every SAE's encoding of it.
    public func run(_ tokens: [Int]) throws -> PromptTrace {
        try validate(tokens)
        return try PromptTrace(tracer: self, tokens: tokens)
    }
}

/// One prompt's run: the cached activations with every LayerNorm scale and attention pattern as they were,
/// and the SAEs' feature activations. Every node's value splits exactly into terms
/// (``terms(of:)``) and every attention score into query × key terms (``qkAttribution(layer:head:destination:source:)``).
public struct PromptTrace: Sendable {
    public let tracer: CircuitTracer
    public let tokens: [Int]
    var config: GPT2Config { tracer.model.config }
    var weights: GPT2Weights { tracer.model.weights }
    /// Per layer: `hook_resid_pre` `[pos, d_model]`, `ln1.hook_scale` σ `[pos]`, `hook_pattern` and
    /// `hook_attn_scores` `[n_heads, pos, pos]`, `hook_z` flattened `[pos, n_heads·d_head]`, `hook_mlp_out` `[pos, d_model]`.
    let residPre: [Tensor], scale: [[Float]], pattern: [Tensor], scores: [Tensor], z: [Tensor], mlpOut: [Tensor?]
    /// `W_pos[0..<pos]` `[pos, d_model]`.
    let positions: Tensor
    /// The final residual stream `[pos, d_model]` (before `ln_final`), for next-token predictions.
    public let finalResidual: Tensor
    /// Per layer with an SAE: the active features per position (feature, activation) by decreasing activation.
    public let activeAttention: [Int: [[(feature: Int, activation: Float)]]]
    public let activeResidual: [Int: [[(feature: Int, activation: Float)]]]
    /// Each SAE's error `x − x̂` `[pos, d_in]`, computed on first use (a run answered without an expansion never pays for it).
    private let errors = ErrorStore()

    init(tracer: CircuitTracer, tokens: [Int]) throws {
        self.tracer = tracer
        self.tokens = tokens
        let c = tracer.model.config, n = tokens.count
        var names: Set<HookName> = []
        for l in 0..<c.nLayers {
            names.formUnion([.residPre(l), .ln1Scale(l), .pattern(l), .attnScores(l), .z(l)])
            if !c.attnOnly { names.insert(.mlpOut(l)) }
        }
        let out = try tracer.model.run(IndexTensor(shape: [1, n], values: tokens), cache: names, stopAtLayer: c.nLayers)
        let cache = out.cache
        let width = c.nHeads * c.dHead
        residPre = (0..<c.nLayers).map { cache[.residPre($0)]!.reshaped([n, c.dModel]).contiguous() }
        scale = (0..<c.nLayers).map { cache[.ln1Scale($0)]!.scalars }
        pattern = (0..<c.nLayers).map { cache[.pattern($0)]!.reshaped([c.nHeads, n, n]).contiguous() }
        scores = (0..<c.nLayers).map { cache[.attnScores($0)]!.reshaped([c.nHeads, n, n]).contiguous() }
        z = (0..<c.nLayers).map { cache[.z($0)]!.reshaped([n, width]).contiguous() }
        mlpOut = (0..<c.nLayers).map { c.attnOnly ? nil : cache[.mlpOut($0)]!.reshaped([n, c.dModel]).contiguous() }
        positions = tracer.model.weights.wPos.sliced(axis: 0, 0..<n).contiguous()
        finalResidual = out.residual.reshaped([n, c.dModel]).contiguous()
        var aActive: [Int: [[(feature: Int, activation: Float)]]] = [:], rActive: [Int: [[(feature: Int, activation: Float)]]] = [:]
        for (l, s) in tracer.attention { aActive[l] = Self.encode(s.sae, z[l]) }
        for (l, s) in tracer.residual { rActive[l] = Self.encode(s.sae, residPre[l]) }
        activeAttention = aActive; activeResidual = rActive
    }

    /// The attention SAE of layer `l`'s error `hook_z − x̂` `[pos, n_heads·d_head]`.
    func attentionError(_ l: Int) -> Tensor {
        errors.value(residual: false, layer: l) { Self.error(tracer.attention[l]!.sae, z[l], activeAttention[l]!) }
    }

    /// The residual SAE of layer `l`'s error `hook_resid_pre − x̂` `[pos, d_model]`.
    func residualError(_ l: Int) -> Tensor {
        errors.value(residual: true, layer: l) { Self.error(tracer.residual[l]!.sae, residPre[l], activeResidual[l]!) }
    }

    /// The bytes this run holds (its cached tensors and active-feature lists, and every SAE error as if all were
    /// computed), for caches that bound their memory.
    public var memoryFootprint: Int {
        let tensors = residPre + pattern + scores + z + mlpOut.compactMap { $0 } + [positions, finalResidual]
        let errors = (tracer.attention.values.map(\.sae.config.dIn) + tracer.residual.values.map(\.sae.config.dIn)).reduce(0) { $0 + $1 * tokens.count }
        let active = (Array(activeAttention.values) + Array(activeResidual.values)).reduce(0) { $0 + $1.reduce(0) { $0 + 24 + 16 * $1.count } }
        return (tensors.reduce(0) { $0 + $1.count } + errors + scale.reduce(0) { $0 + $1.count }) * 4 + active
    }

    /// The active features of each row of `x` `[pos, d_in]`: one encoder product and one pass over the
    /// pre-activations (standard and JumpReLU SAEs; TopK ones go through ``SAE/activations(_:)``).
    static func encode(_ sae: SAE, _ x: Tensor) -> [[(feature: Int, activation: Float)]] {
        let pre = sae.encodePre(x).contiguous()
        switch sae.config.architecture {
        case .standard: return Self.active(pre, threshold: nil)
        case .jumpReLU: return Self.active(pre, threshold: sae.threshold!.contiguous())
        case .topK: return Self.active(sae.activations(pre).contiguous(), threshold: nil)
        }
    }

    /// The error `x − x̂` of `x` `[pos, d_in]` given its active features: the reconstruction summed over the active
    /// features' decoder rows only (a few dozen per row, not d_sae).
    static func error(_ sae: SAE, _ x: Tensor, _ active: [[(feature: Int, activation: Float)]]) -> Tensor {
        let d = sae.config.dIn
        let wDec = sae.wDec.contiguous(), bDec = sae.bDec.contiguous(), xc = x.contiguous()
        return Tensor(shape: x.shape, unsafeUninitialized: { e in
            xc.withUnsafeBufferPointer { xp in
                wDec.withUnsafeBufferPointer { w in
                    bDec.withUnsafeBufferPointer { b in
                        let box = UnsafeSendableBox((e.baseAddress!, xp.baseAddress!, w.baseAddress!, b.baseAddress!))
                        Parallel.forChunks(of: 0..<active.count) { rows in
                            let (e, x, w, b) = box.value
                            for p in rows {
                                let out = e + p * d
                                for i in 0..<d { out[i] = x[p * d + i] - b[i] }
                                for (f, a) in active[p] {
                                    let row = w + f * d
                                    for i in 0..<d { out[i] -= a * row[i] }
                                }
                            }
                        }
                    }
                }
            }
        })
    }

    /// The entries of each row of `pre` `[pos, d_sae]` that fire — `> 0`, and `> θ_j` with JumpReLU thresholds
    /// — by decreasing activation (ties: lower index).
    static func active(_ pre: Tensor, threshold: Tensor?) -> [[(feature: Int, activation: Float)]] {
        let (n, d) = (pre.shape[0], pre.shape[1])
        var rows = [[(feature: Int, activation: Float)]](repeating: [], count: n)
        let theta = threshold?.scalars
        pre.withUnsafeBufferPointer { a in
            rows.withUnsafeMutableBufferPointer { out in
                let box = UnsafeSendableBox((a.baseAddress!, out.baseAddress!))
                Parallel.forChunks(of: 0..<n) { range in
                    let (a, out) = box.value
                    for p in range {
                        var row: [(feature: Int, activation: Float)] = []
                        let base = a + p * d
                        if let theta {
                            for j in 0..<d where base[j] > 0 && base[j] > theta[j] { row.append((j, base[j])) }
                        } else {
                            for j in 0..<d where base[j] > 0 { row.append((j, base[j])) }
                        }
                        out[p] = row.sorted { $0.activation != $1.activation ? $0.activation > $1.activation : $0.feature < $1.feature }
                    }
                }
            }
        }
        return rows
    }

    // MARK: Checks

    func check(layer l: Int) throws {
        guard l >= 0 && l < config.nLayers else { throw TraceError.layerOutOfRange(layer: l, nLayers: config.nLayers) }
    }

    func check(position p: Int) throws {
        guard p >= 0 && p < tokens.count else { throw TraceError.positionOutOfRange(position: p, count: tokens.count) }
    }

    /// Checks that `node` names a layer, position, feature (and SAE) of this run.
    public func check(_ node: TraceNode) throws {
        try check(position: node.position)
        if let l = node.layer { try check(layer: l) }
        switch node {
        case .attentionFeature(let l, _, let f):
            guard let s = tracer.attention[l] else { throw TraceError.noSAE(kind: "attention", layer: l, available: tracer.attention.keys.sorted()) }
            guard f >= 0 && f < s.dSAE else { throw TraceError.featureOutOfRange(feature: f, dSAE: s.dSAE) }
        case .residualFeature(let l, _, let f):
            guard let s = tracer.residual[l] else { throw TraceError.noSAE(kind: "residual", layer: l, available: tracer.residual.keys.sorted()) }
            guard f >= 0 && f < s.dSAE else { throw TraceError.featureOutOfRange(feature: f, dSAE: s.dSAE) }
        case .head(_, _, let h):
            guard h >= 0 && h < config.nHeads else { throw TraceError.headOutOfRange(head: h, nHeads: config.nHeads) }
        default: break
        }
    }

    // MARK: Values

    /// The value a feature node splits into: its pre-activation `(x − b_dec) · W_enc[:, j] + b_enc[j]` at its
    /// position (`x` = `hook_z` flattened, or `hook_resid_pre`) — the activation where the feature fires
    /// (every architecture we read gives an active feature its pre-activation). Nil for leaves.
    public func value(of node: TraceNode) throws -> Float? {
        try check(node)
        switch node {
        case .attentionFeature(let l, let p, let f): return Self.preActivation(tracer.attention[l]!.sae, input: z[l], row: p, feature: f)
        case .residualFeature(let l, let p, let f): return Self.preActivation(tracer.residual[l]!.sae, input: residPre[l], row: p, feature: f)
        default: return nil
        }
    }

    /// A feature's activation at its position (0 where it does not fire); nil for leaves.
    public func activation(of node: TraceNode) throws -> Float? {
        try check(node)
        switch node {
        case .attentionFeature(let l, let p, let f): return activeAttention[l]![p].first { $0.feature == f }?.activation ?? 0
        case .residualFeature(let l, let p, let f): return activeResidual[l]![p].first { $0.feature == f }?.activation ?? 0
        default: return nil
        }
    }

    static func preActivation(_ sae: SAE, input: Tensor, row p: Int, feature f: Int) -> Float {
        let d = sae.config.dIn, n = sae.config.dSAE
        var acc: Double = 0
        input.withUnsafeBufferPointer { x in
            sae.wEnc.contiguous().withUnsafeBufferPointer { w in
                for i in 0..<d { acc += Double(x[p * d + i]) * Double(w[i * n + f]) }
            }
        }
        return Float(acc) + FeatureAttribution.biasTerm(sae, f)
    }

    /// The pattern `A^h[t, s]` of layer `l`.
    public func pattern(layer l: Int, head h: Int, destination t: Int, source s: Int) -> Float { pattern[l][h, t, s] }

    /// The attention score (before softmax) `q_t · k_s / √d_head` of layer `l`, head `h` (−∞ for s > t).
    public func score(layer l: Int, head h: Int, destination t: Int, source s: Int) -> Float { scores[l][h, t, s] }
}

/// A run's SAE errors, each computed once on first use; safe to share between threads (two threads asking at
/// once may both compute it; one result is kept).
final class ErrorStore: Sendable {
    private let store = Mutex<[[Int]: Tensor]>([:])
    func value(residual: Bool, layer: Int, _ compute: () -> Tensor) -> Tensor {
        let key = [residual ? 1 : 0, layer]
        if let t = store.withLock({ $0[key] }) { return t }
        let t = compute()
        return store.withLock { s in
            if let kept = s[key] { return kept }
            s[key] = t
            return t
        }
    }
}
