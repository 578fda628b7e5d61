// HuggingFaceGPT2Config: the `config.json` that `save_pretrained` writes beside `model.safetensors` and
// `tf_model.h5`. The head count is not recorded in the weights, so it is read from here, never guessed.

import Foundation
import Tensor

/// The fields of a HuggingFace GPT-2 `config.json` this toolkit uses, read and range-checked.
///
/// `n_layer`, `n_head`, `n_embd`, `n_positions` (older files: `n_ctx`), `vocab_size`,
/// `layer_norm_epsilon`, `activation_function` and `n_inner` (`null` = 4·n_embd). Keys that would change
/// the computation in ways this implementation does not support (`scale_attn_by_inverse_layer_idx`,
/// `scale_attn_weights: false`, an activation other than the tanh GELU) are refused by name.
public struct HuggingFaceGPT2Config: Sendable, Equatable {
    public var nLayer: Int
    public var nHead: Int
    public var nEmbd: Int
    public var nPositions: Int
    public var vocabSize: Int
    public var layerNormEpsilon: Float
    public var activationFunction: String
    /// The MLP width, or nil for the default `4 · n_embd`.
    public var nInner: Int?
    /// The file it was read from (for error messages).
    public var file: String

    /// Activations computed by ``Tensor/gelu()`` (`0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))`):
    /// HuggingFace's `gelu_new` and PyTorch's `gelu(approximate="tanh")`.
    public static let supportedActivations = ["gelu_new", "gelu_pytorch_tanh"]

    /// The `config.json` in the folder of `weightsPath`, or nil when there is none.
    public static func beside(_ weightsPath: String) throws -> HuggingFaceGPT2Config? {
        let path = (weightsPath as NSString).deletingLastPathComponent
        let file = (path.isEmpty ? "." : path) + "/config.json"
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        return try HuggingFaceGPT2Config(contentsOf: file)
    }

    /// Reads and checks `config.json` (at most 1 MiB).
    public init(contentsOf path: String) throws {
        func bad(_ key: String, _ detail: String) -> TransformerError { .invalidConfig(file: path, key: key, detail: detail) }
        let data: Data
        do { data = Data(try SmallFile.read(path, format: "config.json", maxBytes: 1 << 20)) } catch let e as FileFormatError {
            throw bad("", e.reason == .unsupported ? "is larger than 1 MiB; a config.json is a few hundred bytes" : "cannot be read (\(e.detail))")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let json = object as? [String: Any] else {
            throw bad("", "is not a JSON object")
        }
        // JSON's true/false arrive as NSNumber too; they are not numbers here.
        func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }
        func int(_ key: String, _ range: ClosedRange<Int>, alias: String? = nil) throws -> Int {
            guard let raw = json[key] ?? alias.flatMap({ json[$0] }) else { throw bad(key, "is missing") }
            guard let n = raw as? NSNumber, !isBool(n), let d = Double(exactly: n.doubleValue),
                  d.rounded() == d, d >= Double(range.lowerBound), d <= Double(range.upperBound) else {
                throw bad(key, "is \(raw), expected an integer in \(range.lowerBound)…\(range.upperBound)")
            }
            return Int(d)
        }
        if let type = json["model_type"], (type as? String) != "gpt2" {
            throw bad("model_type", "is \(type), expected \"gpt2\"")
        }
        nLayer = try int("n_layer", 1...1024)
        nHead = try int("n_head", 1...4096)
        nEmbd = try int("n_embd", 1...1 << 20)
        nPositions = try int("n_positions", 1...1 << 24, alias: "n_ctx")
        vocabSize = try int("vocab_size", 1...1 << 24)
        guard nEmbd % nHead == 0 else { throw bad("n_head", "\(nHead) does not divide n_embd \(nEmbd)") }
        if json["n_inner"] == nil || json["n_inner"] is NSNull { nInner = nil } else { nInner = try int("n_inner", 1...1 << 24) }
        if let raw = json["layer_norm_epsilon"] {
            guard let n = raw as? NSNumber, !isBool(n), n.doubleValue > 0, n.doubleValue < 1 else {
                throw bad("layer_norm_epsilon", "is \(raw), expected a number in (0, 1)")
            }
            layerNormEpsilon = Float(n.doubleValue)
        } else {
            layerNormEpsilon = 1e-5
        }
        let act = json["activation_function"] ?? "gelu_new"
        guard let a = act as? String, Self.supportedActivations.contains(a) else {
            throw bad("activation_function", "is \(act); supported: \(Self.supportedActivations.joined(separator: ", ")) (the tanh GELU of GPT-2)")
        }
        activationFunction = a
        if let v = json["scale_attn_by_inverse_layer_idx"] as? Bool, v {
            throw bad("scale_attn_by_inverse_layer_idx", "is true; attention scores divided by the layer index are not supported")
        }
        if let v = json["scale_attn_weights"] as? Bool, !v {
            throw bad("scale_attn_weights", "is false; attention scores without the 1/√d_head scale are not supported")
        }
        file = path
    }

    /// The MLP width this config implies.
    public var dMLP: Int { nInner ?? 4 * nEmbd }

    /// The model config, with d_head = n_embd / n_head.
    public var modelConfig: GPT2Config {
        GPT2Config(nLayers: nLayer, dModel: nEmbd, nHeads: nHead, dHead: nEmbd / nHead, dMLP: dMLP, nCtx: nPositions,
                   dVocab: vocabSize, eps: layerNormEpsilon)
    }
}
