"""Briefing maps a general would sign off: framing, labels that never overprint, land
past the coverage, pages that lay out; briefing packs and atlases (``--pack``,
``--atlas``) checked through their PDF text and zip manifests."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import matplotlib
import matplotlib.dates
import matplotlib.pyplot
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.image import imread
from pypdf import PdfReader

from dashboard.display import airspace_outlines
from dashboard.export import ExportRequest, main, select
from dashboard.snapshot import (
    LAND_COLOUR,
    SnapshotOptions,
    map_axes,
    map_extent_lonlat,
    positioned,
    render_snapshot,
)
from dashboard.state import ViewState
from dashboard.style import PAGE_SIZES
from geo.settings import COVERAGE_BBOX
from geo.store import open_store

MARKING = "UNCLASSIFIED // FOR TRAINING"


@pytest.fixture(autouse=True)
def _close_figures():
    """Each test's figures are closed after it (pyplot keeps them open)."""
    yield
    matplotlib.pyplot.close("all")


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return open_store(tmp_path_factory.mktemp("briefing") / "seeds.gpkg")


def _synthetic_csvs(folder: Path, n: int, seed: int = 3) -> tuple[Path, Path]:
    """n incidents over the Baltic states and Poland, each citing one of five sources
    with web addresses."""
    rng = np.random.default_rng(seed)
    incidents = pd.DataFrame({
        "id": [f"syn-{i:04d}" for i in range(n)],
        "date": (pd.Timestamp("2025-03-01") + pd.to_timedelta(rng.integers(0, 120, n), "D")
                 ).strftime("%Y-%m-%d"),
        "type": rng.choice(["drone", "aircraft", "balloon"], n),
        "lat": rng.uniform(53.8, 58.5, n).round(4),
        "lon": rng.uniform(21.5, 27.5, n).round(4),
        "confidence": "reported",
        "title": [f"Test incident number {i}" for i in range(n)],
        "sources": [f"SYN{i % 5}" for i in range(n)],
    })
    sources = pd.DataFrame({
        "id": [f"SYN{k}" for k in range(5)],
        "publication": "Test wire",
        "title": [f"Report {k} on airspace violations" for k in range(5)],
        "url": [f"https://example.org/reports/{k}/airspace-violation-{k}" for k in range(5)],
    })
    paths = folder / "incidents.csv", folder / "sources.csv"
    incidents.to_csv(paths[0], index=False)
    sources.to_csv(paths[1], index=False)
    return paths


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    _synthetic_csvs(folder, 150)  # the store's first records, as seeds are
    return open_store(folder / "store.gpkg", seeds_dir=folder)


def _render(store, request: ExportRequest):
    sel = select(store, request.view)
    from dashboard.export import _map_layers, snapshot_options

    return sel, render_snapshot(sel.incidents, options=snapshot_options(sel, request),
                                **_map_layers(sel))


def _inside(extent, lon, lat) -> np.ndarray:
    west, south, east, north = extent
    return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


# --- framing -------------------------------------------------------------------------

def test_default_extent_holds_the_incidents_and_the_airspaces_of_region_only_ones(seeds):
    """The default frame: every positioned incident and the airspace of every record
    known only by its country (Romania's among them: the map marks them there), and
    not much more."""
    sel, fig = _render(seeds, ExportRequest())
    extent = map_extent_lonlat(fig)
    placed = positioned(sel.incidents)
    assert 0 < len(placed) < len(sel.incidents)
    assert _inside(extent, placed["lon"], placed["lat"]).all()
    codes = set(sel.incidents.loc[~sel.incidents.index.isin(placed.index), "country_iso3"])
    assert "ROU" in codes
    needed = shapely.union_all([shapely.clip_by_rect(airspace_outlines()[c][1],
                                                     *COVERAGE_BBOX) for c in codes])
    shown = shapely.box(*extent)
    assert shown.buffer(1e-3).contains(shapely.box(*needed.bounds))
    # no more than those, a margin and the page's shape: on one side (the page's shape
    # widens the other) under 1.8 times what they span
    west, south, east, north = shapely.union(needed, shapely.MultiPoint(
        placed[["lon", "lat"]].to_numpy())).bounds
    assert min((extent[2] - extent[0]) / (east - west),
               (extent[3] - extent[1]) / (north - south)) < 1.8


def test_focus_frames_the_airspace(seeds, tmp_path):
    out = tmp_path / "ltu.zip"
    assert main(["--store", str(seeds.path), "--focus", "LTU", "--dpi", "60",
                 "-o", str(out)]) == 0
    extent = json.loads(zipfile.ZipFile(out).read("manifest.json"))["extent_wgs84"]
    west, south, east, north = airspace_outlines()["LTU"][1].bounds
    assert extent[0] <= west
    assert extent[1] <= south
    assert extent[2] >= east
    assert extent[3] >= north
    # framed on Lithuania: it fills the frame's height or width (less the page's shape)
    assert max((east - west) / (extent[2] - extent[0]),
               (north - south) / (extent[3] - extent[1])) > 0.7


def test_land_past_the_coverage_is_drawn_as_land(seeds, tmp_path):
    request = ExportRequest(bbox=(30.0, 50.0, 62.0, 62.0), dpi=60,
                            view=ViewState(layers=("borders",)))
    _, fig = _render(seeds, request)
    ax = map_axes(fig)
    path = tmp_path / "east.png"
    fig.savefig(path, dpi=60)
    image = imread(path)[..., :3]
    height = image.shape[0]
    land = np.array(matplotlib.colors.to_rgb(LAND_COLOUR))
    from dashboard.snapshot import _TO_MAP

    # farmland and forest east of 45° E, away from towns (whose markers are drawn)
    for lon, lat in ((47.0, 57.5), (53.0, 56.4), (58.0, 60.2), (46.5, 52.5)):
        x, y = ax.transData.transform(_TO_MAP.transform(lon, lat))
        patch = image[int(height - y) - 1:int(height - y) + 2, int(x) - 1:int(x) + 2]
        assert np.abs(np.median(patch.reshape(-1, 3), axis=0) - land).max() < 0.03, (lon, lat)


# --- labels --------------------------------------------------------------------------

def _symbol_boxes(fig) -> np.ndarray:
    ax = map_axes(fig)
    boxes = []
    for collection in ax.collections:
        if collection.get_gid() != "incidents":
            continue
        centres = ax.transData.transform(collection.get_offsets())
        radius = np.sqrt(collection.get_sizes()[0]) / 2 * fig.dpi / 72
        boxes.append(np.column_stack([centres - radius, centres + radius]))
    return np.vstack(boxes)


def _label_boxes(fig) -> list[np.ndarray]:
    """The labels' text boxes (an annotation's own extent includes its leader line)."""
    renderer = fig.canvas.get_renderer()
    return [np.array(matplotlib.text.Text.get_window_extent(t, renderer).extents)
            for t in map_axes(fig).texts if str(t.get_gid()).startswith("label")]


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


@pytest.mark.parametrize("size", ["A4-landscape", "A4-portrait", "slide-16x9"])
@pytest.mark.parametrize("count", [8, 40])
def test_labels_overlap_neither_each_other_nor_an_incident(synthetic, size, count):
    view = ViewState(layers=("borders", "bands_belarus", "belarus", "kaliningrad",
                             "incidents"))
    sel = select(synthetic, view)
    incidents = sel.incidents.sort_values("id").head(count)
    fig = render_snapshot(incidents, options=SnapshotOptions(size=size, dpi=100,
                                                             layers=view.layers))
    fig.canvas.draw()
    labels = _label_boxes(fig)
    kinds = {t.get_gid() for t in map_axes(fig).texts}
    assert {"label-incident", "label-country", "label-town"} <= kinds
    symbols = _symbol_boxes(fig)
    assert len(symbols) == count
    for i, box in enumerate(labels):
        assert not any(_overlaps(box, other) for other in labels[i + 1:])
        assert not any(_overlaps(box, symbol) for symbol in symbols)
    incident_labels = [t for t in map_axes(fig).texts if t.get_gid() == "label-incident"]
    for label in incident_labels:  # leader lines cross no other incident
        if label.arrow_patch is None:
            continue
        own = map_axes(fig).transData.transform(label.xy)
        line = label.arrow_patch.get_path().interpolated(30).vertices
        line = line[np.hypot(*(line - own).T) > 3.8 * 1.5 * fig.dpi / 72 + 2]
        for x0, y0, x1, y1 in symbols:
            if abs((x0 + x1) / 2 - own[0]) < 0.5 and abs((y0 + y1) / 2 - own[1]) < 0.5:
                continue  # its own symbol
            assert not ((line[:, 0] > x0) & (line[:, 0] < x1) & (line[:, 1] > y0)
                        & (line[:, 1] < y1)).any(), label.get_text()
    if count <= 12:  # titles beside the symbols
        assert all(t.get_text().startswith("Test incident") for t in incident_labels)
    else:  # numbers on the map, titles in the key
        key = [t.get_text() for t in fig.findobj(matplotlib.text.Text)
               if t.get_gid() == "key-line"]
        assert len(key) == count
        numbers = sorted(int(t.get_text()) for t in incident_labels)
        assert numbers == list(range(1, len(numbers) + 1))
        assert len(numbers) >= count * 0.9


def _texts_off_the_edge_mm(fig) -> list[tuple[str, float]]:
    """Every visible text of a page (with its box, as a marking banner's) nearer than
    8 mm to the page's edge, and how near (mm)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    mm = fig.dpi / 25.4
    near = []
    for text in fig.findobj(matplotlib.text.Text):
        if not text.get_text() or not text.get_visible():
            continue
        extent = text.get_window_extent(renderer)
        if text.get_bbox_patch() is not None:
            extent = matplotlib.transforms.Bbox.union(
                [extent, text.get_bbox_patch().get_window_extent(renderer)])
        x0, y0, x1, y1 = extent.extents
        gap = min(x0, y0, width - x1, height - y1) / mm
        if gap < 8 - 0.1:
            near.append((text.get_text(), round(gap, 1)))
    return near


@pytest.mark.parametrize("size", list(PAGE_SIZES))
def test_every_text_keeps_8_mm_inside_the_page(seeds, size):
    """Marking banners, title, page number, legend, footer: none nearer than 8 mm to
    the edge, on the map page and on the timeline page of every page size."""
    from dashboard.briefing import _number, _timeline_page
    from dashboard.export import snapshot_options

    request = ExportRequest(size=size, dpi=60, marking=MARKING,
                            title="Drone and balloon incursions over the Baltic states "
                                  "and Poland since 2022, as reported")
    sel, fig = _render(seeds, request)
    opts = snapshot_options(sel, request)
    _number(fig, 12, 1927, opts)
    assert _texts_off_the_edge_mm(fig) == []
    assert {t.get_gid() for t in fig.texts} >= {"marking", "title", "footer", "page-number"}
    timeline = _timeline_page(opts, sel.incidents)
    _number(timeline, 3, 12, opts)
    assert _texts_off_the_edge_mm(timeline) == []


@pytest.mark.parametrize("size", list(PAGE_SIZES))
def test_every_page_size_lays_out_inside_the_page(seeds, size):
    request = ExportRequest(size=size, dpi=60, marking=MARKING,
                            title="Drone and balloon incursions over the Baltic states "
                                  "and Poland since 2022, as reported")
    _, fig = _render(seeds, request)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    locator = next(a for a in fig.axes if a.get_gid() == "locator")
    box = next(p for p in locator.patches if p.get_gid() == "locator-box")
    inner = locator.get_window_extent(renderer)
    drawn = box.get_window_extent(renderer)
    assert inner.x0 <= drawn.x0
    assert drawn.x1 <= inner.x1 + 1
    assert inner.y0 <= drawn.y0
    assert drawn.y1 <= inner.y1 + 1
    map_box = map_axes(fig).get_window_extent(renderer)
    for ax in fig.axes:  # legend, key, colour bar and locator all off the map
        if ax.get_gid() != "map":
            other = ax.get_window_extent(renderer)
            assert not _overlaps(np.array(map_box.extents) + np.array([1, 1, -1, -1]),
                                 np.array(other.extents)), ax.get_gid()


def test_the_scale_bar_sits_on_an_opaque_box_over_every_line(seeds):
    """Lithuania: the Belarus border runs through the bottom right corner, where the
    scale bar is; the bar and its text lie on a white box drawn over every line."""
    _, fig = _render(seeds, ExportRequest(focus=("LTU",), dpi=60))
    ax = map_axes(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = next(p for p in ax.patches if p.get_gid() == "scalebar-box")
    assert matplotlib.colors.to_rgba(box.get_facecolor()) == (1.0, 1.0, 1.0, 1.0)
    lines = [c for c in ax.collections if isinstance(c, matplotlib.collections.LineCollection)
             or (c.get_gid() or "").startswith("region")]
    assert lines
    assert box.get_zorder() > max(c.get_zorder() for c in ax.collections)
    drawn = box.get_window_extent(renderer)
    bar = next(line for line in ax.get_lines() if line.get_gid() == "scalebar")
    label = next(t for t in ax.texts if t.get_gid() == "scalebar-label")
    for part in (bar, label):
        assert part.get_zorder() > box.get_zorder()
        inner = part.get_window_extent(renderer)
        assert drawn.x0 <= inner.x0
        assert inner.x1 <= drawn.x1
        assert drawn.y0 <= inner.y0
        assert inner.y1 <= drawn.y1


def test_distance_bands_are_drawn_as_the_legend_shows_and_labelled_on_land():
    """Poland with the exclave wholly in view: each Kaliningrad band has its dashed
    line (the legend's sign: a light fill and a dashed line), and its label sits on
    the line over land, not out in the Baltic."""
    from dashboard.display import land
    from dashboard.snapshot import _TO_LONLAT, BAND_COLOURS

    layers = ("bands_kaliningrad", "kaliningrad", "borders")
    fig = render_snapshot(pd.DataFrame(columns=["id", "lat", "lon", "type"]),
                          options=SnapshotOptions(bbox=(13.5, 48.5, 25.0, 57.0), dpi=60,
                                                  layers=layers))
    ax = map_axes(fig)
    blue = matplotlib.colors.to_rgba(BAND_COLOURS["kaliningrad"])
    dashed = [c for c in ax.collections
              if isinstance(c, matplotlib.collections.LineCollection)
              and np.allclose(c.get_colors()[0], blue)]
    assert sum(len(c.get_segments()) for c in dashed) >= 3  # 10, 50 and 100 km
    assert all(c.get_linestyle()[0][1] is not None for c in dashed)
    legend = next(a for a in fig.axes if a.get_gid() == "panel").get_legend()
    entry = next(h for h, t in zip(legend.legend_handles, legend.get_texts(), strict=True)
                 if "Kaliningrad" in t.get_text() and "km" in t.get_text())
    assert entry is not None
    labels = [t for t in ax.texts if t.get_gid() == "label-band"]
    assert {t.get_text() for t in labels} == {"10 km", "50 km", "100 km"}
    land_parts = land()
    for label in labels:
        lon, lat = _TO_LONLAT.transform(*label.xy)
        assert any(shapely.contains_xy(p, lon, lat) for p in land_parts), label.get_text()


def test_deployment_letters_never_overprint_each_other():
    """Thirty deployments crowded around one base: each letter drawn stays clear of
    every other, and most of them are drawn."""
    rng = np.random.default_rng(4)
    n = 30
    deployments = pd.DataFrame({
        "lon": 23.9 + rng.normal(0, 0.05, n), "lat": 54.9 + rng.normal(0, 0.03, n),
        "status": rng.choice(["active", "planned", "exercise"], n),
        "kind": rng.choice(["air_defence", "ground_forces", "training"], n)})
    fig = render_snapshot(pd.DataFrame(columns=["id", "lat", "lon", "type"]),
                          deployments=deployments,
                          options=SnapshotOptions(bbox=(21.0, 53.8, 26.9, 56.4), dpi=80,
                                                  layers=("deployments", "borders")))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    letters = [np.array(matplotlib.text.Text.get_window_extent(t, renderer).extents)
               for t in map_axes(fig).texts if t.get_gid() == "deployment-letter"]
    assert len(letters) >= n * 0.6
    for i, box in enumerate(letters):
        assert not any(_overlaps(box, other) for other in letters[i + 1:])


def test_the_locator_draws_the_land_to_its_frame():
    """The inset's land is cut to its own frame: every corner of the inset over land
    (Russia east of 50° E among them) is drawn as land, not cut along a meridian."""
    from matplotlib.path import Path as MplPath

    from dashboard.display import context_land, land
    from dashboard.snapshot import _TO_LONLAT

    fig = render_snapshot(pd.DataFrame(columns=["id", "lat", "lon", "type"]),
                          options=SnapshotOptions(bbox=(20.0, 53.0, 27.0, 57.0), dpi=60))
    locator = next(a for a in fig.axes if a.get_gid() == "locator")
    drawn = next(c for c in locator.collections  # the land: the inset's one fill
                 if isinstance(c, matplotlib.collections.PathCollection))
    path = drawn.get_paths()[0]
    (x0, x1), (y0, y1) = locator.get_xlim(), locator.get_ylim()
    checked = 0
    for fx, fy in ((0.02, 0.02), (0.98, 0.02), (0.02, 0.98), (0.98, 0.98), (0.98, 0.6),
                   (0.98, 0.3)):
        x, y = x0 + (x1 - x0) * fx, y0 + (y1 - y0) * fy
        lon, lat = _TO_LONLAT.transform(x, y)
        if any(shapely.contains_xy(p, lon, lat) for p in [*land(), context_land()]):
            checked += 1
            assert path.contains_point((x, y)) or MplPath(
                path.vertices[::-1], path.codes).contains_point((x, y)), (lon, lat)
    assert checked >= 2


def test_dense_maps_have_a_colour_scale():
    rng = np.random.default_rng(9)
    incidents = pd.DataFrame({"id": [f"d{i}" for i in range(6000)],
                              "lat": rng.uniform(54, 57, 6000), "lon": rng.uniform(22, 27, 6000),
                              "type": "drone", "confidence": "reported",
                              "location_precision": "exact"})
    fig = render_snapshot(incidents, options=SnapshotOptions(dpi=60))
    bar = next(a for a in fig.axes if a.get_gid() == "colorbar")
    assert "incidents per hexagon" in bar.get_xlabel()
    assert "km across" in bar.get_xlabel()


# --- packs and atlases ---------------------------------------------------------------

def _pages_text(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def test_pack_has_map_table_timeline_and_sources(synthetic, tmp_path):
    out = tmp_path / "brief.pdf"
    assert main(["--store", str(synthetic.path), "--pack", "--marking", MARKING,
                 "-o", str(out)]) == 0
    pages = _pages_text(out)
    total = len(pages)
    sel = select(synthetic, ViewState())
    tables = [i for i, t in enumerate(pages) if "Incidents of the selection" in t]
    assert tables[0] == 1
    assert len(tables) >= 2
    assert all("Confidence" in pages[i] and "Airspace" in pages[i] for i in tables)
    table_text = "".join(pages[i] for i in tables)
    assert all(ident in table_text for ident in sel.incidents["id"])
    assert "Timeline" in pages[tables[-1] + 1]
    sources = "".join(pages[tables[-1] + 2:]).replace("\n", "")
    for k in range(5):
        assert f"https://example.org/reports/{k}/airspace-violation-{k}" in sources
    for n, text in enumerate(pages, start=1):
        assert MARKING in text, n
        assert f"{n} / {total}" in text, n
    raw = out.read_bytes()
    assert b"/FontFile2" in raw
    assert b"/Subtype /Image" not in raw


def test_pack_zip_manifest_lists_its_pages_and_the_extent(seeds, tmp_path):
    out = tmp_path / "brief.zip"
    assert main(["--store", str(seeds.path), "--pack", "-o", str(out)]) == 0
    with zipfile.ZipFile(out) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        pages = PdfReader(io.BytesIO(bundle.read("pack.pdf"))).pages
    assert [p["page"] for p in manifest["pages"]] == list(range(1, len(pages) + 1))
    assert [p["kind"] for p in manifest["pages"]][:2] == ["map", "table"]
    assert manifest["extent_wgs84"] == manifest["pages"][0]["extent"]


@pytest.mark.slow
def test_atlas_has_a_page_per_airspace_framed_on_its_incidents(synthetic, tmp_path):
    out = tmp_path / "atlas.zip"
    assert main(["--store", str(synthetic.path), "--atlas", "country", "--dpi", "50",
                 "-o", str(out)]) == 0
    sel = select(synthetic, ViewState())
    codes = sel.incidents["country_iso3"].replace("", pd.NA).dropna()
    with zipfile.ZipFile(out) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        names = set(bundle.namelist())
    assert [p["title"] for p in manifest["pages"]] == list(codes.value_counts().index)
    for page in manifest["pages"]:
        assert page["file"] in names
        mine = sel.incidents[sel.incidents["country_iso3"] == page["title"]]
        assert page["records"] == len(mine)
        assert _inside(page["extent"], mine["lon"], mine["lat"]).all()
    pdf = tmp_path / "atlas.pdf"
    assert main(["--store", str(synthetic.path), "--atlas", "week", "--dpi", "50",
                 "-o", str(pdf)]) == 0
    weeks = pd.to_datetime(sel.incidents["date"]).dt.strftime("%G-W%V").nunique()
    assert len(PdfReader(pdf).pages) == weeks


@pytest.mark.parametrize(("args", "message"), [
    (["--focus", "XXX"], "XXX"),
    (["--area", "/nonexistent/area.geojson"], "not a readable GeoJSON"),
    (["--atlas", "country", "--countries", "FIN"], "nothing to show"),
    (["--pack"], "writes a .pdf or a .zip"),
    (["--bbox", "100,40,140,60"], "reaches past the land the briefing map draws"),
])
def test_bad_briefing_options_leave_no_file(seeds, tmp_path, capsys, args, message):
    out = tmp_path / ("x.png" if "--pack" in args else "x.pdf")
    try:
        status = main(["--store", str(seeds.path), *args, "-o", str(out)])
    except SystemExit as stop:
        status = stop.code
    assert status == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nor a partial file beside it


def test_time_axes_are_the_filters_period_and_long_records_never_widen_them(seeds):
    """Poland, September 2025: the "2022 – 2025" record belongs to the selection, but
    the week atlas starts in September 2025's first week (not 2021-W52), the timeline
    spans September only, and the table shows the record's whole period."""
    from dashboard.briefing import _timeline_page, atlas_groups, table_rows

    view = ViewState.from_query({"start": "2025-09-01", "end": "2025-09-30",
                                 "countries": "POL"})
    sel = select(seeds, view)
    assert "pol-similar-incidents" in set(sel.incidents["id"])
    weeks = [key for key, _, _ in atlas_groups(sel.incidents, "week", sel.period)]
    assert weeks == ["2025-W36"]
    rows = table_rows(sel.incidents)
    assert "2022 – 2025" in set(rows["date_text"])
    fig = _timeline_page(SnapshotOptions(), sel.incidents, sel.period)
    axis = next(a for a in fig.axes if a.get_gid() == "timeline")
    low, high = (matplotlib.dates.num2date(x).date() for x in axis.get_xlim())
    assert dt.date(2025, 8, 25) <= low <= dt.date(2025, 9, 1)
    assert dt.date(2025, 9, 30) <= high <= dt.date(2025, 10, 6)
    note = next(t for t in axis.texts if t.get_gid() == "timeline-note").get_text()
    assert "1 ongoing since 2022" in note


# --- page limits and progress --------------------------------------------------------

def test_a_pack_over_max_pages_is_refused_before_drawing_naming_its_count(
        synthetic, tmp_path, capsys):
    """150 incidents make a pack of a few pages: counted before drawing, the count is
    the PDF's; over --max-pages it is refused with the count and the limit, exit 2,
    and no file; under it, "page n/N" lines tell the progress."""
    from dashboard.export import page_count

    sel = select(synthetic, ViewState())
    expected = page_count(sel.incidents, ExportRequest(pack=True))
    assert expected > 3
    out = tmp_path / "pack.pdf"
    assert main(["--store", str(synthetic.path), "--pack", "--max-pages", "3",
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"would have {expected} pages" in err
    assert "limit of 3" in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    assert main(["--store", str(synthetic.path), "--pack", "-o", str(out)]) == 0
    assert len(PdfReader(out).pages) == expected
    err = capsys.readouterr().err
    assert f"page 1/{expected}" in err
    assert f"page {expected}/{expected}" in err


def test_an_atlas_over_max_pages_is_refused_like_a_pack(synthetic, tmp_path, capsys):
    from dashboard.briefing import atlas_groups
    from dashboard.export import page_count

    incidents = select(synthetic, ViewState()).incidents
    for by in ("country", "week"):  # counted without drawing, as many as it would draw
        pages = sum(1 for _ in atlas_groups(incidents, by))
        assert page_count(incidents, ExportRequest(atlas=by)) == pages
    weeks = sum(1 for _ in atlas_groups(incidents, "week"))
    out = tmp_path / "atlas.pdf"
    assert main(["--store", str(synthetic.path), "--atlas", "week", "--max-pages", "2",
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"atlas by week would have {weeks} pages" in err
    assert "limit of 2" in err
    assert list(tmp_path.iterdir()) == []


# --- atlas pages of an airspace ------------------------------------------------------

VILNIUS_DISTRICTS = ("Naujoji Vilnia", "Pašilaičiai", "Fabijoniškės", "Šeškinė",
                     "Justiniškės", "Antakalnis", "Karoliniškės", "Naujininkai")


def _town_labels(fig) -> list[str]:
    return [t.get_text() for t in map_axes(fig).texts if t.get_gid() == "label-town"]


def test_an_airspace_page_frames_the_airspace_light_hatch_under_the_data(seeds):
    """The Lithuania page of the atlas by country: framed on Lithuania's airspace (its
    incidents inside it), the hatch of its region-only record light and under every
    line and symbol, and Vilnius named as a town (not as its districts)."""
    from dashboard.briefing import atlas_pages, draw_pages
    from dashboard.export import _map_layers, snapshot_options
    from dashboard.snapshot import REGION_HATCH

    sel = select(seeds, ViewState())
    opts = snapshot_options(sel, ExportRequest(dpi=60))
    pages = atlas_pages(sel, opts, _map_layers(sel), "country")
    ltu = next(p for p in pages if p.title == "LTU")
    page, fig = next(draw_pages([ltu], opts))
    west, south, east, north = airspace_outlines()["LTU"][1].bounds
    extent = page.extent
    assert extent[0] <= west
    assert extent[1] <= south
    assert extent[2] >= east
    assert extent[3] >= north
    assert (extent[2] - extent[0]) < (east - west) * 2.5  # Lithuania, not the flank
    ax = map_axes(fig)
    hatch = next(c for c in ax.collections if c.get_gid() == "region-only")
    assert matplotlib.colors.to_rgba(REGION_HATCH)[3] <= 0.2
    others = [c for c in ax.collections if c is not hatch and c.get_gid() != "region-only"]
    drawn_over = [c for c in others if c.get_zorder() > hatch.get_zorder()]
    assert len(drawn_over) == len(others) - 1  # all but the land under it
    towns = _town_labels(fig)
    assert "Vilnius" in towns
    assert not set(towns) & set(VILNIUS_DISTRICTS)


@pytest.mark.parametrize(("city", "bbox", "districts"), [
    ("Vilnius", (24.95, 54.58, 25.6, 54.82), VILNIUS_DISTRICTS),
    # districts GeoNames added after the feature codes' snapshot: by their reach
    ("Tallinn", (24.4, 59.3, 25.2, 59.55),
     ("Lasnamäe", "Mustamäe", "Haabersti", "Kesklinn", "Põhja-Tallinn", "Kristiine")),
    ("Wrocław", (16.8, 51.0, 17.3, 51.2), ("Śródmieście", "Psie Pole", "Krzyki-Partynice")),
])
def test_town_labels_come_from_towns_not_districts(city, bbox, districts):
    """Zoomed on a city, where GeoNames has a dozen districts of 20,000-115,000 people
    (Vilnius's with feature code PPLX): the map names the city and none of them."""
    fig = render_snapshot(pd.DataFrame(columns=["id", "lat", "lon", "type"]),
                          options=SnapshotOptions(bbox=bbox, dpi=60, layers=("borders",)))
    towns = _town_labels(fig)
    assert city in towns
    assert not set(towns) & set(districts)


def test_a_country_brief_names_its_capital_before_its_other_labels(seeds):
    """Poland, September 2025 (its records known only by the country): the map names
    Warsaw, though the count of Poland's region-only records and the distance bands
    compete for the room around it."""
    from dashboard.export import _map_layers, snapshot_options

    view = ViewState.from_query({"start": "2025-09-01", "end": "2025-09-30",
                                 "countries": "POL"})
    sel = select(seeds, view)
    request = ExportRequest(view=view, dpi=80)
    fig = render_snapshot(sel.incidents, options=snapshot_options(sel, request),
                          **_map_layers(sel))
    assert any(name.startswith("Warsaw") for name in _town_labels(fig))



def test_the_packs_timeline_counts_the_records_by_event(store_with_an_event):
    """A pack of a store with an event: under the timeline, the event's title, how many
    of the selection's records belong to it and the totals its sources give."""
    from dashboard.briefing import _timeline_page

    store = store_with_an_event
    sel = select(store, ViewState.from_query({"start": "2025-09-01", "end": "2025-09-30"}))
    fig = _timeline_page(SnapshotOptions(), sel.incidents, sel.period, sel.events)
    axis = next(a for a in fig.axes if a.get_gid() == "timeline")
    text = next(t for t in axis.texts if t.get_gid() == "timeline-events").get_text()
    assert ("Poland, night of 9–10 September 2025: 2 records here (the event: 19 "
            "violations, 4 shot down)") in text
