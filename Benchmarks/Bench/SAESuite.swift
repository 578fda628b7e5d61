// SAESuite: seconds per SAE training step at the paper's shape (d_in 768, d_sae 24576, batch 4096)
// for several sparsities, against the paper's step in PyTorch on the same shapes; a TopK (k 32) step
// against the same step in PyTorch; and peak memory.

import Foundation
import SparseAutoencoder
import Tensor
import Transformer
import Interp

enum SAESuite {
    static let dIn = 768, dSAE = 24576, batch = 4096

    /// Encoder bias giving about `l0` active features per row for standard-normal inputs and the
    /// paper's initialisation (pre-activations have std √(2·d_in/d_sae) ≈ 0.25).
    static func bias(forL0 l0: Double) -> Float {
        let sigma = (2.0 * Double(dIn) / Double(dSAE)).squareRoot()
        let p = l0 / Double(dSAE)
        // Inverse normal tail by bisection on erfc.
        var lo = -10.0, hi = 10.0
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if 0.5 * erfc(mid / 2.0.squareRoot()) > p { lo = mid } else { hi = mid }
        }
        return Float(-sigma * (lo + hi) / 2)
    }

    static func peakRSSGiB() -> Double {
        var ru = rusage()
        getrusage(RUSAGE_SELF.rawValue, &ru)
        return Double(ru.ru_maxrss) / 1024 / 1024
    }

    static func run(torch: [String: Double]) -> [String] {
        var out: [String] = []
        let config = SAEConfig(dIn: dIn, dSAE: dSAE, hookName: "blocks.5.attn.hook_z", headLayout: HeadLayout(nHeads: 12, dHead: 64))
        var rng = RandomStream(seed: 21)
        let x = Tensor.randomNormal([batch, dIn], using: &rng)
        let torchStep = torch["sae_step_dense"]
        for (name, l0) in [("L0_20", 20.0), ("L0_100", 100.0), ("L0_1000", 1000.0), ("dense", Double(dSAE))] {
            var sae = SAETrainer.initialSAE(config, seed: 1)
            sae.bEnc = Tensor(repeating: l0 >= Double(dSAE) ? 10 : bias(forL0: l0), shape: [dSAE])
            var training = SAETrainingConfig()
            training.gradientPath = l0 >= Double(dSAE) ? .dense : .automatic
            var trainer = SAETrainer(sae: sae, config: training)
            var measured: Float = 0
            var sparse = false
            let t = Timing.best(reps: 2) {
                let m = try! trainer.step(x)
                measured = m.l0
                sparse = m.sparse
            }
            Timing.log(String(format: "  sae step %@: %.3f s (L0 %.0f, %@ path)", name, t, measured, sparse ? "sparse" : "dense"))
            if let tt = torchStep {
                out.append(Timing.result("sae.step_\(name)", t, "s/step", ratio: tt / t, baseline: "torch_paper_step(dense)"))
            }
        }
        // TopK (k 32): a fixed L0, so the step goes through the active entries.
        do {
            var training = SAETrainingConfig()
            training.architecture = .topk
            training.k = 32
            var trainer = SAETrainer(sae: SAETrainer.initialSAE(config, seed: 1), config: training)
            var sparse = false
            let t = Timing.best(reps: 2) { sparse = try! trainer.step(x).sparse }
            Timing.log(String(format: "  sae TopK (k 32) step: %.3f s (%@ path)", t, sparse ? "entry" : "dense"))
            if let tt = torch["sae_step_topk32"] {
                out.append(Timing.result("sae.step_topk32", t, "s/step", ratio: tt / t, baseline: "torch_topk_step(k32)"))
            }
        }
        let peak = peakRSSGiB()
        Timing.log(String(format: "  peak resident memory %.2f GiB", peak))
        out.append(Timing.result("sae.peak_rss", peak, "GiB", ratio: 8 / peak, baseline: "8GiB_budget"))
        return out
    }
}
