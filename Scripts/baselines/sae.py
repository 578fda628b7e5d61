"""PyTorch baseline of the `sae` suite: one training step of the paper's recipe (autograd, the decoder
constraint, Adam with betas (0, 0.9999)) at d_in 768, d_sae 24576, batch 4096. PyTorch's step is dense
whatever the sparsity, so one timing serves every L0 of the Swift suite."""
import math
import sys

import torch
from timing import best


def paper_step(d_in=768, d_sae=24576, l1_coeff=0.8):
    """The paper's training step on a batch `x [n, d_in]` (autograd, decoder constraint, Adam)."""
    torch.manual_seed(1)
    W_enc = torch.nn.Parameter(torch.empty(d_in, d_sae).uniform_(-math.sqrt(6 / d_sae), math.sqrt(6 / d_sae)))
    W_dec = torch.nn.Parameter(torch.empty(d_sae, d_in).uniform_(-math.sqrt(6 / d_in), math.sqrt(6 / d_in)))
    with torch.no_grad():
        W_dec /= W_dec.norm(dim=-1, keepdim=True)
    b_enc = torch.nn.Parameter(torch.full((d_sae,), -0.66))
    b_dec = torch.nn.Parameter(torch.zeros(d_in))
    opt = torch.optim.Adam([W_enc, W_dec, b_enc, b_dec], lr=1.2e-3, betas=(0.0, 0.9999))

    def step(x):
        acts = torch.relu((x - b_dec) @ W_enc + b_enc)
        x_rec = acts @ W_dec + b_dec
        loss = (x_rec - x).pow(2).sum(-1).mean(0) + l1_coeff * acts.abs().sum(-1).mean(0)
        loss.backward()
        with torch.no_grad():
            normed = W_dec / W_dec.norm(dim=-1, keepdim=True)
            W_dec.grad -= (W_dec.grad * normed).sum(-1, keepdim=True) * normed
            W_dec.data = normed
        opt.step()
        opt.zero_grad()

    return step


def run():
    step = paper_step()
    x = torch.randn(4096, 768)
    t = best(lambda: step(x), reps=2)
    print(f"  torch SAE step: {t:.3f} s", file=sys.stderr)
    return {"sae_step_dense": t}
