// NaiveKernels: plain-loop reference implementations (in Double) that the fast kernels are tested against.

import Foundation
import Tensor

/// Reference kernels written for clarity, not speed: index arithmetic through `Tensor`'s own
/// subscript (so strided views are read the obvious way) and accumulation in Double.
public enum Naive {
    /// All index tuples of `shape` in row-major order.
    public static func indices(_ shape: [Int]) -> [[Int]] {
        if shape.contains(0) { return [] }
        var out: [[Int]] = [[]]
        for d in shape { out = out.flatMap { prefix in (0..<d).map { prefix + [$0] } } }
        return out
    }

    /// Element at `idx` via per-axis strides (independent of the library's loops).
    public static func element(_ t: Tensor, _ idx: [Int]) -> Double {
        Double(t.withUnsafeBufferPointer { buf -> Float in
            var flat = 0
            for (axis, i) in idx.enumerated() { flat = flat * t.shape[axis] + i }
            return buf[flat]
        })
    }

    /// `[..., m, k] · [..., k, n]` with broadcast batch axes, accumulated in Double.
    public static func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        precondition(b.shape[b.rank - 2] == k)
        let batch = Tensor.broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)))
        let ae = a.expanded(to: batch + [m, k]).contiguousCopy().scalars
        let be = b.expanded(to: batch + [k, n]).contiguousCopy().scalars
        let nb = batch.reduce(1, *)
        var out = [Float](repeating: 0, count: nb * m * n)
        for bi in 0..<nb {
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k { s += Double(ae[bi * m * k + i * k + p]) * Double(be[bi * k * n + p * n + j]) }
                    out[bi * m * n + i * n + j] = Float(s)
                }
            }
        }
        return Tensor(shape: batch + [m, n], scalars: out)
    }

    /// Softmax over the last axis with an optional keep mask (same shape; 0 = excluded).
    public static func softmax(_ x: Tensor, keep: [Bool]? = nil) -> Tensor {
        let n = x.shape.last!
        let v = x.scalars
        var out = [Float](repeating: 0, count: v.count)
        for r in 0..<(v.count / n) {
            let idx = (0..<n).map { r * n + $0 }.filter { keep?[$0] ?? true }
            guard !idx.isEmpty else { continue }
            let m = idx.map { Double(v[$0]) }.max()!
            let s = idx.reduce(0.0) { $0 + Foundation.exp(Double(v[$1]) - m) }
            for i in idx { out[i] = Float(Foundation.exp(Double(v[i]) - m) / s) }
        }
        return Tensor(shape: x.shape, scalars: out)
    }

    /// TransformerLens layer norm over the last axis (biased variance), in Double.
    public static func layerNorm(_ x: Tensor, weight: [Float]?, bias: [Float]?, eps: Double = 1e-5) -> (Tensor, Tensor) {
        let d = x.shape.last!
        let v = x.scalars
        var out = [Float](repeating: 0, count: v.count)
        var scales: [Float] = []
        for r in 0..<(v.count / d) {
            let row = v[(r * d)..<((r + 1) * d)].map(Double.init)
            let mean = row.reduce(0, +) / Double(d)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
            let scale = (variance + eps).squareRoot()
            scales.append(Float(scale))
            for i in 0..<d {
                var y = (row[i] - mean) / scale
                if let weight { y *= Double(weight[i]) }
                if let bias { y += Double(bias[i]) }
                out[r * d + i] = Float(y)
            }
        }
        return (Tensor(shape: x.shape, scalars: out), Tensor(shape: Array(x.shape.dropLast()) + [1], scalars: scales))
    }

    /// gelu_new in Double.
    public static func gelu(_ x: Float) -> Float {
        let v = Double(x)
        return Float(0.5 * v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))))
    }
}
