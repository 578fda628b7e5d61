"""Baseline of the `train` suite: the paper's training loop in PyTorch at the shape of
Benchmarks/Bench/TrainSuite.swift — TransformerLens GPT-2 small with random weights, run_with_cache
stopping after layer 5's hook_z on 32 × 128 random tokens, then the paper's step (sae.py) on the 4096
rows, 24576 features. Seconds per 4096 trained tokens, the model forward included."""
import sys
import warnings

warnings.filterwarnings("ignore")
import torch
from timing import best
from transformer_lens import HookedTransformer, HookedTransformerConfig

import sae


def run():
    cfg = HookedTransformerConfig(n_layers=12, d_model=768, n_heads=12, d_head=64, d_mlp=3072, n_ctx=1024, d_vocab=50257,
                                  act_fn="gelu_new", normalization_type="LNPre", seed=3)
    model = HookedTransformer(cfg).eval()
    tokens = torch.randint(0, 50257, (32, 128), generator=torch.Generator().manual_seed(5))
    step = sae.paper_step()

    def train_step():
        with torch.no_grad():
            _, cache = model.run_with_cache(tokens, names_filter="blocks.5.attn.hook_z", stop_at_layer=6)
        step(cache["blocks.5.attn.hook_z"].reshape(-1, 768))

    t = best(train_step, reps=2)
    print(f"  TransformerLens + paper step, layer 5: {4096 / t:.0f} tokens/s", file=sys.stderr)
    return {"train_e2e_L5": t}
