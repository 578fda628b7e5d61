// IOICircuitTests: the IOI analysis against an independent path — SAE splicing with the error term and
// feature edits, full-vocabulary logits — plus identities (patching from an identical run changes
// nothing; nothing downstream of the last layer reads S2) and the page.

import Foundation
import Testing
import TensorTestSupport
@testable import Experiments
import Interp
import SparseAutoencoder
import Tensor
import Transformer

@Suite struct IOICircuitTests {
    static let layout = HeadLayout(nHeads: 12, dHead: 64)

    /// A random SAE on `layer`'s hook_z, its encoder bias lowered so that features fire sparsely.
    static func sae(layer: Int) -> SAE {
        var sae = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: 64, hookName: "blocks.\(layer).attn.hook_z", headLayout: layout), seed: 11)
        for f in 0..<64 { sae.bEnc[f] = -0.01 * Float(f) }      // from always firing to never
        return sae
    }

    /// Mean of `x` over the prompts of each template.
    static func byTemplate(_ x: [Double], _ templates: [String]) -> (abba: Double, baba: Double) {
        func mean(_ t: String) -> Double {
            let i = templates.indices.filter { templates[$0] == t }
            return i.map { x[$0] }.reduce(0, +) / Double(i.count)
        }
        return (mean("ABBA"), mean("BABA"))
    }

    @Test func featureAblationsMatchTheSplicedSAE() throws {
        let tokenizer = try ExperimentInputs().loadTokenizer()
        let model = plantedModel, sae = Self.sae(layer: 0)
        var settings = IOICircuitSettings.defaults(for: model)
        settings.prompts = 16
        settings.rowsPerForward = 7                      // chunks that split features across forwards
        let r = try IOICircuitSection(sae: try attention(sae), settings: settings).measure(try plantedWorkspace())

        // Independently: tokens, positions and answers straight from the generator.
        let prompts = IOIDataset.generate(count: 16, seed: 1)
        let positions = prompts.map { IOIDataset.positions($0, tokenizer: tokenizer)! }
        #expect(r.prompts == prompts.map(\.text) && r.templates == positions.map(\.template) && r.dropped.isEmpty)
        #expect(Set(r.templates) == ["ABBA", "BABA"])
        let rows = prompts.map { tokenizer.encode($0.text) }
        let length = rows.map(\.count).max()!
        let tokens = IndexTensor(shape: [16, length], values: rows.flatMap { $0 + Array(repeating: 50256, count: length - $0.count) })
        let direction = LogitDifference(answer: prompts.map { tokenizer.singleToken(" " + $0.io)! }, other: prompts.map { tokenizer.singleToken(" " + $0.s)! },
                                         position: positions.map(\.end))
        let clean = direction.values(try model.model.logits(tokens)).map(Double.init)
        expectClose(Tensor(r.clean.map(Float.init)), clean.map(Float.init), atol: 2e-5, rtol: 1e-5)

        // Live features: those firing at some prompt's S2, read from the splice's hook_sae_acts_post.
        let s2 = positions.enumerated().map { ($0.offset, $0.element.s2) }
        let splice = try SAESplice(sae: sae, useErrorTerm: true, cache: [.actsPost])
        let acts = try model.model.run(tokens, saes: [splice]).saeCache[SAEHookName(.z(0), .actsPost)]!
        let live = (0..<64).filter { j in s2.contains { acts[$0.0, $0.1, j] > 0 } }
        #expect(r.features.map(\.feature) == live && live.count >= 4 && live.count < 64)
        #expect(r.features.contains { $0.firing < 16 })

        // Each checked feature zeroed at S2 through the splice (error term on), full logits.
        func effect(_ edits: [SAEHookPoint: (Tensor) throws -> Tensor]) throws -> (abba: Double, baba: Double) {
            let s = try SAESplice(sae: sae, useErrorTerm: true, edits: edits)
            let ld = direction.values(try model.model.run(tokens, saes: [s]).model.logits!).map(Double.init)
            return Self.byTemplate(zip(ld, clean).map { $0 - $1 }, r.templates)
        }
        for e in [r.features.first!, r.features[r.features.count / 2], r.features.last!] + r.features.filter({ $0.firing < 16 }).prefix(1) {
            let expected = try effect([.actsPost: FeatureIntervention.set([e.feature], to: 0, at: s2)])
            #expect(abs(e.abba - expected.abba) < 2e-4 && abs(e.baba - expected.baba) < 2e-4, "feature \(e.feature): \(e) vs \(expected)")
        }
        let error = try effect([.error: FeatureIntervention.ablateError(at: s2)])
        #expect(abs(r.errorTerm.abba - error.abba) < 2e-4 && abs(r.errorTerm.baba - error.baba) < 2e-4)
        // Effects are real: layer 1 reads S2 from the end position.
        #expect(r.features.contains { abs($0.abba) > 1e-3 || abs($0.baba) > 1e-3 })

        let worst = IOICircuitSection.mostNegative(r, count: 5)
        let all = (r.features + [r.errorTerm]).flatMap { [$0.abba, $0.baba] }.sorted()
        #expect(worst.map(\.effect) == Array(all.prefix(5)))
    }

    @Test func patchingIdentitiesAndThePage() throws {
        let tokenizer = try ExperimentInputs().loadTokenizer()
        let model = plantedModel
        var settings = IOICircuitSettings.defaults(for: model)
        #expect(settings.patchLayers == [0])
        settings.prompts = 12
        settings.replacement = " and"                    // the "corrupted" run is the clean one
        let section = IOICircuitSection(sae: try attention(Self.sae(layer: 1)), settings: settings)
        let r = try section.measure(try plantedWorkspace())
        #expect(zip(r.alongside, r.clean).allSatisfy { abs($0 - $1) < 1e-5 })
        // Patching or zeroing layer 0 at S2 reaches the end position through layer 1.
        #expect(zip(r.zeroAblation, r.clean).contains { abs($0 - $1) > 1e-3 })
        #expect(zip(r.filler, r.clean).contains { abs($0 - $1) > 1e-3 })
        // An SAE on the last layer: no later layer reads S2, so every ablation's effect is 0 (up to the
        // rounding of batches of other shapes).
        #expect(!r.features.isEmpty && (r.features + [r.errorTerm]).allSatisfy { abs($0.abba) < 1e-5 && abs($0.baba) < 1e-5 })

        // The filler row: the prefix, the flipped prompt with the clause at its last punctuation.
        let prompts = IOIDataset.generate(count: 12, seed: 1)
        let flipped = try IOIDataset.corrupted(prompts, flip: settings.flip, seed: 1)[7]!
        let pair = try #require(r.examples["filler (prompt 7)"])
        #expect(pair[0] == prompts[7].text)
        let cut = flipped.text.range(of: ".", options: .backwards) ?? flipped.text.range(of: ",", options: .backwards)!
        #expect(pair[1] == settings.fillerPrefix + flipped.text[..<cut.lowerBound] + settings.filler + flipped.text[cut.lowerBound...])
        #expect(r.fillerOffset == tokenizer.encode(settings.fillerPrefix).count + tokenizer.encode(settings.filler).count)

        let dir = temporaryDirectory().path
        try section.writeReport(r, to: try ReportFolder(dir), isPlanted: true, up: nil, featurePages: { _ in nil })
        let html = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        #expect(html.contains("Not meaningful on the planted-circuit model") && html.contains("every effect below is 0"))
        #expect(html.components(separatedBy: "<svg").count == 3)
        for f in ["result.json", "feature-effects.csv", "logit-differences.csv"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + f) && html.contains("href=\"\(f)\""))
        }
        let csv = try String(contentsOfFile: dir + "/logit-differences.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 13)
    }

    @Test func badInputsAreNamed() throws {
        let workspace = try plantedWorkspace()
        var settings = IOICircuitSettings.defaults(for: plantedModel)
        settings.patchLayers = [5]
        #expect(throws: ExperimentInputError.self) {
            try IOICircuitSection(sae: try attention(Self.sae(layer: 0)), settings: settings).measure(workspace)
        }
        settings = IOICircuitSettings.defaults(for: plantedModel)
        settings.replacement = " alongside the"
        #expect(throws: ExperimentInputError("the replacement \" alongside the\" is not a single token")) {
            try IOICircuitSection(sae: try attention(Self.sae(layer: 0)), settings: settings).measure(workspace)
        }
    }
}
