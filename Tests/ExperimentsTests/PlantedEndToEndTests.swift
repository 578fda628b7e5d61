// End to end on the planted-circuit model: an SAE trained on layer 1's hook_z contains an induction
// feature — measured (specificity, sensitivity, head attribution, DFA), not assumed.

import Foundation
import Testing
import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct PlantedEndToEndTests {
    @Test func trainedSAEContainsAnInductionFeature() throws {
        let model = plantedModel
        let workspace = try plantedWorkspace { print($0) }
        var settings = TrainSAESettings.planted()
        // The environment may lengthen the run (ATTN_SAE_E2E_TOKENS), never shorten it below the
        // 600k tokens the bands below were set for.
        settings.trainingTokens = max(600_000, Int(ProcessInfo.processInfo.environment["ATTN_SAE_E2E_TOKENS"] ?? "") ?? 0)
        settings.evaluationRows = 8
        let start = Date()
        let result = try SAETraining.run(workspace, settings: settings)
        print("trained in \(Date().timeIntervalSince(start)) s")
        let heldOut = try workspace.heldOutRows(256)
        let scores = try InductionFeatures.score(model: model.model, sae: try attention(result.sae), tokens: heldOut, inductionHeads: model.inductionHeads(layer: 1))
        let ranked = scores.sorted { $0.specificity * $0.sensitivity > $1.specificity * $1.sensitivity }
        let found = scores.filter { $0.isInduction() }
        print("scored in \(Date().timeIntervalSince(start)) s; induction features: \(found.map(\.feature))")
        #expect(!found.isEmpty, "no induction feature; best candidates: \(ranked.prefix(5).map { "f\($0.feature)→\($0.target) spec \($0.specificity) sens \($0.sensitivity) heads \($0.inductionHeadShare) dfa \($0.dfaPeakAfterEarlierOccurrence)" })")
        // The README's bands (README, "What the main job finds"): a useful reconstruction, a sparse
        // code, and an induction feature that is both specific and sensitive.
        let e = result.evaluation
        print("L0 \(e.l0), alive \(e.aliveFraction), CE loss recovered \(e.ceLossRecovered)")
        #expect(Double(e.ceLossRecovered) >= Self.bands.ceLossRecovered, "CE loss recovered \(e.ceLossRecovered)")
        #expect(Self.bands.l0.contains(Double(e.l0)), "L0 \(e.l0)")
        let best = found.max { $0.specificity * $0.sensitivity < $1.specificity * $1.sensitivity }
        print("best induction feature \(best?.feature ?? -1): specificity \(best?.specificity ?? 0), sensitivity \(best?.sensitivity ?? 0)")
        #expect((best?.specificity ?? 0) >= Self.bands.specificity && (best?.sensitivity ?? 0) >= Self.bands.sensitivity,
                "best induction feature: spec \(best?.specificity ?? 0), sens \(best?.sensitivity ?? 0)")
    }

    /// The bands the README states for this test's SAE (600k tokens; measured: CE loss recovered 0.86,
    /// L0 3.9, feature 194 with specificity 0.93 and sensitivity 0.86).
    static let bands = (ceLossRecovered: 0.8, l0: 2.0...8.0, specificity: 0.9, sensitivity: 0.6)
}
