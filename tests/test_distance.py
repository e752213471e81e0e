import numpy as np
import pytest
import shapely

from geo.distance import NearestSegments, geodesic_to_segments, segments_of
from geo.settings import GEOD
from tests.conftest import brute_force_distance_m


def test_distance_to_the_equator_is_the_meridian_arc():
    seg = np.array([[0.0, 0.0, 1.0, 0.0]])
    dist, t = geodesic_to_segments(np.array([0.5]), np.array([0.1]), seg)
    _, _, meridian = GEOD.inv(0.5, 0.0, 0.5, 0.1)
    assert dist[0] == pytest.approx(meridian, abs=1e-3)
    assert t[0] == pytest.approx(0.5, abs=1e-6)


def test_beyond_the_end_the_distance_is_to_the_endpoint():
    seg = np.array([[0.0, 0.0, 1.0, 0.0]])
    dist, t = geodesic_to_segments(np.array([1.5]), np.array([0.2]), seg)
    assert t[0] == 1.0
    assert dist[0] == pytest.approx(GEOD.inv(1.0, 0.0, 1.5, 0.2)[2], abs=1e-3)


def test_point_targets_measure_point_to_point():
    index = NearestSegments(np.array([[25.28, 54.69, 25.28, 54.69], [24.28, 55.08, 24.28, 55.08]]))
    dist, i = index.query([25.0], [54.8])
    assert i[0] == 0
    assert dist[0] == pytest.approx(GEOD.inv(25.28, 54.69, 25.0, 54.8)[2], abs=1e-3)


def test_nan_points_give_nan():
    index = NearestSegments(np.array([[0.0, 0.0, 1.0, 0.0]]))
    dist, i = index.query([np.nan, 0.5], [0.0, 0.0])
    assert np.isnan(dist[0])
    assert i[0] == -1
    assert dist[1] == pytest.approx(0.0, abs=1e-6)


def test_segments_of_polygon_cover_its_rings():
    square = shapely.box(0, 0, 1, 1).difference(shapely.box(0.4, 0.4, 0.6, 0.6))
    seg, owner = segments_of([square, shapely.Point(5, 5)])
    assert len(seg) == 4 + 4 + 1
    assert (owner[:8] == 0).all()
    assert owner[8] == 1


def test_matches_brute_force_on_a_ragged_polygon_with_long_edges():
    rng = np.random.default_rng(7)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
    radius = rng.uniform(0.5, 3.0, 40)
    poly = shapely.Polygon(np.column_stack([24 + radius * np.cos(angles) * 1.7,
                                            55 + radius * np.sin(angles)])).buffer(0)
    index, _ = NearestSegments.from_geometries([poly])
    lon = rng.uniform(14, 36, 60)
    lat = rng.uniform(48, 63, 60)
    dist, _ = index.query(lon, lat)
    expected = [brute_force_distance_m(x, y, poly, spacing_deg=0.002)
                for x, y in zip(lon, lat, strict=True)]
    assert np.max(np.abs(dist - expected)) < 1.0
