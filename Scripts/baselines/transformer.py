"""Baselines of the `transformer` suite: TransformerLens forward passes at GPT-2-small shape with
random weights, batch 8 × 128 (the same work as Benchmarks/Bench/TransformerSuite.swift), and
HuggingFace `tokenizers` encoding the same corpus text single-threaded (TokenizerBench.swift)."""
import os

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
import sys
import warnings

warnings.filterwarnings("ignore")
import torch
from timing import best
from transformer_lens import HookedTransformer, HookedTransformerConfig



@torch.no_grad()
def run():
    cfg = HookedTransformerConfig(n_layers=12, d_model=768, n_heads=12, d_head=64, d_mlp=3072, n_ctx=1024, d_vocab=50257,
                                  act_fn="gelu_new", normalization_type="LNPre", seed=3)
    model = HookedTransformer(cfg).eval()
    tokens = torch.randint(0, 50257, (8, 128), generator=torch.Generator().manual_seed(4))
    out = {
        "forward_full": best(lambda: model(tokens)),
        "forward_to_L5_hook_z": best(lambda: model.run_with_cache(tokens, names_filter="blocks.5.attn.hook_z", stop_at_layer=6)),
    }
    for k, v in out.items():
        print(f"  TransformerLens {k}: {8 * 128 / v:.0f} tokens/s", file=sys.stderr)
    out.update(tokenizer())
    return out


def tokenizer():
    """Encodes the corpus text (sorted .txt files, whole files, until ≥ 2,000,000 bytes)."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

    cache = os.environ.get("ATTN_SAE_CACHE", os.path.expanduser("~/.cache/attn-saes"))
    root = os.path.join(cache, "corpus", "python3-doc")
    d = os.path.join(cache, "gpt2-tokenizer")
    if not os.path.isdir(root) or not os.path.isdir(d):
        return {}
    paths = []
    for dirpath, _, files in os.walk(root, followlinks=True):
        paths += [os.path.relpath(os.path.join(dirpath, f), root) for f in files if f.endswith(".txt")]
    text = ""
    for p in sorted(paths):
        with open(os.path.join(root, p), encoding="utf-8") as f:
            text += f.read()
        if len(text.encode()) >= 2_000_000:
            break

    def fresh():
        tok = Tokenizer(models.BPE.from_file(os.path.join(d, "encoder.json"), os.path.join(d, "vocab.bpe")))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False)
        tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
        return tok

    n = len(fresh().encode(text).ids)
    load = best(fresh)
    total = best(lambda: fresh().encode(text))
    print(f"  tokenizers: {n} tokens, {n / (total - load):.0f} tokens/s", file=sys.stderr)
    return {"tokenizer_encode": total - load, "tokenizer_tokens": n}
