// NeuronpediaExportTests: the export against SAEDashboard's Neuronpedia batch layout (field names, units,
// rounding and the converter's index conventions, read from sae_dashboard 0.8's neuronpedia_converter.py
// and neuronpedia_dashboard.py — SAEDashboard itself cannot be installed beside the reference stack: it
// pins transformer-lens < 3) and against our own dashboards' numbers.

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
        let scan = try FeatureScan.run(model: model, sae: attention, tokens: tokens)
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
                // Top 20 (fewer if it fires less), then up to 5 per quantile interval.
                #expect(acts.count <= 20 + 5 * 5 && acts.prefix(while: { $0["bin_min"] as? Double == -1 }).count == min(20, firings.count))
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
                    if i < 20 {
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
    }

    @Test func histogramsAndTokenStringsAsSAEDashboardMakesThem() throws {
        // torch.histc over [min, max] in 5 bins; the maximum falls in the last bin; centres rounded to 5 decimals.
        let h = NeuronpediaExport.histogram([1, 2, 2, 3, 6], bins: 5)
        #expect(h.heights == [1, 2, 1, 0, 1] && h.values == [1.5, 2.5, 3.5, 4.5, 5.5])
        // One distinct value: histc widens the range by 1 each side; every bar value is that value.
        let single = NeuronpediaExport.histogram([0.5, 0.5], bins: 4)
        #expect(single.heights == [0, 0, 2, 0] && single.values == [0.5, 0.5, 0.5, 0.5])
        #expect(NeuronpediaExport.histogram([], bins: 4).heights.isEmpty)
        // The runner's vocab strings: BPE symbols with its HTML substitutions.
        let tokenizer = try GPT2Tokenizer()
        let the = tokenizer.encode(" the")[0], newline = tokenizer.encode("\n")[0]
        #expect(tokenizer.vocabularyString(the) == "Ġthe")
        #expect(NeuronpediaExport.tokenString(the, tokenizer) == "&nbsp;the" && NeuronpediaExport.tokenString(newline, tokenizer) == "&bsol;n")
        #expect(NeuronpediaExport.tokenString(tokenizer.endOfTextID, tokenizer) == "<|endoftext|>")
        #expect(NeuronpediaExport.tokenString(1 << 30, tokenizer) == "<|outofrange|>")
    }
}
