// The planted-circuit model: its planted heads do their jobs, measured on random-token sequences, and
// the scales of the construction are what its derivation says.

import Foundation
import Testing
import TensorTestSupport
@testable import Transformer
import Tensor

/// A planted model and its vocabulary: GPT-2's (the default model), or the NeoX-style fixture
/// tokenizer's with shortformer positions (a GELU-2L-like planted model).
struct PlantedVariant: Sendable {
    let weights: GPT2Weights
    let vocabulary: PlantedCircuitModel.Vocabulary

    static let gpt2 = PlantedVariant(weights: PlantedCircuitModel.build(), vocabulary: .gpt2)
    static let neoxShortformer: PlantedVariant = {
        var s = PlantedCircuitModel.Settings()
        s.vocabulary = PlantedCircuitModel.Vocabulary(tokenizer: try! GPT2Tokenizer(tokenizerJSON: fixture("tokenizer-json/neox_style.json")))
        s.positions = .shortformer
        return PlantedVariant(weights: PlantedCircuitModel.build(s), vocabulary: s.vocabulary)
    }()
    static func named(_ name: String) -> PlantedVariant { name == "gpt2" ? gpt2 : neoxShortformer }
    static let names = ["gpt2", "neox-shortformer"]
}

@Suite struct PlantedCircuitModelTests {
    static let weights = PlantedVariant.gpt2.weights
    static let roles = PlantedCircuitModel.Roles.standard
    typealias Pair = (dest: Int, src: Int)

    /// BOS, then `n` random tokens (never BOS).
    static func randomRow(_ n: Int, _ rng: inout RandomStream, _ v: PlantedVariant = .gpt2) -> [Int] {
        [v.vocabulary.bos] + (0..<n).map { _ in
            var t = rng.nextInt(below: v.vocabulary.size - 1)
            if t >= v.vocabulary.bos { t += 1 }
            return t
        }
    }

    /// One cached run of `rows` keeping the layers' attention patterns and scores.
    static func run(_ rows: [[Int]], _ v: PlantedVariant = .gpt2) throws -> ActivationCache {
        try GPT2(weights: v.weights).runWithCache(IndexTensor(shape: [rows.count, rows[0].count], values: rows.flatMap { $0 }),
                                                  names: [.pattern(0), .pattern(1), .attnScores(1)])
    }

    /// Mean over rows and pairs of `hook`'s value for `head` at (dest, src).
    static func mean(_ cache: ActivationCache, _ hook: HookName, _ head: PlantedCircuitModel.Head, _ pairs: [[Pair]]) -> Float {
        let t = cache[hook]!
        let values = pairs.enumerated().flatMap { b, ps in ps.map { t[b, head.head, $0.dest, $0.src] } }
        return values.reduce(0, +) / Float(values.count)
    }

    /// Rows with planted earlier occurrences: at 8 destinations p the token equals the one at j, and the
    /// `prefix − 1` tokens before p equal those before j (the token before that differs).
    static func prefixRows(prefix: Int, _ rng: inout RandomStream, _ v: PlantedVariant = .gpt2) -> ([[Int]], [[Pair]]) {
        var rows: [[Int]] = [], pairs: [[Pair]] = []
        for _ in 0..<8 {
            var r = randomRow(127, &rng, v)
            var ps: [Pair] = []
            for e in 0..<8 {
                let j = 6 + e * 7, p = 70 + e * 7
                for back in 0..<prefix { r[p - back] = r[j - back] }
                if r[p - prefix] == r[j - prefix] {
                    r[p - prefix] = (r[j - prefix] + 1) % v.vocabulary.size
                    if r[p - prefix] == v.vocabulary.bos { r[p - prefix] = (r[p - prefix] + 1) % v.vocabulary.size }
                }
                ps.append((p, j + 1))
            }
            rows.append(r); pairs.append(ps)
        }
        return (rows, pairs)
    }

    /// GPT-2's tokenizer gives the default model's vocabulary exactly (the common tokens are its ids of
    /// the common strings), so the tokenizer-made vocabulary is the same construction.
    @Test func gpt2TokenizerGivesTheDefaultVocabulary() throws {
        guard let tokenizer = try? GPT2Tokenizer(directory: GPT2Tokenizer.defaultDirectory) else {
            Issue.record("GPT-2 tokenizer files missing at \(GPT2Tokenizer.defaultDirectory); run Scripts/setup"); return
        }
        #expect(PlantedCircuitModel.Vocabulary(tokenizer: tokenizer) == .gpt2)
        let neox = PlantedVariant.neoxShortformer
        #expect(neox.vocabulary.size == 3000 && neox.vocabulary.bos == 0)
        #expect(neox.vocabulary.commonTokens.count >= 50)     // 55 of the 56 strings are one NeoX token
        #expect(neox.weights.config.positionalEmbedding == .shortformer && neox.weights.config.dVocab == 3000)
    }

    /// Reserved code dimensions: the first R common tokens' unembedding columns are orthogonal to every
    /// other token's (the unembedding reads OUT against the codes, so ⟨W_U[:, a], W_U[:, b]⟩ ∝ ⟨c_a, c_b⟩).
    @Test func reservedDimensionsSeparateTheCommonestTokens() throws {
        var s = PlantedCircuitModel.Settings()
        s.vocabulary = PlantedCircuitModel.Vocabulary(size: 400, bos: 0, commonTokens: Array(1...60), reservedDims: 8)
        s.nCtx = 16
        // Columns of W_U [d_model, d_vocab], as rows of its transpose.
        func columns(_ w: GPT2Weights) -> (Int, Int) -> Float {
            let t = w.wU.transposed().contiguous().scalars, dm = w.config.dModel
            return { a, b in (0..<dm).reduce(Float(0)) { $0 + t[a * dm + $1] * t[b * dm + $1] } }
        }
        let dot = columns(PlantedCircuitModel.build(s))
        let norm = dot(1, 1)
        for a in 1...8 {
            for b in [2, 9, 30, 61, 200, 399] where b != a { #expect(Swift.abs(dot(a, b)) <= 1e-6 * norm, "tokens \(a), \(b)") }
        }
        // Without reserved dimensions a rare token's code overlaps the common ones (about 1/√C each).
        s.vocabulary.reservedDims = 0
        let plain = columns(PlantedCircuitModel.build(s))
        let overlap = (200..<260).map { plain(1, $0) }
        #expect(overlap.map { Swift.abs($0) }.max()! > 0.05 * norm)
    }

    @Test(arguments: PlantedVariant.names)
    func previousTokenHeadsAttendOneAndTwoBack(_ variant: String) throws {
        let v = PlantedVariant.named(variant)
        var rng = RandomStream(seed: 1)
        let rows = (0..<8).map { _ in Self.randomRow(127, &rng, v) }
        let cache = try Self.run(rows, v)
        let prev = Self.mean(cache, .pattern(0), Self.roles.previousToken, rows.map { _ in (2..<128).map { ($0, $0 - 1) } })
        let two = Self.mean(cache, .pattern(0), Self.roles.twoBack, rows.map { _ in (3..<128).map { ($0, $0 - 2) } })
        print("planted (\(variant)): previous-token head \(prev), two-back head \(two)")
        #expect(prev >= 0.9 && two >= 0.9, "previous-token \(prev), two-back \(two)")
    }

    @Test(arguments: PlantedVariant.names)
    func shortAndLongPrefixInductionHeads(_ variant: String) throws {
        let v = PlantedVariant.named(variant)
        var rng = RandomStream(seed: 2)
        var measured: [Int: (short: Float, long: Float)] = [:]
        for prefix in [1, 2, 3, 5] {
            let (rows, pairs) = Self.prefixRows(prefix: prefix, &rng, v)
            let cache = try Self.run(rows, v)
            measured[prefix] = (Self.mean(cache, .pattern(1), Self.roles.shortInduction, pairs),
                                Self.mean(cache, .pattern(1), Self.roles.longInduction, pairs))
        }
        print("planted (\(variant)): attention to the induction source by prefix length (short, long): \(measured.sorted { $0.key < $1.key })")
        #expect(measured[1]!.short >= 0.8, "short-prefix head at prefix 1: \(measured[1]!.short)")
        #expect(measured[1]!.long <= 0.3, "long-prefix head at prefix 1: \(measured[1]!.long)")
        for prefix in [3, 5] { #expect(measured[prefix]!.long >= 0.7, "long-prefix head at prefix \(prefix): \(measured[prefix]!.long)") }
        for prefix in [2, 3, 5] { #expect(measured[prefix]!.short >= 0.8, "short-prefix head at prefix \(prefix): \(measured[prefix]!.short)") }
    }

    @Test(arguments: PlantedVariant.names)
    func inductionHeadsRestOnBOSWithoutAMatch(_ variant: String) throws {
        let v = PlantedVariant.named(variant)
        var rng = RandomStream(seed: 3)
        let rows = (0..<8).map { _ in Self.randomRow(127, &rng, v) }
        let cache = try Self.run(rows, v)
        // Only destinations whose token has not occurred earlier in the row (no match to attend to):
        // among 50256 tokens that is almost every position, among 3000 most of them.
        let toBOS = rows.map { r in (1..<128).filter { p in !r[1..<p].contains(r[p]) }.map { ($0, 0) } }
        for head in [Self.roles.shortInduction, Self.roles.longInduction] {
            let a = Self.mean(cache, .pattern(1), head, toBOS)
            #expect(a >= 0.9, "head \(head) attention to BOS without a match: \(a)")
        }
    }

    /// The derivation's numbers: a code match scores α, BOS scores λα, a non-match has standard
    /// deviation about α/√C (short head; the long head's non-match has two such terms).
    @Test func scoresFollowTheDerivation() throws {
        var rng = RandomStream(seed: 4)
        let (rows, pairs) = Self.prefixRows(prefix: 1, &rng)
        let cache = try Self.run(rows)
        let s = PlantedCircuitModel.Settings()
        let (alpha, lambda) = (s.shortInductionStrength, s.shortSink)
        let scores = cache[.attnScores(1)]!
        let h = Self.roles.shortInduction.head
        let match = Self.mean(cache, .attnScores(1), Self.roles.shortInduction, pairs)
        let bos = Self.mean(cache, .attnScores(1), Self.roles.shortInduction, rows.map { _ in (1..<128).map { ($0, 0) } })
        var others: [Float] = []
        for b in 0..<rows.count { for d in stride(from: 10, to: 128, by: 9) { for src in 1..<d where rows[b][src - 1] != rows[b][d] { others.append(scores[b, h, d, src]) } } }
        let m = others.reduce(0, +) / Float(others.count)
        let sd = (others.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Float(others.count)).squareRoot()
        #expect(Swift.abs(match / alpha - 1) < 0.1, "match score \(match), α = \(alpha)")
        #expect(Swift.abs(bos / (lambda * alpha) - 1) < 0.1, "BOS score \(bos), λα = \(lambda * alpha)")
        let expected = alpha / Float(s.codeDims).squareRoot()
        #expect(Swift.abs(m) < 0.2 * expected && Swift.abs(sd / expected - 1) < 0.2, "non-match mean \(m), sd \(sd), α/√C = \(expected)")
    }

    @Test(arguments: PlantedVariant.names)
    func secondCopyOfARepeatedSequenceIsPredicted(_ variant: String) throws {
        let v = PlantedVariant.named(variant)
        var rng = RandomStream(seed: 5)
        let rows = (0..<4).map { _ -> [Int] in let r = Self.randomRow(60, &rng, v); return r + Array(r.dropFirst()) }
        let loss = try GPT2(weights: v.weights).lossPerToken(IndexTensor(shape: [rows.count, 121], values: rows.flatMap { $0 }))
        // Position i predicts token i+1: 1..<60 predict the first copy, 61..<120 the second.
        let first = loss.sliced(axis: 1, 1..<60).mean(), second = loss.sliced(axis: 1, 61..<120).mean()
        print("planted (\(variant)): loss on the first copy \(first), on the second \(second)")
        #expect(first > 0.9 * log(Float(v.vocabulary.size)) && second < 0.1, "loss on the first copy \(first), on the second \(second)")
    }

    @Test func writtenInOurLayoutWithRolesAndReloaded() throws {
        let dir = temporaryDirectory().path
        let path = dir + "/planted.h5"
        let loaded = try PlantedCircuitModel.loadOrBuild(at: path)          // builds and writes
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(loaded == Self.weights)
        #expect(try GPT2Weights.load(hdf5: path) == Self.weights)
        #expect(try PlantedCircuitModel.Roles(hdf5: path) == Self.roles)
        #expect(try PlantedCircuitModel.loadOrBuild(at: path) == Self.weights)   // reads the file
        // A file of another seed is refused with a clear error rather than silently used.
        var other = PlantedCircuitModel.Settings()
        other.seed = 9
        #expect(throws: TransformerError.self) { try PlantedCircuitModel.loadOrBuild(other, at: path) }
        // A model file without roles reads as "not a planted model".
        try Self.weights.writeHDF5(to: dir + "/plain.h5")
        #expect(try PlantedCircuitModel.Roles(hdf5: dir + "/plain.h5") == nil)
    }

    @Test func processingKeepsThePlantedBehaviour() throws {
        var rng = RandomStream(seed: 6)
        let rows = (0..<2).map { _ -> [Int] in let r = Self.randomRow(40, &rng); return r + Array(r.dropFirst()) }
        let tokens = IndexTensor(shape: [2, 81], values: rows.flatMap { $0 })
        let names: Set<HookName> = [.pattern(0), .pattern(1), .z(1)]
        let plain = try GPT2(weights: Self.weights).runWithCache(tokens, names: names)
        let processed = try GPT2(weights: Self.weights.processed(.transformerLensDefault)).runWithCache(tokens, names: names)
        for n in names { expectClose(processed[n]!, plain[n]!, atol: 1e-4, rtol: 1e-3) }
        #expect(try GPT2(weights: Self.weights.processed(.transformerLensDefault)).loss(tokens) - GPT2(weights: Self.weights).loss(tokens) < 1e-3)
    }
}
