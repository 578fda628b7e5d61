// DashboardTests: the streaming dashboard pass against a brute-force computation on the same rows.

import Testing
import TensorTestSupport
@testable import Interp
import Tensor
import Transformer
import SparseAutoencoder

@Suite struct DashboardTests {
    @Test func dashboardDataMatchesBruteForce() throws {
        let model = try tinyModel(), sae = tinySAE()
        var rng = RandomStream(seed: 12)
        let tokens = IndexTensor(shape: [12, 16], values: (0..<(12 * 16)).map { $0 % 16 == 0 ? 95 : rng.nextInt(below: 95) })
        var config = DashboardConfig()
        config.rowsPerForward = 5
        config.topK = 6
        let features = [0, 5, 17, 40]
        let boards = try DashboardBuilder.build(model: model, sae: try AttentionSAE(sae, model: model.config), features: features, tokens: tokens, config: config)
        // Brute force: all activations at once.
        let z = try model.run(tokens, cache: [.z(1)]).cache[.z(1)]!
        let acts = sae.encode(SAE.flattenHeads(z)).reshaped([12, 16, 128])
        for (j, f) in features.enumerated() {
            let b = boards[j]
            let a = acts.selecting(axis: 2, f)                       // [12, 16]
            // The pass encodes only the chosen features, in other batches: equal up to float rounding.
            #expect(b.feature == f && Swift.abs(b.maxActivation - a.max()) <= 1e-5 * a.max())
            let firing = a.scalars.filter { $0 > 0 }.count
            #expect(b.density == Double(firing) / 192 && b.histogram.reduce(0, +) == firing)
            // Top examples: the largest activations with centres in 5..<11, descending.
            let window = (0..<12).flatMap { r in (5..<11).map { (r, $0, a[r, $0]) } }.filter { $0.2 > 0 }.sorted { $0.2 > $1.2 }
            expectClose(Tensor(b.top.map(\.activation)), Array(window.prefix(6).map(\.2)), atol: 1e-5, rtol: 1e-5)
            #expect(b.top.map { "\($0.row),\($0.position)" } == window.prefix(6).map { "\($0.0),\($0.1)" })
            for e in b.top {
                #expect(e.contextTokens == Array(tokens.row(e.row)[(e.row * 16 + e.position - 5)...(e.row * 16 + e.position + 5)]))
                #expect(e.contextActivations[e.center] == e.activation && e.contextActivations.count == 11)
            }
            // Intervals: highest first, examples inside their interval; fractions cover everything.
            if b.maxActivation > 0 {
                #expect(b.intervals.count == 10 && b.intervals.first!.upper == b.maxActivation && b.intervals.last!.lower == 0)
                // Every activation in exactly one interval: (lower, upper], the lowest [0, upper].
                #expect(Swift.abs(b.intervals.reduce(0) { $0 + $1.fraction } - 1) < 1e-9)
                for (i, iv) in b.intervals.enumerated() {
                    for e in iv.examples {
                        #expect(e.activation <= iv.upper && (i == b.intervals.count - 1 ? e.activation >= 0 : e.activation > iv.lower))
                        #expect(e.contextActivations[e.center] == e.activation)
                    }
                }
            }
            // DFA of each top example: with the bias term it sums to the pre-activation.
            let pre = sae.encodePre(SAE.flattenHeads(z)).reshaped([12, 16, 128]).selecting(axis: 2, f)
            for d in b.dfa {
                let sum = d.values.reduce(0, +) + FeatureAttribution.biasTerm(sae, f)
                #expect(Swift.abs(sum - pre[d.row, d.destination]) < 1e-4)
            }
            #expect(Swift.abs(b.headAttribution.reduce(0, +) - 1) < 1e-5)
            #expect(b.positiveLogits.count == 20 && b.positiveLogits.first!.value >= b.positiveLogits.last!.value)
            #expect(b.negativeLogits.first!.value <= b.negativeLogits.last!.value)
        }
        // Seeded: the same dashboards again.
        #expect(try DashboardBuilder.build(model: model, sae: try AttentionSAE(sae, model: model.config), features: features, tokens: tokens, config: config) == boards)
        // Without the in-pass cache the detail pass runs the model again: the same examples and DFA.
        config.cacheBudgetBytes = 0
        let again = try DashboardBuilder.build(model: model, sae: try AttentionSAE(sae, model: model.config), features: features, tokens: tokens, config: config)
        for (a, b) in zip(again, boards) {
            // Every statistic reads the one value the streaming pass computed: the same, bit for bit.
            #expect(a.top == b.top && a.intervals == b.intervals && a.maxActivation == b.maxActivation && a.histogram == b.histogram)
            for (x, y) in zip(a.dfa, b.dfa) { expectClose(Tensor(x.values), y.values, atol: 1e-5, rtol: 1e-4) }
        }
    }
}
