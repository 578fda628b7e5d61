// TransformerSuite: GPT-2-small forward throughput (random weights) against TransformerLens on the
// same shapes, and the forward's GFLOP/s as a share of the machine's sgemm throughput.

import Foundation
import Transformer
import Tensor
import SparseAutoencoder
import Interp

enum TransformerSuite {
    static let batch = 8, pos = 128

    /// GPT-2-small-shaped weights, normal(0, 0.02), processed (LN folded) as the paper's model is.
    static func randomWeights() -> GPT2Weights {
        let c = GPT2Config.gpt2Small
        var rng = RandomStream(seed: 3)
        func r(_ shape: [Int]) -> Tensor { Tensor.randomNormal(shape, std: 0.02, using: &rng) }
        let blocks = (0..<c.nLayers).map { _ in
            BlockWeights(ln1: nil, wQ: r([c.nHeads, c.dModel, c.dHead]), wK: r([c.nHeads, c.dModel, c.dHead]),
                         wV: r([c.nHeads, c.dModel, c.dHead]), bQ: r([c.nHeads, c.dHead]), bK: r([c.nHeads, c.dHead]),
                         bV: r([c.nHeads, c.dHead]), wO: r([c.nHeads, c.dHead, c.dModel]), bO: r([c.dModel]), ln2: nil,
                         wIn: r([c.dModel, c.dMLP]), bIn: r([c.dMLP]), wOut: r([c.dMLP, c.dModel]), bOut: r([c.dModel]))
        }
        return GPT2Weights(config: c, wE: r([c.dVocab, c.dModel]), wPos: r([c.nCtx, c.dModel]), blocks: blocks,
                           lnFinal: nil, wU: r([c.dModel, c.dVocab]), bU: r([c.dVocab]), processing: .transformerLensDefault)
    }

    /// Multiply-adds ×2 of the forward's matrix products: `layers` whole blocks, then optionally the
    /// attention of one more block up to `hook_z` (Q, K, V, scores, pattern·V), and the unembed.
    static func flops(_ c: GPT2Config, layers: Int, attentionOfNext: Bool = false, unembed: Bool) -> Double {
        let t = Double(batch * pos), d = Double(c.dModel)
        let toZ = 2 * t * d * d * 3 + 2 * 2 * Double(batch * c.nHeads) * Double(pos * pos * c.dHead)
        let perLayer = toZ + 2 * t * d * d + 2 * t * d * Double(c.dMLP) * 2
        return perLayer * Double(layers) + (attentionOfNext ? toZ : 0) + (unembed ? 2 * t * d * Double(c.dVocab) : 0)
    }

    static func run(torch: [String: Double], sgemmGFLOPs: Double?, arithmeticPeak: Double?) -> [String] {
        var out: [String] = []
        let model = GPT2(weights: randomWeights())
        var rng = RandomStream(seed: 4)
        let tokens = IndexTensor(shape: [batch, pos], values: (0..<(batch * pos)).map { _ in rng.nextInt(below: 50257) })
        let n = Double(batch * pos)
        let full = Timing.best(reps: 3) { _ = try! model.logits(tokens) }
        let toL5 = Timing.best(reps: 3) { _ = try! model.runWithCache(tokens, names: [.z(5)]) }
        Timing.log(String(format: "  full forward %.0f tokens/s (%.3f s); to layer 5 with hook_z %.0f tokens/s (%.3f s)", n / full, full, n / toL5, toL5))
        // The run to hook_z of layer 5 stops right after it: blocks 0–4 and block 5's attention.
        for (name, t, layers, nextAttention, unembed) in [("forward_full", full, 12, false, true), ("forward_to_L5_hook_z", toL5, 5, true, false)] {
            if let tt = torch[name] {
                out.append(Timing.result("transformer.\(name)", n / t, "tokens/s", ratio: tt / t, baseline: "TransformerLens(torch)"))
            }
            let work = flops(model.config, layers: layers, attentionOfNext: nextAttention, unembed: unembed), g = work / t / 1e9
            if let peak = sgemmGFLOPs {
                out.append(Timing.result("transformer.\(name).gflops", g, "GFLOP/s", ratio: g / peak, baseline: "sgemm_peak_this_run"))
            }
            if let peak = arithmeticPeak {
                // The physical floor: the products alone at the machine's multiply-add rate, nothing else.
                let floor = work / (peak * 1e9)
                out.append(Timing.result("transformer.\(name).vs_arithmetic_peak", g, "GFLOP/s", ratio: g / peak, baseline: "arithmetic_peak"))
                if let tt = torch[name] {
                    Timing.log(String(format: "  %@: %.1f GFLOP of products; at the arithmetic peak alone %.3f s = %.2f× TransformerLens at most (now %.2f×)",
                                      name, work / 1e9, floor, tt / floor, tt / t))
                }
            }
        }
        return out
    }
}
