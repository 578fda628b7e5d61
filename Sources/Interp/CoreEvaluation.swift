// CoreEvaluation: the metrics the field compares SAEs on — SAELens's `run_evals` (sae_lens/evals.py) with
// every metric on, and SAEBench's core evaluation (its weight-based and misc metrics) — written as
// SAEBench's core-evaluation JSON.

import Foundation
import SparseAutoencoder
import Tensor
import Transformer

/// SAELens's evaluation of an SAE spliced into its hook, with its definitions, names and nesting
/// (SAEBench's `CoreMetricCategories` and `CoreFeatureMetric`).
///
/// On token batches `[batch, pos]`, positions whose token is in the ignored set (BOS: SAELens's
/// `exclude_special_tokens`) are left out of every mean, and the SAE's reconstruction replaces the
/// hook's activation only at the other positions; zero ablation replaces it everywhere. With `x` the
/// flattened `hook_z` rows `[n, d_in]` kept, `x̂` their reconstructions and `f` the feature activations:
/// - KL: `KL(p_clean ‖ p_new)` per kept position, averaged; score `(KL_abl − KL_sae) / KL_abl`.
/// - CE: next-token loss per kept position (the position predicting), averaged; score
///   `(CE_abl − CE_sae) / (CE_abl − CE_clean)`.
/// - explained variance `1 − E‖x − x̂‖² / (E‖x‖² − ‖E x‖²)` (sums in Double); the legacy form averages
///   `1 − ‖x − x̂‖² / ‖x − mean_batch x‖²` over rows; `mse = E‖x − x̂‖²`; `cossim = E cos(x, x̂)`.
/// - `l2_norm_in/out = E‖x‖, E‖x̂‖`; `l2_ratio = E ‖x̂‖/‖x‖` (‖x‖ < 1e-4 counts as 1); relative
///   reconstruction bias `E‖x̂‖² / E(x·x̂)` per batch, averaged over batches.
/// - `l0 = E #{f ≠ 0}`, `l1 = E Σ|f|`.
/// - Per feature: density (kept positions where it fires / kept positions), consistent-activation
///   heuristic (firings / prompts where it fired at least once; nil if never), `‖W_enc[:, j]‖`, `b_enc[j]`,
///   cos(W_enc[:, j], W_dec[j]), the largest cosine with any other encoder column / decoder row, and
///   `‖W_dec[j]‖` (outside SAEBench's per-feature fields).
public struct CoreEvaluation: Codable, Sendable, Equatable {
    public var modelBehaviorPreservation: ModelBehaviorPreservation
    public var modelPerformancePreservation: ModelPerformancePreservation
    public var reconstructionQuality: ReconstructionQuality
    public var shrinkage: Shrinkage
    public var sparsity: Sparsity
    public var tokenStats: TokenStats
    public var miscMetrics: MiscMetrics
    /// One entry per feature.
    public var features: [FeatureMetric]

    public struct ModelBehaviorPreservation: Codable, Sendable, Equatable {
        public var klDivScore: Double, klDivWithAblation: Double, klDivWithSAE: Double
        enum CodingKeys: String, CodingKey { case klDivScore = "kl_div_score", klDivWithAblation = "kl_div_with_ablation", klDivWithSAE = "kl_div_with_sae" }
    }
    public struct ModelPerformancePreservation: Codable, Sendable, Equatable {
        public var ceLossScore: Double, ceLossWithAblation: Double, ceLossWithSAE: Double, ceLossWithoutSAE: Double
        enum CodingKeys: String, CodingKey {
            case ceLossScore = "ce_loss_score", ceLossWithAblation = "ce_loss_with_ablation", ceLossWithSAE = "ce_loss_with_sae", ceLossWithoutSAE = "ce_loss_without_sae"
        }
    }
    public struct ReconstructionQuality: Codable, Sendable, Equatable {
        public var explainedVariance: Double, explainedVarianceLegacy: Double, mse: Double, cossim: Double
        enum CodingKeys: String, CodingKey {
            case explainedVariance = "explained_variance", explainedVarianceLegacy = "explained_variance_legacy", mse, cossim
        }
    }
    public struct Shrinkage: Codable, Sendable, Equatable {
        public var l2NormIn: Double, l2NormOut: Double, l2Ratio: Double, relativeReconstructionBias: Double
        enum CodingKeys: String, CodingKey {
            case l2NormIn = "l2_norm_in", l2NormOut = "l2_norm_out", l2Ratio = "l2_ratio", relativeReconstructionBias = "relative_reconstruction_bias"
        }
    }
    public struct Sparsity: Codable, Sendable, Equatable {
        public var l0: Double, l1: Double
    }
    public struct TokenStats: Codable, Sendable, Equatable {
        public var totalTokensEvalReconstruction: Int, totalTokensEvalSparsityVariance: Int
        enum CodingKeys: String, CodingKey {
            case totalTokensEvalReconstruction = "total_tokens_eval_reconstruction", totalTokensEvalSparsityVariance = "total_tokens_eval_sparsity_variance"
        }
    }
    public struct MiscMetrics: Codable, Sendable, Equatable {
        public var freqOver1Percent: Double, freqOver10Percent: Double
        public var normalizedFreqOver1Percent: Double, normalizedFreqOver10Percent: Double
        public var averageMaxEncoderCosineSim: Double, averageMaxDecoderCosineSim: Double
        public var fracAlive: Double
        enum CodingKeys: String, CodingKey {
            case freqOver1Percent = "freq_over_1_percent", freqOver10Percent = "freq_over_10_percent"
            case normalizedFreqOver1Percent = "normalized_freq_over_1_percent", normalizedFreqOver10Percent = "normalized_freq_over_10_percent"
            case averageMaxEncoderCosineSim = "average_max_encoder_cosine_sim", averageMaxDecoderCosineSim = "average_max_decoder_cosine_sim"
            case fracAlive = "frac_alive"
        }
    }
    public struct FeatureMetric: Codable, Sendable, Equatable {
        public var index: Int
        public var featureDensity: Double
        /// nil for a feature that never fired (SAELens: NaN).
        public var consistentActivationHeuristic: Double?
        public var encoderBias: Double, encoderNorm: Double, encoderDecoderCosineSim: Double
        public var maxDecoderCosineSim: Double, maxEncoderCosineSim: Double
        /// `‖W_dec[j]‖` (not one of SAEBench's per-feature fields: written under `eval_result_unstructured`).
        public var decoderNorm: Double
        enum CodingKeys: String, CodingKey {
            case index, featureDensity = "feature_density", consistentActivationHeuristic = "consistent_activation_heuristic"
            case encoderBias = "encoder_bias", encoderNorm = "encoder_norm", encoderDecoderCosineSim = "encoder_decoder_cosine_sim"
            case maxDecoderCosineSim = "max_decoder_cosine_sim", maxEncoderCosineSim = "max_encoder_cosine_sim", decoderNorm = "decoder_norm"
        }
    }

    enum CodingKeys: String, CodingKey {
        case modelBehaviorPreservation = "model_behavior_preservation", modelPerformancePreservation = "model_performance_preservation"
        case reconstructionQuality = "reconstruction_quality", shrinkage, sparsity, tokenStats = "token_stats", miscMetrics = "misc_metrics"
        case features
    }
}

extension CoreEvaluation {
    /// Evaluates `sae` spliced into its hook (`blocks.L.attn.hook_z`) of `model` on `batches`
    /// (`[batch, pos]` each), leaving out positions whose token is in `ignoredTokens`.
    public static func run(model: GPT2, sae: SAE, batches: [IndexTensor], ignoredTokens: Set<Int>) throws -> CoreEvaluation {
        precondition(!batches.isEmpty, "evaluation needs at least one batch")
        let site = try HookName(parsing: sae.config.hookName)
        var sums = Sums(sae: sae, site: site, ignoredTokens: ignoredTokens)
        for tokens in batches {
            let clean = try model.run(tokens, cache: [site])
            let ablated = try model.run(tokens, hooks: [site: Interventions.zeroAblate()]).logits!
            try sums.add(model: model, tokens: tokens, cleanLogits: clean.logits!, z: clean.cache[site]!, ablatedLogits: ablated)
        }
        return sums.result
    }

    /// The running sums of an evaluation, one batch at a time, from the batch's clean logits, its `hook_z`
    /// and its zero-ablated logits (so a caller that has them — ``SAEEvaluation/evaluate(model:sae:batches:ignoredTokens:)`` —
    /// runs the model for them once); the masked splice is run here.
    public struct Sums {
        let sae: SAE, site: HookName, ignoredTokens: Set<Int>
        var kl = (sae: [Double](), ablation: [Double]()), ce = (clean: [Double](), sae: [Double](), ablation: [Double]())
        var rows: Accumulator
        var tokens = 0

        public init(sae: SAE, site: HookName, ignoredTokens: Set<Int>) {
            self.sae = sae; self.site = site; self.ignoredTokens = ignoredTokens
            rows = Accumulator(features: sae.config.dSAE)
        }

        public mutating func add(model: GPT2, tokens batch: IndexTensor, cleanLogits: Tensor, z: Tensor, ablatedLogits: Tensor) throws {
            let (b, p, dIn) = (batch.shape[0], batch.shape[1], sae.config.dIn)
            let keep = batch.values.map { !ignoredTokens.contains($0) }                  // [b·p]
            tokens += batch.count
            let x = SAE.flattenHeads(z).reshaped([b * p, dIn]).contiguous()
            let f = sae.encode(x), xHat = sae.decode(f).contiguous()
            // Spliced: the reconstruction at kept positions, the activation elsewhere.
            var spliced = x
            spliced.withUnsafeMutableBufferPointer { s in
                xHat.withUnsafeBufferPointer { r in
                    for row in 0..<(b * p) where keep[row] { for a in 0..<dIn { s[row * dIn + a] = r[row * dIn + a] } }
                }
            }
            let splicedZ = spliced.reshaped(z.shape)
            let saeLogits = try model.run(batch, hooks: [site: { _, _ in splicedZ }]).logits!
            // Per kept position: KL(clean ‖ new); per kept predicting position (not the last): CE.
            let klSAE = CoreEvaluation.klDivergence(cleanLogits, saeLogits), klAbl = CoreEvaluation.klDivergence(cleanLogits, ablatedLogits)
            let ceClean = GPT2.lossPerToken(logits: cleanLogits, tokens: batch).scalars
            let ceSAE = GPT2.lossPerToken(logits: saeLogits, tokens: batch).scalars
            let ceAbl = GPT2.lossPerToken(logits: ablatedLogits, tokens: batch).scalars
            for i in 0..<b {
                for t in 0..<p where keep[i * p + t] {
                    kl.sae.append(klSAE[i * p + t]); kl.ablation.append(klAbl[i * p + t])
                    if t < p - 1 {
                        let k = i * (p - 1) + t
                        ce.clean.append(Double(ceClean[k])); ce.sae.append(Double(ceSAE[k])); ce.ablation.append(Double(ceAbl[k]))
                    }
                }
            }
            rows.add(x: x, xHat: xHat, f: f, keep: keep, prompts: b, positions: p)
        }

        /// The evaluation of the batches added so far.
        public var result: CoreEvaluation {
            let fDim = sae.config.dSAE
            func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
            let klSAE = mean(kl.sae), klAbl = mean(kl.ablation)
            let ceClean = mean(ce.clean), ceSAE = mean(ce.sae), ceAbl = mean(ce.ablation)
            let features = rows.features(sae)
            let density = features.map(\.featureDensity)
            let total = density.reduce(0, +)
            let misc = MiscMetrics(
                freqOver1Percent: Double(density.filter { $0 > 0.01 }.count) / Double(fDim),
                freqOver10Percent: Double(density.filter { $0 > 0.1 }.count) / Double(fDim),
                normalizedFreqOver1Percent: total > 0 ? density.filter { $0 > 0.01 }.reduce(0, +) / total : 0,
                normalizedFreqOver10Percent: total > 0 ? density.filter { $0 > 0.1 }.reduce(0, +) / total : 0,
                averageMaxEncoderCosineSim: mean(features.map(\.maxEncoderCosineSim)), averageMaxDecoderCosineSim: mean(features.map(\.maxDecoderCosineSim)),
                fracAlive: Double(density.filter { $0 > 0 }.count) / Double(fDim))
            return CoreEvaluation(
                modelBehaviorPreservation: ModelBehaviorPreservation(klDivScore: (klAbl - klSAE) / klAbl, klDivWithAblation: klAbl, klDivWithSAE: klSAE),
                modelPerformancePreservation: ModelPerformancePreservation(ceLossScore: (ceAbl - ceSAE) / (ceAbl - ceClean), ceLossWithAblation: ceAbl,
                                                                           ceLossWithSAE: ceSAE, ceLossWithoutSAE: ceClean),
                reconstructionQuality: rows.reconstructionQuality, shrinkage: rows.shrinkage, sparsity: rows.sparsity,
                tokenStats: TokenStats(totalTokensEvalReconstruction: tokens, totalTokensEvalSparsityVariance: tokens),
                miscMetrics: misc, features: features)
        }
    }

    /// `KL(softmax(clean) ‖ softmax(new))` per position of logits `[batch, pos, d_vocab]`, in Double.
    static func klDivergence(_ clean: Tensor, _ new: Tensor) -> [Double] {
        let a = clean.contiguous().scalars, b = new.contiguous().scalars
        let v = clean.shape.last!, n = clean.count / v
        func logSoftmax(_ x: ArraySlice<Float>) -> [Double] {
            let m = Double(x.max()!)
            let lse = m + Foundation.log(x.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) })
            return x.map { Double($0) - lse }
        }
        var out = [Double](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { o in
            let box = UnsafeSendableBox(o.baseAddress!)
            Parallel.forEach(in: 0..<n, minChunk: 4) { r in
                let lp = logSoftmax(a[(r * v)..<((r + 1) * v)]), lq = logSoftmax(b[(r * v)..<((r + 1) * v)])
                var s = 0.0
                for k in 0..<v { let p = Foundation.exp(lp[k]); if p > 0 { s += p * (lp[k] - lq[k]) } }
                box.value[r] = s
            }
        }
        return out
    }

    /// The row-wise sums of the sparsity/variance pass.
    struct Accumulator {
        var n = 0
        var sumX: [Double] = [], sumSquaredNorm = 0.0, sumSquaredResidual = 0.0
        var legacy = 0.0, cos = 0.0, normIn = 0.0, normOut = 0.0, ratio = 0.0, l0 = 0.0, l1 = 0.0
        var biases: [Double] = []
        var fired: [Int], promptsFired: [Int]
        init(features: Int) { fired = [Int](repeating: 0, count: features); promptsFired = fired }

        mutating func add(x: Tensor, xHat: Tensor, f: Tensor, keep: [Bool], prompts: Int, positions: Int) {
            let d = x.shape[1], fDim = f.shape[1]
            if sumX.isEmpty { sumX = [Double](repeating: 0, count: d) }
            let xs = x.scalars, rs = xHat.scalars, fs = f.contiguous().scalars
            let kept = (0..<keep.count).filter { keep[$0] }
            guard !kept.isEmpty else { return }
            // The batch mean of the kept rows (the legacy explained variance's centre).
            var batchMean = [Float](repeating: 0, count: d)
            for r in kept { for a in 0..<d { batchMean[a] += xs[r * d + a] } }
            for a in 0..<d { batchMean[a] /= Float(kept.count) }
            var xHatSq = 0.0, xDot = 0.0
            for r in kept {
                var ss: Float = 0, res: Float = 0, cen: Float = 0, dot: Float = 0, outSq: Float = 0
                for a in 0..<d {
                    let xv = xs[r * d + a], rv = rs[r * d + a]
                    ss += xv * xv; outSq += rv * rv; dot += xv * rv
                    res += (xv - rv) * (xv - rv)
                    cen += (xv - batchMean[a]) * (xv - batchMean[a])
                    sumX[a] += Double(xv)
                }
                sumSquaredNorm += Double(ss); sumSquaredResidual += Double(res)
                legacy += Double(1 - res / cen)
                let inNorm = ss.squareRoot(), outNorm = outSq.squareRoot()
                cos += Double(dot / (inNorm * outNorm))
                normIn += Double(inNorm); normOut += Double(outNorm)
                ratio += Double(outNorm / (Swift.abs(inNorm) < 1e-4 ? 1 : inNorm))
                xHatSq += Double(outSq); xDot += Double(dot)
                var active = 0, absSum: Float = 0
                for j in 0..<fDim where fs[r * fDim + j] != 0 {
                    active += 1; absSum += Swift.abs(fs[r * fDim + j]); fired[j] += 1
                }
                l0 += Double(active); l1 += Double(absSum)
            }
            n += kept.count
            biases.append((xHatSq / Double(kept.count)) / (xDot / Double(kept.count)))
            for i in 0..<prompts {
                for j in 0..<fDim where (0..<positions).contains(where: { keep[i * positions + $0] && fs[(i * positions + $0) * fDim + j] != 0 }) {
                    promptsFired[j] += 1
                }
            }
        }

        var reconstructionQuality: ReconstructionQuality {
            let m = Double(n)
            let meanSq = sumSquaredNorm / m, meanX = sumX.map { $0 / m }
            let variance = meanSq - meanX.reduce(0) { $0 + $1 * $1 }
            let mse = sumSquaredResidual / m
            let ev = variance < 1e-10 ? (mse < 1e-10 ? 1 : 0) : 1 - mse / variance
            return ReconstructionQuality(explainedVariance: ev, explainedVarianceLegacy: legacy / m, mse: mse, cossim: cos / m)
        }

        var shrinkage: Shrinkage {
            let m = Double(n)
            return Shrinkage(l2NormIn: normIn / m, l2NormOut: normOut / m, l2Ratio: ratio / m,
                             relativeReconstructionBias: biases.reduce(0, +) / Double(biases.count))
        }

        var sparsity: Sparsity { Sparsity(l0: l0 / Double(n), l1: l1 / Double(n)) }

        /// Density statistics and the weight-based metrics, per feature.
        func features(_ sae: SAE) -> [FeatureMetric] {
            let fDim = sae.config.dSAE
            let enc = sae.wEnc.transposed().contiguous(), dec = sae.wDec.contiguous()           // [F, d_in] both
            let encNorm = enc.l2Norm(axis: -1).scalars, decNorm = dec.l2Norm(axis: -1).scalars
            let encUnit = enc / enc.l2Norm(axis: -1, keepingAxis: true), decUnit = dec / dec.l2Norm(axis: -1, keepingAxis: true)
            func maxOthers(_ unit: Tensor) -> [Float] {
                var sims = Tensor.matmul(unit, unit, transposeB: true)                         // [F, F]
                sims.withUnsafeMutableBufferPointer { s in for j in 0..<fDim { s[j * fDim + j] = -.infinity } }
                return sims.max(axis: -1).scalars
            }
            let maxEnc = maxOthers(encUnit), maxDec = maxOthers(decUnit)
            let cosine = (encUnit * decUnit).sum(axis: -1).scalars
            let bias = sae.bEnc.scalars
            return (0..<fDim).map { j in
                FeatureMetric(index: j, featureDensity: Double(fired[j]) / Double(n),
                              consistentActivationHeuristic: promptsFired[j] > 0 ? Double(fired[j]) / Double(promptsFired[j]) : nil,
                              encoderBias: Double(bias[j]), encoderNorm: Double(encNorm[j]), encoderDecoderCosineSim: Double(cosine[j]),
                              maxDecoderCosineSim: Double(maxDec[j]), maxEncoderCosineSim: Double(maxEnc[j]), decoderNorm: Double(decNorm[j]))
            }
        }
    }
}

/// A ``CoreEvaluation`` in SAEBench's core-evaluation output layout (`CoreEvalOutput`,
/// sae_bench/evals/core/eval_output_schema_core.json): `eval_type_id` "core", `eval_config`,
/// `eval_id`, `datetime_epoch_millis`, `eval_result_metrics` (the seven categories),
/// `eval_result_details` (one object per feature; a NaN heuristic written as −1, as SAEBench does),
/// `sae_cfg_dict` (the SAE's SAELens `cfg.json`) and `eval_result_unstructured` (decoder norms).
public struct CoreEvaluationOutput {
    public var evaluation: CoreEvaluation
    public var sae: SAE
    public var modelName: String, dataset: String
    public var contextSize: Int, batchSizePrompts: Int, batches: Int
    public var excludedSpecialTokens: Bool
    public var date: Date
    public var id: String

    public init(evaluation: CoreEvaluation, sae: SAE, modelName: String, dataset: String, contextSize: Int, batchSizePrompts: Int,
                batches: Int, excludedSpecialTokens: Bool, date: Date = Date(), id: String = UUID().uuidString) {
        self.evaluation = evaluation; self.sae = sae; self.modelName = modelName; self.dataset = dataset
        self.contextSize = contextSize; self.batchSizePrompts = batchSizePrompts; self.batches = batches
        self.excludedSpecialTokens = excludedSpecialTokens; self.date = date; self.id = id
    }

    /// The JSON object, keys sorted.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let encoded = try JSONSerialization.jsonObject(with: encoder.encode(evaluation)) as! [String: Any]
        var metrics = encoded
        metrics["features"] = nil
        let details: [[String: Any]] = evaluation.features.map { f in
            ["index": f.index, "feature_density": f.featureDensity, "consistent_activation_heuristic": f.consistentActivationHeuristic ?? -1,
             "encoder_bias": f.encoderBias, "encoder_norm": f.encoderNorm, "encoder_decoder_cosine_sim": f.encoderDecoderCosineSim,
             "max_decoder_cosine_sim": f.maxDecoderCosineSim, "max_encoder_cosine_sim": f.maxEncoderCosineSim]
        }
        let config: [String: Any] = [
            "model_name": modelName, "llm_dtype": "float32", "batch_size_prompts": batchSizePrompts,
            "n_eval_reconstruction_batches": batches, "n_eval_sparsity_variance_batches": batches, "dataset": dataset,
            "context_size": contextSize, "compute_kl": true, "compute_ce_loss": true, "compute_l2_norms": true,
            "compute_sparsity_metrics": true, "compute_variance_metrics": true, "compute_featurewise_density_statistics": true,
            "compute_featurewise_weight_based_metrics": true, "exclude_special_tokens_from_reconstruction": excludedSpecialTokens,
            "verbose": false,
        ]
        let object: [String: Any] = [
            "eval_type_id": "core", "eval_config": config, "eval_id": id,
            "datetime_epoch_millis": Int((date.timeIntervalSince1970 * 1000).rounded()),
            "eval_result_metrics": Self.finite(metrics), "eval_result_details": details.map { Self.finite($0) },
            "sae_bench_commit_hash": "none: written by attention-saes-swift, not SAEBench",
            "sae_lens_id": NSNull(), "sae_lens_release_id": NSNull(), "sae_lens_version": SAE.saeLensFormatVersion,
            "sae_cfg_dict": sae.saeLensConfig,
            "eval_result_unstructured": ["decoder_norm": evaluation.features.map(\.decoderNorm)],
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// NaN and infinities (a score whose denominator is 0) as −1, as SAEBench's `replace_nans_with_negative_one`.
    static func finite(_ o: [String: Any]) -> [String: Any] {
        o.mapValues { v in
            if let d = v as? Double, !d.isFinite { return -1 }
            if let s = v as? String, ["nan", "inf", "-inf"].contains(s) { return -1 }
            if let m = v as? [String: Any] { return finite(m) }
            return v
        }
    }
}
