// Tensor+MatMulTests: BLAS products against the naive kernel on odd shapes, strided views and batches.

import CBLAS
import Testing
import TensorTestSupport
@testable import Tensor

@Suite struct MatMulTests {
    @Test(arguments: [(1, 1, 1), (3, 5, 2), (17, 33, 9), (64, 1, 31), (1, 70, 1), (129, 65, 257)])
    func plainProductsMatchNaive(_ m: Int, _ k: Int, _ n: Int) {
        let a = testTensor([m, k], seed: 30), b = testTensor([k, n], seed: 31)
        expectClose(a.matmul(b), Naive.matmul(a, b), atol: 1e-5, rtol: 1e-5)
    }

    @Test(arguments: [false, true], [false, true])
    func transposedOperands(_ ta: Bool, _ tb: Bool) {
        let (m, k, n) = (13, 29, 7)
        let a = testTensor(ta ? [k, m] : [m, k], seed: 32)
        let b = testTensor(tb ? [n, k] : [k, n], seed: 33)
        let expected = Naive.matmul(ta ? a.transposed().contiguousCopy() : a, tb ? b.transposed().contiguousCopy() : b)
        expectClose(Tensor.matmul(a, b, transposeA: ta, transposeB: tb), expected, atol: 1e-5, rtol: 1e-5)
    }

    @Test func stridedViewsAndSlices() {
        let big = testTensor([40, 50], seed: 34)
        let a = big.sliced(axis: 0, 3..<20).sliced(axis: 1, 5..<36)              // [17, 31], row stride 50
        let b = big.transposed().sliced(axis: 0, 2..<33).sliced(axis: 1, 1..<12)  // [31, 11], column-major
        expectClose(a.matmul(b), Naive.matmul(a.contiguousCopy(), b.contiguousCopy()), atol: 1e-5, rtol: 1e-5)
        // Neither axis unit-strided: copied internally.
        let c = testTensor([20, 20], seed: 35)
        let every2 = c.reshaped([10, 2, 20]).selecting(axis: 1, 0).reshaped([10, 10, 2]).selecting(axis: 2, 1)
        #expect(every2.strides == [40, 2])
        expectClose(every2.matmul(every2), Naive.matmul(every2.contiguousCopy(), every2.contiguousCopy()), atol: 1e-5, rtol: 1e-5)
    }

    @Test func batchedWithBroadcasting() {
        // Attention-score shaped: q [batch, head, q_pos, d_head] · kᵀ.
        let q = testTensor([2, 3, 5, 8], seed: 36), k = testTensor([2, 3, 6, 8], seed: 37)
        let scores = Tensor.matmul(q, k, transposeB: true)
        #expect(scores.shape == [2, 3, 5, 6])
        expectClose(scores, Naive.matmul(q, k.transposed().contiguousCopy()), atol: 1e-5, rtol: 1e-5)
        // A rank-2 weight broadcast over a batch, and batch axes of 1.
        let w = testTensor([8, 4], seed: 38)
        expectClose(q.matmul(w), Naive.matmul(q, w), atol: 1e-5, rtol: 1e-5)
        let one = testTensor([1, 3, 8, 2], seed: 39)
        expectClose(q.matmul(one), Naive.matmul(q, one), atol: 1e-5, rtol: 1e-5)
        // Many items in parallel, with a permuted operand.
        let z = testTensor([16, 10, 12], seed: 40)
        let y = testTensor([16, 9, 12], seed: 41).permuted([0, 2, 1])
        expectClose(z.matmul(y.transposed().transposed()), Naive.matmul(z, y.contiguousCopy()), atol: 1e-5, rtol: 1e-5)
    }

    @Test func largeProductIsSplitAcrossWorkersCorrectly() {
        // Above BLAS.splitThreshold, both the row split (m ≥ n) and the column split (m < n).
        for (m, k, n) in [(300, 100, 90), (90, 100, 300)] {
            let a = testTensor([m, k], seed: 42), b = testTensor([k, n], seed: 43)
            expectClose(a.matmul(b), Naive.matmul(a, b), atol: 1e-4, rtol: 1e-5)
            expectClose(Tensor.matmul(a.transposed().contiguousCopy(), b.transposed().contiguousCopy(), transposeA: true, transposeB: true),
                        Naive.matmul(a, b), atol: 1e-4, rtol: 1e-5)
        }
    }

    @Test func affineAndScaledProducts() {
        let x = testTensor([2, 5, 7], seed: 47), w = testTensor([7, 3], seed: 48), b = testTensor([3], seed: 49)
        expectClose(Tensor.affine(x, w, b), Naive.matmul(x, w) + b, atol: 1e-5, rtol: 1e-5)
        expectClose(Tensor.matmul(x, w, alpha: 0.125), Naive.matmul(x, w) * 0.125, atol: 1e-5, rtol: 1e-5)
    }

    @Test func gemmAccumulatesWithAlphaAndBeta() {
        let a = testTensor([6, 4], seed: 44), b = testTensor([4, 5], seed: 45)
        var c = testTensor([6, 5], seed: 46)
        let c0 = c
        Tensor.gemm(a, b, into: &c, alpha: 0.5, beta: 2)
        expectClose(c, Naive.matmul(a, b) * 0.5 + c0 * 2, atol: 1e-5, rtol: 1e-5)
        // Empty inner dimension.
        var d = Tensor(repeating: 3, shape: [2, 2])
        Tensor.gemm(Tensor(zeros: [2, 0]), Tensor(zeros: [0, 2]), into: &d, alpha: 1, beta: 0.5)
        #expect(d.scalars == [1.5, 1.5, 1.5, 1.5])
    }

    // MARK: A BLAS opened at run time (ATTN_SAE_BLAS)

    /// Debian's BLIS (installed by the Scripts) computes the products the naive kernel does, in every
    /// transpose layout — and runs its own code: opened without RTLD_DEEPBIND, its cblas_sgemm would call
    /// the linked OpenBLAS's sgemm_.
    @Test func blisRunsTheProducts() throws {
        let blis: LoadedBLAS
        do { guard let l = try LoadedBLAS.open("blis") else { Issue.record("blis opened as the linked OpenBLAS"); return }; blis = l }
        catch { Issue.record("BLIS did not load (Scripts/lib/common.sh installs libblis4-pthread): \(error)"); return }
        #expect(blis.name.hasPrefix("BLIS "), "\(blis.name)")
        blis.setThreads(1)
        for (m, k, n, ta, tb) in [(37, 29, 41, false, false), (64, 70, 3, true, false), (5, 130, 66, false, true), (33, 17, 65, true, true)] {
            let a = testTensor(ta ? [k, m] : [m, k], seed: 40), b = testTensor(tb ? [n, k] : [k, n], seed: 41)
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                blis.sgemm(CblasRowMajor.rawValue, (ta ? CblasTrans : CblasNoTrans).rawValue, (tb ? CblasTrans : CblasNoTrans).rawValue,
                           Int32(m), Int32(n), Int32(k), 1, pa.baseAddress, Int32(ta ? m : k), pb.baseAddress, Int32(tb ? k : n),
                           0, pc.baseAddress, Int32(n))
            }}}
            let expected = Naive.matmul(ta ? a.transposed() : a, tb ? b.transposed() : b)
            expectClose(Tensor(shape: [m, n], scalars: c), expected, atol: 1e-4, rtol: 1e-4)
        }
    }

    @Test func unloadableLibrariesAreNamed() {
        #expect(throws: BLASLoadError.self) { try LoadedBLAS(path: "/nonexistent/libnothing.so") }
        do { _ = try LoadedBLAS(path: "/nonexistent/libnothing.so") } catch {
            #expect("\(error)".contains("/nonexistent/libnothing.so") && "\(error)".contains("allowed"))
        }
        // A library without cblas_sgemm (libz is always loaded here).
        do { _ = try LoadedBLAS(path: "libz.so.1"); Issue.record("libz loaded as a BLAS") } catch {
            #expect("\(error)".contains("no cblas_sgemm"))
        }
        #expect((try? LoadedBLAS.open("openblas")) == nil && (try? LoadedBLAS.open("")) == nil)
    }
}
