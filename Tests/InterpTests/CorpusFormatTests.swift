// CorpusFormatTests: every corpus format read from files the real libraries wrote (pyarrow, HuggingFace
// datasets, gzip, zstd — Scripts/reference/make_corpus_fixtures.py), against the documents Python read
// from the same files; and every file that is none of them refused by name before any document is read.

import Foundation
import Testing
import TensorTestSupport
@testable import Interp
import Tensor
import Transformer

@Suite struct CorpusFormatTests {
    static let folder = fixturesDirectory().appendingPathComponent("corpora")

    /// expected.json: the documents, and per file which of them Python read from it.
    struct Expected: Decodable {
        let documents: [String?]
        let files: [String: Listing]

        enum Listing: Decodable {
            case named(String)
            case values([String?])
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let s = try? c.decode(String.self) { self = .named(s) } else { self = .values(try c.decode([String?].self)) }
            }
        }

        /// What a file's values are, nulls included.
        func values(_ name: String) throws -> [String?] {
            switch files[name] {
            case .named("all"): return documents
            case .named("non-null"): return documents.filter { $0 != nil }
            case .named("null-as-empty"): return documents.map { $0 ?? "" }
            case .values(let v): return v
            default: throw HarnessError("no expected documents for \(name)")
            }
        }
    }

    struct HarnessError: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
    }

    static func read(_ spec: CorpusSpec) throws -> (docs: [String], nulls: Int) {
        var stream = try DocumentStream(spec)
        var docs: [String] = []
        while let d = try stream.next() {
            guard case .text(let t) = d else { throw HarnessError("token document from a text corpus") }
            docs.append(t)
        }
        return (docs, stream.nullDocuments)
    }

    static let formats: [String: (CorpusFormat, CompressionCodec?)] = [
        "parquet": (.parquet, nil), "arrow": (.arrow, nil), "jsonl": (.jsonLines, nil), "json": (.jsonLines, nil),
        "gz": (.jsonLines, .gzip), "zst": (.jsonLines, .zstd), "txt": (.text, nil),
    ]

    @Test(arguments: try! expected().files.keys.sorted())
    func everyFileReadsWhatPythonRead(_ name: String) throws {
        let e = try Self.expected()
        let path = Self.folder.appendingPathComponent(name).path
        let field = name == "field-content.parquet" ? "content" : "text"
        let spec = try CorpusSpec.detect([path], textField: field)
        let isFolder = !name.contains(".")
        if !isFolder {
            #expect(spec.files.count == 1)
            let (format, codec) = Self.formats[(name as NSString).pathExtension]!
            #expect(spec.files[0].format == format && spec.files[0].compression == codec, "\(spec.files[0])")
        } else {
            // A dataset folder: its .arrow files only; metadata and lock files passed over.
            #expect(!spec.files.isEmpty && spec.files.allSatisfy { $0.format == .arrow })
            #expect(spec.skipped.contains { $0.path.hasSuffix("dataset_info.json") })
        }
        let values = try e.values(name)
        let (docs, nulls) = try Self.read(spec)
        #expect(docs == values.compactMap { $0 }, "\(name)")
        #expect(nulls == values.filter { $0 == nil }.count || !spec.files.allSatisfy({ $0.format.hasFields }))
    }

    @Test func aFolderOfEveryFormatReadsAsOneCorpusInPathOrder() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["notes.txt", "plain.jsonl", "two-members.jsonl.gz", "docs.jsonl.zst"] {
            try FileManager.default.copyItem(at: Self.folder.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        try "hidden".write(toFile: dir.path + "/.DS_Store", atomically: true, encoding: .utf8)
        let spec = try CorpusSpec.detect([dir.path])
        #expect(spec.files.map { ($0.path as NSString).lastPathComponent } == ["docs.jsonl.zst", "notes.txt", "plain.jsonl", "two-members.jsonl.gz"])
        #expect(spec.skipped.map { ($0.path as NSString).lastPathComponent } == [".DS_Store"])
        let e = try Self.expected()
        let kept = e.documents.compactMap { $0 }
        #expect(try Self.read(spec).docs == kept + ["A plain text document.\nWith two lines.\n"] + kept + kept)
    }

    @Test func aParquetFileListsItsColumnsAndReadsAnyStringColumn() throws {
        let file = try ParquetFile(path: Self.folder.appendingPathComponent("dict-snappy.parquet").path)
        #expect(file.columns.map(\.name) == ["id", "meta.source", "meta.score", "text", "url", "flags.list.element"])
        #expect(file.rowGroupCount == 4 && file.rowCount == 49)
        let text = file.columns[3]
        #expect(text.isString && text.physicalType == .byteArray && text.maxDefinitionLevel == 1 && text.maxRepetitionLevel == 0)
        #expect(file.columns[1].maxDefinitionLevel == 2)
        var urls = try file.strings(column: "url")
        var got: [String?] = []
        while let c = try urls.nextCell() {
            if case .bytes(let b) = c { got.append(String(decoding: b, as: UTF8.self)) } else { got.append(nil) }
        }
        #expect(got == (0..<49).map { $0 % 5 == 0 ? nil : "https://example.org/\($0)" })
        var sources = try file.strings(column: "meta.source")
        var s: [String] = []
        while case .bytes(let b)? = try sources.nextCell() { s.append(String(decoding: b, as: UTF8.self)) }
        #expect(s == (0..<49).map { "s\($0 % 3)" })
        #expect(throws: FileFormatError.self) { try file.strings(column: "id") }
        #expect(throws: FileFormatError.self) { try file.strings(column: "flags.list.element") }
        #expect(throws: FileFormatError.self) { try file.strings(column: "missing") }
    }

    @Test func anArrowFileListsItsFieldsAndReadsAnyStringColumn() throws {
        for name in ["stream.arrow", "file-format.arrow", "zstd-buffers.arrow"] {
            let file = try ArrowIPCFile(path: Self.folder.appendingPathComponent(name).path)
            #expect(file.fields.map(\.name) == ["id", "meta", "text", "url", "flags"])
            #expect(file.fields.map(\.typeName) == ["int", "struct", "utf8", "utf8", "list"])
            #expect(file.isFileFormat == (name == "file-format.arrow"))
            var urls = try file.strings(column: "url")
            var got: [String?] = []
            while let c = try urls.nextCell() {
                if case .bytes(let b) = c { got.append(String(decoding: b, as: UTF8.self)) } else { got.append(nil) }
            }
            #expect(got == (0..<49).map { $0 % 5 == 0 ? nil : "https://example.org/\($0)" }, "\(name)")
            #expect(throws: FileFormatError.self) { try file.strings(column: "meta") }
        }
        // Values past the limit are cut, and their full length is reported.
        var r = try ArrowIPCFile(path: Self.folder.appendingPathComponent("large-stream.arrow").path).strings(column: "text")
        var longest = 0
        while let c = try r.nextCell(limit: 100) {
            if case .bytes(let b) = c { #expect(b.count == min(100, r.lastValueLength)) }
            longest = max(longest, r.lastValueLength)
        }
        #expect(longest > 5_000)
    }

    @Test func longDocumentsAreCutAndCounted() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let long = String(repeating: "é", count: DocumentStream.maxDocumentBytes)   // 2 bytes each
        let line = try JSONSerialization.data(withJSONObject: ["text": long])
        try (line + Data("\n".utf8)).write(to: dir.appendingPathComponent("long.jsonl"))
        var stream = try DocumentStream(try CorpusSpec.detect([dir.path]))
        guard case .text(let t)? = try stream.next() else { Issue.record("no document"); return }
        #expect(t.utf8.count == DocumentStream.maxDocumentBytes && stream.truncatedDocuments == 1)
    }

    /// Files that are none of the formats are refused, naming the file, before any document is read.
    @Test func filesOfNoKnownFormatAreRefusedByName() throws {
        let refused = Self.folder.appendingPathComponent("refused")
        let cases: [(String, String)] = [
            ("image.txt", "NUL byte"), ("blob.dat", "NUL byte"), ("latin1.txt", "not UTF-8"),
            ("no-text.parquet", "no column 'text'"), ("truncated.parquet", "magic"),
        ]
        for (name, words) in cases {
            let path = refused.appendingPathComponent(name).path
            do {
                _ = try CorpusSpec.detect([path])
                Issue.record("\(name) was accepted")
            } catch let e as CorpusError {
                #expect(e.path == path && e.description.contains(words), "\(e)")
            }
        }
        // The folder as a whole is refused at its first bad file (a dataset folder: its Parquet files).
        #expect(throws: CorpusError.self) { try CorpusSpec.detect([refused.path]) }
        // A JSON lines file whose first line lacks the field, and a cut-off gzip file.
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try #"{"content": "x"}"#.write(toFile: dir.path + "/a.jsonl", atomically: true, encoding: .utf8)
        #expect { try CorpusSpec.detect([dir.path + "/a.jsonl"]) } throws: { e in
            "\(e)".contains("no field 'text'") && "\(e)".contains("content") && "\(e)".contains("--text-field")
        }
        let gz = try Data(contentsOf: Self.folder.appendingPathComponent("two-members.jsonl.gz"))
        try gz.prefix(gz.count / 3).write(to: dir.appendingPathComponent("cut.jsonl.gz"))
        #expect(throws: CorpusError.self) { _ = try Self.read(try CorpusSpec.detect([dir.path + "/cut.jsonl.gz"])) }
        // Token files and text in one corpus.
        try writeTokens([50256, 1, 2], to: dir.path + "/t.bin")
        try FileManager.default.removeItem(atPath: dir.path + "/a.jsonl")
        try FileManager.default.removeItem(atPath: dir.path + "/cut.jsonl.gz")
        try "text".write(toFile: dir.path + "/b.txt", atomically: true, encoding: .utf8)
        #expect(throws: CorpusError.self) { try CorpusSpec.detect([dir.path]) }
    }

    /// Every prefix of a Parquet and an Arrow file, and every single-byte corruption of a sample of
    /// positions, is read or refused with a typed error — never a crash or an untyped error.
    @Test func cutAndCorruptedColumnarFilesAreRefusedCleanly() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["dict-snappy.parquet", "plain-zstd-v2.parquet", "stream.arrow", "zstd-buffers.arrow"] {
            let bytes = [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(name)))
            let path = dir.appendingPathComponent(name).path
            var variants: [[UInt8]] = stride(from: 0, to: bytes.count, by: max(1, bytes.count / 60)).map { Array(bytes[..<$0]) }
            for at in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 150)) {
                var v = bytes
                v[at] ^= 0xA5
                variants.append(v)
            }
            for v in variants {
                try Data(v).write(to: URL(fileURLWithPath: path))
                do { _ = try Self.read(try CorpusSpec.detect([path])) } catch is CorpusError {}
            }
        }
    }
}
