// GPT2: the model — weights plus the forward pass, with caching, scoped hooks and the loss.

import Foundation
import Tensor

/// A GPT-2-architecture model: its weights and the forward pass (nothing else: loading, weight
/// processing and tokenization live in their own files and types).
///
/// ```swift
/// let model = GPT2(weights: try GPT2Weights.load(hdf5: "planted.h5"))
/// let out = try model.run(tokens, cache: [.z(1)], stopAtLayer: 2)   // blocks 0 and 1 only
/// let z = out.cache[.z(1)]!                                          // [batch, pos, n_heads, d_head]
/// ```
public struct GPT2: Sendable {
    public let weights: GPT2Weights
    public var config: GPT2Config { weights.config }

    public init(weights: GPT2Weights) { self.weights = weights }

    /// The result of ``run(_:cache:hooks:stopAtLayer:)``.
    public struct Output: Sendable {
        /// Logits `[batch, pos, d_vocab]`; nil when the run stopped early.
        public let logits: Tensor?
        /// The residual stream where the run ended `[batch, pos, d_model]` (before `ln_final`).
        public let residual: Tensor
        public let cache: ActivationCache
    }

    /// Runs the model on `tokens` `[batch, pos]`.
    ///
    /// - Parameters:
    ///   - cache: hook points whose activations to keep (after any edit at that point).
    ///   - hooks: functions that read or replace activations, for this call only.
    ///   - stopAtLayer: run only blocks `0..<stopAtLayer` (TransformerLens `stop_at_layer`) and return
    ///     the residual stream there, with no logits — also for `stopAtLayer == n_layers`, which gives
    ///     the final residual without the unembedding (read chosen logits with ``unembed(_:)``).
    /// - Throws: ``TransformerError`` for invalid tokens, a hook edit of the wrong shape, or a
    ///   requested hook that did not fire (e.g. beyond the stop layer); errors thrown by hooks.
    public func run(_ tokens: IndexTensor, cache: Set<HookName> = [], hooks: [HookName: HookFunction] = [:],
                    stopAtLayer: Int? = nil) throws -> Output {
        try validate(tokens)
        let stop = stopAtLayer ?? config.nLayers
        guard stop >= 0 && stop <= config.nLayers else {
            throw TransformerError.invalidTokens("stop layer \(stop) is outside 0...\(config.nLayers)")
        }
        var ctx = HookContext(cacheNames: cache, edits: hooks)
        let (resid, logits) = try forward(tokens, blocks: stop, unembed: stopAtLayer == nil, &ctx)
        try ctx.checkAllFired(config)
        return Output(logits: logits, residual: resid, cache: ctx.cache)
    }

    /// Embeddings, blocks `0..<blocks`, and the unembedding when asked.
    private func forward(_ tokens: IndexTensor, blocks: Int, unembed: Bool, _ ctx: inout HookContext) throws -> (residual: Tensor, logits: Tensor?) {
        let embedded = try Components.embed(weights, tokens, &ctx)
        var resid = embedded.residual
        for l in 0..<blocks {
            resid = try Components.block(resid, positions: embedded.shortformerPositions, weights.blocks[l], config, layer: l, &ctx)
        }
        return (resid, unembed ? try Components.unembed(resid, weights, &ctx) : nil)
    }

    /// The final layer norm and unembedding of residual-stream vectors `[..., d_model]` → logits
    /// `[..., d_vocab]`, without hooks: with a run stopped at `n_layers`, the logits of chosen
    /// positions only (e.g. the last token of each prompt), at a fraction of the full unembedding's cost.
    public func unembed(_ residual: Tensor) -> Tensor {
        precondition(residual.shape.last == config.dModel, "unembed needs [..., \(config.dModel)], got \(residual.shape)")
        var ctx = HookContext(cacheNames: [], edits: [:])
        return try! Components.unembed(residual, weights, &ctx)    // no hooks: nothing can throw
    }

    /// Runs only as far as the requested hooks need — it stops right after the last of them fires
    /// (e.g. after `blocks.5.attn.hook_z`, without block 5's MLP) — and returns the cache.
    /// ``runWithCache(_:names:)`` of the hooks `namesFilter` accepts among the model's (TransformerLens's
    /// `names_filter` as a predicate), e.g. `{ $0.description.hasSuffix("hook_z") }`.
    public func runWithCache(_ tokens: IndexTensor, namesFilter: (HookName) -> Bool) throws -> ActivationCache {
        try runWithCache(tokens, names: Set(HookName.all(config).filter(namesFilter)))
    }

    public func runWithCache(_ tokens: IndexTensor, names: Set<HookName>) throws -> ActivationCache {
        try validate(tokens)
        for h in names where (h.layer ?? 0) >= config.nLayers { throw TransformerError.hookLayerOutOfRange(hook: h.description, nLayers: config.nLayers) }
        guard let last = HookName.all(config).last(where: names.contains) else {
            try HookContext(cacheNames: names, edits: [:]).checkAllFired(config)      // names this model does not have
            return ActivationCache()
        }
        var ctx = HookContext(cacheNames: names, edits: [:], stopAfter: last)
        do {
            _ = try forward(tokens, blocks: config.nLayers, unembed: true, &ctx)
        } catch is HookContext.EarlyStop {}
        try ctx.checkAllFired(config)
        return ctx.cache
    }

    /// Logits `[batch, pos, d_vocab]`.
    public func logits(_ tokens: IndexTensor) throws -> Tensor { try run(tokens).logits! }

    /// −log p(token[t+1] | tokens ≤ t) for every position but the last: `[batch, pos − 1]`.
    public func lossPerToken(_ tokens: IndexTensor) throws -> Tensor {
        GPT2.lossPerToken(logits: try logits(tokens), tokens: tokens)
    }

    /// The mean of ``lossPerToken(_:)`` over batch and positions.
    public func loss(_ tokens: IndexTensor) throws -> Float { try lossPerToken(tokens).mean() }

    /// Per-token next-token cross-entropy from logits `[batch, pos, d_vocab]` and the tokens `[batch, pos]`.
    public static func lossPerToken(logits: Tensor, tokens: IndexTensor) -> Tensor {
        let batch = tokens.shape[0], pos = tokens.shape[1], vocab = logits.shape[2]
        precondition(logits.shape == [batch, pos, vocab], "logits \(logits.shape) do not match tokens \(tokens.shape)")
        let l = logits.contiguous()
        return l.withUnsafeBufferPointer { p in
            Tensor(shape: [batch, max(pos - 1, 0)]) { out in
                for bi in 0..<batch {
                    for t in 0..<max(pos - 1, 0) {
                        let row = p.baseAddress! + (bi * pos + t) * vocab
                        var m = -Float.infinity
                        for i in 0..<vocab { m = max(m, row[i]) }
                        var s: Double = 0
                        for i in 0..<vocab { s += Double(Foundation.exp(row[i] - m)) }
                        let target = tokens.values[bi * pos + t + 1]
                        out[bi * (pos - 1) + t] = -(row[target] - m - Float(Foundation.log(s)))
                    }
                }
            }
        }
    }

    private func validate(_ tokens: IndexTensor) throws {
        guard tokens.rank == 2 else { throw TransformerError.invalidTokens("expected [batch, pos], got shape \(tokens.shape)") }
        guard tokens.shape[1] >= 1, tokens.shape[1] <= config.nCtx else {
            throw TransformerError.invalidTokens("\(tokens.shape[1]) positions; the model takes 1...\(config.nCtx)")
        }
        if let bad = tokens.values.first(where: { $0 < 0 || $0 >= config.dVocab }) {
            throw TransformerError.invalidTokens("token id \(bad) is outside 0..<\(config.dVocab)")
        }
    }
}
