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

    /// The arithmetic-peak probe does exactly the steps its flop count assumes (nothing dropped or
    /// hoisted by the compiler), fused where the path says so.
    @Test func peakProbeDoesItsSteps() {
        for path in KernelPath.supported {
            for iterations in [0, 1, 2, 7, 1000, 4097] {
                let got = Kernels.peakChains(iterations: iterations, path: path)
                let want = Kernels.naivePeakChains(iterations: iterations, fused: Kernels.peakIsFused(path), lanes: path.lanes)
                #expect(got.bitPattern == want.bitPattern, "\(path) \(iterations): \(got) vs \(want)")
            }
        }
        // Fused and unfused steps really differ after a few hundred steps (so the check above can fail).
        #expect(Kernels.naivePeakChains(iterations: 1000, fused: true, lanes: 4) != Kernels.naivePeakChains(iterations: 1000, fused: false, lanes: 4))
        #expect(KernelPath.supported.last.map { Kernels.peakIsFused($0) } == true || KernelPath.supported == [.baseline])
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

    // MARK: gelu_new, layer norm, softmax, sum

    /// Values that reach every branch: zeros of both signs, the tanh switch at |x| = 0.625 (and the
    /// GELU inputs that land there), exp's clamps at 88.72283 / −87.33654, ±∞, NaN, subnormals, then
    /// normal samples at three scales.
    static func edgeValues(_ n: Int, seed: UInt64) -> [Float] {
        let special: [Float] = [0, -0.0, 0.625, -0.625, Float(0.625).nextDown, Float(0.625).nextUp, 0.7, -0.7, 88.72283, Float(88.72283).nextUp,
                                -87.33654, Float(-87.33654).nextDown, 100, -100, 1e-30, -1e-30, .leastNonzeroMagnitude,
                                .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .infinity, -.infinity, .nan, 3, -3, 9.5, -9.5]
        var r = RandomStream(seed: seed)
        let normal = Tensor.randomNormal([Swift.max(n, 1)], using: &r).scalars
        return (0..<n).map { i in i < special.count ? special[i] : normal[i] * [0.1, 1, 10][i % 3] }
    }

    static func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }

    @Test(arguments: [0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 100, 1000, 4099])
    func geluAndSumOnEveryPathEqualTheNaiveVersions(n: Int) {
        let x = Self.edgeValues(n, seed: UInt64(n))
        let naive = x.map(Kernels.naiveGelu)
        let finite = x.filter(\.isFinite).map { $0 / 1e30 }
        let naiveSum = finite.withUnsafeBufferPointer { Kernels.naiveSum($0) }
        for path in KernelPath.supported {
            var y = [Float](repeating: .nan, count: n)
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { Kernels.gelu(xp.baseAddress!, $0.baseAddress!, count: n, path: path) } }
            #expect(Self.sameBits(y, naive), "\(path) gelu differs from the naive version (n \(n))")
            let s = finite.withUnsafeBufferPointer { Kernels.sum($0.baseAddress!, count: $0.count, path: path) }
            #expect(s.bitPattern == naiveSum.bitPattern, "\(path) sum \(s) differs from the naive \(naiveSum) (n \(finite.count))")
        }
    }

    /// In place (x and y the same buffer) as the documentation allows.
    @Test func geluInPlace() {
        var x = Self.edgeValues(77, seed: 2)
        let naive = x.map(Kernels.naiveGelu)
        x.withUnsafeMutableBufferPointer { Kernels.gelu($0.baseAddress!, $0.baseAddress!, count: 77) }
        #expect(Self.sameBits(x, naive))
    }

    @Test(arguments: [0, 1, 5, 16, 17, 33, 3000])
    func expAndTanhOnEveryPathEqualTheNaiveVersions(n: Int) {
        let x = Self.edgeValues(n, seed: UInt64(n) + 7)
        for path in KernelPath.supported {
            var e = [Float](repeating: 7, count: n), t = [Float](repeating: 7, count: n)
            x.withUnsafeBufferPointer { xp in
                e.withUnsafeMutableBufferPointer { Kernels.exp(xp.baseAddress!, $0.baseAddress!, count: n, path: path) }
                t.withUnsafeMutableBufferPointer { Kernels.tanh(xp.baseAddress!, $0.baseAddress!, count: n, path: path) }
            }
            #expect(Self.sameBits(e, x.map(Kernels.naiveExp)), "\(path) exp differs from the naive version (n \(n))")
            #expect(Self.sameBits(t, x.map(Kernels.naiveTanh)), "\(path) tanh differs from the naive version (n \(n))")
        }
    }

    @Test(arguments: [(1, 1), (3, 5), (4, 16), (7, 17), (5, 64), (3, 768), (2, 1000), (9, 33)])
    func layerNormOnEveryPathEqualsTheNaiveVersion(rows: Int, d: Int) {
        var r = RandomStream(seed: UInt64(rows * 1000 + d))
        // Rows with an offset far from 0 (the two-pass variance matters) and a constant row (scale √eps).
        var x = Tensor.randomNormal([rows, d], using: &r).scalars.enumerated().map { $1 * 3 + Float($0 / d) * 100 }
        for i in 0..<d { x[i] = 2.5 }
        let w = Tensor.randomNormal([d], using: &r).scalars, b = Tensor.randomNormal([d], using: &r).scalars
        for (weight, bias) in [(nil, nil), (w, nil), (w, b), (nil, b)] as [([Float]?, [Float]?)] {
            var naive = [Float](repeating: 0, count: rows * d), naiveScale = [Float](repeating: 0, count: rows)
            x.withUnsafeBufferPointer { xp in naive.withUnsafeMutableBufferPointer { yp in
                for row in 0..<rows {
                    naiveScale[row] = Kernels.naiveLayerNorm(UnsafeBufferPointer(rebasing: xp[(row * d)..<((row + 1) * d)]),
                                                             UnsafeMutableBufferPointer(rebasing: yp[(row * d)..<((row + 1) * d)]),
                                                             weight: weight, bias: bias, eps: 1e-5)
                }
            }}
            for path in KernelPath.supported {
                var y = [Float](repeating: .nan, count: rows * d), scale = [Float](repeating: .nan, count: rows)
                x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in scale.withUnsafeMutableBufferPointer { sp in
                    let wp = weight?.withUnsafeBufferPointer { $0.baseAddress! }, bp = bias?.withUnsafeBufferPointer { $0.baseAddress! }
                    withExtendedLifetime((weight, bias)) {
                        Kernels.layerNorm(xp.baseAddress!, yp.baseAddress!, scale: sp.baseAddress!, rows: rows, d: d,
                                          weight: wp, bias: bp, eps: 1e-5, path: path)
                    }
                }}}
                #expect(Self.sameBits(y, naive) && Self.sameBits(scale, naiveScale),
                        "\(path) layer norm differs from the naive version (rows \(rows), d \(d), weight \(weight != nil), bias \(bias != nil))")
            }
        }
    }

    @Test(arguments: [1, 2, 5, 16, 17, 31, 64, 128, 257])
    func softmaxOnEveryPathEqualsTheNaiveVersion(n: Int) {
        var r = RandomStream(seed: UInt64(n))
        let rows: [[Float]] = [
            Tensor.randomNormal([n], std: 4, using: &r).scalars,
            Tensor.randomNormal([n], std: 40, using: &r).scalars,                  // most exps underflow
            (0..<n).map { $0 % 3 == 0 ? -.infinity : Float($0) * 0.25 },          // masked as TransformerLens masks
            [Float](repeating: -0.0, count: n),
            (0..<n).map { $0 == n / 2 ? .nan : 1 },
            (0..<n).map { $0 == n - 1 ? .infinity : 1 },
        ]
        for (k, x) in rows.enumerated() {
            for visible in Set([0, 1, n / 2, n - 1, n, n + 3]) where visible >= 0 {
                var naive = [Float](repeating: 7, count: n)
                x.withUnsafeBufferPointer { xp in naive.withUnsafeMutableBufferPointer { Kernels.naiveSoftmax(xp, $0, visible: visible) } }
                for path in KernelPath.supported {
                    var y = [Float](repeating: 7, count: n)
                    x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer {
                        Kernels.softmax(xp.baseAddress!, $0.baseAddress!, count: n, visible: visible, path: path)
                    }}
                    #expect(Self.sameBits(y, naive), "\(path) softmax differs from the naive version (row \(k), n \(n), visible \(visible))")
                }
            }
        }
    }

    /// The tensor operations run these kernels: same bits as the naive versions, row by row.
    @Test func tensorOperationsUseTheKernels() {
        var r = RandomStream(seed: 8)
        let x = Tensor.randomNormal([2, 3, 40, 40], std: 3, using: &r)
        let p = x.softmax(mask: .causal).scalars
        let xs = x.scalars
        for row in 0..<(2 * 3 * 40) {
            var naive = [Float](repeating: 0, count: 40)
            xs.withUnsafeBufferPointer { xp in naive.withUnsafeMutableBufferPointer {
                Kernels.naiveSoftmax(UnsafeBufferPointer(rebasing: xp[(row * 40)..<(row * 40 + 40)]), $0, visible: row % 40 + 1)
            }}
            #expect(Self.sameBits(Array(p[(row * 40)..<(row * 40 + 40)]), naive), "causal softmax row \(row)")
        }
        let g = x.gelu().scalars
        #expect(Self.sameBits(g, xs.map(Kernels.naiveGelu)))
        #expect(Self.sameBits(x.reshaped([240, 40]).transposed().gelu().scalars,
                              x.reshaped([240, 40]).transposed().contiguous().scalars.map(Kernels.naiveGelu)))
        let (n, s) = x.layerNormWithScale(eps: 1e-5)
        var naive = [Float](repeating: 0, count: xs.count), scales = [Float](repeating: 0, count: 240)
        xs.withUnsafeBufferPointer { xp in naive.withUnsafeMutableBufferPointer { yp in
            for row in 0..<240 {
                scales[row] = Kernels.naiveLayerNorm(UnsafeBufferPointer(rebasing: xp[(row * 40)..<(row * 40 + 40)]),
                                                     UnsafeMutableBufferPointer(rebasing: yp[(row * 40)..<(row * 40 + 40)]),
                                                     weight: nil, bias: nil, eps: 1e-5)
            }
        }}
        #expect(Self.sameBits(n.scalars, naive) && Self.sameBits(s.scalars, scales))
    }
}
