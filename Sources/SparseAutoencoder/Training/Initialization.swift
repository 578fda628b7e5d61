// Initialization: how an SAE's weights start — the paper's (SAETrainer.initialSAE) or Active Subspace
// Initialisation (Wang et al., "Dimensional Collapse in Transformer Attention Outputs", ICML 2026,
// arXiv 2508.16929): feature directions drawn inside the principal subspace of the activations.

import Foundation
import Tensor

/// How a training run initialises its SAEs.
public enum SAEInitialization: String, Codable, Sendable, CaseIterable {
    /// The paper's (Docs/Method.md §1.4): uniform random `W_enc`, `W_dec` with unit rows, zero biases.
    case paper
    /// Active Subspace Initialisation: decoder rows random unit directions inside the subspace that holds
    /// the activations' variance, encoder columns along them (see ``SAETrainer/activeSubspaceSAE(_:subspace:seed:)``).
    case activeSubspace = "active-subspace"
}

/// The principal subspace of a sample of activations: the top eigenvectors of its covariance.
public struct ActiveSubspace: Sendable, Equatable {
    /// An orthonormal basis `[d_a, d_in]` (rows: principal directions, by decreasing variance).
    public let basis: Tensor
    /// Every eigenvalue of the covariance, descending `[d_in]`.
    public let variances: [Double]

    public var dimension: Int { basis.shape[0] }

    /// The sums a sample contributes (``moments(of:)``); several ranks add theirs before ``init(_:dimension:varianceFraction:)``.
    public struct Moments: Sendable, Equatable {
        public var count: Double
        /// `Σ_n x_n` `[d_in]`, `Σ_n x_n x_nᵀ` `[d_in · d_in]`.
        public var sum: [Double], outer: [Double]

        /// The moments as one flat vector (count, sum, outer) — what ranks sum — and back.
        public var flattened: [Double] { [count] + sum + outer }
        public init(flattened v: [Double], dIn: Int) {
            precondition(v.count == 1 + dIn + dIn * dIn, "moments of width \(dIn) have \(1 + dIn + dIn * dIn) numbers, got \(v.count)")
            count = v[0]; sum = Array(v[1..<(1 + dIn)]); outer = Array(v[(1 + dIn)...])
        }
        init(count: Double, sum: [Double], outer: [Double]) { self.count = count; self.sum = sum; self.outer = outer }
    }

    /// The moments of the rows of `x [n, d_in]`.
    public static func moments(of x: Tensor) -> Moments {
        precondition(x.rank == 2, "rows [n, d_in] expected, got \(x.shape)")
        let d = x.shape[1]
        var sum = [Double](repeating: 0, count: d)
        let xs = x.contiguous().scalars
        for r in 0..<x.shape[0] { for a in 0..<d { sum[a] += Double(xs[r * d + a]) } }
        return Moments(count: Double(x.shape[0]), sum: sum, outer: LinearAlgebra.outerProductSum(x))
    }

    /// The subspace of the covariance `C = (Σxxᵀ − n·μμᵀ)/(n − 1)`: `dimension` directions, or (nil) the
    /// fewest that hold `varianceFraction` of the total variance (the paper's measure of effective rank).
    /// - Throws: ``ActiveSubspaceError`` for fewer than two rows, no variance, or LAPACK's failure.
    public init(_ m: Moments, dimension: Int? = nil, varianceFraction: Double = 0.99) throws {
        let d = m.sum.count
        guard m.count >= 2 else { throw ActiveSubspaceError("the sample has \(Int(m.count)) rows; at least 2 are needed") }
        var c = m.outer
        let mean = m.sum.map { $0 / m.count }
        for i in 0..<d { for j in 0..<d { c[i * d + j] = (c[i * d + j] - m.count * mean[i] * mean[j]) / (m.count - 1) } }
        let (values, vectors) = try LinearAlgebra.symmetricEigen(c, n: d)
        let total = values.reduce(0) { $0 + max($1, 0) }
        guard total > 0, total.isFinite else { throw ActiveSubspaceError("the sample has no variance (total \(total))") }
        var k = dimension ?? 0
        if dimension == nil {
            var held = 0.0
            while k < d && held < varianceFraction * total { held += max(values[k], 0); k += 1 }
        }
        k = min(max(k, 1), d)
        basis = Tensor(shape: [k, d], scalars: vectors[0..<(k * d)].map(Float.init))
        variances = values
    }

    /// The fraction of the variance the subspace holds.
    public var heldVariance: Double {
        let total = variances.reduce(0) { $0 + max($1, 0) }
        return variances.prefix(dimension).reduce(0) { $0 + max($1, 0) } / total
    }
}

/// An active subspace that cannot be computed from the sample.
public struct ActiveSubspaceError: Error, CustomStringConvertible, Sendable, Equatable {
    public let detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { "active-subspace initialisation: " + detail }
}

extension SAETrainer {
    /// Active Subspace Initialisation of an SAE of `config` in `subspace` `[d_a, d_in]`:
    /// `W_dec[j] = g_j·B / ‖g_j·B‖` with `g_j ~ N(0, I_{d_a})` (uniform unit directions inside the
    /// subspace), `W_enc[:, j] = W_dec[j]ᵀ · √(2·d_in/d_sae)` (the encoder along its decoder row, with the
    /// expected column norm of the paper's `U(±√(6/d_sae))` encoder, so pre-activations keep the paper's
    /// scale), zero biases. The same `seed` gives the same SAE.
    public static func activeSubspaceSAE(_ config: SAEConfig, subspace: ActiveSubspace, seed: UInt64) -> SAE {
        precondition(subspace.basis.shape[1] == config.dIn, "a subspace of width \(subspace.basis.shape[1]) for d_in \(config.dIn)")
        var rng = RandomStream(seed: seed)
        let g = Tensor.randomNormal([config.dSAE, subspace.dimension], using: &rng)
        let directions = g.matmul(subspace.basis)                                         // [d_sae, d_in]
        let wDec = directions / directions.l2Norm(axis: -1, keepingAxis: true)
        let scale = Float((2 * Double(config.dIn) / Double(config.dSAE)).squareRoot())
        return SAE(config: config, wEnc: (wDec.transposed() * scale).contiguous(), bEnc: Tensor(zeros: [config.dSAE]),
                   wDec: wDec, bDec: Tensor(zeros: [config.dIn]))
    }
}
