#!/usr/bin/env python3
"""Writes the residual-stream SAE fixtures (Tests/SparseAutoencoderTests/Fixtures):

- `saelens-resid/`: a SAELens 6 StandardSAE on `blocks.1.hook_resid_pre` (d_in 16 = d_model, d_sae 32,
  random weights) saved with `save_model` — the layout SAELens writes today;
- `saelens-resid-jb/`: the same weights in the layout of SAELens's `gpt2-small-res-jb` release (the
  `jbloom/GPT2-Small-SAEs-Reformatted` repository: a pre-6.0 `cfg.json` with `hook_point`,
  `hook_point_layer`, no `architecture`, no `apply_b_dec_to_input`, `normalize_activations` absent, and
  the training keys that release carries), loaded here by SAELens's own `SAE.load_from_disk` to check
  that SAELens reads it as the same SAE;
- `resid_sae_reference.h5`: inputs `x` `[8, 16]` and SAELens's `encode` / `decode(encode)` of both
  folders (`resid/acts`, `resid/recons`, `resid-jb/acts`, `resid-jb/recons`).

Run with the reference environment (torch, sae_lens, h5py, safetensors)."""
import json
import os
import warnings

warnings.filterwarnings("ignore")
import h5py
import torch
from safetensors.torch import save_file
from sae_lens import SAE, StandardSAE, StandardSAEConfig

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "SparseAutoencoderTests", "Fixtures")
HOOK = "blocks.1.hook_resid_pre"
D_IN, D_SAE = 16, 32


def jb_config():
    """A pre-6.0 cfg.json as the gpt2-small-res-jb release ships it (its keys; sizes shrunk)."""
    return {
        "model_name": "gpt2-small", "hook_point": HOOK, "hook_point_layer": 1, "hook_point_head_index": None,
        "dataset_path": "Skylion007/openwebtext", "is_dataset_tokenized": False, "context_size": 128,
        "use_cached_activations": False, "cached_activations_path": "activations/Skylion007_openwebtext/gpt2-small/" + HOOK,
        "d_in": D_IN, "n_batches_in_buffer": 128, "total_training_tokens": 300000000, "store_batch_size": 32,
        "device": "mps", "seed": 42, "dtype": "torch.float32", "b_dec_init_method": "geometric_median",
        "expansion_factor": D_SAE // D_IN, "from_pretrained_path": None, "l1_coefficient": 8e-05, "lr": 0.0004,
        "lr_scheduler_name": None, "lr_warm_up_steps": 5000, "train_batch_size": 4096, "use_ghost_grads": False,
        "feature_sampling_window": 1000, "feature_sampling_method": None, "resample_batches": 1028,
        "feature_reinit_scale": 0.2, "dead_feature_window": 5000, "dead_feature_estimation_method": "no_fire",
        "dead_feature_threshold": 1e-08, "log_to_wandb": True, "wandb_project": "mats_sae_training_gpt2_small_resid_pre_5",
        "wandb_entity": None, "wandb_log_frequency": 100, "n_checkpoints": 10,
        "checkpoint_path": "checkpoints/y1t51byy", "d_sae": D_SAE, "tokens_per_buffer": 67108864,
        "run_name": "%d-L1-8e-05-LR-0.0004-Tokens-3.000e+08" % D_SAE,
    }


@torch.no_grad()
def main():
    g = torch.Generator().manual_seed(31)
    weights = {"W_enc": torch.randn(D_IN, D_SAE, generator=g) * 0.3, "W_dec": torch.randn(D_SAE, D_IN, generator=g) * 0.3,
               "b_enc": torch.randn(D_SAE, generator=g) * 0.1, "b_dec": torch.randn(D_IN, generator=g) * 0.2}
    sae = StandardSAE(StandardSAEConfig(d_in=D_IN, d_sae=D_SAE, dtype="float32", device="cpu"))
    sae.cfg.metadata.hook_name = HOOK
    for k, v in weights.items():
        getattr(sae, k).data.copy_(v)
    resid = os.path.join(OUT, "saelens-resid")
    sae.save_model(resid)
    jb = os.path.join(OUT, "saelens-resid-jb")
    os.makedirs(jb, exist_ok=True)
    save_file({k: v.contiguous() for k, v in weights.items()}, os.path.join(jb, "sae_weights.safetensors"))
    with open(os.path.join(jb, "cfg.json"), "w") as f:
        json.dump(jb_config(), f, indent=2)
    x = torch.randn(8, D_IN, generator=g)
    with h5py.File(os.path.join(OUT, "resid_sae_reference.h5"), "w") as f:
        f.create_dataset("x", data=x.numpy())
        for name, folder in (("resid", resid), ("resid-jb", jb)):
            loaded = SAE.load_from_disk(folder, device="cpu")
            assert type(loaded).__name__ == "StandardSAE", type(loaded)
            assert loaded.cfg.metadata.hook_name == HOOK and loaded.cfg.apply_b_dec_to_input
            for k, v in weights.items():
                assert torch.equal(getattr(loaded, k).data, v), k
            acts = loaded.encode(x)
            f.create_dataset(name + "/acts", data=acts.numpy())
            f.create_dataset(name + "/recons", data=loaded.decode(acts).numpy())
        import sae_lens
        f.attrs["sae_lens"] = sae_lens.__version__


if __name__ == "__main__":
    main()
