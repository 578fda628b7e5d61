// Induction: fuzzy token variants, the induction proxy (Docs/Method.md §3.1), synthetic induction sequences and
// the long-prefix detector and corruption (§3.4).
import Tensor
import Transformer
import SparseAutoencoder

/// For every token, its variants as single tokens (Docs/Method.md §3.1): with a leading space, without one,
/// capitalised (first character upper, the rest lower, like Python's `str.capitalize`), lower-cased.
/// A variant that is not a single token falls back to the token itself.
public struct FuzzyTokens: Sendable {
    public let withSpace: [Int], withoutSpace: [Int], capitalized: [Int], lowercased: [Int]

    public init(tokenizer: GPT2Tokenizer) {
        let n = tokenizer.idLimit
        var ws = [Int](repeating: 0, count: n), wo = ws, cap = ws, low = ws
        for id in 0..<n {
            let s = tokenizer.decode([id])
            func single(_ v: String) -> Int { tokenizer.singleToken(v) ?? id }
            ws[id] = single(" " + s)
            wo[id] = s.hasPrefix(" ") ? single(String(s.dropFirst())) : id
            cap[id] = single(s.prefix(1).uppercased() + s.dropFirst().lowercased())
            low[id] = single(s.lowercased())
        }
        withSpace = ws; withoutSpace = wo; capitalized = cap; lowercased = low
    }

    /// `t` and its variants, in the order the reference checks them.
    public func variants(_ t: Int) -> [Int] { [t, withSpace[t], withoutSpace[t], capitalized[t], lowercased[t]] }

    /// `a` equals `b` up to a leading space or case (the long-prefix detector's fuzzy match).
    public func matches(_ a: Int, _ b: Int) -> Bool { variants(b).contains(a) }
}

public enum Induction {
    /// The induction proxy for `target` (Docs/Method.md §3.1): position p is true when some earlier position q
    /// holds `tokens[p]` or one of its fuzzy variants and `tokens[q+1] == target`.
    public static func proxy(tokens: [Int], target: Int, fuzzy: FuzzyTokens) -> [Bool] {
        var seen: [Int: [Int]] = [:]
        var out = [Bool](repeating: false, count: tokens.count)
        for p in 0..<tokens.count {
            let t = tokens[p]
            out[p] = fuzzy.variants(t).contains { v in (seen[v] ?? []).contains { $0 + 1 < tokens.count && $0 + 1 <= p && tokens[$0 + 1] == target } }
            seen[t, default: []].append(p)
        }
        return out
    }

    /// A synthetic induction example (Docs/Method.md §3.4a).
    public struct Example: Sendable, Equatable {
        public var tokens: [Int]
        /// The prefix's first occurrence starts at `a1`, its copy at `a2`.
        public var a1: Int, a2: Int, prefixLength: Int
        /// The destination (last token of the copy) and the source (the token after the first occurrence).
        public var destination: Int { a2 + prefixLength - 1 }
        public var source: Int { a1 + prefixLength }
    }

    /// The induction score of every head of `layer` (TransformerLens's recipe): on `batch` rows of BOS
    /// then `length` distinct random tokens (never BOS) repeated once, the mean attention from each
    /// position `d` of the second copy to `d − length + 1`, the token after the same token's first
    /// occurrence. An induction head scores near 1, other heads near 0. `[n_heads]`.
    public static func headScores(model: GPT2, layer: Int, bos: Int, length: Int = 50, batch: Int = 8, seed: UInt64 = 0) throws -> [Double] {
        let c = model.config
        precondition((0..<c.nLayers).contains(layer) && length >= 2 && 2 * length + 1 <= c.nCtx && length < c.dVocab,
                     "induction head scores: layer \(layer) of \(c.nLayers), length \(length) (n_ctx \(c.nCtx), d_vocab \(c.dVocab))")
        var rng = RandomStream(seed: seed)
        var values: [Int] = []
        for _ in 0..<batch {
            let r = rng.permutation(c.dVocab - 1).prefix(length).map { $0 >= bos ? $0 + 1 : $0 }
            values += [bos] + r + r
        }
        let pattern = try model.runWithCache(IndexTensor(shape: [batch, 2 * length + 1], values: values), names: [.pattern(layer)])[.pattern(layer)]!
        return (0..<c.nHeads).map { h in
            var sum = 0.0
            for b in 0..<batch { for d in (length + 1)...(2 * length) { sum += Double(pattern[b, h, d, d - length + 1]) } }
            return sum / Double(batch * length)
        }
    }

    /// `count` sequences of `length` (128) distinct random tokens (BOS at 0) in which `tokens[a1..<a1+p]`
    /// is copied to `a2`, with `a1 = randint(1, 98)` and `a2 = randint(a1+p+1, length−1−p)` drawn by
    /// CPython's `random` (seed `seed`) as the reference does; the token permutation comes from our
    /// own stream (the reference uses torch's, which is not reproduced).
    public static func syntheticExamples(count: Int, prefixLength p: Int, vocab: Int = 50257, length: Int = 128, bos: Int = 50256,
                                         python: inout CPythonRandom, rng: inout RandomStream) -> [Example] {
        precondition(p >= 1 && 98 + 2 * p + 1 <= length - 1, "prefix length \(p) does not fit a sequence of \(length)")
        return (0..<count).map { _ in
            var tokens = Array(rng.permutation(vocab).prefix(length))
            tokens[0] = bos
            let a1 = python.randint(1, 98)
            let a2 = python.randint(a1 + p + 1, length - 1 - p)
            for i in 0..<p { tokens[a2 + i] = tokens[a1 + i] }
            return Example(tokens: tokens, a1: a1, a2: a2, prefixLength: p)
        }
    }

    /// A detected attention event (Docs/Method.md §3.4c): the first (t, s) in row-major order with
    /// `pattern[t, s] > threshold` and `s > 0`, and the length of the fuzzy-matching prefix before it
    /// (0 = attends strongly but is not induction).
    public struct Detection: Sendable, Equatable {
        public var destination: Int, source: Int, prefixLength: Int
    }

    /// Scans one head's pattern `[query_pos, key_pos]` of one sequence.
    public static func detectLongPrefix(pattern: Tensor, tokens: [Int], threshold: Float = 0.3, fuzzy: FuzzyTokens) -> Detection? {
        let n = tokens.count
        precondition(pattern.shape == [n, n], "pattern \(pattern.shape) does not match \(n) tokens")
        for t in 0..<n {
            for s in 1..<n where pattern[t, s] > threshold {
                var (tt, ss, len) = (t, s - 1, 0)
                while ss > 0 && fuzzy.matches(tokens[tt], tokens[ss]) {
                    tt -= 1; ss -= 1; len += 1
                }
                return Detection(destination: t, source: s, prefixLength: len)
            }
        }
        return nil
    }

    /// The corruption of §3.4d: the token at `source − 2` replaced by a uniformly random id in
    /// `0..<vocab` (Docs/Deviations.md #12: the reference's inclusive bound could produce an out-of-vocabulary id).
    public static func corruptPrefix(_ tokens: [Int], detection d: Detection, vocab: Int = 50257, python: inout CPythonRandom) -> [Int] {
        precondition(d.source >= 2, "a prefix of length ≥ 2 is needed")
        var out = tokens
        out[d.source - 2] = python.randint(0, vocab - 1)
        return out
    }
}
