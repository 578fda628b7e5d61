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
        if let best { try traceFindsTheCircuit(result.sae, feature: best.feature, target: best.target) }
    }

    /// The trained induction feature, traced on `BOS x x A τ x x x x x A` (τ its target token): its largest
    /// input term is τ's token embedding at τ's position through the short-prefix induction head, and that
    /// edge's largest QK pair is A's token at the query × the previous-token head's output at the key.
    func traceFindsTheCircuit(_ sae: SAE, feature: Int, target: Int) throws {
        let model = plantedModel.model
        let roles = PlantedCircuitModel.Roles.standard
        let tracer = try CircuitTracer(model: model, attentionSAEs: [try attention(sae)])
        var rng = RandomStream(seed: 3)
        var fired = 0
        for _ in 0..<16 {
            let ids = (0..<9).map { _ in 1000 + rng.nextInt(below: 40000) }
            let tokens = [GPT2Config.endOfText, ids[1], ids[2], ids[0], target, ids[3], ids[4], ids[5], ids[6], ids[7], ids[0]]
            let run = try tracer.run(tokens)
            let root = TraceNode.attentionFeature(layer: 1, position: 10, feature: feature)
            guard try run.activation(of: root)! > 0 else { continue }
            fired += 1
            let input = try run.terms(of: root).filter { if case .bias = $0.source { false } else { true } }.sorted { abs($0.value) > abs($1.value) }
            let top = input[0], part = input.reduce(Float(0)) { $0 + $1.value }
            print("trace of \(root): top \(top.source) \(top.value) (\(top.value / part) of the input part; runner-up \(input[1].source) at \(abs(input[1].value / top.value)))")
            #expect(top.source == .tokenEmbedding(position: 4, token: target))
            #expect(top.value / part >= 0.5 && abs(input[1].value / top.value) <= 0.5)
            let heads = top.heads!
            #expect(heads.indices.max { abs(heads[$0]) < abs(heads[$1]) } == roles.shortInduction.head)
            let qk = try run.qkAttribution(layer: 1, head: roles.shortInduction.head, destination: 10, source: 4, maxPairs: 3)
            print("  QK: \(qk.pairs[0].query) × \(qk.pairs[0].key) = \(qk.pairs[0].value) of score \(qk.score)")
            #expect(qk.pairs[0].query == .tokenEmbedding(position: 10, token: ids[0]) && qk.pairs[0].key == .head(layer: 0, position: 4, head: roles.previousToken.head))
        }
        print("the induction feature fired on \(fired) of 16 traced prompts (2 of the first 8 when written)")
        #expect(fired >= 2)
    }

    /// The bands the README states for this test's SAE (600k tokens; measured: CE loss recovered 0.86,
    /// L0 3.9, feature 194 with specificity 0.93 and sensitivity 0.86).
    static let bands = (ceLossRecovered: 0.8, l0: 2.0...8.0, specificity: 0.9, sensitivity: 0.6)
}
