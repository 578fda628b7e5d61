// RandomStream: seeded, reproducible random numbers (xoshiro256**), and random tensors.

import Foundation

/// A seeded random stream: xoshiro256** (Blackman & Vigna) with its state expanded from the seed by
/// SplitMix64. The same seed gives the same numbers on every run and machine; the state can be saved
/// and restored exactly (``state``, ``init(state:)``), which is what makes training resumable.
///
/// Every derived draw — uniform floats, normals, bounded integers, permutations, weighted sampling —
/// is defined here in terms of ``next()``, so it does not depend on the standard library's
/// algorithms (which may change between Swift versions).
public struct RandomStream: RandomNumberGenerator, Sendable, Equatable {
    /// The four state words; restore with ``init(state:)``.
    public private(set) var state: [UInt64]

    /// A stream seeded with `seed`.
    public init(seed: UInt64) {
        var x = seed
        var s = [UInt64](repeating: 0, count: 4)
        for i in 0..<4 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            s[i] = z ^ (z >> 31)
        }
        state = s
    }

    /// A stream continuing from a saved ``state`` (four words, not all zero).
    public init(state: [UInt64]) {
        precondition(state.count == 4 && state.contains { $0 != 0 }, "a RandomStream state is four words, not all zero")
        self.state = state
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A uniform Float in [0, 1) with 24 random bits.
    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// A uniform Double in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A standard normal draw (Box–Muller on two uniform Doubles; the sine half is not kept, so a
    /// draw always consumes exactly two words).
    public mutating func nextNormal() -> Double {
        let u1 = 1 - nextDouble()  // (0, 1]
        let u2 = nextDouble()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// A uniform integer in 0..<bound (Lemire's multiply-and-reject: unbiased).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound, got \(bound)")
        let b = UInt64(bound)
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let threshold = (0 &- b) % b
            while m.low < threshold { m = next().multipliedFullWidth(by: b) }
        }
        return Int(m.high)
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates, from the back).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        shuffle(&p)
        return p
    }

    /// Shuffles `array` in place (Fisher–Yates, from the back).
    public mutating func shuffle<T>(_ array: inout [T]) {
        var i = array.count - 1
        while i > 0 {
            array.swapAt(i, nextInt(below: i + 1))
            i -= 1
        }
    }

    /// `k` distinct indices drawn without replacement with probability proportional to `weights`
    /// (Efraimidis–Spirakis: each index gets the key `E / w` with `E ~ Exp(1)`, and the `k` smallest
    /// keys win, in order of their keys — the order of successive draws). Zero weights are never
    /// drawn; `k` may not exceed the number of positive weights.
    public mutating func sampleWithoutReplacement(weights: [Double], count k: Int) -> [Int] {
        let positive = weights.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
        precondition(weights.allSatisfy { $0 >= 0 && $0.isFinite }, "weights must be finite and non-negative")
        precondition(k >= 0 && k <= positive, "cannot draw \(k) indices from \(positive) positive weights")
        var keyed: [(key: Double, index: Int)] = []
        keyed.reserveCapacity(positive)
        for (i, w) in weights.enumerated() {
            let e = -Foundation.log(1 - nextDouble())
            if w > 0 { keyed.append((e / w, i)) }
        }
        keyed.sort { $0.key < $1.key || ($0.key == $1.key && $0.index < $1.index) }
        return keyed.prefix(k).map(\.index)
    }
}

extension Tensor {
    /// Uniform values in [low, high) from `rng`, in row-major order.
    public static func randomUniform(_ shape: [Int], low: Float = 0, high: Float = 1, using rng: inout RandomStream) -> Tensor {
        Tensor(shape: shape) { out in
            for i in 0..<out.count { out[i] = low + (high - low) * rng.nextFloat() }
        }
    }

    /// Normal values with the given mean and standard deviation from `rng`, in row-major order.
    public static func randomNormal(_ shape: [Int], mean: Float = 0, std: Float = 1, using rng: inout RandomStream) -> Tensor {
        Tensor(shape: shape) { out in
            for i in 0..<out.count { out[i] = mean + std * Float(rng.nextNormal()) }
        }
    }
}
