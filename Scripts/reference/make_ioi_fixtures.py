#!/usr/bin/env python3
"""Writes Tests/InterpTests/Fixtures/ioi_seed1.json: the clean IOI prompts for seed 1 drawn with CPython's
`random` exactly as the reference generator draws them (Docs/Method.md §4.3: random.seed(seed); templates =
BABA[0:7] + ABBA[0:7] shuffled; per prompt choice(templates), three choice(NAMES) until distinct,
choice(PLACES), choice(OBJECTS)), plus raw MT19937 outputs for the generator test. Plain Python only."""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(__file__))
from ioi_words import BABA_TEMPLATES, NAMES, OBJECTS, PLACES  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "InterpTests", "Fixtures", "ioi_seed1.json")


def abba(templates):
    out = templates[:]
    for i in range(len(out)):
        first_clause = True
        for j in range(1, len(out[i]) - 1):
            if out[i][j - 1:j + 2] == "[B]" and first_clause:
                out[i] = out[i][:j] + "A" + out[i][j + 1:]
            elif out[i][j - 1:j + 2] == "[A]" and first_clause:
                first_clause = False
                out[i] = out[i][:j] + "B" + out[i][j + 1:]
    return out


def main():
    ABBA = abba(BABA_TEMPLATES)
    random.seed(1)
    templates = BABA_TEMPLATES[:7] + ABBA[:7]
    random.shuffle(templates)
    prompts = []
    for _ in range(60):
        temp = random.choice(templates)
        idx = templates.index(temp)
        name_1 = name_2 = name_3 = ""
        while len({name_1, name_2, name_3}) < 3:
            name_1, name_2, name_3 = random.choice(NAMES), random.choice(NAMES), random.choice(NAMES)
        place, obj = random.choice(PLACES), random.choice(OBJECTS)
        text = temp.replace("[PLACE]", place).replace("[OBJECT]", obj).replace("[A]", name_1).replace("[B]", name_2)
        prompts.append({"text": text, "IO": name_1, "S": name_2, "TEMPLATE_IDX": idx, "PLACE": place, "OBJECT": obj})
    r = random.Random(1)
    raw = [r.getrandbits(32) for _ in range(1000)]
    r2 = random.Random(123456789012345)
    raw_big = [r2.getrandbits(32) for _ in range(5)]
    import struct
    rng7 = random.Random(7)
    floats = [struct.unpack("<Q", struct.pack("<d", rng7.random()))[0] for _ in range(20)]  # bit patterns
    with open(OUT, "w") as f:
        json.dump({"abba": ABBA, "prompts": prompts, "mt_seed1": raw, "mt_seed_big": raw_big, "random_seed7": floats}, f, indent=0)


if __name__ == "__main__":
    main()
