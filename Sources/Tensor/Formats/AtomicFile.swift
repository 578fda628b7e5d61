// AtomicFile: writes through a temporary sibling renamed into place, and removal of sibling files.

import Foundation

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
