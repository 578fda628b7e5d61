// Shared by the Experiments tests.

import Experiments

/// The planted-circuit model, processed, as the runners take it — built once per test process.
let plantedModel = LoadedModel(model: GPT2(weights: PlantedCircuitModel.build().processed()), roles: .standard, name: "planted", path: "")

/// The first `n` held-out rows of the default corpus.
func heldOutCorpusRows(_ n: Int, tokenizer: GPT2Tokenizer) throws -> IndexTensor? {
    var stream = try ExperimentInputs().rows(heldOut: true, tokenizer: tokenizer)
    return try stream.nextRows(n)
}
