// train-sae: Table 2 — train SAEs on one or more layers' hook_z (checkpoints, resume, several layers
// and settings from one model pass, data-parallel under mpirun) or evaluate a given one.
// Thin: options → TrainingSection.

import ArgumentParser
import Experiments
import ExperimentsCLI
import Foundation
import Tensor
import SparseAutoencoder
import SAEDistributed

struct TrainSAECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-sae",
        abstract: "Train attention-output SAEs on layers' hook_z, or evaluate a given SAE (Table 2).",
        discussion: """
        Default: the planted-circuit model's layer 1 with the planted recipe. With --model: GPT-2 and the paper's recipe (layer 5 unless --layer). \
        --layers 0-11 trains an SAE per layer from one model pass per batch; --d-sae and --l1 take lists to sweep. \
        Under `mpirun -np N` the corpus rows and each batch are split between the ranks and gradients are summed (rank 0 writes the report). \
        --evaluate skips training and evaluates the SAEs given (files, folders of them, a release id such as gpt2-small-hook-z-kk, or a \
        cached hub repository; with --layers, those layers only): several SAEs make one Table 2 from one clean model run per batch.
        """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var recipe: TrainingOptions
    @Option(help: "Held-out rows (of 128 tokens) for the evaluation.") var evalRows: Int?
    @Option(help: "Write a checkpoint every N steps.") var checkpointEvery = 500
    @Flag(help: "Continue from <output>/checkpoint.h5 if it exists.") var resume = false
    @Option(parsing: .upToNextOption, help: "Evaluate these SAEs instead of training: SAELens folders, the paper's .pt files, folders of them, release ids (gpt2-small-hook-z-kk) or cached hub repositories; --layer(s) keep those layers.")
    var evaluate: [String] = []
    @Option(help: "The .pt's _cfg.json when it is not beside it.") var cfg: String?

    func validate() throws {
        try OptionCheck.atLeast("--checkpoint-every", checkpointEvery, 1)
        try OptionCheck.range("--eval-rows", evalRows, 1...(1 << 20))
    }

    func run() throws {
        let ranks = try MPICollective.fromLaunch()
        let output = common.output("train-sae")
        do {
            let isRankZero = (ranks?.rank ?? 0) == 0                  // only rank 0 logs
            let workspace = try Workspace(common.inputs, log: isRankZero ? log : { _ in })
            var s = try recipe.settings(common, model: workspace.model)
            s.evaluationRows = evalRows ?? s.evaluationRows
            let layers = try recipe.layers.map(TrainingOptions.parseLayers) ?? recipe.layer.map { [$0] }
            let mode: TrainingSection.Mode = evaluate.isEmpty
                ? .train(checkpoint: CheckpointPlan(path: output + "/checkpoint.h5", every: checkpointEvery, resume: resume))
                : .evaluate(try workspace.givenSAEs(evaluate, layers: layers, cfg: cfg))
            var section = TrainingSection(settings: s, mode: mode)
            section.ranks = ranks ?? SingleProcess()
            try section.runAlone(in: workspace, output: output)
        } catch {
            // One rank's error would leave the others waiting in the next gradient sum: stop them all.
            guard let ranks, ranks.size > 1 else { throw error }
            FileHandle.standardError.write("error (rank \(ranks.rank)): \(error)\n".data(using: .utf8)!)
            ranks.abort()
        }
    }
}

BLAS.relaunchWithBetterKernelsIfNeeded()   // before any product: OpenBLAS reads OPENBLAS_CORETYPE only when it loads
TrainSAECommand.main()
