// PromptTrace+Terms: the exact split of a feature's value into terms from the nodes below it, with every
// LayerNorm scale and attention pattern frozen at the run's values (Docs/Interp.md#tracing).

import Tensor
import Transformer
import SparseAutoencoder

/// Reads the residual stream before block `layer` (`hook_resid_pre`) at any position along `m` directions
/// `D` `[d_model, m]`, and splits `x[s] · D` into one `[m]` vector per component of `x[s]`: the residual
/// SAE's active features, its error and `b_dec` when it goes through that SAE; otherwise the upstream
/// components — token and position embeddings, every earlier attention layer (its SAE's active features
/// `f_j W_dec[j] W_O`, its error `e W_O` and the constant `b_dec W_O + b_O`, or per head `z_h W_O^h` and
/// `b_O` without an SAE) and every earlier MLP output. The components sum to `x[s]`, so the vectors sum
/// to `x[s] · D` (up to float rounding).
struct ResidualReader {
    let run: PromptTrace
    let layer: Int
    /// `D` `[d_model, m]`.
    let reading: Tensor
    let m: Int
    let residualSAE: ResidualSAE?
    /// Upstream attention layer `l'` → `W_O_flat · D` `[n_heads·d_head, m]`.
    let projected: [Tensor]
    /// Upstream attention layer `l'` → its constant write read along `D`: `(b_O + b_dec W_O) · D` `[m]`.
    let constant: [[Float]]
    /// The residual SAE's `b_dec · D` `[m]`.
    let decoderBias: [Float]?

    init(_ run: PromptTrace, layer: Int, reading: Tensor, throughResidualSAE: Bool) {
        precondition(reading.rank == 2 && reading.shape[0] == run.config.dModel, "reading directions \(reading.shape) are not [d_model, m]")
        self.run = run
        self.layer = layer
        self.reading = reading.contiguous()
        m = reading.shape[1]
        let w = run.weights, c = run.config
        if throughResidualSAE, let r = run.tracer.residual[layer] {
            residualSAE = r
            decoderBias = r.sae.bDec.reshaped([1, c.dModel]).matmul(self.reading).scalars
            projected = []
            constant = []
        } else {
            residualSAE = nil
            decoderBias = nil
            var projected: [Tensor] = [], constant: [[Float]] = []
            for l in 0..<layer {
                let wO = w.blocks[l].wO.reshaped([c.nHeads * c.dHead, c.dModel])
                let p = wO.matmul(self.reading)                                         // [d_in, m]
                var k = w.blocks[l].bO.reshaped([1, c.dModel]).matmul(self.reading)       // [1, m]
                if let a = run.tracer.attention[l] { k = k + a.sae.bDec.reshaped([1, a.sae.config.dIn]).matmul(p) }
                projected.append(p)
                constant.append(k.scalars)
            }
            self.projected = projected
            self.constant = constant
        }
    }

    /// `rows` `[n, k]` times `d` `[k, m]`, row by row.
    static func times(_ rows: Tensor, _ d: Tensor) -> [[Float]] {
        let n = rows.shape[0], m = d.shape[1]
        guard n > 0 else { return [] }
        let out = rows.matmul(d).contiguous()
        return out.withUnsafeBufferPointer { o in (0..<n).map { Array(o[($0 * m)..<(($0 + 1) * m)]) } }
    }

    /// The components of `x[s]` read along `D`: each with its `[m]` vector.
    func contributions(at s: Int) -> [(node: TraceNode, values: [Float])] {
        let c = run.config, w = run.weights
        var out: [(node: TraceNode, values: [Float])] = []
        if let r = residualSAE {
            let active = run.activeResidual[layer]![s]
            if !active.isEmpty {
                let rows = r.sae.wDec.gathering(axis: 0, IndexTensor(active.map(\.feature)))
                for (i, v) in Self.times(rows, reading).enumerated() {
                    let a = active[i].activation
                    out.append((.residualFeature(layer: layer, position: s, feature: active[i].feature), v.map { $0 * a }))
                }
            }
            out.append((.residualError(layer: layer, position: s), Self.times(run.residualError(layer).sliced(axis: 0, s..<(s + 1)), reading)[0]))
            out.append((.bias(kind: .residualDecoder, layer: layer, position: s), decoderBias!))
            return out
        }
        let token = run.tokens[s]
        out.append((.tokenEmbedding(position: s, token: token), Self.times(w.wE.sliced(axis: 0, token..<(token + 1)), reading)[0]))
        if c.positionalEmbedding == .standard {
            out.append((.positionEmbedding(position: s), Self.times(run.positions.sliced(axis: 0, s..<(s + 1)), reading)[0]))
        }
        for l in 0..<layer {
            let zRow = run.z[l].sliced(axis: 0, s..<(s + 1))
            if let a = run.tracer.attention[l] {
                let active = run.activeAttention[l]![s]
                if !active.isEmpty {
                    let rows = a.sae.wDec.gathering(axis: 0, IndexTensor(active.map(\.feature)))
                    for (i, v) in Self.times(rows, projected[l]).enumerated() {
                        let f = active[i].activation
                        out.append((.attentionFeature(layer: l, position: s, feature: active[i].feature), v.map { $0 * f }))
                    }
                }
                out.append((.attentionError(layer: l, position: s), Self.times(run.attentionError(l).sliced(axis: 0, s..<(s + 1)), projected[l])[0]))
            } else {
                let dh = c.dHead
                for h in 0..<c.nHeads {
                    let v = Self.times(zRow.sliced(axis: 1, (h * dh)..<((h + 1) * dh)).contiguous(),
                                       projected[l].sliced(axis: 0, (h * dh)..<((h + 1) * dh)).contiguous())[0]
                    out.append((.head(layer: l, position: s, head: h), v))
                }
            }
            out.append((.bias(kind: .attentionOutput, layer: l, position: s), constant[l]))
            if let mlp = run.mlpOut[l] {
                out.append((.mlp(layer: l, position: s), Self.times(mlp.sliced(axis: 0, s..<(s + 1)), reading)[0]))
            }
        }
        return out
    }
}

extension PromptTrace {
    /// `ln1`'s weight and bias of block `l` (`1` and `0` once folded).
    func ln1(_ l: Int) -> (w: Tensor?, b: Tensor?) { (weights.blocks[l].ln1?.w, weights.blocks[l].ln1?.b) }

    /// `P(w ⊙ v)` for each column `v` of `m` `[d_model, k]` (`P` removes the mean over d_model): the
    /// direction that reads `LN(x) · v` off `x`, up to the frozen scale `1/σ`.
    func lnReading(_ m: Tensor, layer l: Int) -> Tensor {
        let dm = config.dModel
        var r = m
        if let w = ln1(l).w { r = r * w.reshaped([dm, 1]) }
        return (r - r.mean(axis: 0, keepingAxis: true)).contiguous()
    }

    /// The exact split of a feature's value (``value(of:)``) into terms, every one of them (unsorted;
    /// ``TraceGraph`` keeps the largest). With every LayerNorm scale σ and attention pattern A frozen:
    ///
    /// - an attention feature (l, t, j): `Σ_h Σ_{s≤t} A^h[t,s] · (LN1(x_l[s]) W_V^h + b_V^h) · W_enc[h, j] + b_enc[j] − b_dec · W_enc[:, j]`,
    ///   with `LN1(x) = P(x)/σ ⊙ w + b` split over the components of `x_l[s]` (the residual SAE of layer l's
    ///   features, error and `b_dec` when there is one; else the upstream components), each term carrying
    ///   its split over heads;
    /// - a residual feature (l, s, k): `(x_l[s] − b_dec) · W_enc[:, k] + b_enc[k]` split over the upstream
    ///   components of `x_l[s]`.
    ///
    /// The terms sum to the value up to float rounding.
    /// - Throws: ``TraceError`` for a node outside the run, or a leaf.
    public func terms(of node: TraceNode) throws -> [TraceTerm] {
        try check(node)
        switch node {
        case .attentionFeature(let l, let t, let j): return attentionTerms(layer: l, destination: t, feature: j)
        case .residualFeature(let l, let s, let k): return residualTerms(layer: l, position: s, feature: k)
        default: throw TraceError.notExpandable(node: node.description)
        }
    }

    private func attentionTerms(layer l: Int, destination t: Int, feature j: Int) -> [TraceTerm] {
        let c = config, nh = c.nHeads, dh = c.dHead, dm = c.dModel
        let sae = tracer.attention[l]!.sae
        let column = FeatureAttribution.encoderColumn(sae, j)                     // [n_heads·d_head]
        let block = weights.blocks[l]
        // v_h = W_V^h · W_enc[h, j] [d_model] for every head: D = P(w ⊙ v_h) [d_model, n_heads].
        let e = column.reshaped([nh, 1, dh])
        let raw = (block.wV * e).sum(axis: -1).transposed(0, 1).contiguous()                  // [d_model, n_heads]
        // The value side's constant per head: (ln1.b · W_V^h + b_V^h) · W_enc[h, j].
        var constantTensor = (block.bV * e.reshaped([nh, dh])).sum(axis: -1)                 // [n_heads]
        if let b = ln1(l).b { constantTensor = constantTensor + b.reshaped([1, dm]).matmul(raw).reshaped([nh]) }
        let valueConstant = constantTensor.scalars
        let reader = ResidualReader(self, layer: l, reading: lnReading(raw, layer: l), throughResidualSAE: true)
        var sums: [TraceNode: [Float]] = [:]
        var valueBias = [Float](repeating: 0, count: nh)
        for s in 0...t {
            let a = (0..<nh).map { pattern[l][$0, t, s] }
            let inverseScale = 1 / scale[l][s]
            for (node, v) in reader.contributions(at: s) {
                var heads = sums[node] ?? [Float](repeating: 0, count: nh)
                for h in 0..<nh { heads[h] += a[h] * inverseScale * v[h] }
                sums[node] = heads
            }
            for h in 0..<nh { valueBias[h] += a[h] * valueConstant[h] }
        }
        var terms = sums.map { TraceTerm(source: $0.key, value: $0.value.reduce(0, +), heads: $0.value) }
        terms.append(TraceTerm(source: .bias(kind: .value, layer: l, position: t), value: valueBias.reduce(0, +), heads: valueBias))
        terms.append(TraceTerm(source: .bias(kind: .attentionEncoder, layer: l, position: t), value: FeatureAttribution.biasTerm(sae, j)))
        return terms
    }

    private func residualTerms(layer l: Int, position s: Int, feature k: Int) -> [TraceTerm] {
        let sae = tracer.residual[l]!.sae
        let reader = ResidualReader(self, layer: l, reading: FeatureAttribution.encoderColumn(sae, k).reshaped([config.dModel, 1]), throughResidualSAE: false)
        var terms = reader.contributions(at: s).map { TraceTerm(source: $0.node, value: $0.values[0]) }
        terms.append(TraceTerm(source: .bias(kind: .residualEncoder, layer: l, position: s), value: FeatureAttribution.biasTerm(sae, k)))
        return terms
    }
}
