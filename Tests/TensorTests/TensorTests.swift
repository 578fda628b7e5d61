// TensorTests: value semantics, views, contiguity and broadcasting.

import Testing
import TensorTestSupport
@testable import Tensor

@Suite struct ValueSemanticsTests {
    @Test func copiesDoNotShareWrites() {
        var a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = a
        let t = a.transposed()
        a[0, 0] = 100
        #expect(b[0, 0] == 1)
        #expect(t[0, 0] == 1)
        #expect(a[0, 0] == 100)
    }

    @Test func writingThroughAViewCopiesOnlyThatValue() {
        let base = Tensor(shape: [4], scalars: [0, 1, 2, 3])
        var view = base.sliced(axis: 0, 1..<3)
        view[0] = 9
        #expect(base.scalars == [0, 1, 2, 3])
        #expect(view.scalars == [9, 2])
    }

    @Test func uniqueStorageIsWrittenInPlace() {
        var a = Tensor(zeros: [3])
        let before = ObjectIdentifier(a.storage)   // not a reference: `a` stays the only owner
        a[1] = 5
        #expect(ObjectIdentifier(a.storage) == before)
        a += Tensor(repeating: 1, shape: [3])
        #expect(ObjectIdentifier(a.storage) == before)
        #expect(a.scalars == [1, 6, 1])
    }

    @Test func broadcastViewIsMaterialisedBeforeWriting() {
        var e = Tensor([1, 2]).expanded(to: [3, 2])
        e[0, 0] = 7
        #expect(e.scalars == [7, 2, 1, 2, 1, 2])
    }
}

@Suite struct ViewTests {
    let t = Tensor(shape: [2, 3, 4], scalars: (0..<24).map(Float.init))

    @Test func permuteMatchesNaiveIndexing() {
        let p = t.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        #expect(!p.isContiguous)
        for idx in Naive.indices(p.shape) {
            #expect(p[idx[0], idx[1], idx[2]] == t[idx[1], idx[2], idx[0]])
        }
        #expect(p.contiguous().isContiguous)
        #expect(p.contiguous().scalars == Naive.indices(p.shape).map { t[$0[1], $0[2], $0[0]] })
    }

    @Test func sliceAndSelectAreViews() {
        let s = t.sliced(axis: 1, 1..<3)
        #expect(s.shape == [2, 2, 4])
        #expect(s.storage === t.storage)
        #expect(s[1, 0, 2] == t[1, 1, 2])
        let row = t.selecting(axis: 2, 3)
        #expect(row.shape == [2, 3])
        #expect(row.scalars == [3, 7, 11, 15, 19, 23])
        let neg = t.sliced(axis: -1, 0..<0)
        #expect(neg.shape == [2, 3, 0] && neg.count == 0 && neg.scalars.isEmpty)
    }

    @Test func reshapeIsAViewWhenStridesAllow() {
        let r = t.reshaped([6, 4])
        #expect(r.storage === t.storage)
        let inferred = t.reshaped([-1, 12])
        #expect(inferred.shape == [2, 12])
        // Splitting a contiguous axis of a permuted tensor is still a view.
        let p = t.permuted([1, 0, 2])            // [3, 2, 4], axis 2 contiguous
        let split = p.reshaped([3, 2, 2, 2])
        #expect(split.storage === t.storage)
        #expect(split.scalars == p.scalars)
        // Merging non-adjacent strides needs a copy, with the same row-major values.
        let merged = t.transposed(0, 2).reshaped([24])
        #expect(merged.scalars == t.transposed(0, 2).scalars)
        // Unit axes anywhere.
        let u = t.reshaped([1, 2, 1, 12, 1])
        #expect(u.scalars == t.scalars)
        #expect(t.unsqueezed(axis: 1).shape == [2, 1, 3, 4])
        #expect(t.unsqueezed(axis: -1).shape == [2, 3, 4, 1])
        #expect(t.unsqueezed(axis: 3).squeezed(axis: 3) == t)
    }

    @Test func scalarsRoundTrip() {
        #expect(Tensor(scalar: 3).scalar == 3)
        #expect(Tensor(scalar: 3).shape == [])
        #expect(Tensor(shape: [0, 5], scalars: []).count == 0)
    }
}

@Suite struct BroadcastTests {
    @Test func broadcastShapes() {
        #expect(Tensor.broadcastShape([3, 1, 5], [4, 1]) == [3, 4, 5])
        #expect(Tensor.broadcastShape([], [2]) == [2])
    }

    @Test(arguments: [([2, 3, 4], [4]), ([2, 3, 4], [3, 1]), ([1, 3, 1], [2, 1, 4]), ([5], [5]), ([2, 1], [1, 7])])
    func binaryOpsMatchNaive(_ sa: [Int], _ sb: [Int]) {
        let a = testTensor(sa, seed: 3), b = testTensor(sb, seed: 4)
        let shape = Tensor.broadcastShape(sa, sb)
        let ae = a.expanded(to: shape), be = b.expanded(to: shape)
        let idx = Naive.indices(shape)
        let expectedSum = idx.map { Float(Naive.element(ae.contiguousCopy(), $0) + Naive.element(be.contiguousCopy(), $0)) }
        #expect((a + b).scalars == expectedSum)
        let prod = (a * b).scalars
        let div = (a / b).scalars
        let diff = (a - b).scalars
        let ac = ae.contiguousCopy().scalars, bc = be.contiguousCopy().scalars
        for i in 0..<idx.count {
            #expect(prod[i] == ac[i] * bc[i])
            #expect(div[i] == ac[i] / bc[i])
            #expect(diff[i] == ac[i] - bc[i])
        }
    }

    @Test func opsOnStridedViews() {
        let a = testTensor([5, 7], seed: 9)
        let t = a.transposed()                          // [7, 5]
        let s = a.sliced(axis: 1, 2..<7).transposed()   // [5, 5], strided
        let r = t.sliced(axis: 0, 0..<5) + s
        let naive = Naive.indices([5, 5]).map { t[$0[0], $0[1]] + s[$0[0], $0[1]] }
        #expect(r.scalars == naive)
        var inPlace = t.sliced(axis: 0, 0..<5)
        inPlace *= s
        #expect(inPlace.scalars == Naive.indices([5, 5]).map { t[$0[0], $0[1]] * s[$0[0], $0[1]] })
        #expect(a.transposed() == t)                    // the source is untouched
    }

    @Test func scalarOpsAndUnary() {
        let a = Tensor([-2, -0.5, 0, 1.5])
        #expect((a * 2).scalars == [-4, -1, 0, 3])
        #expect((1 - a).scalars == [3, 1.5, 1, -0.5])
        #expect(a.relu().scalars == [0, 0, 0, 1.5])
        #expect(a.abs().scalars == [2, 0.5, 0, 1.5])
        #expect((-a).scalars == [2, 0.5, -0, -1.5])
        #expect(a.clamped(-1, 1).scalars == [-1, -0.5, 0, 1])
        #expect(Tensor([Float.nan]).relu().scalars[0].isNaN)
        expectClose(a.exp().log(), a, atol: 1e-6)
    }

    @Test func largeParallelElementwiseMatchesSerialDefinition() {
        let a = testTensor([300, 257], seed: 5), b = testTensor([257], seed: 6)
        let r = a + b
        let av = a.scalars, bv = b.scalars, rv = r.scalars
        for i in stride(from: 0, to: av.count, by: 97) { #expect(rv[i] == av[i] + bv[i % 257]) }
    }
}
