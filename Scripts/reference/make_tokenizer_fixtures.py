#!/usr/bin/env python3
"""Writes Tests/TransformerTests/Fixtures/tokenizer_cases.json: texts and their GPT-2 token ids as
HuggingFace `tokenizers` computes them (byte-level BPE with GPT-2's pre-tokenizer, <|endoftext|> as a
special token — the configuration of the gpt2 tokenizer.json) from the same encoder.json / vocab.bpe
the project fetches (run Scripts/setup first; read from $ATTN_SAE_CACHE/gpt2-tokenizer)."""
import json
import os

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

CACHE = os.environ.get("ATTN_SAE_CACHE", os.path.expanduser("~/.cache/attn-saes"))
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TransformerTests", "Fixtures", "tokenizer_cases.json")

TEXTS = [
    "", "Hello world", " Hello world", "Hello  world", "Hello   world  ", "hello\n\nworld\n", "\n", " ", "   ",
    "I'm sure they'll say it's fine, we've done what we'd do. I'M NOT. 'tis 're 'sup",
    "When Mary and John went to the store, John gave a drink to Mary",
    "def f(x):\n    return x**2  # square\n\tif x != 0: print(f'{x:>10}')\n",
    "Numbers: 1234567890 3.14159 1,000,000 ²³ ½ Ⅻ ٣٤٥ 〇",
    "Unicode: naïve café résumé Ελληνικά русский 日本語の文章 한국어 עברית العربية हिन्दी",
    "Emoji 😀👍🏽 👨‍👩‍👧 and symbols ©®™ → ∑∫√ ≤≥",
    "Combining: e\u0301 a\u0308 n\u0303; zero-width\u200bspace; nbsp\u00a0here; ideographic\u3000space",
    "Control chars \x1c\x1d\x1e\x1f and \x0b\x0c tabs\t\t\tend",
    "supercalifragilisticexpialidocious" * 20,
    "a" * 500 + " " + "1" * 300 + " " + "!" * 300,
    "Text<|endoftext|>More text <|endoftext|><|endoftext|> end",
    "<|endoftext|>",
    "   leading spaces and trailing   \n\n\n   ",
    "Mixed123abc456 _underscores_ and-hyphens and.dots and/slashes",
    "https://example.com/path?query=1&other=2#frag",
    "  \n  \n",
    "Canonical equivalents are different tokens: K \u212a K \u00c5 A\u030a \u212b \u00e9 e\u0301 \ufb01",
    "<|endoftext|>\u0301 and <|endoftext|>\u200d",
]


def main():
    d = os.path.join(CACHE, "gpt2-tokenizer")
    tok = Tokenizer(models.BPE.from_file(os.path.join(d, "encoder.json"), os.path.join(d, "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    cases = [{"text": t, "ids": tok.encode(t).ids} for t in TEXTS]
    assert cases[1]["ids"] == [15496, 995], cases[1]
    import tokenizers
    with open(OUT, "w") as f:
        json.dump({"tokenizer": f"tokenizers {tokenizers.__version__}", "cases": cases}, f, ensure_ascii=True, indent=0)


if __name__ == "__main__":
    main()
