#!/usr/bin/env python3
"""Writes Tests/InterpTests/Fixtures/neuronpedia_reference.json from SAEDashboard 0.8.0's own functions
(PyPI `sae-dashboard==0.8.0`, with dataclasses_json, matplotlib and eindex-callum beside the reference
environment): the Neuronpedia runner's vocabulary strings (`NeuronpediaRunner.get_vocab_dict` on GPT-2's
vocabulary), `RollingCorrCoef.topk_pearson` for feature–neuron and feature–feature correlations, and
`k_largest_indices` on activations that fire at fewer positions than the top group holds, and the keys of
`run_settings.json` (the runner's config fields). Ties (a dead feature's correlations, the zeros of the top
group) are ordered as torch happens to order them; the tests compare values there, not indices.
"""
import json
import os
import types

import dataclasses

import torch
from sae_dashboard.neuronpedia.neuronpedia_runner import NeuronpediaRunner
from sae_dashboard.neuronpedia.neuronpedia_runner_config import NeuronpediaRunnerConfig
from sae_dashboard.utils_fns import RollingCorrCoef, k_largest_indices

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "InterpTests", "Fixtures", "neuronpedia_reference.json")
TOKENIZER = os.path.join(os.path.expanduser(os.environ.get("ATTN_SAES_CACHE", "~/.cache/attn-saes")), "gpt2-tokenizer", "encoder.json")


def main():
    with open(TOKENIZER) as f:
        vocab = json.load(f)
    fake = types.SimpleNamespace(model=types.SimpleNamespace(tokenizer=types.SimpleNamespace(vocab=vocab),
                                                             cfg=types.SimpleNamespace(d_vocab=50257)))
    vocab_dict = NeuronpediaRunner.get_vocab_dict(fake)
    # Tokens with each substitution, and a few without.
    wanted = ["Ġthe", "Ċ", "ĉ", "âĢĶ", "âĢĵ", "âĢľ", "âĢĿ", "âĢĺ", "âĢĻ", "ĠâĢĶ", "ĊĊ", "Ġ", "hello", "Ã©", "<|endoftext|>"]
    ids = [vocab[w] for w in wanted if w in vocab]
    strings = {str(i): vocab_dict[i] for i in ids}

    g = torch.Generator().manual_seed(7)
    n = 40
    x = torch.relu(torch.randn(6, n, generator=g) - 0.8)          # sparse non-negative feature activations
    x[5] = 0                                                       # a dead feature
    y = torch.randn(5, n, generator=g) + 0.5 * x[:5]               # "neurons", correlated with some features
    neurons = RollingCorrCoef()
    neurons.update(x[:, :25], y[:, :25])
    neurons.update(x[:, 25:], y[:, 25:])
    n_idx, n_pearson, n_cos = neurons.topk_pearson(k=3)
    feats = RollingCorrCoef(indices=[10, 11, 12, 13, 14, 15], with_self=True)
    feats.update(x[:, :25], x[:, :25])
    feats.update(x[:, 25:], x[:, 25:])
    f_idx, f_pearson, f_cos = feats.topk_pearson(k=3)

    acts = torch.zeros(3, 8)
    acts[0, 3], acts[1, 1], acts[2, 7], acts[1, 6] = 2.0, 0.5, 1.5, 0.75
    top = k_largest_indices(acts, k=6, buffer=None).tolist()

    record = {
        "vocab_strings": strings,
        "x": x.tolist(), "y": y.tolist(),
        "neurons": {"indices": n_idx, "pearson": n_pearson, "cosine": n_cos},
        "features": {"indices": f_idx, "pearson": f_pearson, "cosine": f_cos, "ids": [10, 11, 12, 13, 14, 15]},
        "topk_acts": acts.tolist(), "topk": top,
        "run_settings_keys": sorted(f.name for f in dataclasses.fields(NeuronpediaRunnerConfig)),
    }
    with open(OUT, "w") as f:
        json.dump(record, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
