"""Shared by the baseline suites: best-of-N timing after one warm-up run."""
import time


def best(fn, reps=3):
    fn()
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t
