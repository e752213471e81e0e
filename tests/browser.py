"""Helpers for the end-to-end tests: a dashboard server on loopback and the map's frame
in Debian's chromium (driven by Playwright; no browser is downloaded)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from geo.settings import ROOT_DIR

APP = ROOT_DIR / "dashboard" / "app.py"
ARTIFACTS = ROOT_DIR / "tests" / "artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("streamlit did not become healthy")


@contextlib.contextmanager
def dashboard(store: Path, *options: str, port: int | None = None) -> Iterator[str]:
    """Run the dashboard on ``store`` on a free loopback port (or ``port``), with more
    command-line ``options`` if given; yields its URL."""
    port = port or free_port()
    env = {**os.environ, "FLANKWATCH_STORE": str(store), "PYTHONPATH": str(ROOT_DIR)}
    env.pop("FLANKWATCH_REQUIRE_SIGN_IN", None)  # sign-in only from the options given
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(server_log_path(port), "wb") as log:  # a file: a pipe no one reads fills up
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", *options],
            cwd=ROOT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def server_log_path(port: int | str) -> Path:
    """Where the dashboard server on ``port`` (see :func:`dashboard`) writes its log."""
    return ARTIFACTS / f"server-{port}.log"


def server_log(url: str) -> str:
    """What the dashboard server at ``url`` has logged so far."""
    return server_log_path(url.rsplit(":", 1)[1]).read_text(encoding="utf-8", errors="replace")


def map_frame(page, timeout_s: float = 90):
    """The map's frame once its incidents are indexed. The component's iframe is
    replaced when the data change (for a moment there are two), so the newest one that
    is ready is looked up on each try."""
    deadline = time.monotonic() + timeout_s
    page.locator("iframe.stCustomComponentV1").first.wait_for(state="attached",
                                                               timeout=60_000)
    while time.monotonic() < deadline:
        for handle in reversed(page.locator("iframe.stCustomComponentV1").element_handles()):
            frame = handle.content_frame()
            try:
                if frame and frame.evaluate(
                        "() => !!(window.fwIncidents && window.fwIncidents.total)"):
                    return frame
            except Exception:  # the frame went away while we asked
                pass
        time.sleep(0.5)
    raise TimeoutError("the map did not draw its incidents")


def iframe_of(page, frame):
    for handle in page.locator("iframe.stCustomComponentV1").element_handles():
        if handle.content_frame() == frame:
            return handle
    raise LookupError("the map's iframe is gone")


def click_incident(page, frame, lat: float, lon: float) -> None:
    """Click the marker drawn at lat/lon (the map must be zoomed in enough to show it
    on its own)."""
    frame.wait_for_function(
        f"""() => window.fwIncidents.markers().some(m =>
            Math.abs(m.getLatLng().lat - {lat}) < 1e-4 && window.map.hasLayer(m))""",
        timeout=30_000)
    x, y = frame.evaluate(f"""() => {{
        const m = window.fwIncidents.markers().find(m =>
            Math.abs(m.getLatLng().lat - {lat}) < 1e-4
            && Math.abs(m.getLatLng().lng - {lon}) < 1e-4);
        const p = window.map.latLngToContainerPoint(m.getLatLng());
        const r = window.map.getContainer().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y];
    }}""")
    box = iframe_of(page, frame).bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


class Watcher:
    """What a page's server and network do, seen from the browser: how each script run
    the server reports over its websocket finished (a run of the whole page, or a
    panel's own run: an ``st.fragment``), and the requests of the page and its frames
    not answered yet."""

    def __init__(self, page):
        self.finished: list[int] = []  # ForwardMsg.ScriptFinishedStatus of each run
        self.pending: set = set()
        page.on("websocket", self._socket)
        page.on("request", self._asked)
        page.on("requestfinished", self._answered)
        page.on("requestfailed", self._answered)

    def _asked(self, request) -> None:
        self.pending.add(request)

    def _answered(self, request) -> None:
        self.pending.discard(request)

    def _socket(self, socket) -> None:
        if socket.url.endswith("/_stcore/stream"):
            socket.on("framereceived", self._message)

    def _message(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if not isinstance(payload, str):
            message = ForwardMsg.FromString(payload)
            if message.WhichOneof("type") == "script_finished":
                self.finished.append(message.script_finished)


def settled(page, timeout_s: float = 30) -> None:
    """Wait until every request of the page and its frames has been answered, then for
    two animation frames in each frame: by then a handler data had smuggled into the
    page (an image's ``onerror``, an ``onload``) has fired, so a check that nothing ran
    means something."""
    deadline = time.monotonic() + timeout_s
    while page.fw.pending and time.monotonic() < deadline:
        page.wait_for_timeout(50)  # (lets Playwright deliver the page's events)
    assert not page.fw.pending, [r.url for r in page.fw.pending]
    for frame in page.frames:
        with contextlib.suppress(Exception):  # a frame that went away meanwhile
            frame.evaluate("() => new Promise(r => requestAnimationFrame("
                           "() => requestAnimationFrame(r)))")


def run_of(page, act, timeout_s: float = 60) -> bool:
    """Do ``act()`` and wait for the script run it starts to finish; returns whether
    that run was of the whole page (False: a panel's own run, none of the page's)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    finished = page.fw.finished
    before = len(finished)
    act()
    deadline = time.monotonic() + timeout_s
    while len(finished) == before and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert len(finished) > before, "no script run followed"
    return any(status != ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
               for status in finished[before:])


def shown_count(page) -> int:
    """The "Incidents shown" figure beside the map."""
    return int(page.get_by_test_id("stMetricValue").first.inner_text().replace(",", ""))


def runs_over(page, timeout_s: float = 60) -> None:
    """Wait until the page's script runs are over: a run the last input (or the map's
    first report) started is under way after a second, and over when Streamlit's status
    widget has gone."""
    page.wait_for_timeout(1000)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden",
                                                   timeout=timeout_s * 1000)


def open_tab(page, name: str, content, timeout_s: float = 60) -> None:
    """Open the dashboard's tab ``name`` and wait (up to ``timeout_s``) for ``content``
    (a locator) in it. A click just after the map first draws can miss: seen about once
    in 40 page loads with a core kept busy, the click sent nothing to the server and
    the tab stayed closed (in that instant the map's frame is being replaced, and for a
    moment there are two). A user then clicks again, and so does this while the tab is
    not open; an open tab whose content does not come in time fails."""
    tab = page.get_by_role("tab", name=name)
    deadline = time.monotonic() + timeout_s
    clicked = -1.0
    while time.monotonic() < deadline:
        if content.count():
            return
        if tab.get_attribute("aria-selected") != "true" and time.monotonic() - clicked > 5:
            tab.click()
            clicked = time.monotonic()
        time.sleep(0.25)
    raise TimeoutError(f"the {name} tab's content did not come in {timeout_s:.0f} s")
