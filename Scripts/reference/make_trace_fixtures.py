#!/usr/bin/env python3
"""Writes Tests/InterpTests/Fixtures/trace/: the trace's terms computed independently, with TransformerLens
and SAELens, by automatic differentiation instead of our explicit algebra.

The models are the TransformerLens-checkpoint fixtures (Tests/TransformerTests/Fixtures/tl-checkpoint), loaded
by TransformerLens's own from_pretrained (processed, and unprocessed: layer norms with weights and biases,
value biases; standard and shortformer positions). The SAEs are SAELens StandardSAEs with random weights,
saved with `save_model` (`attn-L0`, `attn-L1` on `blocks.L.attn.hook_z`, `resid-L1` on
`blocks.1.hook_resid_pre`).

Method. With every `ln*.hook_scale` and `attn.hook_pattern` replaced by its detached value (frozen), a
feature's pre-activation is linear in the leaves put into the graph by hooks: `hook_embed` and
`hook_pos_embed`; at `blocks.0.attn.hook_z`, the layer-0 SAE's activations and its error (z = f W_dec +
b_dec + e); `blocks.0.hook_mlp_out`; and, where the residual SAE is used, at `blocks.1.hook_resid_pre` its
activations and error. So a leaf's term is `grad · leaf`, summed per node (a feature at a position, an
error, an embedding row, an MLP output); the rest of the value is the constants. For an attention score
the query and key vectors are linear in the leaves: each component's query (key) vector is
`∂q/∂leaf · leaf`, one backward pass per d_head coordinate, and a pair's term is `q_a · k_b / √d_head`.

`cases.json`: per case the model, whether the residual SAE is used, the tokens, and
  features: [{node_id, value, constant, terms: {node_id: term}}]   (attention features of layer 1, residual features of layer 1)
  qk: [{layer, head, destination, source, score, query: {node_id: marginal}, key: {node_id: marginal}, pairs: {"q|k": term}}]
Run with the reference environment (torch, transformer_lens<4, sae_lens, transformers)."""
import json
import os
import tempfile
import warnings

warnings.filterwarnings("ignore")
import logging

logging.disable(logging.WARNING)
import torch
import transformers
from sae_lens import StandardSAE, StandardSAEConfig

import make_tl_checkpoint_fixtures as tl

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "InterpTests", "Fixtures", "trace")
D_SAE = 24


def random_sae(d_in, hook, seed):
    g = torch.Generator().manual_seed(seed)
    sae = StandardSAE(StandardSAEConfig(d_in=d_in, d_sae=D_SAE, dtype="float32", device="cpu"))
    sae.cfg.metadata.hook_name = hook
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(d_in, D_SAE, generator=g) * 0.4)
        sae.W_dec.copy_(torch.randn(D_SAE, d_in, generator=g) * 0.4)
        sae.b_enc.copy_(torch.randn(D_SAE, generator=g) * 0.1)
        sae.b_dec.copy_(torch.randn(d_in, generator=g) * 0.2)
    return sae


class Leaves:
    """The hooks that freeze scales and patterns and put leaves into the graph; `terms` sums grad · leaf per node."""

    def __init__(self, model, tokens, saes, use_resid):
        self.model, self.tokens, self.saes, self.use_resid = model, tokens, saes, use_resid
        self.standard = model.cfg.positional_embedding_type == "standard"

    def run(self):
        self.leaves, self.store = {}, {}
        m = self.model

        def leaf(name):
            def hook(x, hook):
                v = x.detach().clone().requires_grad_(True)
                self.leaves[name] = v
                return v
            return hook

        def freeze(x, hook):
            return x.detach()

        def keep(name):
            def hook(x, hook):
                self.store[name] = x
                return x
            return hook

        def sae_leaves(name, sae, shape_z):
            def hook(x, hook):
                flat = x.reshape(*x.shape[:2], -1) if shape_z else x
                acts = sae.encode(flat.detach())
                f = acts.detach().clone().requires_grad_(True)
                err = (flat.detach() - sae.decode(acts).detach()).requires_grad_(True)
                self.leaves[name + "/f"], self.leaves[name + "/e"] = f, err
                out = f @ sae.W_dec.detach() + sae.b_dec.detach() + err
                return out.reshape(x.shape)
            return hook

        hooks = [("hook_embed", leaf("embed")), ("hook_pos_embed", leaf("pos")),
                 ("blocks.0.attn.hook_z", sae_leaves("attn0", self.saes["attn-L0"], True)),
                 ("blocks.0.hook_mlp_out", leaf("mlp0")),
                 ("blocks.1.attn.hook_z", keep("z1")), ("blocks.1.hook_resid_pre", keep("resid1")),
                 ("blocks.1.attn.hook_q", keep("q1")), ("blocks.1.attn.hook_k", keep("k1")),
                 ("blocks.1.attn.hook_attn_scores", keep("scores1"))]
        for l in range(2):
            hooks += [(f"blocks.{l}.ln1.hook_scale", freeze), (f"blocks.{l}.ln2.hook_scale", freeze), (f"blocks.{l}.attn.hook_pattern", freeze)]
        if self.use_resid:
            # After keep("resid1") so the stored value is the clean residual stream.
            hooks.append(("blocks.1.hook_resid_pre", sae_leaves("resid1", self.saes["resid-L1"], False)))
        m.run_with_hooks(self.tokens, fwd_hooks=hooks, stop_at_layer=2)

    def node_terms(self, grads):
        """{node_id: Σ grad · leaf} for every leaf with a gradient."""
        toks = self.tokens[0].tolist()
        out = {}

        def add(k, v):
            out[k] = out.get(k, 0.0) + v

        for name, v in self.leaves.items():
            g = grads.get(name)
            if g is None:
                continue
            t = (g * v).detach()[0]
            for s in range(t.shape[0]):
                if name == "embed":
                    add(f"E_{toks[s]}_{s}", t[s].sum().item())
                elif name == "pos":
                    add(f"P_{s}_{s}", t[s].sum().item())
                elif name == "mlp0":
                    add(f"M0_0_{s}", t[s].sum().item())
                elif name in ("attn0/f", "resid1/f"):
                    prefix = "0" if name == "attn0/f" else "R1"
                    for j in torch.nonzero(v[0, s].detach()).flatten().tolist():
                        add(f"{prefix}_{j}_{s}", t[s, j].item())
                elif name in ("attn0/e", "resid1/e"):
                    add(("0" if name == "attn0/e" else "R1") + f"_-1_{s}", t[s].sum().item())
        return out

    def grads_of(self, scalar):
        names = list(self.leaves)
        gs = torch.autograd.grad(scalar, [self.leaves[n] for n in names], retain_graph=True, allow_unused=True)
        return {n: g for n, g in zip(names, gs) if g is not None}


def feature_case(L, target, pre_fn):
    L.run()
    value = pre_fn()
    terms = L.node_terms(L.grads_of(value))
    return {"node_id": target, "value": value.item(), "constant": value.item() - sum(terms.values()), "terms": terms}


def qk_case(L, head, t, s):
    L.run()
    d = L.model.cfg.d_head
    q, k = L.store["q1"][0, t, head], L.store["k1"][0, s, head]
    qc, kc = {}, {}
    for vec, comps in ((q, qc), (k, kc)):
        for i in range(d):
            for node, v in L.node_terms(L.grads_of(vec[i])).items():
                comps.setdefault(node, [0.0] * d)[i] += v
    scale = d ** 0.5
    qt, kt = q.detach(), k.detach()
    qm = {n: float(torch.tensor(v) @ kt / scale) for n, v in qc.items()}
    km = {n: float(qt @ torch.tensor(v) / scale) for n, v in kc.items()}
    pairs = {a + "|" + b: float(torch.tensor(va) @ torch.tensor(vb) / scale) for a, va in qc.items() for b, vb in kc.items()}
    top = dict(sorted(pairs.items(), key=lambda kv: -abs(kv[1]))[:12])
    return {"layer": 1, "head": head, "destination": t, "source": s, "score": L.store["scores1"][0, head, t, s].item(),
            "query": qm, "key": km, "pairs": top}


def main():
    os.makedirs(OUT, exist_ok=True)
    saes = {"attn-L0": random_sae(16, "blocks.0.attn.hook_z", 1), "attn-L1": random_sae(16, "blocks.1.attn.hook_z", 2),
            "resid-L1": random_sae(16, "blocks.1.hook_resid_pre", 3)}
    for name, sae in saes.items():
        sae.save_model(os.path.join(OUT, name))
    tok_dir = tempfile.mkdtemp()
    transformers.PreTrainedTokenizerFast(tokenizer_file=tl.TOKENIZER, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                         pad_token="<|padding|>").save_pretrained(tok_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tok_dir)
    tokens = torch.tensor([[0, 412, 17, 2999, 5, 412, 17, 2999, 5, 88, 7]])
    cases = []
    for model_name, processed in (("standard", True), ("standard", False), ("shortformer", False)):
        model = tl.load_like_the_hub(os.path.join(tl.OUT, model_name), processed, tokenizer).eval()
        for use_resid in (False, True):
            L = Leaves(model, tokens, saes, use_resid)
            L.run()
            T = tokens.shape[1]
            attn1, resid1 = saes["attn-L1"], saes["resid-L1"]
            x1 = L.store["z1"].detach().reshape(1, T, -1)
            top_attn = torch.argsort(attn1.encode(x1)[0, T - 1], descending=True)[:3].tolist()
            features = []
            for j in top_attn:
                def pre(j=j):
                    x = L.store["z1"].reshape(1, T, -1)[0, T - 1]
                    return (x - attn1.b_dec.detach()) @ attn1.W_enc.detach()[:, j] + attn1.b_enc.detach()[j]
                features.append(feature_case(L, f"1_{j}_{T - 1}", pre))
            if not use_resid:
                r = L.store["resid1"].detach()[0, 5]
                for k in torch.argsort(resid1.encode(r), descending=True)[:2].tolist():
                    def pre(k=k):
                        x = L.store["resid1"][0, 5]
                        return (x - resid1.b_dec.detach()) @ resid1.W_enc.detach()[:, k] + resid1.b_enc.detach()[k]
                    features.append(feature_case(L, f"R1_{k}_5", pre))
            qk = [qk_case(L, h, T - 1, s) for h in (0, 1) for s in (1, 5)]
            cases.append({"model": model_name, "processed": processed, "residual_sae": use_resid, "tokens": tokens[0].tolist(),
                          "features": features, "qk": qk})
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1, sort_keys=True)
    print("wrote", len(cases), "cases")


if __name__ == "__main__":
    main()
