"""Briefing maps and data exports from the store: ``python -m dashboard.export``.

The format comes from the output's extension:

- ``.png`` ``.pdf`` ``.svg`` — the static briefing map (``dashboard.snapshot``);
- ``.html`` — the interactive map as one file that opens offline;
- ``.csv`` ``.geojson`` ``.gpkg`` ``.parquet`` (GeoParquet 1.1) — the filtered incidents
  with their enriched columns;
- ``.zip`` — a bundle of the map (PNG), the data (CSV and GeoJSON) and ``manifest.json``
  (filters, record count, the map's extent, data version, generation time, SHA-256 of
  every file);
- ``.mp4`` ``.webm`` ``.gif`` — a clip, with ``--animate hour|day|week|month``: one
  briefing map per step of the period, as the map's time control shows it (``--window
  N|all``, ``--fps F``, ``--skip-empty``; ``dashboard.animation``). ``--frames DIR``
  writes the frames as PNGs instead, and a ``.zip`` with ``--animate`` holds the PNG
  frames, the data and a manifest listing each frame's time.

``--pack`` makes a PDF (or the PDF inside a zip) a briefing pack: the map, the incident
table, a timeline and the sources cited. ``--atlas country|week`` makes one map page per
airspace or per week with incidents: pages of one PDF, or numbered PNGs in a zip.

A pack or an atlas of more than ``--max-pages`` pages (default 500) is refused before
anything is drawn, naming its count; while one is made, "page 12/40" lines on stderr tell
how far it is.

The dashboard's download buttons call the same functions with the current view.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import shapely

from dashboard.state import PARAMETER_READERS, TIME_STEPS, ViewState
from dashboard.style import (
    DEFAULT_DPI,
    DEFAULT_LAYERS,
    DEFAULT_SIZE,
    DPI_RANGE,
    LAYER_LABELS,
    PAGE_SIZES,
)
from geo.audit import file_sha256
from geo.errors import FlankwatchError, InputError
from geo.readers import check_output_path
from geo.schema import CONFIDENCES, INCIDENT_TYPES
from geo.settings import DATA_DIR
from geo.store import open_store
from geo.store.base import Store

SNAPSHOT_SUFFIXES = (".png", ".pdf", ".svg")
DATA_SUFFIXES = (".csv", ".geojson", ".gpkg", ".parquet")
CLIP_SUFFIXES = (".mp4", ".webm", ".gif")
SUFFIXES = (*SNAPSHOT_SUFFIXES, ".html", *DATA_SUFFIXES, ".zip", *CLIP_SUFFIXES)


#: The longest title and marking a page prints, characters (a longer one is refused, in
#: the command line and on the page: it would only be cut or overflow the page).
TITLE_MAX = 200
MARKING_MAX = 120
#: The most pages a pack or an atlas has unless the user allows more (``--max-pages``);
#: the dashboard asks before making more than :data:`CONFIRM_PAGES`.
MAX_PAGES = 500
CONFIRM_PAGES = 200

#: Told of each page made: (pages done, pages in all).
Progress = Callable[[int, int], None]


def check_texts(title: str, marking: str) -> None:
    """Refuse a title or marking over its length limit, naming the limit."""
    for what, text, limit in (("title", title, TITLE_MAX), ("marking", marking, MARKING_MAX)):
        if len(text) > limit:
            msg = f"the {what} has at most {limit} characters ({len(text):,} given)"
            raise InputError(msg)


@dataclass(frozen=True)
class ExportRequest:
    """What to export: the view (filters, layers, bands) and the page's furniture."""

    view: ViewState = field(default_factory=ViewState)
    title: str = "Airspace incidents on NATO's eastern flank"
    marking: str = ""
    size: str = DEFAULT_SIZE
    dpi: int = DEFAULT_DPI
    bbox: tuple[float, float, float, float] | None = None
    #: ISO3 codes the map is framed on (when there is no bbox).
    focus: tuple[str, ...] = ()
    #: A briefing pack (map, table, timeline, sources) rather than the map alone.
    pack: bool = False
    #: One map page per "country" or per "week" with incidents.
    atlas: str | None = None
    #: A pack or an atlas with more pages than this is refused (None: no limit).
    max_pages: int | None = MAX_PAGES
    #: A clip (``dashboard.animation.AnimationOptions``): its step, window and speed.
    animation: object | None = None
    generated: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def document(self) -> str:
        """What the pages are, in words ("pack", "atlas by week"); "" for one map."""
        return "pack" if self.pack else f"atlas by {self.atlas}" if self.atlas else ""


def clip_renderer(sel: Selection, request: ExportRequest, suffix: str = ""):
    """The frames of the request's clip over one drawn map (period, frame count and
    content checked first: an empty period or too many frames is refused)."""
    from dashboard.animation import GIF_MAX_WIDTH_PX, ClipRenderer, period_of

    period = period_of(sel.incidents, *sel.period)
    return ClipRenderer(sel.incidents, _map_layers(sel), snapshot_options(sel, request),
                        request.animation, period,
                        max_width_px=GIF_MAX_WIDTH_PX if suffix == ".gif" else None)


def export_frames(store: Store, request: ExportRequest, folder: str | Path, *,
                  progress: Progress | None = None) -> Path:
    """``--frames DIR``: a clip's frames as numbered PNGs and ``frames.json`` in a new
    folder, which appears whole or not at all."""
    from dashboard.animation import check_frame_folder, write_frame_folder

    check_texts(request.title, request.marking)
    check_frame_folder(Path(folder))
    renderer = clip_renderer(select(store, request.view), request)
    try:
        return write_frame_folder(renderer, Path(folder), progress=progress)
    finally:
        renderer.close()


@dataclass
class Selection:
    """The records an export shows."""

    incidents: pd.DataFrame
    deployments: pd.DataFrame
    defense_lines: pd.DataFrame
    tracks: pd.DataFrame
    crossings: pd.DataFrame
    sources: pd.DataFrame
    #: The filter's period (first and last day; None: open), every time axis's span.
    period: tuple[dt.date | None, dt.date | None] = (None, None)
    #: The events the incidents may belong to (their titles and totals).
    events: pd.DataFrame | None = None


def select(store: Store, view: ViewState) -> Selection:
    """Read the incidents of a view and the other layers from the store."""
    from dashboard import queries

    tracks = store.records("tracks")
    return Selection(
        incidents=store.incidents(view.filter),
        deployments=store.records("deployments"),
        defense_lines=store.records("defense_lines"),
        tracks=tracks,
        crossings=queries.track_crossings(tracks),
        sources=store.records("sources"),
        period=(view.start, view.end),
        events=store.records("events"),
    )


def _publications(sel: Selection) -> list[str]:
    ids = {i for s in sel.incidents.get("sources", pd.Series(dtype=str)) for i in
           str(s).split(";") if i}
    known = sel.sources[sel.sources["id"].isin(ids)]
    names = [p or t for p, t in zip(known["publication"], known["title"], strict=True)]
    unknown = sorted(ids - set(known["id"]))  # imported records name publications directly
    return [*names, *unknown][:12]


def snapshot_options(sel: Selection, request: ExportRequest):
    """The printed map's options for a request."""
    from dashboard.snapshot import SnapshotOptions

    view = request.view
    return SnapshotOptions(title=request.title, marking=request.marking, size=request.size,
                           dpi=request.dpi, bbox=request.bbox, focus=request.focus,
                           layers=view.layers, bands_km=view.bands_km,
                           countries=tuple(view.filter.countries or ()),
                           sources=_publications(sel),
                           subtitle=view.filter.describe(),
                           generated=request.generated)


def _map_layers(sel: Selection) -> dict:
    return {"deployments": sel.deployments, "defense_lines": sel.defense_lines,
            "tracks": sel.tracks, "crossings": sel.crossings}


def write_snapshot(sel: Selection, request: ExportRequest, path: Path) -> list[float]:
    """The briefing map as PNG, PDF or SVG; returns its extent (WGS84 box)."""
    from dashboard.snapshot import map_extent_lonlat, render_snapshot, save_figure

    fig = render_snapshot(sel.incidents, options=snapshot_options(sel, request),
                          **_map_layers(sel))
    extent = list(map_extent_lonlat(fig))
    save_figure(fig, path, dpi=request.dpi)
    return extent


def page_count(incidents: pd.DataFrame, request: ExportRequest) -> int:
    """The pages of the request's pack or atlas (0 for one map), counted before any
    page is drawn."""
    from dashboard.briefing import atlas_page_count, pack_page_count

    if request.atlas:
        view = request.view
        return atlas_page_count(incidents, request.atlas, (view.start, view.end))
    return pack_page_count(incidents, request.size) if request.pack else 0


def check_pages(incidents: pd.DataFrame, request: ExportRequest) -> int:
    """The request's page count; refused over ``request.max_pages``, naming both."""
    count = page_count(incidents, request)
    if request.max_pages is not None and count > request.max_pages:
        msg = (f"the {request.document} would have {count:,} pages, more than the limit of "
               f"{request.max_pages:,}; narrow the selection (--start/--end, --countries) "
               "or allow more with --max-pages")
        raise InputError(msg)
    return count


def write_pages_pdf(sel: Selection, request: ExportRequest, path: Path, *,
                    progress: Progress | None = None) -> list[dict]:
    """A pack or an atlas as one PDF; returns the manifest's page entries."""
    from dashboard.briefing import atlas_pages, write_pack, write_pdf

    opts = snapshot_options(sel, request)
    if request.atlas:
        pages = write_pdf(atlas_pages(sel, opts, _map_layers(sel), request.atlas), opts,
                          path, progress=progress)
    else:
        pages = write_pack(sel, opts, _map_layers(sel), path, progress=progress)
    return [_page_entry(n, p) for n, p in enumerate(pages, start=1)]


def write_pages_png(sel: Selection, request: ExportRequest, folder: Path, *,
                    progress: Progress | None = None) -> list[dict]:
    """An atlas as numbered PNGs in ``folder``; returns the manifest's page entries."""
    from dashboard.briefing import atlas_pages, draw_pages
    from dashboard.snapshot import save_figure

    opts = snapshot_options(sel, request)
    pages = atlas_pages(sel, opts, _map_layers(sel), request.atlas)
    entries = []
    for n, (page, fig) in enumerate(draw_pages(pages, opts, progress=progress), start=1):
        name = f"{n:02d}-{_safe_name(page.title)}.png"
        save_figure(fig, folder / name, dpi=request.dpi)
        entries.append({**_page_entry(n, page), "file": name})
    return entries


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)[:40]


def _page_entry(n: int, page) -> dict:
    entry = {"page": n, "kind": page.kind, "title": page.title, "records": page.records}
    if page.extent:
        entry["extent"] = list(page.extent)
    return entry


def write_html(sel: Selection, request: ExportRequest, path: Path) -> None:
    """The interactive map as a single offline HTML file."""
    from dashboard.maps import MapOptions, build_map, standalone_html
    from dashboard.queries import source_titles

    view = request.view
    lat, lon, zoom = view.view
    if request.bbox:
        x0, y0, x1, y1 = request.bbox
        lat, lon = (y0 + y1) / 2, (x0 + x1) / 2
    opts = MapOptions(layers=view.layers, bands_km=view.bands_km, basemap=view.basemap,
                      center=(lat, lon), zoom=int(zoom), sources=source_titles(sel.sources),
                      inline_reference=True, height="100%", time=view.time,
                      period=(view.start, view.end))
    m = build_map(sel.incidents, deployments=sel.deployments,
                  defense_lines=sel.defense_lines, tracks=sel.tracks,
                  crossings=sel.crossings, options=opts).map
    if request.bbox:
        m.fit_bounds([[request.bbox[1], request.bbox[0]], [request.bbox[3], request.bbox[2]]])
    path.write_text(standalone_html(m), encoding="utf-8")


def write_data(sel: Selection, path: Path) -> None:
    """The filtered incidents (every stored column; dates as ISO 8601 text)."""
    from geo.readers import write_table

    frame = sel.incidents.copy()
    for column in ("date", "date_end"):
        frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("")
    write_table(frame, path)


def data_version(store: Store) -> dict:
    """What the export was made from: the store's last import and the reference data."""
    last_import, _ = store.version()
    provenance = DATA_DIR / "provenance.json"
    name = store.path.name if store.path else str(store)
    return {"store": name, "last_import": last_import,
            "reference_data_sha256": file_sha256(provenance) if provenance.exists() else None}


def write_bundle(store: Store, sel: Selection, request: ExportRequest, path: Path, *,
                 progress: Progress | None = None, clip=None) -> None:
    """A zip of the map (or the pack's PDF, or the atlas's PNGs), the data and a manifest
    with the map's extent, the pages and each file's SHA-256."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        extent, pages, frames = None, None, None
        if clip is not None:
            from dashboard.animation import write_frames

            frames = write_frames(clip, folder, progress=progress)
            extent = list(map_extent_of(clip.fig))
        elif request.atlas:
            pages = write_pages_png(sel, request, folder, progress=progress)
        elif request.pack:
            pages = write_pages_pdf(sel, request, folder / "pack.pdf", progress=progress)
            extent = pages[0].get("extent")
        else:
            extent = write_snapshot(sel, request, folder / "map.png")
        write_data(sel, folder / "incidents.csv")
        write_data(sel, folder / "incidents.geojson")
        parts = sorted(folder.iterdir())
        manifest = {
            "generated": request.generated.isoformat(timespec="seconds"),
            "title": request.title,
            "filters": request.view.filter.to_dict(),
            "layers": list(request.view.layers),
            "bbox": list(request.bbox) if request.bbox else None,
            "focus": list(request.focus) or None,
            "extent_wgs84": extent,
            "pages": pages,
            **({"frames": frames, "animation": {
                "step": request.animation.step, "window": request.animation.window or "all",
                "fps": request.animation.fps}} if frames is not None else {}),
            "records": len(sel.incidents),
            "data_version": data_version(store),
            "files": {p.name: {"sha256": file_sha256(p), "bytes": p.stat().st_size}
                      for p in parts},
        }
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for p in parts:
                bundle.write(p, p.name)
            bundle.writestr("manifest.json", json.dumps(manifest, indent=2))


def map_extent_of(fig) -> tuple[float, ...]:
    """A drawn map's extent as a WGS84 box."""
    from dashboard.snapshot import map_extent_lonlat

    return map_extent_lonlat(fig)


def _check_clip(request: ExportRequest, path: Path, suffix: str) -> None:
    if request.animation is None:
        if suffix in CLIP_SUFFIXES:
            msg = f"{path}: a clip needs --animate hour|day|week|month"
            raise InputError(msg)
        return
    if suffix not in (*CLIP_SUFFIXES, ".zip"):
        msg = (f"{path}: unknown clip format {suffix!r}; --animate writes "
               f"{', '.join(CLIP_SUFFIXES)}, a .zip of PNG frames, or --frames DIR")
        raise InputError(msg)
    if request.pack or request.atlas:
        msg = "--animate makes a clip, not a pack or an atlas; choose one"
        raise InputError(msg)
    if suffix in CLIP_SUFFIXES:
        from dashboard.animation import ffmpeg_path

        ffmpeg_path()


def export(store: Store, request: ExportRequest, path: str | Path, *,
           progress: Progress | None = None) -> Path:
    """Write one export; the format comes from the extension (see module docstring).
    The file appears whole or not at all: it is written beside its place and renamed.
    A pack or an atlas over ``request.max_pages`` is refused before it is drawn;
    ``progress(done, total)`` is told of each of its pages."""
    path = Path(path)
    suffix = path.suffix.lower()
    _check_clip(request, path, suffix)
    if suffix not in SUFFIXES:
        msg = f"{path}: unknown format {suffix!r}; expected one of {', '.join(SUFFIXES)}"
        raise InputError(msg)
    if (request.pack or request.atlas) and suffix not in (".pdf", ".zip"):
        what = "--pack" if request.pack else "--atlas"
        msg = f"{path}: {what} writes a .pdf or a .zip, not {suffix!r}"
        raise InputError(msg)
    if request.atlas and suffix == ".zip" and request.pack:
        msg = "--pack and --atlas are different documents; choose one"
        raise InputError(msg)
    check_texts(request.title, request.marking)
    sel = select(store, request.view)
    if (request.pack or request.atlas) and suffix in (".pdf", ".zip"):
        check_pages(sel.incidents, request)
    clip = clip_renderer(sel, request, suffix) if request.animation else None
    # a fresh name beside the output (same file system, so the rename is atomic),
    # created by the writer with the usual permissions
    partial = path.with_name(f".{path.stem}-{uuid.uuid4().hex[:12]}.part{suffix}")
    try:
        if clip is not None and suffix in CLIP_SUFFIXES:
            from dashboard.animation import write_clip

            write_clip(clip, partial, progress=progress)
        elif clip is not None:
            write_bundle(store, sel, request, partial, progress=progress, clip=clip)
        else:
            _write(store, sel, request, partial, suffix, progress)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        if clip is not None:
            clip.close()
    return path


def _write(store: Store, sel: Selection, request: ExportRequest, path: Path,
           suffix: str, progress: Progress | None) -> None:
    if suffix == ".pdf" and (request.pack or request.atlas):
        write_pages_pdf(sel, request, path, progress=progress)
    elif suffix in SNAPSHOT_SUFFIXES:
        write_snapshot(sel, request, path)
    elif suffix == ".html":
        write_html(sel, request, path)
    elif suffix in DATA_SUFFIXES:
        write_data(sel, path)
    else:
        write_bundle(store, sel, request, path, progress=progress)


def export_bytes(store: Store, request: ExportRequest, suffix: str, *,
                 progress: Progress | None = None) -> bytes:
    """An export's bytes (for download buttons)."""
    with tempfile.TemporaryDirectory() as folder:
        return export(store, request, Path(folder) / f"export{suffix}",
                      progress=progress).read_bytes()


class PageProgress:
    """Writes "page 12/40" to a stream: on a terminal every page, over itself; else a
    line for the first and the last page and at most one every ``every_s`` seconds
    (``noun``: "frame" for a clip)."""

    def __init__(self, stream, *, every_s: float = 2.0, noun: str = "page") -> None:
        self.stream, self.every_s, self.noun = stream, every_s, noun
        self.terminal = stream.isatty()
        self._last = -float("inf")

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.terminal:
            end = "\n" if done == total else ""
            print(f"\r{self.noun} {done}/{total}", end=end, file=self.stream, flush=True)
        elif done in (1, total) or now - self._last >= self.every_s:
            print(f"{self.noun} {done}/{total}", file=self.stream, flush=True)
        else:
            return
        self._last = now


# --- command line -----------------------------------------------------------------------

def _option(key: str):
    """The dashboard's reader of URL parameter ``key`` as an argparse type: the same
    rules and messages, and an empty list is refused."""
    reader = PARAMETER_READERS[key]

    def read(text: str):
        try:
            value = reader(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
        if value == ():
            msg = f"{text!r}: give at least one value"
            raise argparse.ArgumentTypeError(msg)
        return value
    return read


def _polygons(geometry):
    """The polygons in a geometry, collections and multi-polygons opened."""
    if geometry is None or geometry.is_empty:
        return
    if geometry.geom_type == "Polygon":
        yield geometry
    elif geometry.geom_type in ("MultiPolygon", "GeometryCollection"):
        for part in shapely.get_parts(geometry):
            yield from _polygons(part)


def _area_file(text: str) -> tuple[tuple[float, float], ...]:
    """The outline of the first polygon in a GeoJSON file, checked as the dashboard's
    ``area=`` parameter is."""
    from dashboard.state import encode_area

    try:
        raw = Path(text).read_text(encoding="utf-8")
        geometry = shapely.from_geojson(raw)
    except (OSError, UnicodeDecodeError, shapely.errors.GEOSException) as exc:
        msg = f"--area {text!r}: not a readable GeoJSON file ({exc})"
        raise argparse.ArgumentTypeError(msg) from exc
    polygons = list(_polygons(geometry))
    if not polygons:
        msg = f"--area {text!r}: no Polygon in the file"
        raise argparse.ArgumentTypeError(msg)
    ring = shapely.get_coordinates(polygons[0].exterior)
    try:
        return PARAMETER_READERS["area"](encode_area([tuple(c) for c in ring]))
    except ValueError as exc:
        msg = f"--area {text!r}: {exc}"
        raise argparse.ArgumentTypeError(msg) from exc


def _focus(text: str) -> tuple[str, ...]:
    """ISO3 codes of airspaces with reference data, checked now (not after the store
    is read)."""
    from dashboard.display import airspace_outlines

    codes = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    known = airspace_outlines()
    unknown = [c for c in codes if c not in known]
    if not codes or unknown:
        msg = (f"{text!r}: unknown airspace code(s) {', '.join(unknown) or '(none given)'};"
               " give ISO3 codes such as LTU, POL, LVA, EST")
        raise argparse.ArgumentTypeError(msg)
    return codes


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"{text!r}: give a whole number of at least 1"
        raise argparse.ArgumentTypeError(msg)
    return value


def _window(text: str) -> int | str:
    if text.strip().lower() == "all":
        return "all"
    try:
        return _positive(text)
    except argparse.ArgumentTypeError as exc:
        msg = f"{text!r}: give a number of steps (at least 1) or 'all'"
        raise argparse.ArgumentTypeError(msg) from exc


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    p = argparse.ArgumentParser(prog="python -m dashboard.export",
                                description=__doc__.replace("``", ""),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--start", type=_option("start"), help="first day, YYYY-MM-DD")
    p.add_argument("--end", type=_option("end"), help="last day, YYYY-MM-DD")
    p.add_argument("--types", type=_option("types"),
                   help=f"comma-separated, of {', '.join(INCIDENT_TYPES)}")
    p.add_argument("--countries", type=_option("countries"),
                   help="airspace, ISO3 codes, e.g. LTU,POL")
    p.add_argument("--confidence", type=_option("confidence"),
                   help=f"comma-separated, of {', '.join(CONFIDENCES)}")
    p.add_argument("--near", type=_option("near"), help="e.g. belarus:50 (within 50 km)")
    p.add_argument("--bbox", type=_option("bbox"),
                   help="west,south,east,north in degrees: the map's extent")
    p.add_argument("--area", type=_area_file, metavar="FILE.geojson",
                   help="only incidents inside this polygon (the first Polygon of a "
                        "GeoJSON file; the dashboard's drawn area)")
    p.add_argument("--focus", type=_focus, metavar="ISO3[,ISO3]",
                   help="frame the map on these airspaces, e.g. LTU or LTU,LVA")
    p.add_argument("--pack", action="store_true",
                   help="a briefing pack: map, incident table, timeline, sources (.pdf/.zip)")
    p.add_argument("--atlas", choices=["country", "week"],
                   help="one map page per airspace or per week with incidents (.pdf/.zip)")
    p.add_argument("--max-pages", type=_positive, default=MAX_PAGES, metavar="N",
                   help=f"refuse a pack or an atlas of more than N pages (default "
                        f"{MAX_PAGES})")
    p.add_argument("--layers", type=_option("layers"),
                   help=f"comma-separated, of {', '.join(LAYER_LABELS)}")
    p.add_argument("--title", default=ExportRequest.title)
    p.add_argument("--marking", default="", help='e.g. "UNCLASSIFIED // FOR TRAINING"')
    p.add_argument("--size", choices=list(PAGE_SIZES),
                   help=f"page (default {DEFAULT_SIZE}; slide-16x9 for a clip)")
    p.add_argument("--dpi", type=int,
                   help="PNG resolution ({}-{}; default {}, 144 for a clip: 1920x1080)"
                        .format(*DPI_RANGE, DEFAULT_DPI))
    p.add_argument("--animate", choices=list(TIME_STEPS),
                   help="a clip (.mp4, .webm, .gif, or a .zip / --frames DIR of PNGs): "
                        "one briefing map per step of the period")
    p.add_argument("--window", type=_window, metavar="N|all",
                   help="with --animate: steps an incident stays, fading (default 7); "
                        "all: cumulative")
    p.add_argument("--fps", type=_positive, metavar="F",
                   help="with --animate: frames a second (default 4)")
    p.add_argument("--skip-empty", action="store_true",
                   help="with --animate: leave out frames with nothing on the map")
    p.add_argument("--frames", type=Path, metavar="DIR",
                   help="with --animate: write the frames as PNGs in this new folder "
                        "(for video editors) instead of -o")
    p.add_argument("--store", help="store file or postgresql:// URL (default: "
                                   "$FLANKWATCH_STORE, else var/store.gpkg)")
    p.add_argument("-o", "--output", type=Path,
                   help=f"output file: {', '.join(SUFFIXES)}")
    return p


def _animation(args):
    """The clip's options from the command line (None without --animate); a clip option
    without --animate, or a clip that cannot be written, is refused in one line."""
    from dashboard.animation import DEFAULT_FPS, DEFAULT_WINDOW, FPS_RANGE, AnimationOptions

    extra = [name for name, given in (("--window", args.window is not None),
                                      ("--fps", args.fps is not None),
                                      ("--skip-empty", args.skip_empty),
                                      ("--frames", args.frames is not None)) if given]
    if not args.animate:
        if extra:
            msg = f"{', '.join(extra)} only go with --animate hour|day|week|month"
            raise InputError(msg)
        return None
    if args.frames is not None and args.output is not None:
        msg = "give -o FILE or --frames DIR, not both"
        raise InputError(msg)
    fps = DEFAULT_FPS if args.fps is None else args.fps
    if not FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
        msg = "--fps must be within {}-{} ({} given)".format(*FPS_RANGE, fps)
        raise InputError(msg)
    window = DEFAULT_WINDOW if args.window is None else args.window
    return AnimationOptions(step=args.animate, window=None if window == "all" else window,
                            fps=fps, skip_empty=args.skip_empty)


def _check_clip_output(args, animation) -> None:
    if animation is None or args.output is None:
        return
    path = args.output
    request = ExportRequest(animation=animation, pack=args.pack, atlas=args.atlas)
    _check_clip(request, path, path.suffix.lower())


def _page_defaults(args, animation) -> None:
    """A clip is a 16:9 slide, 1080 pixels high, unless the page is chosen."""
    if args.size is None:
        args.size = DEFAULT_SIZE if animation is None else "slide-16x9"
    if args.dpi is None:
        from dashboard.animation import default_dpi

        args.dpi = DEFAULT_DPI if animation is None else default_dpi(args.size)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.start and args.end and args.end < args.start:
        parser.error("--end is before --start")
    try:
        animation = _animation(args)
        _check_clip_output(args, animation)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output is None and args.frames is None:
        parser.error("give the output file: -o FILE")
    _page_defaults(args, animation)
    if not DPI_RANGE[0] <= args.dpi <= DPI_RANGE[1]:
        parser.error("--dpi must be within {}-{}".format(*DPI_RANGE))
    try:
        check_texts(args.title, args.marking)
    except InputError as exc:
        parser.error(str(exc))
    try:
        if args.output is not None:
            check_output_path(args.output, suffixes=SUFFIXES, what="-o")
    except InputError as exc:
        parser.error(str(exc))
    maps = (*SNAPSHOT_SUFFIXES, ".zip", *CLIP_SUFFIXES)
    if args.bbox and (args.frames or args.output.suffix.lower() in maps):
        from dashboard.snapshot import outside_land

        if (why := outside_land(args.bbox)) is not None:
            parser.error(f"--bbox {why}")
    view = ViewState(start=args.start, end=args.end, types=args.types,
                     countries=args.countries, confidence=args.confidence, near=args.near,
                     layers=args.layers or DEFAULT_LAYERS, area=args.area)
    bbox = args.bbox
    if bbox is None and args.area:  # framed on the area
        bbox = tuple(float(v) for v in shapely.Polygon(args.area).bounds)
    request = ExportRequest(view=view, title=args.title, marking=args.marking,
                            size=args.size, dpi=args.dpi, bbox=bbox, focus=args.focus or (),
                            pack=args.pack, atlas=args.atlas, max_pages=args.max_pages,
                            animation=animation)
    noun = "page" if animation is None else "frame"
    try:
        if args.frames is not None:
            out = export_frames(open_store(args.store), request, args.frames,
                                progress=PageProgress(sys.stderr, noun=noun))
        else:
            out = export(open_store(args.store), request, args.output,
                         progress=PageProgress(sys.stderr, noun=noun))
    except (FlankwatchError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line, never a traceback
        logging.getLogger("dashboard").debug("internal error", exc_info=True)
        print(f"error: internal error ({type(exc).__name__}: {exc}); please report it",
              file=sys.stderr)
        return 3
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
