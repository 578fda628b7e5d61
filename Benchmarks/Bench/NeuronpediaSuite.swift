// NeuronpediaSuite: the Neuronpedia export of a whole GPT-2-small-shaped layer — a 24576-feature attention
// SAE at layer 5, about 20 features firing per token — on 256 rows, its time split into the phases that
// grow with the rows (the scan, the DFA pass) and those per feature (logit effects, JSON), and projected
// to the paper's dashboard set of 4096 rows. SAEDashboard's runner, the
// natural baseline, does not install beside the reference environment (it pins TransformerLens < 3), so
// the ratio is to the export's floor: the SAE encoder's product over the same rows at this machine's
// measured sgemm speed.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

enum NeuronpediaSuite {
    static let layer = 5, dSAE = 24576, targetL0 = 20

    static func run() -> [String] {
        guard let tokenizer = try? GPT2Tokenizer() else {
            Timing.log("  neuronpedia: skipped (no GPT-2 tokenizer in the cache: run Scripts/setup)")
            return []
        }
        let model = GPT2(weights: TransformerSuite.randomWeights())
        var rng = RandomStream(seed: 21)
        func rows(_ n: Int) -> IndexTensor {
            IndexTensor(shape: [n, 128], values: (0..<(n * 128)).map { $0 % 128 == 0 ? 50256 : rng.nextInt(below: 50256) })
        }
        // The SAE's encoder bias calibrated so that about `targetL0` features fire per token.
        let calibration = rows(8)
        let z = try! model.runWithCache(calibration, names: [.z(layer)])[.z(layer)]!
        let x = SAE.flattenHeads(z).reshaped([-1, 768])
        var sae = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: dSAE, hookName: "blocks.\(layer).attn.hook_z",
                                                  headLayout: HeadLayout(nHeads: 12, dHead: 64)), seed: 5)
        let pre = sae.encodePre(x).scalars.sorted(by: >)
        sae.bEnc = sae.bEnc - pre[pre.count * targetL0 / dSAE]
        let attention = try! AttentionSAE(sae, model: model.config)
        let settings = NeuronpediaExport.Settings(modelID: "gpt2-small", layer: layer, saeSet: "att-kk", dataset: "random tokens")

        func export(_ n: Int) -> (seconds: Double, timings: NeuronpediaExport.Timings) {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("np-bench-\(getpid())-\(n)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var t = NeuronpediaExport.Timings()
            let tokens = rows(n)
            let t0 = Timing.now()
            try! NeuronpediaExport.write(model: model, sae: attention, tokens: tokens, tokenizer: tokenizer, ignoredTokens: [50256],
                                         settings: settings, to: dir, timings: &t)
            let seconds = Timing.now() - t0
            Timing.log(String(format: "  neuronpedia %d rows: %.1f s (scan %.1f, correlations %.1f, examples %.1f, DFA %.1f, batches %.1f: logits %.1f, JSON %.1f)",
                              n, seconds, t.scan.model + t.scan.encoder + t.scan.bookkeeping, t.correlations, t.selection, t.dfa, t.batches, t.logits, t.writing))
            return (seconds, t)
        }
        // The phases over the rows (scan, correlations, examples, DFA) grow with them; the batches (logit
        // effects, JSON) are per feature. Projected from one run's phases (the difference of two runs is
        // within the machine's noise).
        let large = 256
        let b = export(large)
        let t = b.timings
        let rowPart = t.scan.model + t.scan.encoder + t.scan.bookkeeping + t.correlations + t.selection + t.dfa
        let perRow = rowPart / Double(large), fixed = b.seconds - rowPart
        let projected = fixed + perRow * 4096
        // The floor: the encoder product over the same rows, timed here.
        let xs = Tensor.randomNormal([large * 128 / 8, 768], using: &rng)
        let encoderSeconds = Timing.best(reps: 2) { _ = Tensor.matmul(xs, sae.wEnc) } * 8
        let rate = Double(dSAE * large) / b.seconds
        Timing.log(String(format: "  neuronpedia: %.0f s per feature-bound part, %.3f s per row; a full layer of 4096 rows ≈ %.1f min; encoder floor at %d rows %.1f s",
                          fixed, perRow, projected / 60, large, encoderSeconds))
        return [
            Timing.result("neuronpedia_export_24576x\(large)", rate, "feature_rows/s", ratio: encoderSeconds / b.seconds,
                          baseline: "the_encoder_product_over_the_rows(floor)"),
            Timing.result("neuronpedia_export_24576x4096_projected", projected / 60, "min", ratio: 60 / (projected / 60),
                          baseline: "the_one_hour_goal"),
        ]
    }
}
