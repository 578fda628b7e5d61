// GPT2TokenizerTests: the tokenizer against HuggingFace `tokenizers` on varied texts
// (Scripts/reference/make_tokenizer_fixtures.py), and its decoding and TransformerLens helpers.

import Foundation
import Testing
import TensorTestSupport
@testable import Transformer
import Tensor

@Suite struct GPT2TokenizerTests {
    let tokenizer: GPT2Tokenizer
    // The fetched GPT-2 files (Scripts/test installs them); missing files are an error, not a skip.
    init() throws { tokenizer = try GPT2Tokenizer() }

    @Test func matchesHuggingFaceOnEveryText() throws {
        let data = try Data(contentsOf: fixturesDirectory().appendingPathComponent("tokenizer_cases.json"))
        let cases = (try JSONSerialization.jsonObject(with: data) as! [String: Any])["cases"] as! [[String: Any]]
        #expect(cases.count >= 20)
        for c in cases {
            let text = c["text"] as! String, ids = c["ids"] as! [Int]
            #expect(tokenizer.encode(text) == ids, "\(text.debugDescription.prefix(80))")
            #expect(tokenizer.decode(ids) == text)
        }
    }

    @Test func basicsAndTransformerLensHelpers() {
        #expect(tokenizer.vocabularySize == 50257)
        #expect(tokenizer.encode("Hello world") == [15496, 995])
        #expect(tokenizer.endOfTextID == 50256)
        #expect(tokenizer.toTokens("Hello world") == [50256, 15496, 995])
        #expect(tokenizer.toTokens("Hello world", prependBOS: false, maxLength: 1) == [15496])
        #expect(tokenizer.stringTokens([15496, 995]) == ["Hello", " world"])
        #expect(tokenizer.singleToken(" world") == 995)
        #expect(tokenizer.singleToken("Hello world") == nil)
        #expect(tokenizer.encode("").isEmpty)
        // Invalid UTF-8 is replaced by U+FFFD, byte by byte, as Python's errors="replace".
        #expect(tokenizer.encode(bytes: [0x48, 0x69, 0xFF, 0xC3]) == tokenizer.encode("Hi\u{FFFD}\u{FFFD}"))
    }

    @Test func decodingIsLosslessAtTheByteLevel() {
        let text = "日本語 😀 e\u{301}"
        let ids = tokenizer.encode(text)
        #expect(tokenizer.decodeBytes(ids) == Array(text.utf8))
        // A token holding part of a multi-byte character decodes to U+FFFD alone, bytes stay exact.
        let partial = ids.first { tokenizer.decode([$0]).contains("\u{FFFD}") }
        #expect(partial != nil)
    }
}

/// OpenAI's `bpe` as written: rescan every pair, merge every occurrence of the lowest-ranked one
/// left to right, repeat. The independent reference for the heap-based merge.
func referenceBPE(_ initial: [String], ranks: [GPT2Tokenizer.Pair: Int]) -> [String] {
    var symbols = initial
    while symbols.count > 1 {
        var best = Int.max, pair: (String, String)? = nil
        for i in 0..<(symbols.count - 1) {
            if let r = ranks[GPT2Tokenizer.Pair(a: symbols[i], b: symbols[i + 1])], r < best { best = r; pair = (symbols[i], symbols[i + 1]) }
        }
        guard let (a, b) = pair else { break }
        var merged: [String] = [], i = 0
        while i < symbols.count {
            if i < symbols.count - 1 && symbols[i] == a && symbols[i + 1] == b { merged.append(a + b); i += 2 } else { merged.append(symbols[i]); i += 1 }
        }
        symbols = merged
    }
    return symbols
}

@Suite struct TokenizerReliabilityTests {
    let tokenizer: GPT2Tokenizer
    init() throws { tokenizer = try GPT2Tokenizer() }

    /// The O(n log n) merge equals the reference on GPT-2's merges, for random pieces drawn from
    /// a small alphabet (many repeats and overlaps) and for real words.
    @Test func heapMergeEqualsTheReference() throws {
        let text = try String(contentsOfFile: GPT2Tokenizer.defaultDirectory + "/vocab.bpe", encoding: .utf8)
        var merges: [(String, String)] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#version") {
            let p = line.split(separator: " ")
            merges.append((String(p[0]), String(p[1])))
        }
        var ranks: [GPT2Tokenizer.Pair: Int] = [:]
        for (i, m) in merges.enumerated() where ranks[GPT2Tokenizer.Pair(a: m.0, b: m.1)] == nil { ranks[GPT2Tokenizer.Pair(a: m.0, b: m.1)] = i }
        let symbols = GPT2Tokenizer.bytesToUnicode().map { String($0) }
        var rng = SystemRandomNumberGenerator()
        var pieces: [[UInt8]] = ["aaaaaaaaa", "abababab", "ininininin", "Mississippi", "the", "antidisestablishmentarianism", "ŁódźŁódź"].map { Array($0.utf8) }
        for _ in 0..<400 {
            let alphabet = Array("aeinstr".utf8)
            pieces.append((0..<Int.random(in: 1...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
        }
        for p in pieces {
            let initial = p.map { symbols[Int($0)] }
            #expect(GPT2Tokenizer.merge(initial, ranks: ranks) == referenceBPE(initial, ranks: ranks), "\(String(decoding: p, as: UTF8.self))")
        }
    }

    /// A megabyte of letters without a space is one piece: the reference merge took O(n²) there.
    @Test func aLongRunOfLettersEncodesAndRoundTrips() {
        let text = String(repeating: "abcdefghij", count: 100_000)
        let ids = tokenizer.encode(text)
        #expect(tokenizer.decode(ids) == text)
        #expect(ids.count < text.utf8.count / 2)
    }

    @Test func inconsistentVocabulariesAreRefused() {
        let bytes = GPT2Tokenizer.bytesToUnicode().map { String($0) }
        var base: [String: Int] = [:]
        for (i, s) in bytes.enumerated() { base[s] = i }
        base["<|endoftext|>"] = 256
        base["ab"] = 257
        #expect(throws: Never.self) { try GPT2Tokenizer(encoder: base, merges: [("a", "b")]) }
        func refused(_ encoder: [String: Int], _ merges: [(String, String)], _ says: String) {
            do {
                _ = try GPT2Tokenizer(encoder: encoder, merges: merges, path: "v.json")
                Issue.record("accepted: \(says)")
            } catch let e as FileFormatError {
                #expect(e.reason == .corrupt && e.detail.contains(says) && e.path == "v.json", "\(e)")
            } catch { Issue.record("\(error)") }
        }
        var missingByte = base; missingByte["a"] = nil
        refused(missingByte, [], "byte 97")
        refused(base, [("a", "c")], "merge 1")
        var duplicate = base; duplicate["ab"] = 3
        refused(duplicate, [], "id 3")
        var foreign = base; foreign["a b"] = 300
        refused(foreign, [], "byte symbols")
        var negative = base; negative["ab"] = -1
        refused(negative, [], "-1")
        var noEOT = base; noEOT["<|endoftext|>"] = nil
        refused(noEOT, [], "endoftext")
        // An added token whose id the vocabulary gives to another string (a fuzzing finding: decoding then gave
        // back the other string).
        do {
            _ = try GPT2Tokenizer(encoder: base, merges: [("a", "b")], addedTokens: ["<|pad|>": 257], path: "v.json")
            Issue.record("accepted an added token sharing id 257 with \"ab\"")
        } catch let e as FileFormatError {
            #expect(e.reason == .corrupt && e.detail.contains("id 257 is given to both") && e.detail.contains("<|pad|>"), "\(e)")
        } catch { Issue.record("\(error)") }
    }
}
