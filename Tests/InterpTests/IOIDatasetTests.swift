// IOIDatasetTests: CPython's MT19937 bit for bit, and the clean IOI prompts for seed 1 exactly as
// CPython's `random` draws them (Scripts/reference/make_ioi_fixtures.py).

import Foundation
import Testing
import TensorTestSupport
@testable import Interp
import Tensor
import Transformer
import SparseAutoencoder

struct IOIFixture {
    let json: [String: Any]
    init() throws {
        json = try JSONSerialization.jsonObject(with: Data(contentsOf: fixturesDirectory().appendingPathComponent("ioi_seed1.json"))) as! [String: Any]
    }
}

@Suite struct CPythonRandomTests {
    @Test func mt19937OutputsMatchCPython() throws {
        let f = try IOIFixture()
        var r = CPythonRandom(seed: 1)
        #expect((0..<1000).map { _ in Int(r.nextUInt32()) } == f.json["mt_seed1"] as! [Int])
        var big = CPythonRandom(seed: 123_456_789_012_345)   // a two-word key
        #expect((0..<5).map { _ in Int(big.nextUInt32()) } == f.json["mt_seed_big"] as! [Int])
        var seven = CPythonRandom(seed: 7)   // random() compared by bit pattern
        #expect((0..<20).map { _ in seven.random().bitPattern } == (f.json["random_seed7"] as! [NSNumber]).map { $0.uint64Value })
    }
}

@Suite struct IOIDatasetTests {
    @Test func cleanPromptsForSeed1EqualCPython() throws {
        let f = try IOIFixture()
        #expect(IOIDataset.abbaTemplates == f.json["abba"] as! [String])
        let expected = f.json["prompts"] as! [[String: Any]]
        let ours = IOIDataset.generate(count: expected.count, seed: 1)
        for (p, e) in zip(ours, expected) {
            #expect(p.text == e["text"] as! String)
            #expect(p.io == e["IO"] as! String && p.s == e["S"] as! String)
            #expect(p.templateIndex == e["TEMPLATE_IDX"] as! Int && p.place == e["PLACE"] as! String && p.object == e["OBJECT"] as! String)
        }
    }

    @Test func tokenPositions() throws {
        let tok = try GPT2Tokenizer()
        let p = IOIPrompt(text: "Then, Jane and Victoria went to the store. Jane gave a snack to Victoria", io: "Victoria", s: "Jane",
                          templateIndex: 0, place: "store", object: "snack")
        let pos = try #require(IOIDataset.positions(p, tokenizer: tok))
        let toks = tok.stringTokens(tok.encode(p.text))
        #expect(toks[pos.io] == " Victoria" && toks[pos.s1] == " Jane" && toks[pos.s2] == " Jane" && pos.s2 > pos.s1)
        #expect(toks[pos.end] == " to" && toks[pos.and] == " and" && toks[pos.punct!] == ".")
        #expect(pos.template == "BABA")
        // Every generated prompt has valid positions and its template family agrees with the text.
        for q in IOIDataset.generate(count: 60, seed: 1) {
            let qp = try #require(IOIDataset.positions(q, tokenizer: tok), "\(q.text)")
            // Consistent positions: the family follows the IO/S1 order, S2 follows S1, the prediction follows S2.
            #expect((qp.template == "ABBA") == (qp.io < qp.s1) && qp.s2 > qp.s1 && qp.end > qp.s2)
        }
    }
}

@Suite struct CorruptedIOITests {
    @Test func abbToCddAndBabToDcd() throws {
        let clean = IOIDataset.generate(count: 40, seed: 1)
        let flipped = try IOIDataset.corrupted(clean, flip: "ABB->CDD, BAB->DCD", seed: 1)
        #expect(try flipped == IOIDataset.corrupted(clean, flip: "ABB->CDD, BAB->DCD", seed: 1))   // deterministic
        for (p, q) in zip(clean, flipped) {
            let f = q!
            let a = p.text.components(separatedBy: " "), b = f.text.components(separatedBy: " ")
            #expect(a.count == b.count && a.last == b.last)                  // the final IO word is kept
            #expect(![p.io, p.s].contains(f.io) && ![p.io, p.s].contains(f.s))
            let names = Set(IOIDataset.names)
            let newNames = b.filter { names.contains($0) }.prefix(3)
            #expect(Array(newNames) == (p.text.hasPrefix(p.io) || p.text.range(of: " \(p.io) ")!.lowerBound < p.text.range(of: " \(p.s) ")!.lowerBound
                                        ? [f.io, f.s, f.s] : [f.s, f.io, f.s]))
        }
    }

    /// A flip without a rule for a prompt's pattern, or a malformed rule, is an error — never a prompt
    /// returned unchanged as if it were corrupted.
    @Test func unknownOrMalformedFlipsAreErrors() throws {
        let clean = IOIDataset.generate(count: 40, seed: 1)
        #expect(Set(clean.map { $0.text.hasPrefix($0.io) || $0.text.range(of: " \($0.io) ")!.lowerBound < $0.text.range(of: " \($0.s) ")!.lowerBound }).count == 2)
        #expect { try IOIDataset.corrupted(clean, flip: "ABB->CDD") } throws: { "\($0)".contains("no rule for the pattern BAB") }
        for bad in ["ABB->CD", "ABB=>CDD, BAB->DCD", "ABB->CDD, ABB->DDC, BAB->DCD", "ABB->C1D"] {
            #expect(throws: InterpError.self, "\(bad)") { try IOIDataset.corrupted(clean, flip: bad) }
        }
    }
}
