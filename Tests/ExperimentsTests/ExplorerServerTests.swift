// ExplorerServerTests: the Circuit Explorer's HTTP API through Hummingbird's test client — every endpoint
// against the library's own numbers (the tracer's terms, QK attribution, graph) or an independent
// computation (an intervention against a hooked model run), every refusal as a 4xx naming what is wrong,
// concurrent requests, the bounded run cache and the dashboards' paths.

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TensorTestSupport
@testable import Experiments
@testable import ExplorerServer
@testable import Interp
import SparseAutoencoder
import Synchronization
import Tensor
import Transformer

@Suite struct ExplorerServerTests {
    static let prompt = "def board(x): return board(x) + board(y)"

    /// The engine on the fixture model (TransformerLens checkpoint, NeoX-style tokenizer) with attention SAEs on
    /// both layers and a residual SAE on layer 1 (CircuitExplorerTests.inputs).
    static func engine(_ settings: ExplorerSettings = ExplorerSettings(), dashboards: [Int: String] = [:]) throws -> (ExplorerEngine, Workspace) {
        let i = try CircuitExplorerTests.inputs()
        let workspace = try Workspace(ExperimentInputs(modelPath: i.model))
        let (tracer, names) = try workspace.tracer(attention: [i.attention], residual: [i.residual])
        return (try ExplorerEngine(tracer: tracer, tokenizer: workspace.tokenizer, model: workspace.model, saeNames: names, dashboards: dashboards,
                                   settings: settings), workspace)
    }

    static func body(_ value: some Encodable) throws -> ByteBuffer { ByteBuffer(bytes: try JSONEncoder().encode(value)) }
    static func decode<T: Decodable>(_: T.Type, _ r: TestResponse) throws -> T { try JSONDecoder().decode(T.self, from: Data(buffer: r.body)) }
    static func message(_ r: TestResponse) -> String {
        ((try? JSONSerialization.jsonObject(with: Data(buffer: r.body))) as? [String: [String: String]])?["error"]?["message"] ?? String(buffer: r.body)
    }

    /// Runs `body` with a test client of the explorer on `engine`.
    static func withClient(_ engine: ExplorerEngine, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await ExplorerServer.application(engine: engine, host: "127.0.0.1", port: 0).test(.router, body)
    }

    static func post(_ c: any TestClientProtocol, _ path: String, _ value: some Encodable) async throws -> TestResponse {
        try await c.execute(uri: path, method: .post, headers: [.contentType: "application/json"], body: try body(value))
    }

    static func post(_ c: any TestClientProtocol, _ path: String, raw: String) async throws -> TestResponse {
        try await c.execute(uri: path, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: raw))
    }

    static func close(_ a: Float, _ b: Float, _ scale: Float) -> Bool { abs(a - b) <= 1e-5 * max(scale, 1e-6) }

    @Test func thePageShipsWithTheBinaryAndRunsOnlyItsOwnCode() async throws {
        let (engine, _) = try Self.engine()
        try await Self.withClient(engine) { c in
            let page = try await c.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            let html = String(buffer: page.body)
            #expect(html.contains("<script src=\"/assets/explorer.js\" defer></script>") && html.contains("/assets/explorer.css"))
            #expect(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("https://"), "the page loads nothing from another site")
            let csp = try #require(page.headers[.contentSecurityPolicy])
            #expect(csp.contains("script-src 'self'") && csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"))
            #expect(page.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            for (path, type) in [("/assets/explorer.js", "text/javascript"), ("/assets/explorer.css", "text/css")] {
                let r = try await c.execute(uri: path, method: .get)
                #expect(r.status == .ok && r.headers[.contentType]?.hasPrefix(type) == true, "\(path)")
                #expect(!String(buffer: r.body).contains("https://") || path.hasSuffix(".js") && !String(buffer: r.body).contains("fetch('http"))
                #expect(r.body.readableBytes > 500)
            }
            let js = String(buffer: try await c.execute(uri: "/assets/explorer.js", method: .get).body)
            #expect(!js.contains("innerHTML") && !js.contains("insertAdjacentHTML") && !js.contains("document.write"), "text is never parsed as markup")
            #expect(try await c.execute(uri: "/nothing-here", method: .get).status == .notFound)
            let info = try JSONSerialization.jsonObject(with: Data(buffer: try await c.execute(uri: "/api/info", method: .get).body)) as! [String: Any]
            #expect(info["attentionLayers"] as? [Int] == [0, 1] && info["residualLayers"] as? [Int] == [1])
            #expect((info["examples"] as? [[String: String]])?.count == ExplorerServer.examples.count)
        }
    }

    @Test func runListsTheLibrarysFeaturesAndPrediction() async throws {
        let (engine, workspace) = try Self.engine()
        let tokenizer = workspace.tokenizer
        let tokens = tokenizer.toTokens(Self.prompt)
        let run = try engine.tracer.run(tokens)
        let model = workspace.model.model
        try await Self.withClient(engine) { c in
            let r = try await Self.post(c, "/api/run", PromptRequest(prompt: Self.prompt))
            #expect(r.status == .ok, "\(Self.message(r))")
            let a = try Self.decode(RunResponse.self, r)
            #expect(a.tokens.map(\.id) == tokens)
            #expect(a.tokens.map(\.text) == tokenizer.stringTokens(tokens))
            #expect(a.layers.map { "\($0.kind)\($0.layer)" } == ["attention0", "residual1", "attention1"], "the order the model computes them")
            var fired = 0
            for layer in a.layers {
                let rows = (layer.kind == "attention" ? run.activeAttention : run.activeResidual)[layer.layer]!
                for (p, cell) in layer.cells.enumerated() {
                    #expect(cell.count == rows[p].count)
                    #expect(cell.top.map(\.feature) == rows[p].prefix(8).map(\.feature))
                    for (x, y) in zip(cell.top, rows[p]) { #expect(Self.close(x.activation, y.activation, y.activation)) }
                    fired += cell.count
                }
            }
            #expect(fired > 0, "features fire on the fixture prompt")
            // The prediction: the model's own logits at the last token, log-softmaxed.
            let logits = try model.logits(IndexTensor(shape: [1, tokens.count], values: tokens))
            let last = logits.sliced(axis: 1, (tokens.count - 1)..<tokens.count).reshaped([-1]).scalars
            let best = last.indices.max { last[$0] < last[$1] }!
            #expect(a.predictions.first?.token == best)
            let lse = log(last.map { exp(Double($0 - last[best])) }.reduce(0, +)) + Double(last[best])
            #expect(abs(Double(a.predictions[0].logProb) - (Double(last[best]) - lse)) < 1e-4)
        }
    }

    @Test func expandGivesTheTracersTermsAndTheirSums() async throws {
        let (engine, workspace) = try Self.engine()
        let tokenizer = workspace.tokenizer
        let run = try engine.tracer.run(tokenizer.toTokens(Self.prompt))
        let strongest = run.strongestAttentionFeatures(count: 40).map(\.node)
        let nodes = [strongest.first { $0.layer == 1 }!, strongest.first { $0.layer == 0 }!, run.strongestAttentionFeatures(count: 1).first!.node]
            + [run.activeResidual[1]!.enumerated().first { !$0.element.isEmpty }.map { TraceNode.residualFeature(layer: 1, position: $0.offset, feature: $0.element[0].feature) }!]
        try await Self.withClient(engine) { c in
            for node in nodes {
                let r = try await Self.post(c, "/api/expand", ExpandRequest(prompt: Self.prompt, node: node.id, maxTerms: 5))
                #expect(r.status == .ok, "\(Self.message(r))")
                let a = try Self.decode(ExpandResponse.self, r)
                let terms = try run.terms(of: node).sorted { abs($0.value) != abs($1.value) ? abs($0.value) > abs($1.value) : $0.source < $1.source }
                let value = try run.value(of: node)!
                let scale = terms.reduce(0) { $0 + abs($1.value) }
                #expect(a.node.id == node.id && a.node.expandable)
                #expect(Self.close(a.value, value, scale))
                #expect(a.termCount == terms.count)
                #expect(a.terms.map(\.source.id) == terms.prefix(5).map(\.source.id))
                for (x, y) in zip(a.terms, terms) {
                    #expect(Self.close(x.value, y.value, scale))
                    #expect(x.heads?.count == y.heads?.count)
                }
                // The identities the page relies on: terms + the rest = value; positions and heads re-sum the terms.
                #expect(abs(a.terms.reduce(0) { $0 + $1.value } + a.otherTerms - value) <= 1e-4 * scale)
                #expect(abs(a.byPosition.reduce(0, +) - value) <= 1e-4 * scale)
                #expect(a.byPosition.count == run.tokens.count)
                if case .attentionFeature = node {
                    let headed = terms.compactMap(\.heads)
                    let byHead = try #require(a.byHead)
                    for h in byHead.indices { #expect(abs(byHead[h] - headed.reduce(0) { $0 + $1[h] }) <= 1e-4 * scale) }
                } else {
                    #expect(a.byHead == nil, "a residual feature's terms do not pass through a head at its layer")
                }
            }
        }
    }

    @Test func qkGivesTheLibrarysAttribution() async throws {
        let (engine, workspace) = try Self.engine()
        let tokenizer = workspace.tokenizer
        let tokens = tokenizer.toTokens(Self.prompt)
        let run = try engine.tracer.run(tokens)
        let (t, s, h) = (tokens.count - 1, 3, 1)
        let library = try run.qkAttribution(layer: 1, head: h, destination: t, source: s, maxPairs: 7)
        try await Self.withClient(engine) { c in
            let r = try await Self.post(c, "/api/qk", QKRequest(prompt: Self.prompt, layer: 1, head: h, destination: t, source: s, pairs: 7))
            #expect(r.status == .ok, "\(Self.message(r))")
            let a = try Self.decode(QKResponse.self, r)
            let scale = library.pairs.reduce(abs(library.otherPairs)) { $0 + abs($1.value) }
            #expect(Self.close(a.score, library.score, abs(library.score)))
            #expect(Self.close(a.pattern, library.pattern, 1))
            #expect(a.patternRow.count == t + 1 && abs(a.patternRow.reduce(0, +) - 1) < 1e-5, "the row is a distribution over sources 0…destination")
            #expect(Self.close(a.patternRow[s], run.pattern(layer: 1, head: h, destination: t, source: s), 1))
            #expect(a.pairs.map { [$0.query.id, $0.key.id] } == library.pairs.map { [$0.query.id, $0.key.id] })
            for (x, y) in zip(a.pairs, library.pairs) { #expect(Self.close(x.value, y.value, scale)) }
            #expect(a.pairCount == library.pairCount && Self.close(a.otherPairs, library.otherPairs, scale))
            #expect(abs(a.pairs.reduce(a.otherPairs) { $0 + $1.value } - a.score) <= 1e-4 * max(scale, abs(a.score)), "the pairs sum to the score")
        }
    }

    /// Ablating a feature with the SAE's error kept is subtracting `a_f · W_dec[f]` from that position's `hook_z`:
    /// the answer is checked against a plain hooked run doing exactly that, downstream SAE features included.
    @Test func interveneMatchesAHookedRun() async throws {
        let (engine, workspace) = try Self.engine()
        let tokenizer = workspace.tokenizer
        let tokens = tokenizer.toTokens(Self.prompt)
        let run = try engine.tracer.run(tokens)
        let n = tokens.count
        let (node, activation) = run.strongestAttentionFeatures(count: 60).first { $0.node.layer == 0 && $0.node.position < n - 2 }!
        guard case .attentionFeature(0, let p, let f) = node else { Issue.record("not a layer-0 feature"); return }
        let model = workspace.model.model, c = model.config
        let sae0 = engine.tracer.attention[0]!.sae, sae1 = engine.tracer.attention[1]!.sae, resid1 = engine.tracer.residual[1]!.sae
        let row = sae0.wDec.sliced(axis: 0, f..<(f + 1)).reshaped([c.nHeads, c.dHead]).scalars
        let hook: HookFunction = { z, _ in
            var z = z
            for h in 0..<c.nHeads { for d in 0..<c.dHead { z[0, p, h, d] = z[0, p, h, d] - activation * row[h * c.dHead + d] } }
            return z
        }
        let out = try model.run(IndexTensor(shape: [1, n], values: tokens), cache: [.z(1), .residPre(1)], hooks: [.z(0): hook])
        let logits = out.logits!.sliced(axis: 1, (n - 1)..<n).reshaped([-1]).scalars
        let lse = log(logits.map { exp(Double($0 - logits.max()!)) }.reduce(0, +)) + Double(logits.max()!)
        let acts1 = sae1.encode(SAE.flattenHeads(out.cache[.z(1)]!).reshaped([n, -1]))
        let residActs1 = resid1.encode(out.cache[.residPre(1)]!.reshaped([n, -1]))
        try await Self.withClient(engine) { cl in
            let r = try await Self.post(cl, "/api/intervene", InterveneRequest(prompt: Self.prompt, edits: [.init(node: node.id)]))
            #expect(r.status == .ok, "\(Self.message(r))")
            let a = try Self.decode(InterveneResponse.self, r)
            #expect(a.position == n - 1)
            #expect(a.edits.first?.node.id == node.id && Self.close(a.edits[0].before, activation, activation) && a.edits[0].after == 0)
            for pr in a.edited { #expect(abs(Double(pr.logProb) - (Double(logits[pr.token]) - lse)) < 2e-4, "token \(pr.token)") }
            #expect(!a.downstream.isEmpty, "ablating a layer-0 feature moves layer-1 features")
            for ch in a.downstream {
                switch TraceNode(id: ch.node.id)! {
                case .attentionFeature(1, let q, let g):
                    #expect(q >= p)
                    #expect(abs(ch.after - acts1[q, g]) <= 1e-4 * max(1, abs(ch.after)), "\(ch.node.id)")
                case .residualFeature(1, let q, let g):
                    #expect(q >= p)
                    #expect(abs(ch.after - residActs1[q, g]) <= 1e-4 * max(1, abs(ch.after)), "\(ch.node.id)")
                default: Issue.record("\(ch.node.id) is not downstream of layer 0's attention")
                }
            }
            // Pinning a feature to its own activation changes nothing.
            let same = try Self.decode(InterveneResponse.self, try await Self.post(cl, "/api/intervene",
                InterveneRequest(prompt: Self.prompt, edits: [.init(node: node.id, value: activation)])))
            for (x, y) in zip(same.clean, same.edited) { #expect(x.token == y.token && abs(x.logProb - y.logProb) < 1e-4) }
            #expect(same.downstream.isEmpty)
        }
    }

    @Test func graphIsTheTraceGrownByHand() async throws {
        let (engine, workspace) = try Self.engine()
        let tokenizer = workspace.tokenizer
        let run = try engine.tracer.run(tokenizer.toTokens(Self.prompt))
        let root = run.strongestAttentionFeatures(count: 40).first { $0.node.layer == 1 }!.node
        let first = try run.trace([root], expanding: [], options: TraceOptions(maxChildren: 4, threshold: 0))
        let child = try #require(first.incoming(root).map(\.source).first { $0.isExpandable })
        let library = try run.trace([root], expanding: [child], options: TraceOptions(maxChildren: 4, threshold: 0))
        #expect(library.record(child)?.expanded == true && !library.incoming(child).isEmpty)
        #expect(first.nodes.allSatisfy { $0.expanded == ($0.node == root) }, "only the root is expanded until a node is named")
        let bogus = TraceNode.attentionFeature(layer: 0, position: 1, feature: 0)
        try await Self.withClient(engine) { c in
            let q = "prompt=\(Self.prompt.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&roots=\(root.id)&expanded=\(child.id),\(bogus.id)&maxChildren=4&threshold=0"
            let r = try await c.execute(uri: "/api/graph?" + q, method: .get)
            #expect(r.status == .ok, "\(Self.message(r))")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])
            let links = (json["links"] as! [[String: Any]]).map { "\($0["source"]!)>\($0["target"]!)" }
            #expect(Set(links) == Set(library.links.map { "\($0.source.id)>\($0.target.id)" }))
            let ids = (json["nodes"] as! [[String: Any]]).filter { $0["qk_only"] == nil }.map { $0["node_id"] as! String }
            #expect(Set(ids) == Set(library.nodes.map(\.node.id)))
            #expect((json["qParams"] as? [String: Any])?["expandedIds"] as? [String] == [child.id])
            #expect(json["unreached"] as? [String] == (library.record(bogus) == nil ? [bogus.id] : []))
            #expect((json["metadata"] as? [String: Any])?["prompt"] as? String == Self.prompt)
            let download = try await c.execute(uri: "/api/graph?" + q + "&download=1", method: .get)
            #expect(download.headers[.contentDisposition]?.contains("trace.json") == true)
        }
    }

    @Test func everyBadRequestIsA4xxNamingWhatIsWrong() async throws {
        var settings = ExplorerSettings()
        settings.maxPromptBytes = 200
        settings.maxTokens = 30
        let (engine, _) = try Self.engine(settings)
        let p = Self.prompt
        try await Self.withClient(engine) { c in
            func expect(_ r: TestResponse, _ status: HTTPResponse.Status, _ words: [String], _ what: String) {
                #expect(r.status == status, "\(what): \(r.status) \(Self.message(r))")
                for w in words { #expect(Self.message(r).contains(w), "\(what): '\(Self.message(r))' lacks '\(w)'") }
            }
            expect(try await Self.post(c, "/api/run", raw: "{\"prompt\": "), .badRequest, ["not valid JSON"], "truncated JSON")
            expect(try await Self.post(c, "/api/run", raw: "{}"), .badRequest, ["missing field 'prompt'"], "no prompt")
            expect(try await Self.post(c, "/api/run", raw: "{\"prompt\": 3}"), .badRequest, ["'prompt'", "string"], "prompt not a string")
            expect(try await Self.post(c, "/api/cell", raw: "{\"prompt\": \"a\", \"layer\": \"x\", \"position\": 0}"), .badRequest, ["'layer'", "number"], "layer not a number")
            expect(try await Self.post(c, "/api/run", PromptRequest(prompt: "")), .badRequest, ["empty"], "empty prompt with BOS")
            expect(try await Self.post(c, "/api/run", PromptRequest(prompt: "", bos: false)), .badRequest, ["empty"], "empty prompt")
            expect(try await Self.post(c, "/api/run", PromptRequest(prompt: String(repeating: "é", count: 101))), .badRequest, ["202 bytes", "at most 200"], "prompt bytes")
            expect(try await Self.post(c, "/api/run", PromptRequest(prompt: String(repeating: "a b ", count: 20))), .badRequest, ["tokens", "at most 30"], "prompt tokens")
            expect(try await Self.post(c, "/api/run", raw: "{\"prompt\": \"" + String(repeating: "a", count: 20_000) + "\"}"), .contentTooLarge, [], "body size")
            expect(try await Self.post(c, "/api/cell", CellRequest(prompt: p, layer: 2, position: 0)), .badRequest, ["layer 2", "0..<2"], "layer")
            expect(try await Self.post(c, "/api/cell", CellRequest(prompt: p, layer: 0, position: 99)), .badRequest, ["position 99"], "position")
            expect(try await Self.post(c, "/api/cell", CellRequest(prompt: p, layer: 0, position: 0, kind: "residual")), .badRequest, ["no residual SAE for layer 0", "1"], "no SAE")
            expect(try await Self.post(c, "/api/cell", CellRequest(prompt: p, layer: 0, position: 0, kind: "mlp")), .badRequest, ["kind", "attention, residual"], "kind")
            expect(try await Self.post(c, "/api/expand", ExpandRequest(prompt: p, node: "zebra")), .badRequest, ["'zebra'", "node id"], "node id")
            expect(try await Self.post(c, "/api/expand", ExpandRequest(prompt: p, node: "1_48_3")), .badRequest, ["feature 48", "0..<48"], "feature")
            expect(try await Self.post(c, "/api/expand", ExpandRequest(prompt: p, node: "1_4_300")), .badRequest, ["position 300"], "node position")
            expect(try await Self.post(c, "/api/expand", ExpandRequest(prompt: p, node: "7_4_3")), .badRequest, ["layer 7"], "node layer")
            expect(try await Self.post(c, "/api/expand", ExpandRequest(prompt: p, node: "E_12_3")), .badRequest, ["leaf"], "leaf")
            expect(try await Self.post(c, "/api/expand", ExpandRequest(prompt: p, node: "1_4_3", maxTerms: 0)), .badRequest, ["maxTerms is 0", "1…200"], "maxTerms")
            expect(try await Self.post(c, "/api/qk", QKRequest(prompt: p, layer: 1, head: 9, destination: 4, source: 2)), .badRequest, ["head 9"], "head")
            expect(try await Self.post(c, "/api/qk", QKRequest(prompt: p, layer: 1, head: 0, destination: 2, source: 4)), .badRequest, ["after destination", "causal"], "causal")
            expect(try await Self.post(c, "/api/qk", QKRequest(prompt: p, layer: 1, head: 0, destination: 4, source: 2, pairs: 5000)), .badRequest, ["pairs is 5000"], "pairs")
            expect(try await Self.post(c, "/api/intervene", InterveneRequest(prompt: p, edits: [])), .badRequest, ["edits is empty"], "no edits")
            expect(try await Self.post(c, "/api/intervene", InterveneRequest(prompt: p, edits: [.init(node: "H1_0_3")])), .badRequest, ["not an SAE feature"], "edit a head")
            expect(try await Self.post(c, "/api/intervene", InterveneRequest(prompt: p, edits: [.init(node: "1_4_3")], position: -1)), .badRequest, ["position -1"], "position")
            expect(try await Self.post(c, "/api/intervene", raw: "{\"prompt\":\"a\",\"edits\":[{\"node\":\"1_4_1\",\"value\":1e30}]}"), .badRequest, ["not a finite number within ±1e6"], "value")
            expect(try await c.execute(uri: "/api/graph?roots=1_4_3", method: .get), .badRequest, ["'prompt'"], "graph without prompt")
            expect(try await c.execute(uri: "/api/graph?prompt=a%20b", method: .get), .badRequest, ["roots is empty"], "graph without roots")
            expect(try await c.execute(uri: "/api/graph?prompt=a%20b&roots=1_4_1&maxChildren=x", method: .get), .badRequest, ["'maxChildren' is 'x'"], "graph number")
            expect(try await c.execute(uri: "/api/graph?prompt=a%20b&roots=1_4_1&maxChildren=0", method: .get), .badRequest, ["maxChildren is 0"], "graph option")
            expect(try await c.execute(uri: "/api/graph?prompt=a%20b&roots=1_4_1&bos=maybe", method: .get), .badRequest, ["'bos' is 'maybe'"], "graph flag")
            expect(try await c.execute(uri: "/api/graph?prompt=a%20b&roots=E_1_1", method: .get), .badRequest, ["leaf"], "graph leaf root")
            expect(try await c.execute(uri: "/api/run", method: .get), .notFound, [], "method")
        }
    }

    /// Token text is data: a prompt full of markup comes back as the same text, in JSON (the page sets it as text).
    @Test func markupInAPromptComesBackAsText() async throws {
        let (engine, _) = try Self.engine()
        try await Self.withClient(engine) { c in
            let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>\u{7}"
            let r = try Self.decode(RunResponse.self, try await Self.post(c, "/api/run", PromptRequest(prompt: hostile)))
            #expect(r.tokens.dropFirst().map(\.text).joined() == hostile)
        }
    }

    @Test func manyConcurrentRequestsAgreeAndTheCacheStaysBounded() async throws {
        var settings = ExplorerSettings()
        settings.concurrency = 2
        let (engine, workspace) = try Self.engine(settings)
        let tokenizer = workspace.tokenizer
        let prompts = (0..<6).map { "def f\($0)(x): return f\($0)(x) + \($0)" }
        let oneRun = try engine.tracer.run(tokenizer.toTokens(prompts[0])).memoryFootprint
        let budget = 3 * oneRun + oneRun / 2
        var small = settings
        small.cacheBytes = budget
        let (bounded, _) = try Self.engine(small)
        try await Self.withClient(bounded) { c in
            let node = try engine.tracer.run(tokenizer.toTokens(prompts[0])).strongestAttentionFeatures(count: 1)[0].node
            let answers = try await withThrowingTaskGroup(of: (Int, HTTPResponse.Status, Float?).self) { group in
                for i in 0..<48 {
                    group.addTask {
                        let r = try await Self.post(c, "/api/expand", ExpandRequest(prompt: prompts[i % 3 == 0 ? 0 : i % prompts.count], node: i % 3 == 0 ? node.id : "0_0_1"))
                        return (i, r.status, r.status == .ok ? try Self.decode(ExpandResponse.self, r).value : nil)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.1 == .ok }, "\(answers.filter { $0.1 != .ok }.map(\.1))")
            #expect(Set(answers.filter { $0.0 % 3 == 0 }.map(\.2)).count == 1, "the same node of the same prompt gets one answer")
        }
        let usage = await bounded.cacheUsage()
        #expect(usage.bytes <= budget && usage.runs <= 3 && usage.runs >= 1, "\(usage) within \(budget)")
        // Least recently used goes first: touching a prompt keeps it.
        let cache = RunCache(budget: budget)
        let tracer = engine.tracer
        for p in [0, 1, 2, 0, 3] {
            let tokens = tokenizer.toTokens(prompts[p])
            _ = try await cache.get(tokens) { try tracer.run(tokens) }
        }
        #expect(await cache.usage().runs == 3)
        let computed = Mutex<[Int]>([])
        for p in [0, 2, 3, 1] {
            let tokens = tokenizer.toTokens(prompts[p])
            _ = try await cache.get(tokens) { computed.withLock { $0.append(p) }; return try tracer.run(tokens) }
        }
        #expect(computed.withLock { $0 } == [1], "prompt 1 was the least recently used of 0, 1, 2 when 3 came in")
    }

    @Test func dashboardsAreLinkedAndOnlyTheirPagesServed() async throws {
        let dir = temporaryDirectory().path
        try FileManager.default.createDirectory(atPath: dir + "/features", withIntermediateDirectories: true)
        let (plain, workspace) = try Self.engine()
        let tokenizer = workspace.tokenizer
        let run = try plain.tracer.run(tokenizer.toTokens(Self.prompt))
        guard case .attentionFeature(1, let p, let f) = run.strongestAttentionFeatures(count: 40).first(where: { $0.node.layer == 1 })!.node else { return }
        let example = DashboardExample(row: 0, position: 2, activation: 1.5, contextTokens: [10, 11, 12], contextActivations: [0, 0.5, 1.5], center: 2)
        let board = FeatureDashboard(feature: f, maxActivation: 1.5, density: 0.01, histogram: [1], top: [example], intervals: [], dfa: [], headAttribution: [1, 0],
                                     positiveLogits: [], negativeLogits: [])
        try JSONEncoder().encode(board).write(to: URL(fileURLWithPath: dir + "/features/feature-\(f).json"))
        try "<html><body>feature \(f)</body></html>".write(toFile: dir + "/features/feature-\(f).html", atomically: true, encoding: .utf8)
        try "secret".write(toFile: dir + "/secret.html", atomically: true, encoding: .utf8)
        #expect(throws: ExperimentInputError.self) { _ = try Self.engine(dashboards: [5: dir]) }
        #expect(throws: ExperimentInputError.self) { _ = try Self.engine(dashboards: [1: dir + "/features"]) }
        let (engine, _) = try Self.engine(dashboards: [1: dir])
        try await Self.withClient(engine) { c in
            let cell = try Self.decode(CellResponse.self, try await Self.post(c, "/api/cell", CellRequest(prompt: Self.prompt, layer: 1, position: p)))
            let detail = try #require(cell.features.first { $0.node.feature == f })
            let board = try #require(detail.dashboard)
            #expect(board.url == "/dashboards/1/feature-\(f).html" && board.examples.first?.tokens == tokenizer.stringTokens([10, 11, 12]))
            let page = try await c.execute(uri: board.url, method: .get)
            #expect(page.status == .ok && String(buffer: page.body).contains("feature \(f)"))
            for bad in ["/dashboards/1/..%2Fsecret.html", "/dashboards/1/feature-\(f + 1).html", "/dashboards/0/feature-\(f).html", "/dashboards/1/feature-+\(f).html",
                        "/dashboards/1/feature-0\(f).html", "/dashboards/x/feature-\(f).html"] {
                #expect(try await c.execute(uri: bad, method: .get).status == .notFound, "\(bad)")
            }
        }
    }
}
