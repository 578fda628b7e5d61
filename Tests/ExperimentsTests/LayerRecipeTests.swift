// LayerRecipeTests: `--layers 0-11` on GPT-2 small trains each layer with the paper's width and l1
// coefficient (as the published SAEs' names record them), unless the options set them.

import Foundation
import Testing
import ArgumentParser
@testable import Experiments
import ExperimentsCLI
import Transformer

@Suite struct LayerRecipeTests {
    static func settings(_ arguments: [String]) throws -> TrainSAESettings {
        let common = try CommonOptions.parse(["--model", "gpt2"])
        return try TrainingOptions.parse(arguments).settings(common, config: .gpt2Small)
    }

    @Test func everyLayerGetsThePapersWidthAndL1() throws {
        let members = try Self.settings(["--layers", "0-11"]).members
        // Independent of the table in the code: the published release's file names, parsed.
        let release = try #require(SAERelease.named("gpt2-small-hook-z-kk"))
        #expect(members.map(\.layer) == Array(0..<12))
        for m in members {
            let name = try #require(release.paths[m.layer])
            let l1 = name.split(separator: "_").first { $0.hasPrefix("l1") }.map { Double($0.dropFirst(2))! }
            let width = name.split(separator: "_").first { $0.hasPrefix("ds") }.map { Int($0.dropFirst(2))! }
            let cutoff = name.split(separator: "_").first { $0.hasPrefix("dc") }.map { Double($0.dropFirst(2))! }
            #expect(m.sparsity == l1 && m.dSAE == width && m.architecture == .standard, "layer \(m.layer)")
            #expect(TrainSAESettings.LayerRecipe.gpt2SmallPaper[m.layer]?.deadCutoff == cutoff, "layer \(m.layer)")
        }
        // One layer alone gets its own recipe too (layer 0: l1 1.8, not layer 5's).
        let zero = try Self.settings(["--layer", "0"]).members
        #expect(zero.map(\.sparsity) == [1.8] && zero.map(\.dSAE) == [24576])
        #expect(try Self.settings([]).members.map(\.dSAE) == [49152])   // layer 5 by default
    }

    @Test func givenOptionsReplaceOnlyWhatTheySet() throws {
        let l1 = try Self.settings(["--layers", "0-11", "--l1", "0.5"]).members
        #expect(l1.allSatisfy { $0.sparsity == 0.5 } && l1[5].dSAE == 49152 && l1[0].dSAE == 24576)
        let width = try Self.settings(["--layers", "0-11", "--d-sae", "1024"]).members
        #expect(width.allSatisfy { $0.dSAE == 1024 } && width[11].sparsity == 3.0)
        // Other architectures and residual SAEs do not take the attention SAEs' l1 or width.
        let both = try Self.settings(["--layers", "0,5", "--hook", "z,resid_pre"]).members
        #expect(both.filter { $0.hook == .residPre }.allSatisfy { $0.dSAE == 32 * 768 && $0.sparsity == 1.0 })
        // Another shape (GELU-2L, or a non-GPT-2-small model) has one recipe for every layer.
        let other = GPT2Config(nLayers: 4, dModel: 256, nHeads: 4, dHead: 64, dMLP: 1024, nCtx: 128, dVocab: 1000)
        let members = try TrainingOptions.parse(["--layers", "0-3"]).settings(try CommonOptions.parse(["--model", "x"]), config: other).members
        #expect(members.allSatisfy { $0.dSAE == 32 * 256 && $0.sparsity == 1 })
    }
}
