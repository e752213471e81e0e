"""The map in place, in a real headless Chromium: place names, search, the drawn area."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from geo.filters import IncidentFilter
from geo.settings import GEOD
from geo.store import open_store
from tests.browser import (
    ARTIFACTS,
    dashboard,
    iframe_of,
    map_frame,
    open_tab,
    runs_over,
    settled,
    shown_count,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VILNIUS = (54.68916, 25.2798)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    store = open_store(tmp_path_factory.mktemp("place") / "store.gpkg")
    with dashboard(store.path) as url:
        yield url, store


def _address(page) -> str:
    """The page's address as it is now (``page.url`` is only updated while Playwright
    handles the page's events, which a plain sleep does not)."""
    return page.evaluate("() => location.href")


def _wait(condition, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert condition()


def test_country_and_town_names_are_text_on_the_map(served, page):
    url, _ = served
    page.goto(f"{url}/?view=54.9,24.0,6")  # the Baltic states and Belarus (town labels
    frame = map_frame(page)                # show from zoom 6; the fitted view is wider)
    frame.wait_for_function("() => window.fwLabels && window.fwLabels.shown.length > 0",
                            timeout=30_000)
    names = frame.locator(".fw-label").all_text_contents()  # (shown in capitals by CSS)
    # English names, the local one beside it where it is another word (data/exonyms.csv)
    for name in ("Lithuania", "Latvia", "Belarus", "Vilnius", "Riga", "Grodno / Hrodna"):
        assert name in names
    # no two labels overlap
    boxes = frame.evaluate("""() => Array.from(document.querySelectorAll('.fw-label'))
        .map(e => { const r = e.getBoundingClientRect();
                    return [r.left, r.top, r.right, r.bottom]; })""")
    for k, a in enumerate(boxes):
        for b in boxes[k + 1:]:
            assert a[2] <= b[0] + 1 or b[2] <= a[0] + 1 or a[3] <= b[1] + 1 or b[3] <= a[1] + 1
    page.screenshot(path=str(ARTIFACTS / "labels-1600.png"))


def test_search_for_a_historical_name_flies_there(served, page):
    url, _ = served
    page.goto(url)
    map_frame(page)
    box = page.get_by_role("textbox", name="Search")
    box.fill("Wilno")
    box.press("Enter")

    def near_vilnius() -> bool:
        try:
            frame = map_frame(page, timeout_s=5)
            lat, lon = frame.evaluate(
                "() => [window.map.getCenter().lat, window.map.getCenter().lng]")
        except Exception:  # the frame is being replaced
            return False
        return GEOD.inv(lon, lat, VILNIUS[1], VILNIUS[0])[2] < 20_000

    _wait(near_vilnius)
    picked = page.get_by_role("combobox", name="Found")
    assert picked.input_value() == "Vilnius (LTU, populated place)"
    # the city whole (zoom 10: some 40 km across), the place itself marked
    frame = map_frame(page)
    assert frame.evaluate("() => window.map.getZoom()") == 10
    marks = frame.evaluate("""() => { const found = [];
        window.map.eachLayer(l => { if (l instanceof L.CircleMarker
            && l.options.className === "fw-found") { found.push([l.getLatLng().lat,
                                                               l.getLatLng().lng]); } });
        return found; }""")
    assert marks
    assert all(GEOD.inv(lon, lat, VILNIUS[1], VILNIUS[0])[2] < 100 for lat, lon in marks)


def _settled(page):
    """The map's frame once the page's script runs are over (the first value the map
    sends back runs the script once more)."""
    runs_over(page)
    return map_frame(page)


def test_drawing_a_rectangle_keeps_the_incidents_inside_it(served, page):
    url, store = served
    page.goto(url)
    frame = _settled(page)
    before = shown_count(page)
    frame.locator(".leaflet-draw-draw-rectangle").click()
    box = iframe_of(page, frame).bounding_box()
    origin = frame.evaluate("""() => { const r = window.map.getContainer().getBoundingClientRect();
                                       return [r.left, r.top]; }""")
    corners = [(53.8, 22.8), (56.2, 27.0)]  # most of Lithuania
    points = [frame.evaluate("([lat, lon]) => { const p = window.map.latLngToContainerPoint("
                             "[lat, lon]); return [p.x, p.y]; }", [lat, lon])
              for lat, lon in corners]
    at = [(box["x"] + origin[0] + x, box["y"] + origin[1] + y) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    page.mouse.move((at[0][0] + at[1][0]) / 2, (at[0][1] + at[1][1]) / 2, steps=5)
    page.mouse.move(*at[1], steps=5)
    page.mouse.up()
    stored = store.incidents()
    (lat0, lon0), (lat1, lon1) = corners
    inside = stored["lat"].between(lat0 - 0.05, lat1 + 0.05) & stored["lon"].between(
        lon0 - 0.05, lon1 + 0.05)
    inside &= stored["location_precision"] != "region"  # a region's point is in no area
    assert 0 < inside.sum() < before
    _wait(lambda: shown_count(page) == inside.sum())
    _wait(lambda: "area=" in _address(page))
    page.screenshot(path=str(ARTIFACTS / "area-drawn.png"))


def test_a_table_row_selects_its_incident_on_the_map(served, page):
    url, store = served
    page.goto(url)
    _settled(page)
    grid = page.get_by_test_id("stDataFrame").first
    open_tab(page, "Incidents", grid)
    grid.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    box = grid.bounding_box()
    row_px = 35  # the grid's header and rows
    # a click on a cell of the first row (its title, not the row's small box) picks it
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + row_px + row_px / 2)
    newest = store.incidents(newest=1).iloc[0]
    page.locator(".fw-facts").wait_for(timeout=30_000)
    assert newest["id"] in page.locator(".fw-facts").inner_text()
    settled(page)
    assert abs(grid.bounding_box()["y"] - box["y"]) < 2  # the details did not push it down
    page.screenshot(path=str(ARTIFACTS / "table-row-selected.png"))

    def highlighted() -> bool:
        try:
            frame = map_frame(page, timeout_s=5)
            return frame.evaluate("""([lat, lon]) => {
                let ring = null;
                window.map.eachLayer(l => { if (l instanceof L.CircleMarker
                    && l.options.color === "#00bcd4") { ring = l.getLatLng(); } });
                const c = window.map.getCenter();
                return !!ring && Math.abs(ring.lat - lat) < 1e-4 && Math.abs(ring.lng - lon) < 1e-4
                    && Math.abs(c.lat - lat) < 0.05 && Math.abs(c.lng - lon) < 0.05; }""",
                [float(newest["lat"]), float(newest["lon"])])
        except Exception:  # the frame is being replaced
            return False

    _wait(highlighted)


def test_the_sidebar_is_the_one_layer_control(served, page):
    """The map has no layer control of its own; a layer switched off in the sidebar goes
    from the map, the legend and the address."""
    url, _ = served
    page.goto(url)
    frame = _settled(page)
    assert frame.locator(".leaflet-control-layers").count() == 0
    assert "defence line" in frame.locator(".fw-legend").text_content()
    page.get_by_role("button", name="Remove Defence lines").click()  # the multiselect's tag
    _wait(lambda: "layers=" in _address(page))
    assert "defense_lines" not in _address(page).split("layers=")[1].split("&")[0]
    frame = _settled(page)
    assert "defence line" not in frame.locator(".fw-legend").text_content()


def test_a_narrow_window_still_opens_an_incident_on_click(served, browser):
    from tests.browser import click_incident

    url, store = served
    context = browser.new_context(viewport={"width": 800, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{url}/?view=54.95,24.13,10")
        frame = _settled(page)
        target = store.incident("ltu-2025-07-28-gerbera")
        click_incident(page, frame, float(target["lat"]), float(target["lon"]))
        page.locator(".fw-facts").wait_for(timeout=30_000)
        assert "ltu-2025-07-28-gerbera" in page.locator(".fw-facts").inner_text()
        page.screenshot(path=str(ARTIFACTS / "narrow-800.png"))
    finally:
        context.close()


def test_incidents_known_only_by_their_country_show_as_one_counted_badge(served, page):
    """Poland's two region-only seed records share the point standing for Poland: one
    badge beside it says two, not one dot under the deployment markers."""
    url, store = served
    stored = store.incidents()
    region = stored[stored["location_precision"] == "region"]
    spots = region.groupby([region["lat"].round(4), region["lon"].round(4)]).size()
    (lat, lon), count = next((k, v) for k, v in spots.items() if v > 1)
    page.goto(f"{url}/?view={lat},{lon},7")
    frame = _settled(page)
    badges = frame.evaluate("""() => window.fwIncidents.markers().filter(m => m.fwMembers)
        .map(m => [m.getLatLng().lat, m.getLatLng().lng, m.fwMembers.length,
                   m.getElement().querySelector('.fw-region-badge').title])""")
    here = [b for b in badges if abs(b[0] - lat) < 1e-3 and abs(b[1] - lon) < 1e-3]
    assert len(here) == 1
    assert here[0][2] == count
    assert here[0][3].startswith(f"{count} incidents known only by their region")


def test_a_measurement_outlives_a_filter_change(served, page):
    """A finished measurement (the measure tool's own event) is drawn again, with its
    length, on the map rebuilt after a filter change."""
    url, _ = served
    page.goto(url)
    frame = _settled(page)
    frame.evaluate("""() => { window.map.fire("measurefinish", {
        points: [L.latLng(54.68, 25.28), L.latLng(54.9, 23.9)],
        lengthDisplay: "92.3 Kilometers"}); }""")
    page.get_by_test_id("stSelectbox").filter(has_text="Period").click()
    page.get_by_role("option", name="2025", exact=True).click()

    def redrawn() -> bool:
        try:
            frame = map_frame(page, timeout_s=5)
            return "92.3 Kilometers" in frame.locator(".fw-measure-label").all_text_contents()
        except Exception:  # the frame is being replaced
            return False

    _wait(redrawn)


def test_a_custom_period_starts_at_the_data_and_takes_typed_dates(served, page):
    """"custom" shows the data's first and last day; an ISO date typed into a field
    applies on Tab (leaving it) or on Enter, each in its own field; a month typed into
    "To" is its last day."""
    url, store = served
    page.goto(url)
    _settled(page)
    low, high = store.date_range()
    page.get_by_test_id("stSelectbox").filter(has_text="Period").click()
    page.get_by_role("option", name="custom", exact=True).click()
    first = page.get_by_label("From", exact=True)
    last = page.get_by_label("To", exact=True)
    first.wait_for(timeout=30_000)
    _wait(lambda: first.input_value() == f"{low:%Y-%m-%d}")
    assert last.input_value() == f"{high:%Y-%m-%d}"
    assert shown_count(page) == len(store.incidents())
    first.fill("2025-09-01")  # (fill focuses the field, as a click would)
    page.keyboard.press("Tab")
    _wait(lambda: "start=2025-09-01" in _address(page))
    last.fill("2025-09")
    page.keyboard.press("Enter")
    _wait(lambda: "end=2025-09-30" in _address(page))
    assert first.input_value() == "2025-09-01"
    september = store.incidents(IncidentFilter(start=dt.date(2025, 9, 1),
                                               end=dt.date(2025, 9, 30)))
    _wait(lambda: shown_count(page) == len(september))
