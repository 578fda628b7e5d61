#!/usr/bin/env python3
"""Load test of the Circuit Explorer on loopback: `circuit-explorer serve` with a small run cache, many
clients expanding nodes of many prompts at once for a bounded time, while other clients disconnect in the
middle of their requests (after half a request, or right after sending one). Passes when every completed
request got a 200, the server still answers afterwards, and its memory (VmRSS) stayed within a bound over
its size after warm-up. Prints the latency percentiles and a RESULT line. Standard library only.

    explorer_load.py BINARY [--clients 16] [--seconds 20] [--cache-mb 8] [--saes PATH]
"""

import argparse
import http.client
import json
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.parse


def start_server(binary, extra):
    proc = subprocess.Popen([binary, "serve", "--port", "0", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the server exited before listening: " + proc.stderr.read())
        if line.startswith("Circuit Explorer: "):
            return proc, urllib.parse.urlparse(line.split(": ", 1)[1].strip())


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def post(host, port, path, body, timeout=300):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        return r.status, data
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--prompts", type=int, default=40)
    ap.add_argument("--cache-mb", type=int, default=8)
    ap.add_argument("--rss-growth-mb", type=float, default=300, help="allowed growth of the server's memory over its size after warm-up")
    ap.add_argument("--saes", help="attention SAEs for the server (default: the planted model's default SAE)")
    args = ap.parse_args()
    proc, url = start_server(args.binary, ["--cache-mb", str(args.cache_mb)] + (["--saes", args.saes] if args.saes else []))
    host, port = url.hostname, url.port
    rng = random.Random(0)
    words = "the quick brown fox jumps over lazy dog cat sat on mat red blue green one two three four five".split()
    prompts = []
    for i in range(args.prompts):
        phrase = " ".join(rng.choice(words) for _ in range(6))
        prompts.append(f"{i}: {phrase}, and again {phrase}")
    # Warm-up: every prompt once, and the features that fire in each (the nodes clients will expand).
    nodes = {}
    for p in prompts:
        status, data = post(host, port, "/api/run", {"prompt": p})
        if status != 200:
            raise SystemExit(f"warm-up /api/run: {status} {data[:200]}")
        run = json.loads(data)
        ids = [f"{l['layer']}_{f['feature']}_{pos}" for l in run["layers"] if l["kind"] == "attention"
               for pos, cell in enumerate(l["cells"]) for f in cell["top"][:2]]
        nodes[p] = ids or [None]
    baseline = rss_mb(proc.pid)
    peak = baseline
    latencies, errors, lock = [], [], threading.Lock()
    stop = time.time() + args.seconds
    disconnects = [0]

    def client(k):
        r = random.Random(k)
        while time.time() < stop:
            p = r.choice(prompts)
            node = r.choice(nodes[p])
            if node is None:
                continue
            kind = r.random()
            t0 = time.perf_counter()
            try:
                if kind < 0.1:
                    # Half a request, then gone.
                    s = socket.create_connection((host, port), timeout=10)
                    body = json.dumps({"prompt": p, "node": node}).encode()
                    s.sendall(b"POST /api/expand HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body[: len(body) // 2])
                    s.close()
                    with lock:
                        disconnects[0] += 1
                    continue
                if kind < 0.2:
                    # A whole request, gone before the answer.
                    s = socket.create_connection((host, port), timeout=10)
                    body = json.dumps({"prompt": r.choice(prompts), "node": node, "maxTerms": 50}).encode()
                    s.sendall(b"POST /api/expand HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                    s.close()
                    with lock:
                        disconnects[0] += 1
                    continue
                path, body = ("/api/expand", {"prompt": p, "node": node}) if kind < 0.85 else ("/api/qk", {"prompt": p, "layer": int(node.split("_")[0]),
                              "head": r.randrange(12), "destination": int(node.split("_")[2]), "source": r.randrange(int(node.split("_")[2]) + 1)})
                status, data = post(host, port, path, body)
                ms = 1000 * (time.perf_counter() - t0)
                with lock:
                    if status == 200:
                        latencies.append(ms)
                    else:
                        errors.append(f"{path} {status} {data[:200]!r}")
            except Exception as e:  # noqa: BLE001 — a refused or reset connection is an error of the server
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_mb(proc.pid))
        time.sleep(0.2)
    for t in threads:
        t.join()
    alive = proc.poll() is None
    status, _ = post(host, port, "/api/run", {"prompt": prompts[0]}) if alive else (None, None)
    peak = max(peak, rss_mb(proc.pid)) if alive else peak
    proc.terminate()
    proc.wait(timeout=30)
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")
    print(f"{len(latencies)} requests answered by {args.clients} clients in {args.seconds:.0f} s, {disconnects[0]} clients disconnected mid-request; "
          f"{len(errors)} errors; latency p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms; memory {baseline:.0f} MB after warm-up, peak {peak:.0f} MB")
    ok = True
    if errors:
        print("errors:\n  " + "\n  ".join(errors[:20]), file=sys.stderr)
        ok = False
    if not alive or status != 200:
        print("the server did not survive the load", file=sys.stderr)
        ok = False
    if peak - baseline > args.rss_growth_mb:
        print(f"memory grew by {peak - baseline:.0f} MB (allowed {args.rss_growth_mb:.0f})", file=sys.stderr)
        ok = False
    if not latencies:
        print("no request was answered", file=sys.stderr)
        ok = False
    print(f"RESULT explorer_load_p50 {pct(0.5):.2f} ms p99={pct(0.99):.2f} errors={len(errors)} peak_rss_mb={peak:.0f}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
