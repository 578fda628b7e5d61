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
