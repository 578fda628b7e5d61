"""Writes small HDF5 files with h5py, then patches single structures into hostile ones.

Each hostile file once crashed, hung or over-allocated our reader (issue 14); the tests require a
typed error for every one. Also writes `latest_gzip.h5`: what h5py writes with libver='latest'
(superblock v3, v2 object headers, link messages), track_order=True and a gzip + shuffle chunked
dataset of 128 KB, whose values the Swift test recomputes (exact in float32).

    python Scripts/reference/make_hostile_fixtures.py [out_dir]
"""
import os
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
patched(tmp, path("link_name_overflow.h5"), [(flags_at, bytes([flags | 3])), (name - 1, struct.pack("<Q", 0x7FFFFFFFFFFFFF00))])   # ≤ Int.max, so only the sum overflows

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
edits = []
start = 0
while True:
    ochk = data.find(b"OCHK", start)
    if ochk < 0:
        break
    start = ochk + 4
    # A continuation message (type 0x10, 16 bytes) pointing at this OCHK: make the one inside
    # the OCHK block point back at its own block.
    cont = data.find(b"\x10\x10\x00", ochk)
    if cont > 0 and cont < ochk + 4096:
        edits.append((cont + 4, struct.pack("<Q", ochk)))
        break
if not edits:
    # The last continuation (in the object header) points at the OCHK block; point it at the
    # object header's own first continuation target again by making the block's first message a
    # continuation to itself.
    ochk = data.index(b"OCHK")
    cont = data.rindex(b"\x10\x10\x00", 0, ochk)
    length = struct.unpack_from("<Q", data, cont + 12)[0]
    # Overwrite the OCHK block's first message with a continuation to the same block.
    msg = bytes([0x10]) + struct.pack("<H", 16) + bytes([0]) + struct.pack("<QQ", ochk, length)
    edits.append((ochk + 4, msg))
patched(tmp, path("continuation_cycle.h5"), edits)

for name in sorted(os.listdir(OUT)):
    print(f"{name}: {os.path.getsize(path(name))} bytes")
