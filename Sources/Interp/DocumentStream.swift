// DocumentStream: documents streamed from a corpus's files, one file open at a time, each read
// sequentially with bounded memory, split into training and held-out streams by document index.

import Foundation
import Tensor
import Transformer

/// Streams documents from a ``CorpusSpec``. With `split`, every `split.every`-th document (by index
/// across the whole corpus) belongs to the held-out stream and the others to the training stream, so
/// evaluation never sees training documents (Docs/Method.md, "Held-out documents"). Null values of a
/// text column or field are not documents: they are counted in ``nullDocuments`` and passed over.
public struct DocumentStream {
    public struct Split: Sendable, Equatable {
        public var every: Int
        public var heldOut: Bool
        public init(every: Int, heldOut: Bool) { self.every = every; self.heldOut = heldOut }
    }

    public let spec: CorpusSpec
    public let split: Split?
    /// A document is cut at this many bytes (the model keeps at most n_ctx tokens of a document
    /// anyway; the cut is counted in ``truncatedDocuments``).
    public static let maxDocumentBytes = 1 << 20
    /// A JSON line may hold at most this many bytes (a line without an end would otherwise be read
    /// whole into memory).
    public static let maxLineBytes = 1 << 26
    /// A JSON array file is parsed whole: at most this many bytes (after decompression).
    public static let maxJSONArrayBytes = 1 << 28
    /// A token file's document is cut into pieces of at most this many tokens (a file without
    /// `<|endoftext|>` would otherwise be one document in memory); each piece is a document.
    public static let maxDocumentTokens = 1 << 20
    /// Documents cut at `maxDocumentBytes` so far.
    public private(set) var truncatedDocuments = 0
    /// Documents yielded so far.
    public private(set) var documentsRead = 0
    /// Null values passed over so far.
    public private(set) var nullDocuments = 0
    /// The files read, in order (folders of the spec expanded).
    public let files: [CorpusFile]

    private enum Reader {
        /// A text file, not yet read.
        case text
        /// A file with nothing more to give.
        case done
        case lines(LineReader)
        case array([String?], Int)
        case tokens(TokenFileReader)
        /// A Parquet or Arrow text column, and the row it is at.
        case column(any TextColumnReader, Int)
    }

    private var fileIndex = 0
    private var reader: Reader? = nil
    private var globalIndex = 0

    public init(_ spec: CorpusSpec, split: Split? = nil) throws {
        self.spec = spec
        self.split = split
        var files: [CorpusFile] = []
        for f in spec.files {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: f.path, isDirectory: &isDir) else {
                throw CorpusError(path: f.path, position: 0, detail: "no such file or folder")
            }
            if isDir.boolValue {
                files += try CorpusSpec.expand(f.path).0.map { CorpusFile(path: $0, format: f.format, compression: f.compression) }
            } else {
                files.append(f)
            }
        }
        guard !files.isEmpty else { throw CorpusError(path: spec.files.map(\.path).joined(separator: ", "), position: 0, detail: "the corpus has no files") }
        self.files = files
    }

    /// The next document of this stream (training or held-out), or nil at the end of the corpus.
    public mutating func next() throws -> Document? {
        while let doc = try nextRaw() {
            defer { globalIndex += 1 }
            if let s = split {
                let isHeldOut = globalIndex % s.every == 0
                if isHeldOut != s.heldOut { continue }
            }
            documentsRead += 1
            return doc
        }
        return nil
    }

    /// The text of JSON `line`'s `field`: a string, or nil for null; anything else is an error.
    static func jsonText(_ line: [UInt8], field: String, path: String, line number: Int) throws -> String? {
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
            throw CorpusError(path: path, position: number, detail: "not a JSON object")
        }
        return try fieldText(obj, field: field, path: path, position: number)
    }

    static func fieldText(_ obj: [String: Any], field: String, path: String, position: Int) throws -> String? {
        guard let value = obj[field] else {
            throw CorpusError(path: path, position: position, detail: "no field '\(field)' (fields: \(obj.keys.sorted().joined(separator: ", "))); name the text field with --text-field")
        }
        if value is NSNull { return nil }
        guard let text = value as? String else { throw CorpusError(path: path, position: position, detail: "field '\(field)' is not a string") }
        return text
    }

    private mutating func text(_ bytes: ArraySlice<UInt8>, fullLength: Int) -> Document {
        if fullLength > bytes.count { truncatedDocuments += 1 }
        return .text(String(decoding: bytes, as: UTF8.self))
    }

    private mutating func nextRaw() throws -> Document? {
        while fileIndex < files.count {
            let file = files[fileIndex]
            if reader == nil { reader = try open(file) }
            if let doc = try nextInFile(file) { return doc }
            reader = nil
            fileIndex += 1
        }
        return nil
    }

    private func open(_ file: CorpusFile) throws -> Reader {
        do {
            switch file.format {
            case .text: return .text
            case .jsonLines: return .lines(try LineReader(FileByteStream(path: file.path, codec: file.compression)))
            case .jsonArray: return .array(try Self.readArray(file, field: spec.textField), 0)
            case .nanoGPTBin, .llmcBin: return .tokens(try TokenFileReader(path: file.path, llmcHeader: file.format == .llmcBin))
            case .parquet: return .column(try ParquetFile(path: file.path).strings(column: spec.textField), 0)
            case .arrow: return .column(try ArrowIPCFile(path: file.path).strings(column: spec.textField), 0)
            }
        } catch let e as FileFormatError {
            throw CorpusError(path: file.path, position: 0, detail: "\(e.format): \(e.detail)")
        }
    }

    private mutating func nextInFile(_ file: CorpusFile) throws -> Document? {
        do {
            switch reader! {
            case .done:
                return nil
            case .text:
                reader = .done
                let s = try FileByteStream(path: file.path, codec: file.compression)
                var bytes: [UInt8] = []
                while bytes.count <= Self.maxDocumentBytes {
                    let chunk = try s.read(upTo: Self.maxDocumentBytes + 1 - bytes.count)
                    if chunk.isEmpty { break }
                    bytes += chunk
                }
                let kept = bytes.prefix(Self.maxDocumentBytes)
                return text(kept, fullLength: bytes.count)
            case .lines(var lines):
                defer { reader = .lines(lines) }
                while let (line, number) = try lines.nextLine() {
                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                    guard let t = try Self.jsonText(line, field: spec.textField, path: file.path, line: number) else { nullDocuments += 1; continue }
                    let cut = t.utf8.count > Self.maxDocumentBytes
                    if cut { truncatedDocuments += 1 }
                    return .text(cut ? String(decoding: t.utf8.prefix(Self.maxDocumentBytes), as: UTF8.self) : t)
                }
                return nil
            case .array(let values, let i):
                var k = i
                while k < values.count {
                    k += 1
                    if let t = values[k - 1] { reader = .array(values, k); return .text(t) }
                    nullDocuments += 1
                }
                reader = .array(values, k)
                return nil
            case .tokens(var r):
                defer { reader = .tokens(r) }
                return try r.nextDocument().map { .tokens($0) }
            case .column(var r, var row):
                defer { reader = .column(r, row) }
                do {
                    while let cell = try r.nextCell(limit: Self.maxDocumentBytes) {
                        row += 1
                        guard case .bytes(let b) = cell else { nullDocuments += 1; continue }
                        return text(b, fullLength: r.lastValueLength)
                    }
                } catch let e as FileFormatError {
                    throw CorpusError(path: file.path, position: row + 1, detail: "\(e.format): \(e.detail)")
                }
                return nil
            }
        } catch let e as FileFormatError {
            throw CorpusError(path: file.path, position: 0, detail: "\(e.format): \(e.detail)")
        }
    }

    /// A JSON array file's text fields (nil for nulls).
    static func readArray(_ file: CorpusFile, field: String) throws -> [String?] {
        let s = try FileByteStream(path: file.path, codec: file.compression)
        var bytes: [UInt8] = []
        while true {
            let chunk = try s.read(upTo: 1 << 20)
            if chunk.isEmpty { break }
            bytes += chunk
            guard bytes.count <= maxJSONArrayBytes else {
                throw CorpusError(path: file.path, position: 0, detail: "a JSON array file is read whole: at most \(maxJSONArrayBytes >> 20) MiB; write JSON lines instead (one object per line)")
            }
        }
        guard let array = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [Any] else {
            throw CorpusError(path: file.path, position: 0, detail: "not a JSON array")
        }
        return try array.enumerated().map { i, element in
            guard let obj = element as? [String: Any] else { throw CorpusError(path: file.path, position: i, detail: "element \(i) is not an object") }
            return try fieldText(obj, field: field, path: file.path, position: i)
        }
    }
}

/// Reads a byte stream line by line: each byte is scanned once (the consumed prefix is dropped only
/// when it is most of the buffer), and a line longer than ``DocumentStream/maxLineBytes`` is an error
/// instead of a whole file in memory.
struct LineReader {
    let source: FileByteStream
    var path: String { source.path }
    var buffer = [UInt8]()
    /// Start of the unread part of `buffer`; bytes before it were returned already.
    var start = 0
    /// Where to resume the newline search (bytes from `start` up to here hold none).
    var scanned = 0
    var atEnd = false
    var lineNumber = 0
    var maxLine = DocumentStream.maxLineBytes

    init(_ source: FileByteStream) { self.source = source }

    init(path: String) throws {
        do { source = try FileByteStream(path: path, codec: nil) } catch { throw CorpusError(path: path, position: 0, detail: "cannot open") }
    }

    /// The next line's bytes (without its newline) and its 1-based number, or nil at the end.
    mutating func nextLine() throws -> ([UInt8], Int)? {
        while true {
            if let nl = buffer[scanned...].firstIndex(of: 0x0A) {
                let line = Array(buffer[start..<nl])
                start = nl + 1
                scanned = start
                lineNumber += 1
                return (line, lineNumber)
            }
            scanned = buffer.count
            guard buffer.count - start <= maxLine else {
                throw CorpusError(path: path, position: lineNumber + 1, detail: "line longer than \(maxLine) bytes")
            }
            if atEnd {
                if start == buffer.count { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                scanned = start
                lineNumber += 1
                return (line, lineNumber)
            }
            let chunk = try source.read(upTo: 1 << 20)
            if chunk.isEmpty { atEnd = true; continue }
            if start > buffer.count / 2 {
                buffer.removeSubrange(0..<start)
                scanned -= start
                start = 0
            }
            buffer.append(contentsOf: chunk)
        }
    }
}

/// Reads uint16 token files (nanoGPT, llm.c) in chunks and splits them into documents at `<|endoftext|>`.
struct TokenFileReader {
    let path: String
    let handle: FileHandle
    var remaining: Int
    var pending: [Int] = []
    var position: Int
    var atEnd = false
    var maxTokens = DocumentStream.maxDocumentTokens

    init(path: String, llmcHeader: Bool) throws {
        guard let h = FileHandle(forReadingAtPath: path) else { throw CorpusError(path: path, position: 0, detail: "cannot open") }
        self.path = path
        handle = h
        let size = Int((try? h.seekToEnd()) ?? 0)
        try? h.seek(toOffset: 0)
        if llmcHeader {
            guard let header = try? h.read(upToCount: 1024), header.count == 1024 else {
                throw CorpusError(path: path, position: 0, detail: "llm.c header (1024 bytes) missing")
            }
            let ints = header.withUnsafeBytes { raw in (0..<3).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) } }
            guard ints[0] == 20240520 else { throw CorpusError(path: path, position: 0, detail: "bad llm.c magic \(ints[0]) (expected 20240520)") }
            guard ints[1] == 1 else { throw CorpusError(path: path, position: 4, detail: "llm.c version \(ints[1]) is not 1 (uint16 tokens)") }
            guard ints[2] >= 0, 1024 + 2 * ints[2] == size else {
                throw CorpusError(path: path, position: 8, detail: "header says \(ints[2]) tokens but the file holds \((size - 1024) / 2)")
            }
            remaining = ints[2]
            position = 1024
        } else {
            guard size % 2 == 0 else { throw CorpusError(path: path, position: size - 1, detail: "odd file size: not a uint16 token file") }
            remaining = size / 2
            position = 0
        }
    }

    /// The next document: from one `<|endoftext|>` up to (not including) the next.
    mutating func nextDocument() throws -> [Int]? {
        var doc: [Int] = []
        while true {
            if pending.isEmpty {
                guard remaining > 0 else {
                    try? handle.close()
                    return doc.isEmpty ? nil : doc
                }
                let n = min(remaining, 1 << 18)
                guard let data = try? handle.read(upToCount: 2 * n), data.count == 2 * n else {
                    throw CorpusError(path: path, position: position, detail: "file ends before its tokens")
                }
                pending = data.withUnsafeBytes { raw in (0..<n).map { Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) } }
                pending.reverse()
                remaining -= n
                position += 2 * n
            }
            let t = pending.last!
            if t == GPT2Config.endOfText && !doc.isEmpty { return doc }
            if doc.count == maxTokens { return doc }   // the rest continues as the next document
            pending.removeLast()
            doc.append(t)
        }
    }
}
