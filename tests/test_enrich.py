"""Known facts about the region, checked through the enrichment."""

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.enrich import ENRICHED_COLUMNS, enrich_points
from geo.records import FRAME_REPORT_COLUMNS, enrich_frames

VILNIUS = (25.2798, 54.6892)
MINSK = (27.5667, 53.9000)
KALININGRAD = (20.5100, 54.7100)
OFF_VAINDLOO = (26.36, 59.82)
MID_GULF_OF_FINLAND = (26.00, 59.90)
OUTSIDE_COVERAGE = (60.0, 45.0)


def facts(lon_lat):
    return enrich_points([lon_lat[0]], [lon_lat[1]]).iloc[0]


def test_vilnius_is_about_29_km_from_belarus():
    got = facts(VILNIUS)
    assert got.country_iso3 == "LTU"
    assert got.country_name == "Lithuania"
    assert not got.over_water
    assert got.dist_belarus_km == pytest.approx(29, abs=3)
    assert got.nearest_border == "LTU-BLR"
    assert got.dist_border_km == pytest.approx(got.dist_belarus_km, abs=1e-6)


def test_minsk_is_inside_belarus():
    got = facts(MINSK)
    assert got.country_iso3 == "BLR"
    assert got.dist_belarus_km == 0
    assert got.dist_kaliningrad_km > 300


def test_kaliningrad_city_is_in_the_exclave():
    got = facts(KALININGRAD)
    assert got.country_iso3 == "RUS"
    assert got.in_kaliningrad
    assert got.dist_kaliningrad_km == 0
    assert got.nearest_border in {"RUS-POL", "RUS-LTU"}


def test_off_vaindloo_is_estonian_airspace_over_water():
    got = facts(OFF_VAINDLOO)
    assert got.country_iso3 == "EST"
    assert got.over_water
    assert got.in_coverage


def test_mid_gulf_of_finland_is_no_states_airspace():
    got = facts(MID_GULF_OF_FINLAND)
    assert got.country_iso3 == ""
    assert got.over_water
    assert got.in_coverage
    assert got.nearest_border == ""
    assert np.isnan(got.dist_border_km)


def test_outside_coverage_nothing_is_guessed():
    got = facts(OUTSIDE_COVERAGE)
    assert not got.in_coverage
    assert got.country_iso3 == ""
    assert got.nearest_place == ""
    assert pd.isna(got.over_water)  # unknown, not a guess either way


def test_suwalki_gap_is_about_65_km(boundaries):
    outline = shapely.segmentize(boundaries.kaliningrad.boundary, 0.002)
    xy = shapely.get_coordinates(outline)
    dist_m, _ = boundaries.belarus_distance.query(xy[:, 0], xy[:, 1])
    assert dist_m.min() / 1000 == pytest.approx(65, abs=5)


def test_gaiziunai_training_area_is_lithuania_about_100_km_from_belarus(gazetteer):
    site = gazetteer.geocode("Gaižiūnai training area").place
    got = facts((site.lon, site.lat))
    assert got.country_iso3 == "LTU"
    assert got.dist_belarus_km == pytest.approx(100, abs=15)
    assert got.location_label.endswith(f" of {got.nearest_place}")


def test_columns_are_exactly_the_contract():
    got = enrich_points([VILNIUS[0]], [VILNIUS[1]])
    assert [*list(got.columns), "geocode_source"] == ENRICHED_COLUMNS


def test_many_points_at_once_agree_with_one_at_a_time():
    pts = [VILNIUS, MINSK, KALININGRAD, OFF_VAINDLOO, MID_GULF_OF_FINLAND, OUTSIDE_COVERAGE]
    together = enrich_points([p[0] for p in pts], [p[1] for p in pts])
    for i, p in enumerate(pts):
        alone = facts(p)
        assert together.iloc[i].country_iso3 == alone.country_iso3
        assert together.iloc[i].dist_belarus_km == pytest.approx(alone.dist_belarus_km)


def test_a_stream_of_frames_gives_one_frame_each_with_every_row_enriched_or_refused():
    """What Spark's mapInPandas or DuckDB's Arrow batches go through (see the README)."""
    first = pd.DataFrame({"id": ["vilnius", "far", "minsk"], "date": "2025-09-10",
                          "lat": [VILNIUS[1], 95.0, MINSK[1]],
                          "lon": [VILNIUS[0], 25.0, MINSK[0]]})
    second = pd.DataFrame({"id": ["vilnius", "kaliningrad"], "date": "2025-09-10",
                           "lat": [54.7, KALININGRAD[1]], "lon": [25.3, KALININGRAD[0]]})
    one, two = enrich_frames([first, second], first_row=10)
    columns = [*first.columns, *ENRICHED_COLUMNS, *FRAME_REPORT_COLUMNS]
    assert list(one.columns) == columns
    assert list(two.columns) == columns
    assert one["row"].tolist() == [11, 12, 13]
    assert one["country_iso3"].tolist()[::2] == ["LTU", "BLR"]
    assert one["reject_reason"].iloc[1] == "latitude must be within ±90 (got 95.0)"
    assert one["reject_field"].iloc[1] == "lat"
    assert pd.isna(one["country_iso3"].iloc[1])
    assert two["reject_reason"].tolist()[0] == "duplicate id 'vilnius'"
    assert bool(two["in_kaliningrad"].iloc[1])
    assert two["dist_kaliningrad_km"].iloc[1] == 0.0
