// TraceTests: recursive DFA and QK attribution — every node's terms and every score's pairs sum to the
// value itself, on processed and unprocessed, standard and shortformer models, with and without
// residual SAEs; typed errors for requests outside the run.

import Foundation
import Testing
import TensorTestSupport
@testable import Interp
import Tensor
import Transformer
import SparseAutoencoder

/// A random SAE on `hook` with biases that make about half its features fire.
func randomSAE(dIn: Int, dSAE: Int, hook: String, seed: UInt64) -> SAE {
    var sae = SAETrainer.initialSAE(SAEConfig(dIn: dIn, dSAE: dSAE, hookName: hook), seed: seed)
    var rng = RandomStream(seed: seed &+ 7)
    sae.bEnc = Tensor.randomNormal([dSAE], std: 0.05, using: &rng)
    sae.bDec = Tensor.randomNormal([dIn], std: 0.1, using: &rng)
    return sae
}

/// A tracer on `model` with random attention SAEs on `attentionLayers` and residual SAEs on `residualLayers`.
func randomTracer(_ model: GPT2, attentionLayers: [Int], residualLayers: [Int], dSAE: Int = 96) throws -> CircuitTracer {
    let c = model.config
    return try CircuitTracer(
        model: model,
        attentionSAEs: try attentionLayers.map { try AttentionSAE(randomSAE(dIn: c.nHeads * c.dHead, dSAE: dSAE, hook: "blocks.\($0).attn.hook_z", seed: UInt64(10 + $0)), model: c) },
        residualSAEs: try residualLayers.map { try ResidualSAE(randomSAE(dIn: c.dModel, dSAE: dSAE, hook: "blocks.\($0).hook_resid_pre", seed: UInt64(20 + $0)), model: c) })
}

/// Checks that the terms of `node` sum to its value, and each term's head split to the term, to float rounding.
func expectExactSplit(_ run: PromptTrace, _ node: TraceNode, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let value = Double(try #require(try run.value(of: node)))
    let terms = try run.terms(of: node)
    let sum = terms.reduce(0.0) { $0 + Double($1.value) }
    let magnitude = terms.reduce(0.0) { $0 + abs(Double($1.value)) }
    #expect(abs(sum - value) <= 2e-5 * magnitude + 1e-5, "\(node): terms sum to \(sum), value \(value) (Σ|terms| \(magnitude))", sourceLocation: sourceLocation)
    for t in terms {
        if let h = t.heads {
            let s = h.reduce(0.0) { $0 + Double($1) }
            #expect(abs(s - Double(t.value)) <= 1e-5 * (h.reduce(0.0) { $0 + abs(Double($1)) }) + 1e-6, "\(node) ← \(t.source): heads", sourceLocation: sourceLocation)
        }
    }
    #expect(Set(terms.map(\.source)).count == terms.count, "\(node): a source appears twice", sourceLocation: sourceLocation)
}

/// Checks that every pair of a QK attribution (with all pairs kept) sums to the score from the run.
func expectExactScore(_ qk: QKAttribution, sourceLocation: SourceLocation = #_sourceLocation) {
    let sum = Double(qk.otherPairs) + qk.pairs.reduce(0.0) { $0 + Double($1.value) }
    let q = qk.queryTerms.reduce(0.0) { $0 + Double($1.value) }, k = qk.keyTerms.reduce(0.0) { $0 + Double($1.value) }
    let magnitude = qk.queryTerms.reduce(0.0) { $0 + abs(Double($1.value)) } + qk.keyTerms.reduce(0.0) { $0 + abs(Double($1.value)) }
    let tol = 2e-5 * magnitude + 1e-5
    #expect(abs(sum - Double(qk.score)) <= tol, "L\(qk.layer) H\(qk.head) \(qk.destination)←\(qk.source): pairs \(sum), score \(qk.score)", sourceLocation: sourceLocation)
    #expect(abs(q - Double(qk.score)) <= tol && abs(k - Double(qk.score)) <= tol, "marginals \(q), \(k), score \(qk.score)", sourceLocation: sourceLocation)
}

/// The TransformerLens-checkpoint fixture models (unfolded layer norms, value biases, shortformer positions).
func checkpointModel(_ name: String, processed: Bool) throws -> GPT2 {
    let path = fixturesDirectory(ofTarget: "TransformerTests").appendingPathComponent("tl-checkpoint/\(name)/model_final.pth").path
    let w = try GPT2Weights.load(transformerLensCheckpoint: path)
    return GPT2(weights: processed ? w.processed() : w)
}

@Suite struct TraceTests {
    /// Every feature a deep trace reaches, on several models and SAE layouts: its terms sum to its value,
    /// and the value is the SAE's own pre-activation (its activation where it fires); every QK split sums to the score.
    @Test(arguments: [
        ("tiny processed", [0, 1], [0, 1]), ("tiny processed", [1], []), ("tiny processed", [0, 1], [1]),
        ("standard unprocessed", [0, 1], [0, 1]), ("shortformer unprocessed", [0, 1], [0, 1]),
        ("shortformer processed", [1], [1]), ("attn-only processed", [0, 1], [1]),
    ])
    func everyNodeSplitsExactly(_ which: String, _ attentionLayers: [Int], _ residualLayers: [Int]) throws {
        let model: GPT2
        let tokens: [Int]
        if which.hasPrefix("tiny") {
            model = try tinyModel()
            tokens = [95, 3, 17, 42, 3, 17, 42, 8, 60, 1, 3, 17]
        } else {
            let parts = which.split(separator: " ")
            model = try checkpointModel(String(parts[0]), processed: parts[1] == "processed")
            tokens = [0, 412, 17, 299, 5, 412, 17, 299, 5, 88, 7, 7].map { $0 % model.config.dVocab }
        }
        let tracer = try randomTracer(model, attentionLayers: attentionLayers, residualLayers: residualLayers)
        let run = try tracer.run(tokens)
        // The run's encodings are the SAEs' own on the model's hooks.
        let c = model.config
        let cache = try model.run(IndexTensor(shape: [1, tokens.count], values: tokens), cache: [.z(1), .residPre(1)]).cache
        if let a = tracer.attention[1] {
            let acts = a.sae.encode(SAE.flattenHeads(cache[.z(1)]!).reshaped([tokens.count, c.nHeads * c.dHead]))
            for (p, row) in run.activeAttention[1]!.enumerated() {
                for (f, v) in row {
                    #expect(abs(acts[p, f] - v) <= 1e-5 * max(1, abs(v)))
                    #expect(abs(try run.value(of: .attentionFeature(layer: 1, position: p, feature: f))! - v) <= 2e-5 * max(1, abs(v)))
                }
            }
        }
        let roots = run.strongestAttentionFeatures(at: tokens.count - 1, count: 3).map(\.node)
            + run.strongestAttentionFeatures(at: 5, count: 2).map(\.node)
        #expect(!roots.isEmpty)
        let graph = try run.trace(roots, options: TraceOptions(depth: 3, maxChildren: 4, threshold: 0, qkEdges: 4, qkPairs: 5))
        let features = graph.nodes.filter { $0.node.isExpandable }
        // Through a residual SAE, an attention feature's terms are that SAE's features, error and b_dec only.
        for r in roots where residualLayers.contains(r.layer!) {
            let kinds = try run.terms(of: r).map(\.source)
            #expect(kinds.contains { if case .residualFeature(r.layer!, _, _) = $0 { true } else { false } })
            #expect(kinds.allSatisfy {
                switch $0 {
                case .residualFeature, .residualError, .bias(.residualDecoder, _, _), .bias(.value, _, _), .bias(.attentionEncoder, _, _): true
                default: false
                }
            })
        }
        for n in features { try expectExactSplit(run, n.node) }
        // Beyond the trace: the strongest features of every SAE at two positions.
        for p in [5, tokens.count - 1] {
            for (l, rows) in run.activeAttention { for f in rows[p].prefix(6) { try expectExactSplit(run, .attentionFeature(layer: l, position: p, feature: f.feature)) } }
            for (l, rows) in run.activeResidual { for f in rows[p].prefix(6) { try expectExactSplit(run, .residualFeature(layer: l, position: p, feature: f.feature)) } }
        }
        #expect(!graph.qk.isEmpty)
        for qk in graph.qk { expectExactScore(qk) }
        // Every head and source of the last layer, whatever the pattern.
        let t = tokens.count - 1
        for h in 0..<c.nHeads {
            for s in [0, t / 2, t] { expectExactScore(try run.qkAttribution(layer: c.nLayers - 1, head: h, destination: t, source: s, maxPairs: 3)) }
        }
    }

    /// With no SAE on a layer, attention terms come from its heads; the split stays exact, and a trace's
    /// links into each node plus the node's unexplained part give its value.
    @Test func graphLinksAccountForEveryValue() throws {
        let model = try tinyModel()
        let tracer = try randomTracer(model, attentionLayers: [1], residualLayers: [])
        let tokens = [95, 3, 17, 42, 3, 17, 42, 8, 60, 1, 3, 17]
        let run = try tracer.run(tokens)
        let root = try #require(run.strongestAttentionFeatures(at: 11, count: 1).first).node
        let terms = try run.terms(of: root)
        #expect(terms.contains { if case .head(0, _, _) = $0.source { true } else { false } })
        #expect(!terms.contains { if case .attentionFeature = $0.source { true } else { false } })
        let graph = try run.trace([root], options: TraceOptions(depth: 1, maxChildren: 5, threshold: 0.01))
        let record = try #require(graph.record(root))
        let incoming = graph.incoming(root).reduce(Float(0)) { $0 + $1.weight }
        #expect(abs(incoming + record.unexplained! - record.value!) <= 1e-5 * max(1, abs(record.value!)))
        #expect(graph.incoming(root).count <= 5 && record.influence == 1)
        // A root named twice is traced once.
        let twice = try run.trace([root, root], options: TraceOptions(depth: 1, maxChildren: 5, threshold: 0.01))
        #expect(twice.roots == [root] && twice.links.count == graph.links.count)
        for link in graph.incoming(root) { #expect(abs(graph.record(link.source)!.influence - link.weight / record.value!) <= 1e-6) }
    }

    /// A graph grown by hand (``PromptTrace/trace(_:expanding:options:)``) expanding exactly the nodes a depth-limited
    /// trace expanded is that trace; expanding nothing keeps only the root's links; unreachable names are reported.
    @Test func graphGrownByHandIsTheDepthTraceOfTheSameNodes() throws {
        let model = try tinyModel()
        let tracer = try randomTracer(model, attentionLayers: [0, 1], residualLayers: [1])
        let run = try tracer.run([95, 3, 17, 42, 3, 17, 42, 8, 60, 1, 3, 17])
        let root = try #require(run.strongestAttentionFeatures(at: 11, count: 8).first { $0.node.layer == 1 }).node
        let options = TraceOptions(depth: 3, maxChildren: 4, threshold: 0, featuresOnly: true)
        let deep = try run.trace([root], options: options)
        let inner = Set(deep.nodes.filter { $0.expanded && $0.node != root }.map(\.node))
        #expect(!inner.isEmpty, "the depth-3 trace expands features below its root")
        let byHand = try run.trace([root], expanding: inner, options: options)
        func key(_ g: TraceGraph) -> Set<String> { Set(g.links.map { "\($0.source.id)>\($0.target.id)>\($0.weight)" }) }
        #expect(key(byHand) == key(deep))
        #expect(Set(byHand.nodes.map(\.node.id)) == Set(deep.nodes.map(\.node.id)) && byHand.unreached.isEmpty)
        for n in byHand.nodes { #expect(n.expanded == deep.record(n.node)!.expanded && n.depth == deep.record(n.node)!.depth) }
        let rootOnly = try run.trace([root], expanding: [], options: options)
        #expect(Set(rootOnly.links.map(\.target)) == [root])
        let far = TraceNode.attentionFeature(layer: 0, position: 0, feature: 0)
        let withFar = try run.trace([root], expanding: [far], options: options)
        #expect(withFar.unreached == (rootOnly.record(far) == nil ? [far] : []))
    }

    @Test func nodeIdsRoundTrip() {
        let nodes: [TraceNode] = [.attentionFeature(layer: 1, position: 12, feature: 194), .residualFeature(layer: 3, position: 0, feature: 7),
                                  .attentionError(layer: 0, position: 4), .residualError(layer: 2, position: 9), .head(layer: 0, position: 3, head: 11),
                                  .tokenEmbedding(position: 5, token: 50256), .positionEmbedding(position: 8), .mlp(layer: 1, position: 2)]
            + TraceNode.BiasKind.allCases.map { .bias(kind: $0, layer: 1, position: 6) }
        #expect(TraceNode.attentionFeature(layer: 1, position: 12, feature: 194).id == "1_194_12")
        for n in nodes { #expect(TraceNode(id: n.id) == n, "\(n.id)") }
        #expect(Set(nodes.map(\.id)).count == nodes.count)
        for bad in ["", "1_2", "x_1_2", "1_-2_3", "R_1_2", "P_1_2", "Bq_value-bias_1", "M1_1_2"] { #expect(TraceNode(id: bad) == nil, "\(bad)") }
    }

    @Test func requestsOutsideTheRunAreTypedErrors() throws {
        let model = try tinyModel()
        let tracer = try randomTracer(model, attentionLayers: [1], residualLayers: [1])
        #expect(throws: TraceError.promptTooLong(tokens: 17, nCtx: 16)) { try tracer.run(Array(repeating: 3, count: 17)) }
        #expect(throws: TraceError.emptyPrompt) { try tracer.run([]) }
        #expect(throws: TraceError.invalidToken(token: 96, dVocab: 96)) { try tracer.run([1, 96]) }
        let run = try tracer.run([95, 3, 17, 42])
        #expect(throws: TraceError.featureOutOfRange(feature: 96, dSAE: 96)) { try run.terms(of: .attentionFeature(layer: 1, position: 1, feature: 96)) }
        #expect(throws: TraceError.positionOutOfRange(position: 4, count: 4)) { try run.terms(of: .attentionFeature(layer: 1, position: 4, feature: 0)) }
        #expect(throws: TraceError.noSAE(kind: "attention", layer: 0, available: [1])) { try run.terms(of: .attentionFeature(layer: 0, position: 1, feature: 0)) }
        #expect(throws: TraceError.layerOutOfRange(layer: 2, nLayers: 2)) { try run.terms(of: .residualFeature(layer: 2, position: 1, feature: 0)) }
        #expect(throws: TraceError.notExpandable(node: "MLP 0 @1")) { try run.terms(of: .mlp(layer: 0, position: 1)) }
        #expect(throws: TraceError.sourceAfterDestination(source: 3, destination: 2)) { try run.qkAttribution(layer: 1, head: 0, destination: 2, source: 3) }
        #expect(throws: TraceError.headOutOfRange(head: 2, nHeads: 2)) { try run.qkAttribution(layer: 1, head: 2, destination: 2, source: 1) }
        #expect(throws: TraceOptionError(name: "depth", value: "9", allowed: "0…8")) {
            try run.trace([.attentionFeature(layer: 1, position: 1, feature: 0)], options: TraceOptions(depth: 9))
        }
        #expect(throws: TraceOptionError.self) { try run.trace([.attentionFeature(layer: 1, position: 1, feature: 0)], options: TraceOptions(threshold: .nan)) }
        #expect(throws: TraceError.duplicateSAE(kind: "residual", layer: 1)) {
            try CircuitTracer(model: model, attentionSAEs: [], residualSAEs: [tracer.residual[1]!, tracer.residual[1]!])
        }
        // A residual SAE must read hook_resid_pre at d_model.
        #expect(throws: InterpError.self) { try ResidualSAE(randomSAE(dIn: 64, dSAE: 8, hook: "blocks.1.attn.hook_z", seed: 1), model: model.config) }
        #expect(throws: InterpError.self) { try ResidualSAE(randomSAE(dIn: 32, dSAE: 8, hook: "blocks.1.hook_resid_pre", seed: 1), model: model.config) }
        #expect(throws: InterpError.self) { try ResidualSAE(randomSAE(dIn: 64, dSAE: 8, hook: "blocks.2.hook_resid_pre", seed: 1), model: model.config) }
    }
}

/// The trace against an independent computation: TransformerLens and SAELens with the scales and patterns
/// detached, each leaf's term as `grad · leaf` (Scripts/reference/make_trace_fixtures.py), on processed and
/// unprocessed, standard and shortformer models, with and without the residual SAE.
@Suite struct TraceReferenceTests {
    struct Case: Decodable {
        struct Feature: Decodable { let node_id: String; let value: Double; let constant: Double; let terms: [String: Double] }
        struct QK: Decodable {
            let layer: Int, head: Int, destination: Int, source: Int
            let score: Double
            let query: [String: Double], key: [String: Double], pairs: [String: Double]
        }
        let model: String, processed: Bool, residual_sae: Bool
        let tokens: [Int]
        let features: [Feature]
        let qk: [QK]
    }

    static let folder = fixturesDirectory(ofTarget: "InterpTests").appendingPathComponent("trace").path

    static func cases() throws -> [Case] {
        struct File: Decodable { let cases: [Case] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/cases.json"))).cases
    }

    static func tracer(_ model: GPT2, residual: Bool) throws -> CircuitTracer {
        let load = { (name: String) in try SAE.load(saeLens: folder + "/" + name) }
        return try CircuitTracer(model: model, attentionSAEs: [try AttentionSAE(load("attn-L0"), model: model.config), try AttentionSAE(load("attn-L1"), model: model.config)],
                                 residualSAEs: residual ? [try ResidualSAE(load("resid-L1"), model: model.config)] : [])
    }

    static func isBias(_ id: String) -> Bool { id.hasPrefix("B") }

    @Test func termsMatchAutomaticDifferentiation() throws {
        let cases = try Self.cases()
        #expect(cases.count == 6)
        for c in cases {
            let model = try checkpointModel(c.model, processed: c.processed)
            let label = "\(c.model) \(c.processed ? "processed" : "unprocessed") \(c.residual_sae ? "with" : "without") residual SAE"
            for f in c.features {
                let node = try #require(TraceNode(id: f.node_id))
                // A residual feature exists only with its SAE; it is expanded upstream either way.
                let isResidual = if case .residualFeature = node { true } else { false }
                let run = try Self.tracer(model, residual: c.residual_sae || isResidual).run(c.tokens)
                let value = try #require(try run.value(of: node))
                let terms = try run.terms(of: node)
                let ours = Dictionary(terms.map { ($0.source.id, Double($0.value)) }, uniquingKeysWith: +)
                let magnitude = terms.reduce(0.0) { $0 + abs(Double($1.value)) }
                let tol = 1e-4 * magnitude + 1e-5
                #expect(abs(Double(value) - f.value) <= tol, "\(label) \(f.node_id): value \(value) vs \(f.value)")
                for id in Set(ours.keys).union(f.terms.keys) where !Self.isBias(id) {
                    let (a, b) = (ours[id] ?? 0, f.terms[id] ?? 0)
                    #expect(abs(a - b) <= tol, "\(label) \(f.node_id) ← \(id): \(a) vs \(b)")
                }
                let constant = ours.filter { Self.isBias($0.key) }.reduce(0.0) { $0 + $1.value }
                #expect(abs(constant - f.constant) <= tol, "\(label) \(f.node_id): constants \(constant) vs \(f.constant)")
            }
            let run = try Self.tracer(model, residual: c.residual_sae).run(c.tokens)
            for q in c.qk {
                let a = try run.qkAttribution(layer: q.layer, head: q.head, destination: q.destination, source: q.source, maxPairs: 1_000_000)
                let magnitude = a.queryTerms.reduce(0.0) { $0 + abs(Double($1.value)) } + a.keyTerms.reduce(0.0) { $0 + abs(Double($1.value)) }
                let tol = 1e-4 * magnitude + 1e-5
                let where_ = "\(label) QK L\(q.layer) H\(q.head) \(q.destination)←\(q.source)"
                #expect(abs(Double(a.score) - q.score) <= tol, "\(where_): score \(a.score) vs \(q.score)")
                for (side, theirs) in [(a.queryTerms, q.query), (a.keyTerms, q.key)] {
                    let ours = Dictionary(side.map { ($0.source.id, Double($0.value)) }, uniquingKeysWith: +)
                    for id in Set(ours.keys).union(theirs.keys) where !Self.isBias(id) {
                        #expect(abs((ours[id] ?? 0) - (theirs[id] ?? 0)) <= tol, "\(where_) marginal \(id): \(ours[id] ?? 0) vs \(theirs[id] ?? 0)")
                    }
                }
                let pairs = Dictionary(a.pairs.map { ($0.query.id + "|" + $0.key.id, Double($0.value)) }, uniquingKeysWith: +)
                #expect(a.pairs.count == a.pairCount && Double(abs(a.otherPairs)) <= tol)
                for (id, v) in q.pairs { #expect(abs((pairs[id] ?? 0) - v) <= tol, "\(where_) pair \(id): \(pairs[id] ?? 0) vs \(v)") }
            }
        }
    }
}
