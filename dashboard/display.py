"""Reference geometry simplified for display: what the browser is sent, never what the
analysis uses. Computed once per process and cached.

- land (the offline basemap): parts smaller than ~20 km² dropped, then
  ``shapely.coverage_simplify`` so neighbouring coasts and borders stay joined;
- land borders, Belarus and the Kaliningrad exclave: simplified to about 500 m;
- distance bands: the area within *d* km of a territory, outside it. Built by buffering
  in an azimuthal equidistant projection centred on the territory, where distances from
  the centre are exact and elsewhere off by well under 1 % within 500 km — the band
  edge is then within a few hundred metres of the true geodesic distance at 100 km.
  (Analysis distances never use this: they are measured on the ellipsoid.)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

from geo.settings import (
    AIRSPACE_PATH,
    BORDERS_PATH,
    CONTEXT_LAND_PATH,
    EXONYMS_PATH,
    LAND_PATH,
    PLACES_PATH,
)

#: Where selections of records and the display layers are written for the map to fetch,
#: and how many selections are kept. Not under the static folder: they are served by
#: ``dashboard.access.selection``, to a signed-in user only when sign-in is on.
SELECTION_DIR = Path(__file__).resolve().parent.parent / "var" / "selections"
SELECTION_URL = "/fw/data"
KEEP_SELECTIONS = 64
#: Display layers of distance bands kept per layer: one file per set of bands a visitor
#: asked for (``?bands=``), the least recently used pruned beyond this.
KEEP_BANDS = 16
#: Where the simplified and buffered display geometry is kept between runs (not served).
CACHE_DIR = Path(__file__).resolve().parent.parent / "var" / "display-cache"
#: Cached band geometries kept per territory.
KEEP_BAND_CACHES = 32

#: Display tolerances, degrees.
LAND_TOLERANCE_DEG = 0.03
LINE_TOLERANCE_DEG = 0.01
#: Land parts smaller than this (square degrees, about 20 km² at 55° N) are not drawn.
LAND_MIN_AREA_DEG2 = 0.002
#: Coordinates sent to the browser are rounded to this (degrees, about 100 m).
DISPLAY_GRID_DEG = 0.001


def _rounded(geoms):
    return shapely.set_precision(geoms, DISPLAY_GRID_DEG)


@dataclass(frozen=True)
class Payload:
    """A file the map's page fetches: written by :func:`publish`, named by its content
    (so browsers may cache it for good)."""

    directory: Path
    url_path: str
    name: str
    data: bytes
    #: Keep only the newest this many files of the same prefix and suffix (None: all).
    keep: int | None = None

    @property
    def url(self) -> str:
        """The address the page loads the file from."""
        return f"{self.url_path}/{self.name}"


def payload(directory: Path, url: str, prefix: str, data: str | bytes, *,
            suffix: str = ".json", keep: int | None = None) -> Payload:
    """``data`` as the file ``prefix-<content hash><suffix>`` (not written yet)."""
    raw = data.encode() if isinstance(data, str) else data
    digest = hashlib.sha256(raw).hexdigest()[:20]
    return Payload(directory, url, f"{prefix}-{digest}{suffix}", raw, keep)


def publish(payloads) -> None:
    """Write each payload's file (once; an existing one is marked recently used) and
    prune the oldest of its kind beyond its ``keep``."""
    for item in payloads:
        path = item.directory / item.name
        if path.exists():
            path.touch()  # recently used: pruned last
            continue
        _write_atomic(path, item.data)
        if item.keep is not None:
            prefix, suffix = item.name[:-len(path.suffix)].rsplit("-", 1)[0], path.suffix
            _prune(item.directory.glob(f"{prefix}-{'[0-9a-f]' * 20}{suffix}"), item.keep)


def selection_payload(prefix: str, data: str | bytes, *, suffix: str = ".json") -> Payload:
    """A selection of records (JSON text, binary arrays or a script) for the map to fetch;
    only the newest :data:`KEEP_SELECTIONS` of each kind are kept."""
    return payload(SELECTION_DIR, SELECTION_URL, prefix, data, suffix=suffix,
                   keep=KEEP_SELECTIONS)


def _boundaries():
    """The analysis boundaries (imported and read only when a cache is built)."""
    from geo.boundaries import load_boundaries

    return load_boundaries()


def _cached(name: str, source: Path, params: tuple, compute) -> list:
    """``compute()``'s list of (label, geometry) pairs, kept on disk beside the display
    layers and keyed by the source file and the parameters: simplifying and buffering
    take seconds, reading the cache milliseconds."""
    stat = source.stat()
    key = json.dumps([name, source.name, stat.st_size, stat.st_mtime_ns, *params])
    path = CACHE_DIR / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.cache.json"
    if path.exists():
        path.touch()  # recently used: pruned last
        entries = json.loads(path.read_text(encoding="utf-8"))
        return [(label, shapely.from_wkb(bytes.fromhex(wkb))) for label, wkb in entries]
    result = compute()
    text = json.dumps([(label, shapely.to_wkb(g, hex=True)) for label, g in result])
    _write_atomic(path, text.encode())
    _prune(CACHE_DIR.glob(f"{name}-{'[0-9a-f]' * 16}.cache.json"), KEEP_BAND_CACHES)
    return result


def _last_used(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # deleted meanwhile by another session's pruning
        return 0.0


def _prune(files, keep: int) -> None:
    """Delete all but the ``keep`` most recently used of ``files`` (and their gzipped
    copies)."""
    by_use = sorted(files, key=_last_used)
    for stale in by_use[:-keep] if keep else by_use:
        stale.unlink(missing_ok=True)
        stale.with_name(stale.name + ".gz").unlink(missing_ok=True)


#: Files smaller than this are sent as they are (gzip would save next to nothing).
GZIP_MIN_BYTES = 1024


def gzipped(path: Path) -> Path | None:
    """The gzipped copy of a served file, made at its first request and kept beside it
    (a file's name is its content's hash, so the copy never goes stale); None for a
    small file. Compressing once spares the server compressing the same megabytes on
    every request."""
    if path.stat().st_size < GZIP_MIN_BYTES:
        return None
    packed = path.with_name(path.name + ".gz")
    if not packed.exists():
        _write_atomic(packed, gzip.compress(path.read_bytes(), compresslevel=5, mtime=0))
    return packed


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


@lru_cache(maxsize=1)
def land() -> list:
    """Land polygons for the offline basemap."""
    def compute():
        import geopandas as gpd

        frame = gpd.read_file(LAND_PATH).explode(index_parts=False)
        parts = frame.geometry.to_numpy()
        parts = parts[shapely.area(parts) > LAND_MIN_AREA_DEG2]
        simple = shapely.coverage_simplify(parts, LAND_TOLERANCE_DEG)
        return [("", g) for g in _rounded(simple) if not g.is_empty]

    pairs = _cached("land", LAND_PATH, (LAND_TOLERANCE_DEG, LAND_MIN_AREA_DEG2), compute)
    return [g for _, g in pairs]


@lru_cache(maxsize=1)
def context_land() -> shapely.Geometry:
    """Land around the coverage box (coarse), for printed maps that reach past it."""
    import pyogrio

    return pyogrio.read_dataframe(CONTEXT_LAND_PATH, layer="land").geometry.iloc[0]


@lru_cache(maxsize=1)
def airspace_outlines() -> dict[str, tuple[str, shapely.Geometry]]:
    """ISO3 → (short name, airspace simplified to about 1 km) of every state."""
    def compute():
        bnd = _boundaries()
        simple = _rounded(shapely.simplify(bnd.airspace.geometry.to_numpy(), 0.01))
        return [(json.dumps([iso3, SHORT_NAMES.get(name, name)], ensure_ascii=False), g)
                for iso3, name, g in zip(bnd.airspace.iso3, bnd.airspace.name, simple,
                                         strict=True)]

    pairs = _cached("airspace", AIRSPACE_PATH, (0.01,), compute)
    out = {}
    for label, geom in pairs:
        iso3, name = json.loads(label)
        out[iso3] = (name, geom)
    return out


@lru_cache(maxsize=1)
def borders() -> list[tuple[str, shapely.Geometry]]:
    """(name, line) of each land border between neighbours."""
    def compute():
        bnd = _boundaries()
        lines = _rounded(shapely.simplify(bnd.borders.geometry.to_numpy(),
                                          LINE_TOLERANCE_DEG))
        return list(zip(bnd.borders.name, lines, strict=True))

    return _cached("borders", BORDERS_PATH, (LINE_TOLERANCE_DEG,), compute)


@lru_cache(maxsize=4)
def territory(which: str) -> shapely.Geometry:
    """Belarus (``"belarus"``) or the Kaliningrad exclave (``"kaliningrad"``), simplified."""
    if which not in ("belarus", "kaliningrad"):
        msg = f"`which` was {which!r} but is expected to be 'belarus' or 'kaliningrad'"
        raise ValueError(msg)

    def compute():
        bnd = _boundaries()
        geom = bnd.belarus if which == "belarus" else bnd.kaliningrad
        return [(which, _rounded(shapely.simplify(geom, LINE_TOLERANCE_DEG)))]

    return _cached(which, AIRSPACE_PATH, (LINE_TOLERANCE_DEG,), compute)[0][1]


#: Names of the map's labels, where the reference data's is an official long form.
SHORT_NAMES = {"Russian Federation": "Russia"}
#: Towns labelled on the interactive map: this populous at least, within this box
#: (west, south, east, north) around the flank.
MAP_TOWN_MIN_POPULATION = 15_000
MAP_LABEL_BOX = (5.0, 40.0, 50.0, 72.0)
#: From which zoom level on a town of at least this population is labelled.
TOWN_ZOOMS = ((1_000_000, 4), (250_000, 5), (100_000, 6), (50_000, 7), (25_000, 8), (0, 9))


def town_names(geonameids, names):
    """The names towns are labelled with: the English name of ``data/exonyms.csv`` where
    it has one, followed by the local name where the two differ by more than accents
    ("Grodno / Hrodna", "Warsaw / Warszawa"); else the GeoNames name."""
    import pandas as pd
    from anyascii import anyascii

    table = pd.read_csv(EXONYMS_PATH, comment="#", dtype={"geonameid": "int64"},
                        keep_default_na=False)
    shown = {}
    for r in table.itertuples():
        different = anyascii(r.local).casefold() != anyascii(r.english).casefold()
        shown[r.geonameid] = f"{r.english} / {r.local}" if r.local and different else r.english
    return [shown.get(int(g), n) for g, n in zip(geonameids, names, strict=True)]


@lru_cache(maxsize=1)
def map_labels() -> list[dict]:
    """Place names for the interactive map: each country (at a point well inside its
    largest land part; Kaliningrad too) and towns by population, each with the zoom level
    from which it is shown and a rank (larger first when labels collide)."""
    def compute():
        import pandas as pd
        import pyogrio
        from shapely.ops import polylabel

        out = []
        names = pyogrio.read_dataframe(AIRSPACE_PATH, layer="airspace", read_geometry=False)
        names = dict(zip(names["iso3"], names["name"], strict=True))
        land_table = pyogrio.read_dataframe(LAND_PATH)
        box = shapely.box(*MAP_LABEL_BOX)
        for iso3, geom in zip(land_table["iso3"], land_table.geometry, strict=True):
            parts = [p for p in shapely.get_parts(geom) if p.intersects(box)]
            if not parts or iso3 not in names:
                continue
            largest = max(parts, key=lambda p: p.area)
            point = polylabel(largest, tolerance=0.05)
            name = SHORT_NAMES.get(names[iso3], names[iso3])
            out.append((json.dumps({"name": name, "kind": "country", "rank": largest.area,
                                    "minZoom": 3}), point))
        kaliningrad = pyogrio.read_dataframe(AIRSPACE_PATH, layer="kaliningrad").geometry[0]
        land_kal = shapely.intersection(kaliningrad, shapely.union_all(
            land_table.loc[land_table["iso3"] == "RUS"].geometry))
        out.append((json.dumps({"name": "Kaliningrad (Russia)", "kind": "country",
                                "rank": 1.0, "minZoom": 5}),
                    polylabel(max(shapely.get_parts(land_kal), key=lambda p: p.area), 0.02)))
        table = pd.read_csv(PLACES_PATH, usecols=["geonameid", "name", "lat", "lon",
                                                  "population", "town"],
                            keep_default_na=False)
        table["name"] = town_names(table["geonameid"], table["name"])
        west, south, east, north = MAP_LABEL_BOX
        towns = table[(table["town"] == 1)  # no district (see data/README.md)
                      & (table["population"] >= MAP_TOWN_MIN_POPULATION)
                      & table["lon"].between(west, east) & table["lat"].between(south, north)]
        for r in towns.sort_values("population", ascending=False).itertuples():
            zoom = next(z for least, z in TOWN_ZOOMS if r.population >= least)
            out.append((json.dumps({"name": r.name, "kind": "town", "rank": int(r.population),
                                    "minZoom": zoom}, ensure_ascii=False),
                        shapely.Point(r.lon, r.lat)))
        return out

    names = EXONYMS_PATH.stat()
    pairs = _cached("labels", PLACES_PATH, (MAP_TOWN_MIN_POPULATION, MAP_LABEL_BOX,
                                            TOWN_ZOOMS, names.st_size, names.st_mtime_ns,
                                            "v3"), compute)
    return [{**json.loads(label), "lat": round(p.y, 4), "lon": round(p.x, 4)}
            for label, p in pairs]


@lru_cache(maxsize=1)
def labels_payload() -> Payload:
    """The map's place names as a static file for the browser to fetch (and cache): one
    ``[name, is_country, lat, lon, min_zoom, rank]`` row per label, largest first."""
    rows = sorted(([r["name"], int(r["kind"] == "country"), r["lat"], r["lon"], r["minZoom"],
                    round(r["rank"], 3)] for r in map_labels()),
                  key=lambda row: (-row[1], -row[5]))
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    return payload(SELECTION_DIR, SELECTION_URL, "labels", text, keep=2)


def _aeqd(geom: shapely.Geometry) -> tuple[Transformer, Transformer]:
    centre = geom.centroid
    crs = f"+proj=aeqd +lat_0={centre.y} +lon_0={centre.x} +ellps=WGS84 +units=m"
    return (Transformer.from_crs("EPSG:4326", crs, always_xy=True),
            Transformer.from_crs(crs, "EPSG:4326", always_xy=True))


def _transform(geom, transformer: Transformer):
    return shapely.transform(geom, lambda xy: np.column_stack(
        transformer.transform(xy[:, 0], xy[:, 1])))


@lru_cache(maxsize=16)
def bands(which: str, distances_km: tuple[float, ...]) -> list[tuple[float, shapely.Geometry]]:
    """(outer distance, ring polygon) for each band: between the previous distance (or
    the territory) and this one, e.g. 0-10, 10-50 and 50-100 km."""
    def compute():
        geom = territory(which)
        forward, back = _aeqd(geom)
        local = shapely.simplify(_transform(geom, forward), 200.0)
        out, inner = [], local
        for km in sorted(distances_km):
            outer = shapely.buffer(local, km * 1000.0, quad_segs=16)
            ring = shapely.simplify(shapely.difference(outer, inner), 300.0)
            out.append((km, _rounded(_transform(ring, back))))
            inner = outer
        return out

    key = (LINE_TOLERANCE_DEG, *sorted(float(k) for k in distances_km))
    return [(float(km), g) for km, g in _cached(f"bands_{which}", AIRSPACE_PATH, key,
                                                compute)]


def feature(geom: shapely.Geometry, **properties) -> dict:
    """A GeoJSON Feature of a shapely geometry."""
    return {"type": "Feature", "properties": properties,
            "geometry": json.loads(shapely.to_geojson(geom))}


def reference_layer(name: str, bands_km: tuple[float, ...] = ()) -> dict:
    """A display layer as a GeoJSON FeatureCollection.

    ``name`` is ``land``, ``borders``, ``belarus``, ``kaliningrad``, ``bands_belarus`` or
    ``bands_kaliningrad`` (the bands at ``bands_km``). Band features carry ``km``.
    """
    if name == "land":
        features = [feature(g) for g in land()]
    elif name == "borders":
        features = [feature(g, name=n) for n, g in borders() if not g.is_empty]
    elif name in ("belarus", "kaliningrad"):
        features = [feature(territory(name))]
    elif name.startswith("bands_"):
        features = [feature(g, km=km) for km, g in bands(name.removeprefix("bands_"),
                                                          tuple(bands_km))]
    else:
        msg = f"unknown display layer {name!r}"
        raise ValueError(msg)
    return {"type": "FeatureCollection", "features": features}


@lru_cache(maxsize=32)
def reference_payload(name: str, bands_km: tuple[float, ...] = ()) -> Payload:
    """A display layer as a static file for the map to fetch."""
    text = json.dumps(reference_layer(name, bands_km), separators=(",", ":"))
    return payload(SELECTION_DIR, SELECTION_URL, name.replace("_", "-"), text,
                   keep=KEEP_BANDS if name.startswith("bands_") else 2)
