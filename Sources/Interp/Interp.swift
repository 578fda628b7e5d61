// Interp: where a model and an SAE meet — corpora, token rows, the activation source for training,
// splicing, ablation, patching, attribution and the paper's datasets. The only module that imports
// both Transformer and SparseAutoencoder (Docs/Architecture.md).
import Transformer
import SparseAutoencoder
import Tensor

/// An SAE that cannot be used where it was given, or a run that asks for two edits at one hook.
public enum InterpError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The SAE does not fit the use: `hook` is its hook name, `reason` says what is needed.
    case incompatibleSAE(hook: String, reason: String)
    /// A hook point given both an SAE and a hook function.
    case conflictingEdits(hook: String)
    /// A name flip of the IOI corruption that is malformed or has no rule for a prompt's pattern.
    case invalidFlip(flip: String, reason: String)

    public var description: String {
        switch self {
        case .incompatibleSAE(let h, let r): "the SAE on '\(h)' cannot be used here: \(r)"
        case .conflictingEdits(let h): "'\(h)' has both an SAE and a hook; edit the SAE's inner hook points (hook_sae_*) instead"
        case .invalidFlip(let f, let r): "name flip '\(f)': \(r)"
        }
    }
}
