// InductionFeatureTests: the proxies of the induction-feature test on hand-made rows, and the scores
// against a brute-force computation on the tiny model.

import Testing
import TensorTestSupport
@testable import Interp
import Tensor
import Transformer
import SparseAutoencoder

@Suite struct InductionFeatureTests {
    @Test func followersOfEarlierOccurrences() {
        // A B A C A A: at 2 (A) the earlier A (0) was followed by B; at 4: B, C; at 5 (A): B, C, A (the A at 4 is followed by 5 itself).
        let (a, b, c) = (1, 2, 3)
        let f = InductionFeatures.followers([[a, b, a, c, a, a]])[0]
        #expect(f == [[], [], [b], [], [b, c], [b, c, a]])
    }

    @Test func scoresMatchBruteForce() throws {
        let model = try tinyModel(), sae = tinySAE()
        var rng = RandomStream(seed: 21)
        // Rows with repeats from a small vocabulary, so proxies hold often.
        let tokens = IndexTensor(shape: [6, 16], values: (0..<(6 * 16)).map { $0 % 16 == 0 ? 95 : rng.nextInt(below: 8) })
        let features = [0, 3, 17, 40, 77]
        let scores = try InductionFeatures.score(model: model, sae: try AttentionSAE(sae, model: model.config), tokens: tokens, inductionHeads: [1], features: features, dfaExamples: 4)
        let z = try model.run(tokens, cache: [.z(1)]).cache[.z(1)]!
        let acts = sae.encode(SAE.flattenHeads(z)).reshaped([6, 16, 128])
        let attribution = FeatureAttribution.decoderHeadAttribution(sae, layout: sae.config.headLayout!)
        // The case is not vacuous: some chosen features fire, and some positions hold a narrow proxy.
        #expect(scores.count == features.count && scores.contains { $0.firings > 0 && $0.narrowPositions > 0 && $0.dfaExamples > 0 })
        for s in scores {
            let logits = FeatureAttribution.logitEffects(sae, features: [s.feature], wO: model.weights.blocks[1].wO, wU: model.weights.wU)
            #expect(s.target == logits.selecting(axis: 0, 0).topK(1).indices.values[0])
            var fired = 0, broadFired = 0, narrow = 0, narrowFired = 0
            for r in 0..<6 {
                let row = Array(tokens.values[(r * 16)..<((r + 1) * 16)])
                for p in 0..<16 {
                    let followers = (0..<p).filter { row[$0] == row[p] }.map { row[$0 + 1] }
                    let broad = followers.contains(s.target)
                    let isNarrow = !followers.isEmpty && followers.allSatisfy { $0 == s.target }
                    let on = acts[r, p, s.feature] > 0
                    if on { fired += 1; if broad { broadFired += 1 } }
                    if isNarrow { narrow += 1; if on { narrowFired += 1 } }
                }
            }
            #expect(s.firings == fired && s.narrowPositions == narrow)
            #expect(s.specificity == (fired == 0 ? 0 : Double(broadFired) / Double(fired)))
            #expect(s.sensitivity == (narrow == 0 ? 0 : Double(narrowFired) / Double(narrow)))
            #expect(s.inductionHeadShare == attribution[s.feature, 1])
            #expect(s.dfaExamples == min(4, fired))
            // The DFA peak share: recomputed from the model's DFA of the same top examples.
            var all: [(r: Int, p: Int, a: Float)] = []
            for r in 0..<6 { for p in 0..<16 where acts[r, p, s.feature] > 0 { all.append((r, p, acts[r, p, s.feature])) } }
            let firings = all.sorted { x, y in x.a != y.a ? x.a > y.a : x.r * 16 + x.p < y.r * 16 + y.p }.prefix(4)
            var peaks = 0
            for (r, p, _) in firings {
                let row = IndexTensor(shape: [1, 16], values: Array(tokens.values[(r * 16)..<((r + 1) * 16)]))
                let dfa = try FeatureAttribution.dfaBySource(model: model, sae: sae, tokens: row, feature: s.feature).selecting(axis: 0, 0).selecting(axis: 0, p)
                let peak = (0...p).max { dfa[$0] < dfa[$1] }!
                if peak >= 1 && row.values[peak - 1] == row.values[p] { peaks += 1 }
            }
            #expect(s.dfaPeakAfterEarlierOccurrence == (firings.isEmpty ? 0 : Double(peaks) / Double(firings.count)))
        }
    }
}
