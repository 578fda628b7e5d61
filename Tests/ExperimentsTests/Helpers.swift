// Shared by the Experiments tests.

import Dispatch
import Experiments
import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

/// The planted-circuit model, processed, as the runners take it — built once per test process.
let plantedModel = LoadedModel(model: GPT2(weights: PlantedCircuitModel.build().processed()), roles: .standard, name: "planted", path: "")

/// A workspace of `model` (default: ``plantedModel``), the default corpus and tokenizer.
func plantedWorkspace(_ model: LoadedModel = plantedModel, log: @escaping (String) -> Void = { _ in }) throws -> Workspace {
    let inputs = ExperimentInputs()
    return Workspace(inputs: inputs, tokenizer: try inputs.loadTokenizer(), model: model, corpus: try inputs.corpusSpec(), log: log)
}

/// `sae` checked against the planted model.
func attention(_ sae: SAE) throws -> AttentionSAE { try AttentionSAE(sae, model: plantedModel.model.config) }

/// The first `n` held-out rows of the default corpus.
func heldOutCorpusRows(_ n: Int, tokenizer: GPT2Tokenizer) throws -> IndexTensor? {
    try plantedWorkspace().heldOutRows(n)
}

/// Runs one of the package's executables (built next to the test bundle) with `arguments`, the
/// environment changed by `environment` (nil removes a variable); returns its status and output.
func runExecutable(_ name: String, _ arguments: [String], environment: [String: String?] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
    p.arguments = arguments
    if !environment.isEmpty {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
    }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Both pipes are drained at once, so neither can fill up and stall the child.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}
