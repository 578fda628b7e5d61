#!/usr/bin/env python3
"""Writes Tests/InterpTests/Fixtures/core_eval_reference.json: SAELens's own evaluation (sae_lens.evals.run_evals,
every metric on) of two SAEs on blocks.1.attn.hook_z of the GELU-2L-shaped TransformerLens fixture model
(Tests/TransformerTests/Fixtures/tl-checkpoint/standard, loaded by TransformerLens's from_pretrained as
make_tl_checkpoint_fixtures.py does), on fixed tokens with BOS (0) first and the BOS positions excluded
(SAELens's exclude_special_tokens). The SAEs are SAELens's own saves in saelens-topk/ and saelens-jumprelu/
of Tests/SparseAutoencoderTests/Fixtures (d_in 16 = 2 heads × 8).

Also SAEBench's weight-based per-feature metrics and its misc metrics, computed here from SAEBench's
definitions (sae_bench/evals/core/main.py: max cosine similarity to any other encoder column / decoder
row; frac_alive, freq_over_1/10_percent and their density-weighted forms), since SAEBench itself pulls in
dependencies the setup does not install. Run with the reference environment."""
import json
import math
import os
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
import torch
import transformers
from sae_lens import SAE
from sae_lens.evals import EvalConfig, get_featurewise_weight_based_metrics, run_evals

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_tl_checkpoint_fixtures import TOKENIZER, load_like_the_hub  # noqa: E402

ROOT = os.path.join(HERE, "..", "..")
MODEL = os.path.join(ROOT, "Tests", "TransformerTests", "Fixtures", "tl-checkpoint", "standard")
SAES = os.path.join(ROOT, "Tests", "SparseAutoencoderTests", "Fixtures")
OUT = os.path.join(ROOT, "Tests", "InterpTests", "Fixtures", "core_eval_reference.json")


class Identity:
    def scale(self, x):
        return x

    def unscale(self, x):
        return x


class FixedTokens:
    """The activation store's two methods the evals call: the given batches in turn, again from the first
    after the last (each of run_evals's two passes draws all of them, in order)."""

    def __init__(self, batches):
        self.batches = batches
        self.next = 0
        self.context_size = batches[0].shape[1]
        self.store_batch_size_prompts = batches[0].shape[0]

    def get_batch_tokens(self, n):
        assert n == self.store_batch_size_prompts
        batch = self.batches[self.next % len(self.batches)]
        self.next += 1
        return batch

    def reset_input_dataset(self):
        pass


def max_cosine(columns):
    """SAEBench's max cosine similarity of each column with any other column."""
    unit = torch.nn.functional.normalize(columns, p=2, dim=0)
    sims = unit.t() @ unit
    sims.fill_diagonal_(float("-inf"))
    return sims.max(dim=1).values


def misc(density):
    total = density.sum()
    return {
        "frac_alive": (density > 0).float().mean().item(),
        "freq_over_1_percent": (density > 0.01).float().mean().item(),
        "freq_over_10_percent": (density > 0.1).float().mean().item(),
        "normalized_freq_over_1_percent": (density[density > 0.01].sum() / total).item() if total > 0 else 0.0,
        "normalized_freq_over_10_percent": (density[density > 0.1].sum() / total).item() if total > 0 else 0.0,
    }


def without_nan(o):
    """NaN (a feature that never fired has no consistent-activation heuristic) as null: strict JSON."""
    if isinstance(o, float) and math.isnan(o):
        return None
    if isinstance(o, dict):
        return {k: without_nan(v) for k, v in o.items()}
    if isinstance(o, list):
        return [without_nan(v) for v in o]
    return o


def main():
    tok_dir = tempfile.mkdtemp()
    transformers.PreTrainedTokenizerFast(tokenizer_file=TOKENIZER, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                         pad_token="<|padding|>").save_pretrained(tok_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tok_dir)
    model = load_like_the_hub(MODEL, processed=True, tokenizer=tokenizer)
    g = torch.Generator().manual_seed(8)
    # Three batches of 4 rows, as production evaluates several (the metrics are per-batch means, averaged).
    tokens = torch.randint(1, 3000, (12, 24), generator=g)
    tokens[:, 0] = 0
    tokens[2, 10] = 0                                    # a BOS inside a row is excluded too
    batches = list(tokens.split(4))
    out = {"tokens": tokens.tolist(), "batch_rows": 4, "ignored_tokens": [0], "saes": {}}
    for name in ["topk", "jumprelu"]:
        sae = SAE.load_from_disk(os.path.join(SAES, "saelens-" + name), device="cpu")
        config = EvalConfig(batch_size_prompts=4, n_eval_reconstruction_batches=len(batches), n_eval_sparsity_variance_batches=len(batches),
                            compute_kl=True, compute_ce_loss=True, compute_l2_norms=True, compute_sparsity_metrics=True,
                            compute_variance_metrics=True, compute_featurewise_density_statistics=True,
                            compute_featurewise_weight_based_metrics=True)
        with torch.no_grad():
            metrics, features = run_evals(sae, FixedTokens(batches), model, Identity(), config, exclude_special_tokens=[0])
            features |= get_featurewise_weight_based_metrics(sae)
            features["max_encoder_cosine_sim"] = max_cosine(sae.W_enc).tolist()
            features["max_decoder_cosine_sim"] = max_cosine(sae.W_dec.T).tolist()
            features["decoder_norm"] = sae.W_dec.norm(dim=-1).tolist()
        metrics["misc_metrics"] = misc(torch.tensor(features["feature_density"]))
        metrics["misc_metrics"]["average_max_encoder_cosine_sim"] = float(torch.tensor(features["max_encoder_cosine_sim"]).mean())
        metrics["misc_metrics"]["average_max_decoder_cosine_sim"] = float(torch.tensor(features["max_decoder_cosine_sim"]).mean())
        out["saes"][name] = {"metrics": metrics, "features": features}
    with open(OUT, "w") as f:
        json.dump(without_nan(out), f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
