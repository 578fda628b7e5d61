// VectorMathTests: the package's exp and tanh (Kernels.naiveExp / naiveTanh, which every C kernel path
// equals bit for bit — KernelsTests) against correctly rounded Double results, in ulps.

import Foundation
import Testing
@testable import Tensor

@Suite struct VectorMathTests {
    /// Distance in units in the last place between `a` and the Float nearest to `exact`.
    static func ulps(_ a: Float, _ exact: Double) -> Int {
        let e = Float(exact)
        if a == e { return 0 }
        let ia = Int(a.bitPattern), ie = Int(e.bitPattern)
        return (a.sign == e.sign) ? Swift.abs(ia - ie) : Int.max
    }

    static let samples: [Float] = {
        var xs: [Float] = [0, -0, 1e-30, -1e-30, 1e-8, 0.5, 0.625, 0.6249, 0.6251, 1, -1, 2, 10, -10, 20, -20, 88, -87]
        var r = RandomStream(seed: 80)
        for _ in 0..<20_000 { xs.append((r.nextFloat() * 2 - 1) * 30) }
        for _ in 0..<5_000 { xs.append((r.nextFloat() * 2 - 1) * 1.5) }
        for _ in 0..<2_000 { xs.append((r.nextFloat() * 2 - 1) * 1e-3) }
        return xs
    }()

    @Test func expWithinTwoUlps() {
        var worst = 0
        for x in Self.samples where x > -87 && x < 88 {
            worst = Swift.max(worst, Self.ulps(Kernels.naiveExp(x), Foundation.exp(Double(x))))
        }
        #expect(worst <= 2, "max error \(worst) ulp")
        #expect(Kernels.naiveExp(100).isInfinite && Kernels.naiveExp(-100) == 0 && Kernels.naiveExp(.nan).isNaN)
        #expect(Kernels.naiveExp(0) == 1)
    }

    @Test func tanhWithinThreeUlps() {
        var worst = 0
        for x in Self.samples {
            worst = Swift.max(worst, Self.ulps(Kernels.naiveTanh(x), Foundation.tanh(Double(x))))
        }
        #expect(worst <= 3, "max error \(worst) ulp")
        #expect(Kernels.naiveTanh(50) == 1 && Kernels.naiveTanh(-50) == -1 && Kernels.naiveTanh(0) == 0)
    }

    @Test func tensorOperationsAgreeWithTheNaiveVersions() {
        let t = Tensor(Self.samples)
        #expect(t.exp().scalars == Self.samples.map(Kernels.naiveExp))
        #expect(t.gelu().scalars == Self.samples.map(Tensor.geluScalar))
        #expect(t.transposed(0, 0).tanh().scalars == Self.samples.map(Kernels.naiveTanh))
    }
}
