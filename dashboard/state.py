"""The dashboard's view (filters, layers, map position, selection) and its URL form.

A view round-trips through the query string, so a URL reproduces what its sender saw:

``?start=2025-07-01&end=2025-09-30&types=drone,aircraft&countries=LTU,POL
&confidence=confirmed&near=belarus:50&layers=incidents,tracks&bands=10,50,100
&basemap=offline&view=54.90,24.00,7&selected=ltu-2025-07-28-gerbera
&time=2025-09-10T02:00&window=3&step=hour&bbox=20.9,54.0,27.0,56.5&area=...``

``time``, ``window`` and ``step`` are the time control's cursor (UTC), its window (a
number of steps, or ``all`` for everything up to the cursor) and its step; the map's time
control writes them into the address itself as it moves. ``bbox`` (west, south, east,
north in degrees) and ``area`` (a polygon drawn on the map, in Google's encoded-polyline
form of its latitude/longitude vertices) keep only the incidents inside them.

A parameter that is missing means "no filter" (or the default); one that cannot be read
is ignored and reported, never half-applied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import polyline
import shapely

from dashboard.style import (
    BASEMAPS,
    DEFAULT_BANDS_KM,
    DEFAULT_LAYERS,
    DEFAULT_VIEW,
    LAYER_LABELS,
)
from dashboard.text import printable
from geo.filters import NEAR_COLUMNS, IncidentFilter
from geo.schema import CONFIDENCES, INCIDENT_TYPES

#: Step sizes of the time control.
TIME_STEPS = ("hour", "day", "week", "month")
#: Windows the time control offers, in steps (None: cumulative).
TIME_WINDOWS = (1, 3, 7, 30, None)


@dataclass(frozen=True)
class TimeState:
    """Where the map's time control stands: the cursor (UTC), the step size and the
    window (incidents of the last ``window`` steps up to the cursor; None: all of them
    since the period's start)."""

    cursor: dt.datetime
    step: str = "day"
    window: int | None = 7

    def to_query(self) -> dict[str, str]:
        """The ``time``, ``window`` and ``step`` parameters."""
        return {"time": self.cursor.strftime("%Y-%m-%dT%H:%M"),
                "window": "all" if self.window is None else str(self.window),
                "step": self.step}

    def to_js(self) -> dict:
        """The time control's starting state (the cursor in ms since 1970)."""
        return {"cursor": self.cursor.timestamp() * 1000, "step": self.step,
                "window": self.window or 7, "cumulative": self.window is None}


#: Targets of the "within N km of" filter, and the store column each uses.
NEAR_TARGETS = NEAR_COLUMNS


@dataclass(frozen=True)
class ViewState:
    """Everything that defines what the dashboard shows."""

    start: dt.date | None = None
    end: dt.date | None = None
    #: None means all; a tuple selects.
    types: tuple[str, ...] | None = None
    countries: tuple[str, ...] | None = None
    confidence: tuple[str, ...] | None = None
    #: ("belarus", 50.0): only incidents within 50 km of Belarus.
    near: tuple[str, float] | None = None
    layers: tuple[str, ...] = DEFAULT_LAYERS
    bands_km: tuple[float, ...] = DEFAULT_BANDS_KM
    basemap: str = "offline"
    view: tuple[float, float, int] = DEFAULT_VIEW
    selected: str | None = None
    #: The time control (None: off, every incident of the filters shown).
    time: TimeState | None = None
    #: Only incidents inside this box: west, south, east, north (degrees).
    bbox: tuple[float, float, float, float] | None = None
    #: Only incidents inside this polygon: its outline as (lon, lat) vertices.
    area: tuple[tuple[float, float], ...] | None = None
    #: ("Vilnius", 30.0): only incidents within 30 km of that place (a gazetteer name).
    around: tuple[str, float] | None = None
    #: Problems found while reading a URL (not part of the URL itself).
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def filter(self) -> IncidentFilter:
        """The incidents this view selects."""
        return IncidentFilter(start=self.start, end=self.end, types=self.types,
                              countries=self.countries, confidence=self.confidence,
                              near=self.near, bbox=self.bbox, area=self.area,
                              around=self.around)

    def to_query(self) -> dict[str, str]:
        """Query-string parameters; defaults are left out to keep URLs short."""
        q: dict[str, str] = {}
        if self.start:
            q["start"] = self.start.isoformat()
        if self.end:
            q["end"] = self.end.isoformat()
        for name in ("types", "countries", "confidence"):
            values = getattr(self, name)
            if values is not None:
                q[name] = ",".join(values)
        if self.near:
            q["near"] = f"{self.near[0]}:{self.near[1]:g}"
        if tuple(self.layers) != DEFAULT_LAYERS:
            q["layers"] = ",".join(self.layers)
        if tuple(self.bands_km) != DEFAULT_BANDS_KM:
            q["bands"] = ",".join(f"{b:g}" for b in self.bands_km)
        if self.basemap != "offline":
            q["basemap"] = self.basemap
        if tuple(self.view) != DEFAULT_VIEW:
            lat, lon, zoom = self.view
            q["view"] = f"{lat:.4f},{lon:.4f},{int(zoom)}"
        if self.selected:
            q["selected"] = self.selected
        if self.time:
            q.update(self.time.to_query())
        q.update(self._where_query())
        return q

    def _where_query(self) -> dict[str, str]:
        """The area filters' parameters: ``bbox``, ``area``, ``around``."""
        q = {}
        if self.bbox:
            q["bbox"] = ",".join(f"{v:g}" for v in self.bbox)
        if self.area:
            q["area"] = encode_area(self.area)
        if self.around:
            q["around"] = f"{self.around[0]}:{self.around[1]:g}"
        return q

    def area_polygon(self) -> shapely.Polygon | None:
        """The area filter as a polygon (lon/lat), or None."""
        return shapely.Polygon(self.area) if self.area else None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ViewState:
        """Read a view from query parameters; unreadable ones are skipped with a warning."""
        found: dict = {}
        warnings: list[str] = []
        for key, text in query.items():
            reader = PARAMETER_READERS.get(key)
            if reader is None:
                warnings.append(f"unknown URL parameter {key!r} ignored")
                continue
            try:  # bidirectional overrides, zero-width and control characters dropped
                found[_FIELD.get(key, key)] = reader(printable(text))
            except ValueError as exc:
                warnings.append(f"URL parameter {key}={text!r} ignored: {exc}")
        time_parts = {k: found.pop(k) for k in _TIME_FIELDS.values() if k in found}
        if "cursor" in time_parts:
            found["time"] = TimeState(**time_parts)
        elif time_parts:
            warnings.append("URL parameters window and step ignored: they need time=")
        state = cls(**found)
        if state.start and state.end and state.end < state.start:
            warnings.append("URL dates ignored: end is before start")
            state = replace(state, start=None, end=None)
        return replace(state, warnings=tuple(warnings))


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        msg = f"{text!r} is not a date (YYYY-MM-DD)"
        raise ValueError(msg) from exc


def _choices(allowed: tuple[str, ...] | None, *, upper: bool = False):
    def read(text: str) -> tuple[str, ...]:
        items = [t.strip().upper() if upper else t.strip().lower()
                 for t in text.split(",") if t.strip()]
        if allowed is not None:
            bad = [t for t in items if t not in allowed]
            if bad:
                msg = f"{bad} not in {list(allowed)}"
                raise ValueError(msg)
        elif upper and any(len(t) != 3 or not t.isalpha() for t in items):
            msg = "countries are ISO 3166 alpha-3 codes such as LTU"
            raise ValueError(msg)
        return tuple(dict.fromkeys(items))
    return read


def _distance_km(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        msg = f"distance {text!r} is not a number"
        raise ValueError(msg) from exc
    if not 0 < value <= 2000:
        msg = "distance must be between 0 and 2000 km"
        raise ValueError(msg)
    return value


def _near(text: str) -> tuple[str, float]:
    target, _, km = text.partition(":")
    if target not in NEAR_TARGETS:
        msg = f"expected TARGET:KM with TARGET one of {list(NEAR_TARGETS)}"
        raise ValueError(msg)
    return target, _distance_km(km)


def parse_bands(text: str) -> tuple[float, ...]:
    """Band distances from text such as "10, 50, 100" (km, sorted, deduplicated).

    Raises ValueError unless there are 1 to 6 numbers between 0 and 1000.
    """
    values = tuple(sorted({float(t) for t in text.replace(";", ",").split(",")
                           if t.strip()}))
    if not values or len(values) > 6 or not all(0 < v <= 1000 for v in values):
        msg = "give 1 to 6 distances between 0 and 1000 km"
        raise ValueError(msg)
    return values


def _one_of(allowed: tuple[str, ...]):
    """A reader of one value from ``allowed``."""
    def read(text: str) -> str:
        if text not in allowed:
            msg = f"not one of {list(allowed)}"
            raise ValueError(msg)
        return text
    return read


def _view(text: str) -> tuple[float, float, int]:
    lat, lon, zoom = (t.strip() for t in text.split(","))
    lat_f, lon_f, zoom_i = float(lat), float(lon), int(zoom)
    if not (-90 <= lat_f <= 90 and -180 <= lon_f <= 180 and 1 <= zoom_i <= 18):
        msg = "expected lat,lon,zoom within range"
        raise ValueError(msg)
    return lat_f, lon_f, zoom_i


def _cursor(text: str) -> dt.datetime:
    try:
        stamp = dt.datetime.fromisoformat(text.strip().removesuffix("Z"))
    except ValueError as exc:
        msg = f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM, UTC)"
        raise ValueError(msg) from exc
    if not 1900 <= stamp.year <= 2200:  # (checked first: a far offset can overflow)
        msg = "the time must be between the years 1900 and 2200"
        raise ValueError(msg)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
    return stamp.replace(tzinfo=dt.UTC)


def _window(text: str) -> int | None:
    if text.strip().lower() == "all":
        return None
    allowed = [w for w in TIME_WINDOWS if w is not None]
    try:
        steps = int(text)
    except ValueError as exc:
        msg = f"expected one of {allowed} (steps) or 'all'"
        raise ValueError(msg) from exc
    if steps not in allowed:
        msg = f"expected one of {allowed} (steps) or 'all'"
        raise ValueError(msg)
    return steps


def _bbox(text: str) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError as exc:
        msg = "expected west,south,east,north in degrees"
        raise ValueError(msg) from exc
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        msg = "expected west < east and south < north, within -180..180 and -90..90"
        raise ValueError(msg)
    return west, south, east, north


#: Most vertices an area may have.
MAX_AREA_VERTICES = 500


def encode_area(ring) -> str:
    """An area's (lon, lat) vertices in encoded-polyline form (latitude first, 5 digits)."""
    return polyline.encode([(lat, lon) for lon, lat in ring], 5)


def _area(text: str) -> tuple[tuple[float, float], ...]:
    try:
        points = polyline.decode(text, 5)
    except (ValueError, IndexError, TypeError) as exc:
        msg = "not an encoded polygon"
        raise ValueError(msg) from exc
    ring = [(round(lon, 5), round(lat, 5)) for lat, lon in points]
    if ring and ring[0] == ring[-1]:
        ring.pop()
    if not 3 <= len(ring) <= MAX_AREA_VERTICES:
        msg = f"a polygon needs 3 to {MAX_AREA_VERTICES} vertices, this has {len(ring)}"
        raise ValueError(msg)
    if not all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in ring):
        msg = "a vertex is outside -180..180, -90..90"
        raise ValueError(msg)
    polygon = shapely.Polygon(ring)
    if not polygon.is_valid or polygon.area == 0:
        msg = "the outline crosses itself or encloses nothing"
        raise ValueError(msg)
    return tuple(ring)


#: The longest place name the "around a place" filter takes (the sidebar's box too).
PLACE_MAX = 100


def _around(text: str) -> tuple[str, float]:
    name, _, km = text.rpartition(":")
    name = name.strip()
    if not name or len(name) > PLACE_MAX:
        msg = f"expected PLACE:KM, e.g. Vilnius:30 (a place of at most {PLACE_MAX} characters)"
        raise ValueError(msg)
    return name, _distance_km(km)


def _selected(text: str) -> str:
    if not text or len(text) > 200:
        msg = "not an incident id"
        raise ValueError(msg)
    return text


#: URL parameter -> reader of its text (raises ValueError with the reason); the export
#: command line reads its options with the same readers.
PARAMETER_READERS = {
    "start": _date, "end": _date,
    "types": _choices(INCIDENT_TYPES), "countries": _choices(None, upper=True),
    "confidence": _choices(CONFIDENCES), "near": _near,
    "layers": _choices(tuple(LAYER_LABELS)), "bands": parse_bands, "basemap": _one_of(BASEMAPS),
    "view": _view, "selected": _selected,
    "time": _cursor, "window": _window, "step": _one_of(TIME_STEPS), "bbox": _bbox, "area": _area,
    "around": _around,
}
#: The time control's parameters and the fields of TimeState they fill.
_TIME_FIELDS = {"time": "cursor", "window": "window", "step": "step"}
_FIELD = {"bands": "bands_km", **_TIME_FIELDS}
#: The parameters the map's time control writes into the address.
TIME_PARAMETERS = tuple(_TIME_FIELDS)
