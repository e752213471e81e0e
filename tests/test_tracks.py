"""Flight tracks whose answers follow from the reference data directly."""

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.enrich import enrich_points
from geo.settings import GEOD
from geo.tracks import INTERNATIONAL, analyse_track

# South-east of Vilnius: from Belarus into Lithuania, heading north-west.
IN_BELARUS = (26.30, 54.35)
IN_LITHUANIA = (25.60, 54.70)


@pytest.fixture(scope="module")
def ltu_blr(boundaries):
    b = boundaries.borders
    return b.loc[b.name.isin(["LTU-BLR", "BLR-LTU"])].geometry.iloc[0]


def test_every_border_crossing_is_found_in_order(ltu_blr):
    track = shapely.LineString([IN_BELARUS, IN_LITHUANIA])
    report = analyse_track(track, ["2025-07-10T10:00:00Z", "2025-07-10T11:00:00Z"])
    expected = len(shapely.get_parts(shapely.intersection(track, ltu_blr)))
    assert expected >= 1
    assert len(report.crossings) == expected
    assert report.crossings.direction.iloc[0] == "BLR→LTU"
    assert report.crossings.direction.iloc[-1] == "BLR→LTU"
    assert report.crossings.along_km.is_monotonic_increasing
    at = enrich_points(report.crossings.lon.to_numpy(), report.crossings.lat.to_numpy())
    assert at.dist_belarus_km.max() < 0.01  # every crossing lies on the border


def test_length_and_time_inside_each_state_follow_constant_speed():
    track = shapely.LineString([IN_BELARUS, IN_LITHUANIA])
    report = analyse_track(track, ["2025-07-10T10:00:00Z", "2025-07-10T11:00:00Z"])
    per_state = report.per_state()
    _, _, total_m = GEOD.inv(*IN_BELARUS, *IN_LITHUANIA)
    assert per_state.length_km.sum() == pytest.approx(total_m / 1000, rel=1e-4)
    share = per_state.loc["LTU", "length_km"] / per_state.length_km.sum()
    hours = per_state.loc["LTU", "duration"] / pd.Timedelta(hours=1)
    assert hours == pytest.approx(share, abs=1e-3)
    first = report.crossings.iloc[0]
    expected = pd.Timestamp("2025-07-10T10:00:00Z") + pd.Timedelta(
        hours=first.along_km * 1000 / total_m)
    assert abs(first.time - expected) < pd.Timedelta(microseconds=1)


def test_penetration_depth_is_the_deepest_point_from_the_entry_border():
    end = enrich_points([IN_LITHUANIA[0]], [IN_LITHUANIA[1]]).iloc[0]
    report = analyse_track(shapely.LineString([IN_BELARUS, IN_LITHUANIA]))
    last_leg = report.legs.iloc[-1]
    assert last_leg.iso3 == "LTU"
    assert last_leg.depth_reference == "LTU-BLR"
    # flying straight away from the border the deepest point is the end
    assert last_leg.max_depth_km == pytest.approx(end.dist_belarus_km, abs=0.05)


def test_a_track_that_returns_along_itself_is_read_in_flight_order():
    there_and_back = shapely.LineString([IN_BELARUS, IN_LITHUANIA, IN_BELARUS])
    one_way = analyse_track(shapely.LineString([IN_BELARUS, IN_LITHUANIA]))
    report = analyse_track(there_and_back)
    n = len(one_way.crossings)
    assert len(report.crossings) == 2 * n
    assert report.crossings.direction.iloc[n] == "LTU→BLR"
    assert report.crossings.along_km.is_monotonic_increasing
    assert report.per_state().loc["LTU", "max_depth_km"] == pytest.approx(
        one_way.per_state().loc["LTU", "max_depth_km"], abs=1e-6)
    assert np.isnat(report.crossings.time.to_numpy(dtype="datetime64[ns]")).all()


def test_flight_over_the_high_seas_into_estonian_airspace():
    # from the middle of the Gulf of Finland south to the Estonian coast
    report = analyse_track(shapely.LineString([(26.0, 59.90), (26.0, 59.55)]))
    assert list(report.crossings.direction) == [f"{INTERNATIONAL}→EST"]
    est = report.legs.set_index("iso3").loc["EST"]
    assert est.depth_reference == "EST airspace edge"
    assert est.max_depth_km > 0


def test_bad_tracks_are_refused():
    with pytest.raises(ValueError, match="times"):
        analyse_track(shapely.LineString([IN_BELARUS, IN_LITHUANIA]), ["2025-07-10"])
    with pytest.raises(ValueError, match="backwards"):
        analyse_track(shapely.LineString([IN_BELARUS, IN_LITHUANIA]),
                      ["2025-07-10T11:00Z", "2025-07-10T10:00Z"])
