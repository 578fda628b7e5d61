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

    /// Allocates `count` uninitialised elements, 64-byte aligned.
    @usableFromInline
    init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative element count \(count)")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
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
        if keepAlive == nil { UnsafeMutableRawPointer(base).deallocate() }
    }

    /// Allocates and zero-fills.
    @usableFromInline
    static func zeros(_ count: Int) -> TensorStorage {
        let s = TensorStorage(uninitializedCount: count)
        memset(s.base, 0, count * MemoryLayout<Float>.stride)
        return s
    }
}
