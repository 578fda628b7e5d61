// Collective: what a data-parallel training run needs from its transport — sums across ranks. The
// MPI implementation lives in its own module (SAEDistributed), so `import SparseAutoencoder` needs no MPI.
import Tensor

/// The ranks of a data-parallel run and the one operation training needs from them: an elementwise sum
/// across ranks after which every rank holds the same values (MPI's `MPI_Allreduce` with `MPI_SUM`).
///
/// With N ranks each rank trains on `batch / N` rows of the global batch; gradients, loss parts and
/// firing counts are normalised by the global batch and summed, so every rank applies the same update
/// and the SAEs stay identical — equal, to float rounding, to one process stepping on the whole batch.
public protocol Collective {
    /// This process's rank, `0 ..< size`.
    var rank: Int { get }
    /// Number of ranks.
    var size: Int { get }
    /// Replaces `values` by their elementwise sum over all ranks (every rank passes the same count).
    func sum(_ values: UnsafeMutableBufferPointer<Float>) throws
    func sum(_ values: UnsafeMutableBufferPointer<Double>) throws
}

/// One process: sums are the values themselves.
public struct SingleProcess: Collective, Sendable {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sum(_ values: UnsafeMutableBufferPointer<Float>) throws {}
    public func sum(_ values: UnsafeMutableBufferPointer<Double>) throws {}
}

extension Collective {
    /// Sums a tensor across ranks in place.
    public func sum(_ t: inout Tensor) throws {
        try t.withUnsafeMutableBufferPointer { try sum($0) }
    }

    /// Sums an array across ranks in place.
    public func sum(_ a: inout [Double]) throws {
        try a.withUnsafeMutableBufferPointer { try sum($0) }
    }
}
