// Transformer: GPT-2 with TransformerLens hook points, weight loaders and processing. Built on
// `Tensor` only (DESIGN.md); re-exports it so `import Transformer` is enough.
@_exported import Tensor
