// CorpusTests: streamed corpora, held-out splits, token rows and the model activation source.

import Foundation
import Testing
import TensorTestSupport
@testable import Interp
import Tensor
import Transformer
import SparseAutoencoder

/// Writes uint16 tokens (nanoGPT layout), optionally behind an llm.c header.
func writeTokens(_ tokens: [Int], to path: String, llmc: Bool = false, declared: Int? = nil) throws {
    var data = Data()
    if llmc {
        var header = [Int32](repeating: 0, count: 256)
        header[0] = 20240520; header[1] = 1; header[2] = Int32(declared ?? tokens.count)
        header.withUnsafeBytes { data.append(contentsOf: $0) }
    }
    for t in tokens { withUnsafeBytes(of: UInt16(t).littleEndian) { data.append(contentsOf: $0) } }
    try data.write(to: URL(fileURLWithPath: path))
}

@Suite struct CorpusTests {
    @Test func textFoldersAreSortedFilesOneDocumentEach() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(atPath: dir.path + "/sub", withIntermediateDirectories: true)
        try "b".write(toFile: dir.path + "/b.txt", atomically: true, encoding: .utf8)
        try "a".write(toFile: dir.path + "/a.txt", atomically: true, encoding: .utf8)
        try "c".write(toFile: dir.path + "/sub/c.txt", atomically: true, encoding: .utf8)
        var s = try DocumentStream(.textFiles([dir.path]))
        var docs: [Document] = []
        while let d = try s.next() { docs.append(d) }
        #expect(docs == [.text("a"), .text("b"), .text("c")])
        #expect(throws: CorpusError.self) { try DocumentStream(.textFiles([dir.path + "/none"])) }
    }

    @Test func jsonlMalformedLinesNameFileAndLine() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.path + "/c.jsonl"
        try "{\"text\": \"one\"}\n\n{\"text\": \"two\", \"id\": 2}\n{\"nope\": 1}\n".write(toFile: path, atomically: true, encoding: .utf8)
        var s = try DocumentStream(.jsonl([path], field: "text"))
        #expect(try s.next() == .text("one"))
        #expect(try s.next() == .text("two"))
        #expect(throws: CorpusError(path: path, position: 4, detail: "no field 'text' (fields: nope); name the text field with --text-field")) { try s.next() }
        try "{\"text\": \"ok\"}\n{broken\n".write(toFile: path, atomically: true, encoding: .utf8)
        var t = try DocumentStream(.jsonl([path], field: "text"))
        _ = try t.next()
        #expect(throws: CorpusError(path: path, position: 2, detail: "not a JSON object")) { try t.next() }
    }

    @Test func tokenFilesSplitAtEndOfText() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let eot = 50256
        let tokens = [eot, 1, 2, 3, eot, 4, eot, 5, 6]
        try writeTokens(tokens, to: dir.path + "/n.bin")
        try writeTokens(tokens, to: dir.path + "/l.bin", llmc: true)
        for spec in [CorpusSpec.nanoGPTBin([dir.path + "/n.bin"]), .llmcBin([dir.path + "/l.bin"])] {
            var s = try DocumentStream(spec)
            var docs: [Document] = []
            while let d = try s.next() { docs.append(d) }
            #expect(docs == [.tokens([eot, 1, 2, 3]), .tokens([eot, 4]), .tokens([eot, 5, 6])])
        }
        try writeTokens(tokens, to: dir.path + "/bad.bin", llmc: true, declared: 99)
        #expect(throws: CorpusError.self) {
            var bad = try DocumentStream(.llmcBin([dir.path + "/bad.bin"]))
            _ = try bad.next()
        }
    }

    @Test func heldOutSplitIsDisjointAndComplete() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for i in 0..<10 { try "\(i)".write(toFile: dir.path + "/\(i).txt", atomically: true, encoding: .utf8) }
        func all(_ heldOut: Bool) throws -> [Document] {
            var s = try DocumentStream(.textFiles([dir.path]), split: .init(every: 4, heldOut: heldOut))
            var out: [Document] = []
            while let d = try s.next() { out.append(d) }
            return out
        }
        let train = try all(false), held = try all(true)
        #expect(held == [.text("0"), .text("4"), .text("8")])
        #expect(train.count == 7 && Set(train.map { "\($0)" }).isDisjoint(with: held.map { "\($0)" }))
    }

    @Test func tokenRowsHaveBOSInColumnZeroAndCarryTails() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let eot = 50256
        try writeTokens([eot] + Array(1...10) + [eot] + Array(11...13) + [eot] + Array(14...40), to: dir.path + "/t.bin")
        var rows = TokenRowStream(documents: try DocumentStream(.nanoGPTBin([dir.path + "/t.bin"])), tokenizer: nil, rowLength: 8, nCtx: 20)
        let r = try #require(try rows.nextRows(3))
        #expect(r.shape == [3, 8])
        #expect(Array(r.row(0)) == [eot, 1, 2, 3, 4, 5, 6, 7])
        #expect(Array(r.row(1)) == [eot, 9, 10, eot, 11, 12, 13, eot])   // column 0 forced to BOS; tails carried
        #expect(Array(r.row(2)) == [eot, 15, 16, 17, 18, 19, 20, 21])
        // The third document (28 tokens with BOS) is cut at n_ctx = 20: tokens 14...32 remain.
        let rest = try #require(try rows.nextRows(5))
        #expect(rest.shape == [1, 8] && Array(rest.row(0)) == [eot, 23, 24, 25, 26, 27, 28, 29])
        #expect(try rows.nextRows(1) == nil && rows.droppedTailTokens == 3)
    }

    @Test func textCorporaUseTheTokenizerWithBOS() throws {
        // A byte-level vocabulary without merges: <|endoftext|> 0, byte b → 1 + b (a 98, b 99, space 33).
        var encoder = ["<|endoftext|>": 0]
        for (b, symbol) in GPT2Tokenizer.bytesToUnicode().enumerated() { encoder[String(symbol)] = 1 + b }
        let tok = try GPT2Tokenizer(encoder: encoder, merges: [])
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "ab ab".write(toFile: dir.path + "/x.txt", atomically: true, encoding: .utf8)
        var rows = TokenRowStream(documents: try DocumentStream(.textFiles([dir.path])), tokenizer: tok, rowLength: 3, nCtx: 100, bos: 0)
        // [BOS a b] [␣ a b] with column 0 set to BOS.
        #expect(try rows.nextRows(2)?.values == [0, 98, 99, 0, 98, 99])
    }

    /// TransformerLens's tokenize_and_concatenate of the paper's GELU-2L era (Scripts/reference/
    /// make_tl_concatenate_fixtures.py): HuggingFace's rows for no pad token, `<|padding|>` and
    /// `<|endoftext|>` as the pad token (the quirk: the separators vanish), through the stream too.
    @Test func transformerLensConcatenationMatchesTheReference() throws {
        let data = try Data(contentsOf: fixturesDirectory().appendingPathComponent("tl_concatenate.json"))
        let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let docs = root["documents"] as! [String]
        let tokenizerPath = fixturesDirectory(ofTarget: "TransformerTests").appendingPathComponent("tokenizer-json/neox_style.json").path
        let tok = try GPT2Tokenizer(tokenizerJSON: tokenizerPath)
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let jsonl = dir.path + "/c4-code.jsonl"
        try docs.map { String(data: try JSONSerialization.data(withJSONObject: ["text": $0]), encoding: .utf8)! }
            .joined(separator: "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
        for case let c as [String: Any] in root["cases"] as! [Any] {
            let padID = c["pad_id"] as? Int
            let expected = c["rows"] as! [[Int]]
            let rowLength = c["max_length"] as! Int
            #expect(TokenRowStream.concatenate(docs, tokenizer: tok, rowLength: rowLength, padID: padID, bos: 0) == expected, "pad \(c["pad"]!)")
            var stream = TokenRowStream(documents: try DocumentStream(.jsonl([jsonl], field: "text")), tokenizer: tok, rowLength: rowLength,
                                        recipe: .transformerLensConcatenate(padID: padID))
            #expect(try stream.nextRows(100)?.values == expected.flatMap { $0 })
            #expect(try stream.nextRows(1) == nil)
        }
        // The quirk: with <|endoftext|> as the pad token, the separators (id 0) vanish from the text.
        #expect(TokenRowStream.concatenate(docs, tokenizer: tok, rowLength: 16, padID: 0, bos: 0).flatMap { $0.dropFirst() }.contains(0) == false)
        #expect(TokenRowStream.concatenate(docs, tokenizer: tok, rowLength: 16, padID: nil, bos: 0).flatMap { $0.dropFirst() }.contains(0))
    }
}

@Suite struct ModelActivationSourceTests {
    @Test func hookZFlattenedHeadMajorFromTheModel() throws {
        let fixtures = fixturesDirectory(ofTarget: "TransformerTests")
        let model = GPT2(weights: try GPT2Weights.load(huggingFaceSafetensors: fixtures.appendingPathComponent("tiny_gpt2.safetensors").path, config: .heads(2)).processed())
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = RandomStream(seed: 1)
        // One long document of ids below 95; the tiny model's vocabulary is 96, so 95 serves as its BOS.
        let tokens = (0..<400).map { _ in rng.nextInt(below: 95) }
        try writeTokens(tokens, to: dir.path + "/t.bin")
        let docs = try DocumentStream(.nanoGPTBin([dir.path + "/t.bin"]))
        var source = ModelActivationSource(model: model, layer: 1,
                                           rows: TokenRowStream(documents: docs, tokenizer: nil, rowLength: 16, nCtx: 1024, bos: 95),
                                           sequencesPerForward: 3)
        var check = TokenRowStream(documents: try DocumentStream(.nanoGPTBin([dir.path + "/t.bin"])), tokenizer: nil, rowLength: 16, nCtx: 1024, bos: 95)
        let chunk = try source.nextChunk()
        #expect(chunk.shape == [48, 64] && source.dIn == 64)
        let expectedTokens = try #require(try check.nextRows(3))
        #expect(expectedTokens.row(0).first == 95 && expectedTokens.row(1).first == 95)
        // Rows of the chunk are hook_z of (sequence, position) flattened head-major.
        let z = try model.run(expectedTokens, cache: [.z(1)]).cache[.z(1)]!
        #expect(chunk == z.reshaped([48, 64]))
        #expect(source.tokensProcessed == 48)
        // Feeding a buffer works end to end.
        var buffer = try ActivationBuffer(source: source, size: 96, batchSize: 8)
        #expect(try buffer.next().shape == [8, 64])

        // Several layers side by side from one run; a shard of every other row; a subset of positions;
        // and skipping to a reported position continues with the same rows.
        func fresh() throws -> TokenRowStream {
            TokenRowStream(documents: try DocumentStream(.nanoGPTBin([dir.path + "/t.bin"])), tokenizer: nil, rowLength: 16, nCtx: 1024, bos: 95)
        }
        var both = ModelActivationSource(model: model, layers: [0, 1], rows: try fresh(), sequencesPerForward: 3)
        let two = try both.nextChunk()
        let z0 = try model.run(expectedTokens, cache: [.z(0)]).cache[.z(0)]!
        #expect(two.shape == [48, 128] && two.sliced(axis: 1, 0..<64) == z0.reshaped([48, 64]) && two.sliced(axis: 1, 64..<128) == z.reshaped([48, 64]))
        var odd = ModelActivationSource(model: model, layers: [1], rows: try fresh(), sequencesPerForward: 2, shard: (1, 2))
        let oddChunk = try odd.nextChunk()
        var firstFour = try fresh()
        let four = try #require(try firstFour.nextRows(4))
        let rows13 = IndexTensor(shape: [2, 16], values: Array(four.values[16..<32]) + Array(four.values[48..<64]))
        #expect(oddChunk == (try model.run(rows13, cache: [.z(1)]).cache[.z(1)]!).reshaped([32, 64]))
        var sub = ModelActivationSource(model: model, layers: [1], rows: try fresh(), sequencesPerForward: 3, positionsPerRow: 4, positionSeed: 9)
        let kept = try sub.nextChunk()
        let keep = (0..<3).flatMap { r in sub.keptPositions(row: r, rowLength: 16).map { r * 16 + $0 } }
        #expect(kept.shape == [12, 64] && sub.rowsDelivered == 12 && Set(keep).count == 12)
        #expect(kept == z.reshaped([48, 64]).gathering(axis: 0, IndexTensor(keep)))
        let second = try sub.nextChunk()
        var resumed = ModelActivationSource(model: model, layers: [1], rows: try fresh(), sequencesPerForward: 3, positionsPerRow: 4, positionSeed: 9)
        try resumed.skip(rows: 12)
        #expect(try resumed.nextChunk() == second && resumed.tokensProcessed == 48)
    }
}

@Suite struct CorpusReliabilityTests {
    /// 200,000 short lines in one 1 MB read: each line used to copy the rest of the buffer (≈ 100 GB
    /// of copying here); now each byte is scanned once.
    @Test func manyShortJSONLLinesReadInLinearTime() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("many.jsonl").path
        let line = #"{"text":"x"}"# + "\n"
        _ = FileManager.default.createFile(atPath: path, contents: Data(String(repeating: line, count: 200_000).utf8))
        var stream = try DocumentStream(.jsonl([path], field: "text"))
        var n = 0
        while let d = try stream.next() { #expect(d == .text("x")); n += 1 }
        #expect(n == 200_000)
    }

    @Test func aLineWithoutEndIsBounded() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("long.jsonl").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(("{\"text\":\"" + String(repeating: "y", count: 3_000_000)).utf8))
        var reader = try LineReader(path: path)
        reader.maxLine = 1 << 20
        #expect(throws: CorpusError.self) { _ = try reader.nextLine() }
        // Lines up to the limit still read, across chunk boundaries.
        _ = FileManager.default.createFile(atPath: path, contents: Data((String(repeating: "z", count: 1_500_000) + "\nend").utf8))
        reader = try LineReader(path: path)
        reader.maxLine = 2 << 20
        #expect(try reader.nextLine()?.0.count == 1_500_000)
        #expect(try reader.nextLine()?.0 == Array("end".utf8))
        #expect(try reader.nextLine() == nil)
    }

    /// A token file without <|endoftext|> is cut into documents of at most maxDocumentTokens.
    @Test func aTokenFileWithoutEndOfTextIsCutIntoBoundedDocuments() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("t.bin").path
        let count = 2 * DocumentStream.maxDocumentTokens + 5
        try writeTokens((0..<count).map { $0 % 50000 }, to: path)
        var stream = try DocumentStream(.nanoGPTBin([path]))
        var sizes: [Int] = [], all: [Int] = []
        while case .tokens(let t)? = try stream.next() { sizes.append(t.count); all += t }
        #expect(sizes == [DocumentStream.maxDocumentTokens, DocumentStream.maxDocumentTokens, 5])
        #expect(all == (0..<count).map { $0 % 50000 })
    }
}
