// Interp: where a model and an SAE meet — splicing, ablation, patching, attribution, evaluation,
// corpora and the paper's datasets. The only module that imports both Transformer and
// SparseAutoencoder (DESIGN.md).
//
// Its contents arrive with the Interp issue; until then the module is an empty target that fixes
// the dependency edges Transformer <- Interp and SparseAutoencoder <- Interp.
@_exported import Transformer
@_exported import SparseAutoencoder
