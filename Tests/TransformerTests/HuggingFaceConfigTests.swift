// HuggingFaceConfigTests: config.json beside HuggingFace weights configures the model (d_head ≠ 64),
// checked hook by hook against TransformerLens; configs that contradict the weights are refused.

import Foundation
import Testing
import TensorTestSupport
@testable import Transformer
import Tensor

@Suite struct HuggingFaceConfigTests {
    static let folder = fixture("hf_dhead16")
    static let expected = GPT2Config(nLayers: 2, dModel: 64, nHeads: 4, dHead: 16, dMLP: 192, nCtx: 16, dVocab: 96, eps: 1e-4)

    /// A copy of the fixture folder's weights with `config` (a JSON object) as its config.json, or none.
    func folder(config: [String: Any]?) throws -> URL {
        let dir = temporaryDirectory()
        try FileManager.default.copyItem(atPath: Self.folder + "/model.safetensors", toPath: dir.path + "/model.safetensors")
        if let config { try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json")) }
        return dir
    }

    func savedConfig() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.folder + "/config.json"))) as! [String: Any]
    }

    @Test func configBesideTheWeightsIsRead() throws {
        var warnings: [String] = []
        let st = try GPT2Weights.load(huggingFaceSafetensors: Self.folder + "/model.safetensors", warn: { warnings.append($0) })
        let tf = try GPT2Weights.load(tfH5: Self.folder + "/tf_model.h5", warn: { warnings.append($0) })
        #expect(st.config == Self.expected && st == tf && warnings.isEmpty)
        // Given explicitly (--config), from anywhere.
        let bare = try folder(config: nil)
        let given = try HuggingFaceGPT2Config(contentsOf: Self.folder + "/config.json")
        #expect(try GPT2Weights.load(huggingFaceSafetensors: bare.path + "/model.safetensors", config: .config(given)) == st)
    }

    @Test func everyHookMatchesTransformerLens() throws {
        let ref = try HDF5File(path: Self.folder + "/reference.h5")
        let model = GPT2(weights: try GPT2Weights.load(huggingFaceSafetensors: Self.folder + "/model.safetensors").processed())
        let names = try ref.attribute("hook_names", of: "/processed").stringsValue ?? []
        #expect(names.count == HookName.all(nLayers: 2).count)
        let out = try model.run(try ref.readIndices("/tokens"), cache: Set(try names.map { try HookName(parsing: $0) }))
        for name in names {
            let h = try HookName(parsing: name)
            let expected = try ref.readTensor("/processed/hooks/" + name), actual = try #require(out.cache[h])
            if case .attnScores = h {
                let finite = zip(actual.scalars, expected.scalars).filter { $0.1.isFinite }
                #expect(actual.scalars.map(\.isInfinite) == expected.scalars.map(\.isInfinite), "\(name) mask")
                expectClose(Tensor(finite.map(\.0)), finite.map(\.1), atol: tolerance(Tensor(finite.map(\.1))), rtol: 1e-5, Comment(rawValue: name))
            } else {
                let input = try h.layer.map { try ref.readTensor("/processed/hooks/" + HookName.residPre($0).description) }
                expectClose(actual, expected, atol: tolerance(expected, residPre: input), rtol: 1e-5, Comment(rawValue: name))
            }
        }
        let logits = try ref.readTensor("/processed/logits")
        expectClose(out.logits!, logits, atol: tolerance(logits), rtol: 1e-5, "logits")
    }

    @Test func withoutAConfigGPT2sHeadWidthIsAssumedAndSaid() throws {
        let dir = try folder(config: nil)
        var warnings: [String] = []
        let w = try GPT2Weights.load(huggingFaceSafetensors: dir.path + "/model.safetensors", warn: { warnings.append($0) })
        #expect(w.config.nHeads == 1 && w.config.dHead == 64)
        #expect(warnings.count == 1 && warnings[0].contains("d_head = 64") && warnings[0].contains("config.json"))
    }

    @Test func aConfigThatContradictsTheWeightsIsRefused() throws {
        let file = { (dir: URL) in dir.path + "/model.safetensors" }
        for (key, value, found) in [("n_embd", 128, 64), ("n_layer", 3, 2), ("vocab_size", 50257, 96), ("n_positions", 1024, 16), ("n_inner", 256, 192)] {
            var c = try savedConfig()
            c[key] = value
            if key == "n_embd" { c["n_head"] = 8 }
            let dir = try folder(config: c)
            #expect(throws: TransformerError.configMismatch(config: dir.path + "/config.json", key: key, configValue: value,
                                                            weights: file(dir), weightsValue: found)) {
                try GPT2Weights.load(huggingFaceSafetensors: file(dir))
            }
        }
        // n_inner null means 4·n_embd = 256, but the MLP is 192 wide.
        var c = try savedConfig()
        c["n_inner"] = NSNull()
        let dir = try folder(config: c)
        #expect(throws: TransformerError.configMismatch(config: dir.path + "/config.json", key: "n_inner (null: 4·n_embd)", configValue: 256,
                                                        weights: file(dir), weightsValue: 192)) {
            try GPT2Weights.load(huggingFaceSafetensors: file(dir))
        }
    }

    /// Each bad value as JSON text, and a part of the message that must name what is allowed.
    @Test(arguments: [
        ("n_head", "5", "does not divide"), ("n_head", "true", "expected an integer"), ("n_head", "2.5", "expected an integer"),
        ("n_head", "0", "expected an integer"), ("n_layer", "\"2\"", "expected an integer"), ("n_embd", "1e300", "expected an integer"),
        ("activation_function", "\"silu\"", "supported: gelu, gelu_new"), ("layer_norm_epsilon", "-1", "(0, 1)"),
        ("scale_attn_by_inverse_layer_idx", "true", "not supported"), ("model_type", "\"gpt_neox\"", "gpt2"),
    ])
    func badValuesAreNamed(_ key: String, _ json: String, _ message: String) throws {
        var c = try savedConfig()
        c[key] = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
        let dir = try folder(config: c)
        do {
            _ = try GPT2Weights.load(huggingFaceSafetensors: dir.path + "/model.safetensors")
            Issue.record("\(key) = \(json) was accepted")
        } catch let e as TransformerError {
            guard case .invalidConfig(let f, let k, _) = e else { Issue.record("\(e)"); return }
            #expect(f == dir.path + "/config.json" && k == key && e.description.contains(message), "\(e)")
        }
    }

    @Test func aMissingKeyIsNamed() throws {
        var c = try savedConfig()
        c["n_head"] = nil
        let dir = try folder(config: c)
        #expect(throws: TransformerError.invalidConfig(file: dir.path + "/config.json", key: "n_head", detail: "is missing")) {
            try GPT2Weights.load(huggingFaceSafetensors: dir.path + "/model.safetensors")
        }
        try Data("[1, 2".utf8).write(to: dir.appendingPathComponent("config.json"))
        #expect(throws: TransformerError.invalidConfig(file: dir.path + "/config.json", key: "", detail: "is not a JSON object")) {
            try GPT2Weights.load(huggingFaceSafetensors: dir.path + "/model.safetensors")
        }
    }
}

/// Our own model files' attributes are read from the file too: out-of-range values are refused by
/// name before any tensor is looked up or allocated (n_layers = -1 trapped, 2^60 allocated).
@Suite struct ModelAttributeTests {
    @Test(arguments: [("n_layers", Int64(-1)), ("n_layers", Int64(1) << 60), ("d_model", 0), ("n_heads", -3), ("d_vocab", Int64(1) << 40),
                      ("d_head", Int64(1) << 20), ("n_ctx", 0)])
    func outOfRangeAttributesAreRefused(_ key: String, _ value: Int64) throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.h5").path
        var attrs: [String: Int64] = ["version": GPT2Weights.hdf5Version, "n_layers": 2, "d_model": 8, "n_heads": 2, "d_head": 4, "d_mlp": 16,
                                      "n_ctx": 8, "d_vocab": 10, "fold_ln": 0, "center_writing_weights": 0, "center_unembed": 0, "fold_value_biases": 0]
        attrs[key] = value
        try HDF5Writer.write(to: path) { w in
            try w.setAttribute("format", .string(GPT2Weights.hdf5Format))
            for (k, v) in attrs { try w.setAttribute(k, .int(v)) }
        }
        do {
            _ = try GPT2Weights.load(hdf5: path)
            Issue.record("\(key) = \(value) accepted")
        } catch let e as TransformerError {
            guard case .invalidConfig(let file, let k, _) = e else { Issue.record("\(e)"); return }
            #expect(file == path && k == key, "\(e)")
        }
    }
}
