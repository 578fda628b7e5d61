"""Shared by the baseline suites that work at GPT-2-small shape: the random model (LNPre, as processed) and
a standard SAE of 24576 features with unit decoder rows, W_enc = W_decᵀ and b_dec = 0 — the same weights
the Swift suites build (TraceSuite, ExplorerSuite) up to the random streams."""
import torch
from sae_lens import StandardSAE, StandardSAEConfig
from transformer_lens import HookedTransformer, HookedTransformerConfig

D_SAE = 24576


def random_gpt2_small():
    cfg = HookedTransformerConfig(n_layers=12, d_model=768, n_heads=12, d_head=64, d_mlp=3072, n_ctx=1024, d_vocab=50257,
                                  act_fn="gelu_new", normalization_type="LNPre", device="cpu", seed=0)
    return HookedTransformer(cfg).eval()


def standard_sae(seed, d_sae=D_SAE):
    s = StandardSAE(StandardSAEConfig(d_in=768, d_sae=d_sae, dtype="float32", device="cpu"))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        s.W_dec.copy_(torch.nn.functional.normalize(torch.randn(d_sae, 768, generator=g), dim=-1))
        s.W_enc.copy_(s.W_dec.T)
        s.b_dec.zero_()
    return s
