#!/usr/bin/env python3
"""Renders every HTML page of report sites in headless Chromium and reports, per page: console
messages at warning level or above, figures without a drawn chart (or saying "no data"), chart labels
falling outside their chart, pages wider than the window, images that did not load, and local links
to files that do not exist. Optionally saves one screenshot per page kind.

Run through Scripts/browser-check (which installs Chromium). Standard library only.
"""

import argparse
import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

WINDOW = (1280, 900)

# Measures the rendered page after load and writes what is wrong into <pre id="browser-check-result">.
CHECK_SCRIPT = r"""
<script>
window.addEventListener('load', function () {
  var issues = [];
  var root = document.documentElement, width = root.clientWidth;
  if (root.scrollWidth > width + 1) issues.push('the page is ' + root.scrollWidth + ' px wide in a ' + width + ' px window');
  var figures = document.querySelectorAll('figure');
  figures.forEach(function (f, i) {
    var name = 'figure ' + (i + 1) + ' (' + (f.querySelector('figcaption') || {textContent: ''}).textContent.slice(0, 40) + ')';
    var svg = f.querySelector('svg'), img = f.querySelector('img');
    if (!svg && !img) { issues.push(name + ' has no chart'); return; }
    if (svg) {
      var marks = svg.querySelectorAll('rect, polyline, path, circle, line').length;
      if (marks < 3) issues.push(name + ' draws nothing');
      if (/^\s*no data\s*$/.test(svg.textContent)) issues.push(name + ' says "no data"');
    }
  });
  document.querySelectorAll('svg').forEach(function (svg, i) {
    var r = svg.getBoundingClientRect();
    if (r.width < 10 || r.height < 10) { issues.push('chart ' + (i + 1) + ' is ' + r.width + '×' + r.height + ' px'); return; }
    if (r.right > width + 1) issues.push('chart ' + (i + 1) + ' ends at ' + Math.round(r.right) + ' px, beyond the ' + width + ' px window');
    svg.querySelectorAll('text').forEach(function (t) {
      var b = t.getBoundingClientRect();
      if (b.width === 0) return;
      if (b.left < r.left - 2 || b.right > r.right + 2 || b.top < r.top - 2 || b.bottom > r.bottom + 2)
        issues.push('chart ' + (i + 1) + ': the label "' + t.textContent.slice(0, 30) + '" falls outside the chart');
    });
  });
  document.querySelectorAll('img').forEach(function (im) {
    if (!im.complete || im.naturalWidth === 0) issues.push('image ' + im.getAttribute('src') + ' did not load');
  });
  var out = document.createElement('pre');
  out.id = 'browser-check-result';
  out.textContent = JSON.stringify({issues: issues, figures: figures.length, charts: document.querySelectorAll('svg').length});
  document.body.appendChild(out);
});
</script>
"""

# Page kinds (path patterns in a site) for the screenshots, and their file names.
KINDS = [
    ("index.html", "site-index"),
    ("train-sae/index.html", "train-sae"),
    ("induction-features/index.html", "induction-features"),
    ("feature-dashboards/index.html", "feature-dashboards-index"),
    ("feature-dashboards/features/feature-*.html", "feature-dashboard"),
    ("induction-deep-dive/index.html", "induction-deep-dive"),
    ("top-features/index.html", "top-features"),
    ("top-features/heads/head-*.html", "top-features-head"),
    ("long-prefix/index.html", "long-prefix-induction"),
    ("ioi-circuit/index.html", "ioi-circuit"),
    ("circuit-trace/index.html", "circuit-trace"),
]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("error: no Chromium on PATH (Scripts/browser-check installs Debian's chromium package)")


def run_chromium(args, height=WINDOW[1], timeout=120):
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--hide-scrollbars", f"--window-size={WINDOW[0]},{height}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)


def broken_links(page, html):
    out = []
    for target in re.findall(r'(?:href|src)="([^"#]+)"', html):
        if "://" in target or target.startswith("mailto:"):
            continue
        if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(page), target))):
            out.append(f"link to missing file {target}")
    return out


def check_page(copy_root, rel):
    """Renders one page (a copy with the check script) and returns its issues."""
    page = os.path.join(copy_root, rel)
    with open(page, encoding="utf-8") as f:
        html = f.read()
    issues = broken_links(page, html)
    probe = page[:-5] + ".browser-check.html"
    with open(probe, "w", encoding="utf-8") as f:
        f.write(html.replace("</body>", CHECK_SCRIPT + "</body>") if "</body>" in html else html + CHECK_SCRIPT)
    try:
        r = run_chromium(["--virtual-time-budget=5000", "--dump-dom", "file://" + probe])
    finally:
        os.remove(probe)
    m = re.search(r'<pre id="browser-check-result">(.*?)</pre>', r.stdout, re.S)
    if not m:
        return issues + [f"Chromium did not finish rendering (exit {r.returncode}): {r.stderr.strip()[-300:]}"], None
    result = json.loads(m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    issues += result["issues"]
    for line in r.stderr.splitlines():
        # Chromium logs console messages as ...:INFO:CONSOLE(...) / :WARNING:CONSOLE / :ERROR:CONSOLE,
        # and failed loads as "Failed to load resource"; our pages have no scripts of their own.
        if "CONSOLE" in line and (":ERROR:" in line or ":WARNING:" in line or "Uncaught" in line):
            issues.append("console: " + line.split("] ", 1)[-1][:200])
        elif "Failed to load resource" in line or "ERR_FILE_NOT_FOUND" in line:
            issues.append("load failed: " + line.split("] ", 1)[-1][:200])
    return issues, result


def screenshot(site, rel, dest):
    # The top 1800 px of the page: Chromium's --screenshot captures the window only.
    r = run_chromium([f"--screenshot={dest}", "file://" + os.path.abspath(os.path.join(site, rel))], height=1800)
    if r.returncode != 0 or not os.path.exists(dest):
        return f"screenshot of {rel} failed: {r.stderr.strip()[-300:]}"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sites", nargs="+", help="report folders (every .html below them is checked)")
    ap.add_argument("--screenshots", help="save one PNG per page kind of the first site here")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()

    failures, checked = 0, 0
    for site in a.sites:
        if not os.path.isdir(site):
            sys.exit(f"error: {site} is not a folder (run the executable that writes it first)")
        pages = sorted(os.path.relpath(p, site) for p in glob.glob(os.path.join(site, "**", "*.html"), recursive=True)
                       if not p.endswith(".browser-check.html"))
        if not pages:
            sys.exit(f"error: {site} has no .html pages")
        with tempfile.TemporaryDirectory() as tmp:
            copy_root = os.path.join(tmp, "site")
            shutil.copytree(site, copy_root, ignore=shutil.ignore_patterns("*.safetensors", "*.h5"))
            with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
                results = list(pool.map(lambda rel: (rel, check_page(copy_root, rel)), pages))
        figures = 0
        for rel, (issues, result) in results:
            checked += 1
            figures += result["figures"] if result else 0
            if issues:
                failures += 1
                print(f"FAIL {os.path.join(site, rel)}")
                for i in issues[:20]:
                    print(f"     {i}")
                if len(issues) > 20:
                    print(f"     … and {len(issues) - 20} more")
        print(f"{site}: {len(pages)} pages, {figures} figures rendered")

    if a.screenshots:
        os.makedirs(a.screenshots, exist_ok=True)
        site = a.sites[0]
        for pattern, name in KINDS:
            matches = sorted(glob.glob(os.path.join(site, pattern)))
            if not matches:
                print(f"no page of kind {name} ({pattern}) in {site}")
                continue
            dest = os.path.join(a.screenshots, name + ".png")
            err = screenshot(site, os.path.relpath(matches[0], site), dest)
            if err:
                failures += 1
                print("FAIL " + err)
            else:
                print(f"screenshot {dest} ({os.path.getsize(dest) // 1024} KB) of {os.path.relpath(matches[0], site)}")

    if failures:
        print(f"browser check: {failures} of {checked} pages failed")
        sys.exit(1)
    print(f"browser check: all {checked} pages pass")


if __name__ == "__main__":
    main()
