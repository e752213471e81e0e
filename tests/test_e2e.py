"""The dashboard in a real headless Chromium, with every off-localhost request blocked.

Needs Debian's ``chromium`` (``make test`` installs it) and Playwright from PyPI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from geo.records import RecordSet, load_file
from geo.settings import ROOT_DIR
from geo.store import open_store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

APP = ROOT_DIR / "dashboard" / "app.py"
ARTIFACTS = ROOT_DIR / "tests" / "artifacts"
XSS_DESCRIPTION = "<img src=x onerror=alert(1)>"
XSS_CSV = f"""id,date,type,lat,lon,confidence,title,description,sources
xss-1,2025-08-15,drone,54.30,25.70,reported,"<script>alert(2)</script>${{alert(3)}}",\
"{XSS_DESCRIPTION}","javascript:alert(4)"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 90) -> None:
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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    store = open_store(folder / "store.gpkg")
    xss = folder / "xss.csv"
    xss.write_text(XSS_CSV, encoding="utf-8")
    loaded = load_file(xss)
    assert not len(loaded[0].rejects)
    store.write(RecordSet(folder, loaded).batches(), file=str(xss))
    port = _free_port()
    env = {**os.environ, "FLANKWATCH_STORE": str(store.path), "PYTHONPATH": str(ROOT_DIR)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (make test installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    offsite: list[str] = []
    dialogs: list[str] = []

    def guard(route):
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.offsite, pg.dialogs = offsite, dialogs
    yield pg
    context.close()
    assert offsite == [], f"requests left localhost: {offsite}"
    assert dialogs == [], f"dialogs fired: {dialogs}"


def _map_frame(page, timeout_s: float = 90):
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


def _iframe_of(page, frame):
    for handle in page.locator("iframe.stCustomComponentV1").element_handles():
        if handle.content_frame() == frame:
            return handle
    raise LookupError("the map's iframe is gone")


def _shown(page) -> int:
    return int(page.get_by_test_id("stMetricValue").first.inner_text())


def _wait_shown(page, expected: int) -> None:
    deadline = time.monotonic() + 30
    while _shown(page) != expected and time.monotonic() < deadline:
        time.sleep(0.3)
    assert _shown(page) == expected


def _click_incident(page, frame, lat: float, lon: float) -> None:
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
    box = _iframe_of(page, frame).bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


def test_map_draws_offline_and_the_period_changes_the_count(server, page):
    page.goto(server)
    frame = _map_frame(page)
    assert frame.locator(".leaflet-control-layers").count() == 1
    assert frame.locator(".fw-legend").count() == 1
    assert frame.locator(".leaflet-control-scale").count() == 1
    frame.wait_for_function(  # the offline basemap arrived from the app itself
        "() => Object.values(window.map._layers).some(l => l.feature && !l.feature.properties.km"
        " && l.feature.geometry.type.endsWith('Polygon'))", timeout=30_000)
    total = _shown(page)
    assert total == 8
    page.get_by_test_id("stSelectbox").filter(has_text="Period").click()
    page.get_by_role("option", name="2024", exact=True).click()
    _wait_shown(page, 3)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the map follows: three markers
        frame = _map_frame(page)
        if frame.evaluate("() => window.fwIncidents.total") == 3:
            break
        time.sleep(0.5)
    assert frame.evaluate("() => window.fwIncidents.total") == 3
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-2024.png"), full_page=True)


def test_clicking_an_incident_shows_its_details(server, page):
    page.goto(f"{server}/?view=54.955,24.13,11")
    frame = _map_frame(page)
    _click_incident(page, frame, 54.955, 24.13)
    page.wait_for_function(
        "() => location.search.includes('selected=ltu-2025-07-28-gerbera')", timeout=30_000)
    panel = page.get_by_text("Gerbera drone with explosives crashes in a Lithuanian "
                             "training area").first
    panel.wait_for(timeout=30_000)
    popup = frame.locator(".leaflet-popup-content")
    popup.wait_for(timeout=10_000)
    assert "2 kg of explosives" in popup.inner_text()
    page.screenshot(path=str(ARTIFACTS / "dashboard-selected.png"), full_page=True)


def test_hostile_text_is_shown_as_text_and_runs_nothing(server, page):
    page.goto(f"{server}/?view=54.30,25.70,11")
    frame = _map_frame(page)
    _click_incident(page, frame, 54.30, 25.70)
    popup = frame.locator(".leaflet-popup-content")
    popup.wait_for(timeout=10_000)
    assert XSS_DESCRIPTION in popup.inner_text()
    assert "${alert(3)}" in popup.inner_text()
    assert popup.locator("img, script").count() == 0
    assert popup.locator("a").count() == 0  # a javascript: source is not a link
    page.wait_for_function("() => location.search.includes('selected=xss-1')",
                           timeout=30_000)
    page.get_by_text(XSS_DESCRIPTION).first.wait_for(timeout=30_000)
    time.sleep(1)  # give any injected handler the chance to fire (the fixture checks)
    page.screenshot(path=str(ARTIFACTS / "dashboard-xss.png"), full_page=True)
    assert Path(ARTIFACTS / "dashboard-xss.png").stat().st_size > 10_000
