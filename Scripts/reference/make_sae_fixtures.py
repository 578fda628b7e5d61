#!/usr/bin/env python3
"""Writes the SparseAutoencoder fixtures (Tests/SparseAutoencoderTests/Fixtures) with torch and SAELens.

One random SAE (d_in 16 = 2 heads × 8, d_sae 32) is written
  - as the paper writes its checkpoints: torch.save of the state_dict {W_enc, W_dec, b_enc, b_dec} to
    kissane/<run>.pt plus kissane/<run>_cfg.json with the keys of the paper's cfg;
  - by SAELens (StandardSAE.save_model) into saelens/;
and sae_reference.h5 holds inputs and what SAELens computes for them (pre-activations, activations,
reconstruction), plus the attribution maths computed the way the paper's code does it (DFA by source
position with the pattern repeated per head dimension, decoder-norm head attribution, logit effects).
Run with the reference environment (torch, sae_lens, h5py)."""
import json
import os
import warnings

warnings.filterwarnings("ignore")
import h5py
import torch
from sae_lens import StandardSAE, StandardSAEConfig

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "SparseAutoencoderTests", "Fixtures")
RUN = "gpt2-small_L1_Hcat_z_lr1.20e-03_l18.00e-01_ds32_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v5"


@torch.no_grad()
def main():
    torch.manual_seed(11)
    n_heads, d_head, d_sae = 2, 8, 32
    d_in = n_heads * d_head
    W_enc = torch.randn(d_in, d_sae) * 0.3
    W_dec = torch.randn(d_sae, d_in)
    W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
    b_enc = torch.randn(d_sae) * 0.1
    b_dec = torch.randn(d_in) * 0.1
    sd = {"W_enc": W_enc, "W_dec": W_dec, "b_enc": b_enc, "b_dec": b_dec}

    os.makedirs(os.path.join(OUT, "kissane"), exist_ok=True)
    torch.save(sd, os.path.join(OUT, "kissane", RUN + ".pt"))
    cfg = {"seed": 49, "batch_size": 4096, "buffer_mult": 384, "lr": 0.0012, "num_tokens": 100000000, "l1_coeff": 0.8,
           "beta1": 0.0, "beta2": 0.9999, "dict_mult": 2, "seq_len": 128, "enc_dtype": "fp32", "model_name": "gpt2-small",
           "site": "z", "layer": 1, "device": "cpu", "reinit": "reinit", "head": "cat", "concat_heads": True,
           "resample_scheme": "anthropic", "anthropic_neuron_resample_scale": 0.2, "dead_direction_cutoff": 1e-06,
           "re_init_every": 25000, "anthropic_resample_last": 12500, "resample_factor": 0.01, "num_resamples": 4,
           "save_state_dict_every": 50000, "b_dec_init": "zeros", "sched_type": "cosine_warmup", "sched_epochs": 1000,
           "sched_lr_factor": 0.1, "sched_warmup_epochs": 1000, "sched_finish": True, "anthropic_resample_batches": 100,
           "eval_every": 1000, "model_batch_size": 512, "buffer_size": 1572864, "buffer_batches": 12288,
           "act_name": "blocks.1.attn.hook_z", "act_size": d_in, "dict_size": d_sae, "name": RUN}
    with open(os.path.join(OUT, "kissane", RUN + "_cfg.json"), "w") as f:
        json.dump(cfg, f, indent=1)

    scfg = StandardSAEConfig(d_in=d_in, d_sae=d_sae, apply_b_dec_to_input=True, reshape_activations="none")
    scfg.metadata.hook_name = "blocks.1.attn.hook_z"
    sae = StandardSAE(scfg)
    sae.load_state_dict(sd, strict=False)
    for k, v in sd.items():
        getattr(sae, k).data.copy_(v)
    sae.save_model(os.path.join(OUT, "saelens"))

    x = torch.randn(6, d_in) * 2
    pre = sae.encode_with_hidden_pre(x)[1] if hasattr(sae, "encode_with_hidden_pre") else None
    acts = sae.encode(x)
    recons = sae.decode(acts)
    if pre is None:
        pre = (x - b_dec) @ W_enc + b_enc

    # DFA by source position, as the paper's code computes it: repeat each head's pattern d_head times
    # along the concatenated axis and contract with the feature's encoder column.
    B, P, feature = 2, 5, 7
    scores = torch.randn(B, n_heads, P, P)
    scores = scores.masked_fill(torch.triu(torch.ones(P, P, dtype=torch.bool), 1), float("-inf"))
    pattern = scores.softmax(-1)
    v = torch.randn(B, P, n_heads, d_head)
    rep = pattern.repeat_interleave(d_head, dim=1)                    # [B, d_in, q, k]
    v_cat = v.reshape(B, P, d_in)                                     # [B, k, d_in]
    dfa = torch.einsum("bnqk,bkn,n->bqk", rep, v_cat, W_enc[:, feature])
    z = torch.einsum("bhqk,bkhd->bqhd", pattern, v)                   # hook_z
    head_norms = W_dec.reshape(d_sae, n_heads, d_head).norm(dim=-1)
    head_attr = head_norms / head_norms.sum(-1, keepdim=True)
    W_O = torch.randn(n_heads, d_head, 12)
    W_U = torch.randn(12, 20)
    logit_effects = W_dec[[3, feature]] @ W_O.reshape(d_in, 12) @ W_U

    with h5py.File(os.path.join(OUT, "sae_reference.h5"), "w") as f:
        for k, t in dict(x=x, pre=pre, acts=acts, recons=recons, pattern=pattern, v=v, z=z, dfa=dfa,
                         head_attribution=head_attr, W_O=W_O, W_U=W_U, logit_effects=logit_effects).items():
            f.create_dataset(k, data=t.numpy())
        f.attrs["feature"] = feature
        f.attrs["sae_lens"] = __import__("importlib.metadata").metadata.version("sae_lens")


if __name__ == "__main__":
    main()
