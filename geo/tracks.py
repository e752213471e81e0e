"""Flight tracks: border crossings, penetration depth, distance and time in each airspace.

A track is a LineString in WGS84 longitude/latitude with, optionally, one timestamp per
vertex. Between vertices the aircraft is taken to move at constant speed along the
segment, so a time at any point follows from the geodesic distance flown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely

from geo.boundaries import Boundaries, load_boundaries
from geo.distance import NearestSegments
from geo.settings import GEOD

#: Spacing (metres) of the samples along a leg at which penetration depth is measured.
DEPTH_SAMPLE_M = 100.0
#: Label of airspace that belongs to no state (high seas).
INTERNATIONAL = "INTL"

CROSSING_COLUMNS = ["lon", "lat", "from_iso3", "to_iso3", "direction", "time", "along_km"]
LEG_COLUMNS = ["iso3", "entered_from", "start_km", "end_km", "length_km", "start_time",
               "end_time", "duration", "max_depth_km", "depth_reference"]


@dataclass(frozen=True)
class TrackReport:
    """What a track did.

    Attributes
    ----------
    crossings : DataFrame
        One row per change of airspace, in flight order: position, ``from_iso3``,
        ``to_iso3``, ``direction`` ("BLR→LTU"), ``time`` (NaT without timestamps) and
        ``along_km`` (geodesic distance flown so far).
    legs : DataFrame
        One row per stretch inside one airspace: ``iso3`` (``INTL`` for no state), where
        it came from, its geodesic length and duration, and ``max_depth_km``, the
        greatest distance from the border it entered through (the land border with the
        previous state where one exists, else the edge of the state's airspace).
    """

    crossings: pd.DataFrame
    legs: pd.DataFrame

    def per_state(self) -> pd.DataFrame:
        """Total length, time and deepest penetration per airspace."""
        return self.legs.groupby("iso3", sort=False).agg(
            length_km=("length_km", "sum"),
            duration=("duration", "sum"),
            max_depth_km=("max_depth_km", "max"),
        )


def _cumulative_m(coords: np.ndarray) -> np.ndarray:
    _, _, step = GEOD.inv(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1])
    return np.concatenate([[0.0], np.cumsum(step)])


def _points_at(coords: np.ndarray, cum_m: np.ndarray, along_m: np.ndarray) -> np.ndarray:
    """Positions (lon, lat rows) at geodesic distances along the track, moving linearly
    in longitude/latitude within each segment."""
    return np.column_stack([np.interp(along_m, cum_m, coords[:, 0]),
                            np.interp(along_m, cum_m, coords[:, 1])])


def _intervals(bnd: Boundaries, coords: np.ndarray, cum_m: np.ndarray) -> list[list]:
    """Stretches of the track inside each state, in order: [start_m, end_m, iso3, entry
    point (lon, lat)].

    Each segment is cut by the airspace polygons on its own, so a track that crosses
    or retraces itself is still read in flight order.
    """
    found = []
    for i in range(len(coords) - 1):
        seg = shapely.LineString(coords[i:i + 2])
        for j in bnd.airspace_index.candidates(seg):
            inside = shapely.intersection(seg, bnd.airspace.geometry.iloc[j])
            for piece in shapely.get_parts(shapely.line_merge(inside)):
                if piece.geom_type != "LineString" or piece.length == 0:
                    continue
                ends = shapely.get_coordinates(piece)[[0, -1]]
                _, _, d = GEOD.inv(np.repeat(coords[i, 0], 2), np.repeat(coords[i, 1], 2),
                                   ends[:, 0], ends[:, 1])
                first, last = (ends[0], ends[1]) if d[0] <= d[1] else (ends[1], ends[0])
                found.append([cum_m[i] + d.min(), cum_m[i] + d.max(),
                              bnd.airspace.iso3.iloc[j], tuple(first), tuple(last)])
    found.sort(key=lambda item: (item[0], item[1]))
    out, pos, where = [], 0.0, tuple(coords[0])
    for start, end, iso3, first, last in found:
        if start > pos + 1.0:
            out.append([pos, start, INTERNATIONAL, where])
        out.append([max(start, pos), end, iso3, first])
        pos, where = max(pos, end), last
    if pos < cum_m[-1] - 1.0:
        out.append([pos, cum_m[-1], INTERNATIONAL, where])
    return _merge_same(out)


def _merge_same(intervals: list[list]) -> list[list]:
    merged: list[list] = []
    for item in intervals:
        if merged and merged[-1][2] == item[2]:
            merged[-1][1] = item[1]
        else:
            merged.append(list(item))
    return merged


@lru_cache(maxsize=64)
def _depth_reference(bnd: Boundaries, iso3: str, came_from: str):
    """The line depth is measured from: the shared land border, else the airspace edge.

    Cached per process: a state's airspace edge is tens of thousands of segments, and
    every leg into that state from the same neighbour measures from the same line.
    """
    if iso3 == INTERNATIONAL:
        return None, ""
    border = bnd.border_between(iso3, came_from) if came_from else None
    if border is not None:
        return NearestSegments.from_geometries([border])[0], f"{iso3}-{came_from}"
    geom = bnd.airspace.loc[bnd.airspace.iso3 == iso3].geometry.iloc[0]
    return NearestSegments.from_geometries([geom])[0], f"{iso3} airspace edge"


def _max_depth_km(index: NearestSegments, coords, cum_m, start_m: float, end_m: float) -> float:
    samples = np.linspace(start_m, end_m, max(2, int((end_m - start_m) / DEPTH_SAMPLE_M) + 2))
    turns = cum_m[(cum_m > start_m) & (cum_m < end_m)]  # the track's own vertices count too
    samples = np.union1d(samples, turns)
    pts = _points_at(coords, cum_m, samples)
    return float(np.nanmax(index.query(pts[:, 0], pts[:, 1])[0])) / 1000.0


def _time_at(times: pd.DatetimeIndex | None, cum_m: np.ndarray, along_m: float):
    if times is None:
        return pd.NaT
    ns = times.asi8.astype(float)
    return pd.Timestamp(int(np.interp(along_m, cum_m, ns)), tz=times.tz)


def analyse_track(track: shapely.LineString, times=None, *,
                  boundaries: Boundaries | None = None) -> TrackReport:
    """Crossings and legs of one flight track.

    Parameters
    ----------
    track : LineString
        WGS84 longitude/latitude, at least two vertices.
    times : sequence of datetime-like, optional
        One timestamp per vertex, non-decreasing.
    boundaries : Boundaries, optional
        Reference data; the committed default when omitted.
    """
    bnd = boundaries or load_boundaries()
    coords = shapely.get_coordinates(track)
    if track.geom_type != "LineString" or len(coords) < 2:
        msg = f"`track` must be a LineString of at least two vertices, got {track.geom_type}"
        raise ValueError(msg)
    stamps = None
    if times is not None:
        stamps = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True)).as_unit("ns")
        if len(stamps) != len(coords):
            msg = f"`times` has {len(stamps)} values for {len(coords)} vertices"
            raise ValueError(msg)
        if (np.diff(stamps.asi8) < 0).any():
            msg = "`times` must not go backwards"
            raise ValueError(msg)
    cum_m = _cumulative_m(coords)
    intervals = _intervals(bnd, coords, cum_m)
    crossings, legs = [], []
    for k, (start, end, iso3, entry) in enumerate(intervals):
        came_from = intervals[k - 1][2] if k else ""
        if k:
            lon, lat = entry
            crossings.append([lon, lat, came_from, iso3, f"{came_from}→{iso3}",
                              _time_at(stamps, cum_m, start), start / 1000.0])
        index, reference = _depth_reference(bnd, iso3, came_from if k else "")
        depth = np.nan if index is None else _max_depth_km(index, coords, cum_m, start, end)
        legs.append([iso3, came_from, start / 1000.0, end / 1000.0, (end - start) / 1000.0,
                     _time_at(stamps, cum_m, start), _time_at(stamps, cum_m, end), None,
                     depth, reference])
    legs_frame = pd.DataFrame(legs, columns=LEG_COLUMNS)
    for column in ("start_time", "end_time"):
        legs_frame[column] = pd.to_datetime(legs_frame[column], utc=True)
    legs_frame["duration"] = legs_frame["end_time"] - legs_frame["start_time"]
    return TrackReport(pd.DataFrame(crossings, columns=CROSSING_COLUMNS), legs_frame)

