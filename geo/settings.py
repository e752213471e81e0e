"""Project-wide settings: file locations, coverage, tolerances.

Every constant used by more than one module lives here, with its unit in its name.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyproj import Geod

#: Repository root (the folder holding ``geo/``, ``data/`` and ``seeds/``).
ROOT_DIR = Path(__file__).resolve().parent.parent

#: Committed reference data, rebuilt by ``data/build.py``.
DATA_DIR = ROOT_DIR / "data"

#: Sovereign airspace (land + 12-nm territorial sea), one row per state, with the
#: derived layer ``kaliningrad``.
AIRSPACE_PATH = DATA_DIR / "airspace.gpkg"

#: Derived: the land border line between each pair of neighbouring states.
BORDERS_PATH = DATA_DIR / "borders.gpkg"

#: Land territory, simplified for display and for the over-water test.
LAND_PATH = DATA_DIR / "land.gpkg"

#: Land around the coverage area, coarse, drawn on briefing maps only (never used to
#: attribute a point): a map whose extent reaches past the coverage still shows land.
CONTEXT_LAND_PATH = DATA_DIR / "context.gpkg"

#: The box the context land covers, (min lon, min lat, max lon, max lat) in degrees.
CONTEXT_BBOX = (-60.0, 15.0, 120.0, 84.0)

#: Populated places (GeoNames cities500, filtered to the coverage area).
PLACES_PATH = DATA_DIR / "places.csv.gz"

#: Curated military sites and airports, each with its source.
SITES_PATH = DATA_DIR / "sites.csv"

#: Curated English names (and local names) of labelled towns, each with its source.
EXONYMS_PATH = DATA_DIR / "exonyms.csv"

#: Human-editable seed records: the documented record the default store is made from.
DEFAULT_SEEDS_DIR = ROOT_DIR / "seeds"
#: Environment variable naming another folder of seed records (the tests' small one).
SEEDS_ENV_VAR = "FLANKWATCH_SEEDS"
#: The seed records a new store is made from.
SEEDS_DIR = Path(os.environ.get(SEEDS_ENV_VAR) or DEFAULT_SEEDS_DIR)

#: The area the reference data covers, (min lon, min lat, max lon, max lat) in degrees.
#: Outside it nothing is attributed: no country, no distances.
COVERAGE_BBOX = (-32.0, 34.0, 45.0, 72.0)



def in_coverage_box(lon, lat):
    """Return whether each point lies inside :data:`COVERAGE_BBOX` (array or Series)."""
    lon0, lat0, lon1, lat1 = COVERAGE_BBOX
    return (lon >= lon0) & (lon <= lon1) & (lat >= lat0) & (lat <= lat1)


#: The WGS84 ellipsoid every distance is measured on.
GEOD = Geod(ellps="WGS84")

#: ISO 3166 codes of the states whose borders the derived layers single out.
BELARUS_ISO3 = "BLR"
RUSSIA_ISO3 = "RUS"

#: Only places at least this populous are used for ``nearest_place`` labels, so that a
#: label names a town a reader can find on a map rather than a hamlet.
LABEL_MIN_POPULATION = 2000

#: Below this distance a location label names the place alone ("Jonava").
LABEL_AT_PLACE_KM = 1.0

#: Environment variable naming the incident store (see DESIGN.md).
STORE_ENV_VAR = "FLANKWATCH_STORE"

#: Default incident store, git-ignored, created from ``seeds/`` on first use.
DEFAULT_STORE_PATH = Path(os.environ.get("FLANKWATCH_VAR_DIR", ROOT_DIR / "var")) / "store.gpkg"
