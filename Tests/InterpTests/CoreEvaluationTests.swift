// CoreEvaluationTests: SAELens's evaluation metrics and SAEBench's per-feature metrics against SAELens's
// own run_evals on the same model, SAEs and tokens (Scripts/reference/make_eval_fixtures.py).

import Foundation
import Testing
import TensorTestSupport
@testable import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct CoreEvaluationTests {
    static func reference() throws -> [String: Any] {
        let url = fixturesDirectory(ofTarget: "InterpTests").appendingPathComponent("core_eval_reference.json")
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// The reference's token batches (`batch_rows` rows each, in order).
    static func batches(_ ref: [String: Any]) -> [IndexTensor] {
        let rows = ref["tokens"] as! [[Int]], per = ref["batch_rows"] as? Int ?? rows.count
        return stride(from: 0, to: rows.count, by: per).map { start in
            let part = rows[start..<Swift.min(start + per, rows.count)]
            return IndexTensor(shape: [part.count, part[start].count], values: part.flatMap { $0 })
        }
    }

    @Test(arguments: ["topk", "jumprelu"]) func matchesSAELensRunEvals(name: String) throws {
        let ref = try Self.reference()
        let modelPath = fixturesDirectory(ofTarget: "TransformerTests").appendingPathComponent("tl-checkpoint/standard/model_final.pth").path
        let model = GPT2(weights: try GPT2Weights.load(transformerLensCheckpoint: modelPath).processed())
        let sae = try SAE.load(saeLens: fixturesDirectory(ofTarget: "SparseAutoencoderTests").appendingPathComponent("saelens-" + name).path)
        // Several batches, as production evaluates: SAELens averages per-batch means.
        let batches = Self.batches(ref)
        #expect(batches.count == 3)
        let ours = try CoreEvaluation.run(model: model, sae: sae, batches: batches, ignoredTokens: [0])
        let theirs = (ref["saes"] as! [String: Any])[name] as! [String: Any]

        // Every scalar metric, by SAEBench's names, through our JSON encoding.
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(ours)) as! [String: Any]
        let metrics = theirs["metrics"] as! [String: [String: Double]]
        var compared = 0
        for (group, values) in metrics {
            let mine = encoded[group] as! [String: Double]
            for (key, expected) in values {
                let got = try #require(mine[key], "\(group).\(key) missing")
                // Relative (Docs/Interp.md): KL and CE come from logits over 3000 tokens (float32 in PyTorch,
                // Double here); the floor is for metrics that are 0 up to rounding.
                let tolerance = 2e-4 * Swift.abs(expected) + 1e-6
                #expect(Swift.abs(got - expected) <= tolerance, "\(name) \(group).\(key): \(got) vs SAELens \(expected)")
                compared += 1
            }
        }
        #expect(compared == 26)
        // Per feature.
        let features = theirs["features"] as! [String: [Any]]
        for f in ours.features {
            let j = f.index
            for (key, value) in [("feature_density", f.featureDensity), ("encoder_norm", f.encoderNorm), ("encoder_bias", f.encoderBias),
                                 ("encoder_decoder_cosine_sim", f.encoderDecoderCosineSim), ("max_encoder_cosine_sim", f.maxEncoderCosineSim),
                                 ("max_decoder_cosine_sim", f.maxDecoderCosineSim), ("decoder_norm", f.decoderNorm)] {
                let expected = features[key]![j] as! Double
                #expect(Swift.abs(value - expected) <= 1e-5, "\(name) feature \(j) \(key): \(value) vs \(expected)")
            }
            let heuristic = features["consistent_activation_heuristic"]![j] as? Double
            #expect((f.consistentActivationHeuristic == nil) == (heuristic == nil), "\(name) feature \(j): fired or not")
            if let h = heuristic { #expect(Swift.abs(f.consistentActivationHeuristic! - h) <= 1e-6 * h, "\(name) feature \(j) consistent activation heuristic") }
        }
    }

    @Test func writesSAEBenchsCoreLayout() throws {
        let ref = try Self.reference()
        let modelPath = fixturesDirectory(ofTarget: "TransformerTests").appendingPathComponent("tl-checkpoint/standard/model_final.pth").path
        let model = GPT2(weights: try GPT2Weights.load(transformerLensCheckpoint: modelPath).processed())
        let sae = try SAE.load(saeLens: fixturesDirectory(ofTarget: "SparseAutoencoderTests").appendingPathComponent("saelens-topk").path)
        let eval = try CoreEvaluation.run(model: model, sae: sae, batches: Self.batches(ref), ignoredTokens: [0])
        let output = CoreEvaluationOutput(evaluation: eval, sae: sae, modelName: "gelu-2l-fixture", dataset: "fixture tokens", contextSize: 24,
                                          batchSizePrompts: 4, batches: 3, excludedSpecialTokens: true, date: Date(timeIntervalSince1970: 1_700_000_000))
        let json = try JSONSerialization.jsonObject(with: output.jsonData()) as! [String: Any]
        // The schema's required top-level fields and nesting (sae_bench/evals/core/eval_output_schema_core.json).
        for key in ["eval_config", "eval_id", "datetime_epoch_millis", "eval_result_metrics", "sae_bench_commit_hash", "sae_lens_id",
                    "sae_lens_release_id", "sae_lens_version", "sae_cfg_dict"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        #expect(json["eval_type_id"] as? String == "core")
        #expect(json["datetime_epoch_millis"] as? Int == 1_700_000_000_000)
        let metrics = json["eval_result_metrics"] as! [String: Any]
        #expect(Set(metrics.keys) == ["model_behavior_preservation", "model_performance_preservation", "reconstruction_quality", "shrinkage",
                                      "sparsity", "token_stats", "misc_metrics"])
        let details = json["eval_result_details"] as! [[String: Any]]
        #expect(details.count == 32)
        #expect(Set(details[0].keys) == ["index", "feature_density", "consistent_activation_heuristic", "encoder_bias", "encoder_norm",
                                         "encoder_decoder_cosine_sim", "max_decoder_cosine_sim", "max_encoder_cosine_sim"])
        // A feature that never fired: SAEBench writes −1 for its NaN heuristic.
        #expect(details.contains { ($0["consistent_activation_heuristic"] as? Double) == -1 })
        let config = json["eval_config"] as! [String: Any]
        #expect(config["context_size"] as? Int == 24 && config["compute_kl"] as? Bool == true)
        let cfg = json["sae_cfg_dict"] as! [String: Any]
        #expect(cfg["architecture"] as? String == "topk" && cfg["k"] as? Int == 4)
        #expect(((json["eval_result_unstructured"] as! [String: Any])["decoder_norm"] as! [Double]).count == 32)
    }
}
