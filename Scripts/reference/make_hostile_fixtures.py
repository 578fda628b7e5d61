"""Writes small HDF5 files with h5py, then patches single structures into hostile ones.

Each hostile file once crashed, hung or over-allocated our reader (issue 14); the tests require a
typed error for every one. Also writes `latest_gzip.h5`: what h5py writes with libver='latest'
(superblock v3, v2 object headers, link messages), track_order=True and a gzip + shuffle chunked
dataset of 128 KB, whose values the Swift test recomputes (exact in float32).

    python Scripts/reference/make_hostile_fixtures.py [out_dir]
"""
import os
import re
import struct
import sys

import h5py
import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../Tests/TensorTests/Fixtures/hostile")
os.makedirs(OUT, exist_ok=True)


def path(name):
    return os.path.join(OUT, name)


def patched(src, dst, edits):
    data = bytearray(open(src, "rb").read())
    for offset, new in edits:
        data[offset:offset + len(new)] = new
    open(dst, "wb").write(bytes(data))
    os.remove(src)


def lookup3(data, initval=0):
    """Bob Jenkins' lookup3 hashlittle: HDF5's metadata checksum (H5_checksum_lookup3)."""
    M = 0xFFFFFFFF

    def rot(x, k):
        return ((x << k) | (x >> (32 - k))) & M

    a = b = c = (0xDEADBEEF + len(data) + initval) & M
    i, n = 0, len(data)
    while n > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & M
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & M
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & M
        a = (a - c) & M; a ^= rot(c, 4); c = (c + b) & M
        b = (b - a) & M; b ^= rot(a, 6); a = (a + c) & M
        c = (c - b) & M; c ^= rot(b, 8); b = (b + a) & M
        a = (a - c) & M; a ^= rot(c, 16); c = (c + b) & M
        b = (b - a) & M; b ^= rot(a, 19); a = (a + c) & M
        c = (c - b) & M; c ^= rot(b, 4); b = (b + a) & M
        i += 12
        n -= 12
    if n == 0:
        return c
    tail = data[i:i + n] + bytes(12 - n)
    a = (a + int.from_bytes(tail[0:4], "little")) & M
    b = (b + int.from_bytes(tail[4:8], "little")) & M
    c = (c + int.from_bytes(tail[8:12], "little")) & M
    c ^= b; c = (c - rot(b, 14)) & M
    a ^= c; a = (a - rot(c, 11)) & M
    b ^= a; b = (b - rot(a, 25)) & M
    c ^= b; c = (c - rot(b, 16)) & M
    a ^= c; a = (a - rot(c, 4)) & M
    b ^= a; b = (b - rot(a, 14)) & M
    c ^= b; c = (c - rot(b, 24)) & M
    return c


def fix_checksum(path, start, length):
    """Rewrites the checksum after `length` bytes from `start` (so only the planted fault is wrong)."""
    data = bytearray(open(path, "rb").read())
    data[start + length:start + length + 4] = struct.pack("<I", lookup3(bytes(data[start:start + length])))
    open(path, "wb").write(bytes(data))


def ohdr_chunk0(data, at):
    """(start, length) that the checksum of the version-2 object header at `at` covers."""
    flags = data[at + 5]
    p = at + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    size_bytes = 1 << (flags & 3)
    chunk0 = int.from_bytes(data[p:p + size_bytes], "little")
    return at, p + size_bytes + chunk0 - at


def pattern(n):
    """(i mod 1000) / 4 - 100: exact in float32, recomputed by the Swift test."""
    return ((np.arange(n) % 1000) / 4 - 100).astype(np.float32)


# --- What h5py writes with the newest format (a valid file) ----------------------------------
with h5py.File(path("latest_gzip.h5"), "w", libver="latest", track_order=True) as f:
    f.attrs["zeta"] = 1
    f.attrs["alpha"] = "first"
    g = f.create_group("group", track_order=True)
    g.create_dataset("packed", data=pattern(32768).reshape(128, 256), chunks=(32, 64), compression="gzip", shuffle=True)
    g.create_dataset("b_plain", data=pattern(12))
    f.create_dataset("a_small", data=np.arange(6, dtype=np.int64).reshape(2, 3))

# --- A link message whose name length overflows ----------------------------------------------
tmp = path("tmp.h5")
with h5py.File(tmp, "w", libver="latest") as f:
    f.create_dataset("abcdefghijkl", data=np.zeros(2, np.float32))
data = open(tmp, "rb").read()
name = data.index(b"abcdefghijkl")
assert data[name - 1] == 12            # 1-byte length just before the name
flags_at = name - 2                    # version, flags, 1-byte length, name
assert data[flags_at - 1] == 1, "link message version"
flags = data[flags_at]
assert flags & 0x08 == 0 and flags & 0x04 == 0 and flags & 0x10 == 0, flags
patched(tmp, path("link_name_overflow.h5"), [(flags_at, bytes([flags | 3])), (name - 1, struct.pack("<Q", 0x7FFFFFFFFFFFFFFF))])   # Int.max: reads as a length, and q + length overflows
header = data.rindex(b"OHDR", 0, name)
fix_checksum(path("link_name_overflow.h5"), *ohdr_chunk0(data, header))

# --- A chunk B-tree leaf that repeats a chunk ---------------------------------------------------
with h5py.File(tmp, "w") as f:
    f.create_dataset("x", data=pattern(64), chunks=(32,))
data = open(tmp, "rb").read()
tree = data.index(b"TREE\x01\x00")     # a leaf of a chunk B-tree
used = struct.unpack_from("<H", data, tree + 6)[0]
assert used == 2, used
key0 = tree + 8 + 16                   # signature, type, level, entries, two siblings
key_size = 8 + 8 * 2                   # size, mask, offsets of rank 1 + element
key1 = key0 + key_size + 8
patched(tmp, path("chunk_repeated.h5"), [(key1 + 8, data[key0 + 8:key0 + 16])])

# --- An unwritten (nil B-tree) chunked dataset far larger than the file ------------------------
with h5py.File(path("unwritten_huge.h5"), "w") as f:
    f.create_dataset("never_written", shape=(4352, 4096), dtype=np.float32, chunks=(256, 256))
    f.create_dataset("padding", data=np.random.default_rng(0).integers(0, 255, 70_000, dtype=np.uint8))

# --- A fixed-length string attribute of 0 bytes, with millions of elements ------------------
with h5py.File(tmp, "w") as f:
    f.attrs.create("strattr", np.array([b"q"] * 4, dtype="S1"))
data = open(tmp, "rb").read()
at = data.index(b"strattr\x00")
dt = at + 8                            # the name, padded to 8 bytes, then the datatype
assert data[dt] == 0x13 and data[dt + 4:dt + 8] == b"\x01\x00\x00\x00", data[dt:dt + 8]   # class 3, size 1
space = dt + 8                         # dataspace message follows the (8-byte) datatype
assert data[space] == 1 and data[space + 1] == 1, data[space:space + 8]
patched(tmp, path("zero_size_strings.h5"), [(dt + 4, struct.pack("<I", 0)), (space + 8, struct.pack("<Q", 12_000_000))])

# --- An object header continuation that points back at itself --------------------------------
with h5py.File(tmp, "w", libver="latest") as f:
    g = f.create_group("g")
    f.create_dataset("after", data=np.zeros(4, np.float32))   # so g's header cannot grow in place
    f.flush()
    for i in range(6):
        g.attrs[f"a{i}"] = np.arange(60, dtype=np.int64) + i
data = open(tmp, "rb").read()
# The object header's continuation messages (type 0x10, 16 bytes: address, length) point at OCHK
# blocks. Overwrite the first message inside the first OCHK block with a continuation to that same
# block, then fix the block's checksum, so only the cycle is wrong.
ochk = data.index(b"OCHK")
pointer = re.search(re.escape(b"\x10\x10\x00") + b"." + re.escape(struct.pack("<Q", ochk)), data, re.S)
assert pointer, "no continuation message points at the OCHK block"
ochk_length = struct.unpack_from("<Q", data, pointer.start() + 12)[0]
cycle = bytes([0x10]) + struct.pack("<H", 16) + bytes([0]) + struct.pack("<QQ", ochk, ochk_length)
patched(tmp, path("continuation_cycle.h5"), [(ochk + 4, cycle)])
fix_checksum(path("continuation_cycle.h5"), ochk, ochk_length - 4)

for name in sorted(os.listdir(OUT)):
    print(f"{name}: {os.path.getsize(path(name))} bytes")
