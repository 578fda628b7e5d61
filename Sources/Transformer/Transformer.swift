// Transformer: GPT-2 with TransformerLens hook points, weight loaders and processing. Built on
// `Tensor` only (Docs/Architecture.md). No re-exports: a file imports each module it uses.
import Tensor
