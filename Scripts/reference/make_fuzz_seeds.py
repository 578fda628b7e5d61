"""Writes the small synthetic fuzz seeds (Tests/FormatHarnessTests/Fixtures/seeds/): a byte-level
tokenizer vocabulary with four merges (encoder.json, NUL, vocab.bpe; and as a tokenizer.json after 0xFE), a text for the real GPT-2
tokenizer (first byte 0xFF), and one corpus of each kind (first byte: 0 text, 1 JSONL, 2 nanoGPT
.bin, 3 llm.c .bin). The fuzz targets' input layouts are described in Sources/FormatHarness.

    python Scripts/reference/make_fuzz_seeds.py
"""
import json
import os
import struct

root = os.path.join(os.path.dirname(__file__), "../../Tests/FormatHarnessTests/Fixtures/seeds")
os.makedirs(f"{root}/tokenizer", exist_ok=True)
os.makedirs(f"{root}/corpus", exist_ok=True)


def bytes_to_unicode():
    """GPT-2's byte → printable character table."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


sym = bytes_to_unicode()
enc = {sym[b]: b for b in range(256)}
merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n")]
for a, b in merges:
    enc[a + b] = len(enc)
enc["<|endoftext|>"] = len(enc)
vocab = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
open(f"{root}/tokenizer/byte-vocab", "wb").write(json.dumps(enc, ensure_ascii=False).encode() + b"\0" + vocab.encode())
# The same vocabulary as a GPT-NeoX-style HuggingFace tokenizer.json (NFC, individual digits, byte-level BPE).
tj = {"version": "1.0", "added_tokens": [{"id": enc["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                                          "rstrip": False, "normalized": False, "special": True}],
      "normalizer": {"type": "NFC"},
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                              {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
      "post_processor": None, "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
      "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
                "fuse_unk": False, "byte_fallback": False, "ignore_merges": False, "vocab": enc, "merges": [list(m) for m in merges]}}
open(f"{root}/tokenizer/tokenizer-json", "wb").write(b"\xfe" + json.dumps(tj, ensure_ascii=False).encode())
open(f"{root}/tokenizer/text", "wb").write(b"\xff" + "Hello world, the thing<|endoftext|>ünïcödé 123 don't\n\n  x".encode())

open(f"{root}/corpus/text", "wb").write(b"\x00" + b"Some text.\nMore text.")
open(f"{root}/corpus/jsonl", "wb").write(b"\x01" + b'{"text": "a b"}\n{"text": "c"}\n\n{"text": "d", "x": 1}\n')
toks = [50256, 10, 20, 30, 50256, 40, 50]
open(f"{root}/corpus/nanogpt", "wb").write(b"\x02" + struct.pack(f"<{len(toks)}H", *toks))
header = struct.pack("<3i", 20240520, 1, len(toks)) + b"\0" * (1024 - 12)
open(f"{root}/corpus/llmc", "wb").write(b"\x03" + header + struct.pack(f"<{len(toks)}H", *toks))
# Kinds 4-7: a file named .jsonl.gz, .jsonl.zst, .json (an array) and .dat, whose format detection decides.
import gzip
import subprocess
lines = b'{"text": "a b"}\n{"text": null}\n{"text": "c"}\n'
open(f"{root}/corpus/jsonl-gz", "wb").write(b"\x04" + gzip.compress(lines, mtime=0))
open(f"{root}/corpus/jsonl-zst", "wb").write(b"\x05" + subprocess.run(["zstd", "-q", "-c"], input=lines, capture_output=True, check=True).stdout)
open(f"{root}/corpus/json-array", "wb").write(b"\x06" + b'[{"text": "a b"}, {"text": null}, {"text": "\\u00e9t\\u00e9"}]')
open(f"{root}/corpus/sniffed", "wb").write(b"\x07" + "Plain text, détecté by its content.\n".encode())

# Regression inputs of the fuzzing findings Docs/Reliability.md reports (replayed by FuzzReplayTests):
# an empty file (Foundation's reader leaked its buffer on one: configs, tokenizer), and a torch checkpoint
# whose pickle appends a list to itself (a reference cycle; refused).
regressions = root.replace("/seeds", "/regressions")
for target in ["configs", "tokenizer"]:
    os.makedirs(f"{regressions}/{target}", exist_ok=True)
    open(f"{regressions}/{target}/empty-file", "wb").write(b"")
import io
import zipfile
os.makedirs(f"{regressions}/torch", exist_ok=True)
# PROTO 2, EMPTY_LIST, BINPUT 0, BINGET 0, APPEND (the list into itself), STOP.
cycle = b"\x80\x02]q\x00h\x00a."
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", cycle)
    z.writestr("archive/byteorder", "little")
    z.writestr("archive/version", "3\n")
open(f"{regressions}/torch/self-appending-list.pt", "wb").write(buffer.getvalue())
