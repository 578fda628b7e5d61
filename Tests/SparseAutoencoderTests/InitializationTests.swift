// InitializationTests: Active Subspace Initialisation — LAPACK's eigendecomposition against its defining
// identities, the subspace of data planted in a known subspace, the SAE it starts, and a training run
// (two ranks) that starts its SAEs there.

import Foundation
import Testing
import TensorTestSupport
@testable import SparseAutoencoder
import Tensor

@Suite struct InitializationTests {
    /// Rows `[n, d]` inside the span of `k` random orthonormal directions (plus `noise`), and the directions.
    static func plantedSubspace(n: Int, d: Int, k: Int, noise: Float, seed: UInt64) -> (x: Tensor, basis: Tensor) {
        var rng = RandomStream(seed: seed)
        // Gram–Schmidt on random rows gives an orthonormal basis [k, d].
        var rows: [[Float]] = []
        while rows.count < k {
            var v = Tensor.randomNormal([d], using: &rng).scalars
            for u in rows {
                let dot = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }
                for i in 0..<d { v[i] -= dot * u[i] }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            rows.append(v.map { $0 / norm })
        }
        let basis = Tensor(shape: [k, d], scalars: rows.flatMap { $0 })
        // Coefficients of decreasing scale, an offset (the mean is removed), and isotropic noise.
        let scales = Tensor((0..<k).map { 3 / Float($0 + 1) })
        let x = Tensor.randomNormal([n, k], using: &rng) * scales
        return (x.matmul(basis) + Tensor.randomNormal([n, d], std: noise, using: &rng) + 0.5, basis)
    }

    @Test func eigendecompositionSatisfiesItsIdentities() throws {
        var rng = RandomStream(seed: 3)
        let n = 12
        let m = Tensor.randomNormal([n, n], using: &rng)
        let a = m.matmul(m.transposed()).scalars.map(Double.init)                  // symmetric, positive semidefinite
        let (values, vectors) = try LinearAlgebra.symmetricEigen(a, n: n)
        #expect(values == values.sorted(by: >))
        for i in 0..<n {
            let v = Array(vectors[(i * n)..<((i + 1) * n)])
            // A v = λ v, ‖v‖ = 1, and orthogonal to the others.
            for r in 0..<n {
                let av = (0..<n).reduce(0.0) { $0 + a[r * n + $1] * v[$1] }
                #expect(Swift.abs(av - values[i] * v[r]) < 1e-9 * Swift.max(1, Swift.abs(values[0])))
            }
            for j in 0..<n {
                let w = vectors[(j * n)..<((j + 1) * n)]
                let dot = zip(v, w).reduce(0.0) { $0 + $1.0 * $1.1 }
                #expect(Swift.abs(dot - (i == j ? 1 : 0)) < 1e-10)
            }
        }
        // The trace is the sum of the eigenvalues.
        #expect(Swift.abs((0..<n).reduce(0.0) { $0 + a[$1 * n + $1] } - values.reduce(0, +)) < 1e-9 * values[0])
        #expect(throws: LinearAlgebra.Failure.self) { try LinearAlgebra.symmetricEigen([.nan, 0, 0, 1], n: 2) }
    }

    @Test func theSubspaceOfPlantedDataIsFound() throws {
        let (x, basis) = Self.plantedSubspace(n: 4000, d: 32, k: 6, noise: 1e-3, seed: 5)
        let subspace = try ActiveSubspace(ActiveSubspace.moments(of: x))
        #expect(subspace.dimension == 6 && subspace.heldVariance > 0.99)
        // Every planted direction lies in the found span: its projection keeps its norm.
        let projected = basis.matmul(subspace.basis.transposed())                 // [6, 6]
        for i in 0..<6 { #expect(Swift.abs(projected.selecting(axis: 0, i).squared().sum() - 1) < 1e-3) }
        // The moments of two halves summed are the whole's (what ranks do).
        var halves = ActiveSubspace.moments(of: x.sliced(axis: 0, 0..<1500).contiguous()).flattened
        let other = ActiveSubspace.moments(of: x.sliced(axis: 0, 1500..<4000).contiguous()).flattened
        for i in halves.indices { halves[i] += other[i] }
        let whole = ActiveSubspace.moments(of: x).flattened
        #expect(zip(halves, whole).allSatisfy { Swift.abs($0 - $1) <= 1e-9 * Swift.max(1, Swift.abs($1)) })
        // A fixed dimension, and the refusals.
        #expect(try ActiveSubspace(ActiveSubspace.moments(of: x), dimension: 3).dimension == 3)
        #expect(throws: ActiveSubspaceError.self) { try ActiveSubspace(ActiveSubspace.moments(of: Tensor(zeros: [1, 32]))) }
        #expect(throws: ActiveSubspaceError.self) { try ActiveSubspace(ActiveSubspace.moments(of: Tensor(zeros: [10, 32]))) }
    }

    @Test func theSAEStartsInsideTheSubspace() throws {
        let (x, _) = Self.plantedSubspace(n: 2000, d: 24, k: 5, noise: 0, seed: 8)
        let subspace = try ActiveSubspace(ActiveSubspace.moments(of: x))
        let config = SAEConfig(dIn: 24, dSAE: 96, hookName: "blocks.0.attn.hook_z")
        let sae = SAETrainer.activeSubspaceSAE(config, subspace: subspace, seed: 11)
        #expect(sae == SAETrainer.activeSubspaceSAE(config, subspace: subspace, seed: 11))
        #expect(sae != SAETrainer.activeSubspaceSAE(config, subspace: subspace, seed: 12))
        // Unit decoder rows inside the span; encoder columns along them at the paper's expected norm.
        let inside = sae.wDec.matmul(subspace.basis.transposed()).matmul(subspace.basis)
        expectClose(inside, sae.wDec, atol: 1e-5, rtol: 1e-5, "decoder rows in the subspace")
        expectClose(sae.wDec.l2Norm(axis: -1), Tensor(repeating: 1, shape: [96]), atol: 1e-5, rtol: 0, "unit rows")
        let scale = Float((2.0 * 24 / 96).squareRoot())
        expectClose(sae.wEnc, sae.wDec.transposed() * scale, atol: 1e-6, rtol: 1e-6, "encoder")
        #expect(sae.bEnc.abs().max() == 0 && sae.bDec.abs().max() == 0)
    }

    /// A run whose members ask for it starts them in the buffer's subspace — the same SAE on every rank
    /// (the moments are summed across ranks) — and trains on; the others keep the SAE they were given.
    @Test func aRunStartsItsSAEsInTheSubspaceOnEveryRank() throws {
        let given = TrainingRunTests.member(dIn: 8, dSAE: 24, columns: 0..<8, seed: 3)
        var config = given.trainer.config
        config.initialization = .activeSubspace
        let asi = TrainingRunMember(sae: given.trainer.sae, config: config, columns: 0..<8, resampleSeed: 4)
        let paper = TrainingRunTests.member(dIn: 8, dSAE: 24, columns: 0..<8, seed: 3)
        var plan = TrainingRunTests.plan(steps: 6)
        plan.resampling = nil
        let p = plan
        let starts = try InProcessRanks(size: 2).run { c in
            let run = try TrainingRun(plan: p, members: [asi, paper], source: PositionalSource(dIn: 8, salt: UInt64(c.rank)), ranks: c)
            return run.members.map { ($0.trainer.sae, $0.activeSubspace?.dimension) }
        }
        #expect(starts[0][0].0 == starts[1][0].0 && starts[0][0].0 != asi.trainer.sae)
        #expect(starts[0][1].0 == paper.trainer.sae && starts[0][1].1 == nil)
        let dimension = try #require(starts[0][0].1)
        #expect(dimension >= 1 && dimension <= 8)
        expectClose(starts[0][0].0.wDec.l2Norm(axis: -1), Tensor(repeating: 1, shape: [24]), atol: 1e-5, rtol: 0, "unit rows")
        // A dimension beyond d_in is refused by name before any step.
        var tooWide = config
        tooWide.activeSubspaceDim = 9
        let bad = TrainingRunMember(sae: asi.trainer.sae, config: tooWide, columns: 0..<8, resampleSeed: 4)
        #expect(throws: TrainingRunError.invalidSetting(name: "activeSubspaceDim", value: "9", allowed: "1…d_in (8)")) {
            try TrainingRun(plan: p, members: [bad], source: PositionalSource(dIn: 8))
        }
    }
}
