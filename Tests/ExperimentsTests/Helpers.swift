// Shared by the Experiments tests.

import Experiments
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
