// InterventionTests: ablation and patching hooks do exactly what they say, where they say.

import Testing
import TensorTestSupport
@testable import Interp
import Tensor
import Transformer
import SparseAutoencoder

@Suite struct InterventionTests {
    @Test func zeroAndMeanAblationOfHeadsAtPositions() throws {
        let model = try tinyModel()
        let clean = try model.run(tinyTokens, cache: [.z(0)]).cache[.z(0)]!
        let out = try model.run(tinyTokens, cache: [.z(0)], hooks: [.z(0): Interventions.zeroAblate(at: [(1, 3)], heads: [1])]).cache[.z(0)]!
        #expect(out.selecting(axis: 0, 1).selecting(axis: 0, 3).selecting(axis: 0, 1).abs().max() == 0)
        #expect(out.selecting(axis: 0, 1).selecting(axis: 0, 3).selecting(axis: 0, 0) == clean.selecting(axis: 0, 1).selecting(axis: 0, 3).selecting(axis: 0, 0))
        #expect((out - clean).abs().sum(axis: 3).abs().max() > 0)
        var changed = 0
        for b in 0..<2 { for p in 0..<10 where out.selecting(axis: 0, b).selecting(axis: 0, p) != clean.selecting(axis: 0, b).selecting(axis: 0, p) { changed += 1 } }
        #expect(changed == 1)
        let mean = clean.mean(axis: 0).mean(axis: 0)          // [n_heads, d_head]
        let m = try model.run(tinyTokens, cache: [.z(0)], hooks: [.z(0): Interventions.meanAblate(mean)]).cache[.z(0)]!
        #expect(m.selecting(axis: 0, 0).selecting(axis: 0, 7) == mean)
    }

    @Test func patchingWithAPerPromptOffsetAndComposition() throws {
        let model = try tinyModel()
        let other = IndexTensor(shape: [2, 10], values: tinyTokens.values.reversed())
        let source = try model.run(other, cache: [.residPre(1)]).cache[.residPre(1)]!
        let hook = Interventions.compose([
            Interventions.patch(from: source, at: [(0, 5), (1, 2)], offsets: [1, 0]),
            Interventions.zeroAblate(at: [(1, 9)]),
        ])
        let out = try model.run(tinyTokens, cache: [.residPre(1)], hooks: [.residPre(1): hook]).cache[.residPre(1)]!
        #expect(out.selecting(axis: 0, 0).selecting(axis: 0, 5) == source.selecting(axis: 0, 0).selecting(axis: 0, 6))
        #expect(out.selecting(axis: 0, 1).selecting(axis: 0, 2) == source.selecting(axis: 0, 1).selecting(axis: 0, 2))
        #expect(out.selecting(axis: 0, 1).selecting(axis: 0, 9).abs().max() == 0)
    }
}
