// SmallFile: whole small files (configs, vocabularies) read with a size limit.

import Foundation

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
