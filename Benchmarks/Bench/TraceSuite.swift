// TraceSuite: one trace at GPT-2-small shape — a 128-token prompt, 12 attention SAEs (hook_z) and 12
// residual SAEs (hook_resid_pre) of 24576 features, the strongest layer-11 attention feature at the last
// token traced to depth 3 (6 feature children per node, no threshold) with 3 QK attributions — against the same
// computation written with TransformerLens and SAELens in PyTorch (Scripts/baselines/trace.py), and
// against its floor: the forward pass plus every SAE's encoder product on every position at sgemm speed.

import Foundation
import Interp
import Tensor
import Transformer
import SparseAutoencoder

enum TraceSuite {
    static let pos = 128, dSAE = 24576, targetL0 = 64

    /// An SAE of `dIn → 24576` on `hook` whose encoder bias makes about `targetL0` features fire per token of `inputs` `[pos, d_in]`.
    static func calibrated(_ base: SAE, hook: String, inputs: Tensor) -> SAE {
        var sae = base
        sae.config.hookName = hook
        let pre = sae.encodePre(inputs).scalars.sorted(by: >)
        let threshold = pre[pre.count * targetL0 / dSAE]
        sae.bEnc = sae.bEnc - threshold
        return sae
    }

    static func run(torch: [String: Double]) -> [String] {
        let model = GPT2(weights: TransformerSuite.randomWeights())
        let c = model.config
        var rng = RandomStream(seed: 12)
        let tokens = [50256] + (1..<pos).map { _ in rng.nextInt(below: 50257) }
        // One SAE's weights for every site (copy-on-write: shared storage), each with its own calibrated bias.
        let attnBase = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: dSAE, hookName: "blocks.0.attn.hook_z"), seed: 2)
        let residBase = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: dSAE, hookName: "blocks.0.hook_resid_pre"), seed: 3)
        let names = Set((0..<c.nLayers).flatMap { [HookName.z($0), .residPre($0)] })
        let cache = try! model.run(IndexTensor(shape: [1, pos], values: tokens), cache: names).cache
        let attention = (0..<c.nLayers).map { l in
            try! AttentionSAE(calibrated(attnBase, hook: "blocks.\(l).attn.hook_z", inputs: SAE.flattenHeads(cache[.z(l)]!).reshaped([pos, 768])), model: c)
        }
        let residual = (0..<c.nLayers).map { l in
            try! ResidualSAE(calibrated(residBase, hook: "blocks.\(l).hook_resid_pre", inputs: cache[.residPre(l)]!.reshaped([pos, 768])), model: c)
        }
        let tracer = try! CircuitTracer(model: model, attentionSAEs: attention, residualSAEs: residual)
        // Features only: a random model's terms are dominated by constants and errors, which would end the trace at its root.
        let options = TraceOptions(depth: 3, maxChildren: 6, threshold: 0, qkEdges: 3, qkPairs: 10, featuresOnly: true)
        var graph: TraceGraph? = nil
        var setup = 0.0
        let total = Timing.best(reps: 3) {
            let t0 = Timing.now()
            let run = try! tracer.run(tokens)
            setup = Timing.now() - t0
            let root = run.strongestAttentionFeatures(at: pos - 1, count: 64).first { $0.node.layer == c.nLayers - 1 }!.node
            graph = try! run.trace([root], options: options)
        }
        let expanded = graph!.nodes.filter(\.expanded).count
        // The floor: the forward pass with the hooks the trace reads, and 24 encoder products [128, 768] · [768, 24576] at sgemm speed.
        var hooks: Set<HookName> = []
        for l in 0..<c.nLayers { hooks.formUnion([.residPre(l), .ln1Scale(l), .pattern(l), .attnScores(l), .z(l), .mlpOut(l)]) }
        let forward = Timing.best(reps: 3) { _ = try! model.run(IndexTensor(shape: [1, pos], values: tokens), cache: hooks, stopAtLayer: c.nLayers) }
        let a = Tensor.randomNormal([pos, 768], std: 1, using: &rng), w = attnBase.wEnc
        var out = Tensor(zeros: [pos, dSAE])
        let product = Timing.best(reps: 5) { Tensor.gemm(a, w, into: &out) }
        let floor = forward + 2 * Double(c.nLayers) * product
        Timing.log(String(format: "  trace: %.3f s (setup: run + 24 SAE encodings %.3f s; %d nodes expanded, %d links, %d QK); floor %.3f s (forward %.3f s + 24 × %.4f s encoder products)",
                          total, setup, expanded, graph!.links.count, graph!.qk.count, floor, forward, product))
        var out2 = [Timing.result("trace.depth3_gpt2_small", total, "s", ratio: floor / total, baseline: "floor(forward+24_encoder_sgemms)")]
        if let t = torch["trace.depth3_gpt2_small"] {
            let n = torch["trace.depth3_gpt2_small.expanded"] ?? 0
            Timing.log(String(format: "  PyTorch (TransformerLens + SAELens): %.3f s for the same trace (%.0f nodes expanded)", t, n))
            out2.append(Timing.result("trace.depth3_gpt2_small.vs_torch", total, "s", ratio: t / total, baseline: "TransformerLens+SAELens(torch)"))
        }
        return out2
    }
}
