#!/usr/bin/env python3
"""Writes the tokenizer.json fixtures of Tests/TransformerTests/Fixtures/tokenizer-json/ with HuggingFace
`tokenizers` (run Scripts/setup first; the default corpus and GPT-2's files are read from $ATTN_SAE_CACHE):

- neox_style.json: a GPT-NeoX-style tokenizer (NFC normalizer, individual digits, byte-level BPE, the
  special tokens <|endoftext|> and <|padding|>), trained on the default corpus to 3000 tokens — the
  shape of the paper's GELU-2L tokenizer (NeelNanda/gpt-neox-tokenizer-digits), small enough to commit;
- neox_style_cases.json: texts (the GPT-2 fixture's crafted texts, digits, and corpus lines) and the ids
  `tokenizers` gives them (no special tokens added);
- gpt2_skeleton.json: GPT-2's tokenizer.json as `tokenizers` writes it, with the vocabulary and merges
  emptied (the tests fill them from encoder.json / vocab.bpe, and compare with tokenizer_cases.json).
"""
import glob
import json
import os
import sys

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

sys.path.insert(0, os.path.dirname(__file__))
from make_tokenizer_fixtures import TEXTS  # noqa: E402

CACHE = os.environ.get("ATTN_SAE_CACHE", os.path.expanduser("~/.cache/attn-saes"))
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TransformerTests", "Fixtures", "tokenizer-json")

EXTRA = [
    "In 2024 there were 1,234,567 tokens and 3.14159 pies; call 555-0100 now!",
    "Digits everywhere: a1b22c333 ٣٤٥ ²³ ½ Ⅻ 〇 0x1F 1e-9",
    "NFC: e\u0301 vs \u00e9, A\u030a vs \u00c5, \u212b, \ufb01",
    "<|endoftext|>after<|padding|>\nend<|endoftext|>",
    "print(f'{x:08d}')  # 2 spaces\n\t\tdef g(): return [1, 2, 3]",
]


def corpus_lines(limit=300):
    files = sorted(glob.glob(os.path.join(CACHE, "corpus", "python3-doc", "**", "*.txt"), recursive=True))
    lines = []
    for f in files[::7]:
        with open(f, encoding="utf-8", errors="replace") as h:
            text = h.read()
        for block in text.split("\n\n"):
            if 20 <= len(block) <= 600:
                lines.append(block)
                break
        if len(lines) >= limit:
            break
    return files, lines


def main():
    os.makedirs(OUT, exist_ok=True)
    files, lines = corpus_lines()
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=3000, special_tokens=["<|endoftext|>", "<|padding|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train(files[::3], trainer)
    tok.save(os.path.join(OUT, "neox_style.json"))
    texts = TEXTS + EXTRA + lines
    cases = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts]
    import tokenizers
    with open(os.path.join(OUT, "neox_style_cases.json"), "w") as f:
        json.dump({"tokenizer": f"tokenizers {tokenizers.__version__}", "cases": cases}, f, ensure_ascii=True, indent=0)

    d = os.path.join(CACHE, "gpt2-tokenizer")
    gpt2 = Tokenizer(models.BPE.from_file(os.path.join(d, "encoder.json"), os.path.join(d, "vocab.bpe")))
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False)
    gpt2.decoder = decoders.ByteLevel()
    gpt2.post_processor = processors.ByteLevel(trim_offsets=False)
    gpt2.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    skeleton = json.loads(gpt2.to_str())
    skeleton["model"]["vocab"] = {}
    skeleton["model"]["merges"] = []
    with open(os.path.join(OUT, "gpt2_skeleton.json"), "w") as f:
        json.dump(skeleton, f, indent=1)


if __name__ == "__main__":
    main()
