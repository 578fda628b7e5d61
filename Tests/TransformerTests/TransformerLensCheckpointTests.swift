// TransformerLensCheckpointTests: GELU-2L-family checkpoints (`model_final.pth` + the repository's
// config.json), standard and shortformer positions, against TransformerLens's own from_pretrained of
// the same files (Scripts/reference/make_tl_checkpoint_fixtures.py).

import Foundation
import Testing
import TensorTestSupport
@testable import Transformer
import Tensor

/// One fixture folder (`standard` or `shortformer`) and TransformerLens's runs of it.
struct CheckpointFixture {
    let folder: String
    let reference: HDF5File
    init(_ name: String) throws {
        folder = fixture("tl-checkpoint/" + name)
        reference = try HDF5File(path: folder + "/reference.h5")
    }
    var checkpoint: String { folder + "/model_final.pth" }
    var tokens: IndexTensor { get throws { try reference.readIndices("/tokens") } }
}

@Suite struct TransformerLensCheckpointTests {
    @Test func configMapsAsTransformerLensDoes() throws {
        let standard = try TransformerLensRepoConfig(contentsOf: fixture("tl-checkpoint/standard/config.json"))
        #expect(standard.config == GPT2Config(nLayers: 2, dModel: 16, nHeads: 2, dHead: 8, dMLP: 64, nCtx: 128, dVocab: 3000,
                                              eps: 1e-5, actFn: .gelu, positionalEmbedding: .standard))
        #expect(standard.tokenizerName == "NeelNanda/gpt-neox-tokenizer-digits")
        #expect(!standard.normsFolded)
        let short = try TransformerLensRepoConfig(contentsOf: fixture("tl-checkpoint/shortformer/config.json"))
        #expect(short.config.positionalEmbedding == .shortformer)
        // Attention-only: act_fn (here solu_ln) and d_mlp are not read, as in TransformerLens.
        let attnOnly = try TransformerLensRepoConfig(contentsOf: fixture("tl-checkpoint/attn-only/config.json"))
        #expect(attnOnly.config.attnOnly && attnOnly.config.dMLP == 0 && attnOnly.config.dVocab == 512)
    }

    /// Every hook TransformerLens caches, in its order, the logits and the loss — processed as
    /// `from_pretrained` processes (for shortformer: the value-bias fold only) and unprocessed.
    @Test(arguments: ["standard", "shortformer", "attn-only"], ["unprocessed", "processed"])
    func everyHookMatchesTransformerLens(_ name: String, _ group: String) throws {
        let f = try CheckpointFixture(name)
        var w = try GPT2Weights.load(transformerLensCheckpoint: f.checkpoint)
        #expect(w.processing == .none)
        if group == "processed" { w = w.processed() }
        let model = GPT2(weights: w)
        let tlNames = try f.reference.attribute("hook_names", of: "/" + group).stringsValue ?? []
        let all = HookName.all(w.config)
        #expect(all.map(\.description) == tlNames)
        let tokens = try f.tokens
        let out = try model.run(tokens, cache: Set(all))
        #expect(out.cache.names(nLayers: 2) == all)
        for h in all where h != .unembedOut {
            let expected = try f.reference.readTensor("/\(group)/hooks/\(h)")
            let actual = try #require(out.cache[h])
            if case .attnScores = h {
                #expect(actual.scalars.map(\.isInfinite) == expected.scalars.map(\.isInfinite), "\(h) mask")
                let finite = zip(actual.scalars, expected.scalars).filter { $0.1.isFinite }
                expectClose(Tensor(finite.map(\.0)), finite.map(\.1), atol: tolerance(Tensor(finite.map(\.1))), rtol: 1e-5, Comment(rawValue: h.description))
            } else {
                let input = try h.layer.map { try f.reference.readTensor("/\(group)/hooks/\(HookName.residPre($0))") }
                expectClose(actual, expected, atol: tolerance(expected, residPre: input), rtol: 1e-5, Comment(rawValue: "\(name) \(group) \(h)"))
            }
        }
        let logits = try f.reference.readTensor("/\(group)/logits")
        expectClose(out.logits!, logits, atol: tolerance(logits), rtol: 1e-5, "logits")
        expectClose(out.cache[.unembedOut]!, logits, atol: tolerance(logits), rtol: 1e-5, "unembed.hook_out")
        expectClose(try model.lossPerToken(tokens), try f.reference.readTensor("/\(group)/loss_per_token"), atol: 2e-5, rtol: 1e-5, "loss")
    }

    /// `from_pretrained` with each of the 16 combinations of its processing flags (the fixture's
    /// parameters are far from neutral, so a step applied that TransformerLens skips — or skipped that
    /// it applies — moves every hook): every hook, the last logits and the loss of the first row.
    @Test(arguments: ["standard", "shortformer", "attn-only"])
    func everyProcessingFlagMatchesTransformerLens(_ name: String) throws {
        let f = try CheckpointFixture(name)
        let raw = try GPT2Weights.load(transformerLensCheckpoint: f.checkpoint)
        let tokens = try f.tokens.rows(0..<1)
        let all = HookName.all(raw.config)
        for bits in 0..<16 {
            let flags = (0..<4).map { bits >> (3 - $0) & 1 == 1 }
            let group = "/flags/" + flags.map { $0 ? "1" : "0" }.joined()
            let wanted = WeightProcessing(foldLN: flags[0], centerWritingWeights: flags[1], centerUnembed: flags[2], foldValueBiases: flags[3])
            let model = GPT2(weights: raw.processed(wanted))
            let out = try model.run(tokens, cache: Set(all))
            for h in all where h != .unembedOut {
                let expected = try f.reference.readTensor("\(group)/hooks/\(h)")
                var actual = try #require(out.cache[h])
                var reference = expected
                if case .attnScores = h {       // −∞ above the diagonal on both sides; compare the finite entries
                    #expect(actual.scalars.map(\.isInfinite) == expected.scalars.map(\.isInfinite), "\(group) \(h) mask")
                    let finite = zip(actual.scalars, expected.scalars).filter { $0.1.isFinite }
                    actual = Tensor(finite.map(\.0))
                    reference = Tensor(finite.map(\.1))
                }
                let input = try h.layer.map { try f.reference.readTensor("\(group)/hooks/\(HookName.residPre($0))") }
                expectClose(actual, reference, atol: tolerance(reference, residPre: input), rtol: 1e-5, Comment(rawValue: "\(name) \(group) \(h)"))
            }
            let last = try f.reference.readTensor("\(group)/last_logits")
            let logits = out.logits!.sliced(axis: 1, (tokens.shape[1] - 1)..<tokens.shape[1]).reshaped(last.shape)
            expectClose(logits, last, atol: tolerance(last), rtol: 1e-5, Comment(rawValue: "\(name) \(group) logits"))
            expectClose(try model.lossPerToken(tokens), try f.reference.readTensor("\(group)/loss_per_token"), atol: 2e-5, rtol: 1e-5,
                        Comment(rawValue: "\(name) \(group) loss"))
        }
    }

    /// Shortformer positions never enter the residual stream: `resid_pre` of block 0 is `hook_embed`,
    /// and the pattern changes when the positions do while the values (`hook_v`) do not.
    @Test func shortformerPositionsReachOnlyQueriesAndKeys() throws {
        var w = try GPT2Weights.load(transformerLensCheckpoint: CheckpointFixture("shortformer").checkpoint)
        let tokens = try CheckpointFixture("shortformer").tokens
        let names: Set<HookName> = [.embed, .residPre(0), .v(0), .q(0), .pattern(0)]
        let a = try GPT2(weights: w).run(tokens, cache: names).cache
        #expect(a[.residPre(0)]! == a[.embed]!)
        w.wPos = w.wPos * 2
        let b = try GPT2(weights: w).run(tokens, cache: names).cache
        #expect(b[.v(0)]! == a[.v(0)]!)
        #expect(b[.q(0)]! != a[.q(0)]!)
        #expect(b[.pattern(0)]! != a[.pattern(0)]!)
    }

    /// TransformerLens's processing of a shortformer model is the value-bias fold alone.
    @Test func shortformerProcessingIsTheValueBiasFoldOnly() throws {
        let w = try GPT2Weights.load(transformerLensCheckpoint: CheckpointFixture("shortformer").checkpoint)
        let p = w.processed()
        #expect(p.processing == WeightProcessing(foldLN: false, centerWritingWeights: false, centerUnembed: false, foldValueBiases: true))
        #expect(p.blocks[0].ln1 != nil && p.lnFinal != nil && p.wE == w.wE && p.wU == w.wU)
    }

    /// An attention-only model has no MLP hooks: asking for one is a typed error naming it; our layout
    /// keeps the architecture.
    @Test func attentionOnlyModels() throws {
        let w = try GPT2Weights.load(transformerLensCheckpoint: CheckpointFixture("attn-only").checkpoint).processed()
        let tokens = try CheckpointFixture("attn-only").tokens
        #expect(throws: TransformerError.hookNotInModel(hook: "blocks.1.hook_mlp_out", detail: "an attention-only model has no ln2, MLP or resid_mid hooks")) {
            try GPT2(weights: w).run(tokens, cache: [.mlpOut(1)])
        }
        #expect(throws: TransformerError.self) { try GPT2(weights: w).runWithCache(tokens, names: [.residMid(0)]) }
        #expect(!w.stateDict.contains { $0.name.contains("mlp") || $0.name.contains("ln2") })
        let path = temporaryDirectory().appendingPathComponent("attn-only.h5").path
        try w.writeHDF5(to: path)
        #expect(try GPT2Weights.load(hdf5: path) == w)
    }

    /// TransformerLens's `to_tokens` with the repository's (NeoX-style) tokenizer: BOS `<|endoftext|>` (id 0) first.
    @Test func toTokensMatchesTransformerLens() throws {
        let f = try CheckpointFixture("standard")
        let tokenizer = try GPT2Tokenizer(tokenizerJSON: fixture("tokenizer-json/neox_style.json"))
        let text = try #require(try f.reference.attribute("text").stringValue)
        #expect(tokenizer.toTokens(text) == (try f.reference.readIndices("/text_tokens")).values)
        #expect(tokenizer.endOfTextID == 0)
    }

    /// The exact GELU against a float64 reference of `0.5·x·(1 + erf(x/√2))`.
    @Test func exactGELU() {
        let xs: [Float] = [-8, -3.5, -1, -0.25, 0, 1e-3, 0.5, 1, 2.75, 6]
        let y = Tensor(xs).geluExact()
        for (x, v) in zip(xs, y.scalars) {
            let d = Double(x)
            let want = 0.5 * d * (1 + erf(d / 2.0.squareRoot()))
            #expect(v == Float(want) || abs(Double(v) - want) <= 2e-7 * max(1, abs(want)), "gelu(\(x)) = \(v), want \(want)")
        }
    }

    @Test func ourLayoutKeepsTheArchitecture() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["standard", "shortformer", "attn-only"] {
            let w = try GPT2Weights.load(transformerLensCheckpoint: CheckpointFixture(name).checkpoint).processed()
            let path = dir.appendingPathComponent("\(name).h5").path
            try w.writeHDF5(to: path)
            #expect(try GPT2Weights.load(hdf5: path) == w)
            // GPT-2's architecture is written as version 1 (which earlier builds read); these are version 2.
            #expect(try HDF5File(path: path).attribute("version").intValue == 2)
        }
    }

    @Test func formatAndFolderDetection() throws {
        let f = try CheckpointFixture("standard")
        #expect(try ModelFileFormat.detect(f.checkpoint) == .transformerLensCheckpoint)
        #expect(ModelFileFormat.weightsFile(inFolder: f.folder) == f.checkpoint)
        #expect(try GPT2Weights.load(file: f.checkpoint) == GPT2Weights.load(transformerLensCheckpoint: f.checkpoint))
        #expect(throws: TransformerError.self) { try GPT2Weights.load(file: f.checkpoint, config: .heads(2)) }
    }

    /// A config naming an architecture this toolkit does not run, or a malformed one, is refused by key.
    @Test(arguments: [
        ("act_fn", "\"solu_ln\""), ("attn_only", "1"), ("normalization", "\"RMS\""), ("final_rms", "true"),
        ("n_layers", "-1"), ("d_model", "\"512\""), ("shortformer_pos", "1"), ("act_fn", "null"),
    ])
    func unsupportedOrMalformedConfigsNameTheKey(_ key: String, _ value: String) throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = try CheckpointFixture("standard")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src.folder + "/config.json"))) as! [String: Any]
        json[key] = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(atPath: src.checkpoint, toPath: dir.appendingPathComponent("model_final.pth").path)
        do {
            _ = try GPT2Weights.load(transformerLensCheckpoint: dir.appendingPathComponent("model_final.pth").path)
            Issue.record("\(key) = \(value) was accepted")
        } catch let TransformerError.invalidConfig(_, k, _) {
            #expect(k == key)
        }
    }

    /// The config and the tensors must describe the same model; a missing config is named.
    @Test func mismatchedCheckpointsAreTypedErrors() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = try CheckpointFixture("standard")
        let pth = dir.appendingPathComponent("model_final.pth").path
        try FileManager.default.copyItem(atPath: src.checkpoint, toPath: pth)
        #expect(throws: TransformerError.self) { try GPT2Weights.load(transformerLensCheckpoint: pth) }     // no config.json
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src.folder + "/config.json"))) as! [String: Any]
        json["d_mlp"] = 32
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("config.json"))
        #expect(throws: TransformerError.shapeMismatch(file: pth, name: "blocks.0.mlp.W_in", expected: [16, 32], found: [16, 64])) {
            try GPT2Weights.load(transformerLensCheckpoint: pth)
        }
        json["d_mlp"] = 64
        json["n_layers"] = 1
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("config.json"))
        do {
            _ = try GPT2Weights.load(transformerLensCheckpoint: pth)
            Issue.record("a 2-layer checkpoint loaded as 1 layer")
        } catch let TransformerError.invalidModelFile(_, detail) {
            #expect(detail.contains("blocks.1."))
        }
    }
}
