"""The committed reference data are what data/README.md says they are."""

import hashlib
import json

import pycountry
import pytest
import shapely

from geo.settings import AIRSPACE_PATH, COVERAGE_BBOX, DATA_DIR, LAND_PATH, PLACES_PATH

MB = 1_000_000  # decimal megabytes: the stricter reading of the size budgets


@pytest.fixture(scope="module")
def provenance():
    return json.loads((DATA_DIR / "provenance.json").read_text())


def test_every_output_matches_its_recorded_checksum(provenance):
    for key in ("airspace", "borders", "land", "places", "context"):
        entry = provenance[key]
        path = DATA_DIR / entry["output"]["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["output"]["sha256"]
        for source in entry["inputs"]:
            assert source["package"]
            assert source["version"]
            assert source["licence"]
            assert len(source["sha256"]) == 64


def test_files_stay_within_their_size_budgets():
    assert AIRSPACE_PATH.stat().st_size <= 10 * MB
    assert LAND_PATH.stat().st_size <= 5 * MB
    assert PLACES_PATH.stat().st_size <= 5 * MB


def test_airspace_stays_within_50_m_of_the_source(provenance):
    assert provenance["airspace"]["stats"]["boundary_shift_from_source_m"]["max"] <= 50


def test_airspace_is_a_valid_coverage_so_neighbours_share_one_border(boundaries):
    geoms = boundaries.airspace.geometry.values
    assert shapely.is_valid(geoms).all()
    assert shapely.coverage_is_valid(geoms)
    assert shapely.coverage_is_valid(boundaries.land.geometry.values)


def test_coverage_spans_the_required_box(boundaries):
    minx, miny, maxx, maxy = boundaries.airspace.total_bounds
    lon0, lat0, lon1, lat1 = COVERAGE_BBOX
    assert minx >= lon0 - 1e-9
    assert maxx <= lon1 + 1e-9
    assert miny >= lat0 - 1e-9
    assert maxy <= lat1 + 1e-9
    assert (lon0, lat0, lon1, lat1) == (-32.0, 34.0, 45.0, 72.0)
    eastern_flank = {"LTU", "LVA", "EST", "POL", "ROU", "FIN", "BLR", "RUS", "UKR", "MDA"}
    assert eastern_flank <= set(boundaries.airspace.iso3)


def test_country_names_come_from_iso_3166(boundaries):
    for iso3, name in zip(boundaries.airspace.iso3, boundaries.airspace.name, strict=False):
        country = pycountry.countries.get(alpha_3=iso3)
        if country is not None:
            assert name in {country.name, getattr(country, "common_name", None)}


def test_lithuania_belarus_border_length(boundaries):
    row = boundaries.borders.loc[boundaries.borders.name.isin(["LTU-BLR", "BLR-LTU"])]
    assert len(row) == 1
    assert 650 <= row.length_km.iloc[0] <= 680


def test_kaliningrad_is_russian_and_west_of_lithuania(boundaries):
    kal = boundaries.kaliningrad
    russia = boundaries.airspace.loc[boundaries.airspace.iso3 == "RUS"].geometry.iloc[0]
    assert shapely.covers(russia, kal)
    minx, miny, maxx, maxy = kal.bounds
    assert minx > 19
    assert maxx < 23
    assert miny > 54
    assert maxy < 56


def test_the_curated_english_names_are_of_labelled_towns_and_sourced():
    import pandas as pd

    from dashboard.display import map_labels, town_names
    from geo.settings import EXONYMS_PATH, PLACES_PATH

    names = pd.read_csv(EXONYMS_PATH, comment="#", keep_default_na=False)
    places = pd.read_csv(PLACES_PATH, usecols=["geonameid", "name"])
    assert names["geonameid"].is_unique
    assert set(names["geonameid"]) <= set(places["geonameid"])
    assert names["source"].str.startswith("en.wikipedia.org/wiki/").all()
    assert town_names([627904, 593116, 734077], ["Hrodna", "Vilnius", "Thessaloníki"]) == [
        "Grodno / Hrodna", "Vilnius", "Thessaloniki"]  # accents alone: the English name
    labelled = {label["name"] for label in map_labels() if label["kind"] == "town"}
    assert {"Warsaw / Warszawa", "Grodno / Hrodna", "Moscow / Moskva"} <= labelled
    assert "Hrodna" not in labelled


def test_places_carry_their_geonames_feature_codes():
    """Districts are sections of a populated place (PPLX), not towns: the labels need
    to tell them apart."""
    import pandas as pd

    places = pd.read_csv(PLACES_PATH, keep_default_na=False)
    places = (places[places["country_iso3"] == "LTU"].sort_values("population")
              .drop_duplicates("name", keep="last").set_index("name"))
    assert places.loc["Vilnius", "feature_code"] == "PPLC"
    for district in ("Naujoji Vilnia", "Pašilaičiai", "Fabijoniškės", "Šeškinė",
                     "Justiniškės"):
        assert places.loc[district, "feature_code"] == "PPLX", district
    assert places.loc["Kaunas", "feature_code"].startswith("PPLA")
    assert places.loc["Kaunas", "town"] == 1
    assert places.loc["Šeškinė", "town"] == 0


def test_districts_without_a_feature_code_are_not_towns():
    """Tallinn's districts are newer in GeoNames than the feature codes' snapshot:
    within Tallinn's reach, they are not towns; Maardu, a town of its own beyond it,
    is."""
    import pandas as pd

    places = pd.read_csv(PLACES_PATH, keep_default_na=False)
    est = places[places["country_iso3"] == "EST"].set_index("name")
    for district in ("Lasnamäe", "Mustamäe", "Haabersti", "Põhja-Tallinn"):
        assert est.loc[district, "feature_code"] == "", district
        assert est.loc[district, "town"] == 0, district
    assert est.loc["Tallinn", "town"] == 1
    assert est.loc["Maardu", "town"] == 1
