"""PyTorch/TransformerLens baseline of the `transformer` suite: GPT-2-small shape, random weights,
batch 8 × 128 (the same work as Benchmarks/Bench/TransformerSuite.swift)."""
import sys
import warnings

warnings.filterwarnings("ignore")
import torch
from timing import best
from transformer_lens import HookedTransformer, HookedTransformerConfig



@torch.no_grad()
def run():
    cfg = HookedTransformerConfig(n_layers=12, d_model=768, n_heads=12, d_head=64, d_mlp=3072, n_ctx=1024, d_vocab=50257,
                                  act_fn="gelu_new", normalization_type="LNPre", seed=3)
    model = HookedTransformer(cfg).eval()
    tokens = torch.randint(0, 50257, (8, 128), generator=torch.Generator().manual_seed(4))
    out = {
        "forward_full": best(lambda: model(tokens)),
        "forward_to_L5_hook_z": best(lambda: model.run_with_cache(tokens, names_filter="blocks.5.attn.hook_z", stop_at_layer=6)),
    }
    for k, v in out.items():
        print(f"  TransformerLens {k}: {8 * 128 / v:.0f} tokens/s", file=sys.stderr)
    return out
