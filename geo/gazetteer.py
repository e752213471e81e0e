"""Place names to coordinates, and coordinates to a readable location label.

Two tables feed it: GeoNames populated places (``data/places.csv.gz``) and a curated
table of military sites and airports (``data/sites.csv``). Names match regardless of
case and diacritics (``Gaiziunai`` finds ``Gaižiūnai``) and through GeoNames' alternate
names (``Wilno`` finds ``Vilnius``).
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from anyascii import anyascii

from geo.distance import NearestSegments
from geo.errors import GeocodeError, ReferenceDataError
from geo.settings import (
    LABEL_AT_PLACE_KM,
    LABEL_MIN_POPULATION,
    PLACES_PATH,
    SITES_PATH,
)

#: A name resolves to the most populous match only if it is this many times more
#: populous than the next match; otherwise the name is ambiguous.
CLEAR_WINNER_RATIO = 10.0
#: How many candidates and suggestions an error lists.
MAX_CANDIDATES = 8

_COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
            "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")


def normalize_name(text: str) -> str:
    """Return the matching key of a name: ASCII, lower case, single spaces."""
    ascii_text = anyascii(str(text)).casefold()
    return re.sub(r"[^a-z0-9]+", " ", ascii_text).strip()


def compass_point(azimuth_deg: np.ndarray) -> np.ndarray:
    """Return the 16-wind compass point of each azimuth (degrees clockwise from north)."""
    sector = np.round(np.mod(np.asarray(azimuth_deg, dtype=float), 360.0) / 22.5).astype(int) % 16
    return np.asarray(_COMPASS, dtype=object)[sector]


@dataclass(frozen=True)
class Place:
    """One gazetteer entry."""

    name: str
    lat: float
    lon: float
    country_iso3: str
    population: int
    kind: str
    source: str

    def describe(self) -> str:
        """One line for people: name, country, kind, coordinates."""
        extra = f"pop. {self.population:,}" if self.kind == "populated place" else self.kind
        return f"{self.name} ({self.country_iso3}, {extra}) {self.lat:.5f} N {self.lon:.5f} E"


@dataclass(frozen=True)
class GeocodeResult:
    """A resolved name: the chosen place and every place the name matched."""

    query: str
    place: Place
    candidates: tuple[Place, ...]


class Gazetteer:
    """Name lookup and nearest-place labels over a table of places.

    Parameters
    ----------
    table : DataFrame
        Columns ``name, lat, lon, country_iso3, population, kind, source,
        alternate_names`` (alternates separated by ``|``).
    """

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table.reset_index(drop=True)

    @cached_property
    def _keys(self) -> dict[str, list[tuple[int, bool]]]:
        """Matching key -> [(row, matched the primary name)]."""
        keys: dict[str, list[tuple[int, bool]]] = defaultdict(list)
        for row, (name, alts) in enumerate(
            zip(self.table["name"], self.table["alternate_names"], strict=True)
        ):
            own = normalize_name(name)
            keys[own].append((row, True))
            for alt in {normalize_name(a) for a in str(alts).split("|") if a} - {own}:
                keys[alt].append((row, False))
        return dict(keys)

    def _place(self, row: int) -> Place:
        r = self.table.iloc[row]
        return Place(str(r["name"]), float(r["lat"]), float(r["lon"]), str(r["country_iso3"]),
                     int(r["population"]), str(r["kind"]), str(r["source"]))

    def geocode(self, name: str, *, country: str | None = None) -> GeocodeResult:
        """Resolve a place name to one place.

        Parameters
        ----------
        name : str
            Any spelling: diacritics and case are ignored, alternate names accepted.
        country : str, optional
            ISO 3166 alpha-3 code restricting the search.

        Raises
        ------
        GeocodeError
            The name is unknown (the error lists the closest spellings) or ambiguous
            (the error lists the candidates).
        """
        key = normalize_name(name)
        hits = self._keys.get(key, [])
        if country:
            hits = [h for h in hits if self.table.at[h[0], "country_iso3"] == country.upper()]
        if not hits:
            where = f" in {country.upper()}" if country else ""
            suggestions = self.suggest(name, country=country)
            hint = f"; did you mean {', '.join(map(repr, suggestions))}?" if suggestions else ""
            msg = f"unknown place {name!r}{where}{hint}"
            raise GeocodeError(msg, suggestions)
        ranked = sorted(hits, key=lambda h: self._rank(h), reverse=True)
        places = tuple(self._place(r) for r, _ in ranked[:MAX_CANDIDATES])
        if not self._is_clear(ranked):
            listed = "; ".join(p.describe() for p in places)
            msg = f"ambiguous place {name!r}: {len(hits)} matches ({listed}); give a country"
            raise GeocodeError(msg, list(places))
        return GeocodeResult(query=name, place=places[0], candidates=places)

    def _rank(self, hit: tuple[int, bool]) -> tuple[bool, bool, int]:
        row, primary = hit
        curated = self.table.at[row, "kind"] != "populated place"
        return primary, curated, int(self.table.at[row, "population"])

    def _is_clear(self, ranked: list[tuple[int, bool]]) -> bool:
        if len(ranked) == 1:
            return True
        top, second = self._rank(ranked[0]), self._rank(ranked[1])
        if top[:2] != second[:2]:
            return True  # a primary-name or curated match beats the rest
        return top[2] >= CLEAR_WINNER_RATIO * max(second[2], 1)

    def suggest(self, name: str, *, country: str | None = None) -> list[str]:
        """Return the closest known names to a misspelt one."""
        key = normalize_name(name)
        pool = [k for k in self._keys if k[:1] == key[:1]] or list(self._keys)
        close = difflib.get_close_matches(key, pool, n=MAX_CANDIDATES * 3, cutoff=0.7)
        names: list[str] = []
        for k in close:
            for row, _ in self._keys[k]:
                if country and self.table.at[row, "country_iso3"] != country.upper():
                    continue
                label = str(self.table.at[row, "name"])
                if label not in names:
                    names.append(label)
        return names[:MAX_CANDIDATES]

    def search(self, text: str, *, limit: int = MAX_CANDIDATES) -> list[Place]:
        """Places a search box should offer for ``text``: every place of that name or
        alternate name (``Wilno``, ``Гродно``), most populous first, then the closest
        spellings; never raises."""
        key = normalize_name(text)
        if not key:
            return []
        rows = [r for r, _ in sorted(self._keys.get(key, []), key=self._rank, reverse=True)]
        if len(rows) < limit:
            pool = [k for k in self._keys if k[:1] == key[:1]]
            for close in difflib.get_close_matches(key, pool, n=limit, cutoff=0.8):
                rows += [r for r, _ in sorted(self._keys[close], key=self._rank, reverse=True)]
        return [self._place(r) for r in dict.fromkeys(rows)][:limit]

    @cached_property
    def label_places(self) -> pd.DataFrame:
        """The towns location labels refer to: populated places of at least
        ``LABEL_MIN_POPULATION`` people; of places at the same coordinates, the most
        populous."""
        big = self.table["population"] >= LABEL_MIN_POPULATION
        towns = self.table[big & (self.table["kind"] == "populated place")]
        towns = towns.sort_values("population", ascending=False, kind="stable")
        return towns.drop_duplicates(["lon", "lat"]).sort_index().reset_index(drop=True)

    @cached_property
    def _label_names(self) -> np.ndarray:
        return self.label_places["name"].to_numpy(dtype=object)

    @cached_property
    def _label_index(self) -> NearestSegments:
        lp = self.label_places
        seg = np.column_stack([lp["lon"], lp["lat"], lp["lon"], lp["lat"]]).astype(float)
        return NearestSegments(seg)

    def nearest(self, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
        """Nearest labelled place of each point.

        Returns
        -------
        DataFrame
            ``nearest_place`` (name), ``nearest_place_km`` (geodesic) and
            ``location_label`` ("12 km SE of Jonava"); empty where a coordinate is NaN.
        """
        return pd.DataFrame(self.nearest_arrays(lon, lat))

    def nearest_arrays(self, lon: np.ndarray, lat: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`nearest` as a dict of arrays (names and labels as objects, "" if none)."""
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        dist_m, seg, az = self._label_index.query(lon, lat, azimuth=True)
        ok = seg >= 0
        rows = self._label_index.parent[seg[ok]]
        name = np.full(len(lon), "", dtype=object)
        name[ok] = self._label_names[rows]
        az = az[ok]  # from the town to the point
        km = dist_m / 1000.0
        label = np.full(len(lon), "", dtype=object)
        rounded = np.round(km[ok]).astype(int).astype(str)
        far = km[ok] >= LABEL_AT_PLACE_KM
        label[ok] = np.where(far, rounded + " km " + compass_point(az) + " of " + name[ok],
                             name[ok])
        return {"nearest_place": name, "nearest_place_km": km, "location_label": label}


def _read_places(path: Path) -> pd.DataFrame:
    places = pd.read_csv(path, keep_default_na=False, dtype={"alternate_names": str})
    places["kind"] = "populated place"
    places["source"] = "GeoNames " + places["geonameid"].astype(str)
    return places


def _read_sites(path: Path) -> pd.DataFrame:
    sites = pd.read_csv(path, keep_default_na=False, comment="#")
    sites["population"] = 0
    return sites


@lru_cache(maxsize=2)
def load_gazetteer(places_path: Path = PLACES_PATH, sites_path: Path = SITES_PATH) -> Gazetteer:
    """Read the committed gazetteer tables (cached per process)."""
    for path in (places_path, sites_path):
        if not path.exists():
            msg = f"gazetteer table {path} is missing; see data/README.md"
            raise ReferenceDataError(msg)
    cols = ["name", "alternate_names", "lat", "lon", "country_iso3", "population", "kind",
            "source"]
    table = pd.concat([_read_sites(sites_path)[cols], _read_places(places_path)[cols]],
                      ignore_index=True)
    return Gazetteer(table)
