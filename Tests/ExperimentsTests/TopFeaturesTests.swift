// TopFeaturesTests: the ranking per head against brute force, dead features excluded, and the pages.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct TopFeaturesTests {
    @Test func rankingAndPages() throws {
        let workspace = try plantedWorkspace()
        let (model, tokenizer) = (plantedModel, workspace.tokenizer)
        var sae = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: 96, hookName: "blocks.1.attn.hook_z", headLayout: HeadLayout(nHeads: 12, dHead: 64)), seed: 5)
        // Silence a third of the features so that "dead" is not empty.
        for f in stride(from: 0, to: 96, by: 3) { sae.bEnc[f] = -1000 }
        let tokens = try #require(try heldOutCorpusRows(6, tokenizer: tokenizer))
        let (result, freq) = try TopFeaturesSection.rank(try attention(sae), model: model.model, tokens: tokens, perHead: 4)
        let attribution = FeatureAttribution.decoderHeadAttribution(sae, layout: sae.config.headLayout!)
        let alive = (0..<96).filter { freq.freq[$0] > 0 }
        #expect(result.deadExcluded == 96 - alive.count && result.deadExcluded >= 32)
        for h in 0..<12 {
            let expected = alive.sorted { attribution[$0, h] > attribution[$1, h] }.prefix(4)
            #expect(result.heads["1.\(h)"]!.map(\.feature) == Array(expected))
            #expect(result.heads["1.\(h)"]!.allSatisfy { $0.feature % 3 != 0 })
        }
        let dir = temporaryDirectory().path
        let section = TopFeaturesSection(analysis: SAEAnalysis(sae: try attention(sae), rows: tokens, inductionHeads: []), perHead: 4)
        let written = try section.write(workspace, output: SectionOutput(folder: try ReportFolder(dir)))
        #expect(written == result)
        _ = tokenizer
        let html = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        for h in 0..<12 {
            #expect(html.contains("heads/head-1.\(h).html") && FileManager.default.fileExists(atPath: dir + "/heads/head-1.\(h).html"))
        }
        #expect(html.contains("1.5 short-prefix induction") && html.contains("1.1 long-prefix induction"))
    }
}
