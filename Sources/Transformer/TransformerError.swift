// TransformerError: typed errors of model loading and running.
import Tensor

/// What can go wrong loading or running a model; every case names what to fix.
public enum TransformerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A weight file lacks a tensor the model needs.
    case missingTensor(file: String, name: String, expectedShape: [Int])
    /// A tensor has the wrong shape.
    case shapeMismatch(file: String, name: String, expected: [Int], found: [Int])
    /// A weight file's content is inconsistent (e.g. no layers, an unknown layout version).
    case invalidModelFile(file: String, detail: String)
    /// A model's `config.json` has a key that is missing, out of range or not supported.
    case invalidConfig(file: String, key: String, detail: String)
    /// A `config.json` contradicts the weights beside it: `key` says `configValue`, the tensors say `weightsValue`.
    case configMismatch(config: String, key: String, configValue: Int, weights: String, weightsValue: Int)
    /// A hook name that is not a TransformerLens hook of this model.
    case unknownHook(String)
    /// A well-formed hook name whose layer the model does not have.
    case hookLayerOutOfRange(hook: String, nLayers: Int)
    /// A TransformerLens hook name this model's architecture does not have.
    case hookNotInModel(hook: String, detail: String)
    /// A hook was requested (cached or edited) but never fired in the run.
    case hookDidNotFire(String)
    /// A hook edit returned a tensor of the wrong shape.
    case hookShapeMismatch(hook: String, expected: [Int], found: [Int])
    /// Token ids or sequence length outside the model's range.
    case invalidTokens(String)

    public var description: String {
        switch self {
        case .missingTensor(let f, let n, let s): "\(f): missing tensor '\(n)' (expected shape \(s))"
        case .shapeMismatch(let f, let n, let e, let s): "\(f): tensor '\(n)' has shape \(s), expected \(e)"
        case .invalidModelFile(let f, let d): "\(f): \(d)"
        case .invalidConfig(let f, let k, let d): k.isEmpty ? "\(f) \(d)" : "\(f): '\(k)' \(d)"
        case .configMismatch(let c, let k, let cv, let w, let wv):
            "\(c) says \(k) = \(cv), but the weights in \(w) have \(wv); the config and the weights are from different models"
        case .unknownHook(let n): "unknown hook name '\(n)' (expected a TransformerLens name such as 'blocks.0.attn.hook_z')"
        case .hookLayerOutOfRange(let h, let n): "hook '\(h)' is in a layer this model does not have (it has \(n) layers, 0…\(n - 1))"
        case .hookNotInModel(let h, let d): "hook '\(h)' is not in this model: \(d)"
        case .hookDidNotFire(let n): "hook '\(n)' was requested but did not fire in this run (check the stop layer)"
        case .hookShapeMismatch(let h, let e, let s): "hook '\(h)' returned shape \(s), expected \(e)"
        case .invalidTokens(let d): "invalid tokens: \(d)"
        }
    }
}
