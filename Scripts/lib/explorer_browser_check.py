#!/usr/bin/env python3
"""The Circuit Explorer in a real browser: headless Chromium (Debian's) driven by Selenium through Debian's
chromedriver. Starts `circuit-explorer serve` on a free port and, as a researcher would: types a prompt,
runs it, opens a cell, clicks a feature, expands two levels of its trace, opens a QK panel, ablates the
feature, exports the graph, reloads the shared link — and checks what the page shows against the API's
own answers to the same requests. Then a prompt full of markup and control characters: shown as text,
never run. Fails on any console error. With --screenshots DIR, saves one PNG per view.

Run through Scripts/explorer-check (which installs Chromium, chromedriver and Selenium).
"""

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

PLANTED_PROMPT = "The quick brown fox jumps over the lazy dog, then the quick brown fox jumps over the lazy"
PROMPT = "def board(x): return board(x) + board(y) if x else board(x)"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOSTILE = '<script>window.__pwned=1</script>"><img src=x onerror="window.__pwned=2">\x07 & <b>bold</b>'
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)
    return condition


def close(a, b, scale=None):
    scale = max(abs(b), 1e-6) if scale is None else scale
    return abs(a - b) <= 1e-5 * scale


def safetensors(path, tensors):
    """Writes float32 tensors {name: (shape, values)} in the safetensors layout."""
    header, offset, blobs = {}, 0, []
    for name, (shape, values) in tensors.items():
        blob = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def sae_folder(path, hook, d_in, d_sae, seed):
    """A SAELens folder of a standard SAE with unit decoder rows, W_enc = W_decᵀ and small random encoder biases."""
    rng = random.Random(seed)
    rows = []
    for _ in range(d_sae):
        r = [rng.gauss(0, 1) for _ in range(d_in)]
        n = sum(x * x for x in r) ** 0.5
        rows.append([x / n for x in r])
    os.makedirs(path)
    safetensors(os.path.join(path, "sae_weights.safetensors"), {
        "W_enc": ([d_in, d_sae], [rows[j][i] for i in range(d_in) for j in range(d_sae)]),
        "W_dec": ([d_sae, d_in], [x for r in rows for x in r]),
        "b_enc": ([d_sae], [rng.gauss(0, 0.05) for _ in range(d_sae)]),
        "b_dec": ([d_in], [0.0] * d_in)})
    json.dump({"d_in": d_in, "d_sae": d_sae, "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": True, "normalize_activations": "none",
               "reshape_activations": "none", "architecture": "standard", "metadata": {"sae_lens_version": "6.54.12", "hook_name": hook}},
              open(os.path.join(path, "cfg.json"), "w"))


def fixture_inputs(folder):
    """The test fixture model (a TransformerLens checkpoint of a 2-layer model with a NeoX-style tokenizer) with
    attention SAEs on both layers and a residual SAE on layer 1: server arguments."""
    fx = os.path.join(ROOT, "Tests", "TransformerTests", "Fixtures")
    model = os.path.join(folder, "model")
    os.makedirs(model)
    shutil.copy(os.path.join(fx, "tl-checkpoint", "standard", "model_final.pth"), model)
    shutil.copy(os.path.join(fx, "tl-checkpoint", "standard", "config.json"), model)
    shutil.copy(os.path.join(fx, "tokenizer-json", "neox_style.json"), os.path.join(model, "tokenizer.json"))
    for layer in range(2):
        sae_folder(os.path.join(folder, "attention", f"L{layer}"), f"blocks.{layer}.attn.hook_z", 16, 48, 3 + layer)
    sae_folder(os.path.join(folder, "resid-L1"), "blocks.1.hook_resid_pre", 16, 40, 9)
    return ["--model", model, "--saes", os.path.join(folder, "attention"), "--resid-saes", os.path.join(folder, "resid-L1")]


def start_server(binary, extra):
    proc = subprocess.Popen([binary, "serve", "--port", "0", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the server exited before listening: " + proc.stderr.read())
        if line.startswith("Circuit Explorer: "):
            return proc, line.split(": ", 1)[1].strip()
    raise SystemExit("the server did not start in time")


class API:
    def __init__(self, base):
        self.base = base

    def post(self, path, body):
        req = urllib.request.Request(self.base.rstrip("/") + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as r:
            return json.load(r)

    def get(self, path):
        with urllib.request.urlopen(self.base.rstrip("/") + path, timeout=300) as r:
            return json.load(r)


def browser(download_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000", "--force-device-scale-factor=1"]:
        options.add_argument(a)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": download_dir, "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": download_dir})
    return driver


def settle(driver, timeout=120):
    """Waits until the page has no request in flight (body[data-pending=0]) and shows no error."""
    deadline = time.time() + timeout
    time.sleep(0.05)
    while time.time() < deadline:
        if driver.execute_script("return document.body.dataset.pending === undefined || document.body.dataset.pending === '0'"):
            error = driver.find_element(By.ID, "error")
            if error.is_displayed():
                raise SystemExit("the page shows an error: " + error.text)
            return
        time.sleep(0.05)
    raise SystemExit("the page did not settle")


def click(driver, element):
    """A click as the page receives it, wherever the element sits (SVG nodes may be small or close together)."""
    driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", element)
    settle(driver)


def state(driver):
    q = urllib.parse.parse_qs(driver.execute_script("return location.hash.slice(1)"))
    return {k: v[0] for k, v in q.items()}


def graph_query(s):
    return urllib.parse.urlencode({"prompt": s["p"], "bos": s.get("bos", "1"), "roots": s.get("roots", ""), "expanded": s.get("x", ""),
                                   "maxChildren": s.get("k", "6")}, quote_via=urllib.parse.quote)


def shot(driver, folder, name):
    if folder:
        driver.save_screenshot(os.path.join(folder, "explorer-" + name + ".png"))


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def full_scenario(driver, api, base, shots, downloads):
    """Every view on a model with attention SAEs on two layers and a residual SAE: two levels of expansion."""
    open_page(driver, base)
    # 1. Type a prompt and run it.
    run_prompt(driver, PROMPT)
    run = api.post("/api/run", {"prompt": PROMPT})
    shown = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#tokens .tok")]
    check(len(shown) == len(run["tokens"]), f"{len(shown)} tokens shown, the API has {len(run['tokens'])}")
    check(all(s.endswith(t["text"].strip()) for s, t in zip(shown, run["tokens"])), "each token's text is shown")
    for layer in run["layers"]:
        for p, cell in enumerate(layer["cells"]):
            td = driver.find_element(By.CSS_SELECTOR, f"#overview td[data-kind='{layer['kind']}'][data-layer='{layer['layer']}'][data-pos='{p}']")
            check(int(td.get_attribute("data-count")) == cell["count"], f"overview cell {layer['kind']} L{layer['layer']} @{p}: count")

    # 2. Open the last token's layer-1 cell and click its strongest feature.
    last = len(run["tokens"]) - 1
    layer1 = next(l for l in run["layers"] if l["kind"] == "attention" and l["layer"] == max(x["layer"] for x in run["layers"] if x["kind"] == "attention"))
    position = last if layer1["cells"][last]["count"] else max(range(len(layer1["cells"])), key=lambda p: layer1["cells"][p]["maxActivation"])
    driver.find_element(By.CSS_SELECTOR, f"#overview td[data-kind='attention'][data-layer='{layer1['layer']}'][data-pos='{position}']").click()
    settle(driver)
    cell = api.post("/api/cell", {"prompt": PROMPT, "layer": layer1["layer"], "position": position})
    items = driver.find_elements(By.CSS_SELECTOR, "#cell-features li[data-node]")
    check([i.get_attribute("data-node") for i in items] == [f["node"]["id"] for f in cell["features"]], "the cell lists the API's features in order")
    check(all(f["node"]["label"] in i.text for i, f in zip(items, cell["features"])), "each feature shows its label")
    root = cell["features"][0]["node"]["id"]
    items[0].click()
    settle(driver)
    expand = api.post("/api/expand", {"prompt": PROMPT, "node": root, "maxTerms": 12})
    value = driver.find_element(By.ID, "node-value")
    check(close(float(value.get_attribute("data-value")), expand["value"]), "the node's value is the API's")
    rows = driver.find_elements(By.CSS_SELECTOR, "#terms tr[data-source]")
    check([r.get_attribute("data-source") for r in rows] == [t["source"]["id"] for t in expand["terms"]], "the terms are the API's, in order")
    check(all(close(float(r.get_attribute("data-value")), t["value"]) for r, t in zip(rows, expand["terms"])), "each term's value is the API's")
    dfa = driver.find_elements(By.CSS_SELECTOR, "#dfa .tok")
    check(len(dfa) == len(run["tokens"]) and all(close(float(d.get_attribute("data-value")), v, 1e-3 + abs(v)) for d, v in zip(dfa, expand["byPosition"])),
          "the DFA by source position is the API's")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#heads .bars div")) == len(expand["byHead"] or []), "one bar per head")

    # 3. Expand two levels: a term of the root, then a term of that term.
    def expand_first_term():
        buttons = [b for b in driver.find_elements(By.CSS_SELECTOR, "#terms button.expand") if b.is_enabled() and b.text == "⊕"]
        if not check(buttons, "a term can be expanded"):
            return None
        node = buttons[0].get_attribute("data-node")
        buttons[0].click()
        settle(driver)
        return node

    level1 = expand_first_term()
    if level1:
        click(driver, driver.find_element(By.CSS_SELECTOR, f"#graph circle[data-id='{level1}']"))
        check(driver.find_element(By.ID, "node").get_attribute("data-node") == level1, "clicking a graph node opens it")
        level2 = expand_first_term()
    s = state(driver)
    check(s.get("roots") == root and level1 in s.get("x", "").split(","), "the address holds the roots and the expanded nodes")
    graph = api.get("/api/graph?" + graph_query(s))
    circles = sorted(c.get_attribute("data-id") for c in driver.find_elements(By.CSS_SELECTOR, "#graph circle"))
    check(circles == sorted(n["node_id"] for n in graph["nodes"]), f"the graph shows the API's {len(graph['nodes'])} nodes (shown {len(circles)})")
    lines = driver.find_elements(By.CSS_SELECTOR, "#graph line")
    check(len(lines) == len(graph["links"]), "one line per link")
    check(max(n["depth"] for n in graph["nodes"] if n.get("depth") is not None) >= 3 if level1 and level2 else False, "the graph is three levels deep")
    shot(driver, shots, "graph")

    # 4. Collapse the second level again, then expand it back.
    if level1 and level2:
        driver.find_element(By.CSS_SELECTOR, f"#terms button.expand[data-node='{level2}']").click()
        settle(driver)
        check(level2 not in state(driver).get("x", ""), "collapsing removes the node from the state")
        driver.find_element(By.CSS_SELECTOR, f"#terms button.expand[data-node='{level2}']").click()
        settle(driver)

    # 5. A QK panel: the strongest attention link.
    attn = driver.find_elements(By.CSS_SELECTOR, "#graph line.attn")
    if check(attn, "the graph has a link through attention"):
        best = max(attn, key=lambda l: abs(float(l.get_attribute("data-weight"))))
        driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", best)
        settle(driver)
        qk = driver.find_element(By.ID, "qk")
        check(qk.is_displayed(), "the QK panel opens")
        req = {k: int(qk.get_attribute("data-" + k)) for k in ["layer", "head", "destination", "source"]}
        answer = api.post("/api/qk", {"prompt": PROMPT, **req, "pairs": 10})
        score = driver.find_element(By.ID, "qk-score")
        check(close(float(score.get_attribute("data-score")), answer["score"]), "the QK score is the API's")
        check(close(float(score.get_attribute("data-pattern")), answer["pattern"], 1), "the pattern is the API's")
        pairs = driver.find_elements(By.CSS_SELECTOR, "#qk-pairs tr[data-query]")
        check([(p.get_attribute("data-query"), p.get_attribute("data-key")) for p in pairs] == [(p["query"]["id"], p["key"]["id"]) for p in answer["pairs"]],
              "the QK pairs are the API's")
        bars = driver.find_elements(By.CSS_SELECTOR, "#qk-pattern div")
        check(len(bars) == req["destination"] + 1, "the pattern row has a bar per source")

    # 6. Ablate the root feature.
    click(driver, driver.find_element(By.CSS_SELECTOR, f"#graph circle[data-id='{root}']"))
    driver.find_element(By.ID, "ablate").click()
    settle(driver)
    answer = api.post("/api/intervene", {"prompt": PROMPT, "edits": [{"node": root}]})
    after = driver.find_element(By.ID, "prediction-after").text
    check(all(f'"{p["text"]}"' in after for p in answer["edited"][:3]), "the prediction after the ablation is the API's")
    shot(driver, shots, "intervention")

    # 7. Export the graph.
    s = state(driver)
    driver.find_element(By.ID, "export").click()
    path = os.path.join(downloads, "trace.json")
    deadline = time.time() + 30
    while time.time() < deadline and not os.path.exists(path):
        time.sleep(0.1)
    if check(os.path.exists(path), "the export downloads trace.json"):
        exported = json.load(open(path))
        graph = api.get("/api/graph?" + graph_query(s))
        check(sorted(n["node_id"] for n in exported["nodes"]) == sorted(n["node_id"] for n in graph["nodes"]), "the export is the API's graph")
        check({"metadata", "qParams", "nodes", "links"} <= set(exported), "the export is in circuit-tracer's schema")

    # 8. Copy the link and reopen it.
    driver.find_element(By.ID, "copy-link").click()
    link = driver.find_element(By.ID, "share-link").get_attribute("value")
    before = sorted(c.get_attribute("data-id") for c in driver.find_elements(By.CSS_SELECTOR, "#graph circle"))
    selected = driver.find_element(By.ID, "node").get_attribute("data-node")
    driver.get("about:blank")
    driver.get(link)
    settle(driver)
    after = sorted(c.get_attribute("data-id") for c in driver.find_elements(By.CSS_SELECTOR, "#graph circle"))
    check(after == before, "the shared link reopens the same graph")
    check(driver.find_element(By.ID, "node").get_attribute("data-node") == selected, "the shared link reopens the selected node")
    check(driver.find_element(By.ID, "prompt").get_attribute("value") == PROMPT, "the shared link restores the prompt")
    errors = console_errors(driver)
    check(not errors, f"console errors: {errors}")



def hostile_scenario(driver, base, shots):
    # 9. Markup and control characters are text.
    open_page(driver, base)
    box = driver.find_element(By.ID, "prompt")
    driver.execute_script("arguments[0].value = arguments[1]", box, HOSTILE)
    driver.find_element(By.ID, "run").click()
    settle(driver)
    check(driver.execute_script("return window.__pwned === undefined"), "no script from the prompt ran")
    check(not driver.find_element(By.ID, "workspace").is_displayed(), "a new prompt shows no graph until a feature is traced")
    check(not driver.find_elements(By.CSS_SELECTOR, "#tokens img, #overview img, #tokens script, #tokens b, #overview b"), "no element was made from the prompt")
    text = driver.execute_script("return Array.from(document.querySelectorAll('#tokens .tok')).slice(1).map(t => t.lastChild.textContent).join('')")
    check(text == HOSTILE.replace("\x07", "\\x07"), f"the prompt is shown as its text, control characters visible: {text!r}")
    shot(driver, shots, "escaped")
    errors = console_errors(driver)
    check(not errors, f"console errors: {errors}")


def open_page(driver, base):
    driver.get(base)
    settle(driver)
    check("Model:" in driver.find_element(By.ID, "info").text, "the page says which model it runs")


def run_prompt(driver, prompt):
    box = driver.find_element(By.ID, "prompt")
    box.clear()
    box.send_keys(prompt)
    driver.find_element(By.ID, "run").click()
    settle(driver)


def planted_scenario(driver, api, base, shots):
    """The planted model as a newcomer meets it: the induction circuit in a few clicks."""
    open_page(driver, base)
    driver.find_element(By.CSS_SELECTOR, "#examples option:nth-child(2)").click()
    check(driver.find_element(By.ID, "prompt").get_attribute("value") == PLANTED_PROMPT, "the first example is the repeated phrase")
    driver.find_element(By.ID, "run").click()
    settle(driver)
    run = api.post("/api/run", {"prompt": PLANTED_PROMPT})
    last = len(run["tokens"]) - 1
    layer = [l for l in run["layers"] if l["kind"] == "attention"][-1]
    check(layer["cells"][last]["count"] > 0, "an induction feature fires at the last token")
    shot(driver, shots, "overview")
    driver.find_element(By.CSS_SELECTOR, f"#overview td[data-kind='attention'][data-layer='{layer['layer']}'][data-pos='{last}']").click()
    settle(driver)
    driver.find_element(By.CSS_SELECTOR, "#cell-features li[data-node]").click()
    settle(driver)
    root = driver.find_element(By.ID, "node").get_attribute("data-node")
    expand = api.post("/api/expand", {"prompt": PLANTED_PROMPT, "node": root, "maxTerms": 12})
    top = expand["terms"][0]
    # The token the model will predict (" dog") is the one after the earlier " lazy": its embedding, read through head 1.5.
    tokens = [t["text"] for t in run["tokens"]]
    earlier = [p for p in range(1, last) if tokens[p - 1] == tokens[last]]
    check(top["source"]["kind"] == "embedding" and top["source"]["position"] in [p for p in earlier], f"the top term is the embedding after an earlier {tokens[last]!r}: {top['source']['id']}")
    first_row = driver.find_element(By.CSS_SELECTOR, "#terms tr[data-source]")
    check(first_row.get_attribute("data-source") == top["source"]["id"] and "1.5" in first_row.text, "the page shows it, through head 1.5")
    shot(driver, shots, "feature")
    line = max(driver.find_elements(By.CSS_SELECTOR, "#graph line.attn"), key=lambda l: abs(float(l.get_attribute("data-weight"))))
    driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", line)
    settle(driver)
    pair = driver.find_element(By.CSS_SELECTOR, "#qk-pairs tr[data-query]")
    check(pair.get_attribute("data-key").startswith("H0_3_") and pair.get_attribute("data-query").startswith("E_"),
          f"the strongest QK pair is the query's token × head 0.3 (previous token) at the key: {pair.get_attribute('data-query')} × {pair.get_attribute('data-key')}")
    shot(driver, shots, "qk")
    errors = console_errors(driver)
    check(not errors, f"console errors: {errors}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--screenshots")
    ap.add_argument("--planted-saes", help="attention SAEs for the planted model (default: its default SAE, trained into the cache on first use)")
    args = ap.parse_args()
    downloads = tempfile.mkdtemp()
    driver = browser(downloads)
    try:
        proc, base = start_server(args.binary, ["--saes", args.planted_saes] if args.planted_saes else [])
        try:
            planted_scenario(driver, API(base), base, args.screenshots)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        proc, base = start_server(args.binary, fixture_inputs(tempfile.mkdtemp()))
        try:
            full_scenario(driver, API(base), base, args.screenshots, downloads)
            hostile_scenario(driver, base, args.screenshots)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        driver.quit()
    if failures:
        raise SystemExit(f"explorer browser check: {len(failures)} failures")
    print("explorer browser check: every view matches the API")


if __name__ == "__main__":
    main()
