import numpy as np
import pytest

from geo.errors import GeocodeError
from geo.gazetteer import compass_point, normalize_name
from geo.settings import GEOD


def test_names_match_without_diacritics_or_case():
    assert normalize_name("Gaižiūnai") == normalize_name("GAIZIUNAI")
    assert normalize_name("Łask") == "lask"


@pytest.mark.parametrize("alias", ["Wilno", "Vilna", "vilnius", "VILNIUS"])
def test_alternate_names_find_vilnius(gazetteer, alias):
    place = gazetteer.geocode(alias).place
    assert place.name == "Vilnius"
    assert place.lat == pytest.approx(54.69, abs=0.02)
    assert place.lon == pytest.approx(25.28, abs=0.02)


def test_curated_military_sites_resolve_with_a_source(gazetteer):
    site = gazetteer.geocode("Gaiziunai training area").place
    assert site.country_iso3 == "LTU"
    assert site.kind == "training area"
    assert site.source
    assert gazetteer.geocode("Siauliai Air Base").place.kind == "air base"
    assert gazetteer.geocode("EYSA").place.name == "Šiauliai Air Base"


def test_ambiguous_name_lists_its_candidates(gazetteer):
    with pytest.raises(GeocodeError, match="ambiguous") as err:
        gazetteer.geocode("Mihail Kogălniceanu")
    assert len(err.value.candidates) >= 2
    assert {c.country_iso3 for c in err.value.candidates} == {"ROU"}


def test_country_narrows_a_name(gazetteer):
    assert gazetteer.geocode("Jonava", country="LTU").place.country_iso3 == "LTU"
    with pytest.raises(GeocodeError, match="unknown place 'Jonava' in POL"):
        gazetteer.geocode("Jonava", country="POL")


def test_unknown_name_suggests_the_closest_spellings(gazetteer):
    with pytest.raises(GeocodeError, match="did you mean") as err:
        gazetteer.geocode("Jonavva")
    assert "Jonava" in err.value.candidates


def test_compass_points():
    assert list(compass_point(np.array([0, 44, 135, 180, 292.5, 359]))) == [
        "N", "NE", "SE", "S", "WNW", "N"]


def test_label_reads_distance_direction_and_town(gazetteer):
    vilnius = gazetteer.geocode("Vilnius").place
    lon, lat, _ = GEOD.fwd(vilnius.lon, vilnius.lat, 180.0, 6000.0)
    got = gazetteer.nearest([lon], [lat]).iloc[0]
    assert got.nearest_place == "Vilnius"
    assert got.nearest_place_km == pytest.approx(6.0, abs=0.01)
    assert got.location_label == "6 km S of Vilnius"
