// SparseAutoencoder: the attention-output SAE, its formats and tensor-level attribution maths.
// Built on `Tensor` only; it never imports `Transformer` (Docs/Architecture.md).
import Tensor
