// Attribution: direct logit attribution per head and component, logit differences, and DFA from model runs.
import Tensor
import Transformer
import SparseAutoencoder

/// A direction in logit space: `logit[a] − logit[b]` for each prompt (e.g. IO − S in IOI).
public struct LogitDifference: Sendable {
    public let answer: [Int]
    public let other: [Int]
    /// The position whose logits are read, per prompt.
    public let position: [Int]
    public init(answer: [Int], other: [Int], position: [Int]) {
        precondition(answer.count == other.count && answer.count == position.count)
        self.answer = answer
        self.other = other
        self.position = position
    }

    /// The logit differences `[prompts]` read from logits `[batch, pos, d_vocab]`.
    public func values(_ logits: Tensor) -> [Float] {
        answer.indices.map { i in logits[i, position[i], answer[i]] - logits[i, position[i], other[i]] }
    }
}

/// Direct logit attribution (Docs/Deviations.md #11: divided by the **final** layer norm's scale from the
/// same run, which makes it exact for a processed model).
public struct DirectLogitAttribution: Sendable {
    /// `[layer][prompt, head]`: `z_h · W_O[h] · (W_U[:, a] − W_U[:, b]) / scale`.
    public let heads: [Tensor]
    /// `[layer][prompt]`: the attention output bias `b_O` along the direction.
    public let attentionBias: [Tensor]
    /// `[layer][prompt]`: the MLP output along the direction.
    public let mlp: [Tensor]
    /// `[prompt]`: token and positional embeddings along the direction.
    public let embeddings: Tensor
    /// `[prompt]`: `b_U[a] − b_U[b]`.
    public let unembedBias: Tensor

    /// The sum of every component: equals the logit difference for a model with processed weights
    /// (centred writing weights, LN folded), since its residual stream has zero mean.
    public var total: Tensor {
        var t = embeddings + unembedBias
        for l in heads.indices { t = t + heads[l].sum(axis: 1) + attentionBias[l] + mlp[l] }
        return t
    }

    /// Runs `model` on `tokens` and attributes `direction` to every head, bias and MLP.
    public static func compute(model: GPT2, tokens: IndexTensor, direction: LogitDifference) throws -> DirectLogitAttribution {
        let c = model.config, w = model.weights
        var names: Set<HookName> = [.embed, .posEmbed, .lnFinalScale]
        for l in 0..<c.nLayers { names.formUnion(c.attnOnly ? [.z(l)] : [.z(l), .mlpOut(l)]) }
        let out = try model.run(tokens, cache: names)
        let prompts = direction.answer.count
        // Per prompt: the unembedding direction divided by that position's final scale, [prompt, d_model].
        let scale = out.cache[.lnFinalScale]!
        let dirs = Tensor.stack((0..<prompts).map { i in
            (w.wU.selecting(axis: 1, direction.answer[i]) - w.wU.selecting(axis: 1, direction.other[i])) / scale[i, direction.position[i], 0]
        })
        func along(_ t: Tensor) -> Tensor {    // [batch, pos, d_model] → [prompt]
            Tensor(direction.position.indices.map { i in (t.selecting(axis: 0, i).selecting(axis: 0, direction.position[i]) * dirs.selecting(axis: 0, i)).sum() })
        }
        var heads: [Tensor] = [], bias: [Tensor] = [], mlp: [Tensor] = []
        for l in 0..<c.nLayers {
            let z = out.cache[.z(l)]!
            var perHead: [Float] = []
            for i in 0..<prompts {
                let zi = z.selecting(axis: 0, i).selecting(axis: 0, direction.position[i])      // [n_heads, d_head]
                let d = dirs.selecting(axis: 0, i)
                for h in 0..<c.nHeads {
                    let headOut = zi.selecting(axis: 0, h).reshaped([1, c.dHead]).matmul(w.blocks[l].wO.selecting(axis: 0, h))
                    perHead.append((headOut.reshaped([c.dModel]) * d).sum())
                }
            }
            heads.append(Tensor(shape: [prompts, c.nHeads], scalars: perHead))
            bias.append(Tensor((0..<prompts).map { (w.blocks[l].bO * dirs.selecting(axis: 0, $0)).sum() }))
            mlp.append(c.attnOnly ? Tensor(zeros: [prompts]) : along(out.cache[.mlpOut(l)]!))      // attention-only: no MLP
        }
        // Shortformer positions never enter the residual stream: only the token embedding is direct.
        let embeddings = along(c.positionalEmbedding == .shortformer ? out.cache[.embed]! : out.cache[.embed]! + out.cache[.posEmbed]!)
        let unembedBias = Tensor((0..<prompts).map { w.bU[direction.answer[$0]] - w.bU[direction.other[$0]] })
        return DirectLogitAttribution(heads: heads, attentionBias: bias, mlp: mlp, embeddings: embeddings, unembedBias: unembedBias)
    }
}

extension FeatureAttribution {
    /// DFA by source position of `feature` from a model run (Docs/Method.md §2.4): the SAE layer's `hook_pattern`
    /// and `hook_v` feed ``FeatureAttribution/dfaBySource(pattern:v:encoderColumn:)``. Returns
    /// `[batch, query_pos, key_pos]`; adding ``FeatureAttribution/biasTerm(_:_:)`` to its sum over
    /// `key_pos` gives the feature's pre-activation.
    public static func dfaBySource(model: GPT2, sae: SAE, tokens: IndexTensor, feature: Int) throws -> Tensor {
        let site = try HookName(parsing: sae.config.hookName)
        guard let layer = site.layer else { throw TransformerError.unknownHook(sae.config.hookName) }
        let cache = try model.runWithCache(tokens, names: [.pattern(layer), .v(layer)])
        return dfaBySource(pattern: cache[.pattern(layer)]!, v: cache[.v(layer)]!, encoderColumn: encoderColumn(sae, feature))
    }
}
