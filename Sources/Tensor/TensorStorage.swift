// TensorStorage: the reference-counted buffer behind every Tensor (heap or memory-mapped).

import Foundation

/// The buffer a ``Tensor`` views: `count` Float32 values, either allocated (64-byte aligned) or
/// borrowed from a read-only memory mapping that this object keeps alive.
///
/// Storage is shared between tensors until one of them writes; ``Tensor`` copies it first when it
/// is not uniquely referenced (copy-on-write), so no two tensor *values* ever observe each other's
/// writes. That discipline is why the class may be `@unchecked Sendable`: a buffer that is reachable
/// from more than one place is never written.
public final class TensorStorage: @unchecked Sendable {
    /// Number of Float32 elements in the buffer.
    public let count: Int
    @usableFromInline let base: UnsafeMutablePointer<Float>
    /// False for memory-mapped buffers: any write copies them first.
    @usableFromInline let isWritable: Bool
    private let keepAlive: AnyObject?

    /// Allocates `count` uninitialised elements, 64-byte aligned (large buffers come from the
    /// ``StoragePool`` when one of the same size was freed recently).
    @usableFromInline
    init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative element count \(count)")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = StoragePool.shared.take(bytes) ?? UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        self.base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.isWritable = true
        self.keepAlive = nil
    }

    /// Wraps memory owned by `owner` (e.g. a file mapping); the buffer is treated as read-only.
    init(borrowing base: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        self.count = count
        self.base = UnsafeMutablePointer(mutating: base)
        self.isWritable = false
        self.keepAlive = owner
    }

    deinit {
        if keepAlive == nil { StoragePool.shared.give(UnsafeMutableRawPointer(base), bytes: max(count, 1) * MemoryLayout<Float>.stride) }
    }

    /// Allocates and zero-fills.
    @usableFromInline
    static func zeros(_ count: Int) -> TensorStorage {
        let s = TensorStorage(uninitializedCount: count)
        memset(s.base, 0, count * MemoryLayout<Float>.stride)
        return s
    }
}

/// A bounded cache of freed large buffers, reused for allocations of exactly the same size.
///
/// Repeated work allocates the same shapes again and again (every forward pass, every training
/// step). Fresh large allocations come from the kernel as untouched pages, and faulting them in
/// costs about as much as the arithmetic of an elementwise op (measured: zero-filling a fresh 25 MB
/// buffer took 12.7 ms, against 1.7 ms for writing a reused one). Buffers of at least 256 KB are kept
/// here after release, up to `ATTN_SAE_POOL_MB` megabytes in all (default 1024; 0 disables the pool)
/// and 8 buffers per size; anything beyond that is freed at once.
package final class StoragePool: @unchecked Sendable {
    /// The process-wide pool.
    package static let shared = StoragePool()

    private let lock = NSLock()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var heldBytes = 0
    private let minBytes = 1 << 18
    private let maxPerSize = 8
    /// Upper bound on the bytes kept.
    package let capacity: Int

    init() {
        let mb = ProcessInfo.processInfo.environment["ATTN_SAE_POOL_MB"].flatMap { Int($0) } ?? 1024
        capacity = max(0, mb) << 20
    }

    /// Bytes currently kept for reuse.
    package var bytesHeld: Int { lock.lock(); defer { lock.unlock() }; return heldBytes }

    /// Frees every kept buffer.
    package func drain() {
        lock.lock()
        let all = free.values.flatMap { $0 }
        free = [:]
        heldBytes = 0
        lock.unlock()
        for p in all { p.deallocate() }
    }

    func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard bytes >= minBytes else { return nil }
        lock.lock()
        defer { lock.unlock() }
        guard let p = free[bytes]?.popLast() else { return nil }
        heldBytes -= bytes
        return p
    }

    func give(_ p: UnsafeMutableRawPointer, bytes: Int) {
        if bytes >= minBytes {
            lock.lock()
            if heldBytes + bytes <= capacity && free[bytes, default: []].count < maxPerSize {
                free[bytes, default: []].append(p)
                heldBytes += bytes
                lock.unlock()
                return
            }
            lock.unlock()
        }
        p.deallocate()
    }
}
