// AttributionTests: the identities — per-head DLA plus the bias terms sums to the logit difference;
// DFA from a model run sums to the feature's pre-activation.

import Testing
import TensorTestSupport
@testable import Interp
import Tensor
import Transformer
import SparseAutoencoder

@Suite struct InterpAttributionTests {
    @Test func directLogitAttributionSumsToTheLogitDifference() throws {
        let model = try tinyModel()
        let direction = LogitDifference(answer: [17, 51], other: [42, 8], position: [6, 9])
        let dla = try DirectLogitAttribution.compute(model: model, tokens: tinyTokens, direction: direction)
        let actual = direction.values(try model.logits(tinyTokens))
        expectClose(dla.total, actual, atol: 1e-4, rtol: 1e-4)
        #expect(dla.heads.count == 2 && dla.heads[0].shape == [2, 2])
    }

    /// The same identity on an attention-only model (TransformerLens checkpoint fixture, processed).
    @Test func directLogitAttributionOnAnAttentionOnlyModel() throws {
        let path = fixturesDirectory(ofTarget: "TransformerTests").appendingPathComponent("tl-checkpoint/attn-only/model_final.pth").path
        let model = GPT2(weights: try GPT2Weights.load(transformerLensCheckpoint: path).processed())
        let tokens = IndexTensor(shape: [2, 10], values: [0, 5, 9, 300, 41, 5, 9, 300, 41, 7, 0, 88, 12, 88, 12, 88, 511, 3, 4, 5])
        let direction = LogitDifference(answer: [300, 12], other: [41, 511], position: [6, 9])
        let dla = try DirectLogitAttribution.compute(model: model, tokens: tokens, direction: direction)
        expectClose(dla.total, direction.values(try model.logits(tokens)), atol: 1e-4, rtol: 1e-4)
        #expect(dla.mlp.allSatisfy { $0.scalars.allSatisfy { $0 == 0 } })
    }

    @Test func dfaFromAModelRunSumsToThePreActivation() throws {
        let model = try tinyModel(), sae = tinySAE()
        let feature = 5
        let dfa = try FeatureAttribution.dfaBySource(model: model, sae: sae, tokens: tinyTokens, feature: feature)
        #expect(dfa.shape == [2, 10, 10])
        let splice = try SAESplice(sae: sae, useErrorTerm: true, cache: [.actsPre])
        let pre = try model.run(tinyTokens, saes: [splice]).saeCache[SAEHookName(.z(1), .actsPre)]!.selecting(axis: 2, feature)
        expectClose(dfa.sum(axis: -1) + FeatureAttribution.biasTerm(sae, feature), pre, atol: 1e-5, rtol: 1e-4)
        // Causal: no attribution to future sources.
        #expect(dfa[0, 2, 5] == 0 && dfa[1, 0, 9] == 0)
    }
}
