// ActivationBufferTests: the shuffling buffer's refill cadence, coverage and determinism.

import Testing
import TensorTestSupport
@testable import SparseAutoencoder
import Tensor

/// Rows numbered 0, 1, 2, … in column 0 (exact in bfloat16 up to 256; we use float16 up to 2048),
/// delivered in chunks of varying size.
struct CountingSource: ActivationSource {
    let dIn = 3
    var next = 0
    var chunkSizes = [5, 17, 1, 40]
    var calls = 0
    mutating func nextChunk() throws -> Tensor {
        let n = chunkSizes[calls % chunkSizes.count]
        calls += 1
        defer { next += n }
        return Tensor(shape: [n, dIn], scalars: (next..<(next + n)).flatMap { [Float($0), 1, -1] })
    }
}

@Suite struct ActivationBufferTests {
    @Test func servesEveryRowOnceWithTheRefillCadenceOfThePaper() throws {
        var buffer = try ActivationBuffer(source: CountingSource(), size: 64, batchSize: 8, precision: .float16, seed: 1)
        #expect(buffer.refreshes == 1)
        var seen: [Int] = []
        for _ in 0..<12 {
            let b = try buffer.next()
            #expect(b.shape == [8, 3] && b.selecting(axis: 1, 1).scalars.allSatisfy { $0 == 1 })
            seen += b.selecting(axis: 1, 0).scalars.map { Int($0) }
        }
        // size/2 = 32 rows → 4 batches between refreshes; a refresh waits until a batch is asked for.
        #expect(buffer.refreshes == 3)
        seen += try buffer.next().selecting(axis: 1, 0).scalars.map { Int($0) }
        #expect(buffer.refreshes == 4)
        #expect(Set(seen).count == seen.count)           // no row served twice
        // Rows come from the first 64 + 3·32 = 160 source rows; none dropped: the source is ahead only by a pending chunk.
        #expect(seen.allSatisfy { $0 < 160 })
        #expect(buffer.source.next >= 160 && buffer.source.next < 160 + 40)
    }

    @Test func sameSeedSameBatches() throws {
        var a = try ActivationBuffer(source: CountingSource(), size: 32, batchSize: 4, precision: .bfloat16, seed: 7)
        var b = try ActivationBuffer(source: CountingSource(), size: 32, batchSize: 4, precision: .bfloat16, seed: 7)
        for _ in 0..<10 { #expect(try a.next() == b.next()) }
    }

    @Test func aRestoredSnapshotContinuesExactly() throws {
        var a = try ActivationBuffer(source: CountingSource(), size: 32, batchSize: 4, precision: .bfloat16, seed: 3)
        for _ in 0..<6 { _ = try a.next() }
        // The source at the same position: a CountingSource that has delivered what a's has.
        var source = CountingSource()
        while source.next < a.source.next { _ = try source.nextChunk() }
        var b = ActivationBuffer(source: source, restoring: a.snapshot, batchSize: 4)
        for _ in 0..<20 { #expect(try a.next() == b.next()) }
        #expect(a.snapshot == b.snapshot && a.refreshes > 2)
    }

    @Test func inPlaceRowPermutation() {
        var h = HalfTensor(Tensor(shape: [5, 2], scalars: [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]), precision: .float16)
        h.permuteRows([3, 0, 4, 1, 2])
        #expect(h.toTensor().selecting(axis: 1, 0).scalars == [3, 0, 4, 1, 2])
    }
}
