"""Vectorized geodesic distances from points to lines, polygon boundaries and points.

Every distance is measured on the WGS84 ellipsoid with :data:`geo.settings.GEOD`
(Karney's algorithm through pyproj). An index only *selects* what to measure:

1. Targets are cut into segments of at most ``MAX_PIECE_M``, each the straight line
   between its vertices in longitude/latitude (as in GeoJSON and shapely).
2. A k-d tree over the segments' end points in Earth-centred coordinates gives each
   point a few nearby segments; the one with the shortest 3-D distance is measured on
   the ellipsoid, giving an upper bound ``g0``.
3. Any closer segment must have an end point within ``sqrt(g0² + (L/2)²)`` of the point
   (L the longest piece) and a 3-D distance whose shortest possible geodesic is below
   ``g0``; every such segment is measured too, asking the tree for more entries where
   needed. The result is the exact minimum, not an approximation.

On a segment the nearest point is found by iterating
``t <- t + d cos(az_QP - az_seg) / |dQ/dt|`` (the point projected onto the segment's
local direction), starting from the 3-D foot of the perpendicular.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.spatial import cKDTree

from geo.settings import GEOD

#: Segments are split into pieces no longer than this (metres) before indexing.
MAX_PIECE_M = 500.0
#: A candidate that could beat the best distance found by less than this (metres) is
#: not measured: results are exact to this tolerance.
GAIN_WORTH_M = 1e-3
#: Nearest index entries looked at first; points needing more are asked again.
FIRST_K = 4
#: Iterations of the nearest-point refinement, and its convergence threshold (metres).
MAX_REFINE_ITER = 12
REFINE_TOL_M = 1e-3

_A = GEOD.a
_E2 = GEOD.es
#: Largest radius of curvature of the WGS84 ellipsoid (at the poles), metres.
RHO_MAX_M = _A / np.sqrt(1.0 - _E2)


def segments_of(geoms: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    """Cut lines, polygon boundaries and points into segments.

    Parameters
    ----------
    geoms : array of shapely geometries
        Polygons contribute their rings, lines their vertices, points a segment of
        length zero.

    Returns
    -------
    coords : ndarray of shape (n, 4)
        ``lon_a, lat_a, lon_b, lat_b`` of each segment.
    owner : ndarray of shape (n,)
        Index into ``geoms`` of the geometry each segment came from.
    """
    geoms = np.asarray(geoms, dtype=object)
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6])  # (multi)polygons
    lines = np.where(polygonal, shapely.boundary(geoms), geoms)
    parts, part_owner = shapely.get_parts(lines, return_index=True)
    coords, vert_part = shapely.get_coordinates(parts, return_index=True)
    same = vert_part[1:] == vert_part[:-1]
    seg = np.column_stack([coords[:-1][same], coords[1:][same]])
    owner = part_owner[vert_part[:-1][same]]
    single = np.bincount(vert_part, minlength=len(parts)) == 1  # points
    if single.any():
        first = np.searchsorted(vert_part, np.flatnonzero(single))
        seg = np.vstack([seg, np.hstack([coords[first], coords[first]])])
        owner = np.concatenate([owner, part_owner[single]])
    return seg, owner


def geodesic_to_segments(
    lon: np.ndarray, lat: np.ndarray, seg: np.ndarray, t0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Geodesic distance (m) from each point to the paired segment, and the point's foot.

    Parameters
    ----------
    lon, lat : ndarray of shape (n,)
        The points, degrees.
    seg : ndarray of shape (n, 4)
        One segment per point: ``lon_a, lat_a, lon_b, lat_b``.
    t0 : ndarray of shape (n,), optional
        Starting guesses of the foot's position along the segment (0 at A, 1 at B).

    Returns
    -------
    dist_m, t : ndarray
        Distance in metres and the foot's position along the segment.
    """
    alon, alat, blon, blat = seg.T
    dlon, dlat = blon - alon, blat - alat
    t = np.full(len(lon), 0.5) if t0 is None else np.clip(t0, 0.0, 1.0).astype(float)
    active = (dlon != 0) | (dlat != 0)
    t[~active] = 0.0
    dist = np.full(len(lon), np.nan)
    stale = np.ones(len(lon), dtype=bool)  # dist not yet measured at the current t
    for _ in range(MAX_REFINE_ITER):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        qlon, qlat = alon[idx] + t[idx] * dlon[idx], alat[idx] + t[idx] * dlat[idx]
        az_qp, _, d = GEOD.inv(qlon, qlat, lon[idx], lat[idx])
        dist[idx] = d
        phi = np.radians(qlat)
        w = 1.0 - _E2 * np.sin(phi) ** 2
        east = np.radians(dlon[idx]) * _A / np.sqrt(w) * np.cos(phi)  # m per unit t
        north = np.radians(dlat[idx]) * _A * (1.0 - _E2) / w**1.5
        speed = np.hypot(east, north)
        az_seg = np.arctan2(east, north)
        step_m = d * np.cos(np.radians(az_qp) - az_seg)
        new_t = np.clip(t[idx] + step_m / speed, 0.0, 1.0)
        moved_m = np.abs(new_t - t[idx]) * speed
        t[idx] = new_t
        # a step under REFINE_TOL_M changes the distance by far less: keep it
        active[idx] = moved_m > REFINE_TOL_M
        stale[idx] = active[idx]
    redo = np.flatnonzero(stale)
    if len(redo):
        _, _, dist[redo] = GEOD.inv(alon[redo] + t[redo] * dlon[redo],
                                    alat[redo] + t[redo] * dlat[redo], lon[redo], lat[redo])
    return dist, t


class NearestSegments:
    """Geodesic nearest-segment queries against a fixed set of segments.

    Parameters
    ----------
    seg : ndarray of shape (n, 4)
        ``lon_a, lat_a, lon_b, lat_b`` of each segment. Segments longer than
        ``max_len_m`` are split (along the same longitude/latitude line).
    max_len_m : float
        Longest piece kept; shorter pieces make the candidate search tighter.
    """

    def __init__(self, seg: np.ndarray, *, max_len_m: float = MAX_PIECE_M) -> None:
        seg = np.asarray(seg, dtype=float).reshape(-1, 4)
        if len(seg) == 0:
            msg = "`seg` is empty: there is nothing to measure distances to"
            raise ValueError(msg)
        self.seg, self.parent = _split_segments(seg, max_len_m)
        a3 = _ecef(self.seg[:, 0], self.seg[:, 1])
        b3 = _ecef(self.seg[:, 2], self.seg[:, 3])
        self._a3, self._ab3 = a3, b3 - a3
        _, _, length = GEOD.inv(*self.seg.T)
        self._half_max_m = float(length.max()) / 2
        mid = (self.seg[:, :2] + self.seg[:, 2:]) / 2
        mid_curve = _ecef(mid[:, 0], mid[:, 1])
        #: How far the lon/lat curve strays from its 3-D chord (metres): bound on the
        #: error of the chord distance as a lower bound of the geodesic one.
        self._bulge_m = float(np.linalg.norm(mid_curve - (a3 + b3) / 2, axis=1).max()) * 1.5 + 1e-3
        # unbalanced, uncompacted nodes answer far-away queries ~4x faster here
        self._tree = cKDTree(np.vstack([a3, b3]), balanced_tree=False, compact_nodes=False)

    @classmethod
    def from_geometries(cls, geoms: np.ndarray | list) -> tuple[NearestSegments, np.ndarray]:
        """Build from geometries; also return each segment's owning geometry index."""
        seg, owner = segments_of(geoms)
        index = cls(seg)
        return index, owner[index.parent]

    def query(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the geodesic distance (m) to the nearest segment and that segment's index.

        The index refers to the (split) segments; ``parent`` maps it to the input row.

        Parameters
        ----------
        lon, lat : array_like
            Points in degrees (WGS84). NaN coordinates give NaN and index -1.
        """
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        dist = np.full(lon.shape, np.nan)
        nearest = np.full(lon.shape, -1, dtype=np.int64)
        ok = np.isfinite(lon) & np.isfinite(lat)
        if ok.any():
            dist[ok], nearest[ok] = self._query_valid(lon[ok], lat[ok])
        return dist, nearest

    def _chord(self, p3: np.ndarray, si: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """3-D distance from each point to each candidate chord, and the foot parameter."""
        ab = self._ab3[si]
        ap = p3[:, None, :] - self._a3[si]
        len2 = np.einsum("...i,...i", ab, ab)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(np.einsum("...i,...i", ap, ab) / len2, 0.0, 1.0)
        t = np.where(len2 > 0, t, 0.0)
        return np.linalg.norm(ap - t[..., None] * ab, axis=-1), t

    def _query_valid(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p3 = _ecef(lon, lat)
        n_entries = self._tree.n
        k = min(FIRST_K, n_entries)
        best_d = np.empty(len(lon))
        best_i = np.empty(len(lon), dtype=np.int64)
        todo = np.arange(len(lon))
        while len(todo):
            entry_d, entry = self._tree.query(p3[todo], k=k, workers=-1)
            entry_d, entry = entry_d.reshape(len(todo), k), entry.reshape(len(todo), k)
            si = entry % len(self.seg)
            chord, t = self._chord(p3[todo], si)
            pick = np.argmin(chord, axis=1)
            rows = np.arange(len(todo))
            g0, _ = geodesic_to_segments(
                lon[todo], lat[todo], self.seg[si[rows, pick]], t[rows, pick]
            )
            best_d[todo], best_i[todo] = g0, si[rows, pick]
            # A closer segment has an end point within `reach_m` (geodesic) of the point,
            # hence within chord_of_arc(reach_m) in space, and a chord distance whose
            # shortest possible geodesic is below the best found so far.
            reach_m = np.sqrt(g0**2 + (self._half_max_m * (1 + 1e-3)) ** 2) + 1.0
            reach = _chord_of_arc(reach_m)
            lower = _arc_of_chord(np.maximum(chord - self._bulge_m, 0.0))
            maybe = (entry_d <= reach[:, None]) & (lower < g0[:, None] - GAIN_WORTH_M)
            # the neighbour sharing the nearest vertex ties with it: nothing to gain
            feet = self._a3[si] + t[..., None] * self._ab3[si]
            shared = np.linalg.norm(feet - feet[rows, pick][:, None, :], axis=-1) < GAIN_WORTH_M
            maybe &= ~shared
            maybe[rows, pick] = False
            r, c = np.nonzero(maybe)
            if len(r):
                d, _ = geodesic_to_segments(lon[todo][r], lat[todo][r], self.seg[si[r, c]], t[r, c])
                order = np.lexsort((d, r))
                r, c, d = r[order], c[order], d[order]
                first = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
                better = d[first] < best_d[todo[r[first]]]
                upd = todo[r[first][better]]
                best_d[upd] = d[first][better]
                best_i[upd] = si[r[first][better], c[first][better]]
            full = entry_d[:, -1] <= reach  # candidates may lie beyond the k found
            if k >= n_entries:
                break
            todo = todo[full]
            k = min(k * 8, n_entries)
        return best_d, best_i


def _chord_of_arc(arc_m: np.ndarray) -> np.ndarray:
    """Longest chord (m) a geodesic of this length can have.

    A geodesic's curvature in space is its normal curvature, at least 1 / RHO_MAX_M, and
    a curve curving at least as much as a circle has a chord no longer than the circle's.
    """
    return 2 * RHO_MAX_M * np.sin(np.minimum(arc_m / (2 * RHO_MAX_M), np.pi / 2))


def _arc_of_chord(chord_m: np.ndarray) -> np.ndarray:
    """Shortest geodesic (m) between points this far apart in space."""
    return 2 * RHO_MAX_M * np.arcsin(np.minimum(chord_m / (2 * RHO_MAX_M), 1.0))


def _ecef(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Earth-centred Cartesian coordinates (metres) of points on the WGS84 ellipsoid."""
    lam, phi = np.radians(lon), np.radians(lat)
    n = _A / np.sqrt(1.0 - _E2 * np.sin(phi) ** 2)
    return np.column_stack(
        [n * np.cos(phi) * np.cos(lam), n * np.cos(phi) * np.sin(lam), n * (1 - _E2) * np.sin(phi)]
    )


def _split_segments(seg: np.ndarray, max_len_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Split segments longer than ``max_len_m`` into equal pieces of the same lon/lat line."""
    _, _, length = GEOD.inv(*seg.T)
    pieces = np.maximum(1, np.ceil(length / max_len_m)).astype(np.int64)
    parent = np.repeat(np.arange(len(seg)), pieces)
    start = np.repeat(np.cumsum(pieces) - pieces, pieces)
    k = np.arange(len(parent)) - start
    f0 = (k / pieces[parent])[:, None]
    f1 = ((k + 1) / pieces[parent])[:, None]
    a, b = seg[parent, :2], seg[parent, 2:]
    return np.hstack([a + f0 * (b - a), a + f1 * (b - a)]), parent
