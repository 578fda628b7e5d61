// End to end on the planted-circuit model: an SAE trained on layer 1's hook_z contains an induction
// feature — measured (specificity, sensitivity, head attribution, DFA), not assumed.

import Foundation
import Testing
import Experiments

@Suite struct PlantedEndToEndTests {
    @Test func trainedSAEContainsAnInductionFeature() throws {
        let inputs = ExperimentInputs()
        let model = plantedModel
        let tokenizer = try inputs.loadTokenizer()
        var settings = TrainSAESettings.planted()
        settings.trainingTokens = Int(ProcessInfo.processInfo.environment["ATTN_SAE_E2E_TOKENS"] ?? "") ?? 600_000
        settings.evaluationRows = 8
        let start = Date()
        let result = try TrainSAERunner.run(model: model, inputs: inputs, tokenizer: tokenizer, settings: settings) { print($0) }
        print("trained in \(Date().timeIntervalSince(start)) s")
        let heldOut = try TrainSAERunner.heldOutRows(inputs: inputs, tokenizer: tokenizer, rows: 256)
        let scores = try InductionFeatures.score(model: model.model, sae: result.sae, tokens: heldOut, inductionHeads: model.inductionHeads(layer: 1))
        let ranked = scores.sorted { $0.specificity * $0.sensitivity > $1.specificity * $1.sensitivity }
        let found = scores.filter { $0.isInduction() }
        print("scored in \(Date().timeIntervalSince(start)) s; induction features: \(found.map(\.feature))")
        #expect(!found.isEmpty, "no induction feature; best candidates: \(ranked.prefix(5).map { "f\($0.feature)→\($0.target) spec \($0.specificity) sens \($0.sensitivity) heads \($0.inductionHeadShare) dfa \($0.dfaPeakAfterEarlierOccurrence)" })")
        // The reconstruction is useful: better than zero-ablating the layer.
        #expect(result.evaluation.ceLossRecovered > 0)
    }
}
