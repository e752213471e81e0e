"""Static briefing maps (matplotlib): the dashboard's layers on paper, offline.

A snapshot carries what a print layout needs: title, period and filters, a legend of
what is drawn, a scale bar true at the map's centre, a north arrow, a locator inset,
attribution, the generation time and an optional marking banner. The map is drawn in
the ETRS89 Lambert azimuthal equal-area projection (EPSG:3035), which keeps areas and,
near its centre, distances honest over Europe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely
from adjustText import adjust_text
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath
from pyproj import Transformer

from dashboard import display
from dashboard.style import (
    CONFIDENCE_STROKES,
    DEFAULT_BANDS_KM,
    DEFAULT_DPI,
    DEFAULT_LAYERS,
    DEFAULT_SIZE,
    DPI_RANGE,
    KIND_LETTERS,
    PAGE_SIZES,
    STATUS_COLOURS,
    TYPE_COLOURS,
)
from dashboard.text import describe_area
from geo.schema import DEPLOYMENT_STATUSES, INCIDENT_TYPES
from geo.settings import GEOD

PROJECTION = "EPSG:3035"
#: Above this many incidents in view, points are counted in hexagons instead.
AGGREGATE_ABOVE = 5000
#: At most this many incidents get a text label.
LABELLED_INCIDENTS = 12
#: Towns at least this populous are labelled (the largest in view first).
LABEL_PLACES = 8
ATTRIBUTION = ("Boundaries © OpenStreetMap contributors (ODbL); places: GeoNames "
               "(CC BY 4.0)")
_NICE_KM = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)

#: EPSG:3035 as PROJ defines it (Lambert azimuthal equal-area on GRS80, centre 52° N
#: 10° E). Between WGS84 and ETRS89 PROJ applies no shift at this scale, so a pipeline
#: gives the same coordinates as ``Transformer.from_crs("EPSG:4326", "EPSG:3035")``
#: without its database lookup (0.2 s of every export's start-up).
LAEA_PIPELINE = ("+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
                 "+step +proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 "
                 "+ellps=GRS80")
_LAEA = Transformer.from_pipeline(LAEA_PIPELINE)


class _Inverse:
    """The pipeline run backwards: map metres to longitude/latitude."""

    @staticmethod
    def transform(x, y):
        return _LAEA.transform(x, y, direction="INVERSE")


_TO_MAP = _LAEA
_TO_LONLAT = _Inverse()


@dataclass(frozen=True)
class SnapshotOptions:
    """What the printed map shows and how."""

    title: str = "Airspace incidents on NATO's eastern flank"
    #: Period and filters, shown under the title.
    subtitle: str = ""
    marking: str = ""
    size: str = DEFAULT_SIZE
    dpi: int = DEFAULT_DPI
    #: (min lon, min lat, max lon, max lat); None: the data's bounds with a margin.
    bbox: tuple[float, float, float, float] | None = None
    layers: tuple[str, ...] = DEFAULT_LAYERS
    bands_km: tuple[float, ...] = DEFAULT_BANDS_KM
    #: Publications of the records shown, for the attribution line.
    sources: Sequence[str] = ()
    generated: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __post_init__(self) -> None:
        if self.size not in PAGE_SIZES:
            msg = f"`size` was {self.size!r} but is expected to be in {list(PAGE_SIZES)}"
            raise ValueError(msg)
        low, high = DPI_RANGE
        if not low <= self.dpi <= high:
            msg = f"`dpi` was {self.dpi} but is expected to be within {low}-{high}"
            raise ValueError(msg)
        if self.bbox is not None:
            x0, y0, x1, y1 = self.bbox
            if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
                msg = (f"`bbox` was {self.bbox} but is expected to be min lon, min lat, "
                       "max lon, max lat in degrees, with min < max")
                raise ValueError(msg)


def _project(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(
        _TO_MAP.transform(xy[:, 0], xy[:, 1])))


def data_bbox(incidents: pd.DataFrame, *, margin_deg: float = 1.0,
              ) -> tuple[float, float, float, float]:
    """The incidents' bounds with a margin; the Baltic region when there are none."""
    if incidents.empty:
        return (19.0, 52.5, 29.0, 60.0)
    lon, lat = incidents["lon"], incidents["lat"]
    return (float(lon.min()) - margin_deg, float(lat.min()) - margin_deg * 0.6,
            float(lon.max()) + margin_deg, float(lat.max()) + margin_deg * 0.6)


def _extent(bbox, ax_ratio: float) -> tuple[float, float, float, float]:
    """Projected extent covering the bbox, widened to the axes' shape."""
    outline = _project(shapely.segmentize(shapely.box(*bbox), 0.25))
    x0, y0, x1, y1 = outline.bounds
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    if w / h < ax_ratio:
        w = h * ax_ratio
    else:
        h = w / ax_ratio
    return cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2


def _view_box_lonlat(extent) -> shapely.Geometry:
    x0, x1, y0, y1 = extent
    box = shapely.segmentize(shapely.box(x0, y0, x1, y1), (x1 - x0) / 20)
    return shapely.transform(box, lambda xy: np.column_stack(
        _TO_LONLAT.transform(xy[:, 0], xy[:, 1])))


def _projected(geoms, clip) -> np.ndarray:
    """Geometries cut to the view's bounding rectangle (lon/lat) and projected; the axes
    clip the rest, so a rectangle cut (several times faster than an overlay) suffices."""
    clipped = shapely.clip_by_rect(np.asarray(list(geoms), dtype=object), *clip.bounds)
    return _project(clipped[~shapely.is_empty(clipped)])


def _add_polygons(ax, geoms, clip, **style) -> None:
    """Polygons as one compound path (holes kept), drawn in a single patch."""
    parts = shapely.get_parts(_projected(geoms, clip))
    rings = shapely.get_rings(parts[shapely.get_type_id(parts) == 3])
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    counts = np.bincount(ring_of, minlength=len(rings))
    keep = (counts >= 4)[ring_of]  # a ring needs three corners and its closing vertex
    xy, ring_of = xy[keep], ring_of[keep]
    if len(xy):  # a collection: no per-vertex data-limit update (the extent is set)
        codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
        codes[np.r_[True, ring_of[1:] != ring_of[:-1]]] = MplPath.MOVETO
        codes[np.r_[ring_of[1:] != ring_of[:-1], True]] = MplPath.CLOSEPOLY
        ax.add_collection(PathCollection([MplPath(xy, codes)], **style), autolim=False)


def _add_lines(ax, geoms, clip, **style) -> None:
    parts = shapely.get_parts(_projected(geoms, clip))
    xy, line_of = shapely.get_coordinates(parts[shapely.get_type_id(parts) == 1],
                                          return_index=True)
    if len(xy):
        starts = np.flatnonzero(np.r_[True, line_of[1:] != line_of[:-1]])
        ax.add_collection(LineCollection(np.split(xy, starts[1:]), **style), autolim=False)


def scale_bar_km(extent, centre_lonlat) -> tuple[float, float]:
    """A round length (km) about a fifth of the map's width, and its length in map
    units measured at the map's centre: the projected distance between the centre and
    the point that far due east on the ellipsoid."""
    x0, x1, *_ = extent
    lon, lat = centre_lonlat
    east_lon, east_lat, _ = GEOD.fwd(lon, lat, 90.0, 1000.0)
    xa, ya = _TO_MAP.transform(lon, lat)
    xb, yb = _TO_MAP.transform(east_lon, east_lat)
    units_per_km = float(np.hypot(xb - xa, yb - ya))
    target_km = (x1 - x0) / 5 / units_per_km
    km = max([k for k in _NICE_KM if k <= target_km] or [_NICE_KM[0]])
    return km, km * units_per_km


def _draw_scale_bar(ax, extent) -> None:
    x0, x1, y0, y1 = extent
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    lon, lat = _TO_LONLAT.transform(cx, cy)
    km, length = scale_bar_km(extent, (lon, lat))
    bx, by = x1 - (x1 - x0) * 0.04 - length, y0 + (y1 - y0) * 0.04
    ax.plot([bx, bx + length], [by, by], color="black", lw=3, solid_capstyle="butt",
            gid="scalebar", zorder=20)
    ax.text(bx + length / 2, by + (y1 - y0) * 0.012, f"{km:g} km (true at {lat:.1f}° N)",
            ha="center", va="bottom", fontsize=7, zorder=20, gid="scalebar-label")


def _draw_north_arrow(ax, extent) -> None:
    """An arrow pointing to true north at the top right of the map."""
    x0, x1, y0, y1 = extent
    x, y = x1 - (x1 - x0) * 0.05, y1 - (y1 - y0) * 0.14
    lon, lat = _TO_LONLAT.transform(x, y)
    xn, yn = _TO_MAP.transform(lon, lat + 0.5)
    dx, dy = xn - x, yn - y
    scale = (y1 - y0) * 0.07 / np.hypot(dx, dy)
    ax.annotate("N", xy=(x + dx * scale, y + dy * scale), xytext=(x, y),
                ha="center", va="top", fontsize=10, fontweight="bold", zorder=20,
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5}, gid="north")


def _draw_locator(fig, extent) -> None:
    inset = fig.add_axes((0.015, 0.70, 0.14, 0.17))
    inset.set_facecolor("#dbe9f4")
    region = shapely.box(-12, 34, 45, 72)
    _add_polygons(inset, display.land(), region, facecolor="#e8e4da", lw=0)
    x0, x1, y0, y1 = extent
    inset.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="#c00",
                                  lw=1.2))
    ex0, ey0 = _TO_MAP.transform(-12, 34)
    ex1, ey1 = _TO_MAP.transform(45, 71)
    inset.set_xlim(min(ex0, x0), max(ex1, x1))
    inset.set_ylim(min(ey0, y0), max(ey1, y1))
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_xlabel("")
    inset.set_ylabel("")
    inset.set_aspect("equal", adjustable="box")
    inset.set_gid("locator")


def _draw_incidents(ax, incidents: pd.DataFrame, handles: list) -> list:
    """Points by type (hexagons above :data:`AGGREGATE_ABOVE`); returns text labels."""
    if incidents.empty:
        return []
    x, y = _TO_MAP.transform(incidents["lon"].to_numpy(), incidents["lat"].to_numpy())
    if len(incidents) > AGGREGATE_ABOVE:
        ax.hexbin(x, y, gridsize=70, mincnt=1, cmap="YlOrRd", bins="log", alpha=0.85,
                  zorder=8, linewidths=0.2)
        handles.append(Patch(color="#f03b20", label=f"incidents per hexagon "
                                                    f"(log scale, {len(incidents):,})"))
        return []
    region = (incidents["location_precision"] == "region").to_numpy()
    for kind in INCIDENT_TYPES:
        sel = (incidents["type"] == kind).to_numpy()
        if not sel.any():
            continue
        widths = incidents["confidence"].map(
            lambda c: CONFIDENCE_STROKES.get(c, (1.5, None))[0] * 0.5).to_numpy()
        exact = sel & ~region
        ax.scatter(x[exact], y[exact], s=36, c=TYPE_COLOURS[kind], edgecolors="#222",
                   linewidths=widths[exact], zorder=10)
        ax.scatter(x[sel & region], y[sel & region], s=220, facecolors="none",
                   edgecolors=TYPE_COLOURS[kind], linewidths=1.2, linestyle="--", zorder=9)
        handles.append(Line2D([], [], marker="o", ls="", color=TYPE_COLOURS[kind],
                              markeredgecolor="#222", label=f"incident: {kind}"))
    if region.any():
        handles.append(Line2D([], [], marker="o", ls="", markersize=11, markerfacecolor="none",
                              markeredgecolor="#555", linestyle="--",
                              label="region only (no position reported)"))
    labelled = incidents.assign(px=x, py=y)[~region].head(LABELLED_INCIDENTS)
    return [ax.text(r.px, r.py, _short(r.title or r.id), fontsize=6.5, zorder=15)
            for r in labelled.itertuples()]


def _short(text: str, limit: int = 38) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _draw_places(ax, focus: tuple[float, float, float, float]) -> list:
    """Square markers and names of the largest towns inside ``focus`` (lon/lat box),
    leaving out a town within 30 km of a larger one already named (Budapest and Pest)."""
    x0, y0, x1, y1 = focus
    chosen: list[tuple[str, float, float]] = []
    for name, lon, lat, _ in display.towns():
        if len(chosen) == LABEL_PLACES:
            break
        if not (x0 <= lon <= x1 and y0 <= lat <= y1):
            continue
        near = [GEOD.inv(lon, lat, c_lon, c_lat)[2] < 30_000 for _, c_lon, c_lat in chosen]
        if not any(near):
            chosen.append((name, lon, lat))
    texts = []
    for name, lon, lat in chosen:
        x, y = _TO_MAP.transform(lon, lat)
        ax.plot(x, y, "s", color="#333", markersize=2.5, zorder=12)
        texts.append(ax.text(x, y, name, fontsize=7, color="#333", zorder=12, style="italic"))
    return texts


def _draw_reference(ax, opts: SnapshotOptions, clip, handles: list) -> None:
    layers = set(opts.layers)
    if "borders" in layers:
        _add_lines(ax, [g for _, g in display.borders()], clip, color="#777", lw=0.5,
                   zorder=3)
        handles.append(Line2D([], [], color="#777", lw=0.8, label="land border"))
    for which in ("belarus", "kaliningrad"):
        if f"bands_{which}" in layers and opts.bands_km:
            bands = display.bands(which, tuple(opts.bands_km))
            for i, (_, ring) in enumerate(bands):
                _add_polygons(ax, [ring], clip, facecolor="#e06666", lw=0, zorder=2,
                              alpha=0.22 - 0.05 * i)
            handles.append(Patch(color="#e06666", alpha=0.3, label=(
                f"within {', '.join(f'{k:g}' for k in sorted(opts.bands_km))} km of "
                f"{which.title()}")))
        if which in layers:
            _add_polygons(ax, [display.territory(which)], clip, facecolor=(0.67, 0.2, 0.2,
                          0.25), edgecolor="#7a0000", lw=1.6, zorder=4)
    if {"belarus", "kaliningrad"} & layers:
        handles.append(Patch(facecolor="#d9a3a3", edgecolor="#7a0000",
                             label="Belarus / Kaliningrad exclave"))


def _draw_records(ax, clip, opts, handles, deployments, defense_lines, tracks, crossings):
    layers = set(opts.layers)
    if "defense_lines" in layers and defense_lines is not None and len(defense_lines):
        _add_lines(ax, defense_lines["geometry"].tolist(), clip, color="#5b2c06", lw=2,
                   linestyle=(0, (5, 3)), zorder=6)
        handles.append(Line2D([], [], color="#5b2c06", lw=2, linestyle=(0, (5, 3)),
                              label="defence line (schematic)"))
    if "tracks" in layers and tracks is not None and len(tracks):
        _add_lines(ax, tracks["geometry"].tolist(), clip, color="#333", lw=1.2, zorder=7)
        handles.append(Line2D([], [], color="#333", lw=1.2, label="flight track"))
        if crossings is not None and len(crossings):
            cx, cy = _TO_MAP.transform(crossings["lon"].to_numpy(),
                                       crossings["lat"].to_numpy())
            ax.scatter(cx, cy, s=18, c="white", edgecolors="black", zorder=11)
            handles.append(Line2D([], [], marker="o", ls="", markerfacecolor="white",
                                  markeredgecolor="black", label="border crossing"))
    if "deployments" in layers and deployments is not None and len(deployments):
        dx, dy = _TO_MAP.transform(deployments["lon"].to_numpy(),
                                   deployments["lat"].to_numpy())
        for status in DEPLOYMENT_STATUSES:
            sel = (deployments["status"] == status).to_numpy()
            if not sel.any():
                continue
            ax.scatter(dx[sel], dy[sel], s=60, marker="s", c=STATUS_COLOURS[status],
                       edgecolors="#222", linewidths=0.6, zorder=9)
            for xx, yy, kind in zip(dx[sel], dy[sel], deployments["kind"][sel], strict=True):
                ax.text(xx, yy, KIND_LETTERS.get(kind, "?"), fontsize=5, color="white",
                        ha="center", va="center", fontweight="bold", zorder=9.5)
            handles.append(Line2D([], [], marker="s", ls="", color=STATUS_COLOURS[status],
                                  markeredgecolor="#222", label=f"deployment: {status}"))


def render_snapshot(incidents: pd.DataFrame, *, deployments: pd.DataFrame | None = None,
                    defense_lines: pd.DataFrame | None = None,
                    tracks: pd.DataFrame | None = None,
                    crossings: pd.DataFrame | None = None,
                    options: SnapshotOptions | None = None) -> plt.Figure:
    """Draw the briefing map and return the figure (the caller saves and closes it).

    Every text is drawn literally: titles, labels and names from the data never go
    through matplotlib's mathtext or TeX (``$`` and ``\\`` are just characters)."""
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        return _render(incidents, deployments, defense_lines, tracks, crossings,
                       options or SnapshotOptions())


def _render(incidents: pd.DataFrame, deployments, defense_lines, tracks, crossings,
            opts: SnapshotOptions) -> plt.Figure:
    width, height = PAGE_SIZES[opts.size]
    fig = plt.figure(figsize=(width, height), dpi=opts.dpi)
    banner = 0.035 if opts.marking else 0.0
    top = 0.86 - banner
    ax_height = top - 0.07 - banner  # figure fraction
    ax = fig.add_axes((0.02, 0.07 + banner, 0.96, ax_height))
    ax_ratio = (0.96 * width) / (ax_height * height)
    focus = opts.bbox or data_bbox(incidents)
    extent = _extent(focus, ax_ratio)
    view = _view_box_lonlat(extent)
    clip = view.buffer(0.5)
    ax.set_facecolor("#dbe9f4")
    handles: list = []
    _add_polygons(ax, display.land(), clip, facecolor="#f4f1ea", edgecolor="#b9b2a3",
                  lw=0.3, zorder=1)
    _draw_reference(ax, opts, clip, handles)
    _draw_records(ax, clip, opts, handles, deployments, defense_lines, tracks, crossings)
    shown = incidents
    if "incidents" in opts.layers and len(incidents):
        inside = shapely.contains_xy(view, incidents["lon"].to_numpy(),
                                     incidents["lat"].to_numpy())
        shown = incidents[inside]
        texts = _draw_incidents(ax, shown, handles)
    else:
        texts = []
    texts += _draw_places(ax, focus)
    x0, x1, y0, y1 = extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    if texts:
        adjust_text(texts, ax=ax, expand=(1.1, 1.3), max_move=(40, 40),
                    arrowprops={"arrowstyle": "-", "color": "#666", "lw": 0.4})
    if handles:
        legend = ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.9,
                           title="Legend", title_fontsize=8)
        legend.set_zorder(30)
    _draw_scale_bar(ax, extent)
    _draw_north_arrow(ax, extent)
    _draw_locator(fig, extent)
    _page_text(fig, opts, len(shown), banner)
    return fig


def _page_text(fig, opts: SnapshotOptions, count: int, banner: float) -> None:
    top = 1 - banner
    fig.text(0.5, top - 0.045, opts.title, ha="center", fontsize=15, fontweight="bold")
    sub = opts.subtitle or "All dates"
    fig.text(0.5, top - 0.085, f"{sub} · {count:,} incidents shown", ha="center",
             fontsize=9, color="#333")
    sources = "; ".join(dict.fromkeys(s for s in opts.sources if s))
    line = ATTRIBUTION + (f"; records: {sources}" if sources else "")
    fig.text(0.02, 0.045 + banner, _short(line, 200), fontsize=6, color="#444")
    fig.text(0.02, 0.025 + banner,
             f"Generated {opts.generated:%Y-%m-%d %H:%M} UTC by Flankwatch",
             fontsize=6, color="#444")
    if opts.marking:
        for y, va in ((0.998, "top"), (0.002, "bottom")):
            fig.text(0.5, y, opts.marking.upper(), ha="center", va=va, fontsize=10,
                     fontweight="bold", color="white", gid="marking",
                     bbox={"facecolor": "#1a7f37", "edgecolor": "none", "pad": 3})


def save_figure(fig: plt.Figure, path, *, dpi: int) -> None:
    """Save as PNG, PDF or SVG (by extension); PDF and SVG stay vector with fonts
    embedded (TrueType in PDF, glyphs as paths in SVG)."""
    extra = {"pil_kwargs": {"compress_level": 3}} if str(path).lower().endswith(".png") else {}
    with matplotlib.rc_context({"pdf.fonttype": 42, "svg.fonttype": "path"}):
        fig.savefig(path, dpi=dpi, facecolor="white", **extra)
    plt.close(fig)


def legend_labels(fig: plt.Figure) -> list[str]:
    """The legend's entries, in order (for tests and checks)."""
    ax = fig.axes[0]
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def describe_filters(filters: Mapping[str, object]) -> str:
    """The subtitle: period and active filters in words."""
    start, end = filters.get("start"), filters.get("end")
    parts = [f"{start or '…'} – {end or '…'}" if (start or end) else "All dates"]
    for key, label in (("types", "types"), ("countries", "airspace"),
                       ("confidence", "confidence")):
        values = filters.get(key)
        if values:
            parts.append(f"{label}: {', '.join(values)}")
    near = filters.get("near")
    if near:
        parts.append(f"within {near[1]:g} km of {near[0].title()}")
    parts += [f"in the {part}" for part in describe_area(filters.get("bbox"),
                                                         filters.get("area"))]
    around = filters.get("around")
    if around:
        parts.append(f"within {around[1]:g} km of {around[0]}")
    return " · ".join(parts)
