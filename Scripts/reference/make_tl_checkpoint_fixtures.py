#!/usr/bin/env python3
"""Writes Tests/TransformerTests/Fixtures/tl-checkpoint/: TransformerLens-format checkpoints of the
shape of Neel Nanda's GELU-2L family, and TransformerLens's own runs of them.

Each of `standard/` and `shortformer/` is a folder as `NeelNanda/GELU_2L512W_C4_Code` ships (and
`attn-only/` one as `NeelNanda/Attn_Only_2L512W_C4_Code` does: attention-only blocks, d_vocab 512):
  model_final.pth   torch.save(HookedTransformer.state_dict()) — with the attn.mask / attn.IGNORE buffers
  config.json       the repository's config (its keys, including the training ones TL ignores)
of a random 2-layer GELU model (d_model 16, 2 heads of 8, d_mlp 64, n_ctx 128, d_vocab 3000, the size of the NeoX-style fixture tokenizer) with
every parameter random and far from neutral (``random_model``), `shortformer_pos` false and true. `reference.h5` in each folder holds,
for the same tokens, every hook TransformerLens caches, the logits and the per-token loss of
`HookedTransformer.from_pretrained("NeelNanda/GELU_2L512W_C4_Code")` (group /processed) and of
`from_pretrained_no_processing` (/unprocessed) — `unembed.hook_out` is the logits, stored once — run through TransformerLens's real loading code with
only the HuggingFace download replaced by these files; and `to_tokens` of a text (/text_tokens) with the
NeoX-style fixture tokenizer (tokenizer-json/neox_style.json, not copied here: the repository's tokenizer
lives in its own repository too); and, under /flags/{fold_ln}{center_writing_weights}{center_unembed}{fold_value_biases}
(e.g. /flags/1011), `from_pretrained` with each of the 16 combinations of its processing flags on the first
row of tokens: every hook, the last position's logits and the per-token loss.
Run with the reference environment (torch, transformer_lens<4, transformers, h5py).
"""
import importlib.metadata
import json
import os
import tempfile
import warnings

warnings.filterwarnings("ignore")
import h5py
import numpy as np
import torch
import transformers
import transformer_lens.loading_from_pretrained as loading
import transformer_lens.utilities as tl_utils
from transformer_lens import HookedTransformer, HookedTransformerConfig

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "..", "Tests", "TransformerTests", "Fixtures")
OUT = os.path.join(FIX, "tl-checkpoint")
TOKENIZER = os.path.join(FIX, "tokenizer-json", "neox_style.json")
REPO = "NeelNanda/GELU_2L512W_C4_Code"
TEXT = "def board(x):\n    return x.board[12] + 345  # the board"


def attn_only_config():
    """An attention-only repository's config (NeelNanda/Attn_Only_2L512W_C4_Code's keys, shrunk; d_vocab 512)."""
    c = repo_config(False)
    c.update({"attn_only": True, "d_vocab": 512, "act_fn": "solu_ln", "d_mlp": 64})     # act_fn and d_mlp unused
    return c


def repo_config(shortformer):
    """config.json in the repository's format: the keys convert_neel_model_config reads, and the
    training keys it ignores (values as in the GELU-2L repository, dimensions shrunk)."""
    return {
        "n_layers": 2, "d_model": 16, "d_mlp": 64, "d_head": 8, "n_heads": 2, "lr_hidden": 0.002, "lr_vector": 0.001,
        "batch_size_per_device": 32, "batches_per_step": 1, "seed": 4091, "save_checkpoints": True, "debug": False,
        "debug_batch": False, "normalization": "LN", "max_tokens": 22000000000, "version": 202,
        "use_bfloat16_matmul": True, "n_ctx": 128, "d_vocab": 3000, "tokenizer_name": "NeelNanda/gpt-neox-tokenizer-digits",
        "betas": [0.9, 0.99], "weight_decay": 0.05, "dataset_name": "c4_code", "grad_norm_clip": 1.0, "n_devices": 8,
        "act_fn": "gelu", "shortformer_pos": shortformer, "attn_only": False, "ln_eps": 1e-05,
        "lr_schedule": "cosine_warmup", "warmup_tokens": 300000000, "train_loss_ewma_beta": 0.99,
        "truncate_tokens": 1000000000000, "log_interval": 50, "initializer_scale_global": 1.0,
        "initializer_scale_hidden": 0.02, "initializer_scale_embed": 0.1, "initializer_scale_unembed": 0.02,
        "neuron_scale": 1.0, "neuron_temp": 1.0, "use_acc": False, "weight_init_scheme": "gpt2", "fixed_init": "",
        "store_init": False, "control": 1.0, "tokens_per_step": 262144, "batch_size": 256, "max_steps": 83923,
        "warmup_steps": 1144, "n_params": 9216,
    }


def random_model(cfg_json, seed):
    """A HookedTransformer of the config with every parameter random, far from the values that would
    hide a processing slip: layer-norm weights spread around 0 (some negative) and biases of order 1, so
    folding them matters; embeddings, W_pos, W_O, W_out and their biases with non-zero means over
    d_model, so centring the writing weights matters; W_U and b_U with non-zero means over the
    vocabulary, so centring the unembedding matters; value biases of order 1."""
    torch.manual_seed(seed)
    d = {k: cfg_json[k] for k in ("n_layers", "d_model", "d_mlp", "d_head", "n_heads", "n_ctx", "d_vocab", "act_fn", "attn_only")}
    cfg = HookedTransformerConfig(**d, normalization_type="LN",
                                  positional_embedding_type="shortformer" if cfg_json["shortformer_pos"] else "standard")
    model = HookedTransformer(cfg)
    writing = ("W_E", "W_pos", "W_O", "W_out", "b_O", "b_out")
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")[-1]
            if "ln" in name and leaf == "w":
                p.copy_(0.4 + 1.2 * torch.randn_like(p))
            elif "ln" in name and leaf == "b":
                p.copy_(torch.randn_like(p))
            elif leaf.startswith("b"):
                p.copy_(0.5 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
            if leaf in writing:                     # a mean over d_model (the last axis) per row
                p.add_(0.5 * torch.randn(p.shape[:-1] + (1,)) if p.dim() > 1 else 0.5 * torch.randn(()))
            if leaf in ("W_U", "b_U"):              # a mean over the vocabulary (the last axis)
                p.add_(0.5 * torch.randn(p.shape[:-1] + (1,)) if p.dim() > 1 else 0.5 * torch.randn(()))
    return model


# Every combination of from_pretrained's processing flags, as "{fold_ln}{center_writing_weights}{center_unembed}{fold_value_biases}".
FLAG_COMBINATIONS = [(a, b, c, v) for a in (0, 1) for b in (0, 1) for c in (0, 1) for v in (0, 1)]


def load_like_the_hub(folder, processed, tokenizer, repo=REPO, **flags):
    """TransformerLens's from_pretrained of the GELU-2L repository, its two downloads served from `folder`."""
    real_download, real_api = tl_utils.download_file_from_hf, loading.HfApi

    def download(repo, name, **_):
        path = os.path.join(folder, name)
        return torch.load(path, map_location="cpu", weights_only=False) if name.endswith(".pth") else json.load(open(path))

    class Api:
        def list_repo_files(self, repo, **_):
            return ["config.json", "model_final.pth"]

    tl_utils.download_file_from_hf, loading.HfApi = download, Api
    loading.utils.download_file_from_hf = download
    try:
        load = HookedTransformer.from_pretrained if processed else HookedTransformer.from_pretrained_no_processing
        return load(repo, tokenizer=tokenizer, device="cpu", **flags)
    finally:
        tl_utils.download_file_from_hf, loading.HfApi = real_download, real_api
        loading.utils.download_file_from_hf = real_download


def main():
    # A tokenizer folder as the hub's tokenizer repository is (TransformerLens reloads it by path to add BOS).
    tok_dir = tempfile.mkdtemp()
    transformers.PreTrainedTokenizerFast(tokenizer_file=TOKENIZER, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                         pad_token="<|padding|>").save_pretrained(tok_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tok_dir)
    for name, cfg_json, repo, seed in (("standard", repo_config(False), REPO, 21), ("shortformer", repo_config(True), REPO, 22),
                                       ("attn-only", attn_only_config(), "NeelNanda/Attn_Only_2L512W_C4_Code", 23)):
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(cfg_json, f)
        torch.save(random_model(cfg_json, seed).state_dict(), os.path.join(folder, "model_final.pth"))
        text_tokens = None
        tokens = torch.tensor([[0, 412, 17, 2999, 5, 412, 17, 2999, 5, 88, 7, 7],
                               [0, 50, 51, 52, 53, 50, 51, 52, 53, 2500, 9, 10]]) % cfg_json["d_vocab"]
        with h5py.File(os.path.join(folder, "reference.h5"), "w") as f:
            f.create_dataset("tokens", data=tokens.numpy())
            for k in ("transformer_lens", "transformers", "torch"):
                f.attrs[k] = importlib.metadata.version(k)
            for group, processed in (("unprocessed", False), ("processed", True)):
                model = load_like_the_hub(folder, processed, tokenizer, repo).eval()
                with torch.no_grad():
                    logits, cache = model.run_with_cache(tokens)
                    loss = model(tokens, return_type="loss", loss_per_token=True)
                g = f.create_group(group)
                g.attrs["normalization_type"] = str(model.cfg.normalization_type)
                g.create_dataset("logits", data=logits.numpy())
                g.create_dataset("loss_per_token", data=loss.numpy())
                g.attrs.create("hook_names", list(cache.keys()), dtype=h5py.string_dtype())
                for k, v in cache.items():
                    if k != "unembed.hook_out":         # the logits, stored once
                        g.create_dataset("hooks/" + k, data=v.numpy())
                text_tokens = model.to_tokens(TEXT)
            # Each flag combination on the first row: every hook, the last position's logits, the loss.
            for flags in FLAG_COMBINATIONS:
                kwargs = dict(zip(("fold_ln", "center_writing_weights", "center_unembed", "fold_value_biases"), map(bool, flags)))
                model = load_like_the_hub(folder, True, tokenizer, repo, **kwargs).eval()
                with torch.no_grad():
                    logits, cache = model.run_with_cache(tokens[:1])
                    loss = model(tokens[:1], return_type="loss", loss_per_token=True)
                g = f.create_group("flags/" + "".join(map(str, flags)))
                g.create_dataset("last_logits", data=logits[:, -1].numpy())
                g.create_dataset("loss_per_token", data=loss.numpy())
                for k, v in cache.items():
                    if k != "unembed.hook_out":
                        g.create_dataset("hooks/" + k, data=v.numpy())
            f.create_dataset("text_tokens", data=text_tokens.numpy())
            f.attrs["text"] = TEXT


if __name__ == "__main__":
    main()
