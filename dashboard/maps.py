"""The layered map: records and options in, a ``folium.Map`` out (no Streamlit here).

Every text value that comes from data is HTML-escaped before it reaches Leaflet, and
only http/https addresses become links. Incidents are sent to the browser as compact
arrays and clustered there, so a hundred thousand of them stay a few megabytes; the
Leaflet assets are the app's own copies (see ``dashboard.vendor``), never a CDN's.
"""

from __future__ import annotations

import base64
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
from dashboard.style import (
    BASEMAPS,
    CONFIDENCE_STROKES,
    DEFAULT_BANDS_KM,
    DEFAULT_LAYERS,
    DEFAULT_VIEW,
    KIND_LETTERS,
    LAYER_LABELS,
    ONLINE_BASEMAPS,
    STATUS_COLOURS,
    TYPE_COLOURS,
)
from dashboard.text import esc, link_html
from dashboard.vendor import asset_url, bundle_url, vendor_file
from geo.schema import CONFIDENCES, DEPLOYMENT_STATUSES, INCIDENT_TYPES, split_list

#: Above this many incidents, popups and tooltips are left out of the page (the detail
#: panel shows the clicked incident instead), to keep the page small.
POPUP_LIMIT = 3000
#: From this zoom level on every incident is drawn on its own.
UNCLUSTER_ZOOM = 10

_SEA = "#dbe9f4"
_LAND = "#f4f1ea"

#: Leaflet, Supercluster and the measure and full-screen plugins, in one file.
_SCRIPTS = [("map_scripts", bundle_url())]
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
    def day(ts) -> str:
        if ts is None or pd.isna(ts):
            return ""
        return ts.strftime({"month": "%b %Y", "year": "%Y"}.get(row.get("date_precision"),
                                                                  "%Y-%m-%d"))
    start, end = day(row.get("date")), day(row.get("date_end"))
    return f"{start} – {end}" if end and end != start else start


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
    return '<div class="fw-popup">' + "<br>".join(lines) + "</div>"


# --- incidents ------------------------------------------------------------------------

class IncidentLayer(_RenderedOnce):
    """Incidents as compact column arrays, clustered in the browser with Supercluster.

    Only what is in view is drawn: clusters as counted discs, single incidents as
    circle markers (colour by type, outline by confidence, large and pale where only the
    region is known). Clicking a cluster zooms in until it splits.
    """

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var group = {{ this._parent.get_name() }};
  var map = {{ this._parent._parent.get_name() }};
  var d = {{ this.meta }};
{% if this.inline %}
  build(bytes(d.arrays));
{% else %}
  // the arrays' download was started by the page's first script (see IncidentLayer)
  var early = window.fwIncidentData && window.fwIncidentData[{{ this.url }}];
  var texts = {{ this.text_url }};
  Promise.all([early || fetch({{ this.url }}).then(function (r) { return r.arrayBuffer(); }),
               texts && fetch(texts).then(function (r) { return r.json(); })])
    .then(function (got) {
      if (got[1]) { d.popups = got[1].popups; d.tips = got[1].tips; }
      build(got[0]);
    });
{% endif %}
  function bytes(text) {
    var bin = atob(text), out = new Uint8Array(bin.length);
    for (var k = 0; k < bin.length; k++) { out[k] = bin.charCodeAt(k); }
    return out.buffer;
  }
  function build(buffer) {
  var n = d.n;
  var lat = new Float32Array(buffer, 0, n), lon = new Float32Array(buffer, 4 * n, n);
  var code = new Uint8Array(buffer, 8 * n, n);
  var points = new Array(n);
  for (var i = 0; i < n; i++) {
    points[i] = {type: "Feature", properties: {i: i},
                 geometry: {type: "Point", coordinates: [lon[i], lat[i]]}};
  }
  var index = new Supercluster({radius: 45, maxZoom: {{ this.uncluster_zoom }} - 1,
                                minPoints: 3});
  index.load(points);
  var shown = L.featureGroup().addTo(group);
  var markers = [];
  function point(i) {
    var s = d.strokes[(code[i] >> 3) & 3], region = (code[i] >> 5) === 1;
    var m = L.circleMarker([lat[i], lon[i]], {radius: region ? 13 : 7, color: "#222",
        weight: s[0], dashArray: s[1], fillColor: d.colours[code[i] & 7],
        fillOpacity: region ? 0.18 : 0.85});
    m.fwIndex = i;
    if (d.popups) { m.bindPopup(d.popups[i], {maxWidth: 340}); m.bindTooltip(d.tips[i]); }
    return m;
  }
  function cluster(item) {
    var count = item.properties.point_count;
    var size = count < 100 ? 30 : count < 1000 ? 38 : 46;
    var el = document.createElement("div");
    el.className = "fw-cluster";
    el.style.width = el.style.height = el.style.lineHeight = size + "px";
    el.textContent = item.properties.point_count_abbreviated;
    var c = item.geometry.coordinates;
    var m = L.marker([c[1], c[0]], {icon: L.divIcon({html: el, className: "",
        iconSize: [size, size]})});
    m.on("click", function () {
      map.setView([c[1], c[0]],
                  Math.min(index.getClusterExpansionZoom(item.properties.cluster_id), 18));
    });
    return m;
  }
  var current = {};  // key -> layer now on the map; kept across redraws so that an
                    // open popup survives the map panning to show it
  function draw() {
    var next = {}, z = Math.round(map.getZoom());
    if (map.hasLayer(group)) {
      var b = map.getBounds().pad(0.25);
      var items = index.getClusters([Math.max(b.getWest(), -180),
          Math.max(b.getSouth(), -85), Math.min(b.getEast(), 180),
          Math.min(b.getNorth(), 85)], z);
      for (var k = 0; k < items.length; k++) {
        var item = items[k], p = item.properties;
        var key = p.cluster ? "c" + z + ":" + p.cluster_id : "p" + p.i;
        next[key] = current[key] || (p.cluster ? cluster(item) : point(p.i));
      }
    }
    for (var old in current) { if (!next[old]) { shown.removeLayer(current[old]); } }
    markers = [];
    for (var key2 in next) {
      if (!current[key2]) { shown.addLayer(next[key2]); }
      if (next[key2].fwIndex !== undefined) { markers.push(next[key2]); }
    }
    current = next;
  }
  map.on("moveend", draw);
  group.on("add", draw);
  draw();
  // for inspection from the page (tests, benchmarks)
  window.fwIncidents = {total: n, markers: function () { return markers; },
                        popup: function (i) { return d.popups ? d.popups[i] : null; },
                        tip: function (i) { return d.tips ? d.tips[i] : null; }};
  }
})();
{% endmacro %}
""")

    def __init__(self, incidents: pd.DataFrame, sources: Mapping[str, tuple[str, str]],
                 *, inline: bool = False):
        super().__init__()
        self._name = "IncidentLayer"
        self.uncluster_zoom = UNCLUSTER_ZOOM
        meta = incident_payload(incidents, sources)
        arrays = incident_arrays(incidents)
        self.inline = inline
        #: In a served page, a tiny script to be loaded before Leaflet that starts the
        #: arrays' download, so that it runs while the map's scripts load.
        self.starter_url: str | None = None
        if inline:  # standalone pages embed everything
            self.meta = _js({**meta, "arrays": base64.b64encode(arrays).decode("ascii")})
            self.url = self.text_url = "null"
            return
        texts = {"popups": meta.pop("popups"), "tips": meta.pop("tips")}
        self.meta = _js(meta)
        # content-addressed files: the page stays small and browsers cache a selection
        url = display.data_url("incidents", arrays, suffix=".bin")
        self.url = _js(url)
        self.text_url = ("null" if texts["popups"] is None
                         else _js(display.data_url("popups", _js(texts))))
        self.starter_url = display.data_url("incidents-start", _starter_script(url),
                                            suffix=".js")


def _starter_script(url: str) -> str:
    """A script that starts downloading the arrays at ``url`` and keeps the promise."""
    key = _js(url)
    return ("window.fwIncidentData = window.fwIncidentData || {};\n"
            f"window.fwIncidentData[{key}] = fetch({key}).then(function (r) {{\n"
            "  if (!r.ok) { throw new Error('incident arrays: HTTP ' + r.status); }\n"
            "  return r.arrayBuffer();\n});\n")


def incident_arrays(incidents: pd.DataFrame) -> bytes:
    """The positions and symbols sent to the browser, little-endian binary: ``lat`` then
    ``lon`` as float32 (within half a metre), then one ``code`` byte per incident: type
    code (bits 0-2, into ``colours``), confidence code (bits 3-4, into ``strokes``), 1 in
    bit 5 where only the region is known."""
    types = pd.Categorical(incidents["type"].fillna("unknown"), categories=INCIDENT_TYPES)
    confidence = pd.Categorical(incidents["confidence"].fillna("reported"),
                                categories=CONFIDENCES)
    t = np.where(types.codes < 0, INCIDENT_TYPES.index("unknown"), types.codes)
    c = np.where(confidence.codes < 0, CONFIDENCES.index("reported"), confidence.codes)
    r = (incidents["location_precision"] == "region").to_numpy(int)
    code = (t | (c << 3) | (r << 5)).astype(np.uint8)
    return b"".join([incidents["lat"].to_numpy("<f4").tobytes(),
                     incidents["lon"].to_numpy("<f4").tobytes(), code.tobytes()])


def incident_payload(incidents: pd.DataFrame,
                     sources: Mapping[str, tuple[str, str]]) -> dict:
    """What the browser needs besides :func:`incident_arrays`: the count, the colour and
    stroke tables the codes index, and escaped popups and tooltips when there are at
    most :data:`POPUP_LIMIT` incidents (else None)."""
    payload = {
        "n": len(incidents),
        "colours": [TYPE_COLOURS[t] for t in INCIDENT_TYPES],
        "strokes": [list(CONFIDENCE_STROKES[c]) for c in CONFIDENCES],
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
(function () {
  var layer = L.geoJSON({{ this.data }}, {
    style: function (f) { return f.properties.style || {}; },
    pointToLayer: function (f, latlng) {
      var p = f.properties;
      if (p.icon) {
        var div = document.createElement("div");
        div.className = "fw-deployment";
        div.style.background = p.icon.colour;
        div.textContent = p.icon.letter;
        var map = {{ this._parent._parent.get_name() }};
        if (!map.getPane("fwDeployments")) {  // under the incidents (overlay pane, 400)
          map.createPane("fwDeployments");
          map.getPane("fwDeployments").style.zIndex = 390;
        }
        return L.marker(latlng, {pane: "fwDeployments", icon: L.divIcon({html: div,
            className: "", iconSize: [18, 18], iconAnchor: [9, 9]})});
      }
      return L.circleMarker(latlng, p.style || {});
    },
    onEachFeature: function (f, l) {
      if (f.properties.tip) { l.bindTooltip(f.properties.tip); }
      if (f.properties.popup) { l.bindPopup(f.properties.popup, {maxWidth: 340}); }
    }
  });
  {{ this._parent.get_name() }}.addLayer(layer);
})();
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
if (!{{ this._parent.get_name() }}.getPane({{ this.pane|tojson }})) {
  {{ this._parent.get_name() }}.createPane({{ this.pane|tojson }});
  {{ this._parent.get_name() }}.getPane({{ this.pane|tojson }}).style.zIndex = {{ this.z }};
}
var {{ this.get_name() }} = L.geoJSON(null, {
    pane: {{ this.pane|tojson }},
    interactive: false,
    style: function (f) {
      var s = {{ this.style }};
      if (f.properties && f.properties.km !== undefined) {
        var i = {{ this.kms }}.indexOf(f.properties.km);
        s = Object.assign({}, s, {fillOpacity: Math.max(0.22 - 0.06 * i, 0.05)});
      }
      return s;
    }
});
{% if this.data %}
{{ this.get_name() }}.addData({{ this.data }});
{% else %}
fetch({{ this.url }}).then(function (r) { return r.json(); })
    .then(function (d) { {{ this.get_name() }}.addData(d); });
{% endif %}
{% endmacro %}
""")

    def __init__(self, layer: str, label: str, style: dict, *, bands_km=(),
                 inline: bool = False, show: bool = True, pane: str = "fwReference"):
        super().__init__(name=label, overlay=True, control=True, show=show)
        self._name = "ReferenceLayer"
        self.pane, self.z = pane, REFERENCE_PANES[pane]
        self.style = _js(style)
        self.kms = _js([float(k) for k in sorted(bands_km)])
        bands = tuple(float(k) for k in bands_km)
        self.data = _js(display.reference_layer(layer, bands)) if inline else ""
        self.url = "" if inline else _js(display.reference_url(layer, bands))


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


# --- map furniture --------------------------------------------------------------------

class Legend(_RenderedOnce):
    """A legend listing only what is drawn."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var legend = L.control({position: "bottomright"});
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "fw-legend");
    div.innerHTML = "<details open><summary>Legend</summary>"
        + {{ this.html }} + "</details>";
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  legend.addTo({{ this._parent.get_name() }});
})();
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
                    '<i class="fw-dot fw-region"></i>region only')
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


_CSS = f"""
<style>
.leaflet-container {{ background: {_SEA} !important; }}
.fw-legend {{ background: rgba(255,255,255,.92); padding: 4px 8px; font: 11px/1.45 sans-serif;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); max-width: 220px; }}
.fw-legend summary {{ cursor: pointer; font-weight: bold; }}
.fw-dot {{ display:inline-block; width:10px; height:10px; border-radius:50%;
  margin-right:5px; border:1.5px solid #222; vertical-align:middle; }}
.fw-thick {{ border-width:3px; }} .fw-dashed {{ border-style:dashed; }}
.fw-region {{ width:14px; height:14px; background:rgba(120,120,120,.2); }}
.fw-sq {{ display:inline-block; width:11px; height:11px; margin-right:5px;
  vertical-align:middle; }}
.fw-line {{ display:inline-block; width:22px; border-top:3px dashed #5b2c06;
  margin-right:5px; vertical-align:middle; }}
.fw-small {{ font-size:11px; color:#444; }}
.fw-deployment {{ width:18px; height:18px; color:#fff; font:bold 11px/18px sans-serif;
  text-align:center; border:1px solid #222; border-radius:3px; }}
.fw-popup {{ font: 12px/1.45 sans-serif; }}
.fw-cluster {{ border-radius: 50%; text-align: center; font: bold 12px sans-serif;
  color: #222; background: rgba(250, 200, 90, .8); border: 4px solid rgba(240, 160, 40, .45);
  background-clip: padding-box; box-sizing: border-box; cursor: pointer; }}
</style>
"""


def _localise(m: folium.Map) -> None:
    """Load only our own copies of Leaflet and its plugins, as one script (folium's
    defaults point at CDNs and pull in jQuery, Bootstrap and icon fonts the map does not
    use)."""
    m.default_js = list(_SCRIPTS)
    m.default_css = list(_LEAFLET_CSS)


class _Measure(folium.plugins.MeasureControl):
    default_js: ClassVar = []  # in the map's script bundle
    default_css: ClassVar = [("leaflet_measure_css",
                    asset_url("leaflet-measure", "dist/leaflet-measure.css"))]


class _Fullscreen(folium.plugins.Fullscreen):
    default_js: ClassVar = []  # in the map's script bundle
    default_css: ClassVar = [("fullscreen_css",
                              asset_url("leaflet.fullscreen", "Control.FullScreen.css"))]


def build_map(incidents: pd.DataFrame, *, deployments: pd.DataFrame | None = None,
              defense_lines: pd.DataFrame | None = None, tracks: pd.DataFrame | None = None,
              crossings: pd.DataFrame | None = None,
              options: MapOptions | None = None) -> folium.Map:
    """Build the dashboard map.

    Parameters
    ----------
    incidents : DataFrame
        Enriched incident records (``lat``, ``lon``, ``type``, ``confidence``, ...).
    deployments, defense_lines, tracks : DataFrame, optional
        Records of those types; lines carry shapely ``geometry``.
    crossings : DataFrame, optional
        Border crossings of the tracks (``lon``, ``lat``, ``direction``, ``time``).
    options : MapOptions, optional
        Layers, bands, basemap and view.
    """
    opts = options or MapOptions()
    deployments = deployments if deployments is not None else pd.DataFrame(
        columns=["lat", "lon", "status", "kind"])
    m = folium.Map(location=list(opts.center), zoom_start=opts.zoom, tiles=None,
                   control_scale=True, prefer_canvas=True, height=opts.height)
    m.options.update(maxZoom=18, minZoom=3)  # folium gives them to tile layers only
    _localise(m)
    m.get_root().header.add_child(Element(_CSS))
    ReferenceLayer("land", "Offline basemap (land)",
                   {"color": "#b9b2a3", "weight": 0.6, "fillColor": _LAND, "fillOpacity": 1},
                   inline=opts.inline_reference, pane="fwLand",
                   show=opts.basemap == "offline").add_to(m)
    if opts.basemap in ONLINE_BASEMAPS:
        url, attribution, name = ONLINE_BASEMAPS[opts.basemap]
        folium.TileLayer(url, attr=esc(attribution), name=name).add_to(m)
    _add_reference(m, opts)
    if "defense_lines" in opts.layers and defense_lines is not None and len(defense_lines):
        _data_group(m, "defense_lines", defense_line_features(defense_lines))
    if "deployments" in opts.layers and len(deployments):
        _data_group(m, "deployments", deployment_features(deployments, opts.sources))
    if "tracks" in opts.layers and tracks is not None and len(tracks):
        crossings = crossings if crossings is not None else pd.DataFrame(
            columns=["lat", "lon", "direction", "time"])
        _data_group(m, "tracks", track_features(tracks, crossings))
    if "incidents" in opts.layers:
        group = folium.FeatureGroup(name=LAYER_LABELS["incidents"])
        layer = IncidentLayer(incidents, opts.sources, inline=opts.inline_reference)
        layer.add_to(group)
        group.add_to(m)
        if layer.starter_url:  # first of the page's scripts
            m.default_js = [("incident_arrays", layer.starter_url), *m.default_js]
    Legend(legend_entries(incidents, deployments, opts)).add_to(m)
    _Measure(primary_length_unit="kilometers", secondary_length_unit=None,
             primary_area_unit="sqkilometers", secondary_area_unit=None).add_to(m)
    _Fullscreen(position="topleft").add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    return m


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
