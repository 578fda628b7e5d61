// FeatureDashboardsTests: pages for every feature, linked from the index, within the size budget,
// with every token escaped.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct FeatureDashboardsTests {
    @Test func pagesAreWrittenLinkedSmallAndEscaped() throws {
        let workspace = try plantedWorkspace()
        let tokenizer = workspace.tokenizer
        let sae = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: 64, hookName: "blocks.1.attn.hook_z", headLayout: HeadLayout(nHeads: 12, dHead: 64)), seed: 3)
        // Corpus rows plus one row full of markup characters.
        let corpus = try #require(try heldOutCorpusRows(7, tokenizer: tokenizer))
        let markup = tokenizer.toTokens(String(repeating: "<b>&amp; \"x\" </b> ", count: 40), maxLength: 128)
        let tokens = IndexTensor(shape: [8, 128], values: corpus.values + markup)
        let dir = temporaryDirectory().path
        var s = FeatureDashboardSettings()
        s.count = 5
        let analysis = SAEAnalysis(sae: try attention(sae), rows: tokens, inductionHeads: [])
        let index = try FeatureDashboardsSection(analysis: analysis, settings: s).runAlone(in: workspace, output: dir)
        let html = try String(contentsOfFile: index, encoding: .utf8)
        let pages = try FileManager.default.contentsOfDirectory(atPath: dir + "/features").filter { $0.hasSuffix(".html") }
        #expect(pages.count == 5)
        for p in pages {
            #expect(html.contains("href=\"features/\(p)\""))
            let page = try String(contentsOfFile: dir + "/features/" + p, encoding: .utf8)
            #expect(page.utf8.count <= 200_000, "\(p) is \(page.utf8.count) bytes")
            // Every token's text is escaped: inside token spans there is no raw markup, and every & starts an entity.
            let spans = try Regex(#"<span class="tok[^"]*"[^>]*>([^<]*)</span>"#)
            let contents = page.matches(of: spans).map { String($0.output[1].substring ?? "") }
            #expect(contents.count > 100)
            let entity = try Regex(#"&(lt|gt|amp|quot|#39|nbsp);"#)
            for c in contents { #expect(!c.replacing(entity, with: "").contains("&") && !c.contains(">")) }
            #expect(contents.contains { $0.contains("&lt;") } && contents.contains { $0.contains("&amp;") })
        }
        #expect(throws: ExperimentInputError.self) {
            var bad = FeatureDashboardSettings()
            bad.features = [999]
            try FeatureDashboardsSection(analysis: analysis, settings: bad).runAlone(in: workspace, output: dir)
        }
    }

    /// Decision 19: in both logit tables the largest |effect| is the darkest cell — the most negative
    /// logit on the negative side (the reference shaded that table in the wrong order).
    @Test func strongestLogitIsDarkestOnBothSides() throws {
        let tokenizer = try ExperimentInputs().loadTokenizer()
        func alphas(_ html: String) -> [Double] {
            html.components(separatedBy: "rgba(").dropFirst().map { Double($0.split(separator: ",")[3].prefix { $0 != ")" })! }
        }
        let negative = [FeatureDashboard.LogitEntry(token: 11, value: -2.5), .init(token: 12, value: -1.0), .init(token: 13, value: -0.1)]
        let a = alphas(DashboardPage.logitTable(negative, rgb: "230,40,40", tokenizer))
        #expect(a.count == 3 && a[0] > a[1] && a[1] > a[2] && a[0] == 0.68)
        let positive = [FeatureDashboard.LogitEntry(token: 11, value: 3), .init(token: 12, value: 0.3)]
        let b = alphas(DashboardPage.logitTable(positive, rgb: "30,120,255", tokenizer))
        #expect(b.count == 2 && b[0] == 0.68 && b[1] < b[0])
    }
}
