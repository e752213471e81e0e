"""The dashboard in a real headless Chromium, with every off-localhost request blocked.

Needs Debian's ``chromium`` (``make test`` installs it) and Playwright from PyPI.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from geo.records import import_file
from geo.settings import ROOT_DIR
from geo.store import open_store
from tests.browser import (
    ARTIFACTS,
    click_incident,
    dashboard,
    iframe_of,
    map_frame,
    open_tab,
    run_of,
    runs_over,
    server_log,
    settled,
    shown_count,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

XSS_DESCRIPTION = "<img src=x onerror=alert(1)>"
XSS_CSV = f"""id,date,type,lat,lon,confidence,title,description,sources
xss-1,2025-08-15,drone,54.30,25.70,reported,"<script>alert(2)</script>${{alert(3)}}",\
"{XSS_DESCRIPTION}","javascript:alert(4)"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    store = open_store(folder / "store.gpkg")
    xss = folder / "xss.csv"
    xss.write_text(XSS_CSV, encoding="utf-8")
    assert import_file(store, xss).written
    with dashboard(store.path) as url:
        yield url


def _wait_shown(page, expected: int) -> None:
    deadline = time.monotonic() + 30
    while shown_count(page) != expected and time.monotonic() < deadline:
        time.sleep(0.3)
    assert shown_count(page) == expected


def test_map_draws_offline_and_the_period_changes_the_count(server, page):
    page.goto(server)
    frame = map_frame(page)
    assert frame.locator(".leaflet-control-layers").count() == 0  # the sidebar is the one
    assert frame.locator(".fw-legend").count() == 1
    assert frame.locator(".leaflet-control-scale").count() == 1
    frame.wait_for_function(  # the offline basemap arrived from the app itself
        "() => Object.values(window.map._layers).some(l => l.feature && !l.feature.properties.km"
        " && l.feature.geometry.type.endsWith('Polygon'))", timeout=30_000)
    total = shown_count(page)
    assert total == 8
    page.get_by_test_id("stSelectbox").filter(has_text="Period").click()
    page.get_by_role("option", name="2024", exact=True).click()
    _wait_shown(page, 3)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the map follows: three markers
        frame = map_frame(page)
        if frame.evaluate("() => window.fwIncidents.total") == 3:
            break
        time.sleep(0.5)
    assert frame.evaluate("() => window.fwIncidents.total") == 3
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-2024.png"), full_page=True)


def test_clicking_an_incident_shows_its_details(server, page):
    page.goto(f"{server}/?view=54.955,24.13,11")
    frame = map_frame(page)
    click_incident(page, frame, 54.955, 24.13)
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
    frame = map_frame(page)
    click_incident(page, frame, 54.30, 25.70)
    popup = frame.locator(".leaflet-popup-content")
    popup.wait_for(timeout=10_000)
    assert XSS_DESCRIPTION in popup.inner_text()
    assert "${alert(3)}" in popup.inner_text()
    assert popup.locator("img, script").count() == 0
    assert popup.locator("a").count() == 0  # a javascript: source is not a link
    page.wait_for_function("() => location.search.includes('selected=xss-1')",
                           timeout=30_000)
    page.get_by_text(XSS_DESCRIPTION).first.wait_for(timeout=30_000)
    settled(page)  # any injected handler has fired by now (the fixture checks)
    page.screenshot(path=str(ARTIFACTS / "dashboard-xss.png"), full_page=True)
    assert Path(ARTIFACTS / "dashboard-xss.png").stat().st_size > 10_000


def test_a_malformed_upload_gets_a_message_without_traceback_or_server_path(server, page):
    page.goto(server)
    map_frame(page)
    upload = page.locator("input[type=file]")
    open_tab(page, "Import", upload)
    upload.set_input_files({"name": "export.csv", "mimeType": "text/csv",
                            "buffer": b"PK\x03\x04\x00\x00" + bytes(range(256)) * 8})
    notice = page.locator(".fw-notice.fw-error")
    notice.wait_for(timeout=30_000)
    text = notice.inner_text()
    assert text.startswith("export.csv: not a text CSV file (it holds binary data)")
    # the check is made once per upload, not again in each run of the page after it
    page.get_by_test_id("stSelectbox").filter(has_text="Period").click()
    page.get_by_role("option", name="2024").click()
    runs_over(page)
    notice.wait_for(timeout=30_000)
    assert server_log(server).count("check of export.csv") == 1
    upload.set_input_files({"name": "broken.csv", "mimeType": "text/csv",
                            "buffer": b'id,date,type,lat,lon\nb-1,2025-07-01,drone,54.6,25.1\n'
                                      b'b-2,2025-07-02,"drone,54.6,25.1\nb-3,9999-12-31,'
                                      b'drone,54.6,25.1\n'})
    page.locator(".fw-notice.fw-info").filter(has_text="broken.csv").wait_for(timeout=30_000)
    assert "3 rows read, 1 valid, 2 rejected" in page.locator(".fw-notice.fw-info").inner_text()
    body = page.locator("body").inner_text()
    for leak in ("Traceback", "/tmp/", str(ROOT_DIR), "File \""):
        assert leak not in body
    page.screenshot(path=str(ARTIFACTS / "dashboard-malformed-upload.png"), full_page=True)


def test_the_export_panel_runs_alone_and_the_filters_run_the_page(server, page):
    """A change in the Export tab runs that panel only (the sidebar, the data and the map
    are not built again), and what it offers follows; a filter runs the whole page."""
    page.goto(server)
    frame = map_frame(page)
    open_tab(page, "Export", page.get_by_text("Export the current view"))
    runs_over(page)
    frame.evaluate("() => { window.fwKept = 1; }")

    def pick_csv():
        # (the Export tab's "Format", not the clip's "Clip format")
        page.get_by_test_id("stSelectbox").filter(
            has=page.get_by_text("Format", exact=True)).click()
        page.get_by_role("option", name="Incidents, CSV").click()

    assert not run_of(page, pick_csv)
    download = page.get_by_test_id("stDownloadButton").first
    assert download.inner_text() == "Download Incidents, CSV"
    with page.expect_download() as done:
        download.click()
    assert Path(done.value.path()).read_text(encoding="utf-8").count("\n") == 1 + 8
    assert frame.evaluate("() => window.fwKept") == 1  # the same map, never redrawn

    def pick_2024():
        page.get_by_test_id("stSelectbox").filter(has_text="Period").click()
        page.get_by_role("option", name="2024", exact=True).click()

    assert run_of(page, pick_2024)
    _wait_shown(page, 3)


def _box(page, selector: str) -> dict:
    return page.evaluate(f"""() => {{ const r = document.querySelector({selector!r})
        .getBoundingClientRect(); return {{top: r.top, bottom: r.bottom, left: r.left,
        right: r.right, height: r.height, width: r.width}}; }}""")


def test_the_map_fills_the_window_and_the_details_scroll_beside_it(server, page):
    """At 1600 x 1000 the map takes the window's height below the header; a long detail
    panel scrolls in its box beside the map and never moves the tabs (and the table in
    them) down; the map's box is drawn taller or shorter by its lower right corner, and
    the Leaflet map follows."""
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.goto(f"{server}/?view=54.955,24.13,11")
    frame = map_frame(page)
    header = _box(page, ".fw-header")
    iframe = iframe_of(page, frame).bounding_box()
    assert iframe["height"] >= 0.75 * (1000 - header["bottom"])
    assert iframe["y"] + iframe["height"] <= 1000  # all of it in the window
    assert frame.evaluate("() => window.map.getSize().y") == pytest.approx(iframe["height"],
                                                                          abs=2)
    tabs = _box(page, "[data-testid=stTabs]")["top"]
    click_incident(page, frame, 54.955, 24.13)
    page.get_by_text("Gerbera drone with explosives crashes in a Lithuanian "
                     "training area").first.wait_for(timeout=30_000)
    runs_over(page)
    assert _box(page, "[data-testid=stTabs]")["top"] == pytest.approx(tabs, abs=1)
    column = page.locator(".st-key-fw-main [data-testid=stColumn]").last
    assert column.bounding_box()["height"] <= iframe["height"] + 20  # the map's height
    page.screenshot(path=str(ARTIFACTS / "layout-1600-selected.png"))
    box = page.locator(".st-key-fw-map").bounding_box()
    x, y = box["x"] + box["width"] - 3, box["y"] + box["height"] - 3
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 200, steps=8)
    page.mouse.up()
    frame.wait_for_function(f"() => window.map.getSize().y < {iframe['height'] - 150}",
                            timeout=10_000)


def test_on_a_narrow_window_the_sidebar_is_folded_and_the_map_takes_the_width(server, page):
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(server)
    frame = map_frame(page)
    sidebar = page.get_by_test_id("stSidebar")
    page.wait_for_function("() => document.querySelector('[data-testid=stSidebar]')"
                           ".getAttribute('data-collapsed') === 'true'", timeout=10_000)
    assert sidebar.bounding_box() is None or sidebar.bounding_box()["x"] + \
        sidebar.bounding_box()["width"] <= 0
    iframe = iframe_of(page, frame).bounding_box()
    assert iframe["width"] >= 0.9 * 800
    header = _box(page, ".fw-header")
    assert iframe["height"] >= 0.75 * (900 - header["bottom"])
    # the reader's own choice is not taken from them: Streamlit keeps none for this fold
    assert page.evaluate("() => Object.keys(localStorage).filter(k => "
                         "k.startsWith('stSidebarCollapsed-'))") == []
    page.screenshot(path=str(ARTIFACTS / "layout-800.png"))


def test_the_export_tab_makes_a_clip_in_the_background_with_its_progress(server, page):
    """The clip is made while the page stays usable: a progress bar counts its frames,
    then the clip (an MP4) is a download."""
    page.goto(server)
    map_frame(page)

    def pick_2024():
        page.get_by_test_id("stSelectbox").filter(has_text="Period").click()
        page.get_by_role("option", name="2024", exact=True).click()

    run_of(page, pick_2024)
    _wait_shown(page, 3)
    open_tab(page, "Export", page.get_by_text("Export the current view"))
    step = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Step", exact=True))
    step.scroll_into_view_if_needed()
    step.click()
    page.keyboard.type("month")  # (the box filters its options as one types)
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Make the clip").click()
    progress = page.get_by_test_id("stProgress")
    progress.wait_for(timeout=60_000)
    assert "Frame" in progress.inner_text() or "Drawing" in progress.inner_text()
    page.screenshot(path=str(ARTIFACTS / "dashboard-clip-progress.png"), full_page=True)
    # the page stays usable meanwhile: another export option can be picked
    page.get_by_test_id("stSelectbox").filter(has_text="Format").first.click()
    page.get_by_role("option", name="Incidents, CSV").click()
    download = page.get_by_role("button", name="Download the clip")
    download.wait_for(timeout=180_000)
    with page.expect_download() as done:
        download.click()
    data = Path(done.value.path()).read_bytes()
    assert data[4:8] == b"ftyp"  # an MP4
    frames = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                             "stream=nb_read_frames", "-of", "csv=p=0", done.value.path()],
                            check=True, capture_output=True, text=True).stdout
    assert int(frames) == 12  # 2024 by month
    assert done.value.suggested_filename.endswith(".mp4")
