// LinearAlgebra: the second moments of a sample and the eigendecomposition of a symmetric matrix
// (LAPACK's dsyevd, which OpenBLAS ships), in Double.

import CBLAS

public enum LinearAlgebra {
    /// A failure LAPACK reports (`info ≠ 0`).
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let routine: String, info: Int
        public var description: String { "\(routine) failed (info \(info)): the matrix has non-finite entries or did not converge" }
    }

    /// `Σ_n x_n x_nᵀ` `[d, d]` (full, symmetric) of the rows of `x [n, d]`, accumulated in Double.
    public static func outerProductSum(_ x: Tensor) -> [Double] {
        precondition(x.rank == 2, "rows [n, d] expected, got \(x.shape)")
        let (n, d) = (x.shape[0], x.shape[1])
        let rows = x.contiguous().scalars.map(Double.init)
        var out = [Double](repeating: 0, count: d * d)
        guard n > 0, d > 0 else { return out }
        rows.withUnsafeBufferPointer { a in
            out.withUnsafeMutableBufferPointer { c in
                // C = Aᵀ·A (upper triangle), then mirrored.
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(n), 1, a.baseAddress, Int32(d), 0, c.baseAddress, Int32(d))
            }
        }
        for i in 0..<d { for j in 0..<i { out[i * d + j] = out[j * d + i] } }
        return out
    }

    /// The eigenvalues (descending) and unit eigenvectors of the symmetric `a [n, n]` (row-major): row `i`
    /// of `vectors` is the eigenvector of `values[i]`.
    /// - Throws: ``Failure`` when LAPACK does (non-finite entries).
    public static func symmetricEigen(_ a: [Double], n: Int) throws -> (values: [Double], vectors: [Double]) {
        precondition(a.count == n * n && n >= 1, "a [\(n), \(n)] expected, got \(a.count) entries")
        // LAPACK returns NaNs for non-finite input rather than failing: refused here.
        guard a.allSatisfy(\.isFinite) else { throw Failure(routine: "dsyevd", info: -4) }
        var m = a, w = [Double](repeating: 0, count: n)
        var (jobz, uplo) = (Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")))
        var (nn, lda, info) = (Int32(n), Int32(n), Int32(0))
        // Workspace query, then the solve.
        var workSize = 0.0, iworkSize = Int32(0), query = Int32(-1)
        dsyevd_(&jobz, &uplo, &nn, &m, &lda, &w, &workSize, &query, &iworkSize, &query, &info)
        guard info == 0 else { throw Failure(routine: "dsyevd", info: Int(info)) }
        var work = [Double](repeating: 0, count: Int(workSize)), iwork = [Int32](repeating: 0, count: Int(iworkSize))
        var lwork = Int32(work.count), liwork = Int32(iwork.count)
        dsyevd_(&jobz, &uplo, &nn, &m, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        guard info == 0 else { throw Failure(routine: "dsyevd", info: Int(info)) }
        // LAPACK is column-major: column i of its result (row i of our row-major buffer) is the
        // eigenvector of w[i], ascending. Reverse to descending.
        var values = [Double](), vectors = [Double]()
        values.reserveCapacity(n); vectors.reserveCapacity(n * n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            values.append(w[i])
            vectors.append(contentsOf: m[(i * n)..<((i + 1) * n)])
        }
        return (values, vectors)
    }
}
