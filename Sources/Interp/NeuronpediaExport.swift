// NeuronpediaExport: the files SAEDashboard's Neuronpedia runner writes for a hook_z SAE
// (sae_dashboard/neuronpedia/neuronpedia_runner.py + neuronpedia_converter.py, version 0.8.0, compared
// with its own functions in the tests): batch-<n>.json per batch of features, skipped_indexes.json and
// run_settings.json.

import Foundation
import SparseAutoencoder
import Tensor
import Transformer

/// Neuronpedia's dashboard batches for an attention SAE, with SAEDashboard's field names, units and
/// rounding (3 decimals where its converter rounds). As the runner does, the SAE's decoder norms are
/// folded into the encoder first (`fold_W_dec_norm`: activations scale by ‖W_dec[j]‖, the decoder rows
/// become unit vectors), and features are batched as `np.array_split` splits them (near-equal batches
/// of at most `featuresPerBatch`).
///
/// Per feature, on prompts `[n_prompts, n_tokens]` (BOS first):
/// - `activations`: the top `topActivations` positions — always that many, positions that do not fire
///   included, as `topk` takes them (title `TOP ACTIVATIONS`, `bin_min` −1, `bin_max` the
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
/// - `correlated_neurons_*`: the `tableRows` SAE input dimensions (hook_z, heads flattened) whose values
///   correlate most (Pearson) with the feature's activation over every position, with their cosine
///   similarity in `_l1` (SAEDashboard's `RollingCorrCoef`); `correlated_features_*`: the same among the
///   features of its batch (itself excluded).
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

    /// DFA by source position (sources `0...target`) at a prompt's most active position `target` (SAEDashboard's
    /// DFACalculator: the first position where the feature's activation is largest).
    struct DFA { var values: [Float]; var target: Int }

    /// The Neuronpedia runner's substitutions in vocabulary strings (`neuronpedia_runner.HTML_ANOMALIES`,
    /// in its order): byte-level BPE symbols back to the characters Neuronpedia shows.
    static let htmlAnomalies: [(String, String)] = [
        ("âĢĶ", "\u{2014}"), ("âĢĵ", "\u{2013}"), ("âĢľ", "\u{201C}"), ("âĢĿ", "\u{201D}"), ("âĢĺ", "\u{2018}"),
        ("âĢĻ", "\u{2019}"), ("âĢĭ", " "), ("Ġ", " "), ("Ċ", "\n"), ("ĉ", "\t"),
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

    /// `np.array_split(items, ceil(n / size))`: near-equal consecutive batches, the first ones one longer.
    static func arraySplit<T>(_ items: [T], maxSize size: Int) -> [[T]] {
        guard !items.isEmpty else { return [] }
        let parts = (items.count + size - 1) / size, base = items.count / parts, extra = items.count % parts
        var out: [[T]] = [], start = 0
        for p in 0..<parts {
            let n = base + (p < extra ? 1 : 0)
            out.append(Array(items[start..<(start + n)]))
            start += n
        }
        return out
    }

    /// The runner's `run_settings.json`: its `NeuronpediaRunnerConfig` fields, with this export's values.
    static func runSettings(_ s: Settings, sae: SAE, tokens: IndexTensor) -> [String: Any] {
        [
            "sae_set": s.saeSet, "sae_path": sae.config.provenance.path ?? "", "outputs_dir": "", "np_sae_id_suffix": s.saeIDSuffix ?? NSNull(),
            "np_set_name": NSNull(), "from_local_sae": true, "sparsity_threshold": 1, "huggingface_dataset_path": s.dataset,
            "n_prompts_total": tokens.shape[0], "n_tokens_in_prompt": tokens.shape[1], "n_prompts_in_forward_pass": 16,
            "n_features_at_a_time": s.featuresPerBatch, "quantile_feature_batch_size": s.featuresPerBatch, "start_batch": 0, "end_batch": NSNull(),
            "n_quantiles": s.quantiles, "top_acts_group_size": s.topActivations, "quantile_group_size": s.perQuantile, "use_dfa": true,
            "model_dtype": "float32", "sae_dtype": "float32", "model_id": s.modelID, "layer": s.layer, "sae_device": "cpu",
            "activation_store_device": "cpu", "model_device": "cpu", "model_n_devices": 1, "use_wandb": false, "shuffle_tokens": false,
            "prefix_str": NSNull(), "suffix_str": NSNull(), "ignore_positions": NSNull(), "prepend_bos": true,
            "ignore_high_activation_norm_multiple": NSNull(), "hf_model_path": NSNull(), "use_transcoder": false, "use_skip_transcoder": false,
            "use_clt": false, "clt_layer_idx": NSNull(), "clt_dtype": "", "clt_weights_filename": "", "sae_converter_name": NSNull(),
        ]
    }

    /// Running sums for the Pearson correlation and cosine similarity of `x` rows against `y` rows over
    /// the same positions (SAEDashboard's `RollingCorrCoef`), in doubles.
    struct Correlation {
        let xCount: Int, yCount: Int
        var n = 0
        var xSum: [Double], x2Sum: [Double], ySum: [Double], y2Sum: [Double]
        /// `xy[i · yCount + j]` = Σ x_i y_j.
        var xy: [Double]
        init(x: Int, y: Int) {
            xCount = x; yCount = y
            xSum = .init(repeating: 0, count: x); x2Sum = .init(repeating: 0, count: x)
            ySum = .init(repeating: 0, count: y); y2Sum = .init(repeating: 0, count: y)
            xy = .init(repeating: 0, count: x * y)
        }

        /// For each x: the `k` y indices of largest Pearson correlation (ties: the lower index; with
        /// `excludingDiagonal`, x = y counts as 0, as the runner sets it), their Pearson values and cosines.
        func top(_ k: Int, excludingDiagonal: Bool) -> [(indices: [Int], pearson: [Double], cosine: [Double])] {
            let n = Double(self.n)
            return (0..<xCount).map { i in
                var pearson = [Double](repeating: 0, count: yCount), cosine = [Double](repeating: 0, count: yCount)
                for j in 0..<yCount {
                    let sxy = xy[i * yCount + j]
                    cosine[j] = sxy / ((x2Sum[i] * y2Sum[j]).squareRoot() + 1e-6)
                    let den = ((n * x2Sum[i] - xSum[i] * xSum[i]) * (n * y2Sum[j] - ySum[j] * ySum[j])).squareRoot() + 1e-6
                    pearson[j] = (n * sxy - xSum[i] * ySum[j]) / den
                    if excludingDiagonal && i == j { pearson[j] = 0; cosine[j] = 0 }
                }
                let order = pearson.indices.sorted { pearson[$0] > pearson[$1] || (pearson[$0] == pearson[$1] && $0 < $1) }.prefix(k)
                return (Array(order), order.map { pearson[$0] }, order.map { cosine[$0] })
            }
        }
    }

    /// Writes `batch-<n>.json` for `features` (default: all) in batches of at most `featuresPerBatch`,
    /// plus `skipped_indexes.json` (the features not exported) and `run_settings.json`, into `folder`
    /// (each file atomically). `ignoredTokens` (BOS, EOS, padding) never count as firing.
    /// Returns the batch files written.
    @discardableResult
    public static func write(model: GPT2, sae given: AttentionSAE, tokens: IndexTensor, features requested: [Int]? = nil,
                             tokenizer: GPT2Tokenizer, ignoredTokens: Set<Int>, settings s: Settings, to folder: String) throws -> [String] {
        var timings = Timings()
        return try write(model: model, sae: given, tokens: tokens, features: requested, tokenizer: tokenizer, ignoredTokens: ignoredTokens,
                         settings: s, to: folder, timings: &timings)
    }

    /// Seconds in each phase of an export.
    public struct Timings: Sendable {
        /// The scan: model to the SAE's layer, the encoder, collecting firings.
        public var scan = FeatureScan.Timings()
        /// Feature–input correlation sums and their top entries.
        public var correlations = 0.0
        /// Choosing every feature's examples.
        public var selection = 0.0
        /// DFA of the chosen prompts (of which `dfaModel` in model runs for patterns and values).
        public var dfa = 0.0, dfaModel = 0.0
        /// The batches: logit effects, pairwise correlations, JSON (of which `logits` in the product, `writing` in serialising and writing).
        public var batches = 0.0, logits = 0.0, writing = 0.0
        public init() {}
    }

    /// One chosen example: its group's (`bin_min`, `bin_max`, `bin_contains`), the prompt and the position.
    typealias Example = (bin: (Double, Double, Double), row: Int, position: Int)

    /// ``write(model:sae:tokens:features:tokenizer:ignoredTokens:settings:to:)``, reporting where the time went.
    @discardableResult
    public static func write(model: GPT2, sae given: AttentionSAE, tokens: IndexTensor, features requested: [Int]? = nil,
                             tokenizer: GPT2Tokenizer, ignoredTokens: Set<Int>, settings s: Settings, to folder: String,
                             timings: inout Timings) throws -> [String] {
        // The runner folds the decoder norms into the SAE before anything else.
        var folded = given.sae
        folded.foldDecoderNorms()
        let attention = try AttentionSAE(folded, model: model.config)
        let sae = attention.sae
        let features = requested ?? Array(0..<sae.config.dSAE)
        let (nRows, pos) = (tokens.shape[0], tokens.shape[1])
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: runSettings(s, sae: sae, tokens: tokens), options: [.prettyPrinted, .sortedKeys]),
                             to: folder + "/run_settings.json", format: "JSON")
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
        let batches = arraySplit(features, maxSize: s.featuresPerBatch)
        let keep = tokens.values.map { !ignoredTokens.contains($0) }                 // positions that may fire
        // One pass over the prompts for every feature's firings (kept sparse) and the sums behind the
        // feature–input correlations (every position, as the runner's).
        let dIn = sae.config.dIn
        var neurons = Correlation(x: features.count, y: dIn)
        var phase = Date()
        let scan = try FeatureScan.run(model: model, sae: attention, tokens: tokens, features: features, timings: &timings.scan, onEncoded: { _, x, acts in
            let (m, k) = (acts.shape[0], acts.shape[1])
            neurons.n += m
            x.contiguous().withUnsafeBufferPointer { xs in
                acts.contiguous().withUnsafeBufferPointer { a in
                    neurons.xy.withUnsafeMutableBufferPointer { xy in
                        for r in 0..<m {
                            let row = xs.baseAddress! + r * dIn
                            for d in 0..<dIn { let v = Double(row[d]); neurons.ySum[d] += v; neurons.y2Sum[d] += v * v }
                            for j in 0..<k where a[r * k + j] != 0 {
                                let v = Double(a[r * k + j])
                                neurons.xSum[j] += v; neurons.x2Sum[j] += v * v
                                let out = xy.baseAddress! + j * dIn
                                for d in 0..<dIn { out[d] += v * Double(row[d]) }
                            }
                        }
                    }
                }
            }
        })
        let neuronTop = neurons.top(s.tableRows, excludingDiagonal: false)
        timings.correlations += Date().timeIntervalSince(phase) - (timings.scan.model + timings.scan.encoder + timings.scan.bookkeeping)
        phase = Date()

        // Every feature's examples, from its firings alone (no dense [n_prompts · n_tokens] array per feature).
        let nPositions = nRows * pos
        var chosen: [[Example]] = []
        var kept: [[FeatureFiring]] = []                                    // firings at positions that may fire
        chosen.reserveCapacity(features.count)
        for k in features.indices {
            let f = scan.firings[k].filter { keep[Int($0.row) * pos + Int($0.position)] }
            kept.append(f)
            chosen.append(selectExamples(firings: f, positions: pos, total: nPositions, settings: s, rng: &rng))
        }
        timings.selection += Date().timeIntervalSince(phase)
        phase = Date()

        // DFA at each chosen prompt's most active position (raw activations, SAEDashboard's argmax), for every
        // feature from one model run per group of prompts.
        var requests: [Int: [(slot: Int, target: Int)]] = [:]             // row → (feature slot, target)
        for k in features.indices {
            for row in Set(chosen[k].map(\.row)) {
                let r = Self.firings(scan.firings[k], row: row)
                var t = 0, best: Float = 0
                for f in r where f.value > best { best = f.value; t = Int(f.position) }
                requests[row, default: []].append((k, t))
            }
        }
        var dfa: [Int: [Int: DFA]] = [:]                                   // feature slot → row → DFA
        let site = (HookName.pattern(attention.layer), HookName.v(attention.layer))
        let neededRows = requests.keys.sorted()
        for start in stride(from: 0, to: neededRows.count, by: 16) {
            let group = Array(neededRows[start..<min(start + 16, neededRows.count)])
            let t0 = Date()
            let cache = try model.runWithCache(tokens.rows(group), names: [site.0, site.1])
            timings.dfaModel += Date().timeIntervalSince(t0)
            for (i, row) in group.enumerated() {
                let pattern = cache[site.0]!.sliced(axis: 0, i..<(i + 1)).contiguous(), v = cache[site.1]!.sliced(axis: 0, i..<(i + 1)).contiguous()
                let byTarget = Dictionary(grouping: requests[row]!, by: \.target)
                for (t, list) in byTarget {
                    let ks = list.map(\.slot)
                    let rowsEnc = sae.wEnc.gathering(axis: 1, IndexTensor(ks.map { features[$0] })).transposed().contiguous()   // [m, d_in]
                    let vs = FeatureAttribution.dfaBySource(pattern: pattern, v: v, destination: t, encoderRows: rowsEnc).contiguous().scalars  // [t+1, m]
                    for (m, k) in ks.enumerated() {
                        dfa[k, default: [:]][row] = DFA(values: (0...t).map { vs[$0 * ks.count + m] }, target: t)
                    }
                }
            }
        }
        timings.dfa += Date().timeIntervalSince(phase)
        phase = Date()

        let strings = TokenStrings(tokenizer: tokenizer, dVocab: model.config.dVocab)
        var offset = 0
        for (b, batch) in batches.enumerated() {
            defer { offset += batch.count }
            let t0 = Date()
            let logits = FeatureAttribution.logitEffects(sae, features: batch, wO: wO, wU: wU).contiguous()         // [k, d_vocab]
            timings.logits += Date().timeIntervalSince(t0)
            // Feature–feature correlations within the batch, from the firings (co-firing positions only add to Σxy).
            var pairs = Correlation(x: batch.count, y: batch.count)
            pairs.n = nPositions
            var atPosition: [Int: [(Int, Double)]] = [:]
            for k in batch.indices {
                for f in scan.firings[offset + k] {
                    let v = Double(f.value)
                    pairs.xSum[k] += v; pairs.x2Sum[k] += v * v
                    atPosition[Int(f.row) * pos + Int(f.position), default: []].append((k, v))
                }
            }
            (pairs.ySum, pairs.y2Sum) = (pairs.xSum, pairs.x2Sum)
            for (_, list) in atPosition where list.count > 1 {
                for (a, va) in list { for (c, vc) in list { pairs.xy[a * batch.count + c] += va * vc } }
            }
            let featureTop = pairs.top(s.tableRows, excludingDiagonal: true)
            var out: [[String: Any]] = []
            let logitValues = logits.scalars, vocab = logits.shape[1]
            for (k, feature) in batch.enumerated() {
                let slot = offset + k
                var json = featureJSON(feature: feature, firings: kept[slot], total: nPositions, chosen: chosen[slot], dfa: dfa[slot] ?? [:],
                                       logits: Array(logitValues[(k * vocab)..<((k + 1) * vocab)]), headShare: headShare, sae: sae,
                                       tokens: tokens, strings: strings, settings: s)
                let (nt, ft) = (neuronTop[slot], featureTop[k])
                json["correlated_neurons_indices"] = nt.indices
                json["correlated_neurons_pearson"] = nt.pearson.map { round3(Float($0)) }
                json["correlated_neurons_l1"] = nt.cosine.map { round3(Float($0)) }
                json["correlated_features_indices"] = ft.indices.map { batch[$0] }
                json["correlated_features_pearson"] = ft.pearson.map { round3(Float($0)) }
                json["correlated_features_l1"] = ft.cosine.map { round3(Float($0)) }
                out.append(json)
            }
            let batchJSON: [String: Any] = ["model_id": s.modelID, "layer": s.layer, "sae_set": s.saeSet,
                                            "sae_id_suffix": s.saeIDSuffix ?? NSNull(), "features": out]
            let path = folder + "/batch-\(b).json"
            let t1 = Date()
            try AtomicFile.write(Data(JSONBytes.encode(batchJSON)), to: path, format: "JSON")
            timings.writing += Date().timeIntervalSince(t1)
            files.append(path)
        }
        timings.batches += Date().timeIntervalSince(phase)
        return files
    }

    /// The firings of one prompt in a feature's (row, position)-ordered firings (binary search).
    static func firings(_ list: [FeatureFiring], row: Int) -> ArraySlice<FeatureFiring> {
        func firstIndex(atLeast r: Int) -> Int {
            var (lo, hi) = (0, list.count)
            while lo < hi { let mid = (lo + hi) / 2; if Int(list[mid].row) < r { lo = mid + 1 } else { hi = mid } }
            return lo
        }
        return list[firstIndex(atLeast: row)..<firstIndex(atLeast: row + 1)]
    }

    /// The vocabulary strings the runner writes (``tokenString(_:_:)``), each made once.
    final class TokenStrings {
        let tokenizer: GPT2Tokenizer
        var cache: [String?]
        init(tokenizer: GPT2Tokenizer, dVocab: Int) {
            self.tokenizer = tokenizer
            cache = [String?](repeating: nil, count: max(dVocab, 0))
        }
        subscript(_ id: Int) -> String {
            guard id >= 0, id < cache.count else { return tokenString(id, tokenizer) }
            if let s = cache[id] { return s }
            let s = tokenString(id, tokenizer)
            cache[id] = s
            return s
        }
    }

    /// The `k` indices of the largest (or smallest) values, in order (ties: the lower index) — one pass
    /// with a k-entry list instead of a sort of the whole vocabulary.
    static func extremes(_ values: [Float], _ k: Int, largest: Bool) -> [Int] {
        guard k > 0 else { return [] }
        func better(_ a: Int, _ b: Int) -> Bool {
            largest ? (values[a] > values[b] || (values[a] == values[b] && a < b)) : (values[a] < values[b] || (values[a] == values[b] && a < b))
        }
        var best: [Int] = []
        best.reserveCapacity(k + 1)
        for i in values.indices {
            if best.count == k, !better(i, best[k - 1]) { continue }
            var j = best.count
            while j > 0 && better(i, best[j - 1]) { j -= 1 }
            best.insert(i, at: j)
            if best.count > k { best.removeLast() }
        }
        return best
    }

    /// The examples of one feature, as SAEDashboard's `get_indices_dict` picks them, from its firings alone
    /// (`firings` in (row, position) order, at positions that may fire; `total` = prompts × tokens): the
    /// `topActivations` largest values (then, for a rarely firing feature, the earliest positions that do
    /// not fire, as `topk` takes zeros), and for each of `quantiles` equal intervals of `[0, max]` from the
    /// top, `perQuantile` distinct random positions in it — the lowest interval, which holds every position
    /// that does not fire, drawn among all of its positions without listing them. Each example carries its
    /// group's (`bin_min`, `bin_max`, `bin_contains`) as the converter parses them from the title (3 decimals).
    static func selectExamples(firings: [FeatureFiring], positions: Int, total: Int, settings s: Settings, rng: inout RandomStream) -> [Example] {
        func fixed(_ x: Double, _ digits: Int = 3) -> Double { Double(String(format: "%.\(digits)f", x))! }
        let index = { (f: FeatureFiring) in Int(f.row) * positions + Int(f.position) }
        let nonzero = firings.filter { $0.value > 0 }
        let maxValue = nonzero.map(\.value).max() ?? 0
        var out: [Example] = []
        // The top group: the largest values, then (a rarely firing feature) the earliest positions that do not fire.
        let sorted = nonzero.sorted { $0.value > $1.value || ($0.value == $1.value && index($0) < index($1)) }
        for f in sorted.prefix(s.topActivations) { out.append(((-1, fixed(Double(maxValue)), -1), Int(f.row), Int(f.position))) }
        if out.count < min(s.topActivations, total) {
            var next = 0, p = 0
            let firing = nonzero.map(index)
            while out.count < min(s.topActivations, total) {
                if next < firing.count && firing[next] == p { next += 1 } else { out.append(((-1, fixed(Double(maxValue)), -1), p / positions, p % positions)) }
                p += 1
            }
        }
        let zeros = total - nonzero.count
        let firingIndex = nonzero.map(index)
        /// The m-th position (in order) that does not fire.
        func zeroPosition(_ m: Int) -> Int {
            var (lo, hi) = (0, firingIndex.count)                     // first i with firingIndex[i] − i > m
            while lo < hi { let mid = (lo + hi) / 2; if firingIndex[mid] - mid > m { hi = mid } else { lo = mid + 1 } }
            return m + lo
        }
        for q in stride(from: s.quantiles - 1, through: 0, by: -1) {
            let lower = Float(q) * maxValue / Float(s.quantiles), upper = Float(q + 1) * maxValue / Float(s.quantiles)
            let inRange = nonzero.filter { $0.value >= lower && $0.value <= upper }.map(index)
            let withZeros = lower <= 0
            let count = inRange.count + (withZeros ? zeros : 0)
            let contains = fixed(Double(count) / Double(total) * 100) / 100
            let bin = (fixed(Double(lower)), fixed(Double(upper)), contains)
            var picked: [Int]
            if !withZeros {
                picked = inRange
                if picked.count > s.perQuantile {
                    for j in 0..<s.perQuantile {
                        let r = j + Int(rng.next() % UInt64(picked.count - j))
                        picked.swapAt(j, r)
                    }
                    picked = Array(picked.prefix(s.perQuantile))
                }
            } else {
                // Candidates: the non-firing positions (in order), then the small firings; a partial
                // Fisher–Yates over that virtual list, with the swapped entries kept in a dictionary.
                let candidate = { (i: Int) in i < zeros ? zeroPosition(i) : inRange[i - zeros] }
                if count <= s.perQuantile {
                    picked = (0..<count).map(candidate)
                } else {
                    var swapped: [Int: Int] = [:]
                    picked = []
                    for j in 0..<s.perQuantile {
                        let r = j + Int(rng.next() % UInt64(count - j))
                        let (vj, vr) = (swapped[j] ?? j, swapped[r] ?? r)
                        swapped[r] = vj
                        picked.append(candidate(vr))
                    }
                    picked.sort()
                }
            }
            for i in picked { out.append((bin, i / positions, i % positions)) }
        }
        return out
    }

    /// One feature's object, with `NeuronpediaDashboardFeature.to_dict`'s keys; `firings` are its
    /// firings at positions that may fire, `total` the prompts × tokens.
    static func featureJSON(feature: Int, firings: [FeatureFiring], total: Int, chosen: [Example],
                            dfa: [Int: DFA], logits: [Float], headShare: Tensor, sae: SAE, tokens: IndexTensor, strings: TokenStrings,
                            settings s: Settings) -> [String: Any] {
        let pos = tokens.shape[1]
        let nonzero = firings.map(\.value).filter { $0 > 0 }
        let frac = Double(nonzero.count) / Double(total)
        // The runner reads frac_nonzero back from the title "DENSITY = x.xxx%".
        let fracNonzero = Double(String(format: "%.3f", frac * 100))! / 100
        let acts = histogram(nonzero, bins: s.histogramBins), logitHist = histogram(logits, bins: s.histogramBins)
        let top = extremes(logits, s.logitRows, largest: true), bottom = extremes(logits, s.logitRows, largest: false)
        let dec = sae.wDec.selecting(axis: 0, feature).contiguous().scalars
        let aligned = extremes(dec, s.tableRows, largest: true)
        let l1 = dec.reduce(Float(0)) { $0 + Swift.abs($1) }
        let share = headShare.selecting(axis: 0, feature).contiguous().scalars.map(Double.init)
        let activations: [[String: Any]] = chosen.map { c in
            let rowTokens = Array(tokens.row(c.row))
            var values = [Float](repeating: 0, count: pos)                   // as SAEDashboard colours them: ignored tokens 0
            for f in Self.firings(firings, row: c.row) { values[Int(f.position)] = f.value }
            var a: [String: Any] = [
                "bin_min": c.bin.0, "bin_max": c.bin.1, "bin_contains": c.bin.2,
                "tokens": rowTokens.dropFirst().map { strings[$0] },
                "values": values.dropFirst().map(round3), "qualifying_token_index": c.position - 1,
            ]
            if let d = dfa[c.row] {
                var perSource = [Double](repeating: 0, count: pos - 1)      // without the first (BOS) position
                for src in 1..<d.values.count { perSource[src - 1] = round3(d.values[src]) }
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
            "correlated_features_indices": [Int](), "correlated_features_l1": [Double](), "correlated_features_pearson": [Double](),   // filled by write
            "neg_str": bottom.map { strings[$0] }, "neg_values": bottom.map { round3(logits[$0]) },
            "pos_str": top.map { strings[$0] }, "pos_values": top.map { round3(logits[$0]) },
            "frac_nonzero": fracNonzero,
            "freq_hist_data_bar_values": acts.values.map { ($0 * 1000).rounded(.toNearestOrEven) / 1000 }, "freq_hist_data_bar_heights": acts.heights,
            "logits_hist_data_bar_heights": logitHist.heights, "logits_hist_data_bar_values": logitHist.values.map { ($0 * 1000).rounded(.toNearestOrEven) / 1000 },
            "n_prompts_total": tokens.shape[0], "n_tokens_in_prompt": pos, "dataset": s.dataset,
            "decoder_weights_dist": share, "activations": activations, "vector": [Double](),
        ]
    }
}
