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
    dist, i, az = index.query([25.0], [54.8], azimuth=True)
    assert i[0] == 0
    az_town, _, expected = GEOD.inv(25.28, 54.69, 25.0, 54.8)
    assert dist[0] == pytest.approx(expected, abs=1e-3)
    assert az[0] == pytest.approx(az_town, abs=1e-9)  # from the town to the point


def test_azimuth_is_from_the_nearest_point_of_the_segment():
    seg = np.array([[20.0, 55.0, 21.0, 55.0]])  # a parallel: the point lies due north
    _, _, az = NearestSegments(seg).query([20.5], [55.3], azimuth=True)
    assert az[0] == pytest.approx(0.0, abs=0.01)


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


def _exhaustive_m(lon, lat, seg):
    """Shortest distance to any of the segments, measuring every one of them."""
    n, m = len(lon), len(seg)
    dist, _ = geodesic_to_segments(np.repeat(lon, m), np.repeat(lat, m), np.tile(seg, (n, 1)))
    return dist.reshape(n, m).min(axis=1)


def test_star_of_segments_sharing_one_vertex_matches_exhaustive_search():
    rng = np.random.default_rng(3)
    ends = np.column_stack([25 + rng.uniform(-0.05, 0.05, 9), 55 + rng.uniform(-0.05, 0.05, 9)])
    seg = np.column_stack([np.tile([25.0, 55.0], (9, 1)), ends])  # nine spokes from one hub
    index = NearestSegments(seg)
    lon, lat = 25 + rng.normal(0, 0.05, 80), 55 + rng.normal(0, 0.03, 80)
    dist, _ = index.query(lon, lat)
    assert np.abs(dist - _exhaustive_m(lon, lat, index.seg)).max() < 1e-3


def test_groups_only_search_their_own_segments():
    seg = np.array([[24.0, 55.0, 24.1, 55.0],    # group 1, near the point
                    [26.0, 56.0, 26.2, 56.1],    # group 2, far away
                    [24.0, 55.0, 24.1, 55.0]])   # group 2 shares group 1's line
    index = NearestSegments(seg[:2], group=np.array([1, 2]))
    dist, nearest = index.query([24.05, 24.05, 24.05], [55.01, 55.01, 55.01],
                                group=np.array([1, 2, 3]))
    assert index.parent[nearest[0]] == 0
    assert dist[0] == pytest.approx(_exhaustive_m(np.array([24.05]), np.array([55.01]), seg[:1])[0],
                                    abs=1e-3)
    assert index.parent[nearest[1]] == 1
    assert dist[1] == pytest.approx(
        _exhaustive_m(np.array([24.05]), np.array([55.01]), seg[1:2])[0], abs=1e-3)
    assert nearest[2] == -1  # no segment in group 3
    assert np.isnan(dist[2])
    shared = NearestSegments(seg, group=np.array([1, 2, 2]))
    _, nearest = shared.query([24.05, 24.05], [55.01, 55.01], group=np.array([1, 2]))
    assert list(shared.parent[nearest]) == [0, 2]  # the same line, found in each group


def test_random_grouped_polylines_match_exhaustive_search():
    rng = np.random.default_rng(11)
    walks = [np.cumsum(rng.normal(0, 0.02, (60, 2)), axis=0) + np.array([24 + g, 55])
             for g in range(3)]
    seg = np.vstack([np.hstack([w[:-1], w[1:]]) for w in walks])
    group = np.repeat(np.arange(3), 59)
    index = NearestSegments(seg, group=group)
    lon, lat = rng.uniform(23.5, 27.5, 90), rng.uniform(54.5, 55.8, 90)
    want = rng.integers(0, 3, 90)
    dist, nearest = index.query(lon, lat, group=want)
    for g in range(3):
        mine = want == g
        pieces = index.seg[index.group == g]
        assert np.abs(dist[mine] - _exhaustive_m(lon[mine], lat[mine], pieces)).max() < 1e-3
    assert (index.group[nearest] == want).all()
