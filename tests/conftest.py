"""Shared fixtures: the committed reference data, loaded once per test session."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geo.boundaries import load_boundaries
from geo.gazetteer import load_gazetteer


@pytest.fixture(scope="session")
def boundaries():
    return load_boundaries()


@pytest.fixture(scope="session")
def gazetteer():
    return load_gazetteer()


def brute_force_distance_m(lon: float, lat: float, geom: shapely.Geometry,
                           spacing_deg: float = 0.0005) -> float:
    """Reference distance (m): the target's outline, densified along its own
    longitude/latitude lines, projected into an azimuthal-equidistant plane centred on
    the point (where distance from the centre is the geodesic distance), then measured
    from the centre."""
    outline = geom.boundary if geom.geom_type in ("Polygon", "MultiPolygon") else geom
    dense = shapely.segmentize(outline, spacing_deg)
    aeqd = Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84", always_xy=True
    )
    projected = shapely.transform(dense, lambda xy: np.column_stack(aeqd.transform(xy[:, 0],
                                                                                   xy[:, 1])))
    return float(shapely.distance(shapely.Point(0.0, 0.0), projected))
