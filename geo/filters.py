"""One selection of incidents: :class:`IncidentFilter`.

The dashboard's URL, the export's command line and the benchmarks build it; every store
backend reads it (its SQL part on indexed columns, the rest here); captions and manifests
describe it. Its fields are plain values, so it can key a cache.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely

from geo.settings import GEOD

#: The distance column of each "within N km of" target.
NEAR_COLUMNS = {"belarus": "dist_belarus_km", "kaliningrad": "dist_kaliningrad_km"}


@lru_cache(maxsize=256)
def place_point(name: str) -> tuple[float, float]:
    """(lat, lon) of a place name through the gazetteer; raises ``GeocodeError`` (with
    the candidates) for an unknown or ambiguous name."""
    from geo.gazetteer import load_gazetteer

    place = load_gazetteer().geocode(name).place
    return place.lat, place.lon


def geodesic_circle(lat: float, lon: float, km: float, *, points: int = 72
                    ) -> list[tuple[float, float]]:
    """(lon, lat) vertices of the line ``km`` from a point on the ellipsoid."""
    azimuths = np.linspace(0.0, 360.0, points, endpoint=False)
    lons, lats, _ = GEOD.fwd(np.full(points, lon), np.full(points, lat), azimuths,
                             np.full(points, km * 1000.0))
    return list(zip(lons.round(5).tolist(), lats.round(5).tolist(), strict=True))


def describe_area(bbox, area) -> list[str]:
    """The area filters in words (numbers only): "box 20.9–27° E, 54–56.5° N",
    "drawn area (5 vertices)"."""
    parts = []
    if bbox:
        west, south, east, north = bbox
        parts.append(f"box {west:g}–{east:g}° E, {south:g}–{north:g}° N")
    if area:
        parts.append(f"drawn area ({len(area)} vertices)")
    return parts


def _within(box, other) -> tuple[float, float, float, float]:
    """The part of ``box`` (None: everything) inside ``other``; may be empty."""
    if box is None:
        return tuple(other)
    return (max(box[0], other[0]), max(box[1], other[1]), min(box[2], other[2]),
            min(box[3], other[3]))


@dataclass(frozen=True)
class IncidentFilter:
    """Which incidents: a period, types, airspaces, confidence levels, a distance from
    Belarus or the exclave, and an area (a box, a drawn polygon, a ring around a place).
    A field left None does not filter; an empty tuple matches nothing."""

    #: Incidents whose period overlaps [start, end] (whole days, UTC).
    start: dt.date | None = None
    end: dt.date | None = None
    types: tuple[str, ...] | None = None
    #: Airspaces, ISO3 codes.
    countries: tuple[str, ...] | None = None
    confidence: tuple[str, ...] | None = None
    #: ("belarus", 50.0): within 50 km of Belarus ("kaliningrad": of the exclave).
    near: tuple[str, float] | None = None
    #: West, south, east, north (degrees).
    bbox: tuple[float, float, float, float] | None = None
    #: A polygon's outline as (lon, lat) vertices.
    area: tuple[tuple[float, float], ...] | None = None
    #: ("Vilnius", 30.0): within 30 km (geodesic) of a place the gazetteer knows.
    around: tuple[str, float] | None = None
    #: The ring's place as (lat, lon), where it was resolved already (a stored alert
    #: rule): the gazetteer is then not loaded to find it again.
    around_at: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.near is not None and self.near[0] not in NEAR_COLUMNS:
            msg = (f"`near` was {self.near[0]!r} but is expected to be in "
                   f"{list(NEAR_COLUMNS)}")
            raise ValueError(msg)
        for name in ("types", "countries", "confidence"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @property
    def near_column(self) -> tuple[str, float] | None:
        """(distance column, km) of the ``near`` filter."""
        return None if self.near is None else (NEAR_COLUMNS[self.near[0]], float(self.near[1]))

    def around_point(self) -> tuple[float, float, float] | None:
        """(lat, lon, km) of the ring around a place (the place resolved)."""
        if self.around is None:
            return None
        lat, lon = self.around_at or place_point(self.around[0])
        return lat, lon, float(self.around[1])

    def search_box(self) -> tuple[float, float, float, float] | None:
        """The box a store reads (its spatial index): the ``bbox`` and the bounds of the
        area and of the ring, intersected; None when there is no area filter."""
        box = self.bbox
        if self.area:
            box = _within(box, shapely.Polygon(self.area).bounds)
        ring = self.around_point()
        if ring:
            box = _within(box, shapely.Polygon(geodesic_circle(*ring)).bounds)
        return None if box is None else tuple(float(v) for v in box)

    def is_empty(self) -> bool:
        """Whether the area filters leave nothing (boxes that do not meet)."""
        box = self.search_box()
        return box is not None and not (box[0] < box[2] and box[1] < box[3])

    def without_area(self) -> IncidentFilter | None:
        """The filter without its area parts (box, drawn area, ring), or None when it
        has none: the selection an area filter cut down (records known only by their
        region are in no area)."""
        if self.bbox is None and not self.area and self.around is None:
            return None
        return replace(self, bbox=None, area=None, around=None)

    @property
    def has_outline(self) -> bool:
        """Whether rows of the search box still need :meth:`keep` (a polygon or a ring)."""
        return bool(self.area) or self.around is not None

    def keep(self, lon, lat) -> np.ndarray:
        """Which points lie inside the drawn area and within the ring's distance
        (geodesic); the store has already kept only those in the search box."""
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        keep = np.ones(len(lon), bool)
        if self.area:
            keep &= shapely.contains_xy(shapely.Polygon(self.area), lon, lat)
        ring = self.around_point()
        if ring is not None and len(lon):
            _, _, metres = GEOD.inv(np.full(len(lon), ring[1]), np.full(len(lon), ring[0]),
                                    lon, lat)
            keep &= metres <= ring[2] * 1000.0
        return keep

    def describe(self) -> str:
        """The period and the active filters in words (captions, subtitles)."""
        start, end = self.start, self.end
        parts = [f"{start or '…'} – {end or '…'}" if (start or end) else "All dates"]
        for values, label in ((self.types, "types"), (self.countries, "airspace"),
                              (self.confidence, "confidence")):
            if values is not None:
                parts.append(f"{label}: {', '.join(values) or 'none'}")
        if self.near:
            parts.append(f"within {self.near[1]:g} km of {self.near[0].title()}")
        parts += [f"in the {part}" for part in describe_area(self.bbox, self.area)]
        if self.around:
            parts.append(f"within {self.around[1]:g} km of {self.around[0]}")
        return " · ".join(parts)

    def to_dict(self) -> dict:
        """Plain JSON values (manifests)."""
        def listed(values):
            return None if values is None else [list(v) if isinstance(v, tuple) else v
                                                for v in values]
        return {"start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
                "types": listed(self.types), "countries": listed(self.countries),
                "confidence": listed(self.confidence), "near": listed(self.near),
                "bbox": listed(self.bbox), "area": listed(self.area),
                "around": listed(self.around), "around_at": listed(self.around_at)}


def apply_outline(filters: IncidentFilter, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (read through the search box) less the rows outside the drawn area or
    the ring."""
    if frame.empty or not filters.has_outline:
        return frame
    return frame[filters.keep(frame["lon"], frame["lat"])].reset_index(drop=True)
