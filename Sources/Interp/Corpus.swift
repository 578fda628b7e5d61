// Corpus: streamed document sources — plain-text files and folders, JSONL, nanoGPT and llm.c token files.

import Foundation
import Tensor
import Transformer
import SparseAutoencoder

/// A document: text to tokenize, or tokens already (from token files).
public enum Document: Sendable, Equatable {
    case text(String)
    case tokens([Int])
}

/// A problem in a corpus, naming the file and the position.
public struct CorpusError: Error, CustomStringConvertible, Sendable, Equatable {
    public let path: String
    /// Line number (JSONL, 1-based) or byte offset (token files).
    public let position: Int
    public let detail: String
    public var description: String { "\(path):\(position): \(detail)" }
}

/// Where documents come from. Corpora are streamed: files are opened one at a time and read
/// sequentially; nothing is loaded whole.
public enum CorpusSpec: Sendable, Equatable {
    /// Every regular file under the given files/folders (recursively, sorted by path) is one document.
    /// A file is read up to `maxDocumentBytes` (the model keeps at most n_ctx tokens of a document
    /// anyway; the cut is reported in the stream's statistics).
    case textFiles([String])
    /// One JSON object per line with a string field (`text` by default) per document.
    case jsonl([String], field: String)
    /// nanoGPT `.bin` files: a flat stream of little-endian uint16 tokens; documents begin at each
    /// `<|endoftext|>` (50256).
    case nanoGPTBin([String])
    /// llm.c `.bin` files: a 256×int32 header (magic 20240520, version 1, token count) then uint16
    /// tokens; documents begin at each `<|endoftext|>`.
    case llmcBin([String])

    /// The spec of `paths` by their names and content: all `.jsonl` → JSON lines (field `text`); all
    /// `.bin` → llm.c when every file starts with its magic number 20240520, else nanoGPT; anything
    /// else → text files.
    public static func detect(_ paths: [String]) -> CorpusSpec {
        if paths.allSatisfy({ $0.hasSuffix(".jsonl") }) { return .jsonl(paths, field: "text") }
        guard paths.allSatisfy({ $0.hasSuffix(".bin") }) else { return .textFiles(paths) }
        let isLLMC = paths.allSatisfy { p in
            guard let h = FileHandle(forReadingAtPath: p), let d = try? h.read(upToCount: 4), d.count == 4 else { return false }
            return d.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) } == 20240520
        }
        return isLLMC ? .llmcBin(paths) : .nanoGPTBin(paths)
    }
}

/// Streams documents from a ``CorpusSpec``. With `split`, every `split.every`-th document (by index
/// across the whole corpus) belongs to the held-out stream and the others to the training stream, so
/// evaluation never sees training documents (SPEC decision 5).
public struct DocumentStream {
    public struct Split: Sendable, Equatable {
        public var every: Int
        public var heldOut: Bool
        public init(every: Int, heldOut: Bool) { self.every = every; self.heldOut = heldOut }
    }

    public let spec: CorpusSpec
    public let split: Split?
    public static let maxDocumentBytes = 1 << 20
    /// A JSONL line may hold at most this many bytes (a line without an end would otherwise be read
    /// whole into memory).
    public static let maxLineBytes = 1 << 26
    /// A token file's document is cut into pieces of at most this many tokens (a file without
    /// `<|endoftext|>` would otherwise be one document in memory); each piece is a document.
    public static let maxDocumentTokens = 1 << 20
    /// Documents cut at `maxDocumentBytes` so far.
    public private(set) var truncatedDocuments = 0
    /// Documents yielded so far.
    public private(set) var documentsRead = 0

    private var files: [String] = []
    private var fileIndex = 0
    private var reader: LineReader? = nil
    private var tokenReader: TokenFileReader? = nil
    private var globalIndex = 0

    public init(_ spec: CorpusSpec, split: Split? = nil) throws {
        self.spec = spec
        self.split = split
        switch spec {
        case .textFiles(let paths): files = try DocumentStream.expand(paths)
        case .jsonl(let paths, _), .nanoGPTBin(let paths), .llmcBin(let paths):
            for p in paths where !FileManager.default.fileExists(atPath: p) {
                throw CorpusError(path: p, position: 0, detail: "no such file")
            }
            files = paths
        }
        guard !files.isEmpty else { throw CorpusError(path: "\(spec)", position: 0, detail: "the corpus has no files") }
    }

    /// Regular files under `paths` (following symbolic links), sorted.
    static func expand(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        for p in paths {
            let resolved = URL(fileURLWithPath: p).resolvingSymlinksInPath().path
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDir) else {
                throw CorpusError(path: p, position: 0, detail: "no such file or folder")
            }
            if isDir.boolValue {
                guard let e = FileManager.default.enumerator(atPath: resolved) else { continue }
                var found: [String] = []
                while let rel = e.nextObject() as? String {
                    let full = resolved + "/" + rel
                    var d: ObjCBool = false
                    if FileManager.default.fileExists(atPath: full, isDirectory: &d), !d.boolValue { found.append(full) }
                }
                out += found.sorted()
            } else {
                out.append(resolved)
            }
        }
        return out
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

    private mutating func nextRaw() throws -> Document? {
        switch spec {
        case .textFiles:
            guard fileIndex < files.count else { return nil }
            let path = files[fileIndex]
            fileIndex += 1
            guard let h = FileHandle(forReadingAtPath: path) else { throw CorpusError(path: path, position: 0, detail: "cannot open") }
            defer { try? h.close() }
            let data = (try? h.read(upToCount: DocumentStream.maxDocumentBytes + 1)) ?? Data()
            var bytes = data
            if bytes.count > DocumentStream.maxDocumentBytes {
                bytes = bytes.prefix(DocumentStream.maxDocumentBytes)
                truncatedDocuments += 1
            }
            return .text(String(decoding: bytes, as: UTF8.self))
        case .jsonl(_, let field):
            while fileIndex < files.count {
                if reader == nil { reader = try LineReader(path: files[fileIndex]) }
                if let (line, number) = try reader!.nextLine() {
                    if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
                    guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                        throw CorpusError(path: files[fileIndex], position: number, detail: "not a JSON object")
                    }
                    guard let text = obj[field] as? String else {
                        throw CorpusError(path: files[fileIndex], position: number, detail: "no string field '\(field)'")
                    }
                    return .text(text)
                }
                reader = nil
                fileIndex += 1
            }
            return nil
        case .nanoGPTBin, .llmcBin:
            let isLLMC: Bool = { if case .llmcBin = spec { return true } else { return false } }()
            while fileIndex < files.count {
                if tokenReader == nil { tokenReader = try TokenFileReader(path: files[fileIndex], llmcHeader: isLLMC) }
                if let doc = try tokenReader!.nextDocument() { return .tokens(doc) }
                tokenReader = nil
                fileIndex += 1
            }
            return nil
        }
    }
}

/// Reads a file line by line in 1 MB chunks: each byte is scanned once (the consumed prefix is
/// dropped only when it is most of the buffer), and a line longer than ``DocumentStream/maxLineBytes``
/// is an error instead of a whole file in memory.
struct LineReader {
    let path: String
    let handle: FileHandle
    var buffer = [UInt8]()
    /// Start of the unread part of `buffer`; bytes before it were returned already.
    var start = 0
    /// Where to resume the newline search (bytes from `start` up to here hold none).
    var scanned = 0
    var atEnd = false
    var lineNumber = 0
    var maxLine = DocumentStream.maxLineBytes

    init(path: String) throws {
        guard let h = FileHandle(forReadingAtPath: path) else { throw CorpusError(path: path, position: 0, detail: "cannot open") }
        self.path = path
        handle = h
    }

    mutating func nextLine() throws -> (String, Int)? {
        while true {
            if let nl = buffer[scanned...].firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[start..<nl], as: UTF8.self)
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
                if start == buffer.count { try? handle.close(); return nil }
                let line = String(decoding: buffer[start...], as: UTF8.self)
                start = buffer.count
                scanned = start
                lineNumber += 1
                return (line, lineNumber)
            }
            let chunk = (try? handle.read(upToCount: 1 << 20)) ?? Data()
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
