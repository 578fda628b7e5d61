// Evaluation: the paper's CE-loss-recovered score and sparsity metrics on held-out rows (Docs/Method.md §1.10).
import Tensor
import Transformer
import SparseAutoencoder

/// The reconstruction metrics of Docs/Method.md §1.10 over some token batches.
public struct ReconstructionEvaluation: Sendable, Equatable {
    /// Mean next-token cross-entropy of the unmodified model.
    public let clean: Float
    /// With the site's activation replaced by the SAE's reconstruction everywhere (no error term).
    public let spliced: Float
    /// With the site's activation set to zero everywhere — in the processed model, so the attention
    /// output becomes the processed `b_O` (Docs/Method.md §2.6, decision 7).
    public let zeroAblated: Float
    /// `(zero − spliced) / (zero − clean)`: 1 is a perfect reconstruction.
    public var score: Float { (zeroAblated - spliced) / (zeroAblated - clean) }
    /// `spliced − clean`.
    public var ceDiff: Float { spliced - clean }
}

public enum SAEEvaluation {
    /// Averages each loss over `batches` (each `[batch, pos]`; the mean of the batches' means, as the
    /// reference code does).
    public static func reconstruction(model: GPT2, sae: SAE, batches: [IndexTensor]) throws -> ReconstructionEvaluation {
        precondition(!batches.isEmpty, "evaluation needs at least one batch")
        let splice = try SAESplice(sae: sae)
        var clean: Float = 0, spliced: Float = 0, zero: Float = 0
        for tokens in batches {
            clean += try model.loss(tokens)
            let s = try model.run(tokens, saes: [splice]).model.logits!
            spliced += GPT2.lossPerToken(logits: s, tokens: tokens).mean()
            let z = try model.run(tokens, hooks: [splice.site: Interventions.zeroAblate()]).logits!
            zero += GPT2.lossPerToken(logits: z, tokens: tokens).mean()
        }
        let n = Float(batches.count)
        return ReconstructionEvaluation(clean: clean / n, spliced: spliced / n, zeroAblated: zero / n)
    }

    /// Mean L0 (active features per token) and firing frequencies of `sae` on the tokens' activations.
    public static func sparsity(model: GPT2, sae: SAE, batches: [IndexTensor]) throws -> (l0: Double, frequencies: FeatureFrequencies) {
        let site = try HookName(parsing: sae.config.hookName)
        var counts = [Int](repeating: 0, count: sae.config.dSAE), rows = 0
        for tokens in batches {
            let z = try model.runWithCache(tokens, names: [site])[site]!
            let acts = sae.encode(SAE.flattenHeads(z).reshaped([-1, sae.config.dIn]))
            for (j, c) in FeatureFrequencies.firingCounts(acts).enumerated() { counts[j] += c }
            rows += acts.shape[0]
        }
        let active = counts.reduce(0, +)
        return (rows > 0 ? Double(active) / Double(rows) : 0, FeatureFrequencies(counts: counts, rows: rows))
    }

    /// Table 2's measurements (``reconstruction(model:sae:batches:)`` and ``sparsity(model:sae:batches:)``)
    /// and SAELens's evaluation (``CoreEvaluation``, positions of `ignoredTokens` left out) from one set of
    /// runs per batch: the clean run (its logits and `hook_z`) and the zero-ablated run serve both, then
    /// the SAE spliced everywhere (Table 2) and at the kept positions only (SAELens).
    public static func evaluate(model: GPT2, sae: SAE, batches: [IndexTensor], ignoredTokens: Set<Int>) throws
        -> (reconstruction: ReconstructionEvaluation, l0: Double, frequencies: FeatureFrequencies, core: CoreEvaluation) {
        try evaluate(model: model, saes: [sae], batches: batches, ignoredTokens: ignoredTokens)[0]
    }

    /// ``evaluate(model:sae:batches:ignoredTokens:)`` of several SAEs (any layers and hooks) at once: per
    /// batch one clean run caches every SAE's site and gives the clean logits they share; each SAE then
    /// adds only its own runs (spliced everywhere, spliced at the kept positions), and the SAEs on one site
    /// share its zero-ablated run (an l1 or width sweep pays for it once). Every SAE's numbers equal its
    /// evaluation alone.
    public static func evaluate(model: GPT2, saes: [SAE], batches: [IndexTensor], ignoredTokens: Set<Int>) throws
        -> [(reconstruction: ReconstructionEvaluation, l0: Double, frequencies: FeatureFrequencies, core: CoreEvaluation)] {
        precondition(!batches.isEmpty, "evaluation needs at least one batch")
        let splices = try saes.map { try SAESplice(sae: $0) }
        var cores = zip(saes, splices).map { CoreEvaluation.Sums(sae: $0, site: $1.site, ignoredTokens: ignoredTokens) }
        var clean: Float = 0
        var spliced = [Float](repeating: 0, count: saes.count), zero = [Float](repeating: 0, count: saes.count)
        var counts = saes.map { [Int](repeating: 0, count: $0.config.dSAE) }, rows = [Int](repeating: 0, count: saes.count)
        // The SAEs grouped by site, sites in the order they first appear: one site's zero-ablated logits
        // ([batch, pos, d_vocab]) are alive at a time, however many sites the SAEs cover.
        var sites: [HookName] = [], bySite: [HookName: [Int]] = [:]
        for (k, splice) in splices.enumerated() {
            if bySite[splice.site] == nil { sites.append(splice.site) }
            bySite[splice.site, default: []].append(k)
        }
        for tokens in batches {
            let cleanRun = try model.run(tokens, cache: Set(sites))
            let cleanLogits = cleanRun.logits!
            clean += GPT2.lossPerToken(logits: cleanLogits, tokens: tokens).mean()
            for site in sites {
                // The site's zero-ablated run, shared by the SAEs on it.
                let ablated = try model.run(tokens, hooks: [site: Interventions.zeroAblate()]).logits!
                let ablatedLoss = GPT2.lossPerToken(logits: ablated, tokens: tokens).mean()
                let z = cleanRun.cache[site]!
                for k in bySite[site]! {
                    spliced[k] += GPT2.lossPerToken(logits: try model.run(tokens, saes: [splices[k]]).model.logits!, tokens: tokens).mean()
                    zero[k] += ablatedLoss
                    let acts = saes[k].encode(SAE.flattenHeads(z).reshaped([-1, saes[k].config.dIn]))
                    for (j, c) in FeatureFrequencies.firingCounts(acts).enumerated() { counts[k][j] += c }
                    rows[k] += acts.shape[0]
                    try cores[k].add(model: model, tokens: tokens, cleanLogits: cleanLogits, z: z, ablatedLogits: ablated)
                }
            }
        }
        let n = Float(batches.count)
        return saes.indices.map { k in
            (ReconstructionEvaluation(clean: clean / n, spliced: spliced[k] / n, zeroAblated: zero[k] / n),
             Double(counts[k].reduce(0, +)) / Double(rows[k]), FeatureFrequencies(counts: counts[k], rows: rows[k]), cores[k].result)
        }
    }
}
