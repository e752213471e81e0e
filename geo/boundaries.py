"""Reference polygons: sovereign airspace, land, Belarus, Kaliningrad and land borders.

The data are the committed files in ``data/`` (see ``data/README.md``); they are read
once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.distance import NearestSegments, segments_of
from geo.errors import ReferenceDataError
from geo.settings import AIRSPACE_PATH, BELARUS_ISO3, BORDERS_PATH, LAND_PATH


class PolygonIndex:
    """Vectorized point-in-polygon lookups against non-overlapping polygons.

    Parameters
    ----------
    geoms : array of shapely polygons
        One (multi)polygon per row; the answer of :meth:`locate` indexes them.
    """

    def __init__(self, geoms: np.ndarray) -> None:
        self.geoms = np.asarray(geoms, dtype=object)
        shapely.prepare(self.geoms)
        self.bounds = shapely.bounds(self.geoms)
        # GEOS builds a prepared geometry's point locator on first use, which must not
        # happen in two threads at once: build them now
        shapely.intersects_xy(self.geoms, self.bounds[:, 0], self.bounds[:, 1])
        self._tree = shapely.STRtree(shapely.envelope(self.geoms))

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Return, per point, the index of the polygon covering it, or -1.

        Each polygon tests only the points inside its bounding box (a numpy mask, no
        geometry objects made per point). A point on a shared edge goes to the first
        polygon in row order.
        """
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        found = np.full(lon.shape, -1, dtype=np.int64)
        for j, (x0, y0, x1, y1) in enumerate(self.bounds):
            cand = np.flatnonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
                                  & (found < 0))
            if len(cand):
                hit = shapely.intersects_xy(self.geoms[j], lon[cand], lat[cand])
                found[cand[hit]] = j
        return found

    def candidates(self, geom: shapely.Geometry) -> np.ndarray:
        """Indexes of the polygons whose bounding box meets ``geom``."""
        return self._tree.query(geom)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Return whether any polygon covers each point."""
        return self.locate(lon, lat) >= 0


@dataclass(frozen=True, eq=False)  # hashed by identity, for the cached indexes
class Boundaries:
    """The reference layers, with lazily built spatial indexes."""

    airspace: gpd.GeoDataFrame
    land: gpd.GeoDataFrame
    kaliningrad: shapely.Geometry
    borders: gpd.GeoDataFrame

    @property
    def belarus(self) -> shapely.Geometry:
        """Belarus's territory (landlocked: its airspace is its land)."""
        return self.airspace.loc[self.airspace.iso3 == BELARUS_ISO3].geometry.iloc[0]

    @cached_property
    def airspace_index(self) -> PolygonIndex:
        """Point-in-polygon index over the states' airspace."""
        return PolygonIndex(self.airspace.geometry.values)

    @cached_property
    def land_index(self) -> PolygonIndex:
        """Point-in-polygon index over the land polygons."""
        return PolygonIndex(self.land.geometry.values)

    @cached_property
    def belarus_index(self) -> PolygonIndex:
        """Point-in-polygon index over Belarus alone (a copy of the airspace row's
        geometry, so that the two indexes never share a prepared geometry)."""
        return PolygonIndex(shapely.from_wkb(shapely.to_wkb(np.array([self.belarus]))))

    @cached_property
    def kaliningrad_index(self) -> PolygonIndex:
        """Point-in-polygon index over the Kaliningrad exclave."""
        return PolygonIndex(np.array([self.kaliningrad], dtype=object))

    @cached_property
    def belarus_distance(self) -> NearestSegments:
        """Nearest-segment index over Belarus's boundary."""
        return NearestSegments.from_geometries([self.belarus])[0]

    @cached_property
    def kaliningrad_distance(self) -> NearestSegments:
        """Nearest-segment index over the exclave's boundary (territorial sea included)."""
        return NearestSegments.from_geometries([self.kaliningrad])[0]

    def border_distance(self, states: tuple[int, ...]
                        ) -> tuple[NearestSegments | None, np.ndarray]:
        """Nearest-segment index over the land borders of some states, grouped by state.

        Parameters
        ----------
        states : tuple of int
            Rows of :attr:`airspace`. Query the index with ``group`` = the point's row to
            search only that state's borders.

        Returns
        -------
        index : NearestSegments or None
            None when none of the states has a land border.
        names : ndarray
            Per indexed segment, the border's name read from the state's side
            (``"LTU-BLR"`` in Lithuania's group).
        """
        return _border_index(self, tuple(sorted(states)))

    def border_between(self, iso3: str, other: str) -> shapely.Geometry | None:
        """The land border between two states, or None where they do not meet."""
        pair = ((self.borders.iso3_a == iso3) & (self.borders.iso3_b == other)) | (
            (self.borders.iso3_a == other) & (self.borders.iso3_b == iso3))
        return self.borders.geometry[pair].iloc[0] if pair.any() else None


@lru_cache(maxsize=4)  # an index over every state's borders holds ~100 MB
def _border_index(bnd: Boundaries, states: tuple[int, ...]
                  ) -> tuple[NearestSegments | None, np.ndarray]:
    iso3 = bnd.airspace.iso3.to_numpy()
    row_of = {code: j for j, code in enumerate(iso3)}
    wanted = set(iso3[list(states)])
    a, b = bnd.borders.iso3_a.to_numpy(), bnd.borders.iso3_b.to_numpy()
    geoms = bnd.borders.geometry.to_numpy()
    sides = [(x, y, g) for x, y, g in zip(np.concatenate([a, b]), np.concatenate([b, a]),
                                          np.concatenate([geoms, geoms]), strict=True)
             if x in wanted]
    if not sides:
        return None, np.array([], dtype=object)
    seg, owner = segments_of([g for _, _, g in sides])
    state = np.array([row_of[x] for x, _, _ in sides], dtype=np.int64)
    names = np.array([f"{x}-{y}" for x, y, _ in sides], dtype=object)
    index = NearestSegments(seg, group=state[owner])
    return index, names[owner[index.parent]]


def _read_layer(path: Path, layer: str) -> gpd.GeoDataFrame:
    if not path.exists():
        msg = f"reference data {path} is missing; rebuild it with `python data/build.py`"
        raise ReferenceDataError(msg)
    frame = gpd.read_file(path, layer=layer)
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        msg = f"{path}:{layer} has CRS {frame.crs}, expected EPSG:4326"
        raise ReferenceDataError(msg)
    return frame


@lru_cache(maxsize=4)
def load_boundaries(
    airspace_path: Path = AIRSPACE_PATH, land_path: Path = LAND_PATH,
    borders_path: Path = BORDERS_PATH,
) -> Boundaries:
    """Read the reference layers (cached per process)."""
    kal = _read_layer(airspace_path, "kaliningrad")
    return Boundaries(
        airspace=_read_layer(airspace_path, "airspace"),
        land=_read_layer(land_path, "land"),
        kaliningrad=kal.geometry.iloc[0],
        borders=_read_layer(borders_path, "borders"),
    )


def border_sections(bnd: Boundaries, names: list[str]) -> shapely.Geometry:
    """The land border lines named ``"LTU-BLR"`` (either order) as one geometry."""
    parts = []
    for name in names:
        iso3, _, other = name.partition("-")
        line = bnd.border_between(iso3, other)
        if line is None:
            msg = f"no land border {name!r} in the reference data"
            raise ReferenceDataError(msg)
        parts.append(line)
    return shapely.line_merge(shapely.union_all(parts))
