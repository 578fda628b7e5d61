// GPT2Tokenizer+TokenizerJSON: HuggingFace `tokenizer.json` files of byte-level BPE tokenizers — GPT-2's
// own and GPT-NeoX-style ones (NFC, individual digits), such as the paper's GELU-2L tokenizer.

import Foundation
import Tensor

extension GPT2Tokenizer {
    /// Reads a HuggingFace `tokenizer.json` of a byte-level BPE tokenizer:
    ///
    /// - `model`: `BPE` with `vocab` and `merges` (`"a b"` strings or `["a", "b"]` pairs), no dropout,
    ///   no subword prefix or suffix, no byte fallback; `ignore_merges` is honoured;
    /// - `normalizer`: none or `NFC`;
    /// - `pre_tokenizer`: `ByteLevel` (`add_prefix_space: false`, with or without `use_regex`), alone or
    ///   after `Digits` in a `Sequence`;
    /// - `added_tokens`: matched in the raw text first (`lstrip`, `rstrip`, `single_word` and
    ///   normalized added tokens behind a normalizer are not supported);
    /// - `decoder` `ByteLevel` (or none); the `post_processor` is not applied — TransformerLens adds BOS
    ///   itself (``toTokens(_:prependBOS:maxLength:)``), as `encode(..., add_special_tokens=False)` does.
    ///
    /// BOS is `<|endoftext|>`, as for GPT-2 and GPT-NeoX. Anything else is a typed error naming the key.
    /// - Throws: ``FileFormatError`` (`.corrupt` for malformed JSON or values, `.unsupported` for a
    ///   type or option this reader does not implement).
    public convenience init(tokenizerJSON path: String) throws {
        let format = "tokenizer.json"
        func corrupt(_ d: String) -> FileFormatError { FileFormatError(path: path, format: format, reason: .corrupt, detail: d) }
        func unsupported(_ d: String) -> FileFormatError { FileFormatError(path: path, format: format, reason: .unsupported, detail: d) }
        let data = Data(try SmallFile.read(path, format: format, maxBytes: 1 << 28))
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw corrupt("not a JSON object") }
        guard let model = root["model"] as? [String: Any] else { throw corrupt("no 'model' object") }
        guard (model["type"] as? String ?? "BPE") == "BPE" else { throw unsupported("model type '\(model["type"]!)' (only BPE)") }
        for key in ["dropout", "continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key], !(v is NSNull), !((v as? String)?.isEmpty ?? false) { throw unsupported("model.\(key) = \(v)") }
        }
        if (model["byte_fallback"] as? Bool) == true { throw unsupported("model.byte_fallback") }
        guard let vocab = model["vocab"] as? [String: Any] else { throw corrupt("no 'model.vocab' object") }
        var encoder: [String: Int] = [:]
        for (token, id) in vocab {
            guard let n = id as? NSNumber, let i = Int(exactly: n.doubleValue) else { throw corrupt("model.vocab[\(token.debugDescription)] is not an integer id") }
            encoder[token] = i
        }
        guard let rawMerges = model["merges"] as? [Any] else { throw corrupt("no 'model.merges' list") }
        let merges: [(String, String)] = try rawMerges.enumerated().map { k, m in
            if let pair = m as? [String], pair.count == 2 { return (pair[0], pair[1]) }
            if let line = m as? String {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                if parts.count == 2 { return (String(parts[0]), String(parts[1])) }
            }
            throw corrupt("model.merges[\(k)] is not a pair of symbols")
        }
        var pipeline = try Self.pipeline(root, unsupported: unsupported)
        pipeline.ignoreMerges = model["ignore_merges"] as? Bool ?? false
        let added = try Self.addedTokens(root, normalizerIsSet: pipeline.nfc, corrupt: corrupt, unsupported: unsupported)
        if let d = root["decoder"] as? [String: Any], (d["type"] as? String) != "ByteLevel" {
            throw unsupported("decoder type '\(d["type"] ?? "?")' (only ByteLevel)")
        }
        try self.init(encoder: encoder, merges: merges, addedTokens: added, pipeline: pipeline, path: path)
    }

    /// The normalizer and pre-tokenizer of a `tokenizer.json`.
    static func pipeline(_ root: [String: Any], unsupported: (String) -> FileFormatError) throws -> Pipeline {
        var p = Pipeline()
        switch root["normalizer"] {
        case nil, is NSNull: break
        case let n as [String: Any] where (n["type"] as? String) == "NFC": p.nfc = true
        case let n as [String: Any] where (n["type"] as? String) == "Sequence" && ((n["normalizers"] as? [Any])?.isEmpty ?? false): break
        case let n: throw unsupported("normalizer \((n as? [String: Any])?["type"] ?? "?") (only none or NFC)")
        }
        guard let pre = root["pre_tokenizer"] as? [String: Any] else { throw unsupported("no pre_tokenizer (only ByteLevel, optionally after Digits)") }
        var steps = [pre]
        if (pre["type"] as? String) == "Sequence" { steps = pre["pretokenizers"] as? [[String: Any]] ?? [] }
        var sawByteLevel = false
        for (k, step) in steps.enumerated() {
            switch step["type"] as? String {
            case "Digits" where k == 0 && steps.count > 1:
                p.digits = (step["individual_digits"] as? Bool ?? false) ? .individual : .runs
            case "ByteLevel" where k == steps.count - 1:
                guard (step["add_prefix_space"] as? Bool ?? false) == false else { throw unsupported("pre_tokenizer ByteLevel with add_prefix_space") }
                p.useRegex = step["use_regex"] as? Bool ?? true
                sawByteLevel = true
            default:
                throw unsupported("pre_tokenizer step \(k) '\(step["type"] ?? "?")' (only ByteLevel, optionally after Digits)")
            }
        }
        guard sawByteLevel else { throw unsupported("a pre_tokenizer without ByteLevel") }
        return p
    }

    /// `added_tokens` as content → id.
    static func addedTokens(_ root: [String: Any], normalizerIsSet: Bool, corrupt: (String) -> FileFormatError,
                            unsupported: (String) -> FileFormatError) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for (k, t) in (root["added_tokens"] as? [[String: Any]] ?? []).enumerated() {
            guard let content = t["content"] as? String, !content.isEmpty, let n = t["id"] as? NSNumber, let id = Int(exactly: n.doubleValue) else {
                throw corrupt("added_tokens[\(k)] has no content or integer id")
            }
            for flag in ["lstrip", "rstrip", "single_word"] where (t[flag] as? Bool) == true {
                throw unsupported("added token \(content.debugDescription) with \(flag)")
            }
            if normalizerIsSet && (t["normalized"] as? Bool) == true { throw unsupported("normalized added token \(content.debugDescription)") }
            out[content] = id
        }
        return out
    }
}
