// SAEAnalysis: what the sections that analyse an attention SAE share — the SAE, the held-out rows they
// run on, which heads count as induction heads, and the induction-feature search, done once.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// An attention SAE under analysis, shared by the sections of one run (a class: the induction-feature
/// search runs once, whichever section asks first).
public final class SAEAnalysis {
    public let sae: AttentionSAE
    /// Held-out token rows `[rows, 128]` the analyses run on.
    public let rows: IndexTensor
    /// Heads of the SAE's layer whose decoder-norm share counts as "induction".
    public let inductionHeads: [Int]
    private var search: InductionSearch?

    public init(sae: AttentionSAE, rows: IndexTensor, inductionHeads: [Int]) {
        self.sae = sae; self.rows = rows; self.inductionHeads = inductionHeads
    }

    /// The analysis of `sae` on `rows` held-out rows of the workspace. Induction heads: `inductionHeads`
    /// when given, else the planted model's of the SAE's layer, else (any other model) the heads of the
    /// layer whose induction score on repeated random tokens (``Induction/headScores(model:layer:bos:length:batch:seed:)``)
    /// is at least 0.4.
    public convenience init(_ workspace: Workspace, sae: AttentionSAE, rows: Int, inductionHeads: [Int]? = nil) throws {
        var heads = inductionHeads ?? workspace.model.inductionHeads(layer: sae.layer)
        if inductionHeads == nil && !workspace.model.isPlanted {
            let scores = try Induction.headScores(model: workspace.model.model, layer: sae.layer, bos: workspace.tokenizer.endOfTextID,
                                                  length: min(50, (workspace.model.model.config.nCtx - 1) / 2))
            heads = scores.indices.filter { scores[$0] >= 0.4 }
            workspace.log("induction heads of layer \(sae.layer) (score ≥ 0.4 on repeated random tokens): "
                          + (heads.isEmpty ? "none" : heads.map { "\(sae.layer).\($0) (\(String(format: "%.2f", scores[$0])))" }.joined(separator: ", ")))
        }
        self.init(sae: sae, rows: try workspace.heldOutRows(rows), inductionHeads: heads)
    }

    /// Every feature scored as an induction feature (the planted-model generalisation of Docs/Method.md §3.1), computed on first use.
    public func inductionSearch(_ workspace: Workspace) throws -> InductionSearch {
        if let search { return search }
        workspace.log("scoring every feature as an induction feature on \(rows.shape[0]) held-out rows")
        let start = Date()
        let scores = try InductionFeatures.score(model: workspace.model.model, sae: sae, tokens: rows, inductionHeads: inductionHeads)
        let found = InductionSearch(scores: scores, seconds: Date().timeIntervalSince(start))
        search = found
        return found
    }
}

/// The induction-feature test's scores of every feature that fires, ranked.
public struct InductionSearch: Sendable {
    public let scores: [InductionFeatureScore]
    /// Features that pass the test, in descending specificity × sensitivity.
    public let passing: [InductionFeatureScore]
    /// Every feature seen at ≥ 5 narrow induction positions (passing or not), in the same order.
    public let candidates: [InductionFeatureScore]
    /// Time the scoring took.
    public let seconds: Double

    public init(scores: [InductionFeatureScore], seconds: Double = 0) {
        func order(_ a: InductionFeatureScore, _ b: InductionFeatureScore) -> Bool { a.specificity * a.sensitivity > b.specificity * b.sensitivity }
        self.scores = scores
        passing = scores.filter { $0.isInduction() }.sorted(by: order)
        candidates = scores.filter { $0.narrowPositions >= 5 }.sorted(by: order)
        self.seconds = seconds
    }

    /// The best induction feature: the first that passes, else the best candidate.
    public var best: InductionFeatureScore? { passing.first ?? candidates.first }
}
