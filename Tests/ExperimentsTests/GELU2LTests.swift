// GELU2LTests: the paper's second model's path — a model folder as its hub repository ships it
// (TransformerLens model_final.pth + config.json + tokenizer.json) runs the site, and a planted model
// with GELU-2L's kind of tokenizer (NeoX-style, digits split) and shortformer positions gives the
// deep dive an induction feature, as the GPT-2-vocabulary planted model does.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// The Transformer tests' fixtures (TransformerLens checkpoints, tokenizer.json files).
func transformerFixture(_ name: String) -> String {
    fixturesDirectory(ofTarget: "TransformerTests").appendingPathComponent(name).path
}

@Suite struct GELU2LTests {
    /// A folder of `files` (destination name → source path).
    static func folder(_ files: [String: String]) throws -> String {
        let dir = temporaryDirectory().path
        for (name, source) in files { try FileManager.default.copyItem(atPath: source, toPath: dir + "/" + name) }
        return dir
    }

    /// `--model <folder>` with model_final.pth, config.json and tokenizer.json: the tokenizer comes from
    /// the folder, the checkpoint loads as TransformerLens loads it, and every section that makes
    /// sense for a 2-layer model with this tokenizer runs; the others say why not.
    @Test func aCheckpointFolderRunsTheSite() throws {
        let model = try Self.folder(["model_final.pth": transformerFixture("tl-checkpoint/standard/model_final.pth"),
                                     "config.json": transformerFixture("tl-checkpoint/standard/config.json"),
                                     "tokenizer.json": transformerFixture("tokenizer-json/neox_style.json")])
        let inputs = ExperimentInputs(modelPath: model)
        #expect(inputs.resolvedTokenizerDirectory == model)
        var lines: [String] = []
        let workspace = try Workspace(inputs) { lines.append($0) }
        #expect(workspace.tokenizer.endOfTextID == 0 && workspace.tokenizer.idLimit == 3000)
        #expect(workspace.model.model.config.actFn == .gelu && workspace.model.model.config.dModel == 16)
        #expect(workspace.model.name == (model as NSString).lastPathComponent && workspace.model.path == model + "/model_final.pth")
        // Rows start with the tokenizer's BOS (0), not GPT-2's.
        let rows = try workspace.heldOutRows(2)
        #expect(rows.values[0] == 0 && rows.values[128] == 0)

        let out = temporaryDirectory().path
        var training = TrainSAESettings.recipe(for: workspace.model.model.config, planted: false)
        #expect(training.layer == 1 && training.dSAE == 32 * 16)
        (training.dSAE, training.batchSize, training.trainingTokens, training.bufferRows, training.evaluationRows) = (64, 256, 256 * 8, 2048, 4)
        training.resampling = nil
        var settings = ReportSiteSettings(training: training, output: out)
        (settings.analysisRows, settings.dashboards) = (8, 2)
        try ReportSite.run(in: workspace, settings: settings)
        let summary = try JSONDecoder().decode(ReportSiteSummary.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json")))
        #expect(summary.sections.map(\.section) == ReportSection.allCases)
        let byID = Dictionary(uniqueKeysWithValues: summary.sections.map { ($0.section, $0) })
        #expect(byID[.longPrefixInduction]!.headline.hasPrefix("not run: Fig. 4's heads are GPT-2 small's"))
        #expect(byID[.ioiCircuit]!.headline.hasPrefix("not run: the IOI prompts"))
        for s in [ReportSection.trainSAE, .featureDashboards, .topFeatures] { #expect(!byID[s]!.page.isEmpty, "\(s) ran") }
        #expect(!FileManager.default.fileExists(atPath: out + "/ioi-circuit") && !FileManager.default.fileExists(atPath: out + "/long-prefix"))
        #expect(try ReportSiteTests.brokenLinks(in: out) == [])
        #expect(lines.contains { $0.hasPrefix("induction heads of layer 1") })
    }

    /// Figure 2's command on such a folder: the paper's SAE file format (`<run>.pt` + `_cfg.json`, here a
    /// layer-1 hook_z SAE of d_in 16 = the fixture model's 2 × 8) loads against the model and the deep
    /// dive runs on feature 14, its target the feature's top logit-effect token in this vocabulary.
    @Test func thePapersSAEFormatRunsTheDeepDive() throws {
        let model = try Self.folder(["model_final.pth": transformerFixture("tl-checkpoint/standard/model_final.pth"),
                                     "config.json": transformerFixture("tl-checkpoint/standard/config.json"),
                                     "tokenizer.json": transformerFixture("tokenizer-json/neox_style.json")])
        let workspace = try Workspace(ExperimentInputs(modelPath: model))
        let kissane = fixturesDirectory(ofTarget: "SparseAutoencoderTests").appendingPathComponent("kissane").path
        let pt = try #require(try FileManager.default.contentsOfDirectory(atPath: kissane).first { $0.hasSuffix(".pt") })
        let sae = try workspace.loadSAE(kissane + "/" + pt)
        #expect(sae.layer == 1 && sae.dSAE == 32 && sae.sae.config.headLayout == HeadLayout(nHeads: 2, dHead: 8))
        let out = temporaryDirectory().path
        let section = InductionDeepDiveSection(analysis: try SAEAnalysis(workspace, sae: sae, rows: 16), feature: 14)
        let outcome = try section.run(in: workspace, output: SectionOutput(folder: try ReportFolder(out)))
        #expect(outcome.page == "index.html" && outcome.headline.contains("feature 14"), "\(outcome.headline)")
    }

    /// A tokenizer whose ids do not fit the model, a folder without weights: refused before any work.
    @Test func mismatchedFoldersAreRefused() throws {
        let gpt2Tokenizer = try Self.folder(["model_final.pth": transformerFixture("tl-checkpoint/standard/model_final.pth"),
                                             "config.json": transformerFixture("tl-checkpoint/standard/config.json")])
        do {
            _ = try Workspace(ExperimentInputs(modelPath: gpt2Tokenizer))            // GPT-2's tokenizer: ids up to 50256
            Issue.record("a 3000-token model ran with GPT-2's tokenizer")
        } catch let e as ExperimentInputError {
            #expect(e.detail.contains("d_vocab 3000"))
        }
        let empty = try Self.folder(["tokenizer.json": transformerFixture("tokenizer-json/neox_style.json")])
        #expect(throws: ExperimentInputError.self) { try Workspace(ExperimentInputs(modelPath: empty)) }
        // --config for a checkpoint is its repository's config, not HuggingFace's.
        let inputs = ExperimentInputs(modelPath: gpt2Tokenizer + "/model_final.pth", modelConfigPath: transformerFixture("hf_dhead16/config.json"))
        #expect(throws: TransformerError.self) { try inputs.loadWeights() }
    }

    /// The planted model built for the NeoX-style tokenizer with shortformer positions, written with its
    /// roles beside that tokenizer: an SAE trained on its layer 1 has an induction feature, and the
    /// deep dive (fuzzy token maps over this vocabulary) measures it as on GPT-2's planted model.
    @Test func deepDiveOnAShortformerNeoXPlantedModel() throws {
        let tokenizerFile = transformerFixture("tokenizer-json/neox_style.json")
        let tokenizer = try GPT2Tokenizer(tokenizerJSON: tokenizerFile)
        // The codes of the corpus's 56 most frequent tokens are made orthogonal, and the 24 commonest own
        // code dimensions no other token touches: a 3000-token vocabulary repeats its commonest tokens —
        // newlines, indentation, punctuation — far more than GPT-2's does (Docs/PlantedModel.md).
        var stream = TokenRowStream(documents: try DocumentStream(try ExperimentInputs().corpusSpec(), split: .init(every: 20, heldOut: false)),
                                    tokenizer: tokenizer, nCtx: Int.max)
        var counts = [Int](repeating: 0, count: tokenizer.idLimit)
        for t in try #require(try stream.nextRows(2000)).values where t != tokenizer.endOfTextID { counts[t] += 1 }
        let common = counts.indices.sorted { counts[$0] > counts[$1] }.prefix(56)
        var planted = PlantedCircuitModel.Settings()
        planted.vocabulary = PlantedCircuitModel.Vocabulary(tokenizer: tokenizer, commonTokens: Array(common))
        planted.vocabulary.reservedDims = 24
        planted.positions = .shortformer
        let dir = try Self.folder(["tokenizer.json": tokenizerFile])
        try PlantedCircuitModel.write(PlantedCircuitModel.build(planted), settings: planted, to: dir + "/planted.h5")
        let workspace = try Workspace(ExperimentInputs(modelPath: dir + "/planted.h5")) { print($0) }
        #expect(workspace.model.isPlanted && workspace.model.model.config.positionalEmbedding == .shortformer)
        #expect(workspace.tokenizer.endOfTextID == 0)

        var settings = TrainSAESettings.recipe(for: workspace.model.model.config, planted: true)
        settings.trainingTokens = 400_000
        settings.evaluationRows = 8
        let trained = try SAETraining.run(workspace, settings: settings)
        let e = trained.evaluation
        print("NeoX shortformer planted: L0 \(e.l0), CE loss recovered \(e.ceLossRecovered) (clean \(e.ceClean), spliced \(e.ceSpliced), zero-ablated \(e.ceZeroAblated))")
        #expect((2.0...10.0).contains(Double(e.l0)), "L0 \(e.l0)")
        let analysis = try SAEAnalysis(workspace, sae: try AttentionSAE(trained.sae, model: workspace.model.model.config), rows: 192)
        #expect(Set(analysis.inductionHeads) == [1, 5])
        let search = try analysis.inductionSearch(workspace)
        // The induction-feature test, as on GPT-2's planted model (PlantedEndToEndTests).
        let best = try #require(search.passing.first, "no induction feature; candidates: \(search.candidates.prefix(5).map { "f\($0.feature)→\(workspace.tokenizer.decode([$0.target]).debugDescription) spec \($0.specificity) sens \($0.sensitivity) heads \($0.inductionHeadShare)" })")
        print("best induction feature \(best.feature) → \(workspace.tokenizer.decode([best.target]).debugDescription): specificity \(best.specificity), sensitivity \(best.sensitivity), induction-head share \(best.inductionHeadShare)")
        #expect(best.specificity >= 0.85 && best.sensitivity >= 0.6)

        let out = temporaryDirectory().path
        let section = InductionDeepDiveSection(analysis: analysis, feature: best.feature, target: best.target)
        let outcome = try section.run(in: workspace, output: SectionOutput(folder: try ReportFolder(out)))
        #expect(outcome.page == "index.html", "\(outcome.headline)")
        let r = try section.measure(workspace, feature: best.feature, target: best.target)
        // The deep dive's counts are the search's: specificity over every firing; sensitivity over every
        // proxy position (the search counts only narrow ones, where each earlier occurrence was followed by
        // the target).
        #expect(r.firings > 0 && abs(r.specificity - best.specificity) < 1e-9 && r.sensitivity >= 0.5, "deep dive: \(r.specificity), \(r.sensitivity)")
        // Fig. 2's specificity: the feature's large activations are induction. Firings without the proxy
        // are small ones (a copied token whose random code overlaps the target's); above a quarter of the
        // largest activation almost every firing has the proxy.
        let top = r.edges.last!
        let upper = r.edges.indices.dropLast().filter { r.edges[$0] >= 0.25 * top }
        let (withProxy, without) = (upper.map { r.countsProxy[$0] }.reduce(0, +), upper.map { r.countsNoProxy[$0] }.reduce(0, +))
        print("deep dive: sensitivity \(r.sensitivity); specificity \(r.specificity) over all firings, \(Double(withProxy) / Double(max(1, withProxy + without))) above a quarter of the largest activation (\(withProxy + without) firings)")
        #expect(withProxy + without > 0 && Double(withProxy) >= 0.9 * Double(withProxy + without))
    }
}
