// ExplorerEngine: what the Circuit Explorer's API computes, with no networking (the HTTP server is the
// ExplorerServer target). The model and SAEs are shared read-only; each prompt's run is computed once and
// kept in a least-recently-used cache bounded in bytes; heavy work runs off the server's threads, at most
// `concurrency` requests at a time.

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// Limits of what one request may ask, and of the memory runs may hold.
public struct ExplorerSettings: Sendable {
    /// The longest prompt, in UTF-8 bytes.
    public var maxPromptBytes = 16_384
    /// The longest prompt in tokens (BOS included); nil: the model's context, n_ctx.
    public var maxTokens: Int?
    /// The bytes the cached runs may hold together (a run larger than this is computed, answered and dropped).
    public var cacheBytes = 1 << 30
    /// Requests computed at once; the others wait their turn.
    public var concurrency = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// The most roots and expanded nodes a graph request may name.
    public var maxGraphNodes = 256
    /// The most edits of an intervention.
    public var maxEdits = 32
    public init() {}
}

/// The Circuit Explorer's computations: each API call of the server as an `async` function.
public final class ExplorerEngine: Sendable {
    public let tracer: CircuitTracer
    public let labeler: NodeLabeler
    public let model: LoadedModel
    public let saeNames: [String]
    public let settings: ExplorerSettings
    /// `feature-dashboards` folders by attention layer.
    public let dashboards: [Int: String]
    let runs: RunCache
    let gate: ComputeGate

    /// - Parameter dashboards: `feature-dashboards` output folders (each with `features/feature-N.json`) by attention layer.
    /// - Throws: ``ExperimentInputError`` for a dashboards folder without `features/` or for a layer without an attention SAE.
    public init(tracer: CircuitTracer, tokenizer: GPT2Tokenizer, model: LoadedModel, saeNames: [String], dashboards: [Int: String] = [:],
                settings: ExplorerSettings = ExplorerSettings()) throws {
        for (l, path) in dashboards {
            guard tracer.attention[l] != nil else {
                throw ExperimentInputError("dashboards \(path) are for layer \(l), which has no attention SAE (layers: \(tracer.attention.keys.sorted().map(String.init).joined(separator: ", ")))")
            }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path + "/features", isDirectory: &isDir), isDir.boolValue else {
                throw ExperimentInputError("dashboards \(path) has no features/ folder: give a folder written by feature-dashboards")
            }
        }
        self.tracer = tracer
        labeler = NodeLabeler(tracer: tracer, tokenizer: tokenizer, model: model)
        self.model = model
        self.saeNames = saeNames
        self.dashboards = dashboards
        self.settings = settings
        runs = RunCache(budget: settings.cacheBytes)
        gate = ComputeGate(settings.concurrency)
    }

    var tokenizer: GPT2Tokenizer { labeler.tokenizer }
    var config: GPT2Config { tracer.model.config }
    /// The longest prompt in tokens.
    public var maxTokens: Int { min(settings.maxTokens ?? config.nCtx, config.nCtx) }

    // MARK: Runs

    /// The prompt's tokens, checked against the limits before any model work.
    public func tokens(_ prompt: String, bos: Bool) throws -> [Int] {
        let bytes = prompt.utf8.count
        guard bytes > 0 else { throw ExplorerError.bad("prompt is empty") }
        guard bytes <= settings.maxPromptBytes else {
            throw ExplorerError.bad("prompt is \(bytes) bytes; allowed: at most \(settings.maxPromptBytes)")
        }
        let tokens = bos ? tokenizer.toTokens(prompt) : tokenizer.encode(prompt)
        guard !tokens.isEmpty else { throw ExplorerError.bad("prompt is empty") }
        guard tokens.count <= maxTokens else {
            throw ExplorerError.bad("prompt is \(tokens.count) tokens\(bos ? " with BOS" : ""); allowed: at most \(maxTokens)")
        }
        return tokens
    }

    /// The prompt's run, from the cache or computed (once, however many requests ask for it at the same time).
    public func trace(_ prompt: String, bos: Bool = true) async throws -> PromptTrace {
        let tokens = try self.tokens(prompt, bos: bos)
        let tracer = self.tracer
        return try await runs.get(tokens) { [gate] in try await gate.run { try tracer.run(tokens) } }
    }

    /// Runs cached now and the bytes they hold.
    public func cacheUsage() async -> (runs: Int, bytes: Int) { await runs.usage() }

    // MARK: Nodes

    func node(_ id: String, in run: PromptTrace) throws -> TraceNode {
        guard let n = TraceNode(id: id) else {
            throw ExplorerError.bad("'\(id)' is not a node id: expected e.g. 1_194_12 (attention feature 194 of layer 1 at position 12), R1_7_3, E_464_2, H1_5_12")
        }
        do { try run.check(n) } catch let e as TraceError { throw ExplorerError.bad("node \(id): \(e)") }
        return n
    }

    func info(_ n: TraceNode, _ labels: [TraceNode: String], _ strings: [String]) -> NodeInfo {
        let feature: Int? = switch n {
        case .attentionFeature(_, _, let f), .residualFeature(_, _, let f): f
        default: nil
        }
        return NodeInfo(id: n.id, kind: n.featureType, description: n.description, layer: n.layer, position: n.position, feature: feature,
                        token: strings[n.position], label: labels[n] ?? "", expandable: n.isExpandable)
    }

    /// Log-softmax of `logits`, in Double.
    static func logProbs(_ logits: [Float]) -> [Float] {
        let m = logits.max() ?? 0
        let lse = Double(m) + log(logits.reduce(0.0) { $0 + exp(Double($1 - m)) })
        return logits.map { Float(Double($0) - lse) }
    }

    /// The indices of the `count` largest values, largest first (a partial selection, not a sort of d_vocab entries).
    static func top(_ values: [Float], _ count: Int) -> [Int] {
        Tensor(values).topK(min(count, values.count)).indices.values
    }

    func predictions(_ logProbs: [Float], logits: [Float], count: Int = 10) -> [Prediction] {
        Self.top(logProbs, count).map {
            Prediction(token: $0, text: tokenizer.decode([$0]), logit: logits[$0], logProb: logProbs[$0])
        }
    }

    /// The model's logits at `position` of `residual` `[pos, d_model]`.
    func logits(_ residual: Tensor, at position: Int) -> [Float] {
        tracer.model.unembed(residual.sliced(axis: 0, position..<(position + 1))).scalars
    }

    func dashboard(layer: Int, feature: Int) -> DashboardSummary? {
        guard let folder = dashboards[layer] else { return nil }
        let path = folder + "/features/feature-\(feature).json"
        guard let data = FileManager.default.contents(atPath: path), let board = try? JSONDecoder().decode(FeatureDashboard.self, from: data) else { return nil }
        let examples = board.top.prefix(3).map { e in
            DashboardSummary.Example(tokens: tokenizer.stringTokens(e.contextTokens), activations: e.contextActivations, center: e.center, activation: e.activation)
        }
        return DashboardSummary(url: "/dashboards/\(layer)/feature-\(feature).html", density: board.density, maxActivation: board.maxActivation, examples: examples)
    }

    /// The path of a dashboard page the server may send: only `feature-N.html` of a layer given with dashboards.
    public func dashboardPage(layer: Int, file: String) -> String? {
        guard let folder = dashboards[layer], file.hasPrefix("feature-"), file.hasSuffix(".html"),
              let n = Int(file.dropFirst(8).dropLast(5)), n >= 0, String(n) == file.dropFirst(8).dropLast(5) else { return nil }
        let path = folder + "/features/feature-\(n).html"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    // MARK: API

    /// `POST /api/run`.
    public func run(_ r: PromptRequest) async throws -> RunResponse {
        let bos = r.bos ?? true
        let run = try await trace(r.prompt, bos: bos)
        return try await gate.run { [self] in
            let strings = tokenizer.stringTokens(run.tokens)
            func layer(_ l: Int, _ kind: String, _ rows: [[(feature: Int, activation: Float)]], dSAE: Int) -> RunResponse.Layer {
                RunResponse.Layer(layer: l, kind: kind, dSAE: dSAE, cells: rows.map { row in
                    RunResponse.Cell(count: row.count, maxActivation: row.first?.activation ?? 0,
                                     top: row.prefix(8).map { RunResponse.FeatureActivation(feature: $0.feature, activation: $0.activation) })
                })
            }
            // In the order the model computes them: each layer's residual SAE, then its attention SAE.
            var layers: [RunResponse.Layer] = []
            for l in 0..<config.nLayers {
                if let rows = run.activeResidual[l] { layers.append(layer(l, "residual", rows, dSAE: tracer.residual[l]!.dSAE)) }
                if let rows = run.activeAttention[l] { layers.append(layer(l, "attention", rows, dSAE: tracer.attention[l]!.dSAE)) }
            }
            let last = run.tokens.count - 1
            let logits = logits(run.finalResidual, at: last)
            return RunResponse(model: model.name, saes: saeNames, prompt: r.prompt, bos: bos,
                               tokens: run.tokens.enumerated().map { TokenInfo(position: $0.offset, id: $0.element, text: strings[$0.offset]) },
                               nLayers: config.nLayers, nHeads: config.nHeads, heads: labeler.headLabels, layers: layers,
                               predictions: predictions(Self.logProbs(logits), logits: logits))
        }
    }

    /// `POST /api/cell`.
    public func cell(_ r: CellRequest) async throws -> CellResponse {
        let kind = r.kind ?? "attention"
        guard kind == "attention" || kind == "residual" else { throw ExplorerError.bad("kind is '\(kind)'; allowed: attention, residual") }
        let run = try await trace(r.prompt, bos: r.bos ?? true)
        return try await gate.run { [self] in
            guard r.layer >= 0 && r.layer < config.nLayers else { throw ExplorerError.bad("layer \(r.layer) is outside 0..<\(config.nLayers)") }
            guard r.position >= 0 && r.position < run.tokens.count else {
                throw ExplorerError.bad("position \(r.position) is outside 0..<\(run.tokens.count) (the prompt's tokens)")
            }
            let table = kind == "attention" ? run.activeAttention : run.activeResidual
            guard let rows = table[r.layer] else {
                throw ExplorerError.bad("no \(kind) SAE for layer \(r.layer); \(kind) SAEs are given for layers \(table.keys.sorted().map(String.init).joined(separator: ", "))")
            }
            let row = rows[r.position], shown = Array(row.prefix(64))
            let nodes = shown.map { kind == "attention" ? TraceNode.attentionFeature(layer: r.layer, position: r.position, feature: $0.feature)
                                                        : .residualFeature(layer: r.layer, position: r.position, feature: $0.feature) }
            let strings = tokenizer.stringTokens(run.tokens)
            let labels = labeler.labels(nodes, tokenStrings: strings)
            let features = zip(nodes, shown).map { n, f in
                FeatureDetail(node: info(n, labels, strings), activation: f.activation,
                              dashboard: kind == "attention" ? dashboard(layer: r.layer, feature: f.feature) : nil)
            }
            return CellResponse(layer: r.layer, position: r.position, kind: kind, features: features, more: row.count - shown.count)
        }
    }

    /// `POST /api/expand`.
    public func expand(_ r: ExpandRequest) async throws -> ExpandResponse {
        let maxTerms = r.maxTerms ?? 12
        guard (1...200).contains(maxTerms) else { throw ExplorerError.bad("maxTerms is \(maxTerms); allowed: 1…200") }
        let run = try await trace(r.prompt, bos: r.bos ?? true)
        return try await gate.run { [self] in
            let n = try node(r.node, in: run)
            guard n.isExpandable else { throw ExplorerError.bad("node \(r.node) (\(n)) is a leaf: only SAE features split into terms") }
            let value = try run.value(of: n)!
            let all = try run.terms(of: n)
            let sorted = all.sorted { abs($0.value) != abs($1.value) ? abs($0.value) > abs($1.value) : $0.source < $1.source }
            let shown = Array(sorted.prefix(maxTerms))
            var byPosition = [Float](repeating: 0, count: run.tokens.count)
            var byHead: [Float]? = nil
            for t in all {
                byPosition[t.source.position] += t.value
                if let h = t.heads {
                    if byHead == nil { byHead = [Float](repeating: 0, count: h.count) }
                    for i in h.indices { byHead![i] += h[i] }
                }
            }
            let strings = tokenizer.stringTokens(run.tokens)
            let labels = labeler.labels([n] + shown.map(\.source), tokenStrings: strings)
            var board: DashboardSummary? = nil
            if case .attentionFeature(let l, _, let f) = n { board = dashboard(layer: l, feature: f) }
            return ExpandResponse(node: info(n, labels, strings), value: value, activation: try run.activation(of: n),
                                  terms: shown.map { TermInfo(source: info($0.source, labels, strings), value: $0.value, heads: $0.heads) },
                                  otherTerms: sorted.dropFirst(maxTerms).reduce(0) { $0 + $1.value }, termCount: all.count,
                                  byPosition: byPosition, byHead: byHead, dashboard: board)
        }
    }

    /// `POST /api/qk`.
    public func qk(_ r: QKRequest) async throws -> QKResponse {
        let pairs = r.pairs ?? 10
        guard (1...200).contains(pairs) else { throw ExplorerError.bad("pairs is \(pairs); allowed: 1…200") }
        let run = try await trace(r.prompt, bos: r.bos ?? true)
        return try await gate.run { [self] in
            let q: QKAttribution
            do { q = try run.qkAttribution(layer: r.layer, head: r.head, destination: r.destination, source: r.source, maxPairs: pairs) }
            catch let e as TraceError { throw ExplorerError.bad("\(e)") }
            let strings = tokenizer.stringTokens(run.tokens)
            let top = { (terms: [TraceTerm]) in Array(terms.sorted { abs($0.value) > abs($1.value) }.prefix(10)) }
            let queryTerms = top(q.queryTerms), keyTerms = top(q.keyTerms)
            let labels = labeler.labels(q.pairs.flatMap { [$0.query, $0.key] } + (queryTerms + keyTerms).map(\.source), tokenStrings: strings)
            let row = 0...r.destination
            return QKResponse(layer: r.layer, head: r.head, headLabel: labeler.headLabels[r.layer][r.head], destination: r.destination, source: r.source,
                              score: q.score, pattern: q.pattern,
                              patternRow: row.map { run.pattern(layer: r.layer, head: r.head, destination: r.destination, source: $0) },
                              scoreRow: row.map { run.score(layer: r.layer, head: r.head, destination: r.destination, source: $0) },
                              pairs: q.pairs.map { QKResponse.Pair(query: info($0.query, labels, strings), key: info($0.key, labels, strings), value: $0.value) },
                              otherPairs: q.otherPairs, pairCount: q.pairCount,
                              queryTerms: queryTerms.map { TermInfo(source: info($0.source, labels, strings), value: $0.value, heads: $0.heads) },
                              keyTerms: keyTerms.map { TermInfo(source: info($0.source, labels, strings), value: $0.value, heads: $0.heads) },
                              competitors: q.competitors.sorted { $0.score > $1.score }.prefix(8).map {
                                  QKResponse.Competitor(source: $0.source, score: $0.score, pattern: $0.pattern)
                              })
        }
    }

    /// `POST /api/intervene`: the SAEs from the first edited one on are spliced into a new run, each with its
    /// error term (so a run without edits is the clean run, to rounding), the edited features set in
    /// `hook_sae_acts_post`; the clean side is the cached run.
    public func intervene(_ r: InterveneRequest) async throws -> InterveneResponse {
        guard !r.edits.isEmpty else { throw ExplorerError.bad("edits is empty: name at least one feature to ablate or pin") }
        guard r.edits.count <= settings.maxEdits else { throw ExplorerError.bad("edits has \(r.edits.count) entries; allowed: at most \(settings.maxEdits)") }
        for e in r.edits where e.value.map({ !$0.isFinite || abs($0) > 1e6 }) ?? false {
            throw ExplorerError.bad("edit of \(e.node): value \(e.value!) is not a finite number within ±1e6")
        }
        let run = try await trace(r.prompt, bos: r.bos ?? true)
        return try await gate.run { [self] in
            let n = run.tokens.count
            let position = r.position ?? n - 1
            guard position >= 0 && position < n else { throw ExplorerError.bad("position \(position) is outside 0..<\(n) (the prompt's tokens)") }
            var edits: [(node: TraceNode, value: Float)] = []
            for e in r.edits {
                let node = try node(e.node, in: run)
                switch node {
                case .attentionFeature, .residualFeature: edits.append((node, e.value ?? 0))
                default: throw ExplorerError.bad("node \(e.node) (\(node)) is not an SAE feature: only attention and residual features can be ablated or pinned")
                }
            }
            let first = edits.map(\.node.computeOrder).min()!
            let firstPosition = edits.map(\.node.position).min()!
            // Splice every SAE that reads at or after the first edit.
            var splices: [SAESplice] = []
            func edit(for site: (TraceNode) -> (Int, Int)?) -> ((Tensor) throws -> Tensor)? {
                let mine = edits.compactMap { e in site(e.node).map { (feature: $0.0, position: $0.1, value: e.value) } }
                guard !mine.isEmpty else { return nil }
                let sets = mine.map { FeatureIntervention.set([$0.feature], to: $0.value, at: [(0, $0.position)]) }
                return { acts in try sets.reduce(acts) { try $1($0) } }
            }
            for l in 0..<config.nLayers {
                if let s = tracer.residual[l], TraceNode.residualFeature(layer: l, position: 0, feature: 0).computeOrder >= first {
                    var splice = try SAESplice(sae: s.sae, site: .residPre(l), useErrorTerm: true, cache: [.actsPost])
                    splice.edits[.actsPost] = edit { if case .residualFeature(l, let p, let f) = $0 { (f, p) } else { nil } }
                    splices.append(splice)
                }
                if let s = tracer.attention[l], TraceNode.attentionFeature(layer: l, position: 0, feature: 0).computeOrder >= first {
                    var splice = try SAESplice(sae: s.sae, site: .z(l), useErrorTerm: true, cache: [.actsPost])
                    splice.edits[.actsPost] = edit { if case .attentionFeature(l, let p, let f) = $0 { (f, p) } else { nil } }
                    splices.append(splice)
                }
            }
            let out = try tracer.model.run(IndexTensor(shape: [1, n], values: run.tokens), saes: splices, stopAtLayer: config.nLayers)
            let cleanLogits = logits(run.finalResidual, at: position)
            let editedLogits = logits(out.model.residual.reshaped([n, config.dModel]), at: position)
            let cleanLP = Self.logProbs(cleanLogits), editedLP = Self.logProbs(editedLogits)
            // Downstream features: every (SAE, position) the edits can reach, clean against edited.
            var changes: [(node: TraceNode, before: Float, after: Float)] = []
            var largest: Float = 0
            for splice in splices {
                let acts = out.saeCache[SAEHookName(splice.site, .actsPost)]!.reshaped([n, -1]).contiguous()
                let d = acts.shape[1]
                let (l, attention): (Int, Bool) = if case .z(let l) = splice.site { (l, true) } else { (splice.site.layer!, false) }
                let rows = (attention ? run.activeAttention : run.activeResidual)[l]!
                acts.withUnsafeBufferPointer { a in
                    for p in firstPosition..<n {
                        var clean: [Int: Float] = [:]
                        for (f, v) in rows[p] { clean[f] = v; largest = max(largest, v) }
                        var features = Set(clean.keys)
                        for f in 0..<d where a[p * d + f] != 0 { features.insert(f) }
                        for f in features {
                            let node = attention ? TraceNode.attentionFeature(layer: l, position: p, feature: f) : .residualFeature(layer: l, position: p, feature: f)
                            changes.append((node, clean[f] ?? 0, a[p * d + f]))
                        }
                    }
                }
            }
            let edited = Set(edits.map(\.node))
            let moved = changes.filter { !edited.contains($0.node) && abs($0.after - $0.before) > 1e-4 * max(largest, 1e-6) }
                .sorted { abs($0.after - $0.before) > abs($1.after - $1.before) }.prefix(20)
            let strings = tokenizer.stringTokens(run.tokens)
            let labels = labeler.labels(edits.map(\.node) + moved.map(\.node), tokenStrings: strings)
            let tokenChanges = Self.top(zip(editedLP, cleanLP).map { abs($0 - $1) }, 10)
            return InterveneResponse(position: position,
                                     edits: try edits.map { InterveneResponse.Edit(node: info($0.node, labels, strings), before: try run.activation(of: $0.node) ?? 0, after: $0.value) },
                                     clean: predictions(cleanLP, logits: cleanLogits), edited: predictions(editedLP, logits: editedLogits),
                                     tokenChanges: tokenChanges.map { InterveneResponse.TokenChange(token: $0, text: tokenizer.decode([$0]), before: cleanLP[$0], after: editedLP[$0]) },
                                     downstream: moved.map { InterveneResponse.Change(node: info($0.node, labels, strings), before: $0.before, after: $0.after) })
        }
    }

    /// `GET /api/graph`: the graph in circuit-tracer's schema (``CircuitTraceReport/graphJSON(slug:)``), with
    /// the page's state under `qParams` (`expandedIds`) and the named nodes no link reached under `unreached`.
    public func graph(_ r: GraphRequest) async throws -> [String: Any] {
        guard !r.roots.isEmpty else { throw ExplorerError.bad("roots is empty: name at least one feature to trace") }
        guard r.roots.count + r.expanded.count <= settings.maxGraphNodes else {
            throw ExplorerError.bad("roots and expanded name \(r.roots.count + r.expanded.count) nodes; allowed: at most \(settings.maxGraphNodes)")
        }
        let options = TraceOptions(depth: 0, maxChildren: r.maxChildren ?? 6, threshold: r.threshold ?? 0.05, qkEdges: r.qkEdges ?? 3, qkPairs: 10,
                                   featuresOnly: r.featuresOnly ?? false)
        do { try options.validate() } catch let e as TraceOptionError { throw ExplorerError.bad("\(e.name) is \(e.value); allowed: \(e.allowed)") }
        let run = try await trace(r.prompt, bos: r.bos ?? true)
        let json = try await gate.run { [self] in
            let roots = try r.roots.map { try node($0, in: run) }
            for (id, n) in zip(r.roots, roots) where !n.isExpandable { throw ExplorerError.bad("root \(id) (\(n)) is a leaf: roots are SAE features") }
            let expanded = try r.expanded.map { try node($0, in: run) }
            let graph = try run.trace(roots, expanding: Set(expanded), options: options)
            let report = CircuitTraceReport(run: run, graph: graph, prompt: r.prompt, model: model, saeNames: saeNames, labeler: labeler)
            var json = report.graphJSON(slug: "explorer")
            var q = json["qParams"] as! [String: Any]
            q["expandedIds"] = graph.nodes.filter { $0.expanded && !graph.roots.contains($0.node) }.map(\.node.id)
            json["qParams"] = q
            var metadata = json["metadata"] as! [String: Any]
            metadata["generator"] = "attention-saes circuit-explorer serve"
            metadata["bos"] = r.bos ?? true
            json["metadata"] = metadata
            json["unreached"] = graph.unreached.map(\.id)
            return UncheckedSendable(json)
        }
        return json.value
    }
}

/// A value handed across the compute gate that holds no shared mutable state (a fresh JSON dictionary).
struct UncheckedSendable<T>: @unchecked Sendable { let value: T; init(_ v: T) { value = v } }

/// At most `permits` closures running at once, each on a Dispatch worker (off Swift's cooperative threads,
/// which serve the connections); later callers wait in order.
actor ComputeGate {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []
    init(_ permits: Int) { free = max(1, permits) }

    private func acquire() async {
        if free > 0 { free -= 1; return }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }

    nonisolated func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        await acquire()
        let result: Result<T, any Error> = await withCheckedContinuation { c in
            DispatchQueue.global().async { c.resume(returning: Result { try work() }) }
        }
        await release()
        return try result.get()
    }
}

/// Prompt runs by token ids, least recently used dropped first once they hold more than `budget` bytes.
/// Requests for a run being computed wait for that computation instead of starting another.
actor RunCache {
    private struct Entry { let id: UInt64; let task: Task<PromptTrace, any Error>; var bytes: Int; var used: UInt64 }
    private var entries: [[Int]: Entry] = [:]
    private var clock: UInt64 = 0
    private var total = 0
    let budget: Int
    init(budget: Int) { self.budget = budget }

    func usage() -> (runs: Int, bytes: Int) { (entries.values.filter { $0.bytes > 0 }.count, total) }

    func get(_ tokens: [Int], compute: @escaping @Sendable () async throws -> PromptTrace) async throws -> PromptTrace {
        clock += 1
        if var e = entries[tokens] {
            e.used = clock
            entries[tokens] = e
            return try await e.task.value
        }
        let id = clock
        // Not a child task: a client that goes away does not cancel a run others may be waiting for.
        let task = Task { try await compute() }
        entries[tokens] = Entry(id: id, task: task, bytes: 0, used: clock)
        do {
            let run = try await task.value
            if var e = entries[tokens], e.id == id, e.bytes == 0 {
                e.bytes = max(run.memoryFootprint, 1)
                entries[tokens] = e
                total += e.bytes
                evict()
            }
            return run
        } catch {
            if entries[tokens]?.id == id { entries[tokens] = nil }
            throw error
        }
    }

    private func evict() {
        while total > budget, let oldest = entries.filter({ $0.value.bytes > 0 }).min(by: { $0.value.used < $1.value.used }) {
            total -= oldest.value.bytes
            entries[oldest.key] = nil
        }
    }
}
