"""Map building: local assets only, escaped text, compact incidents, honest legend."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import shapely

from dashboard import display
from dashboard.maps import (
    POPUP_LIMIT,
    TYPE_COLOURS,
    MapOptions,
    asset_links,
    build_map,
    incident_arrays,
    incident_payload,
    incident_popup,
    legend_entries,
    publish,
)
from dashboard.text import safe_url
from dashboard.vendor import OWN_DIR, OWN_SCRIPTS, PACKAGES, _verify, bundle_url, vendor_file
from geo.schema import CONFIDENCES, INCIDENT_TYPES
from geo.settings import GEOD


def incidents(n: int = 3, **overrides) -> pd.DataFrame:
    frame = pd.DataFrame({
        "id": [f"i{k}" for k in range(n)], "lat": 54.5, "lon": 24.0 + 0.01 * pd.RangeIndex(n),
        "type": "drone", "confidence": "reported", "location_precision": "exact",
        "date": pd.Timestamp("2025-07-28", tz="UTC"), "date_end": pd.NaT,
        "date_precision": "day", "title": "t", "description": "d", "sources": "",
        "location_label": "x", "country_name": "Lithuania", "dist_belarus_km": 10.0,
        "dist_kaliningrad_km": 200.0})
    for column, value in overrides.items():
        frame[column] = value
    return frame


def test_the_page_loads_nothing_from_other_hosts():
    m = build_map(incidents(), options=MapOptions(basemap="offline")).map
    links = asset_links(m)
    assert links
    assert all(link.startswith(("/app/static/", "/fw/data/")) for link in links)  # this server
    html = m.get_root().render()
    assert not re.findall(r'(?:src|href)="https?://', html)
    assert "cdn." not in html
    assert "unpkg" not in html


def test_the_map_scripts_are_valid_javascript():
    """``node --check`` parses each of the map's own scripts (``make test`` installs
    Node.js)."""
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "Node.js is needed (make test installs it)"
    for script in OWN_SCRIPTS:
        done = subprocess.run([node, "--check", str(script)], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"


def test_the_page_loads_the_map_scripts_in_order():
    """The bundle ends with the map's own scripts, each under its name, in load order:
    the namespace first, the others after it."""
    assert OWN_SCRIPTS[0].name == "core.js"
    # every script of the folder is bundled (a new module left out would never load)
    assert {p.name for p in OWN_SCRIPTS} == {p.name for p in OWN_DIR.glob("*.js")}
    bundle = vendor_file(bundle_url()).read_text(encoding="utf-8")
    marks = [bundle.find(f"/* flankwatch: dashboard/web/{p.name} */") for p in OWN_SCRIPTS]
    assert all(bundle.count(f"/* flankwatch: dashboard/web/{p.name} */") == 1
               for p in OWN_SCRIPTS)
    assert marks == sorted(marks)  # in load order
    assert marks[0] > bundle.find("/* leaflet/dist/leaflet.js */") >= 0  # after Leaflet
    for script in OWN_SCRIPTS:  # each whole, after its mark
        assert script.read_text(encoding="utf-8") in bundle


def test_online_tiles_only_when_asked_for():
    offline = build_map(incidents()).map.get_root().render()
    online = build_map(incidents(), options=MapOptions(basemap="osm")).map.get_root().render()
    assert "tile.openstreetmap.org" not in offline
    assert "tile.openstreetmap.org" in online


@pytest.mark.parametrize("hostile", ["<img src=x onerror=alert(1)>", "${alert(1)}",
                                     "</script><script>alert(1)</script>", "\"'><b>x</b>"])
def test_text_from_data_is_escaped_everywhere(hostile):
    data = incidents(1, title=hostile, description=hostile, location_label=hostile)
    popup = incident_popup(data.iloc[0].to_dict(), {})
    assert "<img" not in popup
    assert "<script" not in popup
    assert "<b>x" not in popup
    html = build_map(data, options=MapOptions(inline_reference=True)).map.get_root().render()
    assert "fw-popup" in html  # the popups are in this page, so the checks below bite
    assert "<img src=x" not in html
    assert "</script><script>alert" not in html


def test_only_http_links_become_links():
    assert safe_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//example.org", "ftp://x", ""):
        assert safe_url(bad) is None
    popup = incident_popup(incidents(1, sources="S1;S2").iloc[0].to_dict(),
                           {"S1": ("Good", "https://example.org"),
                            "S2": ("Bad", "javascript:alert(1)")})
    assert '<a href="https://example.org"' in popup
    assert "javascript:" not in popup.split("Bad")[0].rsplit("Good", 1)[-1]
    assert popup.count("<a ") == 1


def test_a_records_popup_names_its_event_escaped():
    row = incidents(1).iloc[0].to_dict() | {"event": "pol-<b>night</b>"}
    popup = incident_popup(row, {})
    assert "Event: pol-&lt;b&gt;night&lt;/b&gt;" in popup
    assert "Event:" not in incident_popup(incidents(1).iloc[0].to_dict(), {})


def test_many_incidents_are_sent_as_compact_arrays():
    big = incidents(POPUP_LIMIT + 1, type="balloon", confidence="disputed",
                    location_precision="region")
    payload = incident_payload(big, {})
    assert payload["popups"] is None
    assert payload["n"] == len(big)
    raw = incident_arrays(big, t0_hours=payload["t0_hours"])
    n = len(big)
    assert len(raw) == 13 * n  # bytes per incident on the wire
    lat = np.frombuffer(raw, "<f4", n, 0)
    lon = np.frombuffer(raw, "<f4", n, 4 * n)
    code = np.frombuffer(raw, np.uint8, n, 12 * n)
    # positions survive to within a metre
    _, _, err_m = GEOD.inv(lon, lat, big["lon"].to_numpy(), big["lat"].to_numpy())
    assert err_m.max() < 1.0
    assert payload["colours"][code[0] & 7] == TYPE_COLOURS["balloon"]
    assert (code[0] >> 3) & 3 == CONFIDENCES.index("disputed")
    assert code[0] >> 5 == 1
    small = incident_payload(incidents(5), {})
    assert len(small["popups"]) == 5


def test_incident_times_cover_their_period():
    """Start hours and period lengths as the time control reads them."""
    frame = incidents(4, date=pd.to_datetime(["2025-09-10", "2025-09-10T02:30Z", "2025-09-01",
                                              "2025-09-09"], utc=True, format="ISO8601"),
                      date_end=pd.to_datetime([None, None, None, "2025-09-10"], utc=True),
                      date_precision=["day", "day", "month", "day"])
    payload = incident_payload(frame, {})
    raw = incident_arrays(frame, t0_hours=payload["t0_hours"])
    when = np.frombuffer(raw, "<u4", 4, 8 * 4)
    start, hours = when & (2**22 - 1), when >> 22
    t0 = pd.Timestamp(payload["t0_hours"] * 3600, unit="s", tz="UTC")
    assert t0 == pd.Timestamp("2025-09-01", tz="UTC")  # the earliest start
    assert list(start) == [9 * 24, 9 * 24 + 2, 0, 8 * 24]
    # a day without a time is the whole day; a time of day an instant; a range of days
    # runs to the end of its last day (hours coded exactly); a month (September, 30
    # days) is coded in days from 16 on, from code 384
    assert list(hours) == [24, 0, 384 + 30 - 16, 48]


def _run_in_node(tmp_path, harness: str, frame: pd.DataFrame, t0: int, *args: str):
    """What a Node.js ``harness`` prints (JSON) after the map's own scripts, given the
    incidents' arrays file and ``args``."""
    path = tmp_path / "arrays.bin"
    path.write_bytes(incident_arrays(frame, t0_hours=t0))
    script = tmp_path / "harness.js"
    script.write_text(harness, encoding="utf-8")
    node = shutil.which("node") or shutil.which("nodejs")
    done = subprocess.run([node, str(script), str(path), *args, *map(str, OWN_SCRIPTS)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


_NODE_HARNESS = """
global.window = global;
global.L = {Layer: {extend: function () { return function () {}; }}};
const fs = require("fs");
const bytes = fs.readFileSync(process.argv[2]);
const n = Number(process.argv[3]);
process.argv.slice(4).forEach(function (script) { require(script); });
const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
const a = window.Flankwatch.decodeArrays(buffer, n);
const month = window.Flankwatch.shiftTime(Date.UTC(2025, 0, 31, 6), "month", 1);
console.log(JSON.stringify({start: Array.from(a.start), dur: Array.from(a.dur),
                            lat: Array.from(a.lat), code: Array.from(a.code),
                            month: new Date(month).toISOString()}));
"""


def test_the_map_script_reads_the_arrays_as_written(tmp_path):
    """The browser's decoder (run in Node.js) against the server's encoder: positions,
    codes, starts, and period lengths from an instant to thirty years (rounded up to
    their step, cut at 22 years)."""
    starts = ["2025-09-10T02:30Z", "2025-09-10", "2025-09-01", "2025-09-01", "2022-01-01",
              "1990-01-01", "2025-09-10"]
    # a stored end is the period's last day ("2022 – 2025" ends on 2025-12-31)
    ends = [None, None, "2025-09-10", None, "2025-12-31", "2019-12-31", None]
    precision = ["day", "day", "day", "month", "year", "year", None]
    frame = incidents(7, date=pd.to_datetime(starts, utc=True, format="ISO8601"),
                      date_end=pd.to_datetime(ends, utc=True, format="ISO8601"),
                      date_precision=precision, type="balloon", location_precision="region")
    t0 = incident_payload(frame, {})["t0_hours"]
    got = _run_in_node(tmp_path, _NODE_HARNESS, frame, t0, "7")
    start = pd.to_datetime(starts, utc=True, format="ISO8601")
    assert got["start"] == [int((t.value // 3_600_000_000_000) - t0) for t in start]
    true_hours = [0, 24, 10 * 24, 30 * 24, 4 * 8766, 30 * 8766, 24]
    steps = [1, 1, 1, 24, 30 * 24, 30 * 24, 1]  # the coding's step at that length
    for dur, hours, step in zip(got["dur"], true_hours[:5], steps[:5], strict=False):
        assert hours <= dur < hours + step + 24  # years: 365/366 days, rounded up
    assert got["dur"][5] == (400 + 255 * 30) * 24  # cut at 22 years
    assert got["dur"][6] == 24  # no precision: a day
    assert got["lat"] == pytest.approx(list(frame["lat"]), abs=1e-5)
    assert {c & 7 for c in got["code"]} == {INCIDENT_TYPES.index("balloon")}
    assert all(c >> 5 == 1 for c in got["code"])
    # a calendar month from the 31st of January is the 28th of February
    assert got["month"] == "2025-02-28T06:00:00.000Z"


def test_served_page_starts_the_arrays_download_before_the_map_scripts():
    page = build_map(incidents(4))
    m = publish(page)
    links = asset_links(m)
    assert links[0].startswith("/fw/data/incidents-start-")
    starter = (display.SELECTION_DIR / links[0].rsplit("/", 1)[1]).read_text()
    arrays_url = re.search(r'fetch\("([^"]+)"\)', starter)[1]
    assert arrays_url.endswith(".bin")
    assert (display.SELECTION_DIR / arrays_url.rsplit("/", 1)[1]).read_bytes() == incident_arrays(
        incidents(4), t0_hours=incident_payload(incidents(4), {})["t0_hours"])
    assert arrays_url in m.get_root().render()  # the map script waits for that download


def test_legend_lists_only_what_is_drawn():
    rows = " ".join(legend_entries(incidents(2), pd.DataFrame(
        columns=["lat", "lon", "status", "kind"]), MapOptions(layers=("incidents",))))
    assert "drone" in rows
    assert "aircraft" not in rows
    assert "Deployments" not in rows
    assert "bands" not in rows


def test_unknown_layers_and_basemaps_are_refused():
    with pytest.raises(ValueError, match="layers"):
        MapOptions(layers=("incidents", "secret"))
    with pytest.raises(ValueError, match="basemap"):
        MapOptions(basemap="google")


def test_distance_bands_sit_at_their_geodesic_distance():
    """Points on a band's outer edge are that far (geodesically) from Belarus."""
    from geo.boundaries import load_boundaries

    blr = load_boundaries().belarus_distance
    for km, ring in display.bands("belarus", (10.0, 50.0, 100.0)):
        outer = max(shapely.get_parts(ring), key=lambda g: g.area).exterior
        pts = shapely.get_coordinates(shapely.segmentize(outer, 0.5))[::25]
        dist_km = blr.query(pts[:, 0], pts[:, 1])[0] / 1000
        assert dist_km.mean() == pytest.approx(km, rel=0.02)
        assert abs(dist_km - km).max() < 0.03 * km + 1.0


def test_a_tampered_package_is_refused():
    with pytest.raises(RuntimeError, match="registry says"):
        _verify(b"not the package", PACKAGES[0].integrity, "leaflet")


def test_display_layers_are_small_and_rounded():
    land = display.reference_layer("land")
    assert len(json.dumps(land)) < 1_500_000
    coords = shapely.get_coordinates(
        shapely.from_geojson(json.dumps(land["features"][0]["geometry"])))
    assert (abs(coords * 1000 - (coords * 1000).round()) < 1e-6).all()


def test_tracks_show_their_border_crossings():
    from dashboard.maps import track_features
    from dashboard.queries import track_crossings

    tracks = pd.DataFrame({"id": ["t<1>"], "type": ["drone"], "times": [
        "2025-07-28T10:00Z;2025-07-28T10:40Z"],
        "geometry": [shapely.LineString([(26.6, 54.1), (25.3, 54.7)])]})
    features = track_features(tracks, track_crossings(tracks))
    tips = [f["properties"]["tip"] for f in features]
    assert tips[0] == "track t&lt;1&gt;"
    assert len(tips) == 2
    assert tips[1].startswith("BLR→LTU at 2025-07-28 10:")


def test_band_layers_are_served_behind_the_gate_and_pruned(tmp_path, monkeypatch):
    """Each set of distance bands a visitor asks for (``?bands=``) is a file: served
    where sign-in guards the map's data, and the least recently used pruned."""
    from dashboard import display
    from dashboard.access import guarded_action

    monkeypatch.setattr(display, "SELECTION_DIR", tmp_path / "served")
    monkeypatch.setattr(display, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(display, "KEEP_BANDS", 2)
    monkeypatch.setattr(display, "KEEP_BAND_CACHES", 2)
    display.reference_payload.cache_clear()
    try:
        for km in (5.0, 7.0, 9.0):
            made = display.reference_payload("bands_kaliningrad", (km,))
            assert guarded_action(made.url, "GET") == "read"
            display.publish([made])
            packed = display.gzipped(tmp_path / "served" / made.name)  # as when served
            assert gzip.decompress(packed.read_bytes()) == made.data
        assert len(list((tmp_path / "served").glob("bands-kaliningrad-*.json"))) == 2
        assert len(list((tmp_path / "served").glob("bands-kaliningrad-*.json.gz"))) == 2
        assert len(list((tmp_path / "cache").glob("bands_kaliningrad-*"))) == 2
    finally:
        display.reference_payload.cache_clear()


_NODE_PLAY_DEFAULTS = """
global.window = global;
global.L = {Layer: {extend: function () { return function () {}; }}};
const fs = require("fs");
const bytes = fs.readFileSync(process.argv[2]);
const n = Number(process.argv[3]), t0 = Number(process.argv[4]) * 3600 * 1000;
process.argv.slice(5).forEach(function (script) { require(script); });
const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
const a = window.Flankwatch.decodeArrays(buffer, n);
let first = Infinity, last = -Infinity;  // the records' period, as the control reads it
for (let i = 0; i < n; i++) {
  if (a.start[i] === 0x3fffff) { continue; }
  first = Math.min(first, a.start[i]);
  last = Math.max(last, a.start[i] + a.dur[i]);
}
const period = {start: t0 + first * 3600e3, end: t0 + last * 3600e3};
const chosen = window.Flankwatch.playDefaults(period);
let t = period.start, steps = 0;
while (t < period.end) { t = window.Flankwatch.shiftTime(t, chosen.step, 1); steps++; }
const days = function (d) { return window.Flankwatch.playDefaults({start: 0, end: d * 864e5}); };
const years = (period.end - period.start) / 3.15576e10;
console.log(JSON.stringify({chosen: chosen, steps: steps, years: years,
                            ten_days: days(10), a_day: days(1), a_decade: days(3652)}));
"""


def test_the_time_control_plays_the_seeds_period_in_about_half_a_minute(tmp_path):
    """The default step and speed (run in Node.js) for the seed records' whole period:
    it plays in 20-40 s (it took 7.5 minutes at a day a step, 4 steps a second); a short
    or a long period too."""
    from geo.store import open_store

    seeds = open_store(tmp_path / "store.gpkg").incidents()
    t0 = incident_payload(seeds, {})["t0_hours"]
    got = _run_in_node(tmp_path, _NODE_PLAY_DEFAULTS, seeds, t0, str(len(seeds)), str(t0))
    assert got["years"] > 3  # the seeds run over years
    assert got["chosen"]["step"] in ("week", "month")
    assert 20 <= got["steps"] / got["chosen"]["speed"] <= 40
    for period in ("ten_days", "a_decade"):
        assert 20 <= got[period]["seconds"] <= 40, (period, got[period])
    assert got["ten_days"]["step"] == "hour"
    assert got["a_day"] == {"step": "hour", "speed": 1, "seconds": 24}


@pytest.mark.parametrize(("layers", "dots"), [(("incidents",), False),
                                              (("incidents", "hex"), True),
                                              (("heat", "incidents"), True)])
def test_over_a_density_layer_the_incidents_are_drawn_as_dots(layers, dots):
    html = build_map(incidents(3), options=MapOptions(layers=layers)).map.get_root().render()
    options = json.loads(re.search(r"Flankwatch\.incidentLayer\([^{]*(\{[^}]*\})", html)[1])
    assert options["dots"] is dots


def test_the_map_opens_fitted_to_the_box_it_is_given():
    html = build_map(incidents(2), options=MapOptions(fit=(21.0, 53.9, 26.8, 56.45))
                     ).map.get_root().render()
    options = json.loads(re.search(r"Flankwatch\.behaviour\([^{]*(\{.*?\})\);", html)[1])
    assert options["fit"] == [[53.9, 21.0], [56.45, 26.8]]  # Leaflet's [[S, W], [N, E]]
    html = build_map(incidents(2)).map.get_root().render()
    assert json.loads(re.search(r"Flankwatch\.behaviour\([^{]*(\{.*?\})\);", html)[1]
                      )["fit"] is None


def test_the_page_script_is_valid_javascript():
    """The dashboard page's own script (not the map's: it is not in the bundle)."""
    from dashboard.app import PAGE_SCRIPT

    node = shutil.which("node") or shutil.which("nodejs")
    done = subprocess.run([node, "--check", str(PAGE_SCRIPT)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
