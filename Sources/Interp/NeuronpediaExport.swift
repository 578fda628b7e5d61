// NeuronpediaExport: the files SAEDashboard's Neuronpedia runner writes for a hook_z SAE
// (sae_dashboard/neuronpedia/neuronpedia_runner.py + neuronpedia_converter.py, version 0.8 read for the
// layout): batch-<n>.json per batch of features, skipped_indexes.json and run_settings.json.

import Foundation
import SparseAutoencoder
import Tensor
import Transformer

/// Neuronpedia's dashboard batches for an attention SAE, with SAEDashboard's field names, units and
/// rounding (3 decimals where its converter rounds).
///
/// Per feature, on prompts `[n_prompts, n_tokens]` (BOS first):
/// - `activations`: the top `topActivations` firings (title `TOP ACTIVATIONS`, `bin_min` −1, `bin_max` the
///   maximum, `bin_contains` −1), then for each of `quantiles` equal intervals of `[0, max]`, from the top,
///   `perQuantile` random positions with `lower ≤ a ≤ upper` (`bin_contains` the fraction of all positions
///   in it; the lowest interval includes zeros, as SAEDashboard's). Each is the whole prompt without its first
///   token: `tokens` (vocabulary strings, SAEDashboard's HTML substitutions), `values` (the feature's
///   activation per token), `qualifying_token_index` (the chosen position − 1) and DFA at the prompt's
///   most active position: `dfa_values` (per source position, without the first), `dfa_maxValue`,
///   `dfa_targetIndex` (that position − 1).
/// - `pos_str`/`pos_values`, `neg_str`/`neg_values`: the `logitRows` largest and smallest logit effects
///   `W_dec[j] · W_O · W_U`; `logits_hist_data_*` a `histogramBins`-bin histogram of all of them.
/// - `frac_nonzero` (fraction of positions where it fires, BOS positions counted as not firing) and
///   `freq_hist_data_*` (histogram of its non-zero activations over [min, max], bin centres and counts).
/// - `decoder_weights_dist`: the share of `‖W_dec[j]‖` per head; `neuron_alignment_*`: the `tableRows`
///   largest entries of `W_dec[j]` and their share of `Σ|W_dec[j]|`.
/// Not computed: `correlated_neurons_*` / `correlated_features_*` (running correlations; empty lists).
public enum NeuronpediaExport {
    public struct Settings: Codable, Sendable {
        public var modelID: String
        public var layer: Int
        public var saeSet: String
        public var saeIDSuffix: String?
        public var dataset: String
        public var topActivations = 20, quantiles = 5, perQuantile = 5
        public var featuresPerBatch = 128, logitRows = 10, histogramBins = 50, tableRows = 3
        public var seed: UInt64 = 0
        public init(modelID: String, layer: Int, saeSet: String, saeIDSuffix: String? = nil, dataset: String) {
            self.modelID = modelID; self.layer = layer; self.saeSet = saeSet; self.saeIDSuffix = saeIDSuffix; self.dataset = dataset
        }
    }

    /// DFA by source position `[n_tokens]` at a prompt's most active position `target` (SAEDashboard's
    /// DFACalculator: the first position where the feature's activation is largest).
    struct DFA { var values: [Float]; var target: Int }

    /// SAEDashboard's substitutions in vocabulary strings (`utils_fns.HTML_ANOMALIES`).
    static let htmlAnomalies: [(String, String)] = [
        ("âĢĶ", "&mdash;"), ("âĢĵ", "&ndash;"), ("âĢĭ", "&#8203;"), ("âĢľ", "&ldquo;"), ("âĢĿ", "&rdquo;"),
        ("âĢĺ", "&lsquo;"), ("âĢĻ", "&rsquo;"), ("Ġ", "&nbsp;"), ("Ċ", "&bsol;n"), ("ĉ", "&bsol;t"),
    ]

    /// A token's string as the runner's `vocab_dict` has it (`<|outofrange|>` outside the vocabulary).
    static func tokenString(_ id: Int, _ tokenizer: GPT2Tokenizer) -> String {
        guard var s = tokenizer.vocabularyString(id) else { return "<|outofrange|>" }
        for (a, b) in htmlAnomalies { s = s.replacingOccurrences(of: a, with: b) }
        return s
    }

    /// `np.round(x, 3)`.
    static func round3(_ x: Float) -> Double { (Double(x) * 1000).rounded(.toNearestOrEven) / 1000 }

    /// SAEDashboard's `HistogramData.from_data`: `bins` equal bins over [min, max] of `data` (torch.histc),
    /// bar values the bin centres (rounded to 5 decimals), heights the counts; empty for no data.
    static func histogram(_ data: [Float], bins: Int) -> (values: [Double], heights: [Int]) {
        guard let lo = data.min(), let hi = data.max() else { return ([], []) }
        let size = (hi - lo) / Float(bins)
        let values = (0..<bins).map { i in ((Double(lo + Float(i) * (hi - lo) / Float(bins) + size / 2)) * 1e5).rounded() / 1e5 }
        // torch.histc widens an empty range by 1 on each side.
        let (a, b) = lo == hi ? (lo - 1, hi + 1) : (lo, hi)
        var heights = [Int](repeating: 0, count: bins)
        for v in data {
            let k = Int((v - a) / (b - a) * Float(bins))
            heights[min(max(k, 0), bins - 1)] += 1
        }
        return (values, heights)
    }

    /// Writes `batch-<n>.json` for `features` (default: all) in batches of `featuresPerBatch`, plus
    /// `skipped_indexes.json` (the features not exported) and `run_settings.json`, into `folder`
    /// (each file atomically). `ignoredTokens` (BOS, EOS, padding) never count as firing.
    /// Returns the batch files written.
    @discardableResult
    public static func write(model: GPT2, sae attention: AttentionSAE, tokens: IndexTensor, features requested: [Int]? = nil,
                             tokenizer: GPT2Tokenizer, ignoredTokens: Set<Int>, settings s: Settings, to folder: String) throws -> [String] {
        let sae = attention.sae
        let features = requested ?? Array(0..<sae.config.dSAE)
        let (nRows, pos) = (tokens.shape[0], tokens.shape[1])
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(s), to: folder + "/run_settings.json", format: "JSON")
        let skipped = Set(0..<sae.config.dSAE).subtracting(features).sorted()
        let skippedJSON: [String: Any] = ["model_id": s.modelID, "layer": "\(s.layer)", "sae_set": s.saeSet, "log_sparsity": 1, "skipped_indexes": skipped]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: skippedJSON, options: [.sortedKeys]), to: folder + "/skipped_indexes.json", format: "JSON")

        precondition(s.featuresPerBatch >= 1 && s.topActivations >= 0 && s.quantiles >= 0 && s.perQuantile >= 0 && s.logitRows >= 0
                     && s.histogramBins >= 1 && s.tableRows >= 0, "Neuronpedia export settings out of range: \(s)")
        for f in features { precondition(f >= 0 && f < sae.config.dSAE, "feature \(f) is out of range 0..<\(sae.config.dSAE)") }
        let wO = model.weights.blocks[attention.layer].wO, wU = model.weights.wU
        let headShare = FeatureAttribution.decoderHeadAttribution(sae, layout: attention.layout).contiguous()     // [d_sae, n_heads]
        var files: [String] = []
        var rng = RandomStream(seed: s.seed)
        let batches = stride(from: 0, to: features.count, by: s.featuresPerBatch).map { Array(features[$0..<min($0 + s.featuresPerBatch, features.count)]) }
        let keep = tokens.values.map { !ignoredTokens.contains($0) }                 // positions that may fire
        // One pass over the prompts for every feature's firings (kept sparse).
        let scan = try FeatureScan.run(model: model, sae: attention, tokens: tokens, features: features)
        var offset = 0
        for (b, batch) in batches.enumerated() {
            defer { offset += batch.count }
            let logits = FeatureAttribution.logitEffects(sae, features: batch, wO: wO, wU: wU).contiguous()         // [k, d_vocab]
            // Per feature: dense activations, the chosen (group, row, position) examples.
            var dense: [[Float]] = [], masked: [[Float]] = [], chosen: [[(bin: (Double, Double, Double), row: Int, position: Int)]] = []
            for (k, _) in batch.enumerated() {
                var acts = [Float](repeating: 0, count: nRows * pos)
                for f in scan.firings[offset + k] { acts[Int(f.row) * pos + Int(f.position)] = f.value }
                dense.append(acts)
                masked.append((0..<acts.count).map { keep[$0] ? acts[$0] : 0 })
                chosen.append(selectExamples(masked[k], positions: pos, settings: s, rng: &rng))
            }
            // DFA at each needed prompt's most active position, one model run per group of prompts.
            let neededRows = Set(chosen.flatMap { $0.map(\.row) }).sorted()
            var dfa: [Int: [Int: DFA]] = [:]                               // feature slot → row → DFA at its most active position
            let site = (HookName.pattern(attention.layer), HookName.v(attention.layer))
            for start in stride(from: 0, to: neededRows.count, by: 16) {
                let group = Array(neededRows[start..<min(start + 16, neededRows.count)])
                let cache = try model.runWithCache(tokens.rows(group), names: [site.0, site.1])
                for (i, row) in group.enumerated() {
                    let pattern = cache[site.0]!.sliced(axis: 0, i..<(i + 1)).contiguous(), v = cache[site.1]!.sliced(axis: 0, i..<(i + 1)).contiguous()
                    // Features needing this row, grouped by their most active position.
                    var byTarget: [Int: [Int]] = [:]
                    for k in batch.indices where chosen[k].contains(where: { $0.row == row }) {
                        let r = dense[k][(row * pos)..<((row + 1) * pos)]
                        let t = r.indices.max { r[$0] < r[$1] || (r[$0] == r[$1] && $0 > $1) }! - row * pos
                        byTarget[t, default: []].append(k)
                    }
                    for (t, ks) in byTarget {
                        let rowsEnc = sae.wEnc.gathering(axis: 1, IndexTensor(ks.map { batch[$0] })).transposed().contiguous()   // [m, d_in]
                        let values = FeatureAttribution.dfaBySource(pattern: pattern, v: v, destination: t, encoderRows: rowsEnc).contiguous()  // [t+1, m]
                        let vs = values.scalars
                        for (m, k) in ks.enumerated() {
                            var full = [Float](repeating: 0, count: pos)
                            for src in 0...t { full[src] = vs[src * ks.count + m] }
                            dfa[k, default: [:]][row] = DFA(values: full, target: t)
                        }
                    }
                }
            }
            var out: [[String: Any]] = []
            let logitValues = logits.scalars, vocab = logits.shape[1]
            for (k, feature) in batch.enumerated() {
                out.append(featureJSON(feature: feature, masked: masked[k], chosen: chosen[k], dfa: dfa[k] ?? [:],
                                       logits: Array(logitValues[(k * vocab)..<((k + 1) * vocab)]), headShare: headShare, sae: sae,
                                       tokens: tokens, tokenizer: tokenizer, settings: s))
            }
            let batchJSON: [String: Any] = ["model_id": s.modelID, "layer": s.layer, "sae_set": s.saeSet,
                                            "sae_id_suffix": s.saeIDSuffix ?? NSNull(), "features": out]
            let path = folder + "/batch-\(b).json"
            try AtomicFile.write(try JSONSerialization.data(withJSONObject: batchJSON, options: [.sortedKeys]), to: path, format: "JSON")
            files.append(path)
        }
        return files
    }

    /// The examples of one feature from its activations `masked` (`[n_prompts · n_tokens]`, ignored tokens
    /// zeroed): the top activations, then the quantile groups from the top, as SAEDashboard's
    /// `get_indices_dict` picks them; each with its (`bin_min`, `bin_max`, `bin_contains`) as the converter
    /// parses them from the group's title (3 decimals).
    static func selectExamples(_ masked: [Float], positions: Int, settings s: Settings, rng: inout RandomStream)
        -> [(bin: (Double, Double, Double), row: Int, position: Int)] {
        func fixed(_ x: Double, _ digits: Int = 3) -> Double { Double(String(format: "%.\(digits)f", x))! }
        let maxValue = masked.max() ?? 0
        var out: [(bin: (Double, Double, Double), row: Int, position: Int)] = []
        // Top activations (positions that fire; ties: the earlier position).
        let firing = masked.indices.filter { masked[$0] > 0 }
        let top = firing.sorted { masked[$0] > masked[$1] || (masked[$0] == masked[$1] && $0 < $1) }.prefix(s.topActivations)
        for i in top { out.append(((-1, fixed(Double(maxValue)), -1), i / positions, i % positions)) }
        // Quantile groups: [lower, upper] of linspace(0, max, n + 1), the highest first; k random positions in each.
        for q in stride(from: s.quantiles - 1, through: 0, by: -1) {
            let lower = Float(q) * maxValue / Float(s.quantiles), upper = Float(q + 1) * maxValue / Float(s.quantiles)
            var inRange = masked.indices.filter { masked[$0] >= lower && masked[$0] <= upper }
            let contains = fixed(Double(inRange.count) / Double(masked.count) * 100) / 100
            if inRange.count > s.perQuantile {
                // k distinct, uniformly, in draw order (a partial Fisher–Yates shuffle).
                for j in 0..<s.perQuantile {
                    let r = j + Int(rng.next() % UInt64(inRange.count - j))
                    inRange.swapAt(j, r)
                }
                inRange = Array(inRange.prefix(s.perQuantile))
            }
            for i in inRange { out.append(((fixed(Double(lower)), fixed(Double(upper)), contains), i / positions, i % positions)) }
        }
        return out
    }

    /// One feature's object, with `NeuronpediaDashboardFeature.to_dict`'s keys.
    static func featureJSON(feature: Int, masked: [Float], chosen: [(bin: (Double, Double, Double), row: Int, position: Int)],
                            dfa: [Int: DFA], logits: [Float], headShare: Tensor, sae: SAE, tokens: IndexTensor, tokenizer: GPT2Tokenizer,
                            settings s: Settings) -> [String: Any] {
        let pos = tokens.shape[1]
        let nonzero = masked.filter { $0 > 0 }
        let frac = Double(nonzero.count) / Double(masked.count)
        // The runner reads frac_nonzero back from the title "DENSITY = x.xxx%".
        let fracNonzero = Double(String(format: "%.3f", frac * 100))! / 100
        let acts = histogram(nonzero, bins: s.histogramBins), logitHist = histogram(logits, bins: s.histogramBins)
        let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        let top = Array(order.prefix(s.logitRows)), bottom = Array(order.reversed().prefix(s.logitRows))
        let dec = sae.wDec.selecting(axis: 0, feature).contiguous().scalars
        let aligned = dec.indices.sorted { dec[$0] > dec[$1] || (dec[$0] == dec[$1] && $0 < $1) }.prefix(s.tableRows)
        let l1 = dec.reduce(Float(0)) { $0 + Swift.abs($1) }
        let share = headShare.selecting(axis: 0, feature).contiguous().scalars.map(Double.init)
        let activations: [[String: Any]] = chosen.map { c in
            let rowTokens = Array(tokens.row(c.row))
            let values = Array(masked[(c.row * pos + 1)..<((c.row + 1) * pos)])       // as SAEDashboard colours them: ignored tokens 0
            var a: [String: Any] = [
                "bin_min": c.bin.0, "bin_max": c.bin.1, "bin_contains": c.bin.2,
                "tokens": rowTokens.dropFirst().map { tokenString($0, tokenizer) },
                "values": values.map(round3), "qualifying_token_index": c.position - 1,
            ]
            if let d = dfa[c.row] {
                let perSource = d.values[1...].map(round3)                 // without the first (BOS) position
                a["dfa_values"] = perSource
                a["dfa_maxValue"] = perSource.max() ?? 0
                a["dfa_targetIndex"] = d.target - 1
            }
            return a
        }
        return [
            "feature_index": feature,
            "neuron_alignment_indices": Array(aligned), "neuron_alignment_values": aligned.map { round3(dec[$0]) },
            "neuron_alignment_l1": aligned.map { round3(Swift.abs(dec[$0]) / l1) },
            "correlated_neurons_indices": [Int](), "correlated_neurons_l1": [Double](), "correlated_neurons_pearson": [Double](),
            "correlated_features_indices": [Int](), "correlated_features_l1": [Double](), "correlated_features_pearson": [Double](),
            "neg_str": bottom.map { tokenString($0, tokenizer) }, "neg_values": bottom.map { round3(logits[$0]) },
            "pos_str": top.map { tokenString($0, tokenizer) }, "pos_values": top.map { round3(logits[$0]) },
            "frac_nonzero": fracNonzero,
            "freq_hist_data_bar_values": acts.values.map { ($0 * 1000).rounded(.toNearestOrEven) / 1000 }, "freq_hist_data_bar_heights": acts.heights,
            "logits_hist_data_bar_heights": logitHist.heights, "logits_hist_data_bar_values": logitHist.values.map { ($0 * 1000).rounded(.toNearestOrEven) / 1000 },
            "n_prompts_total": tokens.shape[0], "n_tokens_in_prompt": pos, "dataset": s.dataset,
            "decoder_weights_dist": share, "activations": activations, "vector": [Double](),
        ]
    }
}
