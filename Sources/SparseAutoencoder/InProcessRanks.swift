// InProcessRanks: N ranks of a data-parallel run as threads of one process — the same arithmetic as an
// MPI launch, without MPI. For tests, and for trying data parallelism on one machine.

import Foundation
import Tensor

/// A group of `size` ranks living in one process (one thread each). ``rank(_:)`` gives each thread its
/// ``Collective``; a sum waits for every rank, then adds the ranks' values in rank order
/// (`((v₀ + v₁) + v₂) …`), so with two ranks it is bit for bit what `MPI_Allreduce` gives.
public final class InProcessRanks: @unchecked Sendable {
    public let size: Int
    private let condition = NSCondition()
    private var arrived = 0, generation = 0
    private var floats: [UnsafeMutableBufferPointer<Float>?]
    private var doubles: [UnsafeMutableBufferPointer<Double>?]

    public init(size: Int) {
        precondition(size >= 1)
        self.size = size
        floats = Array(repeating: nil, count: size)
        doubles = Array(repeating: nil, count: size)
    }

    /// The collective of rank `r` (use it from one thread).
    public func rank(_ r: Int) -> any Collective {
        precondition(r >= 0 && r < size)
        return Member(group: self, rank: r)
    }

    /// Runs `body(rank)` on `size` threads and returns their results in rank order; the first error
    /// thrown (in rank order) is rethrown after all threads finished.
    public func run<T>(_ body: @escaping @Sendable (any Collective) throws -> T) throws -> [T] {
        let box = ResultsBox<T>(size), done = DispatchGroup()
        for r in 0..<size {
            done.enter()
            let t = Thread { [self] in
                box.results[r] = Result { try body(self.rank(r)) }
                done.leave()
            }
            t.stackSize = 8 << 20
            t.start()
        }
        done.wait()
        return try box.results.map { try $0!.get() }
    }

    final class ResultsBox<T>: @unchecked Sendable {
        var results: [Result<T, Error>?]
        init(_ n: Int) { results = Array(repeating: nil, count: n) }
    }

    /// Blocks until every rank has called it (a reusable barrier).
    func barrier() {
        condition.lock()
        let g = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while g == generation { condition.wait() }
        }
        condition.unlock()
    }

    func sum<T: FloatingPoint>(_ values: UnsafeMutableBufferPointer<T>, rank: Int, slots: ReferenceWritableKeyPath<InProcessRanks, [UnsafeMutableBufferPointer<T>?]>) {
        guard size > 1 else { return }
        condition.lock(); self[keyPath: slots][rank] = values; condition.unlock()
        barrier()
        let all = self[keyPath: slots].map { $0! }
        precondition(all.allSatisfy { $0.count == values.count }, "ranks summed buffers of different lengths")
        var total = [T](repeating: 0, count: values.count)
        for i in 0..<values.count {
            var s = all[0][i]
            for k in 1..<size { s += all[k][i] }
            total[i] = s
        }
        barrier()                                       // every rank has read every buffer
        for i in 0..<values.count { values[i] = total[i] }
        barrier()
    }

    struct Member: Collective {
        let group: InProcessRanks
        let rank: Int
        var size: Int { group.size }
        func sum(_ values: UnsafeMutableBufferPointer<Float>) throws { group.sum(values, rank: rank, slots: \.floats) }
        func sum(_ values: UnsafeMutableBufferPointer<Double>) throws { group.sum(values, rank: rank, slots: \.doubles) }
    }
}
