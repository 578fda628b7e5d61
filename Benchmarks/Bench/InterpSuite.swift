// InterpSuite: the dashboard pass at GPT-2-small shape — tokens/s, features/s, and the share of the
// SAE side of the pass spent in the encoder product.

import Foundation
import Interp
import Tensor
import Transformer
import SparseAutoencoder

enum InterpSuite {
    static func run() -> [String] {
        let model = GPT2(weights: TransformerSuite.randomWeights())
        let config = SAEConfig(dIn: 768, dSAE: 24576, hookName: "blocks.5.attn.hook_z", headLayout: HeadLayout(nHeads: 12, dHead: 64))
        var sae = SAETrainer.initialSAE(config, seed: 2)
        var rng = RandomStream(seed: 8)
        let rows = 64, pos = 128
        let tokens = IndexTensor(shape: [rows, pos], values: (0..<(rows * pos)).map { $0 % pos == 0 ? 50256 : rng.nextInt(below: 50257) })
        // Calibrate the encoder bias so that about 100 of 24576 features fire per token (the paper's L0 range).
        let z = try! model.runWithCache(IndexTensor(shape: [2, pos], values: Array(tokens.values[0..<(2 * pos)])), names: [.z(5)])[.z(5)]!
        let pre = sae.encodePre(SAE.flattenHeads(z).reshaped([-1, 768])).scalars.sorted(by: >)
        let threshold = pre[Int(Double(pre.count) * 100 / 24576)]
        sae.bEnc = Tensor(repeating: -threshold, shape: [24576])
        let features = Array(0..<24576)
        var t = DashboardBuilder.Timings()
        let t0 = Date()
        let boards = try! DashboardBuilder.build(model: model, sae: try! AttentionSAE(sae, model: model.config), features: features, tokens: tokens,
                                                 config: DashboardConfig(), timings: &t)
        let total = Date().timeIntervalSince(t0)
        let forwardOnly = Timing.best(reps: 1) {
            var s = 0
            while s < rows {
                let n = min(16, rows - s)
                _ = try! model.runWithCache(IndexTensor(shape: [n, pos], values: Array(tokens.values[(s * pos)..<((s + n) * pos)])), names: [.z(5)])
                s += n
            }
        }
        // The SAE side of the pass: everything but the model forward and the (feature × vocabulary) logit
        // tables, whose cost does not grow with the token set.
        let saeSide = t.encoder + t.bookkeeping + t.details
        let share = t.encoder / saeSide
        let density = boards.reduce(0) { $0 + $1.density } / Double(boards.count)
        Timing.log(String(format: "  dashboards: %d tokens × %d features in %.2f s (model %.2f, encoder %.2f, bookkeeping %.2f, logit tables %.2f, details %.2f); mean density %.4f",
                          rows * pos, features.count, total, t.model, t.encoder, t.bookkeeping, t.logits, t.details, density))
        let tokensPerS = Double(rows * pos) / total
        return [
            Timing.result("interp.dashboard_tokens_per_s", tokensPerS, "tokens/s", ratio: forwardOnly / total, baseline: "model_forward_to_hook_z_alone"),
            Timing.result("interp.dashboard_features_per_s", Double(features.count) / total, "features/s", ratio: forwardOnly / total, baseline: "model_forward_to_hook_z_alone"),
            Timing.result("interp.encoder_share_of_sae_side", share, "fraction", ratio: share / 0.70, baseline: "target_0.70"),
        ]
    }
}
