// NeuronpediaExportTests: the export against SAEDashboard 0.8.0's Neuronpedia runner — its layout (field
// names, units, rounding and the converter's index conventions), and its own functions on our fixtures
// (Scripts/reference/make_neuronpedia_fixtures.py: vocabulary strings, RollingCorrCoef, k_largest_indices,
// the config's keys) — and against our own dashboards' numbers.

import Foundation
import Testing
import TensorTestSupport
@testable import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct NeuronpediaExportTests {
    static let featureKeys: Set<String> = [
        "feature_index", "neuron_alignment_indices", "neuron_alignment_values", "neuron_alignment_l1", "correlated_neurons_indices",
        "correlated_neurons_l1", "correlated_neurons_pearson", "correlated_features_indices", "correlated_features_l1",
        "correlated_features_pearson", "neg_str", "neg_values", "pos_str", "pos_values", "frac_nonzero", "freq_hist_data_bar_values",
        "freq_hist_data_bar_heights", "logits_hist_data_bar_heights", "logits_hist_data_bar_values", "n_prompts_total",
        "n_tokens_in_prompt", "dataset", "decoder_weights_dist", "activations", "vector",
    ]

    @Test func batchesFollowSAEDashboardsLayout() throws {
        let model = try tinyModel(), tokenizer = try GPT2Tokenizer()
        let attention = try AttentionSAE(tinySAE(), model: model.config)
        let bos = 95                                                           // the tiny model's BOS in these rows
        var rng = RandomStream(seed: 4)
        let tokens = IndexTensor(shape: [24, 16], values: (0..<(24 * 16)).map { $0 % 16 == 0 || $0 % 37 == 5 ? bos : rng.nextInt(below: 95) })
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("np-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The 40 most active features, in batches of 16.
        // The runner folds the decoder norms into the SAE: activations scale by ‖W_dec[j]‖.
        var foldedSAE = attention.sae
        foldedSAE.foldDecoderNorms()
        let scan = try FeatureScan.run(model: model, sae: try AttentionSAE(foldedSAE, model: model.config), tokens: tokens)
        let features = scan.features.sorted { scan.firings[$0].count > scan.firings[$1].count }.prefix(40).sorted()
        var settings = NeuronpediaExport.Settings(modelID: "planted", layer: attention.layer, saeSet: "att-kk", dataset: "rows")
        settings.featuresPerBatch = 16
        let files = try NeuronpediaExport.write(model: model, sae: attention, tokens: tokens, features: Array(features), tokenizer: tokenizer,
                                                ignoredTokens: [bos], settings: settings, to: dir)
        #expect(files.map { ($0 as NSString).lastPathComponent } == ["batch-0.json", "batch-1.json", "batch-2.json"])
        let skipped = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/skipped_indexes.json"))) as! [String: Any]
        #expect((skipped["skipped_indexes"] as! [Int]).count == attention.dSAE - 40 && skipped["layer"] as? String == "\(attention.layer)")

        let pos = tokens.shape[1]
        let rowStrings = (0..<tokens.shape[0]).map { r in tokens.row(r).dropFirst().map { NeuronpediaExport.tokenString($0, tokenizer) } }
        var seen = 0
        for file in files {
            let batch = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
            #expect(Set(batch.keys) == ["model_id", "layer", "sae_set", "sae_id_suffix", "features"])
            #expect(batch["model_id"] as? String == "planted" && batch["layer"] as? Int == attention.layer && batch["sae_id_suffix"] is NSNull)
            for f in batch["features"] as! [[String: Any]] {
                seen += 1
                #expect(Set(f.keys) == Self.featureKeys)
                let j = f["feature_index"] as! Int
                // Density: positions where it fires (BOS positions excluded), as the title's 3-decimal percentage.
                let firings = scan.firings[j].filter { tokens.values[Int($0.row) * pos + Int($0.position)] != bos }
                let density = Double(firings.count) / Double(tokens.count)
                #expect(Swift.abs((f["frac_nonzero"] as! Double) - density) <= 5.001e-6)
                #expect((f["freq_hist_data_bar_heights"] as! [Int]).reduce(0, +) == firings.count)
                #expect((f["logits_hist_data_bar_heights"] as! [Int]).reduce(0, +) == model.config.dVocab)
                // Head shares sum to 1 over the heads; logits ordered as the converter lists them.
                let share = f["decoder_weights_dist"] as! [Double]
                #expect(share.count == model.config.nHeads && Swift.abs(share.reduce(0, +) - 1) < 1e-5)
                let posValues = f["pos_values"] as! [Double], negValues = f["neg_values"] as! [Double]
                #expect(posValues.count == 10 && posValues == posValues.sorted(by: >) && negValues == negValues.sorted())
                let acts = f["activations"] as! [[String: Any]]
                // Always the top 20 (positions that do not fire too, as topk takes them), then up to 5 per quantile interval.
                #expect(acts.count <= 20 + 5 * 5 && acts.prefix(while: { $0["bin_min"] as? Double == -1 }).count == 20)
                // Correlations: 3 of each, a feature never correlated with itself, indices among the batch's features.
                #expect((f["correlated_neurons_indices"] as! [Int]).count == 3 && (f["correlated_features_indices"] as! [Int]).count == 3)
                #expect((f["correlated_neurons_indices"] as! [Int]).allSatisfy { $0 >= 0 && $0 < attention.sae.config.dIn })
                #expect(!(f["correlated_features_indices"] as! [Int]).contains(j) && (f["correlated_features_indices"] as! [Int]).allSatisfy(features.contains))
                let best = firings.map(\.value).max()!
                for (i, a) in acts.enumerated() {
                    let tokensOut = a["tokens"] as! [String], values = a["values"] as! [Double], dfa = a["dfa_values"] as! [Double]
                    #expect(tokensOut.count == pos - 1 && values.count == pos - 1 && dfa.count == pos - 1)
                    let q = a["qualifying_token_index"] as! Int, target = a["dfa_targetIndex"] as! Int
                    #expect(q >= -1 && q < pos - 1 && target >= -1 && target < pos - 1)
                    #expect(a["dfa_maxValue"] as? Double == dfa.max())
                    // DFA at the prompt's most active position (raw activations, ignored tokens included: SAEDashboard's argmax).
                    let row = try #require(rowStrings.firstIndex(of: tokensOut))
                    let raw = scan.firings[j].filter { Int($0.row) == row }
                    let peak = raw.max { $0.value < $1.value || ($0.value == $1.value && $0.position > $1.position) }.map { Int($0.position) } ?? 0
                    #expect(target == peak - 1)
                    if i < min(20, firings.count) {
                        // The top group: bin_min −1, bin_max the maximum (3 decimals), in descending order.
                        #expect(a["bin_min"] as? Double == -1 && a["bin_contains"] as? Double == -1)
                        #expect(Swift.abs((a["bin_max"] as! Double) - Double(best)) <= 5e-4)
                        if i == 0 { #expect(Swift.abs(values[q] - Double(best)) <= 5e-4) }
                    } else {
                        let (lo, hi) = (a["bin_min"] as! Double, a["bin_max"] as! Double)
                        if q >= 0 { #expect(values[q] >= lo - 5e-4 && values[q] <= hi + 5e-4) }
                    }
                }
            }
        }
        #expect(seen == 40)
        // run_settings.json: the runner's config keys.
        let reference = try Self.reference()
        let settingsJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/run_settings.json"))) as! [String: Any]
        #expect(settingsJSON.keys.sorted() == reference.runSettingsKeys)
        #expect(settingsJSON["n_prompts_total"] as? Int == 24 && settingsJSON["model_id"] as? String == "planted" && settingsJSON["top_acts_group_size"] as? Int == 20)
    }

    struct Reference: Decodable {
        struct Top: Decodable { let indices: [[Int]]; let pearson: [[Double]]; let cosine: [[Double]] }
        let vocabStrings: [String: String]
        let x: [[Float]], y: [[Float]]
        let neurons: Top, features: Top
        let topkActs: [[Float]], topk: [[Int]]
        let runSettingsKeys: [String]
    }

    static func reference() throws -> Reference {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return try d.decode(Reference.self, from: Data(contentsOf: fixturesDirectory().appendingPathComponent("neuronpedia_reference.json")))
    }

    /// Our top-k against the runner's: equal values, and equal indices (and cosines) wherever the values
    /// are not tied.
    static func matches(_ ours: [(indices: [Int], pearson: [Double], cosine: [Double])], _ theirs: Reference.Top, ids: [Int]? = nil) -> Bool {
        zip(ours, zip(theirs.indices, zip(theirs.pearson, theirs.cosine))).allSatisfy { o, t in
            let (ti, (tp, tc)) = t
            return zip(o.pearson, tp).allSatisfy { Swift.abs($0 - $1) < 1e-4 } && zip(o.indices.indices, ti).allSatisfy { k, index in
                // A value equal to the smallest listed may tie with values not listed: its index is torch's choice.
                let tied = tp.filter { Swift.abs($0 - tp[k]) < 1e-9 }.count > 1 || Swift.abs(tp[k] - (tp.min() ?? 0)) < 1e-9
                return tied || ((ids.map { $0[o.indices[k]] } ?? o.indices[k]) == index && Swift.abs(o.cosine[k] - tc[k]) < 1e-4)
            }
        }
    }

    @Test func correlationsTopActivationsAndStringsAsTheRunnersOwnFunctions() throws {
        let r = try Self.reference()
        let n = r.x[0].count
        var neurons = NeuronpediaExport.Correlation(x: r.x.count, y: r.y.count)
        var pairs = NeuronpediaExport.Correlation(x: r.x.count, y: r.x.count)
        neurons.n = n; pairs.n = n
        for i in r.x.indices {
            neurons.xSum[i] = r.x[i].reduce(0) { $0 + Double($1) }; neurons.x2Sum[i] = r.x[i].reduce(0) { $0 + Double($1) * Double($1) }
            for j in r.y.indices { neurons.xy[i * r.y.count + j] = zip(r.x[i], r.y[j]).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
            for j in r.x.indices { pairs.xy[i * r.x.count + j] = zip(r.x[i], r.x[j]).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        }
        for j in r.y.indices { neurons.ySum[j] = r.y[j].reduce(0) { $0 + Double($1) }; neurons.y2Sum[j] = r.y[j].reduce(0) { $0 + Double($1) * Double($1) } }
        (pairs.xSum, pairs.x2Sum, pairs.ySum, pairs.y2Sum) = (neurons.xSum, neurons.x2Sum, neurons.xSum, neurons.x2Sum)
        #expect(Self.matches(neurons.top(3, excludingDiagonal: false), r.neurons))
        #expect(Self.matches(pairs.top(3, excludingDiagonal: true), r.features, ids: [10, 11, 12, 13, 14, 15]))
        // The top group: every firing position in order, then positions that do not fire up to k.
        let flat = r.topkActs.flatMap { $0 }, width = r.topkActs[0].count
        var settings = NeuronpediaExport.Settings(modelID: "m", layer: 0, saeSet: "s", dataset: "d")
        (settings.topActivations, settings.quantiles) = (6, 0)
        var rng = RandomStream(seed: 0)
        let firings = flat.indices.filter { flat[$0] > 0 }.map { FeatureFiring(value: flat[$0], row: Int32($0 / width), position: Int32($0 % width)) }
        let top = NeuronpediaExport.selectExamples(firings: firings, positions: width, total: flat.count, settings: settings, rng: &rng)
            .map { [$0.row, $0.position] }
        let firing = flat.filter { $0 > 0 }.count
        #expect(top.count == r.topk.count && Array(top.prefix(firing)) == Array(r.topk.prefix(firing)))
        #expect(top.dropFirst(firing).allSatisfy { flat[$0[0] * width + $0[1]] == 0 })
        // Vocabulary strings as the runner's get_vocab_dict makes them.
        let tokenizer = try GPT2Tokenizer()
        for (id, string) in r.vocabStrings { #expect(NeuronpediaExport.tokenString(Int(id)!, tokenizer) == string, "\(id)") }
        #expect(r.vocabStrings.count >= 10)
    }

    @Test func histogramsAndTokenStringsAsSAEDashboardMakesThem() throws {
        // torch.histc over [min, max] in 5 bins; the maximum falls in the last bin; centres rounded to 5 decimals.
        let h = NeuronpediaExport.histogram([1, 2, 2, 3, 6], bins: 5)
        #expect(h.heights == [1, 2, 1, 0, 1] && h.values == [1.5, 2.5, 3.5, 4.5, 5.5])
        // One distinct value: histc widens the range by 1 each side; every bar value is that value.
        let single = NeuronpediaExport.histogram([0.5, 0.5], bins: 4)
        #expect(single.heights == [0, 0, 2, 0] && single.values == [0.5, 0.5, 0.5, 0.5])
        #expect(NeuronpediaExport.histogram([], bins: 4).heights.isEmpty)
        // The runner's vocab strings: BPE symbols with its substitutions (characters, not HTML entities).
        let tokenizer = try GPT2Tokenizer()
        let the = tokenizer.encode(" the")[0], newline = tokenizer.encode("\n")[0]
        #expect(tokenizer.vocabularyString(the) == "Ġthe")
        #expect(NeuronpediaExport.tokenString(the, tokenizer) == " the" && NeuronpediaExport.tokenString(newline, tokenizer) == "\n")
        #expect(NeuronpediaExport.tokenString(tokenizer.endOfTextID, tokenizer) == "<|endoftext|>")
        #expect(NeuronpediaExport.tokenString(1 << 30, tokenizer) == "<|outofrange|>")
    }

    /// The direct serialiser against Foundation's parser: every value back as it went in.
    @Test func jsonBytesRoundTripThroughFoundation() throws {
        let tree: [String: Any] = [
            "s": "quote \" backslash \\ newline \n tab \t bell \u{07} ünï 🎲 <script>", "i": -42, "d": [0.123, -1e-7, 2.5e20, 3.0, 0.1 + 0.2],
            "n": NSNull(), "b": true, "nested": [["k": [1, 2, 3], "e": [String]()]], "f": Float(0.25), "nan": Double.nan,
        ]
        let bytes = JSONBytes.encode(tree)
        let back = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(back["s"] as? String == tree["s"] as? String && back["i"] as? Int == -42 && back["b"] as? Bool == true)
        let numbers = (back["d"] as? [Any] ?? []).map { ($0 as? NSNumber)?.doubleValue ?? .nan }
        // (Foundation's parser on Linux rounds the last digit of some 17-digit numbers; ours are Swift's
        // shortest round-trip form, which Double(String) reads back exactly.)
        #expect(zip(numbers, tree["d"] as! [Double]).allSatisfy { Swift.abs($0 - $1) <= 1e-15 * Swift.abs($1) }, "\(String(decoding: bytes, as: UTF8.self))")
        var text: [UInt8] = []
        JSONBytes.number(0.1 + 0.2, &text)
        #expect(Double(String(decoding: text, as: UTF8.self)) == 0.1 + 0.2)
        #expect((back["f"] as? NSNumber)?.doubleValue == 0.25 && back["n"] is NSNull && back["nan"] is NSNull)
        #expect(((back["nested"] as? [[String: Any]])?.first?["k"] as? [Int]) == [1, 2, 3])
        // Keys sorted, so a batch file is the same bytes for the same export.
        #expect(String(decoding: JSONBytes.encode(["b": 1, "a": 2]), as: UTF8.self) == #"{"a":2,"b":1}"#)
    }
}

