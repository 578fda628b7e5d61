// KernelsTests: every C kernel on every path this CPU runs against its naive Swift version, bit for bit
// (every path performs the same IEEE operations in the same order).

import Foundation
import Testing
@testable import Tensor

@Suite struct KernelsTests {
    @Test func pathsAreReported() {
        #expect(KernelPath.supported.first == .baseline)
        #expect(KernelPath.supported.contains(KernelPath.active))
        #expect(KernelPath.supported == KernelPath.supported.sorted())
    }

    /// Random parameters, moments and gradients of `n` elements (the second moments non-negative), with
    /// zeros, tiny and large values among them.
    static func adamOperands(_ n: Int, seed: UInt64) -> (p: Tensor, m: Tensor, v: Tensor, g: Tensor) {
        if n == 0 { let z = Tensor(zeros: [0]); return (z, z, z, z) }
        var r = RandomStream(seed: seed)
        var g = Tensor.randomNormal([n], using: &r).scalars
        for i in stride(from: 0, to: n, by: 7) { g[i] = 0 }
        for i in stride(from: 3, to: n, by: 11) { g[i] *= 1e-20 }
        for i in stride(from: 5, to: n, by: 13) { g[i] *= 1e6 }
        let v = Tensor.randomUniform([n], low: 0, high: 1e-3, using: &r)
        return (Tensor.randomNormal([n], using: &r), Tensor.randomNormal([n], std: 1e-3, using: &r), v, Tensor(shape: [n], scalars: g))
    }

    @Test(arguments: [0, 1, 3, 4, 15, 16, 17, 31, 33, 1000, (1 << 17) + 5])
    func adamOnEveryPathEqualsTheNaiveVersion(n: Int) {
        for (beta1, step) in [(0.0, 1), (0.0, 37), (0.9, 1), (0.9, 5000)] {
            let s = Kernels.AdamStep(beta1: beta1, beta2: 0.9999, eps: 1e-8, lr: 4e-4, step: step)
            let start = Self.adamOperands(n, seed: UInt64(n * 31 + step))
            var (pn, mn, vn) = (start.p, start.m, start.v)
            Kernels.naiveAdamUpdate(&pn, &mn, &vn, gradient: start.g, s)
            for path in KernelPath.supported {
                var (p, m, v) = (start.p, start.m, start.v)
                Kernels.adamUpdate(&p, &m, &v, gradient: start.g, s, path: path)
                let same = p.scalars.map(\.bitPattern) == pn.scalars.map(\.bitPattern)
                    && m.scalars.map(\.bitPattern) == mn.scalars.map(\.bitPattern) && v.scalars.map(\.bitPattern) == vn.scalars.map(\.bitPattern)
                #expect(same, "\(path) Adam differs from the naive version (n \(n), β₁ \(beta1), step \(step))")
            }
        }
    }

    @Test func adamReadsAStridedGradient() {
        let s = Kernels.AdamStep(beta1: 0, beta2: 0.999, eps: 1e-8, lr: 1e-3, step: 3)
        var r = RandomStream(seed: 5)
        let h = Tensor.randomNormal([40, 24], using: &r)
        let g = h.transposed()                                       // [24, 40], not contiguous
        let start = Self.adamOperands(24 * 40, seed: 9)
        var (p, m, v) = (start.p.reshaped([24, 40]), start.m.reshaped([24, 40]), start.v.reshaped([24, 40]))
        var (pn, mn, vn) = (p, m, v)
        Kernels.adamUpdate(&p, &m, &v, gradient: g, s)
        Kernels.naiveAdamUpdate(&pn, &mn, &vn, gradient: g.contiguous(), s)
        #expect(p.scalars == pn.scalars && m.scalars == mn.scalars && v.scalars == vn.scalars)
    }

    /// The coefficients are PyTorch's: computed in Double, then rounded.
    @Test func adamCoefficients() {
        let s = Kernels.AdamStep(beta1: 0.9, beta2: 0.999, eps: 1e-8, lr: 1e-3, step: 10)
        #expect(s.stepSize == Float(1e-3 / (1 - Foundation.pow(0.9, 10.0))))
        #expect(s.biasCorrection2Sqrt == Float((1 - Foundation.pow(0.999, 10.0)).squareRoot()))
        #expect(s.firstMomentWeight == Float(0.1) && !s.firstMomentIsGradient)
        #expect(Kernels.AdamStep(beta1: 0, beta2: 0.999, eps: 1e-8, lr: 1e-3, step: 1).firstMomentIsGradient)
    }
}
