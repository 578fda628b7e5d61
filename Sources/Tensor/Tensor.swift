// Tensor: a strided Float32 array with value semantics (copy-on-write storage).

/// An n-dimensional array of `Float` with value semantics.
///
/// A tensor is a *view*: a shape, per-axis strides (in elements, may be 0 for broadcast axes) and an
/// offset into a shared ``TensorStorage``. Views — ``reshaped(_:)`` where the strides allow it,
/// ``permuted(_:)``, ``transposed(_:_:)``, ``sliced(axis:_:)``, ``selecting(axis:_:)``,
/// ``expanded(to:)`` — share storage and copy nothing. Writing through any tensor first copies the
/// storage if anything else references it, so a tensor never changes because another one did:
///
/// ```swift
/// var a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
/// let t = a.transposed()      // [3, 2] view of the same storage, no copy
/// a[0, 0] = 100               // `a` copies its storage first: `t` still reads 1 at [0, 0]
/// ```
///
/// Shapes in this project are written in TransformerLens dimension names, e.g. `hook_z` is
/// `[batch, pos, head_index, d_head]`. Shape mismatches are programmer errors and stop with a
/// `precondition` that prints the shapes; problems with files throw typed errors.
public struct Tensor: Sendable {
    @usableFromInline var storage: TensorStorage
    /// The extent of each axis.
    public private(set) var shape: [Int]
    /// The step, in elements, between neighbours along each axis (0 on broadcast axes).
    public private(set) var strides: [Int]
    /// The index in `storage` of the element at all-zero indices.
    public private(set) var offset: Int

    @usableFromInline
    init(storage: TensorStorage, shape: [Int], strides: [Int], offset: Int) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    // MARK: Creation

    /// A contiguous tensor holding `scalars` in row-major order.
    public init(shape: [Int], scalars: [Float]) {
        let n = Tensor.elementCount(shape)
        precondition(n == scalars.count,
                     "shape \(shape) holds \(n) elements but \(scalars.count) scalars were given")
        let s = TensorStorage(uninitializedCount: n)
        scalars.withUnsafeBufferPointer { s.base.initialize(from: $0.baseAddress!, count: n) }
        self.init(storage: s, shape: shape, strides: Tensor.contiguousStrides(shape), offset: 0)
    }

    /// A rank-1 tensor of `scalars`.
    public init(_ scalars: [Float]) { self.init(shape: [scalars.count], scalars: scalars) }

    /// A rank-0 tensor holding `value`.
    public init(scalar value: Float) { self.init(shape: [], scalars: [value]) }

    /// A contiguous tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(storage: .zeros(Tensor.elementCount(shape)), shape: shape,
                  strides: Tensor.contiguousStrides(shape), offset: 0)
    }

    /// A contiguous tensor filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        let n = Tensor.elementCount(shape)
        let s = TensorStorage(uninitializedCount: n)
        s.base.initialize(repeating: value, count: n)
        self.init(storage: s, shape: shape, strides: Tensor.contiguousStrides(shape), offset: 0)
    }

    /// A contiguous tensor whose elements are written by `body` into an uninitialised buffer of
    /// `shape`'s element count (row-major). `body` must write every element.
    @inlinable
    public init(shape: [Int], unsafeUninitialized body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let n = Tensor.elementCount(shape)
        let s = TensorStorage(uninitializedCount: n)
        try body(UnsafeMutableBufferPointer(start: s.base, count: n))
        self.init(storage: s, shape: shape, strides: Tensor.contiguousStrides(shape), offset: 0)
    }

    /// Wraps storage borrowed from `owner` (for example a file mapping) without copying.
    init(borrowing base: UnsafePointer<Float>, shape: [Int], owner: AnyObject) {
        let n = Tensor.elementCount(shape)
        self.init(storage: TensorStorage(borrowing: base, count: n, owner: owner), shape: shape,
                  strides: Tensor.contiguousStrides(shape), offset: 0)
    }

    // MARK: Shape facts

    /// Number of axes.
    @inlinable public var rank: Int { shape.count }
    /// Number of elements (the product of `shape`; 1 for a rank-0 tensor).
    @inlinable public var count: Int { Tensor.elementCount(shape) }

    /// True when the elements are laid out row-major with no gaps, so the view is one plain buffer.
    public var isContiguous: Bool {
        var expected = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// Row-major strides for `shape`. A shape with a zero extent holds no element, and its strides
    /// are never used to address one; they wrap rather than trap if the other extents overflow.
    @inlinable
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = acc
            acc &*= shape[axis]
        }
        return strides
    }

    /// The product of `shape`, checked for negative extents and overflow.
    @inlinable
    public static func elementCount(_ shape: [Int]) -> Int {
        var n = 1
        for d in shape {
            precondition(d >= 0, "negative extent in shape \(shape)")
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            precondition(!overflow, "element count of shape \(shape) overflows Int")
            n = p
        }
        return n
    }

    /// Normalises a possibly negative axis (`-1` is the last axis).
    @inlinable
    public func normalizedAxis(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "axis \(axis) is out of range for shape \(shape)")
        return a
    }

    // MARK: Element access

    @inlinable
    func storageIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == rank, "\(indices.count) indices for shape \(shape)")
        var idx = offset
        for axis in 0..<rank {
            let i = indices[axis]
            precondition(i >= 0 && i < shape[axis], "index \(indices) is out of range for shape \(shape)")
            idx += i * strides[axis]
        }
        return idx
    }

    /// The element at `indices` (one index per axis).
    public subscript(_ indices: Int...) -> Float {
        get { storage.base[storageIndex(indices)] }
        set {
            makeWritable()
            storage.base[storageIndex(indices)] = newValue
        }
    }

    /// The single element of a tensor with one element.
    public var scalar: Float {
        precondition(count == 1, "scalar needs exactly one element, shape is \(shape)")
        return storage.base[offset]
    }

    /// The elements in row-major order.
    public var scalars: [Float] {
        let c = contiguous()
        return Array(UnsafeBufferPointer(start: c.storage.base + c.offset, count: c.count))
    }

    /// Calls `body` with the elements as one row-major buffer (copying first if the view is not
    /// contiguous). The buffer is valid only inside `body`.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let c = isContiguous ? self : contiguous()
        return try body(UnsafeBufferPointer(start: c.storage.base + c.offset, count: c.count))
    }

    /// Calls `body` with a mutable row-major buffer of the elements; the tensor is made contiguous
    /// and uniquely owned first, so writes affect only this value.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        makeContiguousAndUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.base + offset, count: count))
    }

    /// Ensures the storage is writable and not shared, and that no two indices alias one element.
    @usableFromInline
    mutating func makeWritable() {
        let aliased = Swift.zip(shape, strides).contains { $0.0 > 1 && $0.1 == 0 }
        if aliased || !storage.isWritable || !isKnownUniquelyReferenced(&storage) {
            self = contiguousCopy()
        }
    }

    /// Ensures the view is contiguous, writable and uniquely owned.
    @usableFromInline
    mutating func makeContiguousAndUnique() {
        if !isContiguous || !storage.isWritable || !isKnownUniquelyReferenced(&storage) {
            self = contiguousCopy()
        }
    }

    // MARK: Contiguity

    /// This tensor if it is already contiguous, otherwise a contiguous copy.
    public func contiguous() -> Tensor { isContiguous ? self : contiguousCopy() }

    /// A new contiguous tensor with the same elements (always copies).
    public func contiguousCopy() -> Tensor {
        Tensor(shape: shape) { out in StridedCopy.copy(self, into: out.baseAddress!) }
    }
}

// MARK: - Equality and printing

extension Tensor: Equatable {
    /// Exact equality: same shape and bitwise-equal-valued elements (`-0 == 0`, `NaN != NaN`).
    /// For tolerances use the comparison helpers of the test-support target.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape && lhs.scalars == rhs.scalars
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = scalars
        let shown = values.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(values.count > 8 ? ", …" : "")])"
    }
}
