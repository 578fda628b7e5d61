// ioi-circuit: Fig. 16a and Fig. 5 — SAE feature ablations at S2 and the " and"-token patching on the
// IOI prompts. Thin: options → IOICircuitSection.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation
import Tensor

struct IOICircuitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ioi-circuit",
        abstract: "IOI: ablate each SAE feature and the error term at S2 (Fig. 16a); patch attention outputs at S2 from \" and\"-corrupted runs (Fig. 5).",
        discussion: "Default: the planted model and its default SAE — it runs, but the planted model has no IOI circuit, so the numbers mean nothing there. For the paper: --model gpt2/model.safetensors --sae l5.pt (layer 5), patching layers 5 and 6.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var saeOptions: SAEOptions
    @OptionGroup var saeLayer: SAELayerOption
    @Option(help: "IOI prompts.") var prompts = 100
    @Option(help: "Seed of the IOI prompt generator (the reference's: 1).") var promptSeed = 1
    @Option(parsing: .upToNextOption, help: "Layers whose attention output is patched at S2 (default: 5 6 on GPT-2, 0 on the planted model).")
    var patchLayers: [Int] = []

    func validate() throws {
        try OptionCheck.range("--prompts", prompts, OptionCheck.count)
        try OptionCheck.each("--patch-layers", patchLayers, 0...(1 << 16))
    }

    func run() throws {
        let workspace = try common.workspace()
        try OptionCheck.each("--patch-layers", patchLayers, 0...(workspace.model.model.config.nLayers - 1))
        var s = IOICircuitSettings.defaults(for: workspace.model)
        (s.prompts, s.seed) = (prompts, promptSeed)
        if !patchLayers.isEmpty { s.patchLayers = patchLayers }
        try IOICircuitSection(sae: try saeOptions.load(in: workspace, layer: saeLayer.layer), settings: s).runAlone(in: workspace, output: common.output("ioi-circuit"))
    }
}

BLAS.relaunchWithBetterKernelsIfNeeded()   // before any product: OpenBLAS reads OPENBLAS_CORETYPE only when it loads
IOICircuitCommand.main()
