"""The map in time and density, in a real headless Chromium: the time control, flight
tracks in time, hexagon and heat layers, clusters by type."""

from __future__ import annotations

import datetime as dt
import json
import time

import pandas as pd
import pytest
from dateutil.relativedelta import relativedelta

from dashboard.queries import track_crossings
from geo.records import import_file
from geo.store import open_store
from tests.browser import ARTIFACTS, click_incident, dashboard, map_frame, open_tab, runs_over

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

UTC = dt.UTC

# A cluster of two drones and a balloon near Iași, far from the seed records; dates
# around the night of 9-10 September 2025 with every kind of period.
POINTS = [
    ("pb-drone-1", "2025-09-09", "day", 47.00, 27.60, "drone"),
    ("pb-drone-2", "2025-09-10T01:30Z", "day", 47.02, 27.62, "drone"),
    ("pb-balloon", "2025-09", "month", 47.01, 27.58, "balloon"),
    ("pb-later", "2025-09-10T05:00Z", "day", 53.90, 23.20, "drone"),
    ("pb-august", "2025-08-01", "day", 54.20, 22.80, "aircraft"),
]
# Belarus into Lithuania between 01:00 and 05:00 UTC.
TRACK = {"coords": [[26.6, 54.1], [25.9, 54.4], [25.3, 54.7]],
         "times": ["2025-09-10T01:00Z", "2025-09-10T03:00Z", "2025-09-10T05:00Z"]}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("playback")
    store = open_store(folder / "store.gpkg")
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                 "properties": {"id": ident, "date": date, "date_precision": precision,
                                "type": kind, "confidence": "reported"}}
                for ident, date, precision, lat, lon, kind in POINTS]
    features.append({"type": "Feature",
                     "geometry": {"type": "LineString", "coordinates": TRACK["coords"]},
                     "properties": {"id": "pb-track", "type": "drone",
                                    "times": ";".join(TRACK["times"])}})
    path = folder / "night.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    assert import_file(store, path).written
    with dashboard(store.path) as url:
        yield url, store


def _period(row) -> tuple[dt.datetime, dt.datetime]:
    """A record's period, worked out here from its stored dates (the map has its own)."""
    start = row["date"].to_pydatetime()
    base = start if pd.isna(row["date_end"]) else row["date_end"].to_pydatetime()
    precision = row["date_precision"]
    if precision == "year":
        return start, base + relativedelta(years=1)
    if precision == "month":
        return start, base + relativedelta(months=1)
    if base.hour == base.minute == 0:
        return start, base + dt.timedelta(days=1)
    return start, base


def _expected(store, cursor: dt.datetime, window: dt.timedelta) -> int:
    return sum(1 for _, row in store.incidents().iterrows()
               if _period(row)[0] <= cursor and _period(row)[1] >= cursor - window)


def _legend(frame) -> str:
    """The legend's text as a reader sees it, opened first (it starts folded on a map
    narrower than 1000 px)."""
    if not frame.evaluate("() => document.querySelector('.fw-legend details').open"):
        frame.locator(".fw-legend summary").click()
    return frame.locator(".fw-legend").inner_text()


def _open(page, url: str, query: str):
    page.goto(f"{url}/?{query}")
    frame = map_frame(page)
    frame.wait_for_function("() => !!window.fwPlayback", timeout=30_000)
    return frame


def test_a_link_with_a_cursor_shows_that_window_only(served, page):
    url, store = served
    frame = _open(page, url, "time=2025-09-10T03:00&window=1&step=day")
    expected = _expected(store, dt.datetime(2025, 9, 10, 3, tzinfo=UTC), dt.timedelta(days=1))
    assert expected >= 3  # the day before, the 01:30 drone, the month of September...
    assert frame.evaluate("() => window.fwPlayback.visible()") == expected
    text = frame.locator(".fw-time").inner_text()
    assert "2025-09-10" in text
    assert f"{expected} incidents" in text
    # the clusters and markers hold the window's incidents only
    assert frame.evaluate("() => window.fwIncidents.indexed") == expected


def test_the_time_control_runs_over_the_filters_period_only(served, page):
    """September 2025 with the seeds' "2022 – 2025" records in the selection: the control
    runs from 1 September to the end of the 30th, not from 2022 to 2026."""
    url, _ = served
    frame = _open(page, url, "start=2025-09-01&end=2025-09-30&time=2025-09-10T03:00"
                             "&window=1&step=day")
    period = frame.evaluate("() => window.fwPlayback.period")
    assert period["start"] == dt.datetime(2025, 9, 1, tzinfo=UTC).timestamp() * 1000
    assert period["end"] == dt.datetime(2025, 10, 1, tzinfo=UTC).timestamp() * 1000


def test_play_moves_the_cursor_and_the_page_address_follows(served, page):
    url, _ = served
    frame = _open(page, url, "time=2025-09-01T00:00&window=3&step=day")
    before = frame.evaluate("() => window.fwPlayback.state().cursor")
    frame.locator(".fw-time [data-act=play]").click()
    frame.wait_for_function(f"() => window.fwPlayback.state().cursor > {before} + 86400000",
                            timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "playback-midway.png"))
    frame.locator(".fw-time [data-act=play]").click()  # pause
    state = frame.evaluate("() => window.fwPlayback.state()")
    assert not state["playing"]
    frames = frame.evaluate("() => window.fwPlayback.stats.frames.length")
    assert frames > 3  # drawn frame by frame in the page, no rerun per frame
    cursor = dt.datetime.fromtimestamp(state["cursor"] / 1000, UTC)
    _wait_address(page, f"time={cursor:%Y-%m-%dT%H:%M}")


def _address(page) -> str:
    """The page's address as it is now (``page.url`` is only updated while Playwright
    handles the page's events, which a plain sleep does not)."""
    return page.evaluate("() => location.href").replace("%3A", ":")


def _wait_address(page, part: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while part not in _address(page) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert part in _address(page)


def test_the_server_keeps_the_time_the_map_moved_to(served, page):
    """A step writes the address and tells Streamlit; a later rerun (here: opening a tab)
    keeps the new time instead of writing the old one back."""
    url, _ = served
    frame = _open(page, url, "time=2025-09-10T03:00&window=3&step=day")
    frame.locator(".fw-time [data-act=fwd]").click()
    _wait_address(page, "time=2025-09-11T03:00")
    open_tab(page, "Timeline", page.get_by_text("Incidents per week"))  # a rerun
    runs_over(page)  # that run is over, and it kept the time in the address
    assert "time=2025-09-11T03:00" in _address(page)
    frame.locator(".fw-time .fw-time-toggle").click()  # off: the parameters go
    deadline = time.monotonic() + 10
    while "time=" in _address(page) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "time=" not in _address(page)


def test_clusters_hold_the_window_after_a_step(served, page):
    url, _ = served
    frame = _open(page, url, "time=2025-09-09T12:00&window=1&step=day&view=51.0,25.0,4")
    for _ in range(2):
        frame.locator(".fw-time [data-act=fwd]").click()
        visible = frame.evaluate("() => window.fwPlayback.visible()")
        frame.wait_for_function(f"() => window.fwIncidents.indexed === {visible}",
                                timeout=10_000)
        drawn = frame.evaluate("""() => window.fwIncidents.clusters()
            .reduce((s, c) => s + Object.values(c.counts).reduce((a, b) => a + b, 0), 0)
            + window.fwIncidents.markers()
                .reduce((s, m) => s + (m.fwMembers ? m.fwMembers.length : 1), 0)""")
        assert drawn == visible  # every incident of the window, once, in view


def test_a_track_moves_along_its_times_and_its_crossing_appears_when_it_happens(served, page):
    url, store = served
    crossing = track_crossings(store.records("tracks"))["time"].iloc[0].floor("s").to_pydatetime()
    frame = _open(page, url, "time=2025-09-10T01:30&window=1&step=hour")
    first = frame.evaluate("() => window.fwPlayback.planes()")
    assert len(first) == 1
    lat, lon = first[0]
    # a quarter of the way from the first vertex to the second
    assert lat == pytest.approx(54.1 + 0.25 * 0.3, abs=1e-3)
    assert lon == pytest.approx(26.6 - 0.25 * 0.7, abs=1e-3)
    shown = frame.evaluate("() => window.fwPlayback.crossings()")
    assert shown == (crossing <= dt.datetime(2025, 9, 10, 1, 30, tzinfo=UTC))
    for hour in (2, 3, 4):
        frame.locator(".fw-time [data-act=fwd]").click()
        at = dt.datetime(2025, 9, 10, hour, 30, tzinfo=UTC)
        moved = frame.evaluate("() => window.fwPlayback.planes()")
        assert moved
        assert moved[0] != first[0]
        first = moved
        expected = at - dt.timedelta(hours=1) <= crossing <= at
        assert frame.evaluate("() => window.fwPlayback.crossings()") == int(expected)
    frame.locator(".fw-time [data-act=fwd]").click()  # 05:30: the flight is over
    assert frame.evaluate("() => window.fwPlayback.planes()") == []


def test_a_cluster_shows_what_it_is_made_of(served, page):
    url, _ = served
    frame = _open(page, url, "view=47.0,27.6,7")
    frame.wait_for_function("() => window.fwIncidents.clusters().length > 0", timeout=20_000)
    clusters = frame.evaluate("() => window.fwIncidents.clusters()")
    near = [c for c in clusters if abs(c["lat"] - 47.01) < 0.2 and abs(c["lon"] - 27.6) < 0.2]
    assert [c["counts"] for c in near] == [{"drone": 2, "balloon": 1}]
    ring = frame.locator(".fw-cluster[title^='3 incidents']")
    assert ring.get_attribute("title") == "3 incidents: 2 drone, 1 balloon"
    page.screenshot(path=str(ARTIFACTS / "cluster-composition.png"))


def test_hexagon_counts_add_up_to_the_positioned_incidents_in_view(served, page):
    """Every incident with a position is in a hexagon; one known only by its country is
    in none (its point stands for the country: Poland's would make Łódź a hot spot),
    and the legend says how many were left out."""
    url, store = served
    frame = _open(page, url, "layers=incidents,hex&view=51.0,25.0,4")
    frame.wait_for_function("() => window.fwDensity && window.fwDensity.hex", timeout=20_000)
    hexes = frame.evaluate("() => window.fwDensity.hex")
    incidents = store.incidents()
    region_only = int((incidents["location_precision"] == "region").sum())
    assert region_only >= 3
    assert sum(c["count"] for c in hexes["cells"]) == len(incidents) - region_only
    assert hexes["leftOut"] == region_only
    assert hexes["res"] == 2
    assert 100 < 2 * hexes["edgeKm"] < 600
    legend = _legend(frame)
    assert "incidents per cell" in legend
    assert "km across" in legend
    assert f"{region_only} incidents known only by their country or region not counted" \
        in legend
    # the time control narrows the hexagons too
    frame.evaluate("() => window.fwPlayback.setOn(true)")
    frame.evaluate("() => window.fwPlayback.step(0)")
    visible = frame.evaluate("() => window.fwPlayback.visible()")
    frame.wait_for_function(
        "() => window.fwDensity.hex.cells.reduce((s, c) => s + c.count, 0)"
        f" + window.fwDensity.hex.leftOut === {visible}", timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "hexagons.png"))


def test_heatmap_weighs_every_incident_in_view_without_errors(served, page):
    url, store = served
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    frame = _open(page, url, "layers=incidents,heat&view=47.0,27.6,6")
    frame.wait_for_function("() => window.fwDensity && window.fwDensity.heat", timeout=20_000)
    heat = frame.evaluate("() => window.fwDensity.heat")
    south, west, north, east = frame.evaluate("""() => { const b = window.map.getBounds();
        return [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()]; }""")
    incidents = store.incidents()
    inside = incidents["lat"].between(south, north) & incidents["lon"].between(west, east)
    inside &= incidents["location_precision"] != "region"  # a country's stand-in point
    assert heat["inView"] == inside.sum()  # every positioned incident in view, once
    # the two drones and the balloon, 3 km apart, share a cell of the ~27 km grid or
    # two neighbouring ones: the densest cell holds at least two
    assert heat["max"] >= 2
    assert frame.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert "Heatmap" in _legend(frame)
    assert errors == []


def test_with_the_heatmap_on_a_click_on_an_incident_opens_its_popup(served, page):
    """The heat's canvas lies under the incidents and takes no clicks (it lay over them
    and took every click)."""
    url, _ = served
    frame = _open(page, url, "layers=incidents,heat&view=53.90,23.20,11")
    frame.wait_for_function("() => window.fwDensity && window.fwDensity.heat", timeout=20_000)
    assert frame.evaluate("() => window.fwDensity.heat.max") >= 1  # heat under the dot
    # drawn again after the incidents (as when it is switched off and on): the heat's
    # canvas is added last, and once lay on top of theirs
    frame.evaluate("""() => { const heat = Object.values(window.map._layers)
        .find(l => l instanceof L.HeatLayer); const group = Object.values(window.map._layers)
        .find(l => l.hasLayer && l.hasLayer(heat)); group.removeLayer(heat);
        group.addLayer(heat); }""")
    click_incident(page, frame, 53.90, 23.20)
    popup = frame.locator(".leaflet-popup-content")
    popup.wait_for(timeout=10_000)
    assert "pb-later" in popup.inner_text()


def test_over_hexagons_the_incidents_are_dots_not_clusters(served, page):
    """With a density layer on, no ring hides the density: the incidents are small dots
    (those a few pixels apart one dot), drawn above the hexagons."""
    url, _ = served
    frame = _open(page, url, "layers=incidents,hex&view=47.01,27.6,10")
    frame.wait_for_function("() => window.fwDensity && window.fwDensity.hex", timeout=20_000)
    frame.wait_for_function("() => window.fwIncidents.dots().dots > 0", timeout=20_000)
    assert frame.evaluate("() => window.fwIncidents.clusters()") == []
    assert frame.locator(".fw-cluster:not(.fw-region-badge)").count() == 0
    dots = frame.evaluate("() => window.fwIncidents.dots()")
    assert dots == {"dots": 3, "incidents": 3}  # the two drones and the balloon, 3 km apart
    sizes = frame.evaluate("""() => window.fwIncidents.markers()
        .filter(m => !m.fwMembers).map(m => m.getRadius())""")
    assert sizes
    assert max(sizes) <= 5
    frame.evaluate("() => { window.map.setZoom(7); }")  # there, pixels apart: one dot
    frame.wait_for_function("() => window.fwIncidents.dots().dots === 1", timeout=10_000)
    assert frame.evaluate("() => window.fwIncidents.dots()") == {"dots": 1, "incidents": 3}
    assert frame.evaluate("() => window.fwIncidents.clusters()") == []
    # the dots are in the overlay pane, above the density pane
    panes = frame.evaluate("""() => [getComputedStyle(window.map.getPane('fwDensity')).zIndex,
        getComputedStyle(window.map.getPane('overlayPane')).zIndex].map(Number)""")
    assert panes[0] < panes[1]


def test_the_default_step_and_speed_play_the_period_in_about_half_a_minute(served, page):
    url, _ = served
    frame = _open(page, url, "")
    state = frame.evaluate("() => window.fwPlayback.state()")
    period = frame.evaluate("() => window.fwPlayback.period")
    frame.evaluate("() => window.fwPlayback.setOn(true)")
    seconds = frame.evaluate(f"""() => window.Flankwatch.playDefaults(
        window.fwPlayback.period, {json.dumps(state["step"])}).seconds""")
    assert 20 <= seconds <= 40
    step = json.dumps(state["step"])
    steps = frame.evaluate(f"""() => {{
        let t = {period["start"]}, n = 0;
        while (t < {period["end"]}) {{ t = window.Flankwatch.shiftTime(t, {step}, 1); n++; }}
        return n; }}""")
    assert 20 <= steps / state["speed"] <= 41
    assert frame.locator(".fw-time select[data-opt=speed]").input_value() == str(state["speed"])


def test_on_a_narrow_window_the_time_control_and_the_legend_stay_apart(served, page):
    page.set_viewport_size({"width": 800, "height": 900})
    url, _ = served
    frame = _open(page, url, "layers=incidents,hex")
    frame.locator(".fw-time .fw-time-toggle").click()
    frame.wait_for_function("() => window.fwPlayback.state().on", timeout=10_000)
    _legend(frame)  # opened
    assert frame.evaluate("() => document.querySelector('.fw-legend details').open")
    boxes = frame.evaluate("""() => ['.fw-time', '.fw-legend', '#map_div'].map(s => {
        const r = document.querySelector(s).getBoundingClientRect();
        return [r.left, r.top, r.right, r.bottom]; })""")
    control, legend, whole = boxes
    assert control[2] <= legend[0] or legend[2] <= control[0] or control[3] <= legend[1] \
        or legend[3] <= control[1]
    middle = ((whole[0] + whole[2]) / 2, (whole[1] + whole[3]) / 2)
    for box in (control, legend):
        assert not (box[0] <= middle[0] <= box[2] and box[1] <= middle[1] <= box[3])
    page.screenshot(path=str(ARTIFACTS / "playback-narrow.png"))
