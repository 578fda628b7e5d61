"""The `explorer` suite's baseline: what the Circuit Explorer's engine does (Benchmarks/Bench/ExplorerSuite.swift),
written with TransformerLens and SAELens in PyTorch as a researcher's notebook server would: load 24 SAEs
(12 attention, 12 residual, 24576 features) with SAELens's `load_from_disk`; answer a new 128-token prompt
(run_with_cache, every SAE's encoding, the features per position, the next-token prediction); and expand one
node — a layer-11 attention feature's exact terms through the residual SAE at its layer, with the
frozen-pattern algebra of Scripts/baselines/trace.py — timed one at a time (median of 20 nodes)."""
import os
import shutil
import statistics
import tempfile
import time

import torch
from sae_lens import StandardSAE

from shapes import D_SAE, random_gpt2_small, standard_sae
from timing import best

POS, L0 = 128, 64


def run():
    torch.manual_seed(0)
    model = random_gpt2_small()
    tokens = torch.cat([torch.tensor([50256]), torch.randint(0, 50257, (POS - 1,))])[None]
    folder = tempfile.mkdtemp()
    try:
        for kind, seed in (("attn", 2), ("resid", 3)):
            standard_sae(seed).save_model(os.path.join(folder, kind))

        saes = {}

        def start():
            for l in range(12):
                for kind in ("attn", "resid"):
                    saes[kind, l] = StandardSAE.load_from_disk(os.path.join(folder, kind), device="cpu")

        t0 = time.perf_counter()
        start()
        start_seconds = time.perf_counter() - t0
        with torch.no_grad():
            _, cache = model.run_with_cache(tokens)
            for l in range(12):  # each site's encoder bias calibrated to L0 ≈ 64 on this prompt
                for kind, x in (("attn", cache[f"blocks.{l}.attn.hook_z"][0].flatten(1)), ("resid", cache[f"blocks.{l}.hook_resid_pre"][0])):
                    s = saes[kind, l]
                    pre = (x - s.b_dec) @ s.W_enc
                    s.b_enc.copy_(-pre.flatten().sort(descending=True).values[pre.numel() * L0 // D_SAE])

        state = {}

        @torch.no_grad()
        def first_response():
            logits, cache = model.run_with_cache(tokens)
            acts, err, cells = {}, {}, {}
            for l in range(12):
                for kind, x in (("resid", cache[f"blocks.{l}.hook_resid_pre"][0]), ("attn", cache[f"blocks.{l}.attn.hook_z"][0].flatten(1))):
                    s = saes[kind, l]
                    a = s.encode(x)
                    acts[kind, l] = a
                    err[kind, l] = x - s.decode(a)
                    cells[kind, l] = ((a > 0).sum(-1), a.topk(8, dim=-1))
            prediction = logits[0, -1].log_softmax(-1).topk(10)
            state.update(cache=cache, acts=acts, err=err)
            return cells, prediction

        first = best(first_response)
        cache, acts, err = state["cache"], state["acts"], state["err"]
        W = {name: p for name, p in model.named_parameters()}
        scale = {l: cache[f"blocks.{l}.ln1.hook_scale"][0, :, 0] for l in range(12)}
        pattern = {l: cache[f"blocks.{l}.attn.hook_pattern"][0] for l in range(12)}

        @torch.no_grad()
        def expand(l, t, j):
            """The terms of attention feature j at (layer l, position t) through the residual SAE at layer l, largest 12 first."""
            e = saes["attn", l].W_enc[:, j].reshape(12, 64)
            D = torch.einsum("hmd,hd->mh", W[f"blocks.{l}.attn.W_V"], e)
            D = D - D.mean(0, keepdim=True)                                   # [d_model, heads]
            coeff = pattern[l][:, t, : t + 1] / scale[l][None, : t + 1]       # [heads, sources]
            a = acts["resid", l][: t + 1]
            X = saes["resid", l].W_dec @ D                                    # [d_sae, heads]
            idx = a.nonzero()
            per = a[idx[:, 0], idx[:, 1], None] * X[idx[:, 1]] * coeff.T[idx[:, 0]]   # [terms, heads]
            errs = (err["resid", l][: t + 1] @ D) * coeff.T
            values = torch.cat([per.sum(-1), errs.sum(-1)])
            by_position = torch.zeros(t + 1).index_add_(0, idx[:, 0], per.sum(-1)) + errs.sum(-1)
            return values.abs().topk(min(12, values.numel())), by_position, per.sum(0) + errs.sum(0)

        nodes = []
        for t in range(POS - 1, -1, -1):
            for j in acts["attn", 11][t].nonzero().flatten().tolist():
                nodes.append((11, t, j))
            if len(nodes) >= 20:
                break
        times = []
        expand(*nodes[0])
        for n in nodes[:20]:
            t0 = time.perf_counter()
            expand(*n)
            times.append(time.perf_counter() - t0)
        return {"explorer.start": start_seconds, "explorer.first_response_128": first, "explorer.expand": statistics.median(times)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
