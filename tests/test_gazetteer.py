import numpy as np
import pytest

from geo.errors import GeocodeError
from geo.gazetteer import compass_point, normalize_name
from geo.settings import GEOD, LABEL_MIN_POPULATION


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


def test_label_names_the_geodesically_nearest_town(gazetteer):
    jonava = gazetteer.geocode("Jonava").place
    lon, lat, _ = GEOD.fwd(jonava.lon, jonava.lat, 135.0, 12000.0)
    got = gazetteer.nearest([lon], [lat]).iloc[0]
    towns = gazetteer.table[(gazetteer.table.population >= LABEL_MIN_POPULATION)
                            & (gazetteer.table.kind == "populated place")]
    az, _, dist = GEOD.inv(towns.lon.to_numpy(), towns.lat.to_numpy(),
                           np.full(len(towns), lon), np.full(len(towns), lat))
    best = int(np.argmin(dist))
    assert got.nearest_place == towns.name.iloc[best]
    assert got.nearest_place_km == pytest.approx(dist[best] / 1000, abs=1e-6)
    expected = f"{round(dist[best] / 1000)} km {compass_point(az[best:best + 1])[0]} of "
    assert got.location_label == expected + towns.name.iloc[best]


def test_label_at_a_town_is_its_name(gazetteer):
    jonava = gazetteer.geocode("Jonava").place
    got = gazetteer.nearest([jonava.lon], [jonava.lat]).iloc[0]
    assert got.location_label == "Jonava"
