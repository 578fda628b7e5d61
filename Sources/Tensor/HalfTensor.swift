// HalfTensor: Float16 / bfloat16 storage for large buffers, converting to and from Float32.

/// A 16-bit floating-point storage format.
public enum HalfPrecision: String, Sendable, Codable, CaseIterable {
    /// IEEE 754 binary16: 5 exponent bits, 10 mantissa bits (PyTorch `float16`, safetensors `F16`).
    case float16
    /// bfloat16: the top half of a Float32, 8 exponent bits, 7 mantissa bits (`BF16`).
    case bfloat16

    /// The 16 bits encoding `x`, rounded to nearest, ties to even (as PyTorch converts). A NaN
    /// stays a (quiet) NaN; values beyond the format's range become ±∞.
    @inlinable
    public func encode(_ x: Float) -> UInt16 {
        switch self {
        case .float16:
            return Float16(x).bitPattern
        case .bfloat16:
            let bits = x.bitPattern
            if x.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x0040) }
            let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
            return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
        }
    }

    /// The Float32 value of 16 encoded bits (exact: every half value is a Float32).
    @inlinable
    public func decode(_ h: UInt16) -> Float {
        switch self {
        case .float16: return Float(Float16(bitPattern: h))
        case .bfloat16: return Float(bitPattern: UInt32(h) << 16)
        }
    }

    /// Encodes `count` floats from `src` into `dst`.
    @inlinable
    public func encode(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<UInt16>, count: Int) {
        switch self {
        case .float16: for i in 0..<count { dst[i] = Float16(src[i]).bitPattern }
        case .bfloat16: for i in 0..<count { dst[i] = encode(src[i]) }
        }
    }

    /// Decodes `count` halves from `src` into `dst`.
    @inlinable
    public func decode(_ src: UnsafePointer<UInt16>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .float16: for i in 0..<count { dst[i] = Float(Float16(bitPattern: src[i])) }
        case .bfloat16: for i in 0..<count { dst[i] = Float(bitPattern: UInt32(src[i]) << 16) }
        }
    }
}

/// A contiguous row-major array stored in 16 bits per element (half the memory of a ``Tensor``),
/// for large buffers such as the SAE training buffer (Docs/Method.md §1.3 keeps it in bfloat16). Values are
/// rounded to nearest-even when stored and exact when read back.
public struct HalfTensor: Sendable, Equatable {
    /// The storage format.
    public let precision: HalfPrecision
    /// The extent of each axis.
    public let shape: [Int]
    /// The encoded elements in row-major order.
    public private(set) var bits: [UInt16]

    /// Zeros of `shape`.
    public init(zeros shape: [Int], precision: HalfPrecision) {
        self.precision = precision
        self.shape = shape
        self.bits = [UInt16](repeating: 0, count: Tensor.elementCount(shape))
    }

    /// Wraps already-encoded elements.
    public init(shape: [Int], bits: [UInt16], precision: HalfPrecision) {
        precondition(Tensor.elementCount(shape) == bits.count, "shape \(shape) does not hold \(bits.count) elements")
        self.precision = precision
        self.shape = shape
        self.bits = bits
    }

    /// `tensor` rounded to `precision`.
    public init(_ tensor: Tensor, precision: HalfPrecision) {
        self.precision = precision
        self.shape = tensor.shape
        var b = [UInt16](repeating: 0, count: tensor.count)
        tensor.withUnsafeBufferPointer { src in
            b.withUnsafeMutableBufferPointer { dst in
                let d = UnsafeSendableBox(dst.baseAddress!)
                Parallel.forChunks(of: 0..<src.count, minChunk: 1 << 16) { r in
                    precision.encode(src.baseAddress! + r.lowerBound, into: d.value + r.lowerBound, count: r.count)
                }
            }
        }
        self.bits = b
    }

    /// Number of elements.
    public var count: Int { bits.count }

    /// The elements as a Float32 tensor.
    public func toTensor() -> Tensor {
        bits.withUnsafeBufferPointer { src in
            Tensor(shape: shape) { out in
                let o = UnsafeSendableBox(out.baseAddress!)
                Parallel.forChunks(of: 0..<src.count, minChunk: 1 << 16) { r in
                    precision.decode(src.baseAddress! + r.lowerBound, into: o.value + r.lowerBound, count: r.count)
                }
            }
        }
    }

    /// Size of one row (the product of all axes but the first).
    public var rowSize: Int { shape.dropFirst().reduce(1, *) }

    /// Rows `indices` (along the first axis), gathered into a Float32 tensor `[indices.count, ...]`.
    public func rows(_ indices: [Int]) -> Tensor {
        let d = rowSize, n = shape.first ?? 0
        for i in indices { precondition(i >= 0 && i < n, "row \(i) is out of range 0..<\(n)") }
        return bits.withUnsafeBufferPointer { src in
            Tensor(shape: [indices.count] + shape.dropFirst()) { out in
                for (j, i) in indices.enumerated() {
                    precision.decode(src.baseAddress! + i * d, into: out.baseAddress! + j * d, count: d)
                }
            }
        }
    }

    /// Calls `body` with the encoded elements, mutable (row-major).
    public mutating func withUnsafeMutableBits<R>(_ body: (UnsafeMutableBufferPointer<UInt16>) throws -> R) rethrows -> R {
        try bits.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// Stores `values` (shape `[k] + shape[1...]`) as rows `start..<start+k`.
    public mutating func setRows(_ start: Int, _ values: Tensor) {
        let d = rowSize, k = values.shape.first ?? 0
        precondition(Array(values.shape.dropFirst()) == Array(shape.dropFirst()) && start >= 0 && start + k <= (shape.first ?? 0),
                     "cannot store rows of shape \(values.shape) at \(start) in \(shape)")
        let p = precision
        values.withUnsafeBufferPointer { src in
            bits.withUnsafeMutableBufferPointer { dst in
                p.encode(src.baseAddress!, into: dst.baseAddress! + start * d, count: k * d)
            }
        }
    }
}
