// Tensor+OpsTests: reductions, softmax, layer norm, GELU, gather, concatenate/stack and top-k.

import Foundation
import Testing
import TensorTestSupport
@testable import Tensor

@Suite struct ReductionTests {
    @Test(arguments: [0, 1, 2, -1])
    func sumMeanMaxNormOverEveryAxis(_ axis: Int) {
        let t = testTensor([3, 5, 37], seed: 11)
        let a = t.normalizedAxis(axis)
        var outShape = t.shape
        outShape.remove(at: a)
        let idx = Naive.indices(outShape)
        var sums: [Float] = [], maxes: [Float] = [], norms: [Float] = []
        for o in idx {
            var s = 0.0, m = -Double.infinity, q = 0.0
            for k in 0..<t.shape[a] {
                var full = o
                full.insert(k, at: a)
                let v = Naive.element(t, full)
                s += v; m = Swift.max(m, v); q += v * v
            }
            sums.append(Float(s)); maxes.append(Float(m)); norms.append(Float(q.squareRoot()))
        }
        expectClose(t.sum(axis: axis), sums, atol: 1e-5)
        expectClose(t.mean(axis: axis), sums.map { $0 / Float(t.shape[a]) }, atol: 1e-6)
        #expect(t.max(axis: axis).scalars == maxes)
        expectClose(t.l2Norm(axis: axis), norms, atol: 1e-5)
        #expect(t.sum(axis: axis, keepingAxis: true).shape == { var s = t.shape; s[a] = 1; return s }())
        // Reductions of a permuted view agree with those of its contiguous copy.
        let p = t.permuted([2, 0, 1])
        #expect(p.sum(axis: 0) == p.contiguousCopy().sum(axis: 0))
    }

    @Test func argmaxTakesTheFirstMaximumAndNaN() {
        let t = Tensor(shape: [3, 4], scalars: [1, 5, 5, 0, -1, -2, -1, -3, 0, .nan, 9, .nan])
        #expect(t.argmax(axis: 1).values == [1, 0, 1])
        #expect(t.argmax(axis: 0).values == [0, 2, 2, 2])
        #expect(t.max(axis: 1).scalars[2].isNaN)
    }

    @Test func wholeTensorReductions() {
        let t = testTensor([1000], seed: 2)
        let exact = t.scalars.reduce(0.0) { $0 + Double($1) }
        #expect(Swift.abs(Double(t.sum()) - exact) < 1e-4)
        #expect(t.max() == t.scalars.max()!)
    }
}

@Suite struct NNTests {
    @Test func softmaxMatchesNaiveAndSumsToOne() {
        let x = testTensor([2, 3, 7, 33], seed: 12) * 10
        let s = x.softmax()
        expectClose(s, Naive.softmax(x), atol: 1e-7, rtol: 1e-5)
        expectClose(s.sum(axis: -1), Tensor(repeating: 1, shape: [2, 3, 7]), atol: 1e-6)
        // Any axis.
        let s0 = x.softmax(axis: 1)
        expectClose(s0, Naive.softmax(x.transposed(1, 3)).transposed(1, 3).contiguous(), atol: 1e-7, rtol: 1e-5)
        // Stable for huge inputs.
        let big = Tensor([1000, 1001, 1002]).softmax()
        #expect(big.scalars.allSatisfy { $0.isFinite })
    }

    @Test func causalSoftmaxMasksTheFuture() {
        let q = 5, k = 5
        let x = testTensor([2, q, k], seed: 13)
        let s = x.softmax(mask: .causal)
        var keep = [Bool]()
        for _ in 0..<2 { for i in 0..<q { for j in 0..<k { keep.append(j <= i) } } }
        expectClose(s, Naive.softmax(x, keep: keep), atol: 1e-7, rtol: 1e-5)
        for i in 0..<q { for j in (i + 1)..<k { #expect(s[0, i, j] == 0) } }
        // Fewer queries than keys: the queries are the last ones.
        let r = testTensor([2, 7], seed: 14).softmax(mask: .causal)
        #expect(r[0, 6] == 0 && r[1, 6] > 0 && r[0, 5] > 0)
    }

    @Test func customMaskAndFullyMaskedRows() {
        let x = testTensor([3, 4], seed: 15)
        let mask = Tensor(shape: [3, 4], scalars: [1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1])
        let s = x.softmax(mask: .custom(mask))
        expectClose(s, Naive.softmax(x, keep: mask.scalars.map { $0 != 0 }), atol: 1e-7, rtol: 1e-5)
        #expect(s.selecting(axis: 0, 1).scalars == [0, 0, 0, 0])
        // A broadcast mask.
        let b = x.softmax(mask: .custom(Tensor([1, 1, 0, 1])))
        #expect(b.selecting(axis: 1, 2).scalars == [0, 0, 0])
    }

    @Test func layerNormMatchesNaiveTransformerLensSemantics() {
        let x = testTensor([4, 6, 768], seed: 16) * 3 + 1
        let w = testTensor([768], seed: 17), b = testTensor([768], seed: 18)
        let (expectedOut, expectedScale) = Naive.layerNorm(x, weight: w.scalars, bias: b.scalars)
        let (out, scale) = x.layerNormWithScale(weight: w, bias: b)
        expectClose(out, expectedOut, atol: 1e-5, rtol: 1e-5)
        expectClose(scale, expectedScale, atol: 0, rtol: 1e-6)
        #expect(scale.shape == [4, 6, 1])
        let pre = x.layerNorm()
        expectClose(pre, Naive.layerNorm(x, weight: nil, bias: nil).0, atol: 1e-5, rtol: 1e-5)
        // LNPre output has zero mean and unit mean square (up to eps).
        expectClose(pre.mean(axis: -1), Tensor(zeros: [4, 6]), atol: 1e-6)
    }

    @Test func geluMatchesTheTanhFormula() {
        let x = Tensor((-400...400).map { Float($0) / 50 })
        expectClose(x.gelu(), x.scalars.map(Naive.gelu), atol: 1e-6, rtol: 1e-6)
        #expect(Tensor.geluScalar(0) == 0)
    }

    @Test func opsMatchTorchFixture() throws {
        let data = try Data(contentsOf: fixturesDirectory().appendingPathComponent("ops.json"))
        let j = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        func t(_ key: String) -> Tensor {
            let o = j[key] as! [String: Any]
            return Tensor(shape: (o["shape"] as! [Int]), scalars: (o["values"] as! [Double]).map { Float($0) })
        }
        let x = t("x"), w = t("ln_w"), b = t("ln_b")
        // fp32 vs fp32: different summation orders, so a few ulps.
        expectClose(x.layerNorm(weight: w, bias: b), t("layer_norm"), atol: 2e-6, rtol: 2e-6)
        expectClose(x.layerNormWithScale().scale, t("ln_scale"), atol: 0, rtol: 1e-6)
        expectClose(x.gelu(), t("gelu_new"), atol: 1e-6, rtol: 1e-6)
        expectClose(t("scores").softmax(mask: .causal), t("pattern"), atol: 1e-7, rtol: 1e-6)
        expectClose(Tensor.matmul(x, t("mm_b")), t("matmul"), atol: 1e-5, rtol: 1e-5)
    }
}

@Suite struct IndexingTests {
    @Test func rowsOfAnIndexTensor() {
        let t = IndexTensor(shape: [4, 3], values: Array(0..<12))
        #expect(t.rows(1..<3) == IndexTensor(shape: [2, 3], values: [3, 4, 5, 6, 7, 8]))
        #expect(t.rows(0..<0).shape == [0, 3])
        #expect(t.rows([3, 0, 3]) == IndexTensor(shape: [3, 3], values: [9, 10, 11, 0, 1, 2, 9, 10, 11]))
        #expect(t.rows([]).shape == [0, 3])
    }

    @Test func gatherIsAnEmbeddingLookup() {
        let table = testTensor([10, 4], seed: 20)
        let tokens = IndexTensor(shape: [2, 3], values: [3, 0, 9, 9, 1, 3])
        let e = table.gathering(axis: 0, tokens)
        #expect(e.shape == [2, 3, 4])
        for (n, tok) in tokens.values.enumerated() {
            #expect(e.reshaped([6, 4]).selecting(axis: 0, n).scalars == table.selecting(axis: 0, tok).scalars)
        }
        // Along a middle axis of a view.
        let t = testTensor([3, 5, 2], seed: 21).transposed(0, 2)   // [2, 5, 3]
        let g = t.gathering(axis: 1, IndexTensor([4, 4, 0]))
        #expect(g.shape == [2, 3, 3])
        for i in 0..<2 { for (j, k) in [4, 4, 0].enumerated() { for l in 0..<3 { #expect(g[i, j, l] == t[i, k, l]) } } }
    }

    @Test func concatenateAndStack() {
        let a = testTensor([2, 3], seed: 22), b = testTensor([2, 5], seed: 23)
        let c = Tensor.concatenate([a, b.transposed().transposed()], axis: 1)
        #expect(c.shape == [2, 8])
        #expect(c.sliced(axis: 1, 0..<3) == a && c.sliced(axis: 1, 3..<8) == b)
        let s = Tensor.stack([a, a * 2, a * 3], axis: 1)
        #expect(s.shape == [2, 3, 3])
        #expect(s.selecting(axis: 1, 2) == a * 3)
        let last = Tensor.stack([a, a], axis: -1)
        #expect(last.shape == [2, 3, 2])
    }

    @Test func topKOrderAndTieRule() {
        let t = Tensor(shape: [2, 6], scalars: [3, 1, 3, .nan, 2, 3, -1, -1, -1, 0, -2, -1])
        let (v, i) = t.topK(4)
        #expect(i.values == [3, 0, 2, 5, 3, 0, 1, 2])
        #expect(v.scalars[0].isNaN && Array(v.scalars[1...]) == [3, 3, 3, 0, -1, -1, -1])
        #expect(t.topK(0).values.shape == [2, 0])
    }

    @Test func topKMatchesSortingOnRandomRows() {
        let t = (testTensor([7, 500], seed: 24) * 4).map { ($0 * 4).rounded() / 4 }  // many ties
        for k in [1, 10, 500] {
            let (v, i) = t.topK(k)
            for r in 0..<7 {
                let row = t.selecting(axis: 0, r).scalars
                let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
                #expect(Array(i.values[(r * k)..<((r + 1) * k)]) == Array(order.prefix(k)))
                #expect(v.selecting(axis: 0, r).scalars == order.prefix(k).map { row[$0] })
            }
        }
    }
}
