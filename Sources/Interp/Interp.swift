// Interp: where a model and an SAE meet — corpora, token rows, the activation source for training,
// and (to come) splicing, ablation, patching, attribution and the paper's datasets. The only module
// that imports both Transformer and SparseAutoencoder (DESIGN.md).
@_exported import Transformer
@_exported import SparseAutoencoder
