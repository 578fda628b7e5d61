// MappedFile: a read-only memory mapping of a whole file that tensors can view without copying.

import Foundation

/// A read-only memory mapping of a whole file, unmapped when released. Tensors read from it without
/// copying keep it alive.
package final class MappedFile: @unchecked Sendable {
    /// The mapped path.
    package let path: String
    /// The file's size in bytes.
    package let size: Int
    /// Start of the mapping (nil for an empty file).
    package let base: UnsafeRawPointer?

    /// Maps `path` read-only; `format` names the caller's format in errors.
    package init(path: String, format: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw FileFormatError(path: path, format: format, reason: .cannotOpen, detail: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FileFormatError(path: path, format: format, reason: .cannotOpen, detail: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FileFormatError(path: path, format: format, reason: .cannotOpen, detail: "not a regular file")
        }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw FileFormatError(path: path, format: format, reason: .cannotOpen,
                                  detail: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// The bytes `range` (which the caller has checked lie within the file).
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= size)
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }
}
