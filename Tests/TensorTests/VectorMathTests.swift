// VectorMathTests: the SIMD exp and tanh against correctly rounded Double results, in ulps.

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
            worst = Swift.max(worst, Self.ulps(VectorMath.exp(x), Foundation.exp(Double(x))))
        }
        #expect(worst <= 2, "max error \(worst) ulp")
        #expect(VectorMath.exp(100).isInfinite && VectorMath.exp(-100) == 0 && VectorMath.exp(.nan).isNaN)
        #expect(VectorMath.exp(0) == 1)
    }

    @Test func tanhWithinThreeUlps() {
        var worst = 0
        for x in Self.samples {
            worst = Swift.max(worst, Self.ulps(VectorMath.tanh(x), Foundation.tanh(Double(x))))
        }
        #expect(worst <= 3, "max error \(worst) ulp")
        #expect(VectorMath.tanh(50) == 1 && VectorMath.tanh(-50) == -1 && VectorMath.tanh(0) == 0)
    }

    @Test func vectorAndScalarPathsAgree() {
        let t = Tensor(Self.samples)
        // The tensor ops run 8 lanes at a time and finish rows with the scalar form: same values.
        #expect(t.exp().scalars == Self.samples.map(ExpKernel.scalar))
        #expect(t.gelu().scalars == Self.samples.map(Tensor.geluScalar))
        #expect(t.transposed(0, 0).tanh().scalars == Self.samples.map(TanhKernel.scalar))
    }
}
