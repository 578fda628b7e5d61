// TransformerTests: hook names, loaders, weight processing and the forward pass against
// TransformerLens reference dumps (Scripts/reference/make_transformer_fixtures.py).

import Foundation
import Testing
import TensorTestSupport
@testable import Transformer
import Tensor

func fixture(_ name: String) -> String { fixturesDirectory().appendingPathComponent(name).path }

/// The TransformerLens reference run of the tiny model.
struct Reference {
    let file: HDF5File
    init() throws { file = try HDF5File(path: fixture("reference.h5")) }
    var tokens: IndexTensor { get throws { try file.readIndices("/tokens") } }
    func hook(_ group: String, _ name: String) throws -> Tensor { try file.readTensor("/\(group)/hooks/\(name)") }
    func hookNames(_ group: String) throws -> [String] { try file.attribute("hook_names", of: "/\(group)").stringsValue ?? [] }
}

@Suite struct HookNameTests {
    @Test func printsAndParsesEveryTransformerLensName() throws {
        let all = HookName.all(nLayers: 12)
        #expect(all.count == 2 + 12 * 17 + 4)
        #expect(all.first?.description == "hook_embed")
        #expect(all[2].description == "blocks.0.hook_resid_pre")
        #expect(HookName.z(5).description == "blocks.5.attn.hook_z")
        #expect(all.suffix(4).map(\.description) == ["ln_final.hook_scale", "ln_final.hook_normalized", "unembed.hook_in", "unembed.hook_out"])
        for h in all { #expect(try HookName(parsing: h.description, nLayers: 12) == h) }
        #expect(Set(all.map(\.description)).count == all.count)
    }

    /// Pins the ordered hook names of a GPT-2-small run: TransformerLens's cache keys for the
    /// GPT-2-small structure, and the keys our own run of a 12-layer model produces.
    @Test func gpt2SmallRunProducesExactlyTransformerLensHooks() throws {
        let data = try Data(contentsOf: fixturesDirectory().appendingPathComponent("gpt2_small_hook_names.json"))
        let tl = try JSONSerialization.jsonObject(with: data) as! [String]
        #expect(HookName.all(nLayers: GPT2Config.gpt2Small.nLayers).map(\.description) == tl)
        // A GPT-2-small-structured model at a tiny width, caching everything.
        let c = GPT2Config(nLayers: 12, dModel: 8, nHeads: 2, dHead: 4, dMLP: 32, nCtx: 16, dVocab: 50)
        var rng = RandomStream(seed: 5)
        func r(_ s: [Int]) -> Tensor { Tensor.randomNormal(s, std: 0.1, using: &rng) }
        let blocks = (0..<12).map { _ in
            BlockWeights(ln1: LayerNormWeights(w: r([8]), b: r([8])), wQ: r([2, 8, 4]), wK: r([2, 8, 4]), wV: r([2, 8, 4]),
                         bQ: r([2, 4]), bK: r([2, 4]), bV: r([2, 4]), wO: r([2, 4, 8]), bO: r([8]),
                         ln2: LayerNormWeights(w: r([8]), b: r([8])), wIn: r([8, 32]), bIn: r([32]), wOut: r([32, 8]), bOut: r([8]))
        }
        let model = GPT2(weights: GPT2Weights(config: c, wE: r([50, 8]), wPos: r([16, 8]), blocks: blocks,
                                              lnFinal: LayerNormWeights(w: r([8]), b: r([8])), wU: r([8, 50]), bU: r([50]), processing: .none))
        let all = try tl.map { try HookName(parsing: $0, nLayers: 12) }
        let out = try model.run(IndexTensor(shape: [1, 3], values: [1, 2, 3]), cache: Set(all))
        #expect(out.cache.names(nLayers: 12).map(\.description) == tl)
    }

    @Test func theOrderIsTransformerLensOrder() throws {
        // The ordered cache keys TransformerLens produced for the 2-layer reference model.
        let tl = try Reference().hookNames("processed")
        #expect(HookName.all(nLayers: 2).map(\.description) == tl)
    }

    @Test(arguments: ["z", "hook_z", "blocks.0.attn.hook_zz", "blocks.01.attn.hook_z", "blocks.-1.attn.hook_z",
                      "blocks.0.attn.hook_result", "blocks.0", "blocks.x.hook_resid_pre", "ln_final.hook_scal", "",
                      "blocks.2.attn.hook_z"])
    func rejectsAnythingElse(_ name: String) {
        #expect(throws: TransformerError.self) { try HookName(parsing: name, nLayers: 2) }
    }

    @Test func layerOutOfRangeIsNamed() {
        #expect(throws: TransformerError.hookLayerOutOfRange(hook: "blocks.2.attn.hook_z", nLayers: 2)) { try HookName(parsing: "blocks.2.attn.hook_z", nLayers: 2) }
        #expect(throws: TransformerError.unknownHook("blocks.2.attn.hook_zz")) { try HookName(parsing: "blocks.2.attn.hook_zz", nLayers: 2) }
    }
}

@Suite struct LoaderTests {
    @Test func huggingFaceSafetensorsAndKerasH5AgreeExactly() throws {
        let st = try GPT2Weights.load(huggingFaceSafetensors: fixture("tiny_gpt2.safetensors"), config: .heads(2))
        let tf = try GPT2Weights.load(tfH5: fixture("tiny_gpt2_tf.h5"), config: .heads(2))
        #expect(st.config == GPT2Config(nLayers: 2, dModel: 64, nHeads: 2, dHead: 32, dMLP: 256, nCtx: 16, dVocab: 96))
        #expect(st == tf)
        #expect(st.processing == .none)
        // Without an explicit head count, GPT-2's d_head = 64 is assumed.
        #expect(try GPT2Weights.load(tfH5: fixture("tiny_gpt2_tf.h5")).config.nHeads == 1)
    }

    /// `load(file:)` tells the three layouts apart by name and content, and loads each as its own loader does.
    @Test func formatsAreDetected() throws {
        #expect(try ModelFileFormat.detect(fixture("tiny_gpt2.safetensors")) == .huggingFaceSafetensors)
        #expect(try ModelFileFormat.detect(fixture("tiny_gpt2_tf.h5")) == .huggingFaceTF)
        #expect(try ModelFileFormat.detect(fixture("tiny_gpt2_tl.h5")) == .ours)
        #expect(try GPT2Weights.load(file: fixture("tiny_gpt2_tf.h5"), config: .heads(2)) == GPT2Weights.load(tfH5: fixture("tiny_gpt2_tf.h5"), config: .heads(2)))
        #expect(try GPT2Weights.load(file: fixture("tiny_gpt2_tl.h5")) == GPT2Weights.load(hdf5: fixture("tiny_gpt2_tl.h5")))
        #expect(throws: (any Error).self) { try ModelFileFormat.detect(fixture("tokenizer_cases.json")) }     // neither name nor HDF5
    }

    @Test func ourLayoutWrittenByH5pyLoadsAndMatchesOurProcessing() throws {
        let tl = try GPT2Weights.load(hdf5: fixture("tiny_gpt2_tl.h5"))
        #expect(tl.processing == .transformerLensDefault && tl.lnFinal == nil && tl.blocks[0].ln1 == nil)
        let ours = try GPT2Weights.load(huggingFaceSafetensors: fixture("tiny_gpt2.safetensors"), config: .heads(2)).processed()
        for ((n1, a), (n2, b)) in zip(ours.stateDict, tl.stateDict) {
            #expect(n1 == n2)
            expectClose(a, b, atol: 2e-6, rtol: 1e-5, Comment(rawValue: n1))
        }
    }

    @Test func writerRoundTrip() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = try GPT2Weights.load(huggingFaceSafetensors: fixture("tiny_gpt2.safetensors"), config: .heads(2))
        for p in [WeightProcessing.none, .transformerLensDefault] {
            let path = dir.appendingPathComponent("m.h5").path
            let processed = w.processed(p)
            try processed.writeHDF5(to: path, extraAttributes: ["note": .string("test")])
            #expect(try GPT2Weights.load(hdf5: path) == processed)
        }
    }

    @Test func brokenFilesGiveTypedErrors() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = try SafeTensorsFile(contentsOf: fixture("tiny_gpt2.safetensors"))
        var all = try src.allTensors()
        all["transformer.h.1.mlp.c_fc.bias"] = nil
        let missing = dir.appendingPathComponent("missing.safetensors").path
        try SafeTensorsFile.write(all, to: missing)
        #expect(throws: TransformerError.missingTensor(file: missing, name: "h.1.mlp.c_fc.bias", expectedShape: [256])) {
            try GPT2Weights.load(huggingFaceSafetensors: missing, config: .heads(2))
        }
        all = try src.allTensors()
        all["transformer.h.0.attn.c_proj.weight"] = Tensor(zeros: [64, 32])
        let wrong = dir.appendingPathComponent("wrong.safetensors").path
        try SafeTensorsFile.write(all, to: wrong)
        #expect(throws: TransformerError.shapeMismatch(file: wrong, name: "h.0.attn.c_proj.weight", expected: [64, 64], found: [64, 32])) {
            try GPT2Weights.load(huggingFaceSafetensors: wrong, config: .heads(2))
        }
        #expect(throws: TransformerError.self) { try GPT2Weights.load(hdf5: fixture("tiny_gpt2_tf.h5")) }
        // A Keras file with only the token embedding: the next tensor needed is named.
        let partial = dir.appendingPathComponent("partial_tf.h5").path
        try HDF5Writer.write(to: partial) { w in
            try w.write(try src.tensor("transformer.wte.weight"), at: "/transformer/tfgp_t2lm_head_model/transformer/wte/weight:0")
        }
        #expect(throws: TransformerError.missingTensor(file: partial, name: "wpe.weight", expectedShape: [])) {
            try GPT2Weights.load(tfH5: partial)
        }
        #expect(throws: (any Error).self) { try GPT2Weights.load(tfH5: fixture("tiny_gpt2.safetensors")) }
    }
}

/// Absolute tolerance for a tensor: 2e-6 of its largest magnitude, at least 2e-5 — or, inside a block,
/// of the largest magnitude of the residual stream entering it (`residPre`), whose rounding the block's
/// activations inherit: different BLAS kernels (AVX2 vs AVX-512 OpenBLAS builds) sum in different orders.
func tolerance(_ t: Tensor, residPre: Tensor? = nil) -> Double {
    max(2e-5, 4e-6 * Double(t.abs().max()), 4e-6 * Double(residPre?.abs().max() ?? 0))
}

@Suite struct ForwardParityTests {
    /// Compares every hook in firing order (the first failure locates the bug), then logits and loss.
    /// Tolerances: fp32 with different summation orders. Activations reach |x| ≈ 40 in this random
    /// model, so the absolute tolerance scales with the largest magnitude of the tensor or of the layer's
    /// input (4e-6 of it, about 32 ulp there) besides the relative 1e-5: an output that cancels terms of
    /// that size (hook_attn_out) differed by 8.03e-5 at 2e-6 · 40 under OpenBLAS's generic Prescott kernels.
    @Test(arguments: ["unprocessed", "processed"])
    func everyHookMatchesTransformerLens(_ group: String) throws {
        let ref = try Reference()
        var w = try GPT2Weights.load(huggingFaceSafetensors: fixture("tiny_gpt2.safetensors"), config: .heads(2))
        if group == "processed" { w = w.processed() }
        let model = GPT2(weights: w)
        let tokens = try ref.tokens
        let all = HookName.all(nLayers: 2)
        let out = try model.run(tokens, cache: Set(all))
        for h in all {
            let expected = try ref.hook(group, h.description)
            let actual = try #require(out.cache[h])
            if case .attnScores = h {
                // Masked entries are −∞ on both sides; compare the finite ones.
                #expect(actual.scalars.map(\.isInfinite) == expected.scalars.map(\.isInfinite), "\(h) mask")
                let finite = zip(actual.scalars, expected.scalars).filter { $0.1.isFinite }
                expectClose(Tensor(finite.map(\.0)), finite.map(\.1), atol: tolerance(Tensor(finite.map(\.1))), rtol: 1e-5,
                            Comment(rawValue: h.description))
            } else {
                let input = try h.layer.map { try ref.hook(group, HookName.residPre($0).description) }
                expectClose(actual, expected, atol: tolerance(expected, residPre: input), rtol: 1e-5, Comment(rawValue: h.description))
            }
        }
        let logits = try ref.file.readTensor("/\(group)/logits")
        expectClose(out.logits!, logits, atol: tolerance(logits), rtol: 1e-5, "logits")
        expectClose(try model.lossPerToken(tokens), try ref.file.readTensor("/\(group)/loss_per_token"), atol: 2e-5, rtol: 1e-5, "loss")
    }

    /// Without a request for `hook_attn_scores` the attention takes its fused path (masked softmax
    /// in one pass): the same pattern, z and logits.
    @Test(arguments: ["unprocessed", "processed"])
    func fusedAttentionPathMatchesToo(_ group: String) throws {
        let ref = try Reference()
        var w = try GPT2Weights.load(huggingFaceSafetensors: fixture("tiny_gpt2.safetensors"), config: .heads(2))
        if group == "processed" { w = w.processed() }
        let out = try GPT2(weights: w).run(try ref.tokens, cache: [.pattern(0), .pattern(1), .z(1)])
        for h in [HookName.pattern(0), .pattern(1), .z(1)] {
            let expected = try ref.hook(group, h.description)
            let input = try ref.hook(group, HookName.residPre(h.layer!).description)
            expectClose(out.cache[h]!, expected, atol: tolerance(expected, residPre: input), rtol: 1e-5, Comment(rawValue: h.description))
        }
        let logits = try ref.file.readTensor("/\(group)/logits")
        expectClose(out.logits!, logits, atol: tolerance(logits), rtol: 1e-5, "logits")
    }

    @Test func processingKeepsLogProbabilities() throws {
        let w = try GPT2Weights.load(huggingFaceSafetensors: fixture("tiny_gpt2.safetensors"), config: .heads(2))
        let tokens = try Reference().tokens
        expectClose(try GPT2(weights: w.processed()).lossPerToken(tokens), try GPT2(weights: w).lossPerToken(tokens), atol: 2e-5, rtol: 1e-5)
    }
}

@Suite struct HookTests {
    let model: GPT2
    let tokens: IndexTensor
    init() throws {
        model = GPT2(weights: try GPT2Weights.load(huggingFaceSafetensors: fixture("tiny_gpt2.safetensors"), config: .heads(2)).processed())
        tokens = try Reference().tokens
    }

    @Test func editsReplaceActivationsForOneCallOnly() throws {
        let clean = try model.logits(tokens)
        let zeroed = try model.run(tokens, cache: [.z(1)], hooks: [.z(1): { z, _ in Tensor(zeros: z.shape) }])
        #expect(zeroed.cache[.z(1)]!.scalars.allSatisfy { $0 == 0 })
        #expect(zeroed.logits! != clean)
        #expect(try model.logits(tokens) == clean)   // nothing persists
        // A read-only hook (returns nil) changes nothing.
        let read = try model.run(tokens, hooks: [.residPre(1): { _, _ in nil }])
        #expect(read.logits! == clean)
    }

    @Test func stopLayerAndUnfiredHooks() throws {
        let cache = try model.runWithCache(tokens, names: [.z(0)])
        #expect(cache[.z(0)]?.shape == [2, 10, 2, 32])
        // Stopping right after the last requested hook gives the same values as a full run.
        let full = try model.run(tokens, cache: [.z(1), .pattern(0), .unembedOut])
        let early = try model.runWithCache(tokens, names: [.z(1), .pattern(0)])
        #expect(early[.z(1)] == full.cache[.z(1)] && early[.pattern(0)] == full.cache[.pattern(0)])
        #expect(early[.unembedOut] == nil)
        #expect(try model.runWithCache(tokens, names: [.unembedOut])[.unembedOut] == full.logits)
        #expect(throws: TransformerError.hookLayerOutOfRange(hook: "blocks.7.hook_resid_pre", nLayers: model.config.nLayers)) { try model.runWithCache(tokens, names: [.residPre(7)]) }
        let stopped = try model.run(tokens, cache: [.residPost(0)], stopAtLayer: 1)
        #expect(stopped.logits == nil && stopped.residual == stopped.cache[.residPost(0)]!)
        // As TransformerLens's stop_at_layer=n_layers: the final residual, no logits; unembed reads them.
        let last = try model.run(tokens, stopAtLayer: model.config.nLayers)
        #expect(last.logits == nil && last.residual == full.residual)
        let rows = Tensor.stack([last.residual.selecting(axis: 0, 1).selecting(axis: 0, 7), last.residual.selecting(axis: 0, 0).selecting(axis: 0, 2)])
        let expected = Tensor.stack([full.logits!.selecting(axis: 0, 1).selecting(axis: 0, 7), full.logits!.selecting(axis: 0, 0).selecting(axis: 0, 2)])
        expectClose(model.unembed(rows), expected, atol: 1e-5, rtol: 1e-5)
        #expect(model.unembed(last.residual) == full.logits!)
        #expect(throws: TransformerError.hookDidNotFire("blocks.1.attn.hook_z")) {
            try model.run(tokens, cache: [.z(1)], stopAtLayer: 1)
        }
        #expect(throws: TransformerError.hookLayerOutOfRange(hook: "blocks.5.attn.hook_z", nLayers: model.config.nLayers)) { try model.run(tokens, cache: [.z(5)]) }
    }

    @Test func hookErrorsPropagate() throws {
        struct Boom: Error {}
        #expect(throws: Boom.self) { try model.run(tokens, hooks: [.pattern(0): { _, _ in throw Boom() }]) }
        #expect(throws: TransformerError.hookShapeMismatch(hook: "blocks.0.hook_attn_out", expected: [2, 10, 64], found: [1])) {
            try model.run(tokens, hooks: [.attnOut(0): { _, _ in Tensor([1]) }])
        }
        #expect(throws: TransformerError.self) { try model.run(IndexTensor(shape: [1, 2], values: [0, 96])) }
        #expect(throws: TransformerError.self) { try model.run(IndexTensor(shape: [1, 17], values: [Int](repeating: 0, count: 17))) }
    }
}
