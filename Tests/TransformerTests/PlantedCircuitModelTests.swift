// The planted-circuit model: its planted heads do their jobs, measured on random-token sequences, and
// the scales of the construction are what its derivation says.

import Foundation
import Testing
import TensorTestSupport
@testable import Transformer
import Tensor

@Suite struct PlantedCircuitModelTests {
    static let weights = PlantedCircuitModel.build()
    static let roles = PlantedCircuitModel.Roles.standard
    typealias Pair = (dest: Int, src: Int)

    /// BOS, then `n` random tokens (never BOS).
    static func randomRow(_ n: Int, _ rng: inout RandomStream) -> [Int] {
        [GPT2Config.endOfText] + (0..<n).map { _ in rng.nextInt(below: GPT2Config.endOfText) }
    }

    /// One cached run of `rows` keeping the layers' attention patterns and scores.
    static func run(_ rows: [[Int]]) throws -> ActivationCache {
        try GPT2(weights: weights).runWithCache(IndexTensor(shape: [rows.count, rows[0].count], values: rows.flatMap { $0 }),
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
    static func prefixRows(prefix: Int, _ rng: inout RandomStream) -> ([[Int]], [[Pair]]) {
        var rows: [[Int]] = [], pairs: [[Pair]] = []
        for _ in 0..<8 {
            var r = randomRow(127, &rng)
            var ps: [Pair] = []
            for e in 0..<8 {
                let j = 6 + e * 7, p = 70 + e * 7
                for back in 0..<prefix { r[p - back] = r[j - back] }
                if r[p - prefix] == r[j - prefix] { r[p - prefix] = (r[j - prefix] + 1) % GPT2Config.endOfText }
                ps.append((p, j + 1))
            }
            rows.append(r); pairs.append(ps)
        }
        return (rows, pairs)
    }

    @Test func previousTokenHeadsAttendOneAndTwoBack() throws {
        var rng = RandomStream(seed: 1)
        let rows = (0..<8).map { _ in Self.randomRow(127, &rng) }
        let cache = try Self.run(rows)
        let prev = Self.mean(cache, .pattern(0), Self.roles.previousToken, rows.map { _ in (2..<128).map { ($0, $0 - 1) } })
        let two = Self.mean(cache, .pattern(0), Self.roles.twoBack, rows.map { _ in (3..<128).map { ($0, $0 - 2) } })
        print("planted: previous-token head \(prev), two-back head \(two)")
        #expect(prev >= 0.9 && two >= 0.9, "previous-token \(prev), two-back \(two)")
    }

    @Test func shortAndLongPrefixInductionHeads() throws {
        var rng = RandomStream(seed: 2)
        var measured: [Int: (short: Float, long: Float)] = [:]
        for prefix in [1, 2, 3, 5] {
            let (rows, pairs) = Self.prefixRows(prefix: prefix, &rng)
            let cache = try Self.run(rows)
            measured[prefix] = (Self.mean(cache, .pattern(1), Self.roles.shortInduction, pairs),
                                Self.mean(cache, .pattern(1), Self.roles.longInduction, pairs))
        }
        print("planted: attention to the induction source by prefix length (short, long): \(measured.sorted { $0.key < $1.key })")
        #expect(measured[1]!.short >= 0.8, "short-prefix head at prefix 1: \(measured[1]!.short)")
        #expect(measured[1]!.long <= 0.3, "long-prefix head at prefix 1: \(measured[1]!.long)")
        for prefix in [3, 5] { #expect(measured[prefix]!.long >= 0.7, "long-prefix head at prefix \(prefix): \(measured[prefix]!.long)") }
        for prefix in [2, 3, 5] { #expect(measured[prefix]!.short >= 0.8, "short-prefix head at prefix \(prefix): \(measured[prefix]!.short)") }
    }

    @Test func inductionHeadsRestOnBOSWithoutAMatch() throws {
        var rng = RandomStream(seed: 3)
        let rows = (0..<8).map { _ in Self.randomRow(127, &rng) }     // repeats are rare among 50256 tokens
        let cache = try Self.run(rows)
        let toBOS = rows.map { _ in (1..<128).map { ($0, 0) } }
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

    @Test func secondCopyOfARepeatedSequenceIsPredicted() throws {
        var rng = RandomStream(seed: 5)
        let rows = (0..<4).map { _ -> [Int] in let r = Self.randomRow(60, &rng); return r + Array(r.dropFirst()) }
        let loss = try GPT2(weights: Self.weights).lossPerToken(IndexTensor(shape: [rows.count, 121], values: rows.flatMap { $0 }))
        // Position i predicts token i+1: 1..<60 predict the first copy, 61..<120 the second.
        let first = loss.sliced(axis: 1, 1..<60).mean(), second = loss.sliced(axis: 1, 61..<120).mean()
        print("planted: loss on the first copy \(first), on the second \(second)")
        #expect(first > 10 && second < 0.1, "loss on the first copy \(first), on the second \(second)")
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
