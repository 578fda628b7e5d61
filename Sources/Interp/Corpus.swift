// Corpus: what a corpus path holds — each file's format decided by its name and its content, checked
// before any model work; the refusals name the file.

import Foundation
import Tensor
import Transformer

/// A document: text to tokenize, or tokens already (from token files).
public enum Document: Sendable, Equatable {
    case text(String)
    case tokens([Int])
}

/// A problem in a corpus, naming the file and the position.
public struct CorpusError: Error, CustomStringConvertible, Sendable, Equatable {
    public let path: String
    /// Line number (JSON lines, 1-based), byte offset (token files) or row (Parquet, Arrow); 0 for the
    /// file as a whole.
    public let position: Int
    public let detail: String
    public init(path: String, position: Int, detail: String) {
        self.path = path
        self.position = position
        self.detail = detail
    }
    public var description: String { "\(path):\(position): \(detail)" }
}

/// How one corpus file holds its documents.
public enum CorpusFormat: String, Sendable, Equatable, Codable, CaseIterable {
    /// The whole file is one document (`.txt`, `.md`, `.rst`, … or any UTF-8 text).
    case text
    /// One JSON object per line; the document is its text field (`.jsonl`, `.ndjson`, a `.json` file
    /// that starts with `{` — `datasets`' `to_json` writes these).
    case jsonLines = "json-lines"
    /// One JSON array of objects (`.json` starting with `[`); read whole, so at most
    /// ``DocumentStream/maxJSONArrayBytes``.
    case jsonArray = "json-array"
    /// nanoGPT `.bin`: little-endian uint16 tokens; documents begin at each `<|endoftext|>`.
    case nanoGPTBin = "nanogpt-bin"
    /// llm.c `.bin`: a 256 × int32 header (magic 20240520, version 1, token count), then uint16 tokens.
    case llmcBin = "llmc-bin"
    /// Apache Parquet (the hub's dataset shards, `datasets`' `to_parquet`): one document per row of
    /// the text column.
    case parquet
    /// Apache Arrow IPC, stream or file (`datasets`' cache and `save_to_disk` folders): one document
    /// per row of the text column.
    case arrow

    /// Whether documents come from a named field (JSON and columnar formats).
    public var hasFields: Bool { [.jsonLines, .jsonArray, .parquet, .arrow].contains(self) }
}

/// One file of a corpus and how to read it.
public struct CorpusFile: Sendable, Equatable, Codable {
    public var path: String
    public var format: CorpusFormat
    /// gzip or Zstandard around the whole file (`.jsonl.gz`, `.jsonl.zst`, `.txt.gz`, …).
    public var compression: CompressionCodec?

    public init(path: String, format: CorpusFormat, compression: CompressionCodec? = nil) {
        self.path = path
        self.format = format
        self.compression = compression
    }
}

extension CompressionCodec: Codable {}

/// Where documents come from: files, each with its format, and the field that holds the text.
/// ``detect(_:textField:)`` builds one from paths; the static constructors name one format for all
/// paths (folders among them are expanded when the stream opens).
public struct CorpusSpec: Sendable, Equatable {
    public var files: [CorpusFile]
    /// The field holding each document's text in JSON, Parquet and Arrow files.
    public var textField: String
    /// Files found in the given folders and passed over, with why (a dataset folder's metadata, lock
    /// and hidden files, `datasets`' derived `cache-*.arrow` files).
    public var skipped: [Skipped]

    public struct Skipped: Sendable, Equatable, Codable {
        public let path: String
        public let reason: String
    }

    public init(files: [CorpusFile], textField: String = "text", skipped: [Skipped] = []) {
        self.files = files
        self.textField = textField
        self.skipped = skipped
    }

    /// Every regular file under the given files/folders (recursively, sorted by path) is one document.
    /// A file is read up to ``DocumentStream/maxDocumentBytes``.
    public static func textFiles(_ paths: [String]) -> CorpusSpec { .init(paths, .text, field: "text") }
    /// One JSON object per line with a string field (`text` by default) per document.
    public static func jsonl(_ paths: [String], field: String) -> CorpusSpec { .init(paths, .jsonLines, field: field) }
    /// nanoGPT `.bin` files.
    public static func nanoGPTBin(_ paths: [String]) -> CorpusSpec { .init(paths, .nanoGPTBin, field: "text") }
    /// llm.c `.bin` files.
    public static func llmcBin(_ paths: [String]) -> CorpusSpec { .init(paths, .llmcBin, field: "text") }

    private init(_ paths: [String], _ format: CorpusFormat, field: String) {
        self.init(files: paths.map { CorpusFile(path: $0, format: format) }, textField: field)
    }

    // MARK: Detection

    /// Bytes of each file read to decide its format (and, for text, that it is text).
    public static let sniffBytes = 1 << 16
    /// A text file whose first ``sniffBytes`` hold more than this share of bytes outside valid UTF-8
    /// is refused (a Latin-1 or binary file read as UTF-8 would train on replacement characters).
    public static let maxInvalidUTF8Share = 0.01

    /// The corpus `paths` hold: folders expanded (recursively, sorted; hidden and lock files passed
    /// over; a folder holding Parquet or Arrow files is a dataset, whose data files alone are read),
    /// each file's format decided by its content and name, and each file checked to hold what its
    /// format needs — the text field of JSON, Parquet and Arrow files too. Throws ``CorpusError``
    /// naming the first file that is none of the formats, before any document is read.
    public static func detect(_ paths: [String], textField: String = "text") throws -> CorpusSpec {
        guard !paths.isEmpty else { throw CorpusError(path: "", position: 0, detail: "no corpus paths given") }
        var files: [CorpusFile] = []
        var skipped: [Skipped] = []
        for p in paths {
            let (found, passed) = try expand(p)
            skipped += passed
            for f in found { files.append(try sniff(f, textField: textField)) }
        }
        guard !files.isEmpty else {
            throw CorpusError(path: paths.joined(separator: ", "), position: 0, detail: "no corpus files (passed over: \(skipped.count))")
        }
        // Token files and text cannot be mixed: a token file's documents are not tokenized.
        let tokenFiles = files.filter { $0.format == .nanoGPTBin || $0.format == .llmcBin }
        if !tokenFiles.isEmpty && tokenFiles.count != files.count {
            let text = files.first { $0.format != .nanoGPTBin && $0.format != .llmcBin }!
            throw CorpusError(path: text.path, position: 0,
                              detail: "a corpus of token files (\(tokenFiles[0].path)) cannot also hold \(text.format.rawValue) files: tokens and text would be cut into rows differently")
        }
        return CorpusSpec(files: files, textField: textField, skipped: skipped)
    }

    /// The files under `path` to read (sorted), and those passed over (hidden and lock files; in a dataset
    /// folder, everything but its Parquet and Arrow data files).
    public static func expand(_ path: String) throws -> ([String], [Skipped]) {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDir) else {
            throw CorpusError(path: path, position: 0, detail: "no such file or folder")
        }
        guard isDir.boolValue else { return ([path], []) }   // the name given (a hub snapshot's link names the file; its blob does not)
        guard let e = FileManager.default.enumerator(at: URL(fileURLWithPath: resolved), includingPropertiesForKeys: [.isRegularFileKey, .isDirectoryKey]) else {
            throw CorpusError(path: path, position: 0, detail: "cannot list the folder")
        }
        var all: [String] = []
        var skipped: [Skipped] = []
        while let url = e.nextObject() as? URL {
            let name = url.lastPathComponent
            if name.hasPrefix(".") {
                skipped.append(Skipped(path: url.path, reason: "hidden"))
                if (try? url.resourceValues(forKeys: [.isDirectoryKey]))?.isDirectory == true { e.skipDescendants() }
                continue
            }
            let real = url.resolvingSymlinksInPath()
            var d: ObjCBool = false
            guard FileManager.default.fileExists(atPath: real.path, isDirectory: &d), !d.boolValue else { continue }
            if name.hasSuffix(".lock") { skipped.append(Skipped(path: url.path, reason: "lock file")); continue }
            all.append(url.path)
        }
        all.sort()
        let isData = { (p: String) in p.hasSuffix(".parquet") || p.hasSuffix(".arrow") }
        guard all.contains(where: isData) else { return (all, skipped) }
        var data: [String] = []
        for p in all {
            let name = (p as NSString).lastPathComponent
            if isData(p) && name.hasPrefix("cache-") && name.hasSuffix(".arrow") {
                skipped.append(Skipped(path: p, reason: "datasets' derived cache file (a map or filter result)"))
            } else if isData(p) {
                data.append(p)
            } else {
                skipped.append(Skipped(path: p, reason: "not a data file of this dataset folder"))
            }
        }
        return (data, skipped)
    }

    /// The format of one file, checked.
    public static func sniff(_ path: String, textField: String = "text") throws -> CorpusFile {
        guard let h = FileHandle(forReadingAtPath: path) else { throw CorpusError(path: path, position: 0, detail: "cannot open") }
        let prefix = [UInt8]((try? h.read(upToCount: sniffBytes)) ?? Data())
        try? h.close()
        let name = (path as NSString).lastPathComponent.lowercased()
        if ParquetFile.hasMagic(prefix) {
            try checkColumnar(CorpusFile(path: path, format: .parquet), textField)
            return CorpusFile(path: path, format: .parquet)
        }
        if ArrowIPCFile.hasMagic(prefix) {
            try checkColumnar(CorpusFile(path: path, format: .arrow), textField)
            return CorpusFile(path: path, format: .arrow)
        }
        for ext in [".parquet", ".arrow", ".feather"] where name.hasSuffix(ext) {
            throw CorpusError(path: path, position: 0, detail: "named \(ext) but does not start with the format's magic bytes (a cut-off download or another format)")
        }
        var inner = name
        var content = prefix
        let codec = CompressionCodec.sniff(prefix)
        if let codec {
            for ext in [".gz", ".gzip", ".zst", ".zstd"] where inner.hasSuffix(ext) { inner.removeLast(ext.count) }
            do {
                let s = try FileByteStream(path: path, codec: codec)
                content = try s.read(upTo: sniffBytes)
            } catch let e as FileFormatError {
                throw CorpusError(path: path, position: 0, detail: e.detail)
            }
        }
        if codec == nil, inner.hasSuffix(".bin") {
            let isLLMC = prefix.count >= 4 && prefix.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) } == 20240520
            return CorpusFile(path: path, format: isLLMC ? .llmcBin : .nanoGPTBin)
        }
        if inner.hasSuffix(".jsonl") || inner.hasSuffix(".ndjson") || inner.hasSuffix(".json") {
            try checkText(path, content, codec: codec)
            let first = content.first { ![0x20, 0x09, 0x0A, 0x0D, 0xEF, 0xBB, 0xBF].contains($0) }
            let format: CorpusFormat = first == UInt8(ascii: "[") ? .jsonArray : .jsonLines
            guard first == nil || first == UInt8(ascii: "[") || first == UInt8(ascii: "{") else {
                throw CorpusError(path: path, position: 1, detail: "a JSON corpus file holds objects (one per line) or an array of objects; this one starts with '\(UnicodeScalar(first!))'")
            }
            let file = CorpusFile(path: path, format: format, compression: codec)
            if format == .jsonLines { try checkFirstLine(file, content, textField) }
            return file
        }
        try checkText(path, content, codec: codec)
        return CorpusFile(path: path, format: .text, compression: codec)
    }

    /// Refuses binary data and text that is mostly not UTF-8.
    static func checkText(_ path: String, _ prefix: [UInt8], codec: CompressionCodec?) throws {
        let inside = codec.map { " (after \($0.rawValue) decoding)" } ?? ""
        if let nul = prefix.firstIndex(of: 0) {
            throw CorpusError(path: path, position: nul, detail: "binary data: a NUL byte at byte \(nul)\(inside); corpus files are text, JSON lines, .bin token files, Parquet or Arrow")
        }
        var invalid = 0
        var i = 0
        while i < prefix.count {
            let b = prefix[i]
            let n = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
            if n == 0 { invalid += 1; i += 1; continue }
            if i + n > prefix.count { break }   // cut by the sniffing window
            if (1..<n).allSatisfy({ prefix[i + $0] >> 6 == 0b10 }) { i += n } else { invalid += 1; i += 1 }
        }
        if prefix.count > 0, Double(invalid) / Double(prefix.count) > maxInvalidUTF8Share {
            throw CorpusError(path: path, position: 0,
                              detail: "\(invalid) of the first \(prefix.count) bytes\(inside) are not UTF-8 (more than \(Int(maxInvalidUTF8Share * 100))%): convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)")
        }
    }

    /// The first non-blank line of a JSON lines file is an object with the text field (a string or null).
    static func checkFirstLine(_ file: CorpusFile, _ prefix: [UInt8], _ field: String) throws {
        let lines = prefix.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (k, line) in lines.enumerated() where line.contains(where: { ![0x20, 0x09, 0x0D].contains($0) }) {
            if k == lines.count - 1 && prefix.count >= sniffBytes { return }   // cut by the window: checked while reading
            _ = try DocumentStream.jsonText(Array(line), field: field, path: file.path, line: k + 1)
            return
        }
    }

    /// A Parquet or Arrow file has a string column named `field`.
    static func checkColumnar(_ file: CorpusFile, _ field: String) throws {
        do {
            switch file.format {
            case .parquet: _ = try ParquetFile(path: file.path).strings(column: field)
            default: _ = try ArrowIPCFile(path: file.path).strings(column: field)
            }
        } catch let e as FileFormatError {
            throw CorpusError(path: file.path, position: 0, detail: "\(e.format): \(e.detail)" + (e.reason == .notFound ? "; name the text column with --text-field" : ""))
        }
    }
}
