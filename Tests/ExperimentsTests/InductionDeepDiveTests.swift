// InductionDeepDiveTests: firings, proxy counts and false negatives against a brute-force computation.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct InductionDeepDiveTests {
    @Test func countsMatchBruteForce() throws {
        let workspace = try plantedWorkspace()
        let (model, tokenizer) = (plantedModel, workspace.tokenizer)
        let sae = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: 32, hookName: "blocks.1.attn.hook_z", headLayout: HeadLayout(nHeads: 12, dHead: 64)), seed: 9)
        let tokens = try #require(try heldOutCorpusRows(5, tokenizer: tokenizer))
        let (feature, target) = (7, 220)
        var section = InductionDeepDiveSection(analysis: SAEAnalysis(sae: try attention(sae), rows: tokens, inductionHeads: []))
        section.rowsPerForward = 2
        let r = try section.measure(workspace, feature: feature, target: target)
        let z = try model.model.runWithCache(tokens, names: [.z(1)])[.z(1)]!
        let acts = sae.encode(SAE.flattenHeads(z).reshaped([-1, 768])).selecting(axis: 1, feature).scalars
        let fuzzy = FuzzyTokens(tokenizer: tokenizer)
        var fired = 0, withProxy = 0, proxyPositions = 0, fn = 0
        for row in 0..<5 {
            let ids = Array(tokens.values[(row * 128)..<((row + 1) * 128)])
            let proxy = Induction.proxy(tokens: ids, target: target, fuzzy: fuzzy)
            for p in 0..<128 {
                let a = acts[row * 128 + p]
                if a > 0 { fired += 1; if proxy[p] { withProxy += 1 } }
                if proxy[p] { proxyPositions += 1; if a == 0 { fn += 1 } }
            }
        }
        #expect(proxyPositions > 0 && fired > 0)
        #expect(r.firings == fired && r.firingsWithProxy == withProxy && r.proxyPositions == proxyPositions && r.falseNegatives == fn)
        #expect(r.countsProxy.reduce(0, +) == withProxy && r.countsNoProxy.reduce(0, +) == fired - withProxy && r.edges.count == 101)
        let dir = temporaryDirectory().path
        try section.writeReport(r, workspace: workspace, to: try ReportFolder(dir), up: nil)
        #expect(try String(contentsOfFile: dir + "/index.html", encoding: .utf8).components(separatedBy: "<svg").count - 1 == 2)
        #expect(throws: ExperimentInputError.self) { try section.measure(workspace, feature: 99, target: 220) }
    }
}
