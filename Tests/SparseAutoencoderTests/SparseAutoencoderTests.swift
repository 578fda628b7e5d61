// SparseAutoencoderTests: the SAE, its formats and the attribution maths against SAELens, torch and
// the paper's formulas (Scripts/reference/make_sae_fixtures.py).

import Foundation
import Testing
import TensorTestSupport
@testable import SparseAutoencoder
import Tensor

let fixtures = fixturesDirectory()
let run = "gpt2-small_L1_Hcat_z_lr1.20e-03_l18.00e-01_ds32_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v5"
let layout = HeadLayout(nHeads: 2, dHead: 8)

struct SAEReference {
    let file: HDF5File
    init() throws { file = try HDF5File(path: fixtures.appendingPathComponent("sae_reference.h5").path) }
    subscript(_ name: String) -> Tensor { get throws { try file.readTensor("/" + name) } }
    var feature: Int { get throws { Int(try file.attribute("feature").intValue!) } }
}

func paperSAE() throws -> SAE {
    try SAE.load(kissanePT: fixtures.appendingPathComponent("kissane/\(run).pt").path, headLayout: layout)
}

@Suite struct SAEFormatTests {
    @Test func thePapersCheckpointLoads() throws {
        let sae = try paperSAE()
        #expect(sae.config.dIn == 16 && sae.config.dSAE == 32 && sae.config.hookName == "blocks.1.attn.hook_z")
        #expect(sae.config.headLayout == layout && sae.config.applyBDecToInput)
        #expect(sae.config.provenance.source == "kissane-pt" && sae.config.provenance.notes["l1_coeff"] == "0.8")
    }

    @Test func saeLensFolderLoadsTheSameWeights() throws {
        let lens = try SAE.load(saeLens: fixtures.appendingPathComponent("saelens").path, headLayout: layout)
        let paper = try paperSAE()
        #expect(lens.wEnc == paper.wEnc && lens.wDec == paper.wDec && lens.bEnc == paper.bEnc && lens.bDec == paper.bDec)
        #expect(lens.config.hookName == "blocks.1.attn.hook_z" && lens.config.provenance.source == "saelens")
        // Without a layout given, none is guessed from the hook name (the model knows d_head; the file does not).
        #expect(try SAE.load(saeLens: fixtures.appendingPathComponent("saelens").path).config.headLayout == nil)
        #expect(try SAE.load(kissanePT: fixtures.appendingPathComponent("kissane/\(run).pt").path).config.headLayout == nil)
    }

    @Test func saeLensRoundTrip() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sae = try paperSAE()
        try sae.save(saeLens: dir.path + "/out")
        let back = try SAE.load(saeLens: dir.path + "/out", headLayout: layout)
        #expect(back.wEnc == sae.wEnc && back.wDec == sae.wDec && back.bEnc == sae.bEnc && back.bDec == sae.bDec)
        #expect(back.config.hookName == sae.config.hookName && back.config.dSAE == 32)
        // SAELens treats a folder as its 6.x layout only with metadata.sae_lens_version ≥ 6.
        let cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.path + "/out/cfg.json"))) as! [String: Any]
        let meta = cfg["metadata"] as! [String: Any]
        #expect(meta["sae_lens_version"] as? String == "6.0.0" && meta["hook_name"] as? String == "blocks.1.attn.hook_z")
    }

    @Test func brokenInputsGiveTypedErrors() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sae = try paperSAE()
        try sae.save(saeLens: dir.path + "/x")
        // Wrong d_sae in the config.
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.path + "/x/cfg.json"))) as! [String: Any]
        cfg["d_sae"] = 31
        try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: dir.path + "/x/cfg.json"))
        #expect(throws: SAEFormatError.shapeMismatch(file: dir.path + "/x/sae_weights.safetensors", tensor: "W_enc", expected: [16, 31], found: [16, 32])) {
            try SAE.load(saeLens: dir.path + "/x")
        }
        cfg["d_sae"] = 32
        cfg["normalize_activations"] = "expected_average_only_in"
        try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: dir.path + "/x/cfg.json"))
        #expect(throws: SAEFormatError.self) { try SAE.load(saeLens: dir.path + "/x") }
        #expect(throws: FileFormatError.self) { try SAE.load(saeLens: dir.path + "/missing") }
        #expect(throws: FileFormatError.self) { try SAE.load(kissanePT: dir.path + "/none.pt") }
        // A head layout that does not flatten to d_in (inspect convert --heads 12x32 on a 16-wide SAE)
        // is a named error, not SAEConfig's precondition.
        let pt = fixtures.appendingPathComponent("kissane/\(run).pt").path
        do {
            _ = try SAE.load(kissanePT: pt, headLayout: HeadLayout(nHeads: 12, dHead: 32))
            Issue.record("a 12 × 32 layout was accepted for d_in 16")
        } catch let e as SAEFormatError {
            guard case .invalidValue(_, let key, _) = e else { Issue.record("\(e)"); return }
            #expect(key == "head layout", "\(e)")
        }
    }
}

@Suite struct SAEMathTests {
    @Test func encodeAndDecodeMatchSAELens() throws {
        let ref = try SAEReference(), sae = try paperSAE()
        let x = try ref["x"]
        expectClose(sae.encodePre(x), try ref["pre"], atol: 1e-5, rtol: 1e-5)
        expectClose(sae.encode(x), try ref["acts"], atol: 1e-5, rtol: 1e-5)
        expectClose(sae.decode(sae.encode(x)), try ref["recons"], atol: 1e-5, rtol: 1e-5)
    }

    @Test func errorTermMakesTheOutputTheInput() throws {
        let sae = try paperSAE(), x = try SAEReference()["x"]
        let f = sae.forward(x, errorTerm: true)
        expectClose(f.output, x, atol: 1e-6, rtol: 1e-6)
        #expect(f.reconstruction == sae.decode(f.acts) && f.acts == f.pre.relu())
        #expect(sae.forward(x).output == f.reconstruction && sae.forward(x).error == nil)
    }

    @Test func headFlatteningIsHeadMajor() {
        let z = Tensor(shape: [1, 2, 3], scalars: [0, 1, 2, 3, 4, 5])    // [pos, n_heads, d_head]
        let x = SAE.flattenHeads(z)
        #expect(x.shape == [1, 6] && x.scalars == [0, 1, 2, 3, 4, 5])
        #expect(SAE.unflattenHeads(x, HeadLayout(nHeads: 2, dHead: 3)) == z)
    }
}

@Suite struct AttributionTests {
    @Test func dfaBySourceMatchesThePapersComputationAndSumsToThePreActivation() throws {
        let ref = try SAEReference(), sae = try paperSAE(), f = try ref.feature
        let w = FeatureAttribution.encoderColumn(sae, f)
        let dfa = FeatureAttribution.dfaBySource(pattern: try ref["pattern"], v: try ref["v"], encoderColumn: w)
        expectClose(dfa, try ref["dfa"], atol: 1e-5, rtol: 1e-5)
        // Identity: Σ_source DFA + (b_enc − b_dec·W_enc) = the feature's pre-activation on z.
        let z = try ref["z"]                                          // [batch, pos, n_heads, d_head]
        let pre = sae.encodePre(SAE.flattenHeads(z)).selecting(axis: 2, f)
        expectClose(dfa.sum(axis: -1) + FeatureAttribution.biasTerm(sae, f), pre, atol: 1e-5, rtol: 1e-5)
        // By head: the heads' parts sum to the same input term.
        let byHead = FeatureAttribution.dfaByHead(z: z, encoderColumn: w)
        #expect(byHead.shape == [2, 5, 2])
        expectClose(byHead.sum(axis: -1), dfa.sum(axis: -1), atol: 1e-5, rtol: 1e-5)
    }

    @Test func decoderHeadAttributionSumsToOne() throws {
        let ref = try SAEReference(), sae = try paperSAE()
        let attr = FeatureAttribution.decoderHeadAttribution(sae, layout: layout)
        expectClose(attr, try ref["head_attribution"], atol: 1e-6, rtol: 1e-5)
        expectClose(attr.sum(axis: -1), Tensor(repeating: 1, shape: [32]), atol: 1e-6)
    }

    @Test func logitEffectsMatch() throws {
        let ref = try SAEReference(), sae = try paperSAE()
        let effects = FeatureAttribution.logitEffects(sae, features: [3, try ref.feature], wO: try ref["W_O"], wU: try ref["W_U"])
        expectClose(effects, try ref["logit_effects"], atol: 1e-4, rtol: 1e-5)
    }
}

@Suite struct FrequencyTests {
    @Test func fractionsAsThePaperLogsThem() {
        let acts = Tensor(shape: [4, 3], scalars: [0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0])
        let f = FeatureFrequencies(acts: acts)
        #expect(f.freq == [0, 0.75, 0])
        #expect(Swift.abs(f.deadFraction - 2.0 / 3) < 1e-12 && f.aliveFraction > 0.33)
        let g = FeatureFrequencies(counts: [0, 1, 5, 100], rows: 1_000_000)
        #expect(g.below1e6 == 0.25 && g.below1e5 == 0.75 && g.deadFraction == 0.25)
    }
}
