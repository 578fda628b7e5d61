#!/usr/bin/env python3
"""Writes Tests/SparseAutoencoderTests/Fixtures/train_reference.h5: two training steps of the paper's
recipe in PyTorch (autograd, torch.optim.Adam with betas (0, 0.9999), the decoder constraint before
the Adam step; Docs/Method.md §1.4–§1.7) from fixed initial weights on fixed batches, and the learning rates of
the paper's cosine_warmup schedule (CosineAnnealingLR pre-stepped 1000 times, stepped by the training
rule, then re-warmed after a resample) step by step. Run with the reference environment."""
import math
import os

import h5py
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "SparseAutoencoderTests", "Fixtures", "train_reference.h5")


def main():
    torch.manual_seed(5)
    d_in, d_sae, n, l1_coeff, lr = 16, 32, 64, 0.8, 1.2e-3
    W_enc = torch.nn.Parameter(torch.empty(d_in, d_sae).uniform_(-math.sqrt(6 / d_sae), math.sqrt(6 / d_sae)))
    W_dec0 = torch.empty(d_sae, d_in).uniform_(-math.sqrt(6 / d_in), math.sqrt(6 / d_in))
    W_dec = torch.nn.Parameter(W_dec0 / W_dec0.norm(dim=-1, keepdim=True))
    b_enc = torch.nn.Parameter(torch.randn(d_sae) * 0.1)
    b_dec = torch.nn.Parameter(torch.randn(d_in) * 0.1)
    params = [W_enc, W_dec, b_enc, b_dec]
    init = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=lr, betas=(0.0, 0.9999))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000, eta_min=0.1 * lr)
    for _ in range(1000):
        sched.step()
    batches = [torch.randn(n, d_in) * 2, torch.randn(n, d_in) * 2]
    results = {}
    for i, x in enumerate(batches):
        x_cent = x - b_dec
        acts = torch.relu(x_cent @ W_enc + b_enc)
        x_rec = acts @ W_dec + b_dec
        l2 = (x_rec.float() - x.float()).pow(2).sum(-1).mean(0)
        l1 = l1_coeff * acts.float().abs().sum(-1).mean(0)
        loss = l2 + l1
        loss.backward()
        with torch.no_grad():
            W_dec_normed = W_dec / W_dec.norm(dim=-1, keepdim=True)
            W_dec_grad_proj = (W_dec.grad * W_dec_normed).sum(-1, keepdim=True) * W_dec_normed
            W_dec.grad -= W_dec_grad_proj
            W_dec.data = W_dec_normed
        results[f"step{i}/lr"] = torch.tensor(opt.param_groups[0]["lr"], dtype=torch.float64)
        opt.step()
        if i < 1000 or opt.param_groups[0]["lr"] + 1e-9 < lr:
            sched.step()
        opt.zero_grad()
        results[f"step{i}/loss"] = loss.detach()
        results[f"step{i}/l2"] = l2.detach()
        results[f"step{i}/l1"] = l1.detach()
        for name, p in zip(["W_enc", "W_dec", "b_enc", "b_dec"], params):
            results[f"step{i}/{name}"] = p.detach().clone()
    # Anthropic resampling of three dead features (Docs/Method.md §1.9) from two batches, the Adam reset and
    # the re-warm, then one more training step.
    dead = [2, 5, 17]
    res_batches = [torch.randn(n, d_in) * 2, torch.randn(n, d_in) * 2]
    with torch.no_grad():
        errs = []
        for b in res_batches:
            acts = torch.relu((b - b_dec) @ W_enc + b_enc)
            errs.append((acts @ W_dec + b_dec - b).pow(2).sum(-1))
        e = torch.cat(errs)
        probs = e.pow(2) / e.pow(2).sum()
        chosen = torch.multinomial(probs, len(dead), replacement=False)
        inputs = torch.cat(res_batches)
        alive = torch.ones(d_sae, dtype=torch.bool)
        alive[dead] = False
        m = W_enc[:, alive].norm(dim=0).mean()
        for j, idx in zip(dead, chosen.tolist()):
            r = inputs[idx] - b_dec
            r_hat = r / (r.norm() + 1e-8)
            W_dec.data[j] = r_hat
            W_enc.data[:, j] = r_hat * m * 0.2
            b_enc.data[j] = 0.0
        state = opt.state
        for k in ("exp_avg", "exp_avg_sq"):
            state[W_enc][k][:, dead] = 0.0
            state[W_dec][k][dead, :] = 0.0
            state[b_enc][k][dead] = 0.0
    while opt.param_groups[0]["lr"] > 0.1 * lr + 1e-9:
        sched.step()
    for name, p_ in zip(["W_enc", "W_dec", "b_enc", "b_dec"], params):
        results[f"resampled/{name}"] = p_.detach().clone()
    results["resample/chosen"] = chosen
    results["resample/x0"] = res_batches[0]
    results["resample/x1"] = res_batches[1]
    x = torch.randn(n, d_in) * 2
    results["x2"] = x
    acts = torch.relu((x - b_dec) @ W_enc + b_enc)
    loss = (acts @ W_dec + b_dec - x).pow(2).sum(-1).mean(0) + l1_coeff * acts.abs().sum(-1).mean(0)
    loss.backward()
    with torch.no_grad():
        W_dec_normed = W_dec / W_dec.norm(dim=-1, keepdim=True)
        W_dec.grad -= (W_dec.grad * W_dec_normed).sum(-1, keepdim=True) * W_dec_normed
        W_dec.data = W_dec_normed
    results["step2/lr"] = torch.tensor(opt.param_groups[0]["lr"], dtype=torch.float64)
    opt.step()
    opt.zero_grad()
    for name, p_ in zip(["W_enc", "W_dec", "b_enc", "b_dec"], params):
        results[f"step2/{name}"] = p_.detach().clone()

    # The schedule alone (a fresh one), stepped by the training rule from step 2 on, then re-warmed at step 1500.
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr, betas=(0.0, 0.9999))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000, eta_min=0.1 * lr)
    for _ in range(1002):
        sched.step()
    lrs = [opt.param_groups[0]["lr"]]
    for i in range(2, 1500):
        if i < 1000 or opt.param_groups[0]["lr"] + 1e-9 < lr:
            sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    rewarm_steps = 0
    while opt.param_groups[0]["lr"] > 0.1 * lr + 1e-9:
        sched.step()
        rewarm_steps += 1
    for i in range(1500, 2700):
        lrs.append(opt.param_groups[0]["lr"])
        if i < 1000 or opt.param_groups[0]["lr"] + 1e-9 < lr:
            sched.step()
    with h5py.File(OUT, "w") as f:
        for name, p in zip(["W_enc", "W_dec", "b_enc", "b_dec"], init):
            f.create_dataset("init/" + name, data=p.numpy())
        for i, x in enumerate(batches):
            f.create_dataset(f"x{i}", data=x.numpy())
        for k, v in results.items():
            f.create_dataset(k, data=v.numpy())
        f.create_dataset("lrs", data=torch.tensor(lrs, dtype=torch.float64).numpy())
        f.attrs["rewarm_steps"] = rewarm_steps
        f.attrs["l1_coeff"] = l1_coeff
        f.attrs["lr"] = lr


if __name__ == "__main__":
    main()
