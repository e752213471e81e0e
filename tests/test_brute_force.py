"""Enriched distances against a brute-force reference on the same boundary data.

200+ points: random ones over the region and ones placed 10-500 m either side of
Belarus's boundary, the Kaliningrad exclave's and the Lithuania-Belarus border.
"""

import numpy as np
import pytest
import shapely

from geo.enrich import enrich_points
from geo.settings import GEOD
from tests.conftest import brute_force_distance_m

pytestmark = pytest.mark.slow


def _near_line_points(geom, n, rng):
    """n points 10-500 m off random vertices of ``geom``, on alternating sides."""
    xy = shapely.get_coordinates(geom)
    picks = rng.choice(len(xy) - 1, size=n, replace=False)
    az, _, _ = GEOD.inv(xy[picks, 0], xy[picks, 1], xy[picks + 1, 0], xy[picks + 1, 1])
    side = np.where(np.arange(n) % 2 == 0, 90.0, -90.0)
    off = rng.uniform(10, 500, n)
    lon, lat, _ = GEOD.fwd(xy[picks, 0], xy[picks, 1], az + side, off)
    return lon, lat


@pytest.fixture(scope="module")
def sample(boundaries):
    rng = np.random.default_rng(2025)
    lon = [rng.uniform(18, 32, 120)]
    lat = [rng.uniform(51, 60, 120)]
    ltu_blr = boundaries.borders.loc[boundaries.borders.name.isin(["LTU-BLR", "BLR-LTU"])]
    for geom in (boundaries.belarus.boundary, boundaries.kaliningrad.boundary,
                 ltu_blr.geometry.iloc[0]):
        x, y = _near_line_points(geom, 30, rng)
        lon.append(x)
        lat.append(y)
    lon, lat = np.concatenate(lon), np.concatenate(lat)
    return lon, lat, enrich_points(lon, lat)


def test_sample_is_large_and_straddles_borders(sample, boundaries):
    lon, lat, got = sample
    assert len(lon) >= 200
    near = got.dist_belarus_km.between(0, 0.5)
    inside = shapely.intersects_xy(boundaries.belarus, lon, lat)
    assert (near & inside).sum() >= 10
    assert (got.dist_belarus_km.between(0.001, 0.5) & ~inside).sum() >= 10


def test_distance_to_belarus_matches_brute_force(sample, boundaries):
    lon, lat, got = sample
    inside = shapely.intersects_xy(boundaries.belarus, lon, lat)
    expected = np.array([0.0 if ins else brute_force_distance_m(x, y, boundaries.belarus)
                         for x, y, ins in zip(lon, lat, inside, strict=False)])
    assert np.abs(got.dist_belarus_km.to_numpy() * 1000 - expected).max() < 1.0


def test_distance_to_kaliningrad_matches_brute_force(sample, boundaries):
    lon, lat, got = sample
    inside = shapely.intersects_xy(boundaries.kaliningrad, lon, lat)
    assert (got.in_kaliningrad.to_numpy() == inside).all()
    expected = np.array([0.0 if ins else brute_force_distance_m(x, y, boundaries.kaliningrad)
                         for x, y, ins in zip(lon, lat, inside, strict=False)])
    assert np.abs(got.dist_kaliningrad_km.to_numpy() * 1000 - expected).max() < 1.0


def test_nearest_border_distance_matches_brute_force(sample, boundaries):
    lon, lat, got = sample
    b = boundaries.borders
    checked = 0
    for x, y, iso3, dist_km in zip(lon, lat, got.country_iso3, got.dist_border_km, strict=False):
        mine = b[(b.iso3_a == iso3) | (b.iso3_b == iso3)]
        if mine.empty:
            continue
        expected = min(brute_force_distance_m(x, y, g) for g in mine.geometry)
        assert dist_km * 1000 == pytest.approx(expected, abs=1.0)
        checked += 1
    assert checked >= 150
