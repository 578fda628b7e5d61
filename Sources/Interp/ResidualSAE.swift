// ResidualSAE: an SAE checked once against a model — it reads `blocks.L.hook_resid_pre` of one of the
// model's layers, and its input is that hook's d_model-wide vector.

import SparseAutoencoder
import Tensor
import Transformer

/// An SAE on a model's residual stream before block `layer` (`blocks.L.hook_resid_pre`), validated once:
/// the layer exists and `d_in = d_model`. SAELens's `gpt2-small-res-jb` release is twelve of these.
public struct ResidualSAE: Sendable {
    public let sae: SAE
    public let layer: Int

    /// Checks `sae` against `config`.
    /// - Throws: ``InterpError/incompatibleSAE(hook:reason:)`` naming what does not fit.
    public init(_ sae: SAE, model config: GPT2Config) throws {
        guard let site = try? HookName(parsing: sae.config.hookName), case .residPre(let layer) = site, layer < config.nLayers else {
            throw InterpError.incompatibleSAE(hook: sae.config.hookName,
                                              reason: "it must read blocks.L.hook_resid_pre of one of the model's \(config.nLayers) layers")
        }
        guard sae.config.dIn == config.dModel else {
            throw InterpError.incompatibleSAE(hook: sae.config.hookName, reason: "its d_in is \(sae.config.dIn); the model's d_model is \(config.dModel)")
        }
        self.sae = sae
        self.layer = layer
    }

    /// The hook the SAE reads.
    public var site: HookName { .residPre(layer) }
    public var dSAE: Int { sae.config.dSAE }
}
