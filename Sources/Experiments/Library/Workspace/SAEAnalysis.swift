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

    /// The analysis of `sae` on `rows` held-out rows of the workspace, with the planted model's
    /// induction heads of the SAE's layer unless `inductionHeads` are given.
    public convenience init(_ workspace: Workspace, sae: AttentionSAE, rows: Int, inductionHeads: [Int]? = nil) throws {
        self.init(sae: sae, rows: try workspace.heldOutRows(rows),
                  inductionHeads: inductionHeads ?? workspace.model.inductionHeads(layer: sae.layer))
    }

    /// Every feature scored as an induction feature (SPEC §3.3), computed on first use.
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
