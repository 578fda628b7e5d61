#!/usr/bin/env python3
"""Writes Tests/InterpTests/Fixtures/corpora/: the same documents in every format a corpus may come in,
written by the real libraries — pyarrow (Parquet with each codec, encoding, page version and row-group
layout; Arrow IPC streams and files, large strings, compressed buffers) and HuggingFace `datasets`
(`save_to_disk`, the cache files of `load_dataset`, `to_parquet`, `to_json`) — plus JSON lines (plain,
gzip, zstd), text and a file of each kind the corpus reader must refuse. `expected.json` records the documents
and, per file, which of them Python reads from it (nulls included or not). Run with the reference environment
(pyarrow, datasets, zstandard or the `zstd` tool).
"""
import gzip
import json
import os
import shutil
import subprocess
import tempfile

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "InterpTests", "Fixtures", "corpora")


def documents():
    docs = [
        "The cat sat on the mat. The cat sat on the mat.",
        "",
        "Ünïcödé — naïve café, emoji 🎲, CJK 注意, and a tab\there.",
        None,
        "line one\nline two\r\nline three",
        "def board(x):\n    return x.board[12] + 345\n",
    ]
    # A long document (several Parquet pages at the small page size below) and many short ones, so
    # row groups, pages and record batches hold several documents each.
    docs.append(" ".join(f"word{i}" for i in range(1200)))
    docs += [f"Document number {i}: " + ("abc " * (i % 7)) for i in range(40)]
    docs += [None, "the last one"]
    return docs


def write_parquet(table, name, expected, **kw):
    path = os.path.join(OUT, name)
    pq.write_table(table, path, **kw)
    expected[name] = table.column("text").to_pylist()


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    docs = documents()
    expected = {}
    ids = list(range(len(docs)))
    text = pa.array(docs, type=pa.string())
    # Columns around the text column, as real datasets have them (c4: text, timestamp, url; the Pile:
    # text, meta{pile_set_name}).
    table = pa.table({
        "id": pa.array(ids, type=pa.int64()),
        "meta": pa.array([{"source": f"s{i % 3}", "score": float(i)} for i in ids]),
        "text": text,
        "url": pa.array([f"https://example.org/{i}" if i % 5 else None for i in ids]),
        "flags": pa.array([[i, i + 1] if i % 2 else [] for i in ids], type=pa.list_(pa.int32())),
    })
    small = dict(data_page_size=1024, row_group_size=16)
    write_parquet(table, "plain-none.parquet", expected, compression="none", use_dictionary=False, **small)
    write_parquet(table, "dict-snappy.parquet", expected, compression="snappy", **small)
    write_parquet(table, "dict-zstd-v2.parquet", expected, compression="zstd", data_page_version="2.0", **small)
    write_parquet(table, "plain-gzip.parquet", expected, compression="gzip", use_dictionary=False, **small)
    write_parquet(table, "plain-zstd-v2.parquet", expected, compression="zstd", use_dictionary=False,
                  data_page_version="2.0", **small)
    write_parquet(table, "pyarrow-defaults.parquet", expected)
    # Required (non-nullable) text column: no definition levels.
    required = pa.table({"text": pa.array([d or "" for d in docs], type=pa.string())},
                        schema=pa.schema([pa.field("text", pa.string(), nullable=False)]))
    write_parquet(required, "required.parquet", expected, compression="snappy", **small)
    large = pa.table({"text": pa.array(docs, type=pa.large_string())})
    write_parquet(large, "large-string.parquet", expected, compression="zstd", store_schema=True, **small)
    content = pa.table({"content": text})
    pq.write_table(content, os.path.join(OUT, "field-content.parquet"))
    expected["field-content.parquet"] = docs

    # Arrow IPC: the stream format datasets' cache uses, and the file format.
    def write_arrow(tbl, name, file_format=False, **opts):
        path = os.path.join(OUT, name)
        options = ipc.IpcWriteOptions(**opts)
        with pa.OSFile(path, "wb") as sink:
            writer = (ipc.new_file if file_format else ipc.new_stream)(sink, tbl.schema, options=options)
            for batch in tbl.to_batches(max_chunksize=10):
                writer.write_batch(batch)
            writer.close()
        col = tbl.column("text")
        expected[name] = col.to_pylist()

    write_arrow(table, "stream.arrow")
    write_arrow(large, "large-stream.arrow")
    write_arrow(table, "file-format.arrow", file_format=True)
    write_arrow(table, "zstd-buffers.arrow", compression="zstd")

    # HuggingFace datasets: save_to_disk, load_dataset's cache, to_parquet, to_json.
    import datasets
    ds = datasets.Dataset.from_dict({"text": docs, "id": ids})
    saved = os.path.join(OUT, "save-to-disk")
    ds.save_to_disk(saved)
    expected["save-to-disk"] = docs
    ds.to_parquet(os.path.join(OUT, "datasets-to-parquet.parquet"))
    expected["datasets-to-parquet.parquet"] = docs
    ds.to_json(os.path.join(OUT, "datasets-to-json.json"))
    expected["datasets-to-json.json"] = docs
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "train.jsonl")
        with open(src, "w") as f:
            for d in docs:
                f.write(json.dumps({"text": d}) + "\n")
        cache = os.path.join(tmp, "cache")
        loaded = datasets.load_dataset("json", data_files=src, cache_dir=cache, split="train")
        files = [f["filename"] for f in loaded.cache_files]
        # The cache's layout: <cache>/json/default-<hash>/0.0.0/<hash>/json-train.arrow + dataset_info.json
        dest = os.path.join(OUT, "load-dataset-cache")
        os.makedirs(dest)
        for f in files:
            shutil.copy(f, dest)
        shutil.copy(os.path.join(os.path.dirname(files[0]), "dataset_info.json"), dest)
        open(os.path.join(dest, "json-train.arrow.lock"), "w").close()
        expected["load-dataset-cache"] = list(loaded["text"])

    # JSON lines: plain, gzip (two members, as `cat a.gz b.gz` makes), zstd.
    lines = "".join(json.dumps({"text": d, "n": i}) + "\n" for i, d in enumerate(docs) if d is not None)
    kept = [d for d in docs if d is not None]
    with open(os.path.join(OUT, "plain.jsonl"), "w") as f:
        f.write(lines)
    expected["plain.jsonl"] = kept
    half = len(lines) // 2
    cut = lines.index("\n", half) + 1
    with open(os.path.join(OUT, "two-members.jsonl.gz"), "wb") as f:
        f.write(gzip.compress(lines[:cut].encode()) + gzip.compress(lines[cut:].encode()))
    expected["two-members.jsonl.gz"] = kept
    zst = os.path.join(OUT, "docs.jsonl.zst")
    subprocess.run(["zstd", "-q", "-19", "-o", zst], input=lines.encode(), check=True)
    expected["docs.jsonl.zst"] = kept
    with open(os.path.join(OUT, "notes.txt"), "w") as f:
        f.write("A plain text document.\nWith two lines.\n")
    expected["notes.txt"] = ["A plain text document.\nWith two lines.\n"]

    # What must be refused: binary data under a text name and under an unknown one, mostly invalid UTF-8,
    # a Parquet file without a text column, a truncated Parquet file.
    refused = os.path.join(OUT, "refused")
    os.makedirs(refused)
    with open(os.path.join(refused, "image.txt"), "wb") as f:
        f.write(bytes(range(256)) * 4)
    with open(os.path.join(refused, "blob.dat"), "wb") as f:
        f.write(b"\x00\x01\x02 binary \x00 data" * 20)
    with open(os.path.join(refused, "latin1.txt"), "wb") as f:
        f.write(("caf\xe9 na\xefve \xe0 la cr\xe8me br\xfbl\xe9e " * 10).encode("latin-1"))
    pq.write_table(pa.table({"id": pa.array(ids)}), os.path.join(refused, "no-text.parquet"))
    with open(os.path.join(OUT, "plain-none.parquet"), "rb") as f:
        whole = f.read()
    with open(os.path.join(refused, "truncated.parquet"), "wb") as f:
        f.write(whole[: len(whole) // 2])

    # Each file's documents as a name: "all" (nulls included), "non-null", "null-as-empty", or the list.
    def name_of(values):
        for key, ref in (("all", docs), ("non-null", kept), ("null-as-empty", [d or "" for d in docs])):
            if values == ref:
                return key
        return values
    record = {"documents": docs, "files": {k: name_of(v) for k, v in sorted(expected.items())}}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(record, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
