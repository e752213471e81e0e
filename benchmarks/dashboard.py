"""Dashboard scale: rerun time, map page size, time to draw, density layers after a pan
and a zoom, and the time control's frame rate, at 10^3..10^6 incidents.

For each size a store is filled with random incidents over the Baltic region (enriched
by the real importer), then:

- rerun: server time of a script rerun after a filter change (Streamlit's AppTest,
  caches warm from the first run; median of 3);
- page: bytes of the map page built for all incidents (what st_folium sends), and of
  the incident arrays the page then fetches (a content-addressed file the dashboard
  serves from its /fw/data route);
- drawn: headless Chromium (Debian's chromium), from the start of navigation until every
  incident is indexed and the view drawn, with the reference layers on the map, both
  moments taken by the page itself on its own clock (polling from outside would add its
  own delay); five visits after a warm-up visit, each in a fresh browser context (cold
  browser cache; the server's caches warm), median and range;
- hex / heat: with that layer on, the time from a pan (and from a zoom: the first time
  at a new zoom level, again after zooming back out, and to a further level three
  seconds later) to the end of the map's redraw, taken in the page, and the layer's own
  share of it;
- playback: the time control on, cumulative, 16 days a second for five seconds: frames
  per second and the longest frame, from requestAnimationFrame's timestamps.

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
                  defense_lines=store.records("defense_lines"), options=MapOptions()).map
    page = len(m.get_root().render().encode())
    data = len(incident_arrays(incidents))
    return page, data


#: Run in the map's frame: one pan and one zoom with the density layer on, each timed
#: from the call until the frame after it has been painted (leaflet.heat redraws in an
#: animation frame); the zoom is timed twice, the second time at a level seen before.
_DENSITY_MOVES = """async () => {
  const map = window.map, out = {}, own = [];
  // the layer's own share: the hexagons' canvas redraw, or the heatmap's binning plus
  // leaflet.heat's redraw
  const heatRedraw = L.HeatLayer.prototype._redraw;
  let heatMs = 0;
  L.HeatLayer.prototype._redraw = function () {
    const t = performance.now(); heatRedraw.call(this); heatMs = performance.now() - t;
  };
  const ownMs = () => window.fwDensity.hexLayer && map.hasLayer(window.fwDensity.hexLayer)
    ? window.fwDensity.hexLayer.drawMs : window.fwDensity.heat.binMs + heatMs;
  const settle = () => new Promise(r => setTimeout(r, 300));
  const painted = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  async function timed(move) {
    await settle();
    const t = performance.now();
    move();
    await painted();
    own.push(Math.round(ownMs()));
    return performance.now() - t;
  }
  out.pan_ms = await timed(() => map.panBy([250, 120], {animate: false}));
  out.zoom_first_ms = await timed(() => map.setZoom(map.getZoom() + 1, {animate: false}));
  await timed(() => map.setZoom(map.getZoom() - 1, {animate: false}));
  out.zoom_again_ms = await timed(() => map.setZoom(map.getZoom() + 1, {animate: false}));
  // a level not seen yet, three seconds later (the layer works ahead while idle)
  await new Promise(r => setTimeout(r, 3000));
  out.zoom_new_after_3s_ms = await timed(() => map.setZoom(map.getZoom() + 1, {animate: false}));
  out.layer_own_ms = own;  // pan, zoom first, zoom out, zoom again, zoom new after 3 s
  return out;
}"""

#: Run in the map's frame: the time control on at a share of the period (0-1000, the
#: slider's scale), stepping by day at 16 steps a second for five seconds with the given
#: window; frame times as requestAnimationFrame saw them.
_PLAYBACK = """async ([at, windowSteps]) => {
  const pb = window.fwPlayback, control = document.querySelector(".fw-time");
  const set = (selector, value, event) => {
    const el = control.querySelector(selector);
    el.value = value;
    el.dispatchEvent(new Event(event));
  };
  pb.setOn(true);
  set("[data-opt=window]", windowSteps, "change");
  set("[data-opt=speed]", "16", "change");
  set("input[type=range]", String(at), "input");
  pb.stats.frames.length = 0;
  pb.play();
  await new Promise(r => setTimeout(r, 5000));
  const visible = pb.visible();
  pb.pause();
  const f = pb.stats.frames.slice(1);
  const sum = f.reduce((a, b) => a + b, 0);
  return {frames: f.length, fps: Math.round(10000 * f.length / sum) / 10,
          max_ms: Math.round(Math.max(...f)), visible_at_end: visible};
}"""

#: Playback runs measured: (name, slider position 0-1000, window).
PLAYBACK_RUNS = (("cumulative", 900, "all"), ("window_7_days", 700, "7"))


def interactions(store_path: Path, n_total: int) -> dict:
    """Density layers after a pan and a zoom, and the time control's frame rate."""
    from playwright.sync_api import sync_playwright

    proc, url = _start_server(store_path)
    out = {}
    try:
        _wait_healthy(url)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--no-sandbox"])
            for layer in ("hex", "heat"):
                context = browser.new_context(viewport={"width": 1500, "height": 1100})
                context.add_init_script(_MARKS)
                page = context.new_page()
                page.goto(f"{url}/?layers=incidents,{layer}")
                _wait_drawn(page, n_total)
                frame = _frame_with(page, "window.fwDensity && window.fwDensity." + layer)
                moves = frame.evaluate(_DENSITY_MOVES)
                out[layer] = {k: v if isinstance(v, list) else round(v) for k, v in moves.items()}
                context.close()
            context = browser.new_context(viewport={"width": 1500, "height": 1100})
            context.add_init_script(_MARKS)
            page = context.new_page()
            page.goto(url)
            _wait_drawn(page, n_total)
            frame = _frame_with(page, "window.fwPlayback")
            for name, at, steps in PLAYBACK_RUNS:
                out[f"playback_{name}"] = frame.evaluate(_PLAYBACK, [at, steps])
            context.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def _start_server(store_path: Path) -> tuple[subprocess.Popen, str]:
    """The dashboard on ``store_path``, on a free loopback port."""
    port = _free_port()
    env = {**os.environ, "FLANKWATCH_STORE": str(store_path)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run",
                             str(ROOT / "dashboard" / "app.py"), "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def _wait_healthy(url: str) -> None:
    for _ in range(180):
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)


def _frame_with(page, condition: str, timeout_s: float = 300):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                if frame.evaluate(f"() => !!({condition})"):
                    return frame
            except Exception:  # the frame was replaced while we asked
                pass
        time.sleep(0.5)
    raise TimeoutError(condition)


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

    proc, url = _start_server(store_path)
    try:
        _wait_healthy(url)
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
    parser.add_argument("--skip-visits", action="store_true",
                        help="only the page size, the rerun and the interactions")
    args = parser.parse_args()
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            store = fill_store(Path(tmp), n)
            total = store.counts()["incidents"]
            first, rerun = rerun_seconds(store.path)
            page, data = page_bytes(store)
            row = {"incidents": total, "first_run_s": round(first, 2),
                   "rerun_s": round(rerun, 2), "page_mb": round(page / 1e6, 2),
                   "arrays_mb": round(data / 1e6, 2)}
            if not args.skip_visits:
                drawn = drawn_seconds(store.path, total)
                row.update({"drawn_median_s": round(statistics.median(drawn), 2),
                            "drawn_min_s": round(min(drawn), 2),
                            "drawn_max_s": round(max(drawn), 2)})
            row.update(interactions(store.path, total))
            print(row, flush=True)
            results.append(row)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dashboard.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
