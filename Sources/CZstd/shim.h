// Shim for Zstandard (Debian: libzstd-dev, pkg-config "libzstd"): Parquet pages, Arrow buffers and
// `.jsonl.zst` corpora.
#pragma once
#include <zstd.h>
