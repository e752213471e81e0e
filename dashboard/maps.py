"""The layered map: records and options in, a ``folium.Map`` out (no Streamlit here).

Every text value that comes from data is HTML-escaped before it reaches Leaflet, and
only http/https addresses become links. Incidents are sent to the browser as compact
arrays and clustered there, so a hundred thousand of them stay a few megabytes; the
Leaflet assets are the app's own copies (see ``dashboard.vendor``), never a CDN's.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import folium
import folium.plugins
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from dashboard import display
from dashboard.state import TimeState
from dashboard.style import (
    BASEMAPS,
    CONFIDENCE_STROKES,
    DEFAULT_BANDS_KM,
    DEFAULT_LAYERS,
    DEFAULT_VIEW,
    DENSITY_LAYERS,
    KIND_LETTERS,
    LAYER_LABELS,
    ONLINE_BASEMAPS,
    STATUS_COLOURS,
    TYPE_COLOURS,
)
from dashboard.text import esc, link_html
from dashboard.vendor import asset_url, bundle_url, own_style, vendor_file
from geo.dates import day_bounds, format_period, record_periods
from geo.schema import CONFIDENCES, DEPLOYMENT_STATUSES, INCIDENT_TYPES, split_list

#: Above this many incidents, popups and tooltips are left out of the page (the detail
#: panel shows the clicked incident instead), to keep the page small.
POPUP_LIMIT = 3000
#: From this zoom level on every incident is drawn on its own.
UNCLUSTER_ZOOM = 10

_LAND = "#f4f1ea"

_LEAFLET_CSS = [("leaflet_css", asset_url("leaflet", "dist/leaflet.css"))]


@dataclass(frozen=True)
class MapOptions:
    """What to draw and where to look."""

    layers: tuple[str, ...] = DEFAULT_LAYERS
    bands_km: tuple[float, ...] = DEFAULT_BANDS_KM
    basemap: str = "offline"
    center: tuple[float, float] = DEFAULT_VIEW[:2]
    zoom: int = DEFAULT_VIEW[2]
    #: Height of the map: pixels, or a CSS length such as "100%" (standalone pages).
    height: int | str = 620
    #: ``{source id: (title, url)}`` for links in popups.
    sources: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Embed the reference layers and the incident arrays in the page (standalone HTML)
    #: instead of having the browser fetch them from the app.
    inline_reference: bool = False
    #: Where the time control stands when the page opens (None: off).
    time: TimeState | None = None
    #: The filter's period (first and last day; None: open): the time control runs
    #: within it, whatever the records' own periods.
    period: tuple[dt.date | None, dt.date | None] = (None, None)
    #: Outlines of the area filters ((lon, lat) vertices each), drawn on the map.
    outlines: tuple[tuple[tuple[float, float], ...], ...] = ()
    #: Offer the drawing tools (rectangle, polygon) for the area filter.
    drawing: bool = False
    #: A box (west, south, east, north) the map is fitted to when it opens, instead of
    #: ``center`` and ``zoom`` (None: those).
    fit: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.layers) - set(LAYER_LABELS))
        if unknown:
            msg = f"`layers` has {unknown}; expected some of {list(LAYER_LABELS)}"
            raise ValueError(msg)
        if self.basemap not in BASEMAPS:
            msg = f"`basemap` was {self.basemap!r} but is expected to be in {BASEMAPS}"
            raise ValueError(msg)


# --- escaping -------------------------------------------------------------------------

#: Characters of JSON text that are replaced by their ``\\uXXXX`` escapes in a page:
#: ``<``, ``>`` and ``&`` so that no markup (``</script>``, ``<!--``) can end or change
#: the script element, and U+2028/U+2029 for older JavaScript parsers.
_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029]")
#: A ``{`` that would open a Jinja tag (``{{``, ``{%``, ``{#``). Structural JSON never
#: has one (an object's ``{`` is followed by ``"`` or ``}``), so every match is inside a
#: string, where ``\\u007b`` means the same character.
_TEMPLATE_OPENER = re.compile(r"\{(?=[{%#])")


def _js(value: object) -> str:
    """JSON of ``value`` for a script element: a literal that is only data, whatever the
    strings in it hold. No markup can close or change the element, and no template
    engine that ever sees the page's text finds a tag in it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = _SCRIPT_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return _TEMPLATE_OPENER.sub(r"\\u007b", text)


class _Verbatim(Element):
    """Text already rendered: put in the page as it is, never compiled as a template."""

    def __init__(self, text: str):
        super().__init__()
        self._text = text

    def render(self, **kwargs) -> str:
        return self._text


class _RenderedOnce(MacroElement):
    """A macro element whose output is rendered once. branca's ``MacroElement.render``
    wraps each macro's output in a new ``Element``, which compiles it as a template a
    second time: text from the data inside it would run as Jinja. Here the output is
    added as it is."""

    def render(self, **kwargs) -> None:
        figure = self.get_root()
        module = self._template.module
        for part, target in (("header", figure.header), ("html", figure.html),
                             ("script", figure.script)):
            macro = module.__dict__.get(part)
            if macro is not None:
                target.add_child(_Verbatim(macro(self, kwargs)), name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)


# --- popups ---------------------------------------------------------------------------

def fmt_date(row) -> str:
    """A record's date or range, as precise as its ``date_precision``."""
    return format_period(row.get("date"), row.get("date_end"), row.get("date_precision"))


def fmt_km(value: object) -> str:
    """A distance in km to 0.1 km, or a dash where there is none."""
    return "—" if value is None or pd.isna(value) else f"{float(value):,.1f} km"


def source_links(ids: str, sources: Mapping[str, tuple[str, str]]) -> str:
    """HTML list of a record's sources: a link where the source has an http(s) URL."""
    items = []
    for ident in split_list(ids):
        title, url = sources.get(ident, (ident, ""))
        items.append(link_html(title or ident, url))
    return "; ".join(items)


def incident_popup(row: Mapping, sources: Mapping[str, tuple[str, str]]) -> str:
    """The popup of one incident, every data value escaped."""
    country = row.get("country_name") or "no state (international airspace)"
    lines = [
        f"<b>{esc(row.get('title') or row.get('id'))}</b>",
        f"{esc(fmt_date(row))} · {esc(row.get('type'))} · {esc(row.get('confidence'))}",
        f"{esc(row.get('location_label'))} ({esc(country)})",
        f"From Belarus: {esc(fmt_km(row.get('dist_belarus_km')))} · from Kaliningrad: "
        f"{esc(fmt_km(row.get('dist_kaliningrad_km')))}",
        f"<span>{esc(row.get('description'))}</span>",
        f"Sources: {source_links(row.get('sources') or '', sources)}",
    ]
    event = row.get("event")
    if isinstance(event, str) and event:  # one record of an event (seeds/events.csv)
        lines.insert(3, f"Event: {esc(event)}")
    return '<div class="fw-popup">' + "<br>".join(lines) + "</div>"


# --- incidents ------------------------------------------------------------------------

class IncidentData(_RenderedOnce):
    """The incidents' arrays for the page: loaded once and shared by the clusters, the
    time control and the density layers.

    In a served page the arrays (and the popups, when there are any) are files the
    browser fetches; a tiny script loaded before Leaflet starts the arrays' download so
    that it runs while the map's scripts load. Standalone pages embed everything.
    """

    _template = Template("""
{% macro script(this, kwargs) %}
Flankwatch.loadIncidents({{ this.meta }}, {{ this.source }});
{% endmacro %}
""")

    def __init__(self, incidents: pd.DataFrame, sources: Mapping[str, tuple[str, str]],
                 *, inline: bool = False):
        super().__init__()
        self._name = "IncidentData"
        meta = incident_payload(incidents, sources)
        arrays = incident_arrays(incidents, t0_hours=meta["t0_hours"])
        #: Files the served page fetches (see ``display.publish``).
        self.payloads: list[display.Payload] = []
        self.starter_url: str | None = None
        if inline:
            self.meta = _js(meta)
            self.source = _js({"inline": base64.b64encode(arrays).decode("ascii")})
            return
        texts = {"popups": meta.pop("popups"), "tips": meta.pop("tips")}
        self.meta = _js(meta)
        data = display.selection_payload("incidents", arrays, suffix=".bin")
        self.payloads.append(data)
        source = {"url": data.url, "texts": None}
        if texts["popups"] is not None:
            popups = display.selection_payload("popups", _js(texts))
            self.payloads.append(popups)
            source["texts"] = popups.url
        self.source = _js(source)
        starter = display.selection_payload("incidents-start", _starter_script(data.url),
                                            suffix=".js")
        self.payloads.append(starter)
        self.starter_url = starter.url


class IncidentLayer(_RenderedOnce):
    """Incidents clustered in the browser (Supercluster): a cluster is a ring in the
    colours of its types with its count; single incidents are circle markers (colour by
    type, outline by confidence, large and pale where only the region is known).
    Clicking a cluster zooms in until it splits. Over a density layer (``dots``) they
    are small dots instead, never rings, so that the density stays in sight."""

    _template = Template("""
{% macro script(this, kwargs) %}
Flankwatch.incidentLayer({{ this._parent._parent.get_name() }},
                         {{ this._parent.get_name() }}, {{ this.options }});
{% endmacro %}
""")

    def __init__(self, *, dots: bool = False):
        super().__init__()
        self._name = "IncidentLayer"
        self.options = _js({"unclusterZoom": UNCLUSTER_ZOOM, "dots": dots})


class DensityLayer(_RenderedOnce):
    """A density surface of the incidents that pass the filters and the time window:
    ``hex`` (counts in H3 cells, a colour per count class) or ``heat`` (leaflet.heat).
    Its colour scale is written into the legend."""

    _template = Template("""
{% macro script(this, kwargs) %}
Flankwatch.{{ this.function }}({{ this._parent._parent.get_name() }},
                              {{ this._parent.get_name() }});
{% endmacro %}
""")

    def __init__(self, kind: str):
        super().__init__()
        self._name = "DensityLayer"
        self.function = {"hex": "hexLayer", "heat": "heatLayer"}[kind]


class Playback(_RenderedOnce):
    """The time control: play, pause, step, step size, speed and window, all in the
    browser; flight tracks move along their times and their crossings appear when they
    happen."""

    _template = Template("""
{% macro script(this, kwargs) %}
Flankwatch.playback({{ this._parent.get_name() }}, {{ this.options }});
{% endmacro %}
""")

    def __init__(self, state: TimeState | None, tracks: pd.DataFrame | None,
                 crossings: pd.DataFrame | None,
                 period: tuple[dt.date | None, dt.date | None] = (None, None)):
        super().__init__()
        self._name = "Playback"
        bounds = [None if t is None else t.value / 1e6 for t in day_bounds(*period)]
        self.options = _js({"state": None if state is None else state.to_js(),
                            "period": bounds,
                            "tracks": timed_tracks(tracks),
                            "crossings": timed_crossings(crossings)})


def _epoch_ms(stamps) -> list[float]:
    return [float(t.value // 1_000_000) for t in pd.to_datetime(stamps, utc=True)]


def timed_tracks(tracks: pd.DataFrame | None) -> list[dict]:
    """Tracks whose every vertex has a time: coordinates (lat, lon), times (ms since
    1970) and the colour of their type."""
    out = []
    if tracks is None or tracks.empty:
        return out
    for row in tracks.to_dict("records"):
        times = split_list(row.get("times") or "")
        coords = shapely.get_coordinates(row["geometry"])
        if len(times) < 2 or len(times) != len(coords):
            continue
        try:
            ms = _epoch_ms(times)
        except (ValueError, TypeError):
            continue
        out.append({"coords": [[round(y, 5), round(x, 5)] for x, y in coords],
                    "times": ms, "colour": TYPE_COLOURS.get(row.get("type"), "#333")})
    return out


def timed_crossings(crossings: pd.DataFrame | None) -> list[dict]:
    """Border crossings with a time, for the time control."""
    if crossings is None or crossings.empty or "time" not in crossings:
        return []
    known = crossings[crossings["time"].notna()]
    return [{"lat": float(r["lat"]), "lon": float(r["lon"]), "time": ms}
            for r, ms in zip(known.to_dict("records"), _epoch_ms(known["time"]),
                             strict=True)]


def _starter_script(url: str) -> str:
    """A script that starts downloading the arrays at ``url`` and keeps the promise."""
    key = _js(url)
    return ("window.fwIncidentData = window.fwIncidentData || {};\n"
            f"window.fwIncidentData[{key}] = fetch({key}).then(function (r) {{\n"
            "  if (!r.ok) { throw new Error('incident arrays: HTTP ' + r.status); }\n"
            "  return r.arrayBuffer();\n});\n")


#: Bits of the packed time word: the start (hours since ``t0_hours``) in the low 22
#: bits (478 years), a code for the period's length in the high 10 bits.
START_BITS = 22
#: Start of an incident whose date is unknown (never shown by the time control).
NO_TIME = (1 << START_BITS) - 1
#: The 10-bit code of a period's length: 0-383 are hours (up to 16 days); 384-767 whole
#: days from 16 to 399; 768-1023 steps of 30 days from 400 days to 22 years. A length is
#: rounded up to its step; longer ones are cut to 22 years.
EXACT_HOURS, DAY_CODES, MONTH_CODES = 383, 384, 768
FIRST_DAYS, MONTH_FROM_DAYS, MONTH_DAYS = 16, 400, 30


def _hours(stamps: pd.Series) -> np.ndarray:
    """Whole hours since 1970 (float, NaN where missing)."""
    values = pd.to_datetime(stamps, utc=True)
    hours = values.to_numpy("datetime64[s]").astype("float64") / 3600
    return np.where(values.isna().to_numpy(), np.nan, np.floor(hours))


def duration_code(hours: np.ndarray) -> np.ndarray:
    """The 10-bit codes of period lengths in hours (see :data:`EXACT_HOURS`)."""
    days = np.ceil(hours / 24)
    by_day = DAY_CODES + np.clip(days, FIRST_DAYS, MONTH_FROM_DAYS - 1) - FIRST_DAYS
    by_month = MONTH_CODES + np.clip(np.ceil((days - MONTH_FROM_DAYS) / MONTH_DAYS), 0,
                                     1023 - MONTH_CODES)
    return np.where(hours <= EXACT_HOURS, hours,
                    np.where(days < MONTH_FROM_DAYS, by_day, by_month))


def incident_times(incidents: pd.DataFrame, t0_hours: int) -> np.ndarray:
    """Each incident's start (hours since ``t0_hours``) and the length of its period
    (see ``geo.dates.period_end_exclusive``), packed in one uint32 (see :data:`START_BITS`)."""
    n = len(incidents)
    if "date" not in incidents or incidents.empty:
        return np.full(n, NO_TIME, "<u4")
    begins, ends = record_periods(incidents)
    start = _hours(begins)
    length = np.nan_to_num(_hours(ends) - start, nan=0.0)
    rel = start - t0_hours
    known = ~np.isnan(rel) & (rel >= 0) & (rel < NO_TIME)
    starts = np.where(known, rel, NO_TIME).astype("<u4")
    codes = duration_code(np.clip(length, 0, None)).astype("<u4")
    return (starts | (codes << START_BITS)).astype("<u4")


def incident_arrays(incidents: pd.DataFrame, *, t0_hours: int = 0) -> bytes:
    """The positions, times and symbols sent to the browser, little-endian binary, one
    column after another: ``lat`` and ``lon`` as float32 (within half a metre), the time
    word as uint32 (:func:`incident_times`), then one ``code`` byte: type code (bits 0-2,
    into ``colours``), confidence code (bits 3-4, into ``strokes``), 1 in bit 5 where
    only the region is known. 13 bytes an incident."""
    types = pd.Categorical(incidents["type"].fillna("unknown"), categories=INCIDENT_TYPES)
    confidence = pd.Categorical(incidents["confidence"].fillna("reported"),
                                categories=CONFIDENCES)
    t = np.where(types.codes < 0, INCIDENT_TYPES.index("unknown"), types.codes)
    c = np.where(confidence.codes < 0, CONFIDENCES.index("reported"), confidence.codes)
    r = (incidents["location_precision"] == "region").to_numpy(int)
    code = (t | (c << 3) | (r << 5)).astype(np.uint8)
    return b"".join([incidents["lat"].to_numpy("<f4").tobytes(),
                     incidents["lon"].to_numpy("<f4").tobytes(),
                     incident_times(incidents, t0_hours).tobytes(), code.tobytes()])


def incident_payload(incidents: pd.DataFrame,
                     sources: Mapping[str, tuple[str, str]]) -> dict:
    """What the browser needs besides :func:`incident_arrays`: the count, the type names
    and the colour and stroke tables the codes index, the hour the start times count
    from, and escaped popups and tooltips when there are at most :data:`POPUP_LIMIT`
    incidents (else None)."""
    first = pd.to_datetime(incidents["date"], utc=True).min() if "date" in incidents else None
    payload = {
        "n": len(incidents),
        "types": list(INCIDENT_TYPES),
        "colours": [TYPE_COLOURS[t] for t in INCIDENT_TYPES],
        "strokes": [list(CONFIDENCE_STROKES[c]) for c in CONFIDENCES],
        # (the earliest start, in whole hours since 1970: the time words count from it)
        "t0_hours": 0 if first is None or pd.isna(first) else int(first.timestamp() // 3600),
        "popups": None,
        "tips": None,
    }
    if len(incidents) <= POPUP_LIMIT:
        records = incidents.to_dict("records")
        payload["popups"] = [incident_popup(r, sources) for r in records]
        payload["tips"] = [f"{esc(r.get('title') or r.get('id'))} · {esc(fmt_date(r))}"
                           for r in records]
    return payload


# --- other layers ---------------------------------------------------------------------
# Data-bearing layers are GeoJSON with pre-escaped ``tip``/``popup`` properties, bound
# by our own script: folium's Tooltip and Popup put text inside JavaScript template
# literals, where "${...}" in a description would run.

class DataLayer(_RenderedOnce):
    """Features with escaped tooltip/popup text, per-feature style, and for points an
    icon built from our own markup (``icon``: letter and colour)."""

    _template = Template("""
{% macro script(this, kwargs) %}
Flankwatch.dataLayer({{ this._parent._parent.get_name() }}, {{ this._parent.get_name() }},
                     {{ this.data }});
{% endmacro %}
""")

    def __init__(self, features: list[dict]):
        super().__init__()
        self._name = "DataLayer"
        self.data = _js({"type": "FeatureCollection", "features": features})


def deployment_popup(row: Mapping, sources: Mapping[str, tuple[str, str]]) -> str:
    """The popup of one deployment, every data value escaped."""
    lines = [f"<b>{esc(row.get('name'))}</b>",
             f"{esc(fmt_date(row))} · {esc(row.get('kind'))} · {esc(row.get('status'))}",
             f"Operator: {esc(row.get('operator'))} · {esc(row.get('location_basis'))}",
             esc(row.get("description")),
             f"Sources: {source_links(row.get('sources') or '', sources)}"]
    return '<div class="fw-popup">' + "<br>".join(lines) + "</div>"


def _spread(frame: pd.DataFrame) -> pd.DataFrame:
    """Records sharing one stand-in point (region precision) fanned out on a small
    circle, so each stays clickable."""
    frame = frame.copy()
    key = frame["lat"].round(4).astype(str) + "," + frame["lon"].round(4).astype(str)
    rank = frame.groupby(key).cumcount().to_numpy()
    size = frame.groupby(key)["lat"].transform("size").to_numpy()
    angle = 2 * np.pi * rank / np.maximum(size, 1)
    radius = np.where(size > 1, 0.12, 0.0)
    frame["lat"] = frame["lat"] + radius * np.sin(angle) * 0.6
    frame["lon"] = frame["lon"] + radius * np.cos(angle)
    return frame


def deployment_features(deployments: pd.DataFrame,
                        sources: Mapping[str, tuple[str, str]]) -> list[dict]:
    """Deployments as point features: colour by status, letter by kind."""
    return [display.feature(shapely.Point(r["lon"], r["lat"]),
                     icon={"colour": STATUS_COLOURS.get(r.get("status"), "#555"),
                           "letter": KIND_LETTERS.get(r.get("kind"), "?")},
                     tip=esc(r.get("name")), popup=deployment_popup(r, sources))
            for r in _spread(deployments).to_dict("records")]


def defense_line_features(lines: pd.DataFrame) -> list[dict]:
    """Defence lines, dashed where schematic, labelled with their depth."""
    out = []
    for row in lines.to_dict("records"):
        schematic = str(row.get("schematic")).lower() == "true"
        label = str(row.get("name") or row.get("id"))
        depth = row.get("depth_km")
        if depth is not None and not pd.isna(depth):
            label += f" (up to {float(depth):g} km deep)"
        if schematic:
            label += " — schematic"
        style = {"color": "#5b2c06", "weight": 4, "dashArray": "10 6" if schematic else None}
        out.append(display.feature(row["geometry"], tip=esc(label), style=style,
                            popup=f"<b>{esc(label)}</b><br>{esc(row.get('description'))}"))
    return out


def track_features(tracks: pd.DataFrame, crossings: pd.DataFrame) -> list[dict]:
    """Track lines and their border-crossing points."""
    out = [display.feature(r["geometry"], tip=esc(f"track {r.get('id')}"),
                    style={"color": TYPE_COLOURS.get(r.get("type"), "#333"), "weight": 2.5})
           for r in tracks.to_dict("records")]
    for r in crossings.to_dict("records"):
        when = f" at {r['time']:%Y-%m-%d %H:%M}Z" if pd.notna(r.get("time")) else ""
        out.append(display.feature(shapely.Point(r["lon"], r["lat"]),
                            tip=esc(f"{r['direction']}{when}"),
                            style={"radius": 5, "color": "#000", "weight": 2,
                                   "fillColor": "#fff", "fillOpacity": 1}))
    return out


def _data_group(m: folium.Map, key: str, features: list[dict]) -> None:
    group = folium.FeatureGroup(name=LAYER_LABELS[key])
    DataLayer(features).add_to(group)
    group.add_to(m)


#: Panes of the reference layers, below Leaflet's overlay pane (400), so that they are
#: drawn under the data and never take its clicks: name -> z-index.
REFERENCE_PANES = {"fwLand": 150, "fwReference": 350}


class ReferenceLayer(folium.map.Layer, _RenderedOnce):
    """A display layer of reference geometry (see ``dashboard.display``), drawn in its
    own pane under the data and not clickable. The browser fetches it from the app (and
    caches it across reruns); standalone pages embed it."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = Flankwatch.referenceLayer({{ this._parent.get_name() }},
                                                     {{ this.options }});
{% endmacro %}
""")

    def __init__(self, layer: str, label: str, style: dict, *, bands_km=(),
                 inline: bool = False, show: bool = True, pane: str = "fwReference"):
        super().__init__(name=label, overlay=True, control=True, show=show)
        self._name = "ReferenceLayer"
        bands = tuple(float(k) for k in bands_km)
        options = {"pane": pane, "z": REFERENCE_PANES[pane], "style": style,
                   "kms": sorted(bands), "data": None, "url": None}
        self.payloads: list[display.Payload] = []
        if inline:
            options["data"] = display.reference_layer(layer, bands)
        else:
            file = display.reference_payload(layer, bands)
            self.payloads.append(file)
            options["url"] = file.url
        self.options = _js(options)


def _add_reference(m: folium.Map, opts: MapOptions) -> None:
    if "borders" in opts.layers:
        ReferenceLayer("borders", LAYER_LABELS["borders"], {"color": "#666", "weight": 1},
                       inline=opts.inline_reference).add_to(m)
    for which in ("belarus", "kaliningrad"):
        key = f"bands_{which}"
        if key in opts.layers and opts.bands_km:
            ReferenceLayer(key, LAYER_LABELS[key],
                           {"color": "#b03030", "weight": 0.8, "fillColor": "#e06666",
                            "fillOpacity": 0.2},
                           bands_km=opts.bands_km, inline=opts.inline_reference).add_to(m)
        if which in opts.layers:
            ReferenceLayer(which, LAYER_LABELS[which],
                           {"color": "#7a0000", "weight": 2, "fillColor": "#a33",
                            "fillOpacity": 0.25}, inline=opts.inline_reference).add_to(m)


class Behaviour(_RenderedOnce):
    """How the map behaves in the page: the wheel zooms only after a click on the map (it
    scrolls the page before), the offline basemap's data are credited, an online
    basemap whose tiles fail to load says so on the map, and the map opens fitted to
    ``fit`` (west, south, east, north) when given."""

    _template = Template("""
{% macro script(this, kwargs) %}
Flankwatch.behaviour({{ this._parent.get_name() }}, {{ this.options }});
{% endmacro %}
""")

    def __init__(self, *, offline: bool,
                 fit: tuple[float, float, float, float] | None = None):
        super().__init__()
        self._name = "Behaviour"
        box = None if fit is None else [[fit[1], fit[0]], [fit[3], fit[2]]]
        self.options = _js({"attribution": OFFLINE_ATTRIBUTION if offline else None,
                            "fit": box})


#: Credit of the offline basemap's data (see data/README.md).
OFFLINE_ATTRIBUTION = "© OpenStreetMap contributors · GeoNames"


class Labels(_RenderedOnce):
    """Country and town names on the offline basemap (``display.map_labels``), placed in
    the browser without overlaps, under the data."""

    _template = Template("""
{% macro script(this, kwargs) %}
Flankwatch.labelLayer({{ this._parent.get_name() }}, {{ this.options }});
{% endmacro %}
""")

    def __init__(self, *, inline: bool = False):
        super().__init__()
        self._name = "Labels"
        file = display.labels_payload()
        self.payloads = [] if inline else [file]
        self.options = _js({"data": json.loads(file.data)} if inline else {"url": file.url})


# --- map furniture --------------------------------------------------------------------

class Legend(_RenderedOnce):
    """A legend listing only what is drawn."""

    _template = Template("""
{% macro script(this, kwargs) %}
Flankwatch.legend({{ this._parent.get_name() }}, {{ this.html }});
{% endmacro %}
""")

    def __init__(self, entries: list[str]):
        super().__init__()
        self._name = "Legend"
        self.html = _js("".join(entries))


def legend_entries(incidents: pd.DataFrame, deployments: pd.DataFrame,
                   opts: MapOptions) -> list[str]:
    """Legend rows (HTML, built from the project's own labels only) for what is drawn."""
    rows = []
    if "incidents" in opts.layers and len(incidents):
        rows.append("<b>Incidents</b>")
        present = set(incidents["type"].unique())
        for t in [t for t in INCIDENT_TYPES if t in present]:
            rows.append(f'<i class="fw-dot" style="background:{TYPE_COLOURS[t]}"></i>{t}')
        rows.append('<i class="fw-dot fw-thick"></i>confirmed '
                    '<i class="fw-dot fw-dashed"></i>disputed '
                    '<i class="fw-dot fw-region"></i>region only (beside its point)')
    if "deployments" in opts.layers and len(deployments):
        rows.append("<b>Deployments</b>")
        statuses = set(deployments["status"].unique())
        for s in [s for s in DEPLOYMENT_STATUSES if s in statuses]:
            rows.append(f'<i class="fw-sq" style="background:{STATUS_COLOURS[s]}"></i>{s}')
        letters = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in KIND_LETTERS.items()
                            if k in set(deployments["kind"]))
        rows.append(f'<span class="fw-small">{letters}</span>')
    if "defense_lines" in opts.layers:
        rows.append('<i class="fw-line"></i>defence line (dashed: schematic)')
    if {"bands_belarus", "bands_kaliningrad"} & set(opts.layers) and opts.bands_km:
        kms = ", ".join(f"{k:g}" for k in sorted(opts.bands_km))
        rows.append(f'<i class="fw-sq" style="background:#e06666"></i>bands {kms} km')
    if {"belarus", "kaliningrad"} & set(opts.layers):
        rows.append('<i class="fw-sq" style="background:#a33"></i>Belarus / Kaliningrad')
    return [f"<div>{r}</div>" for r in rows]


def _localise(m: folium.Map) -> None:
    """Load only our own copies of Leaflet and its plugins, as one script (folium's
    defaults point at CDNs and pull in jQuery, Bootstrap and icon fonts the map does not
    use)."""
    m.default_js = [("map_scripts", bundle_url())]
    m.default_css = list(_LEAFLET_CSS)


class _Measure(folium.plugins.MeasureControl):
    default_js: ClassVar = []  # in the map's script bundle
    default_css: ClassVar = [("leaflet_measure_css",
                    asset_url("leaflet-measure", "dist/leaflet-measure.css"))]


class _Draw(folium.plugins.Draw):
    default_js: ClassVar = []  # in the map's script bundle
    default_css: ClassVar = [("leaflet_draw_css",
                              asset_url("leaflet-draw", "dist/leaflet.draw.css"))]


#: The drawing tools: a rectangle or a polygon (the area filter); nothing else.
_DRAW_OPTIONS = {"polyline": False, "circle": False, "marker": False, "circlemarker": False,
                 "rectangle": {"showArea": False, "shapeOptions": {"color": "#0b5394"}},
                 "polygon": {"allowIntersection": False, "showArea": False,
                             "shapeOptions": {"color": "#0b5394"}}}


def area_feature(ring) -> dict:
    """The area filter's outline, for the map (dashed, not clickable)."""
    return display.feature(shapely.Polygon(ring), style={
        "color": "#0b5394", "weight": 2, "dashArray": "6 4", "fill": False,
        "interactive": False})


class _Fullscreen(folium.plugins.Fullscreen):
    default_js: ClassVar = []  # in the map's script bundle
    default_css: ClassVar = [("fullscreen_css",
                              asset_url("leaflet.fullscreen", "Control.FullScreen.css"))]


@dataclass(frozen=True)
class MapPage:
    """A built map and the files its page fetches from the app (the incident arrays,
    popups and reference layers); :func:`publish` writes them."""

    map: folium.Map
    payloads: tuple[display.Payload, ...] = ()


def publish(page: MapPage) -> folium.Map:
    """Write the files the map's page fetches; returns the map."""
    display.publish(page.payloads)
    return page.map


def build_map(incidents: pd.DataFrame, *, deployments: pd.DataFrame | None = None,
              defense_lines: pd.DataFrame | None = None, tracks: pd.DataFrame | None = None,
              crossings: pd.DataFrame | None = None,
              options: MapOptions | None = None) -> MapPage:
    """Build the dashboard map (nothing is written: see :func:`publish`).

    Parameters
    ----------
    incidents : DataFrame
        Enriched incident records (``lat``, ``lon``, ``type``, ``confidence``, ``date``...).
    deployments, defense_lines, tracks : DataFrame, optional
        Records of those types; lines carry shapely ``geometry``.
    crossings : DataFrame, optional
        Border crossings of the tracks (``lon``, ``lat``, ``direction``, ``time``).
    options : MapOptions, optional
        Layers, bands, basemap, view and the time control's state.
    """
    opts = options or MapOptions()
    deployments = deployments if deployments is not None else pd.DataFrame(
        columns=["lat", "lon", "status", "kind"])
    m = folium.Map(location=list(opts.center), zoom_start=opts.zoom, tiles=None,
                   control_scale=True, prefer_canvas=True, height=opts.height,
                   scroll_wheel_zoom=False)
    m.options.update(maxZoom=18, minZoom=3)  # folium gives them to tile layers only
    _localise(m)
    m.get_root().header.add_child(_Verbatim(f"<style>{own_style()}</style>"))
    ReferenceLayer("land", "Offline basemap (land)",
                   {"color": "#b9b2a3", "weight": 0.6, "fillColor": _LAND, "fillOpacity": 1},
                   inline=opts.inline_reference, pane="fwLand",
                   show=opts.basemap == "offline").add_to(m)
    if opts.basemap in ONLINE_BASEMAPS:
        url, attribution, name = ONLINE_BASEMAPS[opts.basemap]
        folium.TileLayer(url, attr=esc(attribution), name=name).add_to(m)
    else:
        Labels(inline=opts.inline_reference).add_to(m)
    _add_reference(m, opts)
    if "defense_lines" in opts.layers and defense_lines is not None and len(defense_lines):
        _data_group(m, "defense_lines", defense_line_features(defense_lines))
    if "deployments" in opts.layers and len(deployments):
        _data_group(m, "deployments", deployment_features(deployments, opts.sources))
    if "tracks" in opts.layers and tracks is not None and len(tracks):
        crossings = crossings if crossings is not None else pd.DataFrame(
            columns=["lat", "lon", "direction", "time"])
        _data_group(m, "tracks", track_features(tracks, crossings))
    data = IncidentData(incidents, opts.sources, inline=opts.inline_reference)
    data.add_to(m)
    # the time control first: a link's time window applies before the incidents are
    # indexed (else they would be indexed twice)
    shown_tracks = tracks if "tracks" in opts.layers else None
    Playback(opts.time, shown_tracks, crossings if shown_tracks is not None else None,
             opts.period).add_to(m)
    for kind in DENSITY_LAYERS:
        if kind in opts.layers:
            group = folium.FeatureGroup(name=LAYER_LABELS[kind])
            DensityLayer(kind).add_to(group)
            group.add_to(m)
    if "incidents" in opts.layers:
        group = folium.FeatureGroup(name=LAYER_LABELS["incidents"])
        IncidentLayer(dots=bool(set(DENSITY_LAYERS) & set(opts.layers))).add_to(group)
        group.add_to(m)
    if data.starter_url:  # first of the page's scripts
        m.default_js = [("incident_arrays", data.starter_url), *m.default_js]
    if opts.outlines:
        group = folium.FeatureGroup(name="Area filter")
        DataLayer([area_feature(ring) for ring in opts.outlines]).add_to(group)
        group.add_to(m)
    Legend(legend_entries(incidents, deployments, opts)).add_to(m)
    _Measure(primary_length_unit="kilometers", secondary_length_unit=None,
             primary_area_unit="sqkilometers", secondary_area_unit=None).add_to(m)
    _Fullscreen(position="topleft").add_to(m)
    if opts.drawing:
        _Draw(position="topleft", draw_options=_DRAW_OPTIONS,
              edit_options={"edit": False, "remove": False}).add_to(m)
    # one layer control: the sidebar's (the address and the legend follow it)
    Behaviour(offline=opts.basemap not in ONLINE_BASEMAPS, fit=opts.fit).add_to(m)
    payloads = [p for element in _walk(m) for p in getattr(element, "payloads", ())]
    return MapPage(m, tuple(payloads))


def asset_links(m: folium.Map) -> list[str]:
    """Every script and stylesheet address the map asks the browser to load."""
    links = []
    for element in _walk(m):
        links += [u for _, u in getattr(element, "default_js", [])]
        links += [u for _, u in getattr(element, "default_css", [])]
    return links


def _walk(element) -> Iterable:
    yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)


def _data_uri(path) -> str:
    kind = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}.get(
        path.suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline_css(path) -> str:
    """A stylesheet with the images it points to embedded as data URIs."""
    text = path.read_text(encoding="utf-8")

    def embed(match: re.Match) -> str:
        target = match.group(1).strip("'\"")
        if target.startswith(("data:", "http:", "https:", "#")):
            return match.group(0)
        image = (path.parent / target).resolve()
        return f"url({_data_uri(image)})" if image.is_file() else match.group(0)

    return re.sub(r"url\(([^)]+)\)", embed, text)


def standalone_html(m: folium.Map) -> str:
    """The map as one HTML file that opens offline: the Leaflet scripts and styles are
    embedded (build the map with ``inline_reference=True`` so the reference layers are
    too). Online tile layers, if chosen, still need the network."""
    html = m.get_root().render()
    for url in dict.fromkeys(asset_links(m)):
        path = vendor_file(url)
        if url.endswith(".js"):
            code = path.read_text(encoding="utf-8").replace("</script", "<\\/script")
            html = html.replace(f'<script src="{url}"></script>', f"<script>{code}</script>")
        else:
            css = _inline_css(path)
            html = re.sub(rf'<link rel="stylesheet" href="{re.escape(url)}"\s*/>',
                          lambda _m, css=css: f"<style>{css}</style>", html)
    return html
