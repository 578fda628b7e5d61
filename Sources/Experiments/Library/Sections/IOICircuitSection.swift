// IOICircuitSection: the IOI analysis of Docs/Method.md §3.5 — ablating each SAE feature (and the error term) at
// S2 (Fig. 16a), and patching the attention output at S2 from runs where the " and" token, or the names
// and absolute positions, were changed (Fig. 5).

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

public struct IOICircuitSettings: Sendable, Codable, Equatable {
    /// Clean prompts (the reference's `IOIDataset(prompt_type="mixed", N=100, seed=1)`).
    public var prompts = 100
    public var seed = 1
    /// Layers whose `hook_attn_out` is patched and zero-ablated at S2 (GPT-2: 5 and 6).
    public var patchLayers: [Int]
    /// The name flip of the "rand toks + filler" run (Docs/Method.md §4.5).
    public var flip = "ABB->CDD, BAB->DCD"
    /// Put before each corrupted prompt, and inserted at the clean prompt's last punctuation.
    public var fillerPrefix = "It was a nice day. "
    public var filler = " while the weather was nice"
    /// The single token that replaces " and" in the "alongside" run.
    public var replacement = " alongside"
    /// Rows of the table of the most negative mean effects.
    public var tableRows = 15
    /// (prompt, feature) ablation runs per forward pass.
    public var rowsPerForward = 64

    public init(patchLayers: [Int]) { self.patchLayers = patchLayers }

    /// The paper's settings on GPT-2 small: L5 and L6.
    public static let gpt2 = IOICircuitSettings(patchLayers: [5, 6])

    /// The defaults for a model: GPT-2's layers 5 and 6; on the planted model its first layer (the
    /// last one's output at S2 is read by no later layer, so patching it could change nothing).
    /// Why the site leaves the IOI section out for the workspace, or nil: its prompts are built from
    /// GPT-2's single-token names and places, and it patches layers the model must have.
    static func reasonNotToRun(_ s: IOICircuitSettings, _ workspace: Workspace) -> String? {
        let t = workspace.tokenizer
        if t.endOfTextID != GPT2Config.endOfText || t.idLimit != GPT2Config.gpt2Small.dVocab {
            return "the IOI prompts are built from GPT-2's single-token names and places; \(workspace.model.name)'s tokenizer is not GPT-2's"
        }
        if let l = s.patchLayers.first(where: { $0 >= workspace.model.model.config.nLayers }) {
            return "the paper patches layer \(l) (GPT-2 small's), which \(workspace.model.name) does not have"
        }
        return nil
    }

    public static func defaults(for model: LoadedModel) -> IOICircuitSettings {
        model.isPlanted ? IOICircuitSettings(patchLayers: [max(0, model.model.config.nLayers - 2)]) : .gpt2
    }
}

/// What the IOI analysis found; also written as `ioi-circuit/result.json`.
public struct IOICircuitResult: Codable, Sendable, Equatable {
    /// The mean change in logit difference from ablating one feature (or the error term, feature −1)
    /// at each prompt's S2, over the ABBA and over the BABA prompts.
    public struct FeatureEffect: Codable, Sendable, Equatable {
        public var feature: Int
        public var abba: Double, baba: Double
        /// Prompts where the feature fires at S2 (the others' effect is exactly 0).
        public var firing: Int
    }
    /// Mean and unbiased (N−1) standard deviation of per-prompt logit differences.
    public struct Summary: Codable, Sendable, Equatable {
        public var mean: Double, std: Double
        init(_ x: [Double]) {
            let m = x.reduce(0, +) / Double(max(1, x.count))
            mean = m
            std = x.count < 2 ? 0 : (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count - 1)).squareRoot()
        }
    }
    public var model: String
    public var modelLayers: Int
    public var saeLayer: Int
    public var patchLayers: [Int]
    /// The prompts used (those whose names are single tokens and positions parse), their templates.
    public var prompts: [String]
    public var templates: [String]
    /// Prompts of the generated set left out, with why.
    public var dropped: [String]
    /// Per-prompt logit difference IO − S at the end position of the clean run.
    public var clean: [Double]
    /// Live features at S2 (ascending), and the error term.
    public var features: [FeatureEffect]
    public var errorTerm: FeatureEffect
    /// Per-prompt logit differences with `hook_attn_out` of the patch layers at S2 patched from the
    /// "alongside" run, from the "rand toks + filler" run, and zeroed.
    public var alongside: [Double], filler: [Double], zeroAblation: [Double]
    /// How far S2 moves in the filler run (prefix plus clause tokens).
    public var fillerOffset: Int
    /// Clean and corrupted texts shown for checking (the reference's prompt 7 filler, prompt 2 alongside).
    public var examples: [String: [String]]

    public var cleanSummary: Summary { Summary(clean) }
    public var alongsideSummary: Summary { Summary(alongside) }
    public var fillerSummary: Summary { Summary(filler) }
    public var zeroAblationSummary: Summary { Summary(zeroAblation) }
}

public struct IOICircuitSection: Section {
    public static let id = ReportSection.ioiCircuit
    public let sae: AttentionSAE
    public var settings: IOICircuitSettings
    public init(sae: AttentionSAE, settings: IOICircuitSettings) { self.sae = sae; self.settings = settings }

    public func run(in workspace: Workspace, output: SectionOutput) throws -> SectionOutcome {
        let r = try measure(workspace)
        let isPlanted = workspace.model.isPlanted
        try writeReport(r, to: output.folder, isPlanted: isPlanted, up: output.up, featurePages: output.featurePage)
        Self.printSummary(r, settings: settings, isPlanted: isPlanted, log: workspace.log)
        let worst = Self.mostNegative(r, count: 1).first
        return SectionOutcome(page: "index.html", headline: (isPlanted ? "not meaningful on the planted model; " : "")
            + String(format: "logit difference clean %.2f, filler %.2f, alongside %.2f, zero-ablated %.2f", r.cleanSummary.mean, r.fillerSummary.mean,
                     r.alongsideSummary.mean, r.zeroAblationSummary.mean)
            + (worst.map { String(format: "; most negative ablation: %@ (%@) %.3f", $0.feature < 0 ? "error term" : "feature \($0.feature)", $0.template, $0.effect) } ?? ""))
    }

    /// The clean prompts as tokens (no BOS, right-padded with `<|endoftext|>`), with their positions
    /// and answer tokens. Prompts whose names are not single tokens (or whose positions do not parse)
    /// are left out and listed.
    struct Prepared {
        var prompts: [IOIPrompt] = [], positions: [IOIDataset.Positions] = [], tokens: [[Int]] = []
        var io: [Int] = [], s: [Int] = [], dropped: [String] = []
        var templates: [String] { positions.map(\.template) }
        var direction: LogitDifference { LogitDifference(answer: io, other: s, position: positions.map(\.end)) }
        var s2: [(Int, Int)] { positions.enumerated().map { ($0.offset, $0.element.s2) } }
    }

    static func prepare(_ all: [IOIPrompt], tokenizer: GPT2Tokenizer) -> Prepared {
        var p = Prepared()
        for (k, prompt) in all.enumerated() {
            guard let pos = IOIDataset.positions(prompt, tokenizer: tokenizer),
                  let io = tokenizer.singleToken(" " + prompt.io), let s = tokenizer.singleToken(" " + prompt.s) else {
                p.dropped.append("prompt \(k) (\(prompt.text)): a name is not a single token or the positions do not parse")
                continue
            }
            p.prompts.append(prompt); p.positions.append(pos); p.tokens.append(tokenizer.encode(prompt.text))
            p.io.append(io); p.s.append(s)
        }
        return p
    }

    /// Rows right-padded with `pad` to one length, as one `[batch, pos]` tensor.
    static func padded(_ rows: [[Int]], pad: Int) -> IndexTensor {
        let length = rows.map(\.count).max() ?? 0
        return IndexTensor(shape: [rows.count, length], values: rows.flatMap { $0 + Array(repeating: pad, count: length - $0.count) })
    }

    /// Per-prompt logit differences of a run stopped before the unembedding: only the end positions
    /// are unembedded.
    static func logitDifferences(_ model: GPT2, _ tokens: IndexTensor, _ direction: LogitDifference, hooks: [HookName: HookFunction] = [:],
                                 cache: Set<HookName> = []) throws -> (values: [Double], cache: ActivationCache) {
        let out = try model.run(tokens, cache: cache, hooks: hooks, stopAtLayer: model.config.nLayers)
        let rows = Tensor.stack(direction.position.indices.map { out.residual.selecting(axis: 0, $0).selecting(axis: 0, direction.position[$0]) })
        let logits = model.unembed(rows)                                                    // [prompts, d_vocab]
        return (direction.answer.indices.map { Double(logits[$0, direction.answer[$0]] - logits[$0, direction.other[$0]]) }, out.cache)
    }

    /// The prompts, their clean run and what the parts share.
    struct Run {
        let model: GPT2, tokenizer: GPT2Tokenizer, p: Prepared, tokens: IndexTensor, clean: [Double]
        var n: Int { p.prompts.count }
        var direction: LogitDifference { p.direction }
    }

    /// Runs both parts: (a) ablating each SAE feature and the error term at S2 (Fig. 16a), (b) patching
    /// the attention outputs at S2 from the corrupted runs and zero-ablating them (Fig. 5).
    public func measure(_ workspace: Workspace) throws -> IOICircuitResult {
        let (model, tokenizer, s, log) = (workspace.model.model, workspace.tokenizer, settings, workspace.log)
        let c = model.config
        for l in s.patchLayers where l < 0 || l >= c.nLayers {
            throw ExperimentInputError("patch layer \(l) is not in \(workspace.model.name) (layers 0…\(c.nLayers - 1))")
        }
        guard let replacement = tokenizer.singleToken(s.replacement) else {
            throw ExperimentInputError("the replacement \(s.replacement.debugDescription) is not a single token")
        }
        let p = Self.prepare(IOIDataset.generate(count: s.prompts, seed: s.seed), tokenizer: tokenizer)
        guard !p.prompts.isEmpty else { throw ExperimentInputError("none of the \(s.prompts) IOI prompts has single-token names") }
        if !p.dropped.isEmpty { log("\(p.dropped.count) of \(s.prompts) prompts left out: \(p.dropped.first!)…") }
        let tokens = Self.padded(p.tokens, pad: tokenizer.endOfTextID)
        let clean = try Self.logitDifferences(model, tokens, p.direction).values
        log(String(format: "%d prompts; clean logit difference %.3f", p.prompts.count, IOICircuitResult.Summary(clean).mean))
        let run = Run(model: model, tokenizer: tokenizer, p: p, tokens: tokens, clean: clean)
        let (features, errorTerm) = try ablations(run, log: log)
        let patchSites = s.patchLayers.map(HookName.attnOut)
        let (alongside, alongsideRows) = try patchedAlongside(run, sites: patchSites, replacement: replacement)
        let (filler, fillerRows, offset) = try patchedFiller(run, sites: patchSites)
        let zero = try Self.logitDifferences(model, tokens, p.direction, hooks: Dictionary(uniqueKeysWithValues: patchSites.map {
            ($0, Interventions.zeroAblate(at: p.s2))                                            // at S2 only (decision 14)
        })).values
        let n = run.n
        var examples: [String: [String]] = [:]
        if n > 7 { examples["filler (prompt 7)"] = [tokenizer.decode(p.tokens[7]), tokenizer.decode(fillerRows[7])] }
        if n > 2 { examples["alongside (prompt 2)"] = [tokenizer.decode(p.tokens[2]), tokenizer.decode(alongsideRows[2])] }
        return IOICircuitResult(model: workspace.model.name, modelLayers: c.nLayers, saeLayer: sae.layer, patchLayers: s.patchLayers, prompts: p.prompts.map(\.text),
                                templates: p.templates, dropped: p.dropped, clean: clean, features: features, errorTerm: errorTerm,
                                alongside: alongside, filler: filler, zeroAblation: zero, fillerOffset: offset, examples: examples)
    }

    /// (a) Each live feature, and the error term, ablated at each prompt's own S2 (decision 13): the
    /// mean change in logit difference over the ABBA and over the BABA prompts.
    func ablations(_ run: Run, log: (String) -> Void) throws -> (features: [IOICircuitResult.FeatureEffect], errorTerm: IOICircuitResult.FeatureEffect) {
        let (model, p, s, tokenizer, clean, n) = (run.model, run.p, settings, run.tokenizer, run.clean, run.n)
        let (layer, layout, site) = (sae.layer, sae.layout, sae.site)
        let z = try model.runWithCache(run.tokens, names: [site])[site]!                   // [n, P, n_heads, d_head]
        let zS2 = Tensor.stack(p.positions.indices.map { z.selecting(axis: 0, $0).selecting(axis: 0, p.positions[$0].s2) })
        let acts = sae.sae.encode(SAE.flattenHeads(zS2))                                    // [n, d_sae]
        let live = (0..<sae.dSAE).filter { j in (0..<n).contains { acts[$0, j] > 0 } }
        let pairs = live.flatMap { j in (0..<n).filter { acts[$0, j] > 0 }.map { (prompt: $0, feature: j) } }
        log("layer \(layer): \(live.count) features fire at S2; \(pairs.count) (prompt, feature) ablations")
        var effect: [Int: [Double]] = Dictionary(uniqueKeysWithValues: live.map { ($0, Array(repeating: 0.0, count: n)) })
        let wDec = sae.sae.wDec
        for start in stride(from: 0, to: pairs.count, by: s.rowsPerForward) {
            let chunk = Array(pairs[start..<min(start + s.rowsPerForward, pairs.count)])
            let rows = Self.padded(chunk.map { p.tokens[$0.prompt] }, pad: tokenizer.endOfTextID)
            let chunkDirection = LogitDifference(answer: chunk.map { p.io[$0.prompt] }, other: chunk.map { p.s[$0.prompt] },
                                                 position: chunk.map { p.positions[$0.prompt].end })
            // With the error term, the spliced output is x − f_j·W_dec[j] at S2: the hook subtracts it.
            let hook: HookFunction = { zChunk, _ in
                var out = zChunk
                let (pos, width) = (zChunk.shape[1], layout.width)
                out.withUnsafeMutableBufferPointer { buf in
                    for (r, pair) in chunk.enumerated() {
                        let f = acts[pair.prompt, pair.feature], base = (r * pos + p.positions[pair.prompt].s2) * width
                        for k in 0..<width { buf[base + k] -= f * wDec[pair.feature, k] }
                    }
                }
                return out
            }
            let ablated = try Self.logitDifferences(model, rows, chunkDirection, hooks: [site: hook]).values
            for (r, pair) in chunk.enumerated() { effect[pair.feature]![pair.prompt] = ablated[r] - clean[pair.prompt] }
            if (start / s.rowsPerForward) % 20 == 19 { log("  \(start + chunk.count) of \(pairs.count) ablations") }
        }
        // Ablating the error term at S2 leaves the SAE's clean reconstruction there.
        let reconstruction = SAE.unflattenHeads(sae.sae.decode(acts), layout)               // [n, n_heads, d_head]
        let errorHook = Interventions.replace(at: p.s2, heads: nil) { b, _, _ in reconstruction.selecting(axis: 0, b) }
        let errorAblated = try Self.logitDifferences(model, run.tokens, run.direction, hooks: [site: errorHook]).values
        let templates = p.templates
        func byTemplate(_ feature: Int, _ e: [Double], firing: Int) -> IOICircuitResult.FeatureEffect {
            func mean(_ t: String) -> Double {
                let idx = templates.indices.filter { templates[$0] == t }
                return idx.isEmpty ? .nan : idx.map { e[$0] }.reduce(0, +) / Double(idx.count)
            }
            return .init(feature: feature, abba: mean("ABBA"), baba: mean("BABA"), firing: firing)
        }
        return (live.map { j in byTemplate(j, effect[j]!, firing: (0..<n).filter { acts[$0, j] > 0 }.count) },
                byTemplate(-1, zip(errorAblated, clean).map { $0 - $1 }, firing: n))
    }

    /// (b) "alongside": the " and" between the first two names replaced by one other token; the
    /// attention outputs at S2 patched from that run into the clean one.
    func patchedAlongside(_ run: Run, sites patchSites: [HookName], replacement: Int) throws -> (values: [Double], rows: [[Int]]) {
        let (model, p, tokenizer, tokens, direction, n) = (run.model, run.p, run.tokenizer, run.tokens, run.direction, run.n)
        var alongsideRows = p.tokens
        for i in 0..<n {
            let andIndex = p.positions[i].template == "ABBA" ? p.positions[i].s1 - 1 : p.positions[i].s1 + 1
            guard p.tokens[i][andIndex] == tokenizer.singleToken(" and") else {
                throw ExperimentInputError("prompt \(i) (\(p.prompts[i].text)) has no \" and\" next to its first subject")
            }
            alongsideRows[i][andIndex] = replacement
        }
        let alongsideCache = try model.runWithCache(Self.padded(alongsideRows, pad: tokenizer.endOfTextID), names: Set(patchSites))
        let alongside = try Self.logitDifferences(model, tokens, direction, hooks: Dictionary(uniqueKeysWithValues: patchSites.map {
            ($0, Interventions.patch(from: alongsideCache[$0]!, at: p.s2))
        })).values
        return (alongside, alongsideRows)
    }

    /// (b) "rand toks + filler": new names (the flip), a prefix sentence, and a clause at the last
    /// punctuation; S2 moves by the inserted tokens.
    func patchedFiller(_ run: Run, sites patchSites: [HookName]) throws -> (values: [Double], rows: [[Int]], offset: Int) {
        let (model, p, tokenizer, tokens, direction, n, s) = (run.model, run.p, run.tokenizer, run.tokens, run.direction, run.n, settings)
        let prefix = tokenizer.encode(s.fillerPrefix), clause = tokenizer.encode(s.filler)
        let flipped = try IOIDataset.corrupted(p.prompts, flip: s.flip, seed: s.seed)
        var fillerRows: [[Int]] = []
        for i in 0..<n {
            guard let q = flipped[i], let punct = p.positions[i].punct, punct < p.positions[i].s2 else {
                throw ExperimentInputError("prompt \(i) (\(p.prompts[i].text)) cannot take the filler (no names to flip or no punctuation before S2)")
            }
            let t = tokenizer.encode(q.text)
            guard t.count == p.tokens[i].count else {
                throw ExperimentInputError("the flipped prompt \(q.text.debugDescription) does not tokenize to as many tokens as the clean one")
            }
            fillerRows.append(prefix + t[..<punct] + clause + t[punct...])
        }
        let offset = prefix.count + clause.count
        let fillerCache = try model.runWithCache(Self.padded(fillerRows, pad: tokenizer.endOfTextID), names: Set(patchSites))
        let filler = try Self.logitDifferences(model, tokens, direction, hooks: Dictionary(uniqueKeysWithValues: patchSites.map {
            ($0, Interventions.patch(from: fillerCache[$0]!, at: p.s2, offsets: Array(repeating: offset, count: n)))
        })).values
        return (filler, fillerRows, offset)
    }

    /// The `count` most negative (feature, template, mean effect) rows, the error term included.
    public static func mostNegative(_ r: IOICircuitResult, count: Int) -> [(feature: Int, template: String, effect: Double)] {
        (r.features + [r.errorTerm]).flatMap { e in [(e.feature, "ABBA", e.abba), (e.feature, "BABA", e.baba)] }
            .filter { !$0.2.isNaN }
            .sorted { ($0.2, $0.0) < ($1.2, $1.0) }
            .prefix(count).map { (feature: $0.0, template: $0.1, effect: $0.2) }
    }

    /// The summary on stdout: the logit differences of part (b) and the most negative effects of part (a).
    static func printSummary(_ r: IOICircuitResult, settings s: IOICircuitSettings, isPlanted: Bool, log: (String) -> Void) {
        if isPlanted { log("NOTE: the planted-circuit model has no IOI circuit; these numbers only show that the pipeline runs.") }
        for (name, pair) in r.examples.sorted(by: { $0.key < $1.key }) { log("\(name):\n  clean     \(pair[0])\n  corrupted \(pair[1])") }
        log(String(format: "logit difference IO − S (mean ± std over %d prompts): clean %.3f ± %.3f; rand toks + filler %.3f ± %.3f; alongside %.3f ± %.3f; zero-ablated at S2 %.3f ± %.3f",
                   r.prompts.count, r.cleanSummary.mean, r.cleanSummary.std, r.fillerSummary.mean, r.fillerSummary.std,
                   r.alongsideSummary.mean, r.alongsideSummary.std, r.zeroAblationSummary.mean, r.zeroAblationSummary.std))
        let top = mostNegative(r, count: min(5, s.tableRows))
        log("most negative mean effects of ablating at S2: " + top.map { "\($0.feature < 0 ? "error term" : "feature \($0.feature)") (\($0.template)) \(String(format: "%.3f", $0.effect))" }.joined(separator: ", "))
    }

    /// Writes the page and the data behind it into `folder`.
    func writeReport(_ r: IOICircuitResult, to folder: ReportFolder, isPlanted: Bool, up: String?, featurePages: (Int) -> String?) throws {
        try folder.writeJSON(r, to: "result.json")
        try folder.writeCSV(header: ["feature", "mean_effect_abba", "mean_effect_baba", "prompts_firing_at_s2"],
                            rows: (r.features + [r.errorTerm]).map { [$0.feature < 0 ? "error_term" : "\($0.feature)", "\($0.abba)", "\($0.baba)", "\($0.firing)"] },
                            to: "feature-effects.csv")
        try folder.writeCSV(header: ["prompt", "template", "text", "clean", "alongside", "filler", "zero_ablation"],
                            rows: r.prompts.indices.map { i in ["\(i)", r.templates[i], r.prompts[i], "\(r.clean[i])", "\(r.alongside[i])", "\(r.filler[i])", "\(r.zeroAblation[i])"] },
                            to: "logit-differences.csv")
        var body = HTML.h1("IOI circuit: feature ablations at S2 and the \" and\" token (Fig. 16a, Fig. 5)")
        if isPlanted {
            body += HTML.p("<b>Not meaningful on the planted-circuit model.</b> It was built with previous-token, two-back and induction heads only "
                + "(Docs/PlantedModel.md) and has no IOI circuit, so its logit differences on these prompts are incidental; this section runs here "
                + "to exercise the pipeline end to end. On GPT-2 small (\(HTML.code("--model")), \(HTML.code("--sae")) for layer 5) it is the paper's analysis.", class: "note")
        }
        body += HTML.p("\(r.prompts.count) prompts (the reference's mixed IOI set, seed \(settings.seed), no BOS)"
            + (r.dropped.isEmpty ? "" : "; \(r.dropped.count) left out because a name is not one token")
            + ". Logit difference = logit(IO) − logit(S) at the last position. Clean mean \(HTML.number(r.cleanSummary.mean)) (std \(HTML.number(r.cleanSummary.std))).")
        body += ablationPart(r, featurePages: featurePages) + patchingPart(r)
        body += HTML.p("Data: " + ["result.json", "feature-effects.csv", "logit-differences.csv"].map { HTML.link($0, $0) }.joined(separator: " · "), class: "note")
        try folder.write(HTML.page(title: "IOI circuit", body: body, up: up), to: "index.html")
    }

    /// Fig. 16a: the most negative mean effects and their histogram.
    func ablationPart(_ r: IOICircuitResult, featurePages: (Int) -> String?) -> String {
        let layer = r.saeLayer
        var body = HTML.h2("Ablating layer-\(layer) SAE features at S2 (Fig. 16a)")
        body += HTML.p("With the SAE spliced in at \(HTML.code("blocks.\(layer).attn.hook_z")) with its error term, each of the \(r.features.count) features "
            + "that fire at S2 in some prompt is set to 0 at each prompt's own S2 (decision 13; the reference zeroed it at every prompt's S2 position in "
            + "every prompt); the error term is ablated the same way. Effect = ablated − clean logit difference, averaged over the ABBA and over the BABA "
            + "prompts (prompts where the feature is 0 at S2 contribute 0).")
        if r.saeLayer == r.modelLayers - 1 {
            body += HTML.p("The SAE reads the model's last layer: no later layer reads S2, so every effect below is 0 up to float rounding — a check that "
                + "the ablations stay at S2, not a finding. Give an SAE of an earlier layer with \(HTML.code("--sae")) (e.g. one trained with "
                + "\(HTML.code("train-sae --layer 0"))) for non-zero effects.", class: "note")
        }
        body += HTML.table(["feature", "template", "mean change in logit difference"], Self.mostNegative(r, count: settings.tableRows).map { row in
            let name = row.feature < 0 ? "error term" : (featurePages(row.feature).map { HTML.link($0, "\(row.feature)") } ?? "\(row.feature)")
            return [name, row.template, HTML.number(row.effect)]
        }, leftColumns: 2)
        let values = r.features.flatMap { [$0.abba, $0.baba] }.filter { !$0.isNaN }
        guard let lo = values.min(), let hi = values.max() else { return body }
        let bins = 30, width = max(hi - lo, 1e-9) / Double(bins)
        func counts(_ x: [Double]) -> [Double] {
            var c = Array(repeating: 0.0, count: bins)
            for v in x where !v.isNaN { c[min(bins - 1, Int((v - lo) / width))] += 1 }
            return c
        }
        let labels = (0..<bins).map { SVGChart.label(lo + (Double($0) + 0.5) * width) }
        return body + HTML.figure(SVGChart.bars(labels: labels, series: [("ABBA", counts(r.features.map(\.abba))), ("BABA", counts(r.features.map(\.baba)))],
                                                yLabel: "features", width: 760, height: 280, title: "Avg change in logit diff when ablating L\(layer) SAE features at S2", grouped: true),
                                  caption: "Mean effect of every live feature, by template (\(bins) bins from \(HTML.number(lo)) to \(HTML.number(hi))). "
                                      + "Error term: ABBA \(HTML.number(r.errorTerm.abba)), BABA \(HTML.number(r.errorTerm.baba)).",
                                  data: "feature-effects.csv")
    }

    /// Fig. 5: the logit difference after patching from the two corrupted runs, and zero ablation.
    func patchingPart(_ r: IOICircuitResult) -> String {
        let s = settings, layers = r.patchLayers.map(String.init).joined(separator: " and ")
        var body = HTML.h2("The \" and\" token at S2 (Fig. 5)")
        body += HTML.p("The attention outputs of layers \(layers) at S2 are patched into the clean run from two corrupted runs: <i>rand toks + filler</i> — "
            + "new names (\(HTML.escape(s.flip))), the sentence \(HTML.escape(s.fillerPrefix.debugDescription)) before the prompt and "
            + "\(HTML.escape(s.filler.debugDescription)) at its last punctuation, so S2 moves by \(r.fillerOffset) tokens — and <i>alongside</i> — "
            + "\" and\" replaced by \(HTML.escape(s.replacement.debugDescription)). Zero ablation sets those attention outputs to 0 at S2 only "
            + "(decision 14: the reference zeroed the whole layers).")
        let a = r.alongsideSummary, f = r.fillerSummary
        body += HTML.figure(SVGChart.bars(labels: ["rand toks + filler", "alongside"], series: [("logit difference", [f.mean, a.mean])], yLabel: "logit difference",
                                          width: 520, height: 300, title: "IOI logit difference", grouped: true, errors: [[f.std, a.std]],
                                          references: [("clean \(HTML.number(r.cleanSummary.mean, digits: 2))", r.cleanSummary.mean),
                                                       ("zero abl \(HTML.number(r.zeroAblationSummary.mean, digits: 2))", r.zeroAblationSummary.mean)]),
                            caption: "Mean ± standard deviation (N−1) over \(r.prompts.count) prompts; dotted lines: the clean run and zero ablation at S2.",
                            data: "logit-differences.csv")
        body += HTML.table(["run", "mean", "std"], [("clean", r.cleanSummary), ("rand toks + filler", f), ("alongside", a), ("zero ablation at S2", r.zeroAblationSummary)].map {
            [$0.0, HTML.number($0.1.mean), HTML.number($0.1.std)]
        })
        for (name, pair) in r.examples.sorted(by: { $0.key < $1.key }) {
            body += HTML.p("\(HTML.escape(name)): clean \(HTML.element("span", HTML.token(pair[0]), class: "tok"))<br>corrupted \(HTML.element("span", HTML.token(pair[1]), class: "tok"))", class: "note")
        }
        return body
    }
}
