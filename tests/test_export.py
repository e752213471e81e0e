"""Briefing snapshots and exports: page size, legend, scale, vector PDF, bundle, CLI."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
import zlib

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from matplotlib.image import imread
from playwright.sync_api import sync_playwright
from pyproj import Transformer

from dashboard.export import ExportRequest, export, main
from dashboard.snapshot import (
    LAEA_PIPELINE,
    PAGE_SIZES,
    PROJECTION,
    SnapshotOptions,
    legend_labels,
    render_snapshot,
)
from dashboard.state import ViewState
from geo.settings import GEOD
from geo.store import open_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return open_store(tmp_path_factory.mktemp("export") / "store.gpkg")


@pytest.fixture(scope="module")
def seeds(store):
    return store.incidents(), store.records("deployments"), store.records("defense_lines")


def test_png_has_the_page_size_and_is_not_blank(store, tmp_path):
    out = export(store, ExportRequest(size="A4-landscape", dpi=100), tmp_path / "m.png")
    image = imread(out)
    width_in, height_in = PAGE_SIZES["A4-landscape"]
    assert image.shape[:2] == (round(height_in * 100), round(width_in * 100))
    colours = np.unique((image[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50  # land, sea, borders, symbols, text
    assert image[..., :3].std() > 0.05


def test_legend_lists_only_the_visible_layers(seeds):
    incidents, deployments, lines = seeds
    only = render_snapshot(incidents, deployments=deployments, defense_lines=lines,
                           options=SnapshotOptions(layers=("incidents",)))
    labels = legend_labels(only)
    assert "incident: drone" in labels
    assert not [x for x in labels if "deployment" in x or "defence" in x or "border" in x]
    everything = render_snapshot(incidents.head(0), deployments=deployments,
                                 defense_lines=lines, options=SnapshotOptions())
    labels = legend_labels(everything)
    assert "defence line (schematic)" in labels
    assert "deployment: active" in labels
    assert not [x for x in labels if x.startswith("incident:")]  # none to show


def test_scale_bar_is_true_at_the_map_centre(seeds):
    incidents, *_ = seeds
    fig = render_snapshot(incidents, options=SnapshotOptions(bbox=(20.0, 53.0, 27.0, 57.0)))
    ax = fig.axes[0]
    bar = next(a for a in ax.get_lines() if a.get_gid() == "scalebar")
    label = next(t for t in ax.texts if t.get_gid() == "scalebar-label").get_text()
    km = float(re.match(r"([\d.]+) km", label)[1])
    (xa, xb), (ya, yb) = bar.get_xdata(), bar.get_ydata()
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2  # the same bar laid at the map's centre
    back = Transformer.from_crs(PROJECTION, "EPSG:4326", always_xy=True)
    lon_a, lat_a = back.transform(cx, cy)
    lon_b, lat_b = back.transform(cx + (xb - xa), cy + (yb - ya))
    _, _, metres = GEOD.inv(lon_a, lat_a, lon_b, lat_b)
    assert metres / 1000 == pytest.approx(km, rel=0.005)


def test_map_projection_is_epsg_3035():
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(-30, 45, 500), rng.uniform(34, 72, 500)
    ours = Transformer.from_pipeline(LAEA_PIPELINE)
    reference = Transformer.from_crs("EPSG:4326", PROJECTION, always_xy=True)
    x, y = ours.transform(lon, lat)
    rx, ry = reference.transform(lon, lat)
    assert np.abs(x - rx).max() < 0.01  # metres
    assert np.abs(y - ry).max() < 0.01
    back_lon, back_lat = ours.transform(x, y, direction="INVERSE")
    assert np.abs(back_lon - lon).max() < 1e-7  # degrees, about 1 cm
    assert np.abs(back_lat - lat).max() < 1e-7


def test_pdf_is_vector_with_embedded_fonts(store, tmp_path):
    raw = export(store, ExportRequest(), tmp_path / "m.pdf").read_bytes()
    assert b"/FontFile2" in raw  # TrueType fonts embedded
    streams = [zlib.decompress(m) for m in re.findall(rb"stream\r?\n(.*?)\r?\nendstream",
                                                      raw, re.S) if m[:1] == b"x"]
    ops = b"\n".join(streams)
    assert len(re.findall(rb"\s[\d.]+ [\d.]+ l\b", ops)) > 1000  # line-to: drawn paths
    assert b"/Subtype /Image" not in raw  # no raster standing in for the map


def test_svg_is_vector(store, tmp_path):
    text = export(store, ExportRequest(), tmp_path / "m.svg").read_text()
    assert text.count("<path") > 100
    assert "<image" not in text


def test_data_exports_hold_the_filtered_incidents(store, tmp_path):
    view = ViewState(types=("drone",))
    request = ExportRequest(view=view)
    csv = pd.read_csv(export(store, request, tmp_path / "i.csv"), keep_default_na=False)
    assert set(csv["type"]) == {"drone"}
    assert "dist_belarus_km" in csv.columns
    geo = gpd.read_file(export(store, request, tmp_path / "i.geojson"))
    assert len(geo) == len(csv)
    gpkg = gpd.read_file(export(store, request, tmp_path / "i.gpkg"))
    assert sorted(gpkg["id"]) == sorted(csv["id"])


def test_a_geoparquet_export_holds_the_filtered_incidents(store, tmp_path):
    out = tmp_path / "i.parquet"
    assert main(["--types", "drone", "-o", str(out), "--store", str(store.path)]) == 0
    frame = gpd.read_parquet(out)
    assert frame.crs.to_epsg() == 4326
    assert set(frame["type"]) == {"drone"}
    assert (frame.geometry.x == frame["lon"]).all()
    assert json.loads(pq.read_metadata(out).metadata[b"geo"])["version"] == "1.1.0"


def test_an_area_file_keeps_the_incidents_inside_it(store, tmp_path, capsys):
    """``--area FILE.geojson``: the first polygon of a FeatureCollection filters the
    export (as the dashboard's drawn area does); files without a polygon are refused."""
    ring = [[22.0, 53.0], [27.0, 53.0], [27.0, 56.0], [24.5, 56.5], [22.0, 55.5], [22.0, 53.0]]
    area = tmp_path / "area.geojson"
    area.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "not a polygon"},
         "geometry": {"type": "Point", "coordinates": [10, 10]}},
        {"type": "Feature", "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    out = tmp_path / "inside.csv"
    assert main(["--store", str(store.path), "--area", str(area), "-o", str(out)]) == 0
    stored = store.incidents()
    inside = shapely.contains_xy(shapely.Polygon(ring), stored["lon"], stored["lat"])
    inside &= stored["location_precision"] != "region"  # a region's point is in no area
    assert 0 < inside.sum() < len(stored)
    got = pd.read_csv(out, keep_default_na=False)
    assert sorted(got["id"]) == sorted(stored.loc[inside, "id"])
    point = tmp_path / "point.geojson"
    point.write_text('{"type": "Point", "coordinates": [24, 55]}')
    with pytest.raises(SystemExit) as stop:
        main(["--store", str(store.path), "--area", str(point), "-o", str(out)])
    assert stop.value.code == 2
    assert "no Polygon in the file" in capsys.readouterr().err


def test_bundle_manifest_matches_its_files(store, tmp_path):
    view = ViewState(start=pd.Timestamp("2025-07-01").date(),
                     end=pd.Timestamp("2025-09-30").date())
    path = export(store, ExportRequest(view=view, dpi=80), tmp_path / "b.zip")
    with zipfile.ZipFile(path) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        assert set(manifest["files"]) == {"map.png", "incidents.csv", "incidents.geojson"}
        for name, entry in manifest["files"].items():
            assert hashlib.sha256(bundle.read(name)).hexdigest() == entry["sha256"]
        rows = pd.read_csv(bundle.open("incidents.csv"))
    assert manifest["records"] == len(rows)
    assert manifest["filters"]["start"] == "2025-07-01"
    assert manifest["data_version"]["last_import"] >= 1


@pytest.mark.parametrize(("args", "message"), [
    (["--types", "ufo"], "ufo"),
    (["--countries", "Lithuania"], "ISO 3166"),
    (["--bbox", "30,50,20,60"], "west < east"),
    (["--start", "2025-09-30", "--end", "2025-07-01"], "before --start"),
    (["--size", "letter"], "invalid choice"),
    (["--dpi", "5000"], "50-600"),
    (["--layers", "secret"], "secret"),
    (["--near", "moon:5"], "TARGET:KM"),
    (["--title", "x" * 201], "the title has at most 200 characters (201 given)"),
    (["--marking", "SECRET " * 30], "the marking has at most 120 characters"),
])
def test_bad_options_get_a_message_and_a_non_zero_exit(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*args, "-o", str(tmp_path / "x.png")])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_unknown_output_format_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["-o", str(tmp_path / "x.docx")])
    assert ".png" in capsys.readouterr().err


@pytest.mark.e2e
def test_html_export_opens_offline_and_shows_its_layers(store, tmp_path):
    path = export(store, ExportRequest(), tmp_path / "map.html")
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed (make test installs it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context()
        blocked = []
        context.route("**/*", lambda r: (r.continue_() if r.request.url.startswith(
            ("file:", "data:")) else (blocked.append(r.request.url), r.abort())))
        page = context.new_page()
        page.goto(path.as_uri())
        page.wait_for_function("() => window.fwIncidents && window.fwIncidents.total > 0",
                               timeout=30_000)
        total = page.evaluate("() => window.fwIncidents.total")
        layers = page.evaluate("""() => Object.keys(window)
            .filter(k => k.startsWith("reference_layer_") && window[k].getLayers)
            .map(k => window[k].getLayers().length)""")
        canvases = page.locator(".leaflet-pane canvas").count()
        page.screenshot(path=str(tmp_path / "html.png"))
        browser.close()
    assert total == len(store.incidents())
    assert len(layers) >= 5  # land, borders, bands (2), Belarus, Kaliningrad
    assert all(n > 0 for n in layers)  # each drawn from the embedded data
    assert canvases >= 2
    assert blocked == [], blocked


def test_tracks_and_their_crossings_are_drawn_and_listed():
    from dashboard.queries import track_crossings

    tracks = pd.DataFrame({"id": ["t1"], "type": ["drone"], "times": [""],
                           "geometry": [shapely.LineString([(26.6, 54.1), (25.3, 54.7)])]})
    crossings = track_crossings(tracks)
    assert list(crossings["direction"]) == ["BLR→LTU"]
    fig = render_snapshot(pd.DataFrame(columns=["lon", "lat", "type"]), tracks=tracks,
                          crossings=crossings, options=SnapshotOptions(
                              bbox=(24.0, 53.5, 27.5, 55.5), layers=("tracks", "borders")))
    assert legend_labels(fig) == ["land border", "flight track", "border crossing"]


def _manifest(store, tmp_path, *options: str) -> dict:
    out = tmp_path / "frame.zip"
    assert main([*options, "--store", str(store.path), "-o", str(out)]) == 0
    with zipfile.ZipFile(out) as bundle:
        return json.loads(bundle.read("manifest.json"))


def test_a_country_filter_frames_that_country_though_its_records_are_region_only(
        store, tmp_path):
    """September 2025 in Poland: both records are known only by their country; the map
    shows the whole of Poland (Warsaw on it), not the Baltic states it fell back to."""
    manifest = _manifest(store, tmp_path, "--start", "2025-09-01", "--end", "2025-09-30",
                         "--countries", "POL")
    assert manifest["records"] >= 1
    west, south, east, north = manifest["extent_wgs84"]
    shown = shapely.box(west, south, east, north)
    assert shown.contains(shapely.box(14.2, 49.1, 24.1, 54.8))  # Poland
    assert shown.contains(shapely.Point(21.01, 52.23))  # Warsaw
    centre = shapely.Point((west + east) / 2, (south + north) / 2)
    assert shapely.box(14.1, 49.0, 24.2, 54.9).contains(centre)  # centred on Poland


def test_region_only_records_bring_their_airspace_into_the_frame(store, tmp_path):
    """Without a country filter, a selection of region-only records (Estonia and Poland,
    September 2025) is framed on their airspaces."""
    manifest = _manifest(store, tmp_path, "--start", "2025-09-01", "--end", "2025-09-30",
                         "--types", "drone,aircraft")
    west, south, east, north = manifest["extent_wgs84"]
    box = shapely.box(west, south, east, north)
    assert box.contains(shapely.Point(14.2, 49.1))  # Poland's south-west
    assert box.contains(shapely.Point(28.0, 59.6))  # Estonia's north-east
