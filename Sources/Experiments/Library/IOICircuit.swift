// IOICircuit: the IOI analysis of SPEC §3.5 — ablating each SAE feature (and the error term) at S2
// (Fig. 16a), and patching the attention output at S2 from runs where the " and" token, or the names
// and absolute positions, were changed (Fig. 5).

import Foundation

public struct IOICircuitSettings: Sendable, Codable, Equatable {
    /// Clean prompts (the reference's `IOIDataset(prompt_type="mixed", N=100, seed=1)`).
    public var prompts = 100
    public var seed = 1
    /// Layers whose `hook_attn_out` is patched and zero-ablated at S2 (GPT-2: 5 and 6).
    public var patchLayers: [Int]
    /// The name flip of the "rand toks + filler" run (SPEC §4.5).
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

public enum IOICircuit {
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

    /// Runs both parts. The SAE must read `hook_z` of a layer of the model.
    public static func run(model loaded: LoadedModel, sae: SAE, tokenizer: GPT2Tokenizer, settings s: IOICircuitSettings,
                           log: (String) -> Void) throws -> IOICircuitResult {
        let model = loaded.model, c = model.config
        guard let layer = sae.config.layer, case .z = try HookName(parsing: sae.config.hookName), let layout = sae.config.headLayout,
              layout.nHeads == c.nHeads, layout.dHead == c.dHead else {
            throw ExperimentInputError("the SAE reads \(sae.config.hookName) with d_in \(sae.config.dIn); the IOI analysis needs one on blocks.L.attn.hook_z of this model (d_in \(c.nHeads * c.dHead))")
        }
        guard layer < c.nLayers else { throw ExperimentInputError("the SAE's layer \(layer) is not in \(loaded.name) (\(c.nLayers) layers)") }
        for l in s.patchLayers where l < 0 || l >= c.nLayers {
            throw ExperimentInputError("patch layer \(l) is not in \(loaded.name) (layers 0…\(c.nLayers - 1))")
        }
        guard let replacement = tokenizer.singleToken(s.replacement) else {
            throw ExperimentInputError("the replacement \(s.replacement.debugDescription) is not a single token")
        }
        let p = prepare(IOIDataset.generate(count: s.prompts, seed: s.seed), tokenizer: tokenizer)
        guard !p.prompts.isEmpty else { throw ExperimentInputError("none of the \(s.prompts) IOI prompts has single-token names") }
        if !p.dropped.isEmpty { log("\(p.dropped.count) of \(s.prompts) prompts left out: \(p.dropped.first!)…") }
        let tokens = padded(p.tokens, pad: tokenizer.endOfTextID)
        let direction = p.direction, n = p.prompts.count
        let clean = try logitDifferences(model, tokens, direction).values
        log(String(format: "%d prompts; clean logit difference %.3f", n, IOICircuitResult.Summary(clean).mean))

        // (a) Ablating each live feature, and the error term, at each prompt's own S2 (decision 13).
        let site = HookName.z(layer)
        let z = try model.runWithCache(tokens, names: [site])[site]!                        // [n, P, n_heads, d_head]
        let zS2 = Tensor.stack(p.positions.indices.map { z.selecting(axis: 0, $0).selecting(axis: 0, p.positions[$0].s2) })
        let acts = sae.encode(SAE.flattenHeads(zS2))                                        // [n, d_sae]
        let live = (0..<sae.config.dSAE).filter { j in (0..<n).contains { acts[$0, j] > 0 } }
        let pairs = live.flatMap { j in (0..<n).filter { acts[$0, j] > 0 }.map { (prompt: $0, feature: j) } }
        log("layer \(layer): \(live.count) features fire at S2; \(pairs.count) (prompt, feature) ablations")
        var effect: [Int: [Double]] = Dictionary(uniqueKeysWithValues: live.map { ($0, Array(repeating: 0.0, count: n)) })
        for start in stride(from: 0, to: pairs.count, by: s.rowsPerForward) {
            let chunk = Array(pairs[start..<min(start + s.rowsPerForward, pairs.count)])
            let rows = padded(chunk.map { p.tokens[$0.prompt] }, pad: tokenizer.endOfTextID)
            let chunkDirection = LogitDifference(answer: chunk.map { p.io[$0.prompt] }, other: chunk.map { p.s[$0.prompt] },
                                                 position: chunk.map { p.positions[$0.prompt].end })
            // With the error term, the spliced output is x − f_j·W_dec[j] at S2: the hook subtracts it.
            let hook: HookFunction = { zChunk, _ in
                var out = zChunk
                let (pos, width) = (zChunk.shape[1], layout.width)
                out.withUnsafeMutableBufferPointer { buf in
                    for (r, pair) in chunk.enumerated() {
                        let f = acts[pair.prompt, pair.feature], base = (r * pos + p.positions[pair.prompt].s2) * width
                        for k in 0..<width { buf[base + k] -= f * sae.wDec[pair.feature, k] }
                    }
                }
                return out
            }
            let ablated = try logitDifferences(model, rows, chunkDirection, hooks: [site: hook]).values
            for (r, pair) in chunk.enumerated() { effect[pair.feature]![pair.prompt] = ablated[r] - clean[pair.prompt] }
            if (start / s.rowsPerForward) % 20 == 19 { log("  \(start + chunk.count) of \(pairs.count) ablations") }
        }
        // Ablating the error term at S2 leaves the SAE's clean reconstruction there.
        let reconstruction = SAE.unflattenHeads(sae.decode(acts), layout)                   // [n, n_heads, d_head]
        let errorHook = Interventions.replace(at: p.s2, heads: nil) { b, _, _ in reconstruction.selecting(axis: 0, b) }
        let errorAblated = try logitDifferences(model, tokens, direction, hooks: [site: errorHook]).values
        let templates = p.templates
        func byTemplate(_ feature: Int, _ e: [Double], firing: Int) -> IOICircuitResult.FeatureEffect {
            func mean(_ t: String) -> Double {
                let idx = templates.indices.filter { templates[$0] == t }
                return idx.isEmpty ? .nan : idx.map { e[$0] }.reduce(0, +) / Double(idx.count)
            }
            return .init(feature: feature, abba: mean("ABBA"), baba: mean("BABA"), firing: firing)
        }
        let features = live.map { j in byTemplate(j, effect[j]!, firing: (0..<n).filter { acts[$0, j] > 0 }.count) }
        let errorTerm = byTemplate(-1, zip(errorAblated, clean).map { $0 - $1 }, firing: n)

        // (b) Patching hook_attn_out at S2 (Fig. 5).
        let patchSites = s.patchLayers.map(HookName.attnOut)
        // "alongside": the " and" between the first two names replaced by one other token.
        var alongsideRows = p.tokens
        for i in 0..<n {
            let andIndex = p.positions[i].template == "ABBA" ? p.positions[i].s1 - 1 : p.positions[i].s1 + 1
            guard p.tokens[i][andIndex] == tokenizer.singleToken(" and") else {
                throw ExperimentInputError("prompt \(i) (\(p.prompts[i].text)) has no \" and\" next to its first subject")
            }
            alongsideRows[i][andIndex] = replacement
        }
        let alongsideCache = try model.runWithCache(padded(alongsideRows, pad: tokenizer.endOfTextID), names: Set(patchSites))
        let alongside = try logitDifferences(model, tokens, direction, hooks: Dictionary(uniqueKeysWithValues: patchSites.map {
            ($0, Interventions.patch(from: alongsideCache[$0]!, at: p.s2))
        })).values
        // "rand toks + filler": new names (the flip), a prefix sentence, and a clause at the last punctuation.
        let prefix = tokenizer.encode(s.fillerPrefix), clause = tokenizer.encode(s.filler)
        let flipped = IOIDataset.corrupted(p.prompts, flip: s.flip, seed: s.seed)
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
        let fillerCache = try model.runWithCache(padded(fillerRows, pad: tokenizer.endOfTextID), names: Set(patchSites))
        let filler = try logitDifferences(model, tokens, direction, hooks: Dictionary(uniqueKeysWithValues: patchSites.map {
            ($0, Interventions.patch(from: fillerCache[$0]!, at: p.s2, offsets: Array(repeating: offset, count: n)))
        })).values
        // Zero ablation at S2 only (decision 14).
        let zero = try logitDifferences(model, tokens, direction, hooks: Dictionary(uniqueKeysWithValues: patchSites.map {
            ($0, Interventions.zeroAblate(at: p.s2))
        })).values

        var examples: [String: [String]] = [:]
        if n > 7 { examples["filler (prompt 7)"] = [tokenizer.decode(p.tokens[7]), tokenizer.decode(fillerRows[7])] }
        if n > 2 { examples["alongside (prompt 2)"] = [tokenizer.decode(p.tokens[2]), tokenizer.decode(alongsideRows[2])] }
        return IOICircuitResult(model: loaded.name, modelLayers: c.nLayers, saeLayer: layer, patchLayers: s.patchLayers, prompts: p.prompts.map(\.text),
                                templates: templates, dropped: p.dropped, clean: clean, features: features, errorTerm: errorTerm,
                                alongside: alongside, filler: filler, zeroAblation: zero, fillerOffset: offset, examples: examples)
    }

    /// The `count` most negative (feature, template, mean effect) rows, the error term included.
    public static func mostNegative(_ r: IOICircuitResult, count: Int) -> [(feature: Int, template: String, effect: Double)] {
        (r.features + [r.errorTerm]).flatMap { e in [(e.feature, "ABBA", e.abba), (e.feature, "BABA", e.baba)] }
            .filter { !$0.2.isNaN }
            .sorted { ($0.2, $0.0) < ($1.2, $1.0) }
            .prefix(count).map { (feature: $0.0, template: $0.1, effect: $0.2) }
    }

    /// The summary on stdout: the logit differences of part (b) and the most negative effects of part (a).
    public static func printSummary(_ r: IOICircuitResult, settings s: IOICircuitSettings, isPlanted: Bool, log: (String) -> Void) {
        if isPlanted { log("NOTE: the planted-circuit model has no IOI circuit; these numbers only show that the pipeline runs.") }
        for (name, pair) in r.examples.sorted(by: { $0.key < $1.key }) { log("\(name):\n  clean     \(pair[0])\n  corrupted \(pair[1])") }
        log(String(format: "logit difference IO − S (mean ± std over %d prompts): clean %.3f ± %.3f; rand toks + filler %.3f ± %.3f; alongside %.3f ± %.3f; zero-ablated at S2 %.3f ± %.3f",
                   r.prompts.count, r.cleanSummary.mean, r.cleanSummary.std, r.fillerSummary.mean, r.fillerSummary.std,
                   r.alongsideSummary.mean, r.alongsideSummary.std, r.zeroAblationSummary.mean, r.zeroAblationSummary.std))
        let top = mostNegative(r, count: min(5, s.tableRows))
        log("most negative mean effects of ablating at S2: " + top.map { "\($0.feature < 0 ? "error term" : "feature \($0.feature)") (\($0.template)) \(String(format: "%.3f", $0.effect))" }.joined(separator: ", "))
    }

    /// Writes the section's page and data under `ioi-circuit/` and returns the page's path in `folder`.
    @discardableResult
    public static func writeReport(_ r: IOICircuitResult, settings s: IOICircuitSettings, to folder: ReportFolder, isPlanted: Bool,
                                   up: String? = nil, featurePages: ((Int) -> String?)? = nil) throws -> String {
        try folder.writeJSON(r, to: "ioi-circuit/result.json")
        try folder.writeCSV(header: ["feature", "mean_effect_abba", "mean_effect_baba", "prompts_firing_at_s2"],
                            rows: (r.features + [r.errorTerm]).map { [$0.feature < 0 ? "error_term" : "\($0.feature)", "\($0.abba)", "\($0.baba)", "\($0.firing)"] },
                            to: "ioi-circuit/feature-effects.csv")
        try folder.writeCSV(header: ["prompt", "template", "text", "clean", "alongside", "filler", "zero_ablation"],
                            rows: r.prompts.indices.map { i in ["\(i)", r.templates[i], r.prompts[i], "\(r.clean[i])", "\(r.alongside[i])", "\(r.filler[i])", "\(r.zeroAblation[i])"] },
                            to: "ioi-circuit/logit-differences.csv")
        let layer = r.saeLayer, layers = r.patchLayers.map(String.init).joined(separator: " and ")
        var body = "<h1>IOI circuit: feature ablations at S2 and the \" and\" token (Fig. 16a, Fig. 5)</h1>\n"
        if isPlanted {
            body += "<p class=\"note\"><b>Not meaningful on the planted-circuit model.</b> It was built with previous-token, two-back and induction heads only (Docs/PlantedModel.md) and has no IOI circuit, so its logit differences on these prompts are incidental; this section runs here to exercise the pipeline end to end. On GPT-2 small (<code>--model</code>, <code>--sae</code> for layer 5) it is the paper's analysis.</p>\n"
        }
        body += "<p>\(r.prompts.count) prompts (the reference's mixed IOI set, seed \(s.seed), no BOS)"
            + (r.dropped.isEmpty ? "" : "; \(r.dropped.count) left out because a name is not one token")
            + ". Logit difference = logit(IO) − logit(S) at the last position. Clean mean \(HTML.number(r.cleanSummary.mean)) (std \(HTML.number(r.cleanSummary.std))).</p>\n"

        body += "<h2>Ablating layer-\(layer) SAE features at S2 (Fig. 16a)</h2>\n"
        body += "<p>With the SAE spliced in at <code>blocks.\(layer).attn.hook_z</code> with its error term, each of the \(r.features.count) features that fire at S2 in some prompt is set to 0 at each prompt's own S2 (decision 13; the reference zeroed it at every prompt's S2 position in every prompt); the error term is ablated the same way. Effect = ablated − clean logit difference, averaged over the ABBA and over the BABA prompts (prompts where the feature is 0 at S2 contribute 0).</p>\n"
        if r.saeLayer == r.modelLayers - 1 {
            body += "<p class=\"note\">The SAE reads the model's last layer: no later layer reads S2, so every effect below is 0 up to float rounding — a check that the ablations stay at S2, not a finding. Give an SAE of an earlier layer with <code>--sae</code> (e.g. one trained with <code>train-sae --layer 0</code>) for non-zero effects.</p>\n"
        }
        let top = mostNegative(r, count: s.tableRows)
        body += HTML.table(["feature", "template", "mean change in logit difference"], top.map { row in
            let name = row.feature < 0 ? "error term" : (featurePages?(row.feature).map { "<a href=\"\(HTML.escape($0))\">\(row.feature)</a>" } ?? "\(row.feature)")
            return [name, row.template, HTML.number(row.effect)]
        }, leftColumns: 2)
        let values = r.features.flatMap { [$0.abba, $0.baba] }.filter { !$0.isNaN }
        if let lo = values.min(), let hi = values.max() {
            let bins = 30, width = max(hi - lo, 1e-9) / Double(bins)
            func counts(_ x: [Double]) -> [Double] {
                var c = Array(repeating: 0.0, count: bins)
                for v in x where !v.isNaN { c[min(bins - 1, Int((v - lo) / width))] += 1 }
                return c
            }
            let labels = (0..<bins).map { SVGChart.label(lo + (Double($0) + 0.5) * width) }
            body += HTML.figure(SVGChart.bars(labels: labels, series: [("ABBA", counts(r.features.map(\.abba))), ("BABA", counts(r.features.map(\.baba)))],
                                              yLabel: "features", width: 760, height: 280, title: "Avg change in logit diff when ablating L\(layer) SAE features at S2", grouped: true),
                                caption: "Mean effect of every live feature, by template (\(bins) bins from \(HTML.number(lo)) to \(HTML.number(hi))). Error term: ABBA \(HTML.number(r.errorTerm.abba)), BABA \(HTML.number(r.errorTerm.baba)).",
                                data: "feature-effects.csv")
        }

        body += "<h2>The \" and\" token at S2 (Fig. 5)</h2>\n"
        body += "<p>The attention outputs of layers \(layers) at S2 are patched into the clean run from two corrupted runs: <i>rand toks + filler</i> — new names (\(HTML.escape(s.flip))), the sentence \(HTML.escape(s.fillerPrefix.debugDescription)) before the prompt and \(HTML.escape(s.filler.debugDescription)) at its last punctuation, so S2 moves by \(r.fillerOffset) tokens — and <i>alongside</i> — \" and\" replaced by \(HTML.escape(s.replacement.debugDescription)). Zero ablation sets those attention outputs to 0 at S2 only (decision 14: the reference zeroed the whole layers).</p>\n"
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
            body += "<p class=\"note\">\(HTML.escape(name)): clean <span class=\"tok\">\(HTML.token(pair[0]))</span><br>corrupted <span class=\"tok\">\(HTML.token(pair[1]))</span></p>\n"
        }
        body += "<p class=\"note\">Data: <a href=\"result.json\">result.json</a> · <a href=\"feature-effects.csv\">feature-effects.csv</a> · <a href=\"logit-differences.csv\">logit-differences.csv</a></p>\n"
        try folder.write(HTML.page(title: "IOI circuit", body: body, up: up), to: "ioi-circuit/index.html")
        return "ioi-circuit/index.html"
    }
}
