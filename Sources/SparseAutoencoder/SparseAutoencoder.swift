// SparseAutoencoder: the attention-output SAE, its training recipe, formats and tensor-level
// attribution maths. Built on `Tensor` only; it never imports `Transformer` (DESIGN.md).
//
// Its contents arrive with the SparseAutoencoder issue; until then the module is an empty target
// that fixes the dependency edge Tensor <- SparseAutoencoder.
@_exported import Tensor
