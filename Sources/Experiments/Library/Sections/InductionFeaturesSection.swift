// InductionFeaturesSection: §4.2 — which SAE features are induction features: every feature that fires
// on held-out rows scored for specificity, sensitivity, induction-head share and DFA peak (Docs/Method.md §3.3).

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

public struct InductionFeaturesSection: Section {
    public static let id = ReportSection.inductionFeatures
    public let analysis: SAEAnalysis
    public init(analysis: SAEAnalysis) { self.analysis = analysis }

    public func run(in workspace: Workspace, output: SectionOutput) throws -> SectionOutcome {
        let search = try analysis.inductionSearch(workspace)
        let tokenizer = workspace.tokenizer
        try output.folder.writeCSV(header: ["feature", "target", "target_string", "firings", "specificity", "narrow_positions", "sensitivity",
                                            "induction_head_share", "dfa_examples", "dfa_peak_after_earlier_occurrence", "is_induction"],
                                   rows: search.scores.map { ["\($0.feature)", "\($0.target)", tokenizer.decode([$0.target]), "\($0.firings)", "\($0.specificity)",
                                                              "\($0.narrowPositions)", "\($0.sensitivity)", "\($0.inductionHeadShare)", "\($0.dfaExamples)",
                                                              "\($0.dfaPeakAfterEarlierOccurrence)", "\($0.isInduction())"] },
                                   to: "induction-features.csv")
        try output.folder.write(page(search, tokenizer: tokenizer, output: output), to: "index.html")
        let found = search.passing
        let headline = found.isEmpty ? "no feature passed the induction-feature test (best candidates on the page)"
            : "\(found.count) induction feature\(found.count == 1 ? "" : "s"): " + found.prefix(4).map {
                "\($0.feature) → \(tokenizer.decode([$0.target]).debugDescription) (specificity \(String(format: "%.2f", $0.specificity)), sensitivity \(String(format: "%.2f", $0.sensitivity)))"
            }.joined(separator: ", ")
        return SectionOutcome(page: "index.html", headline: headline)
    }

    func page(_ search: InductionSearch, tokenizer: GPT2Tokenizer, output: SectionOutput) -> String {
        let heads = analysis.inductionHeads
        var body = HTML.h1("Induction features")
        body += HTML.p("A feature is an induction feature for the token T it promotes most when, on \(analysis.rows.shape[0]) held-out rows, "
            + "≥ 85% of its firings are at positions whose token occurred earlier followed by T (specificity), it fires at ≥ 50% of positions "
            + "where every earlier occurrence was followed by T (sensitivity), ≥ 50% of its decoder norm is on the induction heads "
            + "(\(heads.isEmpty ? "none given" : heads.map(String.init).joined(separator: ", "))), and its DFA on ≥ 90% of its top examples "
            + "peaks right after an earlier occurrence.")
        let show = Array((search.passing + search.candidates.filter { !$0.isInduction() }).prefix(12))
        body += HTML.table(["feature", "T", "firings", "specificity", "sensitivity", "narrow positions", "induction-head share", "DFA peak", "induction?"],
                           show.map { f in
                               [output.featurePage(f.feature).map { HTML.link($0, "\(f.feature)") } ?? "\(f.feature)",
                                HTML.tokenSpan(tokenizer.decode([f.target])), "\(f.firings)", HTML.number(f.specificity), HTML.number(f.sensitivity),
                                "\(f.narrowPositions)", HTML.number(Double(f.inductionHeadShare)), HTML.number(f.dfaPeakAfterEarlierOccurrence), f.isInduction() ? "yes" : "no"]
                           }, leftColumns: 2)
        body += HTML.p("All features: " + HTML.link("induction-features.csv", "induction-features.csv") + ".", class: "note")
        return HTML.page(title: "Induction features", body: body, up: output.up)
    }

    /// The induction test of one feature as a paragraph of its dashboard.
    static func paragraph(_ s: InductionFeatureScore, _ tok: GPT2Tokenizer) -> String {
        HTML.p("Induction test for T = \(HTML.tokenSpan(tok.decode([s.target]))): specificity \(HTML.number(s.specificity)) "
            + "(share of \(s.firings) firings where an earlier occurrence of the current token was followed by T), "
            + "sensitivity \(HTML.number(s.sensitivity)) (of \(s.narrowPositions) positions where every earlier occurrence was followed by T), "
            + "induction-head share \(HTML.number(Double(s.inductionHeadShare))), DFA peak after an earlier occurrence in "
            + "\(HTML.number(s.dfaPeakAfterEarlierOccurrence * 100, digits: 0))% of \(s.dfaExamples) top examples — "
            + (s.isInduction() ? "<b>an induction feature</b>" : "not an induction feature by the thresholds 0.85 / 0.5 / 0.5 / 0.9"))
    }
}
