// FeatureDFA: load a model, run it with a cache, splice an SAE into layer 1's hook_z and print one
// feature's direct feature attribution by source position — with the public API of the library modules only.
//
//   swift run -c release --package-path Examples/FeatureDFA            (planted-circuit model)
//   swift run -c release --package-path Examples/FeatureDFA <SAELens folder>

import Foundation
import Interp
import SparseAutoencoder
import Tensor
import Transformer

// The planted-circuit model (from the cache, built on first use), processed as TransformerLens does.
let model = GPT2(weights: try PlantedCircuitModel.loadOrBuild().processed())
let tokenizer = try GPT2Tokenizer()

// A repeated phrase: the second copy is where induction heads act.
let text = "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog."
let tokens = IndexTensor(shape: [1, tokenizer.toTokens(text).count], values: tokenizer.toTokens(text))

// 1. A run with a cache.
let cache = try model.runWithCache(tokens, names: [.pattern(1), .z(1)])
let pattern = cache[.pattern(1)]!                                   // [batch, head, query_pos, key_pos]
let dest = tokens.shape[1] - 2
let source = (0...dest).max { pattern[0, 5, dest, $0] < pattern[0, 5, dest, $1] }!
print("head 1.5 at \(tokenizer.decode([tokens.values[dest]]).debugDescription) (position \(dest)) attends most to position \(source), \(tokenizer.decode([tokens.values[source]]).debugDescription)")

// 2. An SAE: a SAELens folder given on the command line, or a freshly initialised one.
let sae: SAE
if CommandLine.arguments.count > 1 {
    sae = try SAE.load(saeLens: CommandLine.arguments[1], headLayout: HeadLayout(nHeads: 12, dHead: 64))
} else {
    sae = SAETrainer.initialSAE(SAEConfig(dIn: 768, dSAE: 1024, hookName: "blocks.1.attn.hook_z",
                                          headLayout: HeadLayout(nHeads: 12, dHead: 64)), seed: 1)
}

// 3. Splice it in (with the error term the model's output is unchanged) and cache its activations.
let splice = try SAESplice(sae: sae, useErrorTerm: true, cache: [.actsPost])
let spliced = try model.run(tokens, saes: [splice])
let acts = spliced.saeCache[SAEHookName(.z(1), .actsPost)]!          // [batch, pos, d_sae]
let row = acts.selecting(axis: 0, 0).selecting(axis: 0, dest)
let feature = row.topK(1).indices.values[0]
print("strongest feature at position \(dest): \(feature) (activation \(row[feature]))")

// 4. Its DFA by source position: the parts sum to the pre-activation minus the bias term.
let dfa = try FeatureAttribution.dfaBySource(model: model, sae: sae, tokens: tokens, feature: feature)
    .selecting(axis: 0, 0).selecting(axis: 0, dest)
let top = (0...dest).sorted { dfa[$0] > dfa[$1] }.prefix(5)
for s in top { print(String(format: "  source %3d %@  DFA %+.4f", s, tokenizer.decode([tokens.values[s]]).debugDescription, dfa[s])) }
print(String(format: "DFA sum + bias term = %.5f", dfa.sum() + FeatureAttribution.biasTerm(sae, feature)))
