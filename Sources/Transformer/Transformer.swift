// Transformer: GPT-2 with TransformerLens hook points, weight loaders and processing, the GPT-2
// tokenizer, and the planted-circuit model. Built on `Tensor` only (DESIGN.md).
//
// Its contents arrive with the Transformer issue; until then the module is an empty target that
// fixes the dependency edge Tensor <- Transformer.
@_exported import Tensor
