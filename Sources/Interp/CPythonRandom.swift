// CPythonRandom: CPython's `random` module generator (MT19937 seeded by init_by_array), bit-exact
// for the draws the paper's datasets use: seed, getrandbits(k ≤ 32), randbelow, choice, shuffle, randint.
import Tensor
import Transformer
import SparseAutoencoder

/// CPython's `random.Random` for integer seeds: MT19937 seeded with `init_by_array` over the 32-bit
/// words of `|seed|`, and the integer draws built on `getrandbits` exactly as CPython 3 builds them.
/// Needed so the IOI prompts match the reference dataset exactly (Docs/Method.md §4.3).
public struct CPythonRandom: Sendable {
    private var mt = [UInt32](repeating: 0, count: 624)
    private var index = 625

    /// `random.seed(seed)` for an integer seed.
    public init(seed: Int) {
        var key: [UInt32] = []
        var s = seed.magnitude
        repeat {
            key.append(UInt32(truncatingIfNeeded: s))
            s >>= 32
        } while s > 0
        initByArray(key)
    }

    private mutating func initGenrand(_ s: UInt32) {
        mt[0] = s
        for i in 1..<624 {
            mt[i] = 1_812_433_253 &* (mt[i - 1] ^ (mt[i - 1] >> 30)) &+ UInt32(i)
        }
        index = 624
    }

    private mutating func initByArray(_ key: [UInt32]) {
        initGenrand(19_650_218)
        var i = 1, j = 0
        var k = Swift.max(624, key.count)
        while k > 0 {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_664_525)) &+ key[j] &+ UInt32(j)
            i += 1; j += 1
            if i >= 624 { mt[0] = mt[623]; i = 1 }
            if j >= key.count { j = 0 }
            k -= 1
        }
        k = 623
        while k > 0 {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_566_083_941)) &- UInt32(i)
            i += 1
            if i >= 624 { mt[0] = mt[623]; i = 1 }
            k -= 1
        }
        mt[0] = 0x8000_0000
    }

    /// The next 32-bit output (`genrand_uint32`).
    public mutating func nextUInt32() -> UInt32 {
        if index >= 624 {
            for kk in 0..<624 {
                let y = (mt[kk] & 0x8000_0000) | (mt[(kk + 1) % 624] & 0x7FFF_FFFF)
                mt[kk] = mt[(kk + 397) % 624] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908_B0DF : 0)
            }
            index = 0
        }
        var y = mt[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// `getrandbits(k)` for 1 ≤ k ≤ 32.
    public mutating func getrandbits(_ k: Int) -> Int {
        precondition(k >= 1 && k <= 32, "getrandbits(\(k)) is implemented for 1...32")
        return Int(nextUInt32() >> UInt32(32 - k))
    }

    /// `_randbelow(n)`: uniform in 0..<n by rejection on `getrandbits(n.bit_length())`.
    public mutating func randbelow(_ n: Int) -> Int {
        precondition(n > 0 && n <= Int(UInt32.max), "randbelow(\(n))")
        let k = Int.bitWidth - n.leadingZeroBitCount
        var r = getrandbits(k)
        while r >= n { r = getrandbits(k) }
        return r
    }

    /// `random.choice(seq)`.
    public mutating func choice<T>(_ seq: [T]) -> T { seq[randbelow(seq.count)] }

    /// `random.randint(a, b)` (inclusive).
    public mutating func randint(_ a: Int, _ b: Int) -> Int { a + randbelow(b - a + 1) }

    /// `random.shuffle(x)`.
    public mutating func shuffle<T>(_ x: inout [T]) {
        var i = x.count - 1
        while i > 0 {
            x.swapAt(i, randbelow(i + 1))
            i -= 1
        }
    }

    /// `random.random()`: 53-bit float from two outputs, as CPython builds it.
    public mutating func random() -> Double {
        let a = Double(nextUInt32() >> 5), b = Double(nextUInt32() >> 6)
        return (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }
}
