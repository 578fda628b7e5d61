// StoredFloat: little-endian floating-point element types as files store them, decoded to Float32.

/// A floating-point element type stored in a file (little-endian).
public enum StoredFloat: String, Sendable, CaseIterable {
    case float32, float16, bfloat16, float64

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32: 4
        case .float16, .bfloat16: 2
        case .float64: 8
        }
    }

    /// Decodes `count` consecutive elements starting at `src` (any alignment) into `dst`.
    func decode(_ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch self {
        case .float32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .float16:
            for i in 0..<count { dst[i] = HalfPrecision.float16.decode(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bfloat16:
            for i in 0..<count { dst[i] = HalfPrecision.bfloat16.decode(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .float64:
            for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        }
    }

    /// The element at index `i` of the array starting at `src`.
    @inline(__always)
    func load(_ src: UnsafeRawPointer, _ i: Int) -> Float {
        switch self {
        case .float32: src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
        case .float16: HalfPrecision.float16.decode(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        case .bfloat16: HalfPrecision.bfloat16.decode(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        case .float64: Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self))
        }
    }
}

/// Overflow-checked arithmetic for sizes read from untrusted files.
enum CheckedSize {
    /// The product of `dims` times `itemSize`, or nil on a negative extent or overflow. A zero
    /// extent does not excuse the others: the product of the non-zero extents must fit too, since
    /// row-major strides are products of trailing extents (`[0, 2⁴⁰, 2⁴⁰]` holds no element but
    /// its strides overflow).
    static func bytes(_ dims: [Int], itemSize: Int) -> Int? {
        var n = itemSize, nonZero = Swift.max(itemSize, 1)
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            let (q, o2) = nonZero.multipliedReportingOverflow(by: Swift.max(d, 1))
            if o || o2 { return nil }
            n = p
            nonZero = q
        }
        return n
    }
}
