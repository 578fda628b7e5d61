// HuggingFaceGPT2Config: the `config.json` that `save_pretrained` writes beside `model.safetensors` and
// `tf_model.h5`. The head count is not recorded in the weights, so it is read from here, never guessed.

import Foundation
import Tensor

/// The fields of a HuggingFace GPT-2 `config.json` this toolkit uses, read and range-checked.
///
/// `n_layer`, `n_head`, `n_embd`, `n_positions` (older files: `n_ctx`), `vocab_size`,
/// `layer_norm_epsilon`, `activation_function` and `n_inner` (`null` = 4·n_embd). Keys that would change
/// the computation in ways this implementation does not support (`scale_attn_by_inverse_layer_idx`,
/// `scale_attn_weights: false`, an activation not in ``supportedActivations``) are refused by name.
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

    /// HuggingFace's activation names this toolkit computes: the tanh GELU (`gelu_new`, PyTorch's
    /// `gelu(approximate="tanh")`), the exact GELU (`gelu`) and `relu`.
    public static let supportedActivations: [String: GPT2Config.ActivationFunction] =
        ["gelu_new": .geluNew, "gelu_pytorch_tanh": .geluNew, "gelu": .gelu, "relu": .relu]

    /// The `config.json` in the folder of `weightsPath`, or nil when there is none.
    public static func beside(_ weightsPath: String) throws -> HuggingFaceGPT2Config? {
        let file = ConfigJSON.path(beside: weightsPath)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        return try HuggingFaceGPT2Config(contentsOf: file)
    }

    /// Reads and checks `config.json` (at most 1 MiB).
    public init(contentsOf path: String) throws {
        let json = try ConfigJSON(contentsOf: path)
        if let type = json.object["model_type"], (type as? String) != "gpt2" {
            throw json.bad("model_type", "is \(type), expected \"gpt2\"")
        }
        nLayer = try json.int("n_layer", 1...1024)
        nHead = try json.int("n_head", 1...4096)
        nEmbd = try json.int("n_embd", 1...1 << 20)
        nPositions = try json.int("n_positions", 1...1 << 24, alias: "n_ctx")
        vocabSize = try json.int("vocab_size", 1...1 << 24)
        guard nEmbd % nHead == 0 else { throw json.bad("n_head", "\(nHead) does not divide n_embd \(nEmbd)") }
        nInner = json.has("n_inner") ? try json.int("n_inner", 1...1 << 24) : nil
        layerNormEpsilon = Float(try json.number("layer_norm_epsilon", in: 0...1, default: 1e-5))
        let act = json.object["activation_function"] ?? "gelu_new"
        guard let a = act as? String, Self.supportedActivations[a] != nil else {
            throw json.bad("activation_function", "is \(act); supported: \(Self.supportedActivations.keys.sorted().joined(separator: ", "))")
        }
        activationFunction = a
        if try json.bool("scale_attn_by_inverse_layer_idx", default: false) {
            throw json.bad("scale_attn_by_inverse_layer_idx", "is true; attention scores divided by the layer index are not supported")
        }
        if !(try json.bool("scale_attn_weights", default: true)) {
            throw json.bad("scale_attn_weights", "is false; attention scores without the 1/√d_head scale are not supported")
        }
        file = path
    }

    /// The MLP width this config implies.
    public var dMLP: Int { nInner ?? 4 * nEmbd }

    /// The model config, with d_head = n_embd / n_head.
    public var modelConfig: GPT2Config {
        GPT2Config(nLayers: nLayer, dModel: nEmbd, nHeads: nHead, dHead: nEmbd / nHead, dMLP: dMLP, nCtx: nPositions,
                   dVocab: vocabSize, eps: layerNormEpsilon, actFn: Self.supportedActivations[activationFunction] ?? .geluNew)
    }
}
