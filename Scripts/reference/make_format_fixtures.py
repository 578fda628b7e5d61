#!/usr/bin/env python3
"""Writes the file-format fixtures of Tests/TensorTests/Fixtures with the real libraries.

h5py writes tensors.h5, safetensors writes tensors.safetensors, torch.save writes state_dict.pt and
linear_state_dict.pt; expected.json records what each file holds (shapes and the exact Float32 values
after any rounding to 16 bits), and half_rounding.json records how torch rounds Float32 to float16 and
bfloat16 for edge cases. Run from the repository root with the reference environment
(Scripts/reference/setup-python-env):

    $ATTN_SAE_CACHE/pyenv/bin/python Scripts/reference/make_format_fixtures.py
"""
import collections
import json
import os
import struct

import h5py
import numpy as np
import safetensors
import safetensors.torch
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TensorTests", "Fixtures")


def values(t):
    """Exact Float32 values of a tensor (after its own dtype's rounding), row-major."""
    return [float(v) for v in t.detach().to(torch.float32).contiguous().reshape(-1).tolist()]


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    expected = {"versions": {"torch": torch.__version__, "h5py": h5py.__version__,
                             "safetensors": safetensors.__version__, "numpy": np.__version__}}

    # --- HDF5 (h5py) -----------------------------------------------------------------------------
    w_dec = torch.randn(3, 4, generator=g)
    b_dec16 = torch.randn(5, generator=g).to(torch.float16)
    tokens = torch.tensor([[50256, 15496, 995], [0, 1, 2]], dtype=torch.int64)
    scalar = torch.tensor(2.5)
    f64 = torch.randn(2, 2, generator=g, dtype=torch.float64)
    with h5py.File(os.path.join(OUT, "tensors.h5"), "w") as f:
        f.create_dataset("sae/layer0/W_dec", data=w_dec.numpy())
        f.create_dataset("sae/layer0/b_dec", data=b_dec16.numpy())
        f.create_dataset("tokens", data=tokens.numpy())
        f.create_dataset("scalar", data=scalar.numpy())
        f.create_dataset("doubles", data=f64.numpy())
        f.create_dataset("chunked/deflate", data=w_dec.numpy(), chunks=(1, 4), compression="gzip")
        f.attrs["d_sae"] = np.int64(24576)
        f.attrs["lr"] = np.float64(1.2e-3)
        f.attrs["hook_name"] = "blocks.1.attn.hook_z"                    # variable-length UTF-8
        f.attrs["fixed"] = np.bytes_(b"abc")                               # fixed-length bytes
        f.attrs["layer_names"] = ["transformer", "lm_head"]                # variable-length array
        f.attrs["weight_names"] = np.array([b"wte/weight:0", b"h_._0/ln_1/gamma:0"], dtype="S")  # fixed array
        f.attrs["ints"] = np.array([1, 2, 3], dtype=np.int32)
        f["sae/layer0"].attrs["layer"] = np.int32(0)
        f["sae/layer0/W_dec"].attrs["dims"] = "d_sae d_in"
    expected["tensors.h5"] = {
        "/sae/layer0/W_dec": {"shape": [3, 4], "values": values(w_dec)},
        "/sae/layer0/b_dec": {"shape": [5], "values": values(b_dec16)},
        "/tokens": {"shape": [2, 3], "ints": tokens.reshape(-1).tolist()},
        "/scalar": {"shape": [], "values": values(scalar)},
        "/doubles": {"shape": [2, 2], "values": values(f64.to(torch.float32))},
        "/chunked/deflate": {"shape": [3, 4], "values": values(w_dec)},
    }

    # --- safetensors -----------------------------------------------------------------------------
    st = collections.OrderedDict()
    st["W_enc"] = torch.randn(4, 6, generator=g)
    st["b_enc"] = torch.randn(6, generator=g).to(torch.float16)
    st["W_bf"] = torch.randn(2, 3, generator=g).to(torch.bfloat16)
    st["empty"] = torch.zeros(0, 3)
    safetensors.torch.save_file(st, os.path.join(OUT, "tensors.safetensors"), metadata={"format": "pt", "note": "fixture"})
    expected["tensors.safetensors"] = {k: {"shape": list(v.shape), "values": values(v),
                                           "dtype": {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[v.dtype]}
                                       for k, v in st.items()}

    # --- torch.save state_dicts --------------------------------------------------------------------
    sd = collections.OrderedDict()
    sd["W_enc"] = torch.randn(6, 8, generator=g)
    sd["W_dec"] = torch.randn(6, 8, generator=g).t()                      # non-contiguous view (stride (1, 8))
    sd["b_enc"] = torch.randn(8, generator=g)
    sd["b_dec"] = torch.randn(6, generator=g)
    base = torch.arange(20, dtype=torch.float32)
    sd["full"] = base
    sd["strided_slice"] = base[5:15:2]                                     # shares storage, offset 5, stride 2
    sd["half"] = torch.randn(3, generator=g).to(torch.float16)
    sd["bf16"] = torch.randn(3, generator=g).to(torch.bfloat16)
    sd["double"] = torch.randn(2, generator=g, dtype=torch.float64)
    sd["scalar"] = torch.tensor(-1.25)
    sd["steps"] = torch.tensor([7], dtype=torch.int64)                     # listed, not readable as float
    torch.save(sd, os.path.join(OUT, "state_dict.pt"))
    expected["state_dict.pt"] = {k: {"shape": list(v.shape), "values": values(v)} for k, v in sd.items() if k != "steps"}
    expected["state_dict.pt"]["steps"] = {"shape": [1], "unsupported": True}

    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 2)
    torch.save(lin.state_dict(), os.path.join(OUT, "linear_state_dict.pt"))   # OrderedDict with _metadata (BUILD)
    expected["linear_state_dict.pt"] = {k: {"shape": list(v.shape), "values": values(v)} for k, v in lin.state_dict().items()}

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)

    # --- Tensor ops as TransformerLens computes them (float32) ----------------------------------------
    x = torch.randn(3, 5, 16, generator=g) * 3 + 1
    ln_w = torch.randn(16, generator=g)
    ln_b = torch.randn(16, generator=g)
    xc = x - x.mean(-1, keepdim=True)                                     # TL LayerNorm.forward
    scale = (xc.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
    layer_norm = xc / scale * ln_w + ln_b
    gelu_new = 0.5 * x * (1.0 + torch.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    scores = torch.randn(2, 4, 6, 6, generator=g) * 4
    mask = torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
    pattern = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
    mm_b = torch.randn(16, 7, generator=g)
    ops = {k: {"shape": list(v.shape), "values": values(v)} for k, v in
           {"x": x, "ln_w": ln_w, "ln_b": ln_b, "layer_norm": layer_norm, "ln_scale": scale, "gelu_new": gelu_new,
            "scores": scores, "pattern": pattern, "mm_b": mm_b, "matmul": x @ mm_b}.items()}
    with open(os.path.join(OUT, "ops.json"), "w") as f:
        json.dump(ops, f)

    # --- Float32 -> float16 / bfloat16 rounding, as torch does it ------------------------------------
    special = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.0, 65520.0, 1e6, -1e6, 5.96e-8, 2.98e-8, 2.99e-8, 6.1e-5,
               1.0 + 2 ** -11, 1.0 + 3 * 2 ** -11, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 3.4e38, 1e-40,
               float("inf"), float("-inf")]
    rand = torch.randn(200, generator=g) * torch.logspace(-8, 6, 200)
    xs = torch.tensor(special + rand.tolist(), dtype=torch.float32)
    xs = torch.cat([xs, torch.tensor([float("nan")])])
    rows = []
    for x in xs:
        f32 = struct.unpack("<I", struct.pack("<f", float(x)))[0]
        f16 = int(x.to(torch.float16).view(torch.int16).item()) & 0xFFFF
        bf16 = int(x.to(torch.bfloat16).view(torch.int16).item()) & 0xFFFF
        rows.append([f32, f16, bf16])
    with open(os.path.join(OUT, "half_rounding.json"), "w") as f:
        json.dump({"columns": ["float32_bits", "float16_bits", "bfloat16_bits"], "rows": rows}, f)


if __name__ == "__main__":
    main()
