// Interp: where a model and an SAE meet — corpora, token rows, the activation source for training,
// splicing, ablation, patching, attribution and the paper's datasets. The only module that imports
// both Transformer and SparseAutoencoder (DESIGN.md).
@_exported import Transformer
@_exported import SparseAutoencoder

/// An SAE that cannot be used where it was given, or a run that asks for two edits at one hook.
public enum InterpError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The SAE does not fit the use: `hook` is its hook name, `reason` says what is needed.
    case incompatibleSAE(hook: String, reason: String)
    /// A hook point given both an SAE and a hook function.
    case conflictingEdits(hook: String)

    public var description: String {
        switch self {
        case .incompatibleSAE(let h, let r): "the SAE on '\(h)' cannot be used here: \(r)"
        case .conflictingEdits(let h): "'\(h)' has both an SAE and a hook; edit the SAE's inner hook points (hook_sae_*) instead"
        }
    }
}
