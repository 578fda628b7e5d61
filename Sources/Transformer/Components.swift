// Components: the pieces of a GPT-2 forward pass — embeddings, layer norm, attention, MLP, unembed —
// each firing its TransformerLens hook points.

import Foundation
import Tensor

enum Components {
    /// The residual stream's start and the positions attention reads.
    struct Embedded {
        /// `resid_pre` of block 0 `[batch, pos, d_model]`: `hook_embed + hook_pos_embed` (standard), or
        /// `hook_embed` alone (shortformer).
        var residual: Tensor
        /// Shortformer only: `hook_pos_embed`, added to every attention's query and key inputs.
        var shortformerPositions: Tensor?
    }

    /// `hook_embed` `W_E[tokens]` and `hook_pos_embed` `W_pos[0..<pos]`, both `[batch, pos, d_model]`.
    static func embed(_ w: GPT2Weights, _ tokens: IndexTensor, _ ctx: inout HookContext) throws -> Embedded {
        let batch = tokens.shape[0], pos = tokens.shape[1]
        let e = try ctx.fire(.embed, w.wE.gathering(axis: 0, tokens))
        let p = try ctx.fire(.posEmbed, w.wPos.sliced(axis: 0, 0..<pos).expanded(to: [batch, pos, w.config.dModel]).contiguous())
        switch w.config.positionalEmbedding {
        case .standard: return Embedded(residual: e + p, shortformerPositions: nil)
        case .shortformer: return Embedded(residual: e, shortformerPositions: p)
        }
    }

    /// TransformerLens LayerNorm / LNPre over the last axis, firing `hook_scale` `[..., 1]` and
    /// `hook_normalized` = `(x − mean) / scale` — in TransformerLens the norm's weight and bias are
    /// applied *after* `hook_normalized` (when the norm has not been folded).
    static func layerNorm(_ x: Tensor, _ w: LayerNormWeights?, eps: Float, scale scaleHook: HookName,
                          normalized normHook: HookName, _ ctx: inout HookContext) throws -> Tensor {
        let normalized: Tensor
        if !ctx.hasEdit(scaleHook) {
            let (n, s) = x.layerNormWithScale(eps: eps)
            if ctx.wants(scaleHook) { _ = try ctx.fire(scaleHook, s) }
            normalized = try ctx.fire(normHook, n)
        } else {
            // An edited scale must be the one that divides, as in TransformerLens.
            let centered = x - x.mean(axis: -1, keepingAxis: true)
            let scale = try ctx.fire(scaleHook, (centered.squared().mean(axis: -1, keepingAxis: true) + eps).sqrt())
            normalized = try ctx.fire(normHook, centered / scale)
        }
        guard let w else { return normalized }
        return normalized * w.w + w.b
    }

    /// `x [batch, pos, d_in] · W [d_in, d_out] + b`, the bias fused into the product.
    static func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor) -> Tensor { Tensor.affine(x, w, b) }

    /// Multi-head causal self-attention of block `l`, firing q, k, v `[batch, pos, head_index, d_head]`,
    /// attn_scores and pattern `[batch, head_index, query_pos, key_pos]`, z and hook_attn_out.
    /// `positions` (shortformer) is added to the queries' and keys' input `x` (values read `x` alone).
    static func attention(_ x: Tensor, positions: Tensor?, _ b: BlockWeights, _ c: GPT2Config, layer l: Int, _ ctx: inout HookContext) throws -> Tensor {
        let batch = x.shape[0], pos = x.shape[1], nh = c.nHeads, dh = c.dHead
        let qkInput = positions.map { x + $0 } ?? x
        // W_Q [n_heads, d_model, d_head] → [d_model, n_heads·d_head] (head-major columns).
        func project(_ input: Tensor, _ w: Tensor, _ bias: Tensor) -> Tensor {
            let packed = w.permuted([1, 0, 2]).reshaped([c.dModel, nh * dh])
            return linear(input, packed, bias.reshaped([nh * dh])).reshaped([batch, pos, nh, dh])
        }
        let q = try ctx.fire(.q(l), project(qkInput, b.wQ, b.bQ))
        let k = try ctx.fire(.k(l), project(qkInput, b.wK, b.bK))
        let v = try ctx.fire(.v(l), project(x, b.wV, b.bV))
        // [batch, head_index, query_pos, key_pos] = q·kᵀ / sqrt(d_head) (the scale folded into the product).
        var scores = Tensor.matmul(q.permuted([0, 2, 1, 3]), k.permuted([0, 2, 1, 3]), transposeB: true, alpha: 1 / c.attnScale)
        var pattern: Tensor
        if ctx.wants(.attnScores(l)) {
            // As TransformerLens: future keys at −∞ in the hook, softmax over whatever the hook returns,
            // NaN (a row with every key masked) → 0.
            scores.withUnsafeMutableBufferPointer { s in
                for m in 0..<(batch * nh) {
                    let base = m * pos * pos
                    for i in 0..<pos { for j in (i + 1)..<max(pos, i + 1) { s[base + i * pos + j] = -.infinity } }
                }
            }
            scores = try ctx.fire(.attnScores(l), scores)
            pattern = scores.softmax(axis: -1)
            pattern.update { $0.isNaN ? 0 : $0 }
        } else {
            // Same values in one pass: masked entries come out exactly 0 and no row is empty.
            pattern = scores.softmax(mask: .causal)
        }
        pattern = try ctx.fire(.pattern(l), pattern)
        let z = try ctx.fire(.z(l), Tensor.matmul(pattern, v.permuted([0, 2, 1, 3])).permuted([0, 2, 1, 3]).contiguous())
        let out = linear(z.reshaped([batch, pos, nh * dh]), b.wO.reshaped([nh * dh, c.dModel]), b.bO)
        return try ctx.fire(.attnOut(l), out)
    }

    /// The MLP of block `l`: `act(x·W_in + b_in)·W_out + b_out` (`act` = `act_fn`, GPT-2's `gelu_new`
    /// by default), firing pre, post and mlp_out.
    static func mlp(_ x: Tensor, _ b: BlockWeights, _ c: GPT2Config, layer l: Int, _ ctx: inout HookContext) throws -> Tensor {
        let pre = try ctx.fire(.mlpPre(l), linear(x, b.wIn, b.bIn))
        let activated = switch c.actFn {
        case .geluNew: pre.gelu()
        case .gelu: pre.geluExact()
        case .relu: pre.relu()
        }
        let post = try ctx.fire(.mlpPost(l), activated)
        return try ctx.fire(.mlpOut(l), linear(post, b.wOut, b.bOut))
    }

    /// One block: `resid_mid = resid_pre + attn(ln1(resid_pre))`, `resid_post = resid_mid + mlp(ln2(resid_mid))`
    /// (attention-only: `resid_post = resid_pre + attn(ln1(resid_pre))`); shortformer `positions` join the
    /// attention's query and key inputs after `ln1`.
    static func block(_ residPre: Tensor, positions: Tensor?, _ b: BlockWeights, _ c: GPT2Config, layer l: Int, _ ctx: inout HookContext) throws -> Tensor {
        let resid = try ctx.fire(.residPre(l), residPre)
        let n1 = try layerNorm(resid, b.ln1, eps: c.eps, scale: .ln1Scale(l), normalized: .ln1Normalized(l), &ctx)
        let attnOut = try attention(n1, positions: positions, b, c, layer: l, &ctx)
        if c.attnOnly { return try ctx.fire(.residPost(l), resid + attnOut) }
        let mid = try ctx.fire(.residMid(l), resid + attnOut)
        let n2 = try layerNorm(mid, b.ln2, eps: c.eps, scale: .ln2Scale(l), normalized: .ln2Normalized(l), &ctx)
        return try ctx.fire(.residPost(l), mid + (try mlp(n2, b, c, layer: l, &ctx)))
    }

    /// Final layer norm and unembedding: logits `[batch, pos, d_vocab]`.
    static func unembed(_ resid: Tensor, _ w: GPT2Weights, _ ctx: inout HookContext) throws -> Tensor {
        let n = try layerNorm(resid, w.lnFinal, eps: w.config.eps, scale: .lnFinalScale, normalized: .lnFinalNormalized, &ctx)
        let x = try ctx.fire(.unembedIn, n)
        return try ctx.fire(.unembedOut, linear(x, w.wU, w.bU))
    }
}
