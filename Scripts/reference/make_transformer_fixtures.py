#!/usr/bin/env python3
"""Writes the Transformer test fixtures (Tests/TransformerTests/Fixtures) with transformers + TransformerLens.

A tiny random GPT-2 (2 layers, d_model 64, 2 heads of 32, d_mlp 256, n_ctx 16, vocab 96) with random
layer-norm parameters and biases (so that weight processing matters) is written three ways:
  tiny_gpt2.safetensors   HuggingFace save_pretrained
  tiny_gpt2_tf.h5         the Keras layout of HuggingFace tf_model.h5 (written with h5py; TensorFlow is
                          not needed), with the TF 2.15 spellings: scope tfgpt2lm_head_model,
                          wte/embeddings:0, biases [1, N]
  tiny_gpt2_tl.h5         our HDF5 layout (TransformerLens names, config and flags as attributes)
and reference.h5 holds, for the same tokens, every hook TransformerLens caches, the logits and the
per-token loss, once with from_pretrained's default processing (group /processed) and once without
(/unprocessed).
hf_dhead16/ is a HuggingFace folder as save_pretrained writes it (model.safetensors + config.json) of a
GPT-2 whose heads are not 64 wide (d_model 64, 4 heads of 16, d_mlp 192, layer_norm_epsilon 1e-4), with
the same weights in the Keras tf_model.h5 layout, and reference.h5 with every TransformerLens hook of the
processed model (group /processed). Run with the reference environment (torch, transformers,
transformer_lens<4, h5py).
"""
import json
import os
import tempfile
import warnings

warnings.filterwarnings("ignore")
import h5py
import numpy as np
import torch
import transformers
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TransformerTests", "Fixtures")


def write_keras_h5(sd, n_layer, path):
    """The Keras layout of HuggingFace tf_model.h5, written with h5py (TensorFlow is not needed)."""
    scope = "tfgpt2lm_head_model/transformer/"
    order = [("wte/embeddings:0", sd["wte.weight"]), ("wpe/embeddings:0", sd["wpe.weight"])]
    for l in range(n_layer):
        p = f"h.{l}."
        k = f"h_._{l}/"
        order += [(k + "ln_1/gamma:0", sd[p + "ln_1.weight"]), (k + "ln_1/beta:0", sd[p + "ln_1.bias"]),
                  (k + "attn/c_attn/weight:0", sd[p + "attn.c_attn.weight"]), (k + "attn/c_attn/bias:0", sd[p + "attn.c_attn.bias"][None]),
                  (k + "attn/c_proj/weight:0", sd[p + "attn.c_proj.weight"]), (k + "attn/c_proj/bias:0", sd[p + "attn.c_proj.bias"][None]),
                  (k + "ln_2/gamma:0", sd[p + "ln_2.weight"]), (k + "ln_2/beta:0", sd[p + "ln_2.bias"]),
                  (k + "mlp/c_fc/weight:0", sd[p + "mlp.c_fc.weight"]), (k + "mlp/c_fc/bias:0", sd[p + "mlp.c_fc.bias"][None]),
                  (k + "mlp/c_proj/weight:0", sd[p + "mlp.c_proj.weight"]), (k + "mlp/c_proj/bias:0", sd[p + "mlp.c_proj.bias"][None])]
    order += [("ln_f/gamma:0", sd["ln_f.weight"]), ("ln_f/beta:0", sd["ln_f.bias"])]
    with h5py.File(path, "w", libver="earliest") as f:
        f.attrs["layer_names"] = [b"transformer"]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        g = f.create_group("transformer")
        g.attrs["weight_names"] = [(scope + n).encode() for n, _ in order]
        for n, v in order:
            g.create_dataset(scope + n, data=v.astype(np.float32))
        f.create_group("top_level_model_weights")


def randomise(hf):
    """Random layer-norm parameters and biases, so that weight processing matters."""
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))


def hf_dhead16():
    """hf_dhead16/: save_pretrained's folder of a GPT-2 with d_head 16, and TransformerLens's hooks."""
    out = os.path.join(OUT, "hf_dhead16")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(11)
    hf_cfg = transformers.GPT2Config(vocab_size=96, n_positions=16, n_embd=64, n_layer=2, n_head=4, n_inner=192,
                                     layer_norm_epsilon=1e-4, activation_function="gelu_new",
                                     resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
    hf = transformers.GPT2LMHeadModel(hf_cfg).eval()
    randomise(hf)
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d, safe_serialization=True)
        for name in ("model.safetensors", "config.json"):
            os.replace(os.path.join(d, name), os.path.join(out, name))
    sd = {k: v.detach().numpy() for k, v in hf.transformer.state_dict().items()}
    write_keras_h5(sd, hf_cfg.n_layer, os.path.join(out, "tf_model.h5"))
    tl_cfg = HookedTransformerConfig(n_layers=2, d_model=64, n_heads=4, d_head=16, d_mlp=192, n_ctx=16, d_vocab=96,
                                     act_fn="gelu_new", normalization_type="LN", eps=1e-4, default_prepend_bos=True,
                                     positional_embedding_type="standard")
    model = HookedTransformer(tl_cfg)
    model.load_and_process_state_dict(convert_gpt2_weights(hf, tl_cfg), fold_ln=True, center_writing_weights=True,
                                      center_unembed=True, fold_value_biases=True)
    model.eval()
    tokens = torch.tensor([[95, 7, 33, 61, 7, 33, 61, 2, 90, 14, 5, 5]])
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
    import importlib.metadata
    with h5py.File(os.path.join(out, "reference.h5"), "w") as f:
        f.create_dataset("tokens", data=tokens.numpy())
        f.attrs["transformer_lens"] = str(importlib.metadata.version("transformer_lens"))
        f.attrs["transformers"] = str(transformers.__version__)
        g = f.create_group("processed")
        g.create_dataset("logits", data=logits.numpy())
        g.attrs.create("hook_names", list(cache.keys()), dtype=h5py.string_dtype())
        for k, v in cache.items():
            g.create_dataset("hooks/" + k, data=v.numpy())


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(7)
    hf_cfg = transformers.GPT2Config(vocab_size=96, n_positions=16, n_embd=64, n_layer=2, n_head=2, n_inner=256,
                                     activation_function="gelu_new", resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
    hf = transformers.GPT2LMHeadModel(hf_cfg).eval()
    randomise(hf)
    # HuggingFace safetensors.
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d, safe_serialization=True)
        os.replace(os.path.join(d, "model.safetensors"), os.path.join(OUT, "tiny_gpt2.safetensors"))
    sd = {k: v.detach().numpy() for k, v in hf.transformer.state_dict().items()}

    write_keras_h5(sd, hf_cfg.n_layer, os.path.join(OUT, "tiny_gpt2_tf.h5"))

    # TransformerLens models, unprocessed and processed as from_pretrained does.
    tl_cfg = HookedTransformerConfig(n_layers=2, d_model=64, n_heads=2, d_head=32, d_mlp=256, n_ctx=16, d_vocab=96,
                                     act_fn="gelu_new", normalization_type="LN", eps=1e-5, default_prepend_bos=True,
                                     positional_embedding_type="standard")
    state = convert_gpt2_weights(hf, tl_cfg)
    tokens = torch.tensor([[95, 3, 17, 42, 3, 17, 42, 8, 60, 1], [95, 50, 51, 52, 53, 50, 51, 52, 53, 0]])
    with h5py.File(os.path.join(OUT, "reference.h5"), "w") as f:
        f.create_dataset("tokens", data=tokens.numpy())
        import importlib.metadata
        f.attrs["transformer_lens"] = str(importlib.metadata.version("transformer_lens"))
        f.attrs["transformers"] = str(transformers.__version__)
        f.attrs["torch"] = str(torch.__version__)
        for group, flags in [("unprocessed", False), ("processed", True)]:
            model = HookedTransformer(tl_cfg)
            model.load_and_process_state_dict({k: v.clone() for k, v in state.items()}, fold_ln=flags,
                                              center_writing_weights=flags, center_unembed=flags, fold_value_biases=flags)
            model.eval()
            with torch.no_grad():
                logits, cache = model.run_with_cache(tokens)
                loss = model(tokens, return_type="loss", loss_per_token=True)
            g = f.create_group(group)
            g.create_dataset("logits", data=logits.numpy())
            g.create_dataset("loss_per_token", data=loss.numpy())
            g.attrs.create("hook_names", list(cache.keys()), dtype=h5py.string_dtype())
            for k, v in cache.items():
                g.create_dataset("hooks/" + k, data=v.numpy())
            if flags:
                # Our HDF5 layout of the processed weights (written here, independently of the Swift writer).
                with h5py.File(os.path.join(OUT, "tiny_gpt2_tl.h5"), "w") as w:
                    for k, v in model.state_dict().items():
                        if k.endswith(".IGNORE") or k.endswith(".mask") or "ln" in k and (k.endswith(".w") or k.endswith(".b")):
                            continue
                        w.create_dataset(k, data=v.numpy())
                    for k, v in dict(n_layers=2, d_model=64, n_heads=2, d_head=32, d_mlp=256, n_ctx=16, d_vocab=96,
                                     version=1, fold_ln=1, center_writing_weights=1, center_unembed=1, fold_value_biases=1).items():
                        w.attrs[k] = np.int64(v)
                    w.attrs["eps"] = np.float64(1e-5)
                    w.attrs["format"] = "attention-saes.gpt2"


def gpt2_small_hook_names():
    """gpt2_small_hook_names.json: the ordered cache keys of a GPT-2-small-structured TL model (12
    layers, LN, standard positions) at a tiny width — the names depend only on the structure."""
    cfg = HookedTransformerConfig(n_layers=12, d_model=8, n_heads=2, d_head=4, d_mlp=32, n_ctx=16, d_vocab=50,
                                  act_fn="gelu_new", normalization_type="LN")
    _, cache = HookedTransformer(cfg).run_with_cache(torch.tensor([[1, 2, 3]]))
    with open(os.path.join(OUT, "gpt2_small_hook_names.json"), "w") as f:
        json.dump(list(cache.keys()), f, indent=0)



if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["hf_dhead16"]:
        hf_dhead16()            # only the d_head-16 folder (the other fixtures stay as committed)
    else:
        main()
        gpt2_small_hook_names()
        hf_dhead16()
