"""Static briefing maps (matplotlib): the dashboard's layers on paper, offline.

A snapshot carries what a print layout needs: title, period and filters, a legend of
what is drawn, a scale bar true at the map's centre, a north arrow, a locator inset,
attribution, the generation time and an optional marking banner. The map is drawn in
the ETRS89 Lambert azimuthal equal-area projection (EPSG:3035), which keeps areas and,
near its centre, distances honest over Europe.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.ticker import FuncFormatter
from pyproj import Transformer
from shapely.ops import polylabel

from dashboard import display
from dashboard.labels import LabelPlacer
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
from dashboard.text import printable
from geo.dates import format_date
from geo.schema import DEPLOYMENT_STATUSES, INCIDENT_TYPES
from geo.settings import CONTEXT_BBOX, COVERAGE_BBOX, GEOD

PROJECTION = "EPSG:3035"
#: Above this many incidents in view, points are counted in hexagons instead.
AGGREGATE_ABOVE = 5000
#: Up to this many incidents in view are labelled with their titles; beyond it each
#: gets a number and a line in the key, as long as the key has room.
LABELLED_INCIDENTS = 12
#: At most this many towns are named (the most populous in view that have room).
PLACE_LABELS = 14
#: Incident symbols: marker area (points²) and the radius kept clear of labels (points).
SYMBOL_SIZE_PT2 = 36
SYMBOL_RADIUS_PT = 3.8
#: Hexagons across the map when incidents are counted in hexagons.
HEX_GRID = 70
#: Height of a line of the numbered key (points).
KEY_LINE_PT = 7.0
KEY_COLUMNS = 2
LAND_COLOUR = "#f4f1ea"
#: A thin light outline that keeps labels legible over lines and fills.
HALO = [patheffects.withStroke(linewidth=1.6, foreground="white")]
ATTRIBUTION = ("Boundaries © OpenStreetMap contributors (ODbL); places: GeoNames "
               "(CC BY 4.0)")
_NICE_KM = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
#: Every text of a page (marking, title, footer, page number, legend, map labels) keeps
#: this far inside the page's edges (inches: 8 mm), where printers may cut or not print.
EDGE_IN = 8 / 25.4
#: Height of a marking banner (inches), text and its green box.
BANNER_IN = 0.35
MARKING_GREEN = "#1a7f37"

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
    #: ISO3 codes whose airspace the map is framed on (when there is no ``bbox``).
    focus: tuple[str, ...] = ()
    #: ISO3 codes whose airspace a frame fitted to the data includes (the country
    #: filter's).
    countries: tuple[str, ...] = ()
    layers: tuple[str, ...] = DEFAULT_LAYERS
    bands_km: tuple[float, ...] = DEFAULT_BANDS_KM
    #: Publications of the records shown, for the attribution line.
    sources: Sequence[str] = ()
    generated: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    #: Keep a box at the map's lower left free of labels for a clip's timeline (see
    #: ``dashboard.animation``).
    timeline: bool = False

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


#: The locator shows Europe: this lon/lat box at least, and the map's extent.
LOCATOR_REGION = shapely.box(-12, 34, 50, 72)
#: Where the map goes when nothing in the selection has a position (lon/lat box).
DEFAULT_BBOX = (19.0, 52.5, 29.0, 60.0)
#: The smallest map: one incident alone is shown with this much around it (degrees of
#: longitude and latitude), and the margin added around the incidents (fraction).
MIN_SPAN_DEG = (2.0, 1.2)
FRAME_MARGIN = 0.12


def positioned(incidents: pd.DataFrame) -> pd.DataFrame:
    """The incidents with a reported position (not only a country or region)."""
    if incidents.empty:
        return incidents
    keep = incidents["lat"].notna() & incidents["lon"].notna()
    if "location_precision" in incidents:
        keep &= incidents["location_precision"] != "region"
    return incidents[keep]


def focus_bbox(codes: Sequence[str]) -> tuple[float, float, float, float]:
    """The bounds of the airspace of each ISO3 code (inside the reference coverage)."""
    outlines = display.airspace_outlines()
    unknown = [c for c in codes if c.upper() not in outlines]
    if unknown or not codes:
        msg = (f"`focus` was {','.join(unknown) or '(empty)'!s} but is expected to be ISO3 "
               f"codes of states with reference data, e.g. LTU,POL,LVA")
        raise ValueError(msg)
    geom = shapely.union_all([outlines[c.upper()][1] for c in codes])
    geom = shapely.clip_by_rect(geom, *COVERAGE_BBOX)
    return tuple(float(v) for v in geom.bounds)


def data_bbox(incidents: pd.DataFrame, *, layers: Sequence[str] = (),
              bands_km: Sequence[float] = (),
              countries: Sequence[str] = ()) -> tuple[float, float, float, float]:
    """The frame that serves the selection: its positioned incidents, the airspaces of
    its region-only records (the map marks them there) and the airspaces of
    ``countries`` (a country filter frames its countries at least), with a margin and a
    least size; with distance bands on, the part of Belarus / the exclave the bands
    start from near the incidents too."""
    placed = positioned(incidents)
    parts = [shapely.box(float(placed["lon"].min()), float(placed["lat"].min()),
                         float(placed["lon"].max()), float(placed["lat"].max()))
             ] if len(placed) else []
    region_only = incidents.loc[~incidents.index.isin(placed.index)]
    codes = {str(c).upper() for c in (*region_only.get("country_iso3", ()), *countries)
             if isinstance(c, str)}
    known = sorted(codes & set(display.airspace_outlines()))
    if known:
        parts.append(shapely.box(*focus_bbox(known)))
    if not parts:
        return DEFAULT_BBOX
    box = shapely.box(*shapely.union_all(parts).bounds)
    reach_km = max((*bands_km, 0.0)) + 30.0
    for which in ("belarus", "kaliningrad"):
        if f"bands_{which}" not in layers or not bands_km:
            continue
        mid_lat = np.deg2rad(box.centroid.y)
        near = shapely.box(*box.bounds).buffer(reach_km / 111.0 / max(np.cos(mid_lat), 0.2),
                                               join_style="mitre")
        part = shapely.intersection(display.territory(which), near)
        if not part.is_empty:
            box = shapely.box(*shapely.union(box, part).bounds)
    x0, y0, x1, y1 = box.bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w = max((x1 - x0) * (1 + 2 * FRAME_MARGIN), MIN_SPAN_DEG[0])
    h = max((y1 - y0) * (1 + 2 * FRAME_MARGIN), MIN_SPAN_DEG[1])
    return (cx - w / 2, max(cy - h / 2, -89.0), cx + w / 2, min(cy + h / 2, 89.0))


def map_extent_lonlat(fig: plt.Figure) -> tuple[float, float, float, float]:
    """The drawn map's extent as a WGS84 box (west, south, east, north)."""
    ax = map_axes(fig)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    bounds = _view_box_lonlat((x0, x1, y0, y1)).bounds
    return tuple(round(float(v), 4) for v in bounds)


def map_axes(fig: plt.Figure):
    """The figure's map (not the locator, the key or the colour bar)."""
    return next(a for a in fig.axes if a.get_gid() == "map")


def _extent(bbox, ax_ratio: float) -> tuple[float, float, float, float]:
    """Projected extent covering the bbox, widened to the axes' shape."""
    outline = _project(shapely.segmentize(shapely.box(*bbox), 0.25))
    x0, y0, x1, y1 = outline.bounds
    return _extent_of_shape((x0, x1, y0, y1), ax_ratio)


def _extent_of_shape(extent, ax_ratio: float) -> tuple[float, float, float, float]:
    """A projected extent (x0, x1, y0, y1) widened about its centre to the axes' shape
    (width / height)."""
    x0, x1, y0, y1 = extent
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
    clip the rest, so a rectangle cut (several times faster than an overlay) suffices.
    ``clip`` None: the geometries are projected already."""
    if clip is None:
        geoms = np.asarray(list(geoms), dtype=object)
        return geoms[~shapely.is_empty(geoms)]
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
    lines = np.isin(shapely.get_type_id(parts), (1, 2))  # a ring inside the view stays one
    xy, line_of = shapely.get_coordinates(parts[lines], return_index=True)
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


def _draw_scale_bar(ax, extent, placer) -> None:
    x0, x1, y0, y1 = extent
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    lon, lat = _TO_LONLAT.transform(cx, cy)
    km, length = scale_bar_km(extent, (lon, lat))
    bx, by = x1 - (x1 - x0) * 0.04 - length, y0 + (y1 - y0) * 0.04
    ax.plot([bx, bx + length], [by, by], color="black", lw=3, solid_capstyle="butt",
            gid="scalebar", zorder=21)
    label = ax.text(bx + length / 2, by + (y1 - y0) * 0.012,
                    f"{km:g} km (true at {lat:.1f}° N)", ha="center", va="bottom",
                    fontsize=7, zorder=21, gid="scalebar-label")
    # an opaque white box under the bar and its text, over every line of the map
    renderer = ax.figure.canvas.get_renderer()
    text_box = label.get_window_extent(renderer).extents
    bar_box = np.r_[ax.transData.transform((bx, by)) - 4,
                    ax.transData.transform((bx + length, by)) + 4]
    pad = 3 * ax.figure.dpi / 72
    px0, py0 = np.minimum(text_box[:2], bar_box[:2]) - pad
    px1, py1 = np.maximum(text_box[2:], bar_box[2:]) + pad
    (dx0, dy0), (dx1, dy1) = ax.transData.inverted().transform([(px0, py0), (px1, py1)])
    ax.add_patch(Rectangle((dx0, dy0), dx1 - dx0, dy1 - dy0, facecolor="white",
                           edgecolor="#999", lw=0.4, alpha=1.0, zorder=20,
                           gid="scalebar-box"))
    placer.block([px0, py0, px1, py1])


def _draw_north_arrow(ax, extent, placer) -> None:
    """An arrow pointing to true north at the top right of the map."""
    x0, x1, y0, y1 = extent
    x, y = x1 - (x1 - x0) * 0.05, y1 - (y1 - y0) * 0.14
    lon, lat = _TO_LONLAT.transform(x, y)
    xn, yn = _TO_MAP.transform(lon, lat + 0.5)
    dx, dy = xn - x, yn - y
    scale = (y1 - y0) * 0.07 / np.hypot(dx, dy)
    arrow = ax.annotate("N", xy=(x + dx * scale, y + dy * scale), xytext=(x, y),
                        ha="center", va="top", fontsize=10, fontweight="bold", zorder=20,
                        arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5},
                        gid="north")
    placer.block_artist(arrow)
    tip = ax.transData.transform((x + dx * scale, y + dy * scale))
    placer.block(np.r_[tip - 8, ax.transData.transform((x, y)) + 8])


#: A clip's timeline box at the map's lower left: width and height as shares of the
#: map's.
TIMELINE_BOX = (0.36, 0.11)


def _reserve_timeline(ax, extent, placer) -> None:
    """An opaque box at the map's lower left, kept free of labels, where a clip's frames
    print their time and the timeline bar (``dashboard.animation``)."""
    x0, x1, y0, y1 = extent
    w, h = (x1 - x0) * TIMELINE_BOX[0], (y1 - y0) * TIMELINE_BOX[1]
    bx, by = x0 + (x1 - x0) * 0.015, y0 + (y1 - y0) * 0.02
    box = Rectangle((bx, by), w, h, facecolor="white", edgecolor="#999", lw=0.4,
                    zorder=20, gid="timeline-box")
    ax.add_patch(box)
    placer.block(np.r_[ax.transData.transform((bx, by)) - 4,
                       ax.transData.transform((bx + w, by + h)) + 4])


@dataclass(frozen=True)
class _Layout:
    """Figure-fraction rectangles (left, bottom, width, height) of the page's parts."""

    map: tuple[float, float, float, float]
    #: The legend (and, on landscape pages, the numbered key under it).
    panel: tuple[float, float, float, float]
    #: The numbered key's own column (portrait pages), else None.
    key: tuple[float, float, float, float] | None
    locator: tuple[float, float, float, float]
    colorbar: tuple[float, float, float, float]
    footer_top: float
    header_bottom: float


def _layout(width_in: float, height_in: float, banner: float) -> _Layout:
    """Landscape pages put the legend, key and locator in a column right of the map;
    portrait pages put them in a band under it. Nothing of them lies on the map, and
    everything keeps :data:`EDGE_IN` inside the page (``banner``: the marking's share of
    the height, top and bottom, its own edge included)."""
    edge_x, edge_y = EDGE_IN / width_in, EDGE_IN / height_in
    if banner:
        edge_y = banner
    top = 1 - 0.95 / height_in - edge_y  # title and subtitle: about an inch
    bottom = 0.62 / height_in + edge_y  # attribution (wrapped), notes, generation line
    right = 1 - edge_x
    if width_in >= height_in:
        side = 0.25
        x = right - side + 0.015
        locator_h = min(0.24, (side - 0.015) * width_in / height_in * 0.75)
        above = bottom + locator_h + 0.015
        return _Layout(map=(edge_x, bottom, x - 0.015 - edge_x, top - bottom),
                       panel=(x, above, side - 0.015, top - above),
                       key=None,
                       locator=(x, bottom, side - 0.015, locator_h),
                       colorbar=(x + 0.01, bottom + locator_h + 0.04, side - 0.05, 0.014),
                       footer_top=bottom, header_bottom=top)
    band = 0.27
    locator_w = 0.22
    inner = right - edge_x
    return _Layout(map=(edge_x, bottom + band + 0.01, inner, top - bottom - band - 0.01),
                   panel=(edge_x, bottom, 0.36, band - 0.03),
                   key=(edge_x + 0.38, bottom, inner - locator_w - 0.40, band - 0.03),
                   locator=(right - locator_w, bottom, locator_w, band - 0.03),
                   colorbar=(edge_x + 0.38, bottom + band - 0.04, 0.30, 0.01),
                   footer_top=bottom, header_bottom=top)


def _draw_locator(fig, extent, rect) -> None:
    """Europe with the map's extent as a red box, both wholly inside the inset."""
    inset = fig.add_axes(rect)
    inset.set_facecolor("#dbe9f4")
    x0, x1, y0, y1 = extent
    inset.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="#c00",
                                  lw=1.2, gid="locator-box", zorder=3))
    ex0, ey0, ex1, ey1 = _project(shapely.segmentize(LOCATOR_REGION, 1.0)).bounds
    lx0, lx1, ly0, ly1 = min(ex0, x0), max(ex1, x1), min(ey0, y0), max(ey1, y1)
    pad_x, pad_y = (lx1 - lx0) * 0.03, (ly1 - ly0) * 0.03
    shape = rect[2] * fig.get_figwidth() / (rect[3] * fig.get_figheight())
    fx0, fx1, fy0, fy1 = _extent_of_shape((lx0 - pad_x, lx1 + pad_x, ly0 - pad_y,
                                           ly1 + pad_y), shape)  # the inset filled
    inset.set_xlim(fx0, fx1)
    inset.set_ylim(fy0, fy1)
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_aspect("equal", adjustable="box")
    # the land is cut in the inset's own projection, to its frame (cut in degrees, a
    # meridian would show as a straight diagonal edge across Russia)
    frame = shapely.box(fx0, fy0, fx1, fy1)
    around = _view_box_lonlat((fx0, fx1, fy0, fy1)).buffer(2.0)
    west, south, east, north = CONTEXT_BBOX
    around = shapely.clip_by_rect(around, west, south, east, north)
    land = shapely.clip_by_rect(np.asarray([*display.land(), display.context_land()],
                                           dtype=object), *around.bounds)
    land = shapely.clip_by_rect(_project(land[~shapely.is_empty(land)]), *frame.bounds)
    _add_polygons(inset, land.tolist(), None, facecolor="#e8e4da", lw=0, zorder=1,
                  gid="locator-land")
    inset.set_gid("locator")


def _symbol_widths(frame: pd.DataFrame) -> np.ndarray:
    return frame["confidence"].map(
        lambda c: CONFIDENCE_STROKES.get(c, (1.5, None))[0] * 0.5).to_numpy()


def _draw_incidents(ax, shown: pd.DataFrame, handles: list):
    """Points by type, or hexagons above :data:`AGGREGATE_ABOVE` (returned, for the
    colour bar); the points' projected coordinates are returned for the labels."""
    x, y = _TO_MAP.transform(shown["lon"].to_numpy(), shown["lat"].to_numpy())
    if len(shown) > AGGREGATE_ABOVE:
        x0, x1 = ax.get_xlim()
        hexes = ax.hexbin(x, y, gridsize=HEX_GRID, mincnt=1, cmap="YlOrRd", bins="log",
                          alpha=0.85, zorder=8, linewidths=0.2,
                          extent=(x0, x1, *ax.get_ylim()), gid="density")
        return hexes, x, y
    widths = _symbol_widths(shown)
    for kind in INCIDENT_TYPES:
        sel = (shown["type"] == kind).to_numpy()
        if not sel.any():
            continue
        ax.scatter(x[sel], y[sel], s=SYMBOL_SIZE_PT2, c=TYPE_COLOURS[kind],
                   edgecolors="#222", linewidths=widths[sel], zorder=10, gid="incidents")
        handles.append(Line2D([], [], marker="o", ls="", color=TYPE_COLOURS[kind],
                              markeredgecolor="#222", label=f"incident: {kind}"))
    return None, x, y


#: Incidents known only by their country: the outline and the hatch of its airspace;
#: the hatch is light and lies under everything but the land (bands, borders and
#: records are drawn over it).
REGION_COLOUR = "#6b4c9a"
REGION_HATCH = (0.42, 0.3, 0.6, 0.16)
REGION_HATCH_ZORDER = 1.5


def _draw_regions(ax, region_only: pd.DataFrame, clip, view, placer, handles) -> list[str]:
    """Incidents known only by their country: its airspace hatched, with a count placed
    like any label. Returns the notes for those outside the map."""
    if region_only.empty:
        return []
    outlines = display.airspace_outlines()
    counts = region_only["country_iso3"].fillna("").value_counts()
    notes, drawn = [], False
    for iso3, count in counts.items():
        name, geom = outlines.get(iso3, (iso3 or "no country", None))
        noun = "incident" if count == 1 else "incidents"
        seen = None if geom is None else shapely.intersection(geom, view)
        if seen is None or seen.is_empty:
            notes.append(f"{count} {noun} known only as in {name} (outside this map)")
            continue
        # (each part's label is its airspace's code: a clip shows it while it has some)
        _add_polygons(ax, [geom], clip, facecolor="none", edgecolor=REGION_HATCH, hatch="/",
                      hatch_linewidth=0.6, lw=0, zorder=REGION_HATCH_ZORDER,
                      gid="region-only", label=iso3)
        _add_lines(ax, shapely.get_exterior_ring(shapely.get_parts(geom)).tolist(), clip,
                   color=REGION_COLOUR, lw=1.0, zorder=3.5, gid="region-only", label=iso3)
        drawn = True
        point = polylabel(max(shapely.get_parts(seen), key=lambda p: p.area), 0.02)
        px, py = _TO_MAP.transform(point.x, point.y)
        text = f"{name}: {count} {noun}, no position"
        label = placer.place(text, px, py, centred=True, fontsize=6.5, color="#4b2c7a",
                             fontweight="bold", gid="label-region", path_effects=HALO)
        if label is not None:
            label.set_label(iso3)
        else:
            notes.append(f"{count} {noun} known only as in {name} (hatched)")
    if drawn:
        handles.append(Patch(facecolor="none", edgecolor=REGION_COLOUR, hatch="/",
                             label="airspace of incidents with no position (count)"))
    return notes


#: Distance bands: line colour of those around Belarus and around the exclave.
BAND_COLOURS = {"belarus": "#b03030", "kaliningrad": "#2e6fae"}


def _band_rings(ax, opts, clip, view, handles) -> list:
    """Distance bands: light fills and a dashed line at each distance (the legend shows
    both); returns, per line, its label and candidate places for it: points on the line
    inside the view, those well inside the land first, then the coast, then the sea (a
    distance means little out at sea)."""
    layers, labels = set(opts.layers), []
    land = [g for g in display.land() if g.intersects(view)]
    for which in ("belarus", "kaliningrad"):
        if f"bands_{which}" not in layers or not opts.bands_km:
            continue
        colour = BAND_COLOURS[which]
        for i, (km, ring) in enumerate(display.bands(which, tuple(opts.bands_km))):
            _add_polygons(ax, [ring], clip, facecolor=colour, lw=0, zorder=2,
                          alpha=max(0.12 - 0.035 * i, 0.03))
            outer = shapely.get_exterior_ring(shapely.get_parts(ring)).tolist()
            _add_lines(ax, outer, clip, color=colour, lw=0.7, linestyle=(0, (4, 2)),
                       zorder=2.5)
            line = shapely.intersection(shapely.union_all(outer), view.buffer(-0.05))
            points = shapely.get_coordinates(shapely.segmentize(line, 0.05))
            if len(points):
                every = points[:: max(len(points) // 24, 1)]
                inland = _land_around(land, every)
                every = every[np.argsort(-inland, kind="stable")]
                x, y = _TO_MAP.transform(every[:, 0], every[:, 1])
                labels.append((f"{km:g} km", x, y, colour))
        handles.append((Patch(facecolor=colour, alpha=0.12, lw=0),
                        Line2D([], [], color=colour, lw=0.9, linestyle=(0, (4, 2)),
                               label=(f"{', '.join(f'{k:g}' for k in sorted(opts.bands_km))}"
                                      f" km from {which.title()} (labelled)"))))
    return labels


#: Around a band label's place, points this far off (degrees of longitude, latitude)
#: are looked at to tell a place well inside the land from one on the coast.
_AROUND_DEG = np.array([(0.0, 0.0), (0.3, 0.0), (-0.3, 0.0), (0.0, 0.18), (0.0, -0.18)])


def _land_around(land: list, points: np.ndarray) -> np.ndarray:
    """For each lon/lat point, how many of it and four points around it lie on land (5:
    well inside the land, 0: at sea)."""
    around = (points[:, None, :] + _AROUND_DEG[None, :, :]).reshape(-1, 2)
    on_land = np.zeros(len(around), dtype=bool)
    for part in land:
        on_land |= shapely.contains_xy(part, around[:, 0], around[:, 1])
    return on_land.reshape(len(points), -1).sum(axis=1)


def _draw_reference(ax, opts: SnapshotOptions, clip, handles: list) -> None:
    layers = set(opts.layers)
    if "borders" in layers:
        _add_lines(ax, [g for _, g in display.borders()], clip, color="#777", lw=0.5,
                   zorder=3)
        handles.append(Line2D([], [], color="#777", lw=0.8, label="land border"))
    for which in ("belarus", "kaliningrad"):
        if which in layers:
            _add_polygons(ax, [display.territory(which)], clip, facecolor=(0.67, 0.2, 0.2,
                          0.25), edgecolor="#7a0000", lw=1.6, zorder=4)
    if {"belarus", "kaliningrad"} & layers:
        handles.append(Patch(facecolor="#d9a3a3", edgecolor="#7a0000",
                             label="Belarus / Kaliningrad exclave"))


def _draw_records(ax, clip, view, opts, handles, deployments, defense_lines, tracks,
                  crossings, placer):
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
            ax.scatter(cx, cy, s=18, c="white", edgecolors="black", zorder=11,
                       gid="crossings")
            placer.block_points(cx, cy, 2.5)
            handles.append(Line2D([], [], marker="o", ls="", markerfacecolor="white",
                                  markeredgecolor="black", label="border crossing"))
    if deployments is not None and len(deployments):
        deployments = deployments[shapely.contains_xy(view, deployments["lon"].to_numpy(),
                                                      deployments["lat"].to_numpy())]
    if "deployments" in layers and deployments is not None and len(deployments):
        dx, dy = _TO_MAP.transform(deployments["lon"].to_numpy(),
                                   deployments["lat"].to_numpy())
        placer.block_points(dx, dy, DEPLOYMENT_RADIUS_PT)
        for status in DEPLOYMENT_STATUSES:
            sel = (deployments["status"] == status).to_numpy()
            if not sel.any():
                continue
            ax.scatter(dx[sel], dy[sel], s=60, marker="s", c=STATUS_COLOURS[status],
                       edgecolors="#222", linewidths=0.6, zorder=9)
            handles.append(Line2D([], [], marker="s", ls="", color=STATUS_COLOURS[status],
                                  markeredgecolor="#222", label=f"deployment: {status}"))
        _deployment_letters(ax, placer, deployments, dx, dy)


#: Deployment markers: half their side (points).
DEPLOYMENT_RADIUS_PT = 4.5


def _deployment_letters(ax, placer, deployments: pd.DataFrame, dx, dy) -> None:
    """Each deployment's kind letter: on its marker where no other marker covers it,
    else beside it through the label placer (with a leader line), never on another."""
    px = ax.transData.transform(np.column_stack([dx, dy]))
    side = 2 * DEPLOYMENT_RADIUS_PT * ax.figure.dpi / 72
    free = np.ones(len(px), dtype=bool)
    for i in range(len(px)):  # later markers are drawn over earlier ones
        near = np.abs(px - px[i]).max(axis=1) < side
        near[i] = False
        free[i] = not near.any()
    kinds = deployments["kind"].to_numpy()
    colours = deployments["status"].map(STATUS_COLOURS).fillna("#222").to_numpy()
    for i in np.flatnonzero(free):
        ax.text(dx[i], dy[i], KIND_LETTERS.get(kinds[i], "?"), fontsize=5, color="white",
                ha="center", va="center", fontweight="bold", zorder=9.5,
                gid="deployment-letter", clip_on=True)
    for i in np.flatnonzero(~free):
        placer.place(KIND_LETTERS.get(kinds[i], "?"), dx[i], dy[i],
                     radius_pt=DEPLOYMENT_RADIUS_PT, leader=True, fontsize=6,
                     color=colours[i], fontweight="bold", gid="deployment-letter",
                     path_effects=HALO)


#: Towns at least this populous are named before the map's other labels (regions'
#: counts, the key's numbers, the bands'), which then find room around them.
CITY_FIRST_POPULATION = 500_000


def _place_names(ax, placer, view, *, towns: int, named: set[str],
                 cities_only: bool = False) -> None:
    """Country names (centred on their land, shifted a little if needed) and the most
    populous towns in view, each only where it meets nothing else; ``cities_only``:
    only the towns of :data:`CITY_FIRST_POPULATION` people or more (``named`` collects
    the towns named, so a second pass goes on from there)."""
    names = display.map_labels()
    countries = [] if cities_only else [n for n in names if n["kind"] == "country"]
    for r in sorted(countries, key=lambda n: -n["rank"]):
        if not shapely.contains_xy(view, r["lon"], r["lat"]):
            continue
        x, y = _TO_MAP.transform(r["lon"], r["lat"])
        placer.place(r["name"].upper(), x, y, centred=True, fontsize=8, color="#6d6a63",
                     fontweight="bold", gid="label-country", path_effects=HALO)
    done = len(named)
    for r in sorted((n for n in names if n["kind"] == "town"), key=lambda n: -n["rank"]):
        if done == towns or (cities_only and r["rank"] < CITY_FIRST_POPULATION):
            break
        if r["name"] in named or not shapely.contains_xy(view, r["lon"], r["lat"]):
            continue
        x, y = _TO_MAP.transform(r["lon"], r["lat"])
        if placer.is_free(_point_box(ax, x, y, 1.5)):
            label = placer.place(r["name"], x, y, radius_pt=2.0, fontsize=6.5,
                                 color="#333", style="italic", gid="label-town",
                                 path_effects=HALO)
            if label is not None:
                ax.plot(x, y, "s", color="#333", markersize=2.5, zorder=12, gid="town")
                placer.block_points([x], [y], 1.5)
                named.add(r["name"])
                done += 1


def _point_box(ax, x, y, radius_pt):
    px, py = ax.transData.transform((x, y))
    r = radius_pt * ax.figure.dpi / 72
    return np.array([px - r, py - r, px + r, py + r])


def _label_incidents(placer, shown: pd.DataFrame, x, y, *, capacity: int):
    """Titles beside the incidents (up to :data:`LABELLED_INCIDENTS`), else numbers and
    a key; returns the key's rows (number, date, title) and how many were left out."""
    order = np.argsort(shown["date"].to_numpy(), kind="stable")
    titles = [_short(t or i) for t, i in zip(shown["title"].fillna(""), shown["id"],
                                              strict=True)]
    key, unplaced = [], 0
    numbered = len(shown) > LABELLED_INCIDENTS
    if len(shown) > capacity:
        return key, len(shown)
    style = {"fontsize": 6.5, "color": "#111", "path_effects": HALO}
    ids = shown["id"].astype(str).to_numpy()
    for i in order:
        label = None if numbered else placer.place(
            titles[i], x[i], y[i], radius_pt=SYMBOL_RADIUS_PT, leader=True,
            gid="label-incident", **style)
        if label is not None:
            label.set_label(ids[i])  # (never drawn: a clip shows it with its incident)
            continue
        number = str(len(key) + 1)
        label = placer.place(number, x[i], y[i], radius_pt=SYMBOL_RADIUS_PT, leader=True,
                             gid="label-incident", **{**style, "fontweight": "bold"})
        if label is None:
            unplaced += 1
        else:
            label.set_label(ids[i])
        key.append((number, format_date(shown["date"].iloc[i], "day"), titles[i]))
    return key, unplaced


def _short(text: str, limit: int = 38) -> str:
    return printable(text, limit)


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


def outside_land(bbox) -> str | None:
    """Why a box cannot be drawn (it reaches past the land the map has), or None."""
    west, south, east, north = CONTEXT_BBOX
    x0, y0, x1, y1 = bbox
    if x0 < west or y0 < south or x1 > east or y1 > north:
        return (f"{tuple(bbox)} reaches past the land the briefing map draws "
                f"({west:g}…{east:g}° E, {south:g}…{north:g}° N); give a box inside it")
    return None


def _frame(incidents, opts: SnapshotOptions) -> tuple[float, float, float, float]:
    """The box to frame: given, focused or the data's, cut to the land the map has (a
    far-off record or a zoomed-out view never leaves sea where there is land)."""
    if opts.bbox:
        box = opts.bbox
    elif opts.focus:
        box = focus_bbox(opts.focus)
    else:
        box = data_bbox(incidents, layers=opts.layers, bands_km=opts.bands_km,
                        countries=opts.countries)
    west, south, east, north = CONTEXT_BBOX
    cut = (max(box[0], west), max(box[1], south), min(box[2], east), min(box[3], north))
    return cut if cut[0] < cut[2] and cut[1] < cut[3] else DEFAULT_BBOX


def _render(incidents: pd.DataFrame, deployments, defense_lines, tracks, crossings,
            opts: SnapshotOptions) -> plt.Figure:
    width, height = PAGE_SIZES[opts.size]
    # a figure of its own on the Agg canvas, outside pyplot: drawn the same from any
    # thread (the dashboard makes clips in a background thread)
    fig = Figure(figsize=(width, height), dpi=opts.dpi)
    FigureCanvasAgg(fig)
    banner = marking_banners(fig, opts.marking)
    layout = _layout(width, height, banner)
    ax = fig.add_axes(layout.map, gid="map")
    _, _, ax_w, ax_h = layout.map
    extent = _extent(_frame(incidents, opts), (ax_w * width) / (ax_h * height))
    x0, x1, y0, y1 = extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    view = _view_box_lonlat(extent)
    clip = view.buffer(0.5)
    ax.set_facecolor("#dbe9f4")
    handles: list = []
    land_style = {"facecolor": LAND_COLOUR, "edgecolor": "#b9b2a3", "lw": 0.3, "zorder": 1}
    _add_polygons(ax, [display.context_land()], clip, **land_style)
    _add_polygons(ax, display.land(), clip, **land_style)
    placer = LabelPlacer.for_axes(ax)
    _draw_scale_bar(ax, extent, placer)
    _draw_north_arrow(ax, extent, placer)
    if opts.timeline:
        _reserve_timeline(ax, extent, placer)
    band_labels = _band_rings(ax, opts, clip, view, handles)
    _draw_reference(ax, opts, clip, handles)
    _draw_records(ax, clip, view, opts, handles, deployments, defense_lines, tracks,
                  crossings, placer)
    key, notes, hexes, left_out = [], [], None, 0
    named: set[str] = set()
    shown = incidents.iloc[0:0]
    if "incidents" in opts.layers and len(incidents):
        placed = positioned(incidents)
        shown = placed[shapely.contains_xy(view, placed["lon"].to_numpy(),
                                           placed["lat"].to_numpy())]
        hexes, x, y = _draw_incidents(ax, shown, handles)
        region_only = incidents[~incidents.index.isin(placed.index)]
        if hexes is None:
            placer.block_points(x, y, SYMBOL_RADIUS_PT)
            _place_names(ax, placer, view, towns=PLACE_LABELS, named=named, cities_only=True)
            notes += _draw_regions(ax, region_only, clip, view, placer, handles)
            key, left_out = _label_incidents(placer, shown, x, y,
                                             capacity=_key_capacity(fig, layout,
                                                                    len(handles)))
        elif len(region_only):
            notes.append(f"{len(region_only):,} incidents known only by country are not "
                         "in the hexagons")
        if len(placed) > len(shown):
            notes.append(f"{len(placed) - len(shown):,} incidents lie outside this map")
    for text, xs, ys, colour in band_labels:  # one label on each line, where it fits
        for bx, by in zip(xs, ys, strict=True):
            if placer.place(text, bx, by, centred=True, fontsize=6, color=colour,
                            fontweight="bold", gid="label-band",
                            path_effects=HALO) is not None:
                break
    _place_names(ax, placer, view, towns=PLACE_LABELS, named=named)
    _draw_side(fig, layout, handles, hexes, key, left_out, extent)
    _page_text(fig, opts, len(shown), layout, banner, notes)
    return fig


def _key_capacity(fig, layout: _Layout, legend_entries: int) -> int:
    """How many numbered key lines fit beside or under the map, in its two columns (the
    legend's lines estimated at 10 pt each)."""
    rect = layout.key or layout.panel
    height_pt = rect[3] * fig.get_figheight() * 72
    if layout.key is None:
        height_pt -= (legend_entries + 2) * 9.5
    return KEY_COLUMNS * max(int(height_pt / KEY_LINE_PT) - 2, 0)


def _draw_side(fig, layout: _Layout, handles, hexes, key, left_out, extent) -> None:
    """The legend, the density colour bar, the numbered key and the locator, off the map."""
    panel = _blank_axes(fig, layout.panel, "panel")
    top = 1.0
    if handles:  # a tuple is drawn overlaid (a band: its fill and its line)
        labels = [(h[-1] if isinstance(h, tuple) else h).get_label() for h in handles]
        legend = panel.legend(handles=handles, labels=labels, loc="upper left", fontsize=6.5,
                              title="Legend", title_fontsize=8, frameon=False,
                              borderaxespad=0.0, alignment="left")
        renderer = fig.canvas.get_renderer()
        box = legend.get_window_extent(renderer).transformed(panel.transAxes.inverted())
        top = box.y0 - 0.03
    if hexes is not None:
        cax = fig.add_axes(layout.colorbar, gid="colorbar")
        bar = fig.colorbar(hexes, cax=cax, orientation="horizontal")
        bar.ax.tick_params(labelsize=6)
        bar.ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        bar.ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        hex_km = (extent[1] - extent[0]) / HEX_GRID / 1000
        bar.set_label(f"incidents per hexagon (about {hex_km:.0f} km across; log scale)",
                      fontsize=6.5)
    if key or left_out:
        if layout.key is not None:
            panel = _blank_axes(fig, layout.key, "key")
            top = 1.0
        _draw_key(fig, panel, top, key, left_out)
    _draw_locator(fig, extent, layout.locator)


def _blank_axes(fig, rect, gid: str):
    """Axes for text only: no frame and no ticks (tick labels made later, outside the
    literal-text settings, would parse TeX)."""
    ax = fig.add_axes(rect, gid=gid)
    ax.set_axis_off()
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _draw_key(fig, ax, top: float, key, left_out: int) -> None:
    """The numbered key: number, date and title of each numbered incident, in up to
    :data:`KEY_COLUMNS` columns."""
    height_pt = ax.get_position().height * fig.get_figheight() * 72
    step = KEY_LINE_PT / height_pt
    columns = KEY_COLUMNS if len(key) > int(top / step) - 2 else 1
    width_chars = int(ax.get_position().width * fig.get_figwidth() * 72 / 3.4 / columns)
    if left_out and not key:
        heading = (f"{left_out:,} incidents: too many to label one by one (the pack's "
                   "table lists them)")
    elif left_out:
        heading = f"Key to the numbers ({left_out} too crowded to number on the map)"
    else:
        heading = "Key to the numbers"
    ax.text(0, top, textwrap.fill(heading, int(width_chars * columns * 3.4 / 4.4)), fontsize=7,
            fontweight="bold", va="top", transform=ax.transAxes, gid="key-title")
    per_column = -(-len(key) // columns) if key else 0
    for i, (number, date, title) in enumerate(key):
        column, row = divmod(i, per_column)
        ax.text(column / columns, top - (row + 1.6) * step,
                _short(f"{number:>2} {date} {title}", width_chars), fontsize=5.5, va="top",
                transform=ax.transAxes, family="DejaVu Sans Mono", gid="key-line")


def _page_text(fig, opts: SnapshotOptions, count: int, layout: _Layout, banner: float,
               notes: list[str]) -> None:
    width_pt = (fig.get_figwidth() - 2 * EDGE_IN) * 72  # the writing width
    top = 1 - (banner or EDGE_IN / fig.get_figheight())
    title = textwrap.fill(printable(opts.title), int(width_pt / 9.5))
    fig.text(0.5, top - 0.012, title, ha="center", va="top", fontsize=15,
             fontweight="bold", gid="title")
    sub = printable(opts.subtitle) or "All dates"
    noun = "incident" if count == 1 else "incidents"
    fig.text(0.5, layout.header_bottom + 0.012, textwrap.fill(
        f"{sub} · {count:,} {noun} on the map", int(width_pt / 5.0)),
        ha="center", va="bottom", fontsize=9, color="#333", gid="subtitle")
    sources = "; ".join(dict.fromkeys(printable(s) for s in opts.sources if s))
    line = ATTRIBUTION + (f"; records: {_short(sources, 300)}" if sources else "")
    footer = [*(f"Note: {n}." for n in notes), line,
              f"Generated {opts.generated:%Y-%m-%d %H:%M} UTC by Flankwatch"]
    text = "\n".join(textwrap.fill(t, int(width_pt / 3.4))
                     for t in footer)
    fig.text(layout.map[0], layout.footer_top - 0.008, text, fontsize=5.5, color="#444",
             va="top", linespacing=1.25, gid="footer")


def marking_banners(fig: plt.Figure, marking: str) -> float:
    """The marking in a green banner at the top and at the bottom of the page, each
    :data:`EDGE_IN` inside the edge; returns the share of the page's height they take
    (their edge included; 0 without a marking)."""
    if not marking:
        return 0.0
    height = fig.get_figheight()
    pad_pt = 3
    for y, va in ((1 - (EDGE_IN + pad_pt / 72) / height, "top"),
                  ((EDGE_IN + pad_pt / 72) / height, "bottom")):
        fig.text(0.5, y, printable(marking).upper(), ha="center", va=va, fontsize=10,
                 fontweight="bold", color="white", gid="marking",
                 bbox={"facecolor": MARKING_GREEN, "edgecolor": "none", "pad": pad_pt})
    return (EDGE_IN + BANNER_IN) / height


def save_figure(fig: plt.Figure, path, *, dpi: int) -> None:
    """Save as PNG, PDF or SVG (by extension); PDF and SVG stay vector with fonts
    embedded (TrueType in PDF, glyphs as paths in SVG)."""
    extra = {"pil_kwargs": {"compress_level": 3}} if str(path).lower().endswith(".png") else {}
    with matplotlib.rc_context({"pdf.fonttype": 42, "svg.fonttype": "path"}):
        fig.savefig(path, dpi=dpi, facecolor="white", **extra)
    plt.close(fig)


def legend_labels(fig: plt.Figure) -> list[str]:
    """The legend's entries, in order (for tests and checks)."""
    legend = next((a.get_legend() for a in fig.axes if a.get_gid() == "panel"), None)
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]
