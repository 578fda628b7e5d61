// GPT2Tokenizer: GPT-2's byte-level BPE, encoding exactly as OpenAI's encoder and HuggingFace do.

import Foundation
import Tensor

/// GPT-2's byte-level BPE tokenizer, read from `encoder.json` + `vocab.bpe` (OpenAI) or
/// `vocab.json` + `merges.txt` (HuggingFace) — the same data in two spellings.
///
/// Encoding: `<|endoftext|>` in the text becomes token 50256 (as HuggingFace treats the special
/// token); the rest is pre-tokenised by a hand-written equivalent of GPT-2's pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, each piece's UTF-8
/// bytes are mapped to printable characters (GPT-2's `bytes_to_unicode`), and BPE merges are applied
/// lowest rank first. Decoding is lossless at the byte level.
public final class GPT2Tokenizer: @unchecked Sendable {
    /// The special end-of-text token (also BOS and padding for GPT-2).
    public static let endOfText = "<|endoftext|>"

    private let encoder: [String: Int]
    private let decoder: [Int: [UInt8]]
    private let ranks: [Pair: Int]
    private let byteToSymbol: [String]
    public let endOfTextID: Int
    /// How text becomes pieces before BPE (GPT-2's: no normalizer, the GPT-2 pattern only).
    public let pipeline: Pipeline
    /// Tokens matched in the raw text before anything else (`<|endoftext|>` for GPT-2), longest first.
    private let added: [(scalars: [Unicode.Scalar], id: Int)]
    /// BPE results by piece, keyed by UTF-8 bytes: String keys would merge canonically equivalent
    /// pieces (KELVIN SIGN "K" and "K" compare equal as Swift Strings but are different tokens).
    private var cache: [[UInt8]: [Int]] = [:]
    private let lock = NSLock()

    struct Pair: Hashable { let a: String, b: String }

    /// The steps between text and BPE, as a HuggingFace `tokenizer.json` spells them: a normalizer
    /// (none or NFC), a digit split (`Digits`), then the byte-level split (`ByteLevel`, GPT-2's pattern
    /// when `useRegex`), and whether a piece found whole in the vocabulary skips the merges
    /// (`ignore_merges`). GPT-2's own tokenizer is ``gpt2``.
    public struct Pipeline: Sendable, Equatable {
        public enum DigitSplit: Sendable, Equatable {
            /// Every digit its own piece (`individual_digits: true`).
            case individual
            /// Every run of digits one piece.
            case runs
        }
        public var nfc = false
        public var digits: DigitSplit? = nil
        public var useRegex = true
        public var ignoreMerges = false
        public init(nfc: Bool = false, digits: DigitSplit? = nil, useRegex: Bool = true, ignoreMerges: Bool = false) {
            self.nfc = nfc; self.digits = digits; self.useRegex = useRegex; self.ignoreMerges = ignoreMerges
        }
        public static let gpt2 = Pipeline()
    }

    /// Number of tokens in the vocabulary.
    public var vocabularySize: Int { encoder.count }

    /// One more than the largest token id: the smallest `d_vocab` a model needs to take every token
    /// this tokenizer produces (equal to ``vocabularySize`` when the ids have no gaps).
    public let idLimit: Int

    /// Loads `encoder.json` (token → id) and `vocab.bpe` (merges, one `a b` per line after a
    /// `#version` header); HuggingFace's `vocab.json` and `merges.txt` have the same format.
    public convenience init(encoderJSON: String, mergesFile: String) throws {
        func fail(_ path: String, _ detail: String) -> FileFormatError {
            FileFormatError(path: path, format: "GPT-2 tokenizer", reason: .corrupt, detail: detail)
        }
        let data: Data
        do {
            data = Data(try SmallFile.read(encoderJSON, format: "GPT-2 tokenizer", maxBytes: 1 << 28))
        } catch let e as FileFormatError where e.reason == .cannotOpen {
            throw FileFormatError(path: encoderJSON, format: "GPT-2 tokenizer", reason: .cannotOpen,
                                  detail: "cannot read the vocabulary: \(e.detail) (run Scripts/setup to fetch encoder.json and vocab.bpe)")
        }
        guard let encoder = try? JSONDecoder().decode([String: Int].self, from: data) else {
            throw fail(encoderJSON, "not a JSON object of token → id")
        }
        let text = String(decoding: try SmallFile.read(mergesFile, format: "GPT-2 tokenizer", maxBytes: 1 << 28), as: UTF8.self)
        var merges: [(String, String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { throw fail(mergesFile, "merge line '\(line)' is not two symbols") }
            merges.append((String(parts[0]), String(parts[1])))
        }
        try self.init(encoder: encoder, merges: merges, path: encoderJSON)
    }

    /// The folder where the project's scripts put the GPT-2 files: `$ATTN_SAE_CACHE/gpt2-tokenizer`
    /// (default `~/.cache/attn-saes/gpt2-tokenizer`; `Scripts/setup` fills it).
    public static var defaultDirectory: String {
        ProjectCache.root + "/gpt2-tokenizer"
    }

    /// Loads `encoder.json` and `vocab.bpe` from `directory` (default: ``defaultDirectory``).
    public convenience init(directory: String = GPT2Tokenizer.defaultDirectory) throws {
        try self.init(encoderJSON: directory + "/encoder.json", mergesFile: directory + "/vocab.bpe")
    }

    /// Builds a tokenizer from a vocabulary and merges (in rank order), after checking that they fit
    /// together: ids unique in `0..<2²⁴`, every token spelt in GPT-2's byte symbols, all 256 byte
    /// symbols present, every merge's result a token, and `<|endoftext|>` present. Encoding then
    /// always finds an id for every symbol it builds (BPE only ever makes bytes and merge results).
    /// - Throws: ``FileFormatError`` (`.corrupt`) naming the first token or merge that does not fit.
    ///
    /// `addedTokens` (content → id; default: `<|endoftext|>` with its vocabulary id) are matched in the
    /// raw text before the `pipeline` runs, and may be spelt in any characters.
    public init(encoder: [String: Int], merges: [(String, String)], addedTokens: [String: Int]? = nil, pipeline: Pipeline = .gpt2,
                path: String = "") throws {
        func fail(_ detail: String) -> FileFormatError { FileFormatError(path: path, format: "GPT-2 tokenizer", reason: .corrupt, detail: detail) }
        guard encoder.count <= 1 << 24 else { throw fail("\(encoder.count) tokens; at most 2^24 are allowed") }
        var seen = Set<Int>()
        for (token, id) in encoder {
            guard id >= 0, id < 1 << 24 else { throw fail("token \(token.debugDescription) has id \(id), outside 0…16777215") }
            guard seen.insert(id).inserted else { throw fail("id \(id) is given to two tokens (one is \(token.debugDescription))") }
        }
        guard merges.count <= 1 << 24 else { throw fail("\(merges.count) merges; at most 2^24 are allowed") }
        self.encoder = encoder
        var ranks: [Pair: Int] = [:]
        for (i, m) in merges.enumerated() where ranks[Pair(a: m.0, b: m.1)] == nil { ranks[Pair(a: m.0, b: m.1)] = i }
        self.ranks = ranks
        let table = GPT2Tokenizer.bytesToUnicode()
        byteToSymbol = table.map { String($0) }
        var symbolToByte: [Character: UInt8] = [:]
        for (b, c) in table.enumerated() { symbolToByte[c] = UInt8(b) }
        let addedTokens = addedTokens ?? encoder[GPT2Tokenizer.endOfText].map { [GPT2Tokenizer.endOfText: $0] } ?? [:]
        for (token, id) in addedTokens where token.isEmpty || encoder[token].map({ $0 != id }) ?? false {
            throw fail("added token \(token.debugDescription) (id \(id)) is empty or has another id in the vocabulary")
        }
        var decoder: [Int: [UInt8]] = [:]
        var owner: [Int: String] = [:]          // one string per id, or decoding could not give back what was encoded
        func claim(_ id: Int, _ token: String) throws {
            if let other = owner[id], other != token {
                throw fail("id \(id) is given to both \(other.debugDescription) and \(token.debugDescription)")
            }
            owner[id] = token
        }
        for (token, id) in addedTokens.sorted(by: { $0.key < $1.key }) {
            try claim(id, token)
            decoder[id] = Array(token.utf8)
        }
        for (token, id) in encoder.sorted(by: { $0.key < $1.key }) {
            if addedTokens[token] != nil { continue }
            let bytes = token.compactMap { symbolToByte[$0] }
            guard !token.isEmpty, bytes.count == token.count else { throw fail("token \(token.debugDescription) is not spelt in GPT-2's byte symbols") }
            try claim(id, token)
            decoder[id] = bytes
        }
        self.decoder = decoder
        idLimit = (decoder.keys.max() ?? -1) + 1
        guard let eot = addedTokens[GPT2Tokenizer.endOfText] ?? encoder[GPT2Tokenizer.endOfText] else { throw fail("the vocabulary has no <|endoftext|>") }
        for (b, symbol) in byteToSymbol.enumerated() where encoder[symbol] == nil {
            throw fail("byte \(b) (symbol \(symbol.debugDescription)) has no token: byte-level BPE needs all 256")
        }
        for (i, m) in merges.enumerated() where encoder[m.0 + m.1] == nil {
            throw fail("merge \(i + 1) (\(m.0) \(m.1)) makes \((m.0 + m.1).debugDescription), which is not a token")
        }
        endOfTextID = eot
        self.pipeline = pipeline
        added = addedTokens.map { (Array($0.key.unicodeScalars), $0.value) }.sorted { ($0.scalars.count, $1.id) > ($1.scalars.count, $0.id) }
    }

    /// GPT-2's reversible map from the 256 byte values to printable Unicode characters.
    public static func bytesToUnicode() -> [Character] {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var chars = printable
        var n = 0
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b)
            chars.append(256 + n)
            n += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (b, c) in zip(printable, chars) { table[b] = Character(Unicode.Scalar(UInt32(c))!) }
        return table
    }

    // MARK: Encoding

    /// Token ids of `text` (no BOS is added).
    public func encode(_ text: String) -> [Int] {
        var out: [Int] = []
        for part in splitOnAddedTokens(text) {
            switch part {
            case .token(let id): out.append(id)
            case .text(let segment): for piece in pieces(segment) { out += bpe(piece) }
            }
        }
        return out
    }

    enum Part { case text(Substring), token(Int) }

    /// `text` split at every added token (leftmost, then longest), matched on Unicode scalars (no
    /// canonical equivalence or grapheme clustering: a combining mark after `>` must not hide the token).
    func splitOnAddedTokens(_ text: String) -> [Part] {
        let scalars = text.unicodeScalars
        var parts: [Part] = []
        var segmentStart = scalars.startIndex
        var i = scalars.startIndex
        scan: while i < scalars.endIndex {
            for (pattern, id) in added where scalars[i] == pattern[0] {
                var j = i, k = 0
                while k < pattern.count && j < scalars.endIndex && scalars[j] == pattern[k] { j = scalars.index(after: j); k += 1 }
                if k == pattern.count {
                    if segmentStart < i { parts.append(.text(Substring(scalars[segmentStart..<i]))) }
                    parts.append(.token(id))
                    segmentStart = j
                    i = j
                    continue scan
                }
            }
            i = scalars.index(after: i)
        }
        if segmentStart < scalars.endIndex { parts.append(.text(Substring(scalars[segmentStart..<scalars.endIndex]))) }
        return parts
    }

    /// The pieces BPE runs on: the normalizer, the digit split, then the byte-level split.
    func pieces(_ segment: Substring) -> [Substring] {
        var text = segment
        if pipeline.nfc { text = Substring(String(segment).precomposedStringWithCanonicalMapping) }
        let split = pipeline.digits.map { GPT2Tokenizer.splitDigits(text, $0) } ?? [text]
        return pipeline.useRegex ? split.flatMap { GPT2Tokenizer.preTokenize($0) } : split
    }

    /// HuggingFace's `Digits` pre-tokenizer: numeric scalars (categories Nd, Nl, No) isolated one by
    /// one, or run by run.
    static func splitDigits(_ text: Substring, _ how: Pipeline.DigitSplit) -> [Substring] {
        let scalars = text.unicodeScalars
        var out: [Substring] = []
        var start = scalars.startIndex, i = scalars.startIndex
        func isDigit(_ s: Unicode.Scalar) -> Bool { charClass(s) == .number }
        while i < scalars.endIndex {
            guard isDigit(scalars[i]) else { i = scalars.index(after: i); continue }
            if start < i { out.append(Substring(scalars[start..<i])) }
            var j = scalars.index(after: i)
            if how == .runs { while j < scalars.endIndex && isDigit(scalars[j]) { j = scalars.index(after: j) } }
            out.append(Substring(scalars[i..<j]))
            start = j
            i = j
        }
        if start < scalars.endIndex { out.append(Substring(scalars[start..<scalars.endIndex])) }
        return out
    }

    /// Token ids of raw bytes: invalid UTF-8 sequences become U+FFFD first, as Python's
    /// `bytes.decode("utf-8", errors="replace")` does before HuggingFace sees the text.
    public func encode(bytes: [UInt8]) -> [Int] { encode(String(decoding: bytes, as: UTF8.self)) }

    /// TransformerLens `to_tokens` for one text: BOS (50256) first unless `prependBOS` is false,
    /// truncated to `maxLength` tokens (n_ctx) when given.
    public func toTokens(_ text: String, prependBOS: Bool = true, maxLength: Int? = nil) -> [Int] {
        var ids = (prependBOS ? [endOfTextID] : []) + encode(text)
        if let maxLength, ids.count > maxLength { ids.removeLast(ids.count - maxLength) }
        return ids
    }

    /// The bytes of `ids` concatenated (lossless; a token may hold part of a UTF-8 character).
    public func decodeBytes(_ ids: [Int]) -> [UInt8] { ids.flatMap { decoder[$0] ?? [] } }

    /// The text of `ids` (invalid UTF-8, e.g. a split character, becomes U+FFFD).
    public func decode(_ ids: [Int]) -> String { String(decoding: decodeBytes(ids), as: UTF8.self) }

    /// The vocabulary's own string of token `id` — the byte-level BPE symbol (`Ġthe` for " the"), a key of
    /// `encoder.json` / `tokenizer.json`'s vocab — or nil for an id outside the vocabulary.
    public func vocabularyString(_ id: Int) -> String? {
        guard let bytes = decoder[id] else { return nil }
        if let added = added.first(where: { $0.id == id }) { return String(String.UnicodeScalarView(added.scalars)) }
        return bytes.map { byteToSymbol[Int($0)] }.joined()
    }

    /// One display string per token (TransformerLens `to_str_tokens`).
    public func stringTokens(_ ids: [Int]) -> [String] { ids.map { decode([$0]) } }

    /// The id of `text` if it is exactly one token (TransformerLens `to_single_token`), else nil.
    public func singleToken(_ text: String) -> Int? {
        let ids = encode(text)
        return ids.count == 1 ? ids[0] : nil
    }

    /// BPE of one pre-tokenised piece, with a cache.
    private func bpe(_ piece: Substring) -> [Int] {
        let key = Array(piece.utf8)
        lock.lock()
        if let hit = cache[key] { lock.unlock(); return hit }
        lock.unlock()
        let symbols = key.map { byteToSymbol[Int($0)] }
        let ids: [Int]
        if pipeline.ignoreMerges, let whole = encoder[symbols.joined()] { ids = [whole] } else {
            ids = GPT2Tokenizer.merge(symbols, ranks: ranks).map { encoder[$0]! }   // checked at init
        }
        lock.lock()
        if cache.count < 100_000 { cache[key] = ids }
        lock.unlock()
        return ids
    }

    /// Byte-pair merging of `symbols`, lowest rank first, in O(n log n) for n symbols: a min-heap
    /// of (rank, position) over a linked list, stale entries skipped when popped.
    ///
    /// The reference algorithm (OpenAI's `bpe`) rescans all pairs after each merge, O(n²) per piece —
    /// seconds for a megabyte of letters without a space. It merges every occurrence of the
    /// lowest-ranked pair, left to right, then looks again; popping (rank, position) in order does the
    /// same because a pair made by a merge always ranks after the merge that made it (BPE learns a
    /// merge only after its parts exist), so no new pair cuts in before the current rank's
    /// occurrences are done. Overlaps (`a a a` with `a a`) resolve left first, as in the reference.
    static func merge(_ initial: [String], ranks: [Pair: Int]) -> [String] {
        var symbols = initial
        let n = symbols.count
        guard n > 1 else { return symbols }
        var next = Array(1...n), prev = Array(-1..<(n - 1))
        next[n - 1] = -1
        var alive = [Bool](repeating: true, count: n)
        var heap = PairHeap()
        func push(_ i: Int) {
            let j = next[i]
            if i >= 0, j >= 0, let r = ranks[Pair(a: symbols[i], b: symbols[j])] { heap.push((r, i)) }
        }
        for i in 0..<(n - 1) { push(i) }
        while let (rank, i) = heap.pop() {
            let j = next[i]
            // Stale: the left symbol merged away, or the pair at i is no longer this one.
            guard alive[i], j >= 0, ranks[Pair(a: symbols[i], b: symbols[j])] == rank else { continue }
            symbols[i] += symbols[j]
            alive[j] = false
            next[i] = next[j]
            if next[j] >= 0 { prev[next[j]] = i }
            if prev[i] >= 0 { push(prev[i]) }
            push(i)
        }
        return (0..<n).filter { alive[$0] }.map { symbols[$0] }
    }

    /// A binary min-heap of (rank, position).
    struct PairHeap {
        private var items: [(Int, Int)] = []
        mutating func push(_ x: (Int, Int)) {
            items.append(x)
            var c = items.count - 1
            while c > 0 {
                let p = (c - 1) / 2
                guard items[c] < items[p] else { break }
                items.swapAt(c, p)
                c = p
            }
        }
        mutating func pop() -> (Int, Int)? {
            guard let top = items.first else { return nil }
            let last = items.removeLast()
            if !items.isEmpty {
                items[0] = last
                var p = 0
                while true {
                    let l = 2 * p + 1, r = l + 1
                    var m = p
                    if l < items.count && items[l] < items[m] { m = l }
                    if r < items.count && items[r] < items[m] { m = r }
                    if m == p { break }
                    items.swapAt(p, m)
                    p = m
                }
            }
            return top
        }
    }

    // MARK: Pre-tokenisation

    enum Class { case letter, number, space, other }

    static func charClass(_ s: Unicode.Scalar) -> Class {
        if s.properties.isWhitespace { return .space }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Splits `text` as GPT-2's pattern does, scanning Unicode scalars once.
    static func preTokenize(_ text: Substring) -> [Substring] {
        let scalars = text.unicodeScalars
        let idx = Array(scalars.indices) + [scalars.endIndex]
        let chars = Array(scalars)
        let classes = chars.map(charClass)
        let n = chars.count
        var out: [Substring] = []
        var i = 0
        func emit(_ from: Int, _ to: Int) { out.append(Substring(scalars[idx[from]..<idx[to]])) }
        func run(_ from: Int, _ c: Class) -> Int {
            var j = from
            while j < n && classes[j] == c { j += 1 }
            return j
        }
        while i < n {
            // Contractions: 's 't 're 've 'm 'll 'd (lowercase only, as in GPT-2).
            if chars[i] == "'" && i + 1 < n {
                let next = chars[i + 1]
                if "stmd".unicodeScalars.contains(next) { emit(i, i + 2); i += 2; continue }
                if i + 2 < n {
                    let two = String(String.UnicodeScalarView([next, chars[i + 2]]))
                    if two == "re" || two == "ve" || two == "ll" { emit(i, i + 3); i += 3; continue }
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional single space, then a run.
            let start = i
            var j = i
            if chars[j] == " " && j + 1 < n && classes[j + 1] != .space { j += 1 }
            let c = classes[j]
            if c != .space {
                let end = run(j, c)
                emit(start, end)
                i = end
                continue
            }
            // `\s+(?!\S)` then `\s+`: a whitespace run, leaving its last character to the next
            // token when a non-space follows (unless the run is a single character).
            let end = run(i, .space)
            if end < n && end - i > 1 {
                emit(i, end - 1)
                i = end - 1
            } else {
                emit(i, end)
                i = end
            }
        }
        return out
    }
}
