#!/usr/bin/env python3
"""Runs the PyTorch baselines of the given benchmark suites and writes their timings as JSON.

usage: run.py OUT.json SUITE [SUITE ...]   (each suite is Scripts/baselines/<suite>.py with run() -> dict)
Timings are seconds per operation (best of several runs), keyed by the names the Swift suite uses.
"""
import importlib.util
import json
import os
import sys

import torch


def main():
    out, suites = sys.argv[1], sys.argv[2:]
    torch.set_num_threads(os.cpu_count() or 1)
    timings = {}
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)  # the suites share timing.py
    for s in suites:
        spec = importlib.util.spec_from_file_location(s, os.path.join(here, s + ".py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        print(f"torch baseline: suite {s} (torch {torch.__version__}, {torch.get_num_threads()} threads)", file=sys.stderr)
        timings.update(mod.run())
    with open(out, "w") as f:
        json.dump(timings, f, indent=1)


if __name__ == "__main__":
    main()
