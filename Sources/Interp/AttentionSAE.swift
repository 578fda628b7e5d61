// AttentionSAE: an SAE checked once against a model — it reads `blocks.L.attn.hook_z` of one of the
// model's layers, and its input is that hook's heads flattened head-major.

import SparseAutoencoder
import Tensor
import Transformer

/// An SAE on a model's concatenated attention outputs, validated once: the hook is `hook_z` of layer
/// `layer` (< n_layers) and `d_in = n_heads · d_head` of the model, so the head layout is the model's.
/// Everything that analyses an attention SAE takes this, and none re-parses the hook name.
public struct AttentionSAE: Sendable {
    /// The SAE, with `config.headLayout` set to the model's.
    public let sae: SAE
    public let layer: Int
    public let layout: HeadLayout

    /// Checks `sae` against `config`; the head layout becomes the model's (`n_heads × d_head`).
    /// - Throws: ``InterpError/incompatibleSAE(hook:reason:)`` naming what does not fit.
    public init(_ sae: SAE, model config: GPT2Config) throws {
        let layout = HeadLayout(nHeads: config.nHeads, dHead: config.dHead)
        guard let site = try? HookName(parsing: sae.config.hookName), case .z(let layer) = site, layer < config.nLayers else {
            throw InterpError.incompatibleSAE(hook: sae.config.hookName,
                                              reason: "it must read blocks.L.attn.hook_z of one of the model's \(config.nLayers) layers")
        }
        guard sae.config.dIn == layout.width else {
            throw InterpError.incompatibleSAE(hook: sae.config.hookName,
                                              reason: "its d_in is \(sae.config.dIn); the model's hook_z is \(layout.nHeads)×\(layout.dHead) = \(layout.width)")
        }
        var sae = sae
        sae.config.headLayout = layout
        self.sae = sae
        self.layer = layer
        self.layout = layout
    }

    /// The hook the SAE reads.
    public var site: HookName { .z(layer) }
    public var dSAE: Int { sae.config.dSAE }

    /// `hook_z` `[batch, pos, n_heads, d_head]` as the SAE's input rows `[batch·pos, d_in]`.
    public func inputRows(_ z: Tensor) -> Tensor {
        SAE.flattenHeads(z).reshaped([-1, layout.width])
    }
}
