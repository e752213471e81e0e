"""Dashboard scale: rerun time, map page size and time to draw, at 10^3..10^5 incidents.

For each size a store is filled with random incidents over the Baltic region (enriched
by the real importer), then:

- rerun: server time of a script rerun after a filter change (Streamlit's AppTest,
  caches warm from the first run; median of 3);
- page: bytes of the map page built for all incidents (what st_folium sends), and of
  the incident arrays the page then fetches (a content-addressed static file);
- drawn: headless Chromium (Debian's chromium), from the start of navigation until every
  incident is indexed and the view drawn, with the reference layers on the map, both
  moments taken by the page itself on its own clock (polling from outside would add its
  own delay); five visits after a warm-up visit, each in a fresh browser context (cold
  browser cache; the server's caches warm), median and range.

Usage: ``python benchmarks/dashboard.py [--sizes 1000,10000,100000]``; results are
printed and written to ``benchmarks/out/dashboard.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from synthetic import fill_store  # noqa: E402

from dashboard.maps import MapOptions, build_map  # noqa: E402

OUT = ROOT / "benchmarks" / "out"


def rerun_seconds(store_path: Path) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    os.environ["FLANKWATCH_STORE"] = str(store_path)
    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
    t0 = time.perf_counter()
    app.run()
    first = time.perf_counter() - t0
    times = []
    for kinds in (["drone", "aircraft"], ["balloon"], []):
        t0 = time.perf_counter()
        app.multiselect(key="types").set_value(kinds).run()
        times.append(time.perf_counter() - t0)
        assert not app.exception, app.exception
    return first, statistics.median(times)


def page_bytes(store) -> tuple[int, int]:
    """Bytes of the map page and of the incident arrays the page fetches."""
    from dashboard.maps import incident_arrays

    incidents = store.incidents()
    m = build_map(incidents, deployments=store.records("deployments"),
                  defense_lines=store.records("defense_lines"), options=MapOptions())
    page = len(m.get_root().render().encode())
    data = len(incident_arrays(incidents))
    return page, data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: Timed visits per size (after one warm-up visit); the median and range are reported.
VISITS = 5


#: Injected into every frame before its own scripts: records, on the page's own clock,
#: when the incident layer has indexed every incident and drawn the view (it then sets
#: ``window.fwIncidents``) and when the reference layers are on the map.
_MARKS = """
(() => {
  const marks = window.__fwMarks = {};
  let value;
  Object.defineProperty(window, "fwIncidents", {configurable: true, get() { return value; },
    set(v) { value = v; marks.incidents = performance.timeOrigin + performance.now(); }});
  const timer = setInterval(() => {
    const map = window.map;
    if (map && map._layers && Object.values(map._layers).some(l => l.feature)) {
      marks.reference = performance.timeOrigin + performance.now();
      clearInterval(timer);
    }
  }, 20);
})();
"""


def drawn_seconds(store_path: Path, n_total: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    env = {**os.environ, "FLANKWATCH_STORE": str(store_path)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run",
                             str(ROOT / "dashboard" / "app.py"), "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--no-sandbox"])
            visits = []
            # one warm-up visit fills the server's caches, as a user's second visit finds
            # them; then fresh contexts, so the browser's cache is cold each time
            for i in range(VISITS + 1):
                context = browser.new_context(viewport={"width": 1500, "height": 1100})
                context.add_init_script(_MARKS)
                page = context.new_page()
                page.goto(url)
                drawn_at = _wait_drawn(page, n_total)
                if i:
                    visits.append((drawn_at - page.evaluate("performance.timeOrigin")) / 1000)
                context.close()
            browser.close()
        return visits
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_drawn(page, n: int, timeout_s: float = 300) -> float:
    """The moment (ms since the epoch, the page's clock) the map was drawn: incidents
    indexed and shown, reference layers on the map. Polled slowly: the page records it."""
    deadline = time.monotonic() + timeout_s
    check = (f"() => window.fwIncidents && window.fwIncidents.total === {n}"
             " && window.__fwMarks.reference"
             " ? Math.max(window.__fwMarks.incidents, window.__fwMarks.reference) : null")
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                found = frame.evaluate(check)
            except Exception:  # the frame was replaced while we asked
                found = None
            if found:
                return found
        time.sleep(0.5)
    raise TimeoutError("map not drawn")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            store = fill_store(Path(tmp), n)
            total = store.counts()["incidents"]
            first, rerun = rerun_seconds(store.path)
            page, data = page_bytes(store)
            drawn = drawn_seconds(store.path, total)
            row = {"incidents": total, "first_run_s": round(first, 2),
                   "rerun_s": round(rerun, 2), "page_mb": round(page / 1e6, 2),
                   "arrays_mb": round(data / 1e6, 2),
                   "drawn_median_s": round(statistics.median(drawn), 2),
                   "drawn_min_s": round(min(drawn), 2), "drawn_max_s": round(max(drawn), 2)}
            print(row, flush=True)
            results.append(row)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dashboard.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
