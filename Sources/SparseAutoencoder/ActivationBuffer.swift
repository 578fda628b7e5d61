// ActivationBuffer: the paper's shuffling buffer between an activation source and the trainer (Docs/Method.md §1.3).
import Tensor

/// Anything that produces activation rows `[rows, d_in]` for training — in the paper, GPT-2's
/// `hook_z` flattened head-major (the `Interp` module provides that source; tests use synthetic ones).
public protocol ActivationSource {
    /// Width of each row.
    var dIn: Int { get }
    /// The next rows, `[rows, d_in]` with `rows ≥ 1`. Throw to end training with an error.
    mutating func nextChunk() throws -> Tensor
}

/// A source whose position can be recorded and restored, so that a resumed run reads the same rows
/// an uninterrupted one would have.
public protocol ResumableActivationSource: ActivationSource {
    /// Rows delivered by ``ActivationSource/nextChunk()`` so far (including skipped ones).
    var rowsDelivered: Int { get }
    /// Continues as if `rows` more rows had been delivered, without computing them. A resumed run
    /// skips to a position the source itself reported, so `rows` lands on a chunk boundary.
    mutating func skip(rows: Int) throws
}

/// The paper's shuffling buffer (Docs/Method.md §1.3), in half precision.
///
/// The first refresh fills all `size` rows; every later refresh refills the first half — exactly the
/// rows served since the previous refresh — and then the whole buffer is shuffled with a fresh
/// permutation. A refresh happens when a batch is asked for and fewer than one batch remains in the
/// first half (so `size/2 / batchSize` batches are served between refreshes), never before it is
/// needed: a run reads no rows it will not train on beyond the last refresh. Batches are copies: the
/// reference code's aliasing of the served batch with the refill (Docs/Deviations.md #1) does not happen
/// here. Source rows that do not fit a refresh wait for the next one; none are dropped.
///
/// Its whole state — rows, read pointer, refresh count, random stream, the rows waiting for the next
/// refresh — is a ``Snapshot``, from which ``init(source:restoring:batchSize:)`` continues exactly.
public struct ActivationBuffer<Source: ActivationSource> {
    public private(set) var source: Source
    public let size: Int
    public let batchSize: Int
    public private(set) var storage: HalfTensor
    public private(set) var readPointer = 0
    /// Refreshes done (the first one fills the whole buffer).
    public private(set) var refreshes = 0
    public private(set) var rng: RandomStream
    private var pending: Tensor? = nil
    /// Told `(rows filled, rows to fill)` after each chunk a refresh takes from the source.
    public var onFill: ((Int, Int) -> Void)?

    /// - Parameters:
    ///   - size: rows held (the paper: `batch_size · buffer_mult` = 4096 · 384); must be at least four batches.
    ///   - precision: storage format (the paper: bfloat16).
    ///   - onFill: progress of the first fill (it can take minutes on a large model).
    public init(source: Source, size: Int, batchSize: Int, precision: HalfPrecision = .bfloat16, seed: UInt64 = 0,
                onFill: ((Int, Int) -> Void)? = nil) throws {
        precondition(batchSize >= 1 && size >= 4 * batchSize, "a buffer of \(size) rows cannot serve batches of \(batchSize)")
        self.source = source
        self.size = size
        self.batchSize = batchSize
        self.storage = HalfTensor(zeros: [size, source.dIn], precision: precision)
        self.rng = RandomStream(seed: seed)
        self.onFill = onFill
        try refresh()
    }

    /// The next `[batchSize, d_in]` batch (Float32).
    public mutating func next() throws -> Tensor {
        if readPointer > size / 2 - batchSize { try refresh() }
        let batch = storage.rows(Array(readPointer..<(readPointer + batchSize)))
        readPointer += batchSize
        return batch
    }

    /// Refills (all rows the first time, the first half afterwards), then shuffles everything.
    mutating func refresh() throws {
        let rows = refreshes == 0 ? size : size / 2
        var filled = 0
        while filled < rows {
            var chunk: Tensor
            if let p = pending { chunk = p; pending = nil } else { chunk = try source.nextChunk() }
            precondition(chunk.rank == 2 && chunk.shape[1] == source.dIn && chunk.shape[0] >= 1,
                         "an activation source returned \(chunk.shape), expected [rows ≥ 1, \(source.dIn)]")
            let take = Swift.min(chunk.shape[0], rows - filled)
            storage.setRows(filled, chunk.sliced(axis: 0, 0..<take).contiguous())
            if take < chunk.shape[0] { pending = chunk.sliced(axis: 0, take..<chunk.shape[0]).contiguous() }
            filled += take
            onFill?(filled, rows)
        }
        storage.permuteRows(rng.permutation(size))
        readPointer = 0
        refreshes += 1
    }

    // MARK: Exact state

    /// Everything the buffer holds besides its source.
    public struct Snapshot: Sendable, Equatable {
        public var storage: HalfTensor
        public var readPointer: Int
        public var refreshes: Int
        public var rng: RandomStream
        /// Rows taken from the source that wait for the next refresh, `[rows, d_in]`.
        public var pending: Tensor?
        public init(storage: HalfTensor, readPointer: Int, refreshes: Int, rng: RandomStream, pending: Tensor?) {
            self.storage = storage; self.readPointer = readPointer; self.refreshes = refreshes; self.rng = rng; self.pending = pending
        }
    }

    public var snapshot: Snapshot {
        Snapshot(storage: storage, readPointer: readPointer, refreshes: refreshes, rng: rng, pending: pending)
    }

    /// A buffer that continues exactly where `snapshot` was taken; `source` must be positioned where the
    /// snapshot's source was (its rows after the pending ones).
    public init(source: Source, restoring snapshot: Snapshot, batchSize: Int) {
        let n = snapshot.storage.shape.first ?? 0
        precondition(snapshot.storage.shape == [n, source.dIn] && batchSize >= 1 && n >= 4 * batchSize && snapshot.refreshes >= 1
                     && snapshot.readPointer >= 0 && snapshot.readPointer <= n / 2 && snapshot.readPointer % batchSize == 0,
                     "a buffer snapshot of \(snapshot.storage.shape) (read pointer \(snapshot.readPointer)) does not fit batches of \(batchSize) from a source of width \(source.dIn)")
        self.source = source
        self.size = n
        self.batchSize = batchSize
        self.storage = snapshot.storage
        self.readPointer = snapshot.readPointer
        self.refreshes = snapshot.refreshes
        self.rng = snapshot.rng
        self.pending = snapshot.pending
    }
}

extension HalfTensor {
    /// Reorders rows in place so that new row `i` is old row `permutation[i]` (cycle by cycle, one
    /// spare row of memory).
    public mutating func permuteRows(_ permutation: [Int]) {
        let n = shape.first ?? 0, d = rowSize
        precondition(permutation.count == n, "a permutation of \(permutation.count) rows for \(n)")
        var done = [Bool](repeating: false, count: n)
        var spare = [UInt16](repeating: 0, count: d)
        withUnsafeMutableBits { bits in
            for start in 0..<n where !done[start] {
                // new[i] = old[perm[i]]: walk i → perm[i] → perm[perm[i]] … saving new[start]'s old row.
                for k in 0..<d { spare[k] = bits[start * d + k] }
                var i = start
                while true {
                    done[i] = true
                    let src = permutation[i]
                    if src == start {
                        for k in 0..<d { bits[i * d + k] = spare[k] }
                        break
                    }
                    for k in 0..<d { bits[i * d + k] = bits[src * d + k] }
                    i = src
                }
            }
        }
    }
}
