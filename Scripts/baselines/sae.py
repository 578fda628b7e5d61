"""PyTorch baseline of the `sae` suite: one training step of the paper's recipe (autograd, the decoder
constraint, Adam with betas (0, 0.9999)) at d_in 768, d_sae 24576, batch 4096. PyTorch's step is dense
whatever the sparsity, so one timing serves every L0 of the Swift suite. And a TopK step (k 32) as Gao
et al. define it, at the same shape."""
import math
import sys

import torch
from timing import best


def initial_weights(d_in, d_sae, b_enc_value):
    """The paper's initialisation (kaiming-uniform bounds, unit decoder rows) as parameters."""
    torch.manual_seed(1)
    W_enc = torch.nn.Parameter(torch.empty(d_in, d_sae).uniform_(-math.sqrt(6 / d_sae), math.sqrt(6 / d_sae)))
    W_dec = torch.nn.Parameter(torch.empty(d_sae, d_in).uniform_(-math.sqrt(6 / d_in), math.sqrt(6 / d_in)))
    with torch.no_grad():
        W_dec /= W_dec.norm(dim=-1, keepdim=True)
    return W_enc, W_dec, torch.nn.Parameter(torch.full((d_sae,), b_enc_value)), torch.nn.Parameter(torch.zeros(d_in))


def constrained_update(loss, W_dec, opt):
    """Backward, the decoder constraint (gradient projected off each row, rows renormalised), Adam."""
    loss.backward()
    with torch.no_grad():
        normed = W_dec / W_dec.norm(dim=-1, keepdim=True)
        W_dec.grad -= (W_dec.grad * normed).sum(-1, keepdim=True) * normed
        W_dec.data = normed
    opt.step()
    opt.zero_grad()


def paper_step(d_in=768, d_sae=24576, l1_coeff=0.8):
    """The paper's training step on a batch `x [n, d_in]` (autograd, decoder constraint, Adam)."""
    W_enc, W_dec, b_enc, b_dec = initial_weights(d_in, d_sae, -0.66)
    opt = torch.optim.Adam([W_enc, W_dec, b_enc, b_dec], lr=1.2e-3, betas=(0.0, 0.9999))

    def step(x):
        acts = torch.relu((x - b_dec) @ W_enc + b_enc)
        x_rec = acts @ W_dec + b_dec
        constrained_update((x_rec - x).pow(2).sum(-1).mean(0) + l1_coeff * acts.abs().sum(-1).mean(0), W_dec, opt)

    return step


def topk_step(d_in=768, d_sae=24576, k=32):
    """A TopK training step as Gao et al. 2024 define it (SAELens's TopKTrainingSAE without sparse
    activations): keep the k largest pre-activations of each row (ReLU of them), MSE, AuxK on dead latents
    (none are dead in one step), the decoder constraint and Adam."""
    W_enc, W_dec, b_enc, b_dec = initial_weights(d_in, d_sae, 0.0)
    opt = torch.optim.Adam([W_enc, W_dec, b_enc, b_dec], lr=1e-3, betas=(0.0, 0.9999))
    dead = torch.zeros(d_sae, dtype=torch.bool)

    def step(x):
        pre = (x - b_dec) @ W_enc + b_enc
        v, i = pre.topk(k, dim=-1, sorted=False)
        acts = torch.zeros_like(pre).scatter(-1, i, v.relu())
        x_rec = acts @ W_dec + b_dec
        if dead.any():                                        # AuxK (no dead latents in a fresh SAE)
            raise AssertionError("no dead latents expected")
        constrained_update((x_rec - x).pow(2).sum(-1).mean(), W_dec, opt)

    return step


def run():
    step = paper_step()
    x = torch.randn(4096, 768)
    t = best(lambda: step(x), reps=2)
    print(f"  torch SAE step: {t:.3f} s", file=sys.stderr)
    step = topk_step()
    tk = best(lambda: step(x), reps=2)
    print(f"  torch TopK (k 32) SAE step: {tk:.3f} s", file=sys.stderr)
    return {"sae_step_dense": t, "sae_step_topk32": tk}
