// FileFormatError: the one error type of every reader and writer, naming the file and the problem.

import Foundation

/// A file could not be read or written. The message names the file, the format, what is wrong and,
/// where it helps, what to do about it.
public struct FileFormatError: Error, LocalizedError, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, in a form tests and callers can match on.
    public enum Reason: Sendable, Equatable {
        /// The file does not exist or cannot be opened or mapped.
        case cannotOpen
        /// The file ends before the data it describes.
        case truncated
        /// The file's structure is invalid (bad magic, inconsistent sizes, overlapping ranges...).
        case corrupt
        /// Valid but outside what this reader supports (a dtype, opcode, class or compression).
        case unsupported
        /// A requested tensor, dataset, attribute or key is absent.
        case notFound
        /// Writing failed (disk full, permissions, HDF5 write errors).
        case cannotWrite
    }

    /// The file concerned.
    public let path: String
    /// The format being read or written, e.g. "safetensors", "HDF5", "PyTorch checkpoint".
    public let format: String
    public let reason: Reason
    /// What exactly is wrong, e.g. "tensor 'W_enc': data_offsets [0, 40) hold 40 bytes but F32 [3, 4] needs 48".
    public let detail: String

    public init(path: String, format: String, reason: Reason, detail: String) {
        self.path = path
        self.format = format
        self.reason = reason
        self.detail = detail
    }

    public var description: String {
        let what: String
        switch reason {
        case .cannotOpen: what = "cannot open"
        case .truncated: what = "truncated"
        case .corrupt: what = "corrupt"
        case .unsupported: what = "unsupported"
        case .notFound: what = "not found"
        case .cannotWrite: what = "cannot write"
        }
        return "\(path): \(format) file \(what): \(detail)"
    }

    public var errorDescription: String? { description }
}

/// Writes a file through a temporary sibling that is renamed into place only when the writer
/// succeeds, so an interrupted or failed write never leaves a partial file under the final name.
public enum AtomicFile {
    /// Calls `write` with a temporary path in `path`'s folder; on success renames it to `path`
    /// (replacing any existing file), on error removes it and rethrows. With `durable`, the temporary
    /// file is flushed to disk before the rename and the folder after it.
    public static func write(to path: String, format: String, durable: Bool = false, _ write: (String) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/" + temporaryPrefix(for: path) + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        func failed(_ what: String) -> FileFormatError {
            FileFormatError(path: path, format: format, reason: .cannotWrite, detail: "\(what) failed: \(String(cString: strerror(errno)))")
        }
        do {
            try write(tmp)
            if durable { guard sync(tmp) else { throw failed("fsync of the temporary file") } }
            guard rename(tmp, path) == 0 else { throw failed("rename from temporary file") }
        } catch {
            unlink(tmp)
            throw error
        }
        if durable { guard sync(dir) else { throw failed("fsync of the folder") } }
    }

    /// The name prefix of `path`'s temporary files (`.<name>.tmp-`); a process killed mid-write leaves
    /// one behind, which ``removeStaleTemporaries(of:)`` deletes.
    public static func temporaryPrefix(for path: String) -> String { "." + URL(fileURLWithPath: path).lastPathComponent + ".tmp-" }

    /// Deletes temporary files of `path` left by writers that were killed (any process's).
    public static func removeStaleTemporaries(of path: String) {
        let prefix = temporaryPrefix(for: path)
        removeFiles(inFolderOf: path) { $0.hasPrefix(prefix) }
    }

    /// Deletes the files in `path`'s folder whose names `match` accepts.
    public static func removeFiles(inFolderOf path: String, where match: (String) -> Bool) {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where match(name) {
            unlink(dir + "/" + name)
        }
    }

    /// fsync of a file or folder by path.
    static func sync(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }

    /// Writes `data` to `path` atomically (temporary file, fsync, rename).
    public static func write(_ data: Data, to path: String, format: String) throws {
        try write(to: path, format: format) { tmp in
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else {
                throw FileFormatError(path: path, format: format, reason: .cannotWrite,
                                      detail: "cannot create \(tmp): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            try data.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw FileFormatError(path: path, format: format, reason: .cannotWrite,
                                              detail: "write failed: \(String(cString: strerror(errno)))")
                    }
                    done += n
                }
            }
            guard fsync(fd) == 0 else {
                throw FileFormatError(path: path, format: format, reason: .cannotWrite,
                                      detail: "fsync failed: \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// A read-only memory mapping of a whole file, unmapped when released. Tensors read from it without
/// copying keep it alive.
public final class MappedFile: @unchecked Sendable {
    /// The mapped path.
    public let path: String
    /// The file's size in bytes.
    public let size: Int
    /// Start of the mapping (nil for an empty file).
    public let base: UnsafeRawPointer?

    /// Maps `path` read-only; `format` names the caller's format in errors.
    public init(path: String, format: String) throws {
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

/// Whole small files (configs, vocabularies) read with a size limit, so a huge or endless file named
/// `cfg.json` fails with a typed error instead of filling memory. Reads with `read(2)` (Foundation's
/// `FileManager.contents(atPath:)` leaks its buffer on empty files, as the fuzzers found).
public enum SmallFile {
    /// The bytes of `path`, at most `maxBytes` of them.
    /// - Throws: ``FileFormatError`` (`.cannotOpen`, or `.unsupported` when the file is larger).
    public static func read(_ path: String, format: String, maxBytes: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileFormatError(path: path, format: format, reason: .cannotOpen, detail: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw FileFormatError(path: path, format: format, reason: .cannotOpen, detail: "not a regular file")
        }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileFormatError(path: path, format: format, reason: .cannotOpen, detail: "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return out }
            guard out.count + n <= maxBytes else {
                throw FileFormatError(path: path, format: format, reason: .unsupported, detail: "larger than the \(maxBytes) bytes allowed for this kind of file")
            }
            out.append(contentsOf: chunk[0..<n])
        }
    }
}
