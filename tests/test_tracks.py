"""Flight tracks whose answers follow from the reference data directly."""

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.enrich import enrich_points
from geo.settings import GEOD
from geo.tracks import INTERNATIONAL, analyse_track

# Vilnius-Minsk road area: Belarus to Lithuania, heading north-west.
IN_BELARUS = (26.30, 54.35)
IN_LITHUANIA = (25.60, 54.70)


def test_crossing_from_belarus_into_lithuania():
    track = shapely.LineString([IN_BELARUS, IN_LITHUANIA])
    times = ["2025-07-10T10:00:00Z", "2025-07-10T11:00:00Z"]
    report = analyse_track(track, times)

    assert list(report.crossings.direction) == ["BLR→LTU"]
    crossing = report.crossings.iloc[0]
    at = enrich_points([crossing.lon], [crossing.lat]).iloc[0]
    assert at.dist_belarus_km == pytest.approx(0, abs=0.01)  # it is on the border

    _, _, total_m = GEOD.inv(*IN_BELARUS, *IN_LITHUANIA)
    legs = report.legs.set_index("iso3")
    assert legs.length_km.sum() == pytest.approx(total_m / 1000, rel=1e-4)
    # constant speed: time inside each state is its share of the distance
    share = legs.loc["LTU", "length_km"] / legs.length_km.sum()
    assert legs.loc["LTU", "duration"] / pd.Timedelta(hours=1) == pytest.approx(share, abs=1e-3)
    assert crossing.time == pd.Timestamp("2025-07-10T10:00:00Z") + (1 - share) * pd.Timedelta("1h")


def test_penetration_depth_is_the_deepest_point_from_the_entry_border():
    end = enrich_points([IN_LITHUANIA[0]], [IN_LITHUANIA[1]]).iloc[0]
    report = analyse_track(shapely.LineString([IN_BELARUS, IN_LITHUANIA]))
    ltu = report.legs.set_index("iso3").loc["LTU"]
    assert ltu.depth_reference == "LTU-BLR"
    # flying straight away from the border the deepest point is the end
    assert ltu.max_depth_km == pytest.approx(end.dist_belarus_km, abs=0.05)


def test_there_and_back_counts_two_crossings_and_keeps_the_deepest_point():
    mid = (25.95, 54.55)
    deep = enrich_points([mid[0]], [mid[1]]).iloc[0]
    report = analyse_track(shapely.LineString([IN_BELARUS, IN_LITHUANIA, mid, IN_BELARUS]))
    assert list(report.crossings.direction) == ["BLR→LTU", "LTU→BLR"]
    per_state = report.per_state()
    assert per_state.loc["LTU", "max_depth_km"] >= deep.dist_belarus_km
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
