"""PyTorch baseline of the `tensor` suite: the same shapes as Benchmarks/Bench/TensorSuite.swift."""
import sys

import torch
from timing import best
import torch.nn.functional as F

PRODUCTS = [  # name, m, k, n, transA, transB
    ("sae_encoder", 4096, 768, 24576, False, False),
    ("sae_decoder", 4096, 24576, 768, False, False),
    ("sae_grad_W_dec", 24576, 4096, 768, True, False),
    ("sae_grad_acts", 4096, 768, 24576, False, True),
    ("sae_grad_W_enc", 768, 4096, 24576, True, False),
    ("mlp_in", 1024, 768, 3072, False, False),
]



@torch.no_grad()
def run():
    out = {}
    g = torch.Generator().manual_seed(1)
    for name, m, k, n, ta, tb in PRODUCTS:
        a = torch.rand((k, m) if ta else (m, k), generator=g) * 2 - 1
        b = torch.rand((n, k) if tb else (k, n), generator=g) * 2 - 1
        c = torch.empty(m, n)
        A = a.t() if ta else a
        B = b.t() if tb else b
        reps = 3 if 2 * m * n * k > 1e10 else 10
        out["matmul." + name] = best(lambda: torch.matmul(A, B, out=c), reps)
        print(f"  torch matmul {name}: {2 * m * n * k / out['matmul.' + name] / 1e9:.1f} GFLOP/s", file=sys.stderr)
    scores = torch.randn(8, 12, 256, 256, generator=g)
    mask = torch.triu(torch.ones(256, 256, dtype=torch.bool), diagonal=1)
    resid = torch.randn(8192, 768, generator=g)
    other = torch.randn(8192, 768, generator=g)
    w, b = torch.randn(768, generator=g), torch.randn(768, generator=g)
    out["softmax_causal"] = best(lambda: torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1), 8)
    out["layer_norm"] = best(lambda: F.layer_norm(resid, (768,), w, b, 1e-5), 8)
    out["add"] = best(lambda: resid + other, 8)
    out["gelu"] = best(lambda: F.gelu(resid, approximate="tanh"), 8)
    for k in ("softmax_causal", "layer_norm", "add", "gelu"):
        print(f"  torch {k}: {out[k] * 1e3:.2f} ms", file=sys.stderr)
    return out
