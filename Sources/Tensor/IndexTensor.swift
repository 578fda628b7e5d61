// IndexTensor: a row-major array of integer indices (token ids, argmax and top-k results).

/// A contiguous, row-major array of `Int` with a shape: token ids `[batch, pos]`, the indices
/// returned by ``Tensor/argmax(axis:)`` and ``Tensor/topK(_:)``, the rows picked by
/// ``Tensor/gathering(axis:_:)``.
public struct IndexTensor: Sendable, Equatable, Hashable {
    /// The extent of each axis.
    public let shape: [Int]
    /// The elements in row-major order.
    public private(set) var values: [Int]

    /// Wraps `values` (row-major) as an array of `shape`.
    public init(shape: [Int], values: [Int]) {
        precondition(Tensor.elementCount(shape) == values.count,
                     "shape \(shape) holds \(Tensor.elementCount(shape)) elements but \(values.count) values were given")
        self.shape = shape
        self.values = values
    }

    /// A rank-1 index array.
    public init(_ values: [Int]) { self.init(shape: [values.count], values: values) }

    /// Number of axes.
    public var rank: Int { shape.count }
    /// Number of elements.
    public var count: Int { values.count }

    /// The element at `indices` (one per axis).
    public subscript(_ indices: Int...) -> Int {
        get { values[flatIndex(indices)] }
        set { values[flatIndex(indices)] = newValue }
    }

    private func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == rank, "\(indices.count) indices for shape \(shape)")
        var flat = 0
        for (axis, i) in indices.enumerated() {
            precondition(i >= 0 && i < shape[axis], "index \(indices) is out of range for shape \(shape)")
            flat = flat * shape[axis] + i
        }
        return flat
    }

    /// The same values with a new shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> IndexTensor { IndexTensor(shape: newShape, values: values) }

    /// Row `i` of a rank-2 array.
    public func row(_ i: Int) -> ArraySlice<Int> {
        precondition(rank == 2 && i >= 0 && i < shape[0], "row \(i) of shape \(shape)")
        return values[(i * shape[1])..<((i + 1) * shape[1])]
    }

    /// Rows `range` of a rank-2 array, `[range.count, shape[1]]`.
    public func rows(_ range: Range<Int>) -> IndexTensor {
        precondition(rank == 2 && range.lowerBound >= 0 && range.upperBound <= shape[0], "rows \(range) of shape \(shape)")
        return IndexTensor(shape: [range.count, shape[1]], values: Array(values[(range.lowerBound * shape[1])..<(range.upperBound * shape[1])]))
    }

    /// The listed rows of a rank-2 array, in that order, `[rows.count, shape[1]]`.
    public func rows(_ rows: [Int]) -> IndexTensor {
        IndexTensor(shape: [rows.count, shape[1]], values: rows.flatMap { row($0) })
    }
}
