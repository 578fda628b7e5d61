// TokenizerJSONTests: HuggingFace tokenizer.json files read by GPT2Tokenizer(tokenizerJSON:) — a
// GPT-NeoX-style tokenizer (NFC, individual digits) trained with `tokenizers`, and GPT-2's own
// tokenizer.json — against the ids `tokenizers` gives (Scripts/reference/make_tokenizer_json_fixtures.py).

import Foundation
import Testing
import TensorTestSupport
@testable import Transformer
import Tensor

@Suite struct TokenizerJSONTests {
    static let folder = fixturesDirectory().appendingPathComponent("tokenizer-json")

    static func cases(_ file: URL) throws -> [(text: String, ids: [Int])] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
        return (json["cases"] as! [[String: Any]]).map { ($0["text"] as! String, $0["ids"] as! [Int]) }
    }

    @Test func neoxStyleTokenizerMatchesHuggingFace() throws {
        let tok = try GPT2Tokenizer(tokenizerJSON: Self.folder.appendingPathComponent("neox_style.json").path)
        #expect(tok.pipeline == GPT2Tokenizer.Pipeline(nfc: true, digits: .individual, useRegex: true, ignoreMerges: false))
        #expect(tok.vocabularySize == 3000 && tok.endOfTextID == 0 && tok.toTokens("x").first == 0)
        let cases = try Self.cases(Self.folder.appendingPathComponent("neox_style_cases.json"))
        #expect(cases.count >= 100)
        for c in cases {
            #expect(tok.encode(c.text) == c.ids, "\(c.text.debugDescription.prefix(80))")
            // Decoding gives the normalized text back.
            #expect(tok.decode(c.ids) == c.text.precomposedStringWithCanonicalMapping)
        }
        // Digits are single tokens, special tokens are matched in the raw text.
        #expect(tok.encode("2024").count == 4 && tok.singleToken("<|padding|>") == 1)
    }

    /// GPT-2's tokenizer.json (the skeleton `tokenizers` writes, filled with encoder.json and vocab.bpe)
    /// encodes as the GPT-2 reader and as `tokenizers` does.
    @Test func gpt2sOwnTokenizerJSONGivesGPT2sIds() throws {
        var skeleton = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.folder.appendingPathComponent("gpt2_skeleton.json"))) as! [String: Any]
        let dir = GPT2Tokenizer.defaultDirectory
        var model = skeleton["model"] as! [String: Any]
        model["vocab"] = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/encoder.json")))
        let merges = try String(contentsOfFile: dir + "/vocab.bpe", encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#version") }
        model["merges"] = merges.map { $0.split(separator: " ").map(String.init) }
        skeleton["model"] = model
        let path = temporaryDirectory().appendingPathComponent("tokenizer.json").path
        try JSONSerialization.data(withJSONObject: skeleton).write(to: URL(fileURLWithPath: path))
        let fromJSON = try GPT2Tokenizer(tokenizerJSON: path), gpt2 = try GPT2Tokenizer()
        #expect(fromJSON.pipeline == .gpt2 && fromJSON.vocabularySize == 50257 && fromJSON.endOfTextID == 50256)
        for c in try Self.cases(fixturesDirectory().appendingPathComponent("tokenizer_cases.json")) {
            #expect(fromJSON.encode(c.text) == c.ids && gpt2.encode(c.text) == c.ids, "\(c.text.debugDescription.prefix(80))")
        }
    }

    /// A type or option the reader does not implement, or a malformed value, is a typed error naming it.
    @Test func unsupportedOrMalformedFilesAreNamed() throws {
        let changes: [(String, (inout [String: Any]) -> Void)] = [
            ("WordPiece", { $0["model"] = ["type": "WordPiece", "vocab": [String: Int]()] as [String: Any] }),
            ("Metaspace", { $0["pre_tokenizer"] = ["type": "Metaspace"] }),
            ("add_prefix_space", { $0["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": true] as [String: Any] }),
            ("Lowercase", { $0["normalizer"] = ["type": "Lowercase"] }),
            ("lstrip", { $0["added_tokens"] = [["id": 0, "content": "<|endoftext|>", "lstrip": true] as [String: Any]] }),
            ("merges[0]", { var m = $0["model"] as! [String: Any]; m["merges"] = ["a b c"]; $0["model"] = m }),
            ("not a token", { var m = $0["model"] as! [String: Any]; m["merges"] = [["Ġ", "zz"]]; $0["model"] = m }),
            ("integer id", { var m = $0["model"] as! [String: Any]; m["vocab"] = ["a": "x"]; $0["model"] = m }),
        ]
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.folder.appendingPathComponent("neox_style.json"))) as! [String: Any]
        for (named, change) in changes {
            var json = original
            change(&json)
            let path = temporaryDirectory().appendingPathComponent("tokenizer.json").path
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
            #expect("\(named)", performing: { try GPT2Tokenizer(tokenizerJSON: path) }, throws: { ($0 as? FileFormatError).map { "\($0)".contains(named) } ?? false })
        }
    }

    @Test func notJSONIsTyped() throws {
        let path = temporaryDirectory().appendingPathComponent("tokenizer.json").path
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: FileFormatError.self) { try GPT2Tokenizer(tokenizerJSON: path) }
        #expect(throws: FileFormatError.self) { try GPT2Tokenizer(tokenizerJSON: "/nonexistent/tokenizer.json") }
    }
}
