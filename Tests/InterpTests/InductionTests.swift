// InductionTests: fuzzy variants, the induction proxy, synthetic sequences, detection and corruption.

import Foundation
import Testing
import TensorTestSupport
@testable import Interp
import Tensor
import Transformer
import SparseAutoencoder

@Suite(.serialized) struct InductionTests {
    static let tok = try! GPT2Tokenizer()
    static let fuzzy = FuzzyTokens(tokenizer: tok)

    @Test func fuzzyVariants() {
        let t = Self.tok, f = Self.fuzzy
        let board = t.singleToken("board")!, spaceBoard = t.singleToken(" board")!, cap = t.singleToken("Board")!
        #expect(f.withSpace[board] == spaceBoard && f.withoutSpace[spaceBoard] == board && f.capitalized[board] == cap)
        #expect(f.lowercased[cap] == board && f.withoutSpace[board] == board)
        #expect(f.matches(spaceBoard, board) && !f.matches(t.singleToken(" table")!, board))
    }

    @Test func proxyMarksTokensAfterWhichTheTargetFollowedBefore() {
        let t = Self.tok
        let ids = t.encode(" the board game and the board, The board")
        let board = t.singleToken(" board")!
        let proxy = Induction.proxy(tokens: ids, target: board, fuzzy: Self.fuzzy)
        let strs = t.stringTokens(ids)
        // " the" at its 2nd and 3rd occurrences ("The" fuzzily) predicts " board" by induction.
        let marked = zip(strs, proxy).enumerated().filter { $0.element.1 }.map { $0.offset }
        #expect(marked.map { strs[$0] } == [" the", " The"])
    }

    @Test func syntheticExamplesCopyThePrefix() {
        var py = CPythonRandom(seed: 0), rng = RandomStream(seed: 0)
        for p in [1, 4, 9] {
            for e in Induction.syntheticExamples(count: 20, prefixLength: p, python: &py, rng: &rng) {
                #expect(e.tokens.count == 128 && e.tokens[0] == 50256)
                #expect(Array(e.tokens[e.a1..<(e.a1 + p)]) == Array(e.tokens[e.a2..<(e.a2 + p)]))
                #expect(e.a1 >= 1 && e.a1 <= 98 && e.a2 > e.a1 + p && e.a2 + p <= 127)
                #expect(Set(e.tokens).count == 128 - p)
            }
        }
    }

    @Test func detectionAndCorruption() {
        // A sequence "A B C D ... A B C" where the last C attends to D (the token after the first C).
        let toks = [50256, 10, 11, 12, 13, 99, 10, 11, 12]
        var pattern = Tensor(zeros: [9, 9])
        for q in 0..<9 { pattern[q, 0] = 1 }
        pattern[8, 0] = 0.2; pattern[8, 4] = 0.8
        let d = Induction.detectLongPrefix(pattern: pattern, tokens: toks, fuzzy: Self.fuzzy)
        #expect(d == Induction.Detection(destination: 8, source: 4, prefixLength: 3))
        var py = CPythonRandom(seed: 0)
        let corrupted = Induction.corruptPrefix(toks, detection: d!, python: &py)
        #expect(corrupted[2] != 11 && corrupted[2] < 50257 && Array(corrupted[3...]) == Array(toks[3...]))
    }

    /// TransformerLens's induction score finds the planted model's induction heads (1.5 short, 1.1 long)
    /// and only them; layer 0 has none.
    @Test func headScoresFindThePlantedInductionHeads() throws {
        let model = GPT2(weights: PlantedCircuitModel.build().processed())
        let layer1 = try Induction.headScores(model: model, layer: 1, bos: GPT2Config.endOfText, length: 40, batch: 4)
        #expect(layer1[5] > 0.9 && layer1[1] > 0.9, "\(layer1)")
        #expect(layer1.indices.filter { layer1[$0] >= 0.4 } == [1, 5], "\(layer1)")
        let layer0 = try Induction.headScores(model: model, layer: 0, bos: GPT2Config.endOfText, length: 40, batch: 4)
        #expect(layer0.allSatisfy { $0 < 0.4 }, "\(layer0)")
    }
}
