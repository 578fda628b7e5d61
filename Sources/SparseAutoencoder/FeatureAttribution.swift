// FeatureAttribution: the paper's attribution maths on plain tensors (no model import): DFA by
// source position and by head, decoder-norm head attribution, and feature logit effects.
import Tensor

/// Attribution of SAE features to source positions, heads and output tokens (Docs/Method.md §2.3–§2.7).
/// All functions take the tensors they need, so `SparseAutoencoder` stays independent of the model;
/// `Interp` feeds them from model runs.
public enum FeatureAttribution {
    /// The encoder column of feature `f`: `W_enc[:, f]`, `[d_in]`.
    public static func encoderColumn(_ sae: SAE, _ f: Int) -> Tensor {
        precondition(f >= 0 && f < sae.config.dSAE, "feature \(f) is out of range 0..<\(sae.config.dSAE)")
        return sae.wEnc.selecting(axis: 1, f).contiguous()
    }

    /// The input-independent part of feature `f`'s pre-activation: `b_enc[f] − b_dec · W_enc[:, f]`
    /// (just `b_enc[f]` when the SAE does not subtract `b_dec` from its input).
    public static func biasTerm(_ sae: SAE, _ f: Int) -> Float {
        let b = sae.bEnc[f]
        guard sae.config.applyBDecToInput else { return b }
        return b - (sae.bDec * encoderColumn(sae, f)).sum()
    }

    /// Direct feature attribution by source position (§2.4):
    /// `DFA[b, q, k] = Σ_h Σ_d pattern[b, h, q, k] · v[b, k, h, d] · W_enc[h·d_head + d, f]`.
    ///
    /// - Parameters:
    ///   - pattern: `hook_pattern` `[batch, n_heads, query_pos, key_pos]`.
    ///   - v: `hook_v` `[batch, key_pos, n_heads, d_head]` of the processed model (no value bias).
    ///   - encoderColumn: `W_enc[:, f]` `[n_heads·d_head]`, head-major.
    /// - Returns: `[batch, query_pos, key_pos]`. Summed over `key_pos` it is `z · W_enc[:, f]` exactly
    ///   (up to rounding); adding ``biasTerm(_:_:)`` gives the pre-activation.
    public static func dfaBySource(pattern: Tensor, v: Tensor, encoderColumn w: Tensor) -> Tensor {
        let (b, h, q, k) = (pattern.shape[0], pattern.shape[1], pattern.shape[2], pattern.shape[3])
        precondition(pattern.rank == 4 && v.rank == 4 && v.shape[0] == b && v.shape[1] == k && v.shape[2] == h,
                     "pattern \(pattern.shape) and v \(v.shape) do not match")
        let dh = v.shape[3]
        precondition(w.shape == [h * dh], "encoder column \(w.shape) is not [n_heads·d_head] = [\(h * dh)]")
        // vw[b, k, h] = Σ_d v[b, k, h, d] · w[h, d]
        let vw = (v * w.reshaped([h, dh])).sum(axis: -1)
        // DFA[b, q, k] = Σ_h pattern[b, h, q, k] · vw[b, k, h]
        let weighted = pattern * vw.permuted([0, 2, 1]).reshaped([b, h, 1, k])
        precondition(weighted.shape == [b, h, q, k])
        return weighted.sum(axis: 1)
    }

    /// DFA by source position at one destination for several features (§2.4): for one row's
    /// `pattern` `[1, n_heads, pos, pos]` and `v` `[1, pos, n_heads, d_head]`, destination `t` and the
    /// features' encoder rows `W_enc[:, F]ᵀ` `[m, n_heads·d_head]`,
    /// `U[s, (h, d)] = pattern[h, t, s] · v[s, h, d]` for `s ≤ t` and `DFA = U · W_enc[:, F]`, `[t+1, m]` —
    /// one product over only the sources that can attend (the dashboards' batched form of
    /// ``dfaBySource(pattern:v:encoderColumn:)``).
    public static func dfaBySource(pattern: Tensor, v: Tensor, destination t: Int, encoderRows: Tensor) -> Tensor {
        let (nh, pos) = (pattern.shape[1], pattern.shape[3])
        let dh = v.shape[3], dIn = nh * dh
        precondition(pattern.rank == 4 && pattern.shape[0] == 1 && v.shape == [1, pos, nh, dh] && t >= 0 && t < pos
                     && encoderRows.rank == 2 && encoderRows.shape[1] == dIn,
                     "pattern \(pattern.shape), v \(v.shape), destination \(t) and encoder rows \(encoderRows.shape) do not match")
        let vRows = v.reshaped([pos, dIn]).contiguous(), p = pattern.contiguous()
        let u = Tensor(shape: [t + 1, dIn], unsafeUninitialized: { u in
            vRows.withUnsafeBufferPointer { vp in
                p.withUnsafeBufferPointer { pp in
                    for s in 0...t {
                        for h in 0..<nh {
                            let w = pp[h * pos * pos + t * pos + s]
                            for d in 0..<dh { u[s * dIn + h * dh + d] = w * vp[s * dIn + h * dh + d] }
                        }
                    }
                }
            }
        })
        return Tensor.matmul(u, encoderRows, transposeB: true)
    }

    /// Direct feature attribution by head (§2.5): `z_h · W_enc[h·d_head ..< (h+1)·d_head, f]`.
    /// `z` is `hook_z` `[..., n_heads, d_head]`; the result is `[..., n_heads]` and sums over heads to
    /// `z · W_enc[:, f]`.
    public static func dfaByHead(z: Tensor, encoderColumn w: Tensor) -> Tensor {
        let h = z.shape[z.rank - 2], dh = z.shape[z.rank - 1]
        precondition(w.shape == [h * dh], "encoder column \(w.shape) is not [n_heads·d_head] = [\(h * dh)]")
        return (z * w.reshaped([h, dh])).sum(axis: -1)
    }

    /// Decoder-norm head attribution (§2.3): for every feature, `‖W_dec[f, head block h]‖ / Σ_h' ‖…‖`.
    /// Returns `[d_sae, n_heads]`; each row sums to 1 (a feature whose decoder row is zero gets zeros).
    public static func decoderHeadAttribution(_ sae: SAE, layout: HeadLayout) -> Tensor {
        precondition(layout.width == sae.config.dIn, "head layout \(layout) does not match d_in \(sae.config.dIn)")
        let norms = sae.wDec.reshaped([sae.config.dSAE, layout.nHeads, layout.dHead]).l2Norm(axis: -1)
        let total = norms.sum(axis: -1, keepingAxis: true)
        return Tensor.elementwise(norms, total) { $1 > 0 ? $0 / $1 : 0 }
    }

    /// Feature logit effects (§2.7): `W_dec[f] · W_O_cat · W_U` for each feature in `features`, with
    /// `W_O` `[n_heads, d_head, d_model]` of the SAE's layer (flattened head-major) and `W_U`
    /// `[d_model, d_vocab]` of the processed model. No layer-norm scale, no bias. Returns
    /// `[features.count, d_vocab]`.
    public static func logitEffects(_ sae: SAE, features: [Int], wO: Tensor, wU: Tensor) -> Tensor {
        let dm = wO.shape[2]
        precondition(wO.rank == 3 && wO.shape[0] * wO.shape[1] == sae.config.dIn && wU.shape[0] == dm,
                     "W_O \(wO.shape) / W_U \(wU.shape) do not fit d_in \(sae.config.dIn)")
        let rows = sae.wDec.gathering(axis: 0, IndexTensor(features))            // [k, d_in]
        return rows.matmul(wO.reshaped([sae.config.dIn, dm])).matmul(wU)        // [k, d_vocab]
    }
}
