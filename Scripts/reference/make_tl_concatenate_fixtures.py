#!/usr/bin/env python3
"""Writes Tests/InterpTests/Fixtures/tl_concatenate.json: TransformerLens's `utils.tokenize_and_concatenate`
as it was when the paper made its GELU-2L rows (Docs/Method.md §3.1), run with HuggingFace `transformers` on the
NeoX-style fixture tokenizer over crafted documents — once with no pad token (TransformerLens adds
`<PAD>`), once with `<|padding|>`, once with the pad token `<|endoftext|>` (the quirk: every separator
is dropped). The function body below is that era's algorithm (TransformerLens ≤ 2.x), per `datasets.map`
batch; here one batch holds all the documents. Run with the reference environment (transformers, numpy).
"""
import json
import os

import numpy as np
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER = os.path.join(HERE, "..", "..", "Tests", "TransformerTests", "Fixtures", "tokenizer-json", "neox_style.json")
OUT = os.path.join(HERE, "..", "..", "Tests", "InterpTests", "Fixtures", "tl_concatenate.json")


def era_tokenize_and_concatenate(texts, tokenizer, max_length):
    """One batch of the era's tokenize_function (add_bos_token=True)."""
    seq_len = max_length - 1
    full_text = tokenizer.eos_token.join(texts)
    num_chunks = 20
    chunk_length = (len(full_text) - 1) // num_chunks + 1
    chunks = [full_text[i * chunk_length:(i + 1) * chunk_length] for i in range(num_chunks)]
    tokens = tokenizer(chunks, return_tensors="np", padding=True)["input_ids"].flatten()
    tokens = tokens[tokens != tokenizer.pad_token_id]
    num_batches = len(tokens) // seq_len
    tokens = tokens[:seq_len * num_batches].reshape(num_batches, seq_len)
    prefix = np.full((num_batches, 1), tokenizer.bos_token_id)
    return np.concatenate([prefix, tokens], axis=1).tolist()


def main():
    docs = [
        "def board(x):\n    return x.board[12] + 345",
        "The board of directors met in 2023; the board voted 7–2.",
        "Ünïcödé text — with em dashes, naïve café, and emoji 🎲🎲.",
        "short",
        "    indented code\n\tand tabs\n\n\nmany newlines",
        "1234567890 digits split one by one: 3.14159",
        "A last document that ends the batch, long enough to cross a chunk boundary or two.",
    ]
    cases = []
    for name, pad in (("none", None), ("padding", "<|padding|>"), ("endoftext", "<|endoftext|>")):
        tok = transformers.PreTrainedTokenizerFast(tokenizer_file=TOKENIZER, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
        if pad is None:
            tok.add_special_tokens({"pad_token": "<PAD>"})      # what TransformerLens does without a pad token
            pad_id = None
        else:
            tok.pad_token = pad
            pad_id = tok.pad_token_id
        cases.append({"pad": name, "pad_id": pad_id, "max_length": 16, "rows": era_tokenize_and_concatenate(docs, tok, 16)})
    with open(OUT, "w") as f:
        json.dump({"documents": docs, "cases": cases, "transformers": transformers.__version__}, f, indent=0, ensure_ascii=False)


if __name__ == "__main__":
    main()
