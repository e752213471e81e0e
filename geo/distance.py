"""Vectorized geodesic distances from points to lines, polygon boundaries and points.

Every distance is measured on the WGS84 ellipsoid with :data:`geo.settings.GEOD`
(Karney's algorithm through pyproj). An index only *selects* what to measure:

1. Targets are cut into segments of at most ``MAX_PIECE_M``, each the straight line
   between its vertices in longitude/latitude (as in GeoJSON and shapely).
2. A k-d tree over the distinct vertices in Earth-centred coordinates (turned so that
   the tree's boxes lie along the surface) gives each point its nearest vertices and so
   the segments meeting there; the one with the shortest 3-D distance is measured on the
   ellipsoid, giving an upper bound ``g0``.
3. Any closer segment must have a vertex within ``sqrt(g0² + (L/2)²)`` of the point
   (L the longest piece) and a 3-D distance whose shortest possible geodesic is below
   ``g0``; every such segment is measured too, asking the tree for more vertices where
   needed. The result is the exact minimum, not an approximation.

Segments may be put in groups (say, the land borders of each state): a point then
searches its own group only; each group has its own tree, everything after the tree
search is done for all points at once.

On a segment the nearest point is found by iterating
``t <- t + d cos(az_QP - az_seg) / |dQ/dt|`` (the point projected onto the segment's
local direction), starting from the 3-D foot of the perpendicular, until a further step
could shorten the distance by less than ``REFINE_TOL_M``.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.spatial import cKDTree

from geo._parallel import each_in_parallel, map_slices
from geo.settings import GEOD

#: Segments are split into pieces no longer than this (metres) before indexing.
MAX_PIECE_M = 500.0
#: A candidate that could beat the best distance found by less than this (metres) is
#: not measured: results are exact to this tolerance.
GAIN_WORTH_M = 1e-3
#: Nearest vertices looked at first; points needing more are asked again.
FIRST_K = 2
#: Slack (metres) added to the distance within which a closer segment must have a
#: vertex; covers the lon/lat lines' departure from geodesics (millimetres).
REACH_SLACK_M = 0.05
#: Queries of more points than this share the k-d tree search and the geodesic
#: measurements between all cores.
PARALLEL_FROM = 2000
#: Iterations of the nearest-point refinement, and its convergence threshold (metres).
MAX_REFINE_ITER = 12
REFINE_TOL_M = 1e-3

_A = GEOD.a
_E2 = GEOD.es
#: Largest radius of curvature of the WGS84 ellipsoid (at the poles), metres.
RHO_MAX_M = _A / np.sqrt(1.0 - _E2)


def geodesic_inverse(lon1, lat1, lon2, lat2) -> tuple[np.ndarray, np.ndarray]:
    """Forward azimuth (degrees) and geodesic distance (m) from points 1 to points 2.

    :meth:`pyproj.Geod.inv` on every core: pyproj releases the GIL while it computes,
    so long arrays are cut into one slice per core.
    """
    arrays = [np.asarray(a, dtype=float) for a in (lon1, lat1, lon2, lat2)]
    if len(arrays[0]) <= PARALLEL_FROM:
        az, _, dist = GEOD.inv(*arrays)
        return az, dist
    parts = map_slices(lambda lo, hi: GEOD.inv(*(a[lo:hi] for a in arrays)), len(arrays[0]))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[2] for p in parts])


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
        Distance in metres, measured at ``t``, and the foot's position along the segment.
        Moving the foot further would shorten the distance by less than ``REFINE_TOL_M``.
    """
    dist, t, _ = _feet(lon, lat, seg, t0)
    return dist, t


def _feet(lon, lat, seg, t0=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`geodesic_to_segments`, also giving the azimuth (degrees) from the foot to
    the point."""
    alon, alat, blon, blat = seg.T
    dlon, dlat = blon - alon, blat - alat
    t = np.full(len(lon), 0.5) if t0 is None else np.clip(t0, 0.0, 1.0).astype(float)
    moving = (dlon != 0) | (dlat != 0)
    t[~moving] = 0.0
    dist = np.full(len(lon), np.nan)
    az = np.full(len(lon), np.nan)
    todo = np.arange(len(lon))  # not yet measured at the current t
    for _ in range(MAX_REFINE_ITER):
        if not len(todo):
            break
        az[todo], dist[todo], step_m, speed = _measure_and_step(
            lon, lat, alon, alat, dlon, dlat, t, todo)
        new_t = np.clip(t[todo] + step_m / speed, 0.0, 1.0)
        moved_m = (new_t - t[todo]) * speed  # the step, cut at the segment's ends
        # In the tangent plane, moving the foot by `moved_m` towards the optimum
        # `step_m` away shortens the distance from d to sqrt(d^2 - moved(2 step - moved)).
        d = dist[todo]
        gain_m = d - np.sqrt(np.maximum(d**2 - moved_m * (2 * step_m - moved_m), 0.0))
        go_on = moving[todo] & (gain_m > REFINE_TOL_M)
        t[todo[go_on]] = new_t[go_on]
        todo = todo[go_on]
    if len(todo):  # moved on the last iteration: measure where the foot ended
        az[todo], dist[todo] = geodesic_inverse(alon[todo] + t[todo] * dlon[todo],
                                                alat[todo] + t[todo] * dlat[todo],
                                                lon[todo], lat[todo])
    return dist, t, az


def _measure_and_step(lon, lat, alon, alat, dlon, dlat, t, idx):
    """Azimuth and distance from the foot at ``t`` to the point, and the Newton step
    towards the nearest point: signed metres along the segment, metres per unit of ``t``."""
    qlon, qlat = alon[idx] + t[idx] * dlon[idx], alat[idx] + t[idx] * dlat[idx]
    az_qp, d = geodesic_inverse(qlon, qlat, lon[idx], lat[idx])
    phi = np.radians(qlat)
    w = 1.0 - _E2 * np.sin(phi) ** 2
    east = np.radians(dlon[idx]) * _A / np.sqrt(w) * np.cos(phi)  # m per unit t
    north = np.radians(dlat[idx]) * _A * (1.0 - _E2) / w**1.5
    speed = np.hypot(east, north)
    step_m = d * np.cos(np.radians(az_qp) - np.arctan2(east, north))
    point = speed == 0  # a segment of length zero: nowhere to move
    return az_qp, d, np.where(point, 0.0, step_m), np.where(point, 1.0, speed)


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

    def __init__(self, seg: np.ndarray, *, group: np.ndarray | None = None,
                 max_len_m: float = MAX_PIECE_M) -> None:
        seg = np.asarray(seg, dtype=float).reshape(-1, 4)
        if len(seg) == 0:
            msg = "`seg` is empty: there is nothing to measure distances to"
            raise ValueError(msg)
        group = np.zeros(len(seg), dtype=np.int64) if group is None else np.asarray(group)
        if group.shape != (len(seg),) or group.dtype.kind not in "iu" or (group < 0).any():
            msg = f"`group` must give a non-negative integer per segment ({len(seg)})"
            raise ValueError(msg)
        self.seg, self.parent, length = _split_segments(seg, max_len_m)
        self.group = group[self.parent].astype(np.int64)
        a3 = _ecef(self.seg[:, 0], self.seg[:, 1])
        b3 = _ecef(self.seg[:, 2], self.seg[:, 3])
        self._a3, self._ab3 = a3, b3 - a3
        self._half_max_m = float(length.max()) / 2
        mid = (self.seg[:, :2] + self.seg[:, 2:]) / 2
        mid_curve = _ecef(mid[:, 0], mid[:, 1])
        #: How far the lon/lat curve strays from its 3-D chord (metres): bound on the
        #: error of the chord distance as a lower bound of the geodesic one.
        self._bulge_m = float(np.linalg.norm(mid_curve - (a3 + b3) / 2, axis=1).max()) * 1.5 + 1e-3
        position, entry_group, incident = _vertex_table(self.seg, self.group, a3, b3)
        # a last row of padding: the entry -1 (no vertex) lists no segment
        self._incident = np.vstack([incident, np.full(incident.shape[1], -1)])
        self._trees = {int(g): _GroupTree(position, np.flatnonzero(entry_group == g))
                       for g in np.unique(entry_group)}

    @classmethod
    def from_geometries(cls, geoms: np.ndarray | list) -> tuple[NearestSegments, np.ndarray]:
        """Build from geometries; also return each segment's owning geometry index."""
        seg, owner = segments_of(geoms)
        index = cls(seg)
        return index, owner[index.parent]

    def query(self, lon: np.ndarray, lat: np.ndarray, *, group: np.ndarray | None = None,
              azimuth: bool = False) -> tuple[np.ndarray, ...]:
        """Return the geodesic distance (m) to the nearest segment and that segment's index.

        The index refers to the (split) segments; ``parent`` maps it to the input row.

        Parameters
        ----------
        lon, lat : array_like
            Points in degrees (WGS84). NaN coordinates give NaN and index -1.
        group : array_like of int, optional
            Per point, the only group of segments to look in (see ``group`` of the
            constructor); a point whose group has no segments gives NaN and index -1.
        azimuth : bool
            Also return the azimuth (degrees) from the nearest point of the segment to
            the point: where the point lies as seen from there.
        """
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        group = np.zeros(lon.shape, dtype=np.int64) if group is None else np.asarray(group)
        dist = np.full(lon.shape, np.nan)
        az = np.full(lon.shape, np.nan)
        nearest = np.full(lon.shape, -1, dtype=np.int64)
        ok = np.isfinite(lon) & np.isfinite(lat) & np.isin(group, self.group)
        if ok.any():
            dist[ok], nearest[ok], az[ok] = self._query_valid(lon[ok], lat[ok], group[ok])
        return (dist, nearest, az) if azimuth else (dist, nearest)

    def _nearest_vertices(self, p3: np.ndarray, group: np.ndarray, k: int
                          ) -> tuple[np.ndarray, np.ndarray]:
        """3-D distance to, and entry of, each point's ``k`` nearest vertices in its
        group (``inf`` and -1 beyond the group's size)."""
        groups = np.unique(group)
        if len(groups) == 1:
            return self._trees[int(groups[0])].query(p3, k)
        dist = np.full((len(p3), k), np.inf)
        entry = np.full((len(p3), k), -1, dtype=np.int64)
        order = np.argsort(group, kind="stable")
        cuts = np.searchsorted(group[order], groups)
        rows = np.split(order, cuts[1:])

        def search(j: int) -> None:  # groups share the cores, each tree searched by one
            dist[rows[j]], entry[rows[j]] = self._trees[int(groups[j])].query(
                p3[rows[j]], k, workers=1)

        each_in_parallel(search, len(groups))
        return dist, entry

    def _chord(self, p3: np.ndarray, si: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """3-D distance from points to segments' chords, and the foot parameter.

        ``p3`` (shape ``(..., 3)``) broadcasts against the segments ``si``.
        """
        ab = self._ab3[si]
        ap = p3 - self._a3[si]
        len2 = np.einsum("...i,...i", ab, ab)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(np.einsum("...i,...i", ap, ab) / len2, 0.0, 1.0)
        t = np.where(len2 > 0, t, 0.0)
        foot = ap - t[..., None] * ab
        return np.sqrt(np.einsum("...i,...i", foot, foot)), t

    def _query_valid(self, lon: np.ndarray, lat: np.ndarray, group: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p3 = _ecef(lon, lat)
        n_vertices = max(tree.size for tree in self._trees.values())
        k = min(FIRST_K, n_vertices)
        best_d = np.empty(len(lon))
        best_i = np.empty(len(lon), dtype=np.int64)
        best_az = np.empty(len(lon))
        todo = np.arange(len(lon))
        while len(todo):
            vert_d, vert = self._nearest_vertices(p3[todo], group[todo], k)
            # the best of the segments at the nearest vertex gives an upper bound g0
            pick, pick_t = self._pick(p3[todo], self._incident[vert[:, 0]])
            g0, _, best_az[todo] = _feet(lon[todo], lat[todo], self.seg[pick], pick_t)
            best_d[todo], best_i[todo] = g0, pick
            # A closer segment has a vertex within `reach_m` (geodesic) of the point,
            # hence within chord_of_arc(reach_m) in space, and a chord distance whose
            # shortest possible geodesic is below the best found so far.
            reach_m = np.sqrt(g0**2 + (self._half_max_m * (1 + 1e-3)) ** 2) + REACH_SLACK_M
            reach = _chord_of_arc(reach_m)
            r, si, t = self._could_be_closer(p3[todo], vert, vert_d <= reach[:, None],
                                             pick, pick_t, g0)
            if len(r):
                self._measure_more(lon[todo], lat[todo], todo, r, si, t,
                                   (best_d, best_i, best_az))
            if k >= n_vertices:
                break
            # closer segments may meet vertices beyond the k (inf: the group has no more)
            todo = todo[vert_d[:, -1] <= reach]
            k = min(k * 4, n_vertices)
        return best_d, best_i, best_az

    def _pick(self, p3: np.ndarray, si: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Of each row of segments (-1: none), the one with the shortest 3-D distance."""
        if si.shape[1] == 1:  # one segment per vertex (points): nothing to choose
            return si[:, 0], np.zeros(len(si))
        listed = si >= 0
        chord, t = self._chord(p3[:, None, :], np.where(listed, si, 0))
        chord[~listed] = np.inf
        rows = np.arange(len(si))
        pick = np.argmin(chord, axis=1)
        return si[rows, pick], t[rows, pick]

    def _could_be_closer(self, p3, vert, within, pick, pick_t, g0) -> tuple[np.ndarray, ...]:
        """Segments at the vertices ``within`` reach whose 3-D distance allows a geodesic
        shorter than ``g0``: point row, segment and starting foot of each, listed once."""
        r, j = np.nonzero(within)
        width = self._incident.shape[1]
        r = np.repeat(r, width)
        si = self._incident[vert[r[::width], j]].ravel()
        keep = (si >= 0) & (si != pick[r])
        r, si = r[keep], si[keep]
        chord, t = self._chord(p3[r], si)
        lower = _arc_of_chord(np.maximum(chord - self._bulge_m, 0.0))
        maybe = lower < g0[r] - GAIN_WORTH_M
        # a neighbour whose foot is the pick's (their shared vertex) ties: nothing to gain
        gap = (self._a3[si] + t[:, None] * self._ab3[si]
               - self._a3[pick[r]] - pick_t[r, None] * self._ab3[pick[r]])
        maybe &= np.einsum("ij,ij->i", gap, gap) >= GAIN_WORTH_M**2
        r, si, t = r[maybe], si[maybe], t[maybe]
        _, once = np.unique(r * len(self.seg) + si, return_index=True)  # met at both ends
        return r[once], si[once], t[once]

    def _measure_more(self, lon, lat, todo, r, si, t, best) -> None:
        """Measure further candidates (point ``todo[r]``, segment ``si``); keep the best
        in ``best`` (distance, segment, azimuth arrays)."""
        best_d, best_i, best_az = best
        d, _, az = _feet(lon[r], lat[r], self.seg[si], t)
        order = np.lexsort((d, r))
        r, si, d, az = r[order], si[order], d[order], az[order]
        first = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        better = first[d[first] < best_d[todo[r[first]]]]
        upd = todo[r[better]]
        best_d[upd], best_i[upd], best_az[upd] = d[better], si[better], az[better]


class _GroupTree:
    """A k-d tree over some entries' 3-D positions, turned so that its third axis is
    their mean vertical: the tree's boxes then lie flat along the Earth's surface, which
    answers far-away queries faster."""

    def __init__(self, position: np.ndarray, entries: np.ndarray) -> None:
        self.entries = entries
        self.size = len(entries)
        points = position[entries]
        self.centre = points.mean(axis=0)
        norm = np.linalg.norm(self.centre)
        up = self.centre / norm if norm > 0 else np.array([0.0, 0.0, 1.0])
        east = np.cross([0.0, 0.0, 1.0], up)
        east = east / np.linalg.norm(east) if np.linalg.norm(east) > 1e-9 else np.array(
            [1.0, 0.0, 0.0])
        self.turn = np.vstack([east, np.cross(up, east), up])
        # unbalanced, uncompacted nodes and larger leaves answer far-away queries faster
        self.tree = cKDTree(self._turned(points), leafsize=32, balanced_tree=False,
                            compact_nodes=False)

    def _turned(self, p3: np.ndarray) -> np.ndarray:
        return (p3 - self.centre) @ self.turn.T

    def query(self, p3: np.ndarray, k: int, *, workers: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Distances to and entries of the ``k`` nearest (padded with inf and -1)."""
        found = min(k, self.size)
        if workers is None:
            workers = -1 if len(p3) > PARALLEL_FROM else 1
        dist, at = self.tree.query(self._turned(p3), k=found, workers=workers)
        dist, at = dist.reshape(len(p3), found), at.reshape(len(p3), found)
        pad = k - found
        return (np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf),
                np.pad(self.entries[at], ((0, 0), (0, pad)), constant_values=-1))


def _vertex_table(seg: np.ndarray, group: np.ndarray, a3: np.ndarray, b3: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k-d tree's entries: vertices, each with the segments that end there.

    A vertex where more segments end than fit in one row (two; one if every segment is a
    point) is entered more than once, each entry listing some of them.

    Returns
    -------
    position : ndarray of shape (n, 3)
        Each entry's vertex, Earth-centred.
    entry_group : ndarray of shape (n,)
        The group of the entry's segments.
    incident : ndarray of shape (n, width)
        Segment indexes, padded with -1.
    """
    n = len(seg)
    lon, lat = np.concatenate([seg[:, 0], seg[:, 2]]), np.concatenate([seg[:, 1], seg[:, 3]])
    _, place = np.unique(lon + 1j * lat, return_inverse=True)  # exact: no rounding
    _, first, vertex_of_end = np.unique(place * (group.max() + 1) + np.tile(group, 2),
                                        return_index=True, return_inverse=True)
    pair_key = np.sort(vertex_of_end * n + np.tile(np.arange(n), 2))
    pair_key = pair_key[np.r_[True, pair_key[1:] != pair_key[:-1]]]
    pairs = np.column_stack([pair_key // n, pair_key % n])
    width = 1 if (seg[:, :2] == seg[:, 2:]).all() else 2
    count = np.bincount(pairs[:, 0], minlength=len(first))
    slot = np.arange(len(pairs)) - np.repeat(np.cumsum(count) - count, count)
    entry_key = pairs[:, 0] * (count.max() // width + 1) + slot // width
    keys, first_pair, entry = np.unique(entry_key, return_index=True, return_inverse=True)
    incident = np.full((len(keys), width), -1, dtype=np.int64)
    incident[entry, slot % width] = pairs[:, 1]
    where = first[pairs[first_pair, 0]]
    return np.vstack([a3, b3])[where], np.concatenate([group, group])[where], incident


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


def _split_segments(seg: np.ndarray, max_len_m: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split segments longer than ``max_len_m`` into equal pieces of the same lon/lat line.

    Returns the pieces, the segment each came from, and each piece's geodesic length (m).
    """
    _, _, length = GEOD.inv(*seg.T)
    pieces = np.maximum(1, np.ceil(length / max_len_m)).astype(np.int64)
    parent = np.repeat(np.arange(len(seg)), pieces)
    start = np.repeat(np.cumsum(pieces) - pieces, pieces)
    k = np.arange(len(parent)) - start
    f0 = (k / pieces[parent])[:, None]
    f1 = ((k + 1) / pieces[parent])[:, None]
    a, b = seg[parent, :2], seg[parent, 2:]
    out = np.hstack([a + f0 * (b - a), a + f1 * (b - a)])
    piece_len = length[parent]
    cut = pieces[parent] > 1
    if cut.any():
        _, _, piece_len[cut] = GEOD.inv(*out[cut].T)
    return out, parent, piece_len
