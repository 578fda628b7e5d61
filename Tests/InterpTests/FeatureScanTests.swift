// FeatureScanTests: the streamed scan against the SAE's full encoder on all rows at once, the subset
// encoder against the full one, and an AttentionSAE's checks against the model.

import Testing
import TensorTestSupport
@testable import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct FeatureScanTests {
    @Test func scanFindsEveryFiringOfTheFullEncoder() throws {
        let model = try tinyModel()
        let sae = try AttentionSAE(tinySAE(), model: model.config)
        var rng = RandomStream(seed: 5)
        let tokens = IndexTensor(shape: [9, 16], values: (0..<(9 * 16)).map { _ in rng.nextInt(below: 95) })
        let z = try model.run(tokens, cache: [.z(1)]).cache[.z(1)]!
        let acts = sae.sae.encode(sae.inputRows(z)).reshaped([9, 16, 128])          // brute force: one batch
        for features in [nil, [3, 0, 77, 3 + 64]] as [[Int]?] {
            let scan = try FeatureScan.run(model: model, sae: sae, tokens: tokens, features: features, rowsPerForward: 4)
            #expect(scan.features == (features ?? Array(0..<128)) && scan.rows == 9 && scan.positions == 16)
            for (j, f) in scan.features.enumerated() {
                let firings = scan.firings[j]
                // In (row, position) order, exactly where the full encoder is positive (up to rounding at 0).
                #expect(zip(firings, firings.dropFirst()).allSatisfy { ($0.row, $0.position) < ($1.row, $1.position) })
                // The scan runs the model on chunks of 4 rows, the brute force on all 9: the BLAS kernels
                // round differently by batch shape (about 1e-5 here under OPENBLAS_CORETYPE=Haswell).
                let tolerance: Float = 1e-4
                for r in 0..<9 {
                    for p in 0..<16 {
                        let a = acts[r, p, f], got = scan.activation(j, row: r, position: p)
                        #expect(Swift.abs(a - got) <= tolerance * Swift.max(1, Swift.abs(a)), "feature \(f) at (\(r), \(p)): \(got) vs \(a)")
                        // Clearly positive activations are firings; a firing is never clearly zero.
                        if a > tolerance { #expect(got > 0) }
                        if got > 0 { #expect(a > -tolerance) }
                    }
                }
                #expect(firings.allSatisfy { $0.value > 0 })
            }
        }
    }

    @Test func subsetEncoderIsTheFullEncodersColumns() {
        let sae = tinySAE()
        var rng = RandomStream(seed: 8)
        let x = Tensor.randomNormal([10, 64], std: 1, using: &rng)
        let full = sae.encode(x), features = [127, 0, 64, 64]
        let subset = sae.encode(x, features: features)
        #expect(subset.shape == [10, 4])
        for (j, f) in features.enumerated() { expectClose(subset.selecting(axis: 1, j), full.selecting(axis: 1, f).scalars, atol: 1e-6, rtol: 1e-5) }
        // Without b_dec subtracted from the input, the same holds.
        var noCentre = sae
        noCentre.config.applyBDecToInput = false
        expectClose(noCentre.encode(x, features: [5]).reshaped([10]), noCentre.encode(x).selecting(axis: 1, 5).scalars, atol: 1e-6, rtol: 1e-5)
    }

    @Test func attentionSAEIsCheckedAgainstTheModel() throws {
        let config = try tinyModel().config                                              // 2 layers × 2 heads × 32
        var sae = tinySAE()
        sae.config.headLayout = nil
        let checked = try AttentionSAE(sae, model: config)
        #expect(checked.layer == 1 && checked.layout == HeadLayout(nHeads: 2, dHead: 32) && checked.sae.config.headLayout == checked.layout)
        #expect(checked.site == .z(1) && checked.dSAE == 128)
        for hook in ["blocks.2.attn.hook_z", "blocks.1.hook_resid_pre", "blocks.1.attn.hook_q", "hook_z"] {
            var other = sae
            other.config.hookName = hook
            #expect(throws: InterpError.self, "\(hook)") { try AttentionSAE(other, model: config) }
        }
        let narrow = SAETrainer.initialSAE(SAEConfig(dIn: 48, dSAE: 8, hookName: "blocks.0.attn.hook_z"), seed: 1)
        #expect { try AttentionSAE(narrow, model: config) } throws: { "\($0)".contains("d_in is 48") }
    }
}
