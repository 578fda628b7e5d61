// SplicingTests: SAE splicing with SAELens's inner hook points, feature and error interventions, and
// the CE-loss-recovered evaluation.

import Foundation
import Testing
import TensorTestSupport
@testable import Interp
import Tensor
import Transformer
import SparseAutoencoder

func tinyModel() throws -> GPT2 {
    let fixtures = fixturesDirectory(ofTarget: "TransformerTests")
    return GPT2(weights: try GPT2Weights.load(huggingFaceSafetensors: fixtures.appendingPathComponent("tiny_gpt2.safetensors").path, config: .heads(2)).processed())
}

func tinySAE(layer: Int = 1, seed: UInt64 = 3) -> SAE {
    var sae = SAETrainer.initialSAE(SAEConfig(dIn: 64, dSAE: 128, hookName: "blocks.\(layer).attn.hook_z",
                                              headLayout: HeadLayout(nHeads: 2, dHead: 32)), seed: seed)
    var rng = RandomStream(seed: seed + 1)
    sae.bEnc = Tensor.randomNormal([128], std: 0.05, using: &rng)
    sae.bDec = Tensor.randomNormal([64], std: 0.05, using: &rng)
    return sae
}

let tinyTokens = IndexTensor(shape: [2, 10], values: [95, 3, 17, 42, 3, 17, 42, 8, 60, 1, 95, 50, 51, 52, 53, 50, 51, 52, 53, 0])

@Suite struct SplicingTests {
    /// A residual SAE (d_model wide) splices at hook_resid_pre: with the error term nothing changes; without
    /// it the hook holds the reconstruction; a width other than d_model, or a hook no SAE reads, is refused.
    @Test func residualSAEsSpliceAtHookResidPre() throws {
        let model = try tinyModel()
        var sae = SAETrainer.initialSAE(SAEConfig(dIn: 64, dSAE: 96, hookName: "blocks.1.hook_resid_pre"), seed: 4)
        var rng = RandomStream(seed: 5)
        sae.bDec = Tensor.randomNormal([64], std: 0.1, using: &rng)
        let clean = try model.run(tinyTokens, cache: [.residPre(1)])
        let withError = try model.run(tinyTokens, saes: [try SAESplice(sae: sae, useErrorTerm: true)])
        expectClose(withError.model.logits!, clean.logits!, atol: 1e-4, rtol: 1e-5)
        let spliced = try model.run(tinyTokens, saes: [try SAESplice(sae: sae, cache: [.input, .output])], cache: [.residPre(1)])
        let site = HookName.residPre(1)
        #expect(spliced.saeCache[SAEHookName(site, .input)]?.shape == [2, 10, 64])
        expectClose(spliced.model.cache[.residPre(1)]!, sae.decode(sae.encode(clean.cache[.residPre(1)]!)), atol: 1e-5, rtol: 1e-5)
        let narrow = SAETrainer.initialSAE(SAEConfig(dIn: 48, dSAE: 8, hookName: "blocks.1.hook_resid_pre"), seed: 1)
        #expect(throws: InterpError.self) { try model.run(tinyTokens, saes: [try SAESplice(sae: narrow)]) }
        #expect(throws: InterpError.self) { try SAESplice(sae: sae, site: .ln1Scale(1)) }
    }

    @Test func errorTermSpliceLeavesTheModelUnchanged() throws {
        let model = try tinyModel()
        let clean = try model.logits(tinyTokens)
        let splice = try SAESplice(sae: tinySAE(), useErrorTerm: true, cache: Set(SAEHookPoint.allCases))
        let out = try model.run(tinyTokens, saes: [splice])
        expectClose(out.model.logits!, clean, atol: 1e-4, rtol: 1e-5)
        let site = HookName.z(1)
        #expect(out.saeCache[SAEHookName(site, .input)]?.shape == [2, 10, 64])
        #expect(out.saeCache[SAEHookName(site, .actsPost)]?.shape == [2, 10, 128])
        #expect(out.saeCache[SAEHookName(site, .output)]?.shape == [2, 10, 2, 32])
        #expect(SAEHookName(site, .actsPost).description == "blocks.1.attn.hook_z.hook_sae_acts_post")
        #expect(try SAEHookName(parsing: "blocks.1.attn.hook_z.hook_sae_error") == SAEHookName(site, .error))
        #expect(throws: TransformerError.self) { try SAEHookName(parsing: "blocks.1.attn.hook_z.hook_sae_nope") }
        // Without the error term the reconstruction replaces hook_z and the logits change.
        let plain = try model.run(tinyTokens, saes: [try SAESplice(sae: tinySAE())])
        #expect(plain.model.logits! != clean)
    }

    @Test func ablatingAFeatureChangesTheOutputByItsDecoderDirection() throws {
        let model = try tinyModel(), sae = tinySAE()
        let base = try SAESplice(sae: sae, useErrorTerm: true, cache: [.actsPost, .output])
        let clean = try model.run(tinyTokens, saes: [base])
        let acts = clean.saeCache[SAEHookName(.z(1), .actsPost)]!
        // The most active feature at prompt 0, position 4.
        let row = acts.selecting(axis: 0, 0).selecting(axis: 0, 4)
        let f = row.argmax(axis: 0).values[0]
        let value = row[f]
        #expect(value > 0)
        var ablated = base
        ablated.edits[.actsPost] = FeatureIntervention.set([f], at: [(0, 4)])
        let out = try model.run(tinyTokens, saes: [ablated])
        let delta = out.saeCache[SAEHookName(.z(1), .output)]! - clean.saeCache[SAEHookName(.z(1), .output)]!
        let expected = sae.wDec.selecting(axis: 0, f) * (-value)
        expectClose(delta.selecting(axis: 0, 0).selecting(axis: 0, 4).reshaped([64]), expected, atol: 1e-5, rtol: 1e-4)
        // Everywhere else nothing changed.
        #expect(delta.selecting(axis: 0, 1).abs().max() == 0 && delta.selecting(axis: 0, 0).selecting(axis: 0, 3).abs().max() == 0)
        // Ablating the error term at a position makes the output the clean reconstruction there.
        var noError = base
        noError.cache.insert(.recons)
        noError.edits[.error] = FeatureIntervention.ablateError(at: [(1, 2)])
        let e = try model.run(tinyTokens, saes: [noError])
        let recons = e.saeCache[SAEHookName(.z(1), .recons)]!.selecting(axis: 0, 1).selecting(axis: 0, 2)
        expectClose(e.saeCache[SAEHookName(.z(1), .output)]!.selecting(axis: 0, 1).selecting(axis: 0, 2).reshaped([64]), recons, atol: 1e-6)
    }

    @Test func conflictsAndMismatchesAreErrors() throws {
        let model = try tinyModel()
        #expect(throws: InterpError.conflictingEdits(hook: "blocks.1.attn.hook_z")) {
            try model.run(tinyTokens, saes: [try SAESplice(sae: tinySAE())], hooks: [.z(1): { _, _ in nil }])
        }
        // No head layout on the SAE: the model's is used, and the run is the same.
        var bare = tinySAE()
        bare.config.headLayout = nil
        let withLayout = try model.run(tinyTokens, saes: [try SAESplice(sae: tinySAE())]).model.logits!
        #expect(try model.run(tinyTokens, saes: [try SAESplice(sae: bare)]).model.logits! == withLayout)
        // A d_in that is not the model's n_heads × d_head is refused when the splice runs.
        let narrow = SAETrainer.initialSAE(SAEConfig(dIn: 48, dSAE: 8, hookName: "blocks.1.attn.hook_z"), seed: 1)
        #expect(throws: InterpError.self) { try model.run(tinyTokens, saes: [try SAESplice(sae: narrow)]) }
        #expect(throws: InterpError.self) { try SAESplice(sae: tinySAE(), site: .pattern(1)) }
    }
}

@Suite struct EvaluationTests {
    /// An SAE that reconstructs exactly: d_sae = 2·d_in, W_enc = [I, −I], W_dec = [I; −I], zero biases
    /// (ReLU(x) − ReLU(−x) = x). It recovers all of the CE loss.
    @Test func perfectReconstructionScoresOne() throws {
        let model = try tinyModel()
        var eye = [Float](repeating: 0, count: 64 * 64)
        for i in 0..<64 { eye[i * 64 + i] = 1 }
        let i = Tensor(shape: [64, 64], scalars: eye)
        let sae = SAE(config: SAEConfig(dIn: 64, dSAE: 128, hookName: "blocks.0.attn.hook_z", headLayout: HeadLayout(nHeads: 2, dHead: 32)),
                      wEnc: Tensor.concatenate([i, -i], axis: 1), bEnc: Tensor(zeros: [128]),
                      wDec: Tensor.concatenate([i, -i], axis: 0), bDec: Tensor(zeros: [64]))
        let e = try SAEEvaluation.reconstruction(model: model, sae: sae, batches: [tinyTokens])
        #expect(Swift.abs(e.spliced - e.clean) < 1e-4 && Swift.abs(e.score - 1) < 1e-3)
        #expect(Swift.abs(e.clean - (try model.loss(tinyTokens))) < 1e-6)
        let (l0, freq) = try SAEEvaluation.sparsity(model: model, sae: sae, batches: [tinyTokens])
        #expect(l0 > 0 && l0 <= 64 && freq.freq.count == 128)
        // A random SAE recovers less.
        let r = try SAEEvaluation.reconstruction(model: model, sae: tinySAE(layer: 0), batches: [tinyTokens])
        #expect(r.score < 1 && r.zeroAblated != r.clean)
        // One set of runs per batch for both evaluations gives what the separate ones give, bit for bit.
        let batches = [tinyTokens, tinyTokens.rows(0..<1)]
        let both = try SAEEvaluation.evaluate(model: model, sae: tinySAE(layer: 0), batches: batches, ignoredTokens: [95])
        let alone = (try SAEEvaluation.reconstruction(model: model, sae: tinySAE(layer: 0), batches: batches),
                     try SAEEvaluation.sparsity(model: model, sae: tinySAE(layer: 0), batches: batches),
                     try CoreEvaluation.run(model: model, sae: tinySAE(layer: 0), batches: batches, ignoredTokens: [95]))
        #expect(both.reconstruction == alone.0 && both.l0 == alone.1.l0 && both.frequencies == alone.1.frequencies && both.core == alone.2)
    }
}
