// GPT2TokenizerTests: the tokenizer against HuggingFace `tokenizers` on varied texts
// (Scripts/reference/make_tokenizer_fixtures.py), and its decoding and TransformerLens helpers.

import Foundation
import Testing
import TensorTestSupport
@testable import Transformer

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
