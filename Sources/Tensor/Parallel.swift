// Parallel: data-parallel loops for non-BLAS work, sharing the cores with BLAS without contention.

import Dispatch
import Foundation

/// Data-parallel loops over index ranges, built on `DispatchQueue.concurrentPerform`.
///
/// All parallelism of this package — elementwise kernels, softmax, layer norm and the matrix
/// products themselves — goes through this one pool. OpenBLAS is pinned to one thread per call
/// (see ``BLAS``), and large products are split across workers here, so no OpenBLAS worker spins
/// waiting for work while a Dispatch worker needs the core (OpenBLAS's own pool busy-waits for about
/// 100 ms after each call).
public enum Parallel {
    /// Number of workers used by parallel loops: the active processor count, or the value of the
    /// environment variable `ATTN_SAE_THREADS` when it is a positive integer.
    public static let workerCount: Int = {
        if let s = ProcessInfo.processInfo.environment["ATTN_SAE_THREADS"], let n = Int(s), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Calls `body` on disjoint consecutive sub-ranges covering `range`, in parallel when the range
    /// holds at least two chunks of `minChunk` indices. Sub-ranges are balanced; the call returns
    /// when all have finished.
    @inlinable
    public static func forChunks(of range: Range<Int>, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let n = range.count
        if n == 0 { return }
        let chunks = min(workerCount, max(1, n / max(minChunk, 1)))
        if chunks <= 1 {
            body(range)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UnsafeSendableBox(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = range.lowerBound + n * c / chunks
                let hi = range.lowerBound + n * (c + 1) / chunks
                box.value(lo..<hi)
            }
        }
    }

    /// Calls `body(i)` for every `i` in `range`, in parallel chunks of at least `minChunk` indices.
    @inlinable
    public static func forEach(in range: Range<Int>, minChunk: Int = 1, _ body: (Int) -> Void) {
        forChunks(of: range, minChunk: minChunk) { sub in
            for i in sub { body(i) }
        }
    }
}

/// Carries a non-Sendable value (typically buffer pointers) into parallel loops. Callers guarantee
/// that concurrent uses touch disjoint memory. Shared with this package's other modules, not public.
@usableFromInline
package struct UnsafeSendableBox<T>: @unchecked Sendable {
    @usableFromInline package let value: T
    @usableFromInline package init(_ value: T) { self.value = value }
}
