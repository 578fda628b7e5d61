// PlantedTraceTests: the trace finds the planted induction circuit — on `… A B … A`, a feature that copies
// B at the second A traces to the induction head and the first B (DFA), to B's token embedding there (the
// information moved), and on the QK side to A's token at the query and the previous-token head's output at
// the key — on the GPT-2-vocabulary planted model and on its NeoX-vocabulary shortformer variant.

import Foundation
import Testing
import TensorTestSupport
@testable import Interp
import Tensor
import Transformer
import SparseAutoencoder

/// One planted model variant, built once per test process.
struct PlantedTraceVariant: Sendable {
    let name: String
    let model: GPT2
    let bos: Int
    static let gpt2 = PlantedTraceVariant(name: "GPT-2 vocabulary", model: GPT2(weights: PlantedCircuitModel.build().processed()), bos: 50256)
    static let neoxShortformer: PlantedTraceVariant = {
        var s = PlantedCircuitModel.Settings()
        let path = fixturesDirectory(ofTarget: "TransformerTests").appendingPathComponent("tokenizer-json/neox_style.json").path
        s.vocabulary = PlantedCircuitModel.Vocabulary(tokenizer: try! GPT2Tokenizer(tokenizerJSON: path))
        s.positions = .shortformer
        return PlantedTraceVariant(name: "NeoX shortformer", model: GPT2(weights: PlantedCircuitModel.build(s).processed()), bos: s.vocabulary.bos)
    }()
}

/// An attention SAE on layer 1 of the planted model whose feature 0 reads "the short-prefix induction head
/// copies token `b`": its encoder and decoder columns are head 1.5's `hook_z` when it copies `b`
/// (normalised), on that head's slice only; features 1…3 are random directions. Built from a run, not
/// from the construction's internals.
func copyFeatureSAE(_ model: GPT2, copying b: Int, bos: Int, filler: [Int]) throws -> AttentionSAE {
    let c = model.config, dh = c.dHead, width = c.nHeads * dh
    let roles = PlantedCircuitModel.Roles.standard
    let head = roles.shortInduction.head
    let a = filler[0]
    let z = try model.run(IndexTensor(shape: [1, 5], values: [bos, a, b, filler[1], a]), cache: [.z(1)]).cache[.z(1)]!
    let copy = z.reshaped([5, c.nHeads, dh]).selecting(axis: 0, 4).selecting(axis: 0, head)      // [d_head]
    let unit = copy / copy.l2Norm(axis: 0).scalar
    var rng = RandomStream(seed: 5)
    var decoder = Tensor.randomNormal([4, width], std: 1, using: &rng)
    decoder = decoder / decoder.l2Norm(axis: 1, keepingAxis: true)
    var rows = decoder.scalars
    for i in 0..<width { rows[i] = 0 }
    for d in 0..<dh { rows[head * dh + d] = unit[d] }
    let wDec = Tensor(shape: [4, width], scalars: rows)
    let sae = SAE(config: SAEConfig(dIn: width, dSAE: 4, hookName: "blocks.1.attn.hook_z"), wEnc: wDec.transposed(0, 1).contiguous(),
                  bEnc: Tensor([-0.3, -0.5, -0.5, -0.5]), wDec: wDec, bDec: Tensor(zeros: [width]))
    return try AttentionSAE(sae, model: c)
}

@Suite(.serialized) struct PlantedTraceTests {
    @Test(arguments: ["GPT-2 vocabulary", "NeoX shortformer"])
    func traceFindsThePlantedInductionCircuit(_ which: String) throws {
        let v = which == "GPT-2 vocabulary" ? PlantedTraceVariant.gpt2 : PlantedTraceVariant.neoxShortformer
        let roles = PlantedCircuitModel.Roles.standard
        let (prevHead, inductionHead) = (roles.previousToken.head, roles.shortInduction.head)
        // BOS x1 x2 A B x3 x4 x5 x6 x7 A: the token before the second A (x7) differs from the one before the
        // first (x2), so only the short-prefix head copies B.
        var rng = RandomStream(seed: 17)
        var ids: [Int] = []
        while ids.count < 10 {
            let t = 100 + rng.nextInt(below: min(v.model.config.dVocab, 2900) - 100)
            if !ids.contains(t) && t != v.bos { ids.append(t) }
        }
        let (a, b) = (ids[0], ids[1])
        let tokens = [v.bos, ids[2], ids[3], a, b, ids[4], ids[5], ids[6], ids[7], ids[8], a]
        let (t, sourceB, firstA) = (10, 4, 3)
        let sae = try copyFeatureSAE(v.model, copying: b, bos: v.bos, filler: [ids[9], ids[2]])
        let run = try CircuitTracer(model: v.model, attentionSAEs: [sae]).run(tokens)
        let root = TraceNode.attentionFeature(layer: 1, position: t, feature: 0)
        let value = try #require(try run.activation(of: root))
        #expect(value > 0.3, "\(v.name): the copy feature fires at the second A (\(value))")
        #expect(run.activeAttention[1]![t].first?.feature == 0)

        // (a) + (b): the largest term is B's token embedding at the first B, through the induction head.
        let terms = try run.terms(of: root).sorted { abs($0.value) > abs($1.value) }
        let top = terms[0]
        #expect(top.source == .tokenEmbedding(position: sourceB, token: b), "\(v.name): top term \(top.source)")
        let heads = try #require(top.heads)
        // Shares of the input-dependent part (the value less the constants: here the SAE's encoder bias).
        let inputTerms = terms.filter { if case .bias = $0.source { false } else { true } }
        let inputPart = inputTerms.reduce(Float(0)) { $0 + $1.value }
        let share = top.value / inputPart
        let headShare = heads[inductionHead] / top.value
        let runnerUp = abs(inputTerms[1].value) / abs(top.value)
        print("\(v.name): value \(value); top term \(top.source) share \(share) of the input part, head \(inductionHead) carries \(headShare); runner-up \(inputTerms[1].source) at \(runnerUp) of the top")
        #expect(share >= 0.9, "\(v.name): B's embedding explains \(share) of the feature")
        #expect(headShare >= 0.95, "\(v.name): head 1.\(inductionHead) carries \(headShare) of that term")
        #expect(runnerUp <= 0.2, "\(v.name): the runner-up term is \(runnerUp) of the top")
        // The trace keeps it and QK-attributes its edge.
        let graph = try run.trace([root], options: TraceOptions(depth: 2, maxChildren: 5, threshold: 0.05, qkEdges: 1, qkPairs: 5))
        let link = try #require(graph.incoming(root).first)
        #expect(link.source == top.source && link.strongestHead == inductionHead)
        let qk = try #require(graph.qk.first)
        #expect(qk.layer == 1 && qk.head == inductionHead && qk.destination == t && qk.source == sourceB)

        // (c) the pair that made the head attend: A's token at the query, the previous-token head's output
        // (carrying A, written at B's position) at the key.
        let pair = qk.pairs[0]
        #expect(pair.query == .tokenEmbedding(position: t, token: a), "\(v.name): top query component \(pair.query)")
        #expect(pair.key == .head(layer: 0, position: sourceB, head: prevHead), "\(v.name): top key component \(pair.key)")
        let pairShare = pair.value / qk.score
        let pairRunnerUp = abs(qk.pairs[1].value) / abs(pair.value)
        print("\(v.name): score \(qk.score), pattern \(qk.pattern); top pair \(pair.query) × \(pair.key) = \(pair.value) (\(pairShare) of the score); runner-up pair at \(pairRunnerUp)")
        #expect(pairShare >= 0.8 && pairRunnerUp <= 0.3)
        #expect(qk.pattern >= 0.9)
        // The key at the first A (not preceded by A) scores far lower: the competitor the pattern beat.
        let competitor = try #require(qk.competitors.first { $0.source == firstA })
        #expect(competitor.score < qk.score - 10)
        expectExactScore(qk)
    }
}
