// HalfTensorTests: Float16/bfloat16 rounding against torch, and HalfTensor storage round trips.

import Foundation
import Testing
import TensorTestSupport
@testable import Tensor

@Suite struct HalfTensorTests {
    @Test func roundingMatchesTorch() throws {
        let data = try Data(contentsOf: fixturesDirectory().appendingPathComponent("half_rounding.json"))
        let rows = (try JSONSerialization.jsonObject(with: data) as! [String: Any])["rows"] as! [[Int]]
        #expect(rows.count > 200)
        for row in rows {
            let x = Float(bitPattern: UInt32(row[0]))
            let f16 = HalfPrecision.float16.encode(x), bf16 = HalfPrecision.bfloat16.encode(x)
            if x.isNaN {
                #expect(HalfPrecision.float16.decode(f16).isNaN && HalfPrecision.bfloat16.decode(bf16).isNaN)
            } else {
                #expect(f16 == UInt16(row[1]), "float16 of \(x)")
                #expect(bf16 == UInt16(row[2]), "bfloat16 of \(x)")
            }
        }
    }

    @Test(arguments: HalfPrecision.allCases)
    func decodeIsExactAndEncodeInvertsIt(_ p: HalfPrecision) {
        for bits in stride(from: 0, through: 0xFFFF, by: 7) {
            let h = UInt16(bits)
            let x = p.decode(h)
            if x.isNaN { continue }
            #expect(p.encode(x) == h)
        }
    }

    @Test func tensorRoundTripAndRows() {
        let t = testTensor([6, 5], seed: 50)
        for p in HalfPrecision.allCases {
            var h = HalfTensor(t, precision: p)
            let back = h.toTensor()
            #expect(back.scalars == t.scalars.map { p.decode(p.encode($0)) })
            expectClose(back, t, atol: 0, rtol: p == .float16 ? 1e-3 : 8e-3)
            #expect(h.rows([4, 0]) == Tensor.stack([back.selecting(axis: 0, 4), back.selecting(axis: 0, 0)]))
            h.setRows(1, Tensor(repeating: 0.5, shape: [2, 5]))
            #expect(h.rows([1, 2]).scalars == [Float](repeating: 0.5, count: 10))
            #expect(h.rows([3]) == back.sliced(axis: 0, 3..<4))
        }
    }
}
