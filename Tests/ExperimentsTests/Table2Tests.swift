// Table2Tests: several SAEs evaluated from one clean model run per batch give each SAE the numbers of
// its evaluation alone, and `train-sae --evaluate` of several SAEs writes one Table 2.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct Table2Tests {
    /// A random SAE on `layer`'s hook_z of the planted model.
    static func randomSAE(layer: Int, dSAE: Int, seed: UInt64) -> SAE {
        let c = plantedModel.model.config
        let dIn = c.nHeads * c.dHead
        var rng = RandomStream(seed: seed)
        return SAE(config: SAEConfig(dIn: dIn, dSAE: dSAE, hookName: "blocks.\(layer).attn.hook_z", headLayout: HeadLayout(nHeads: c.nHeads, dHead: c.dHead)),
                   wEnc: Tensor.randomNormal([dIn, dSAE], using: &rng) * 0.3, bEnc: Tensor(repeating: -0.05, shape: [dSAE]),
                   wDec: Tensor.randomNormal([dSAE, dIn], using: &rng) * 0.1, bDec: Tensor(zeros: [dIn]))
    }

    static func close(_ a: Double, _ b: Double) -> Bool { a == b || Swift.abs(a - b) <= 1e-5 * max(1, Swift.abs(a), Swift.abs(b)) }

    @Test func severalSAEsFromOneRunEqualEachAlone() throws {
        let model = plantedModel.model
        let saes = [Self.randomSAE(layer: 1, dSAE: 64, seed: 1), Self.randomSAE(layer: 0, dSAE: 32, seed: 2), Self.randomSAE(layer: 1, dSAE: 48, seed: 3)]
        let rows = try heldOutCorpusRows(6, tokenizer: try ExperimentInputs().loadTokenizer())!
        let batches = [rows.rows(0..<4), rows.rows(4..<6)]
        let together = try SAEEvaluation.evaluate(model: model, saes: saes, batches: batches, ignoredTokens: [50256])
        for (sae, t) in zip(saes, together) {
            let alone = try SAEEvaluation.evaluate(model: model, sae: sae, batches: batches, ignoredTokens: [50256])
            #expect(Self.close(Double(t.reconstruction.score), Double(alone.reconstruction.score)))
            #expect(Self.close(Double(t.reconstruction.spliced), Double(alone.reconstruction.spliced)))
            #expect(Self.close(Double(t.reconstruction.zeroAblated), Double(alone.reconstruction.zeroAblated)))
            #expect(t.l0 == alone.l0 && t.frequencies == alone.frequencies)
            #expect(Self.close(t.core.reconstructionQuality.explainedVariance, alone.core.reconstructionQuality.explainedVariance))
            #expect(Self.close(t.core.modelBehaviorPreservation.klDivScore, alone.core.modelBehaviorPreservation.klDivScore))
        }
    }

    @Test func evaluatingAFolderOfSAEsWritesOneTable2() throws {
        let workspace = try plantedWorkspace()
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let saes = [Self.randomSAE(layer: 0, dSAE: 32, seed: 4), Self.randomSAE(layer: 1, dSAE: 64, seed: 5)]
        for (k, s) in saes.enumerated() { try s.save(saeLens: dir.path + "/saes/sae\(k)") }
        // A folder of SAELens folders; --layers keeps those asked for.
        #expect(try workspace.givenSAEs([dir.path + "/saes"], layers: [1]).map(\.sae.layer) == [1])
        let given = try workspace.givenSAEs([dir.path + "/saes"])
        #expect(given.map(\.sae.layer) == [0, 1])
        #expect(throws: ExperimentInputError.self) { try workspace.givenSAEs([dir.path + "/saes"], layers: [7]) }
        var settings = TrainSAESettings.planted()
        settings.evaluationRows = 4
        let out = dir.path + "/report"
        let outcome = try TrainingSection(settings: settings, mode: .evaluate(given)).train(in: workspace, output: SectionOutput(folder: try ReportFolder(out)))
        #expect(outcome?.sae?.layer == 1)      // the settings' layer is the one the other sections analyse
        let table = try JSONDecoder().decode([Table2Row].self, from: Data(contentsOf: URL(fileURLWithPath: out + "/evaluation.json")))
        #expect(table.map(\.layer) == [0, 1] && table.map(\.dSAE) == [32, 64])
        for (row, sae) in zip(table, saes) {
            let alone = try SAETraining.evaluate(workspace, sae: sae, rows: 4).0
            #expect(Self.close(Double(row.evaluation.ceLossRecovered), Double(alone.ceLossRecovered)) && row.evaluation.l0 == alone.l0)
        }
        let csv = try String(contentsOfFile: out + "/table2.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 3 && csv[0].hasPrefix("layer,d_sae,l0,alive_percent,ce_loss_recovered"))
        for file in ["saes/L0/core_eval.json", "saes/L1/core_eval.json", "index.html"] { #expect(FileManager.default.fileExists(atPath: out + "/" + file)) }
        #expect(try String(contentsOfFile: out + "/index.html", encoding: .utf8).contains("Table 2: 2 attention SAEs"))
    }
}

@Suite struct NeuronpediaModelIDTests {
    @Test func theDefaultModelIdIsTheModelsNameOnNeuronpedia() {
        #expect(FeatureDashboardsSection.neuronpediaModelID(config: .gpt2Small, name: "0123abc") == "gpt2-small")
        let gelu = GPT2Config(nLayers: 2, dModel: 512, nHeads: 8, dHead: 64, dMLP: 2048, nCtx: 1024, dVocab: 48262)
        #expect(FeatureDashboardsSection.neuronpediaModelID(config: gelu, name: "NeelNanda/GELU_2L512W_C4_Code") == "gelu-2l")
        #expect(FeatureDashboardsSection.neuronpediaModelID(config: plantedModel.model.config, name: "planted") == "planted")
    }
}
