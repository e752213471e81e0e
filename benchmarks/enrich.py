"""Speed and memory of `python -m geo enrich` on synthetic incidents.

Prints, in one run:

- wall time and peak memory of the whole ``python -m geo enrich IN.csv -o OUT.csv``
  process for N = 10^4, 10^5, 10^6 incidents (every enriched column);
- the I/O floor: pandas reading and writing the same CSV;
- at N = 10^4, like for like, the time per point of ours against naive geopandas:
  the baseline (``sjoin`` for the country, ``to_crs(3035)`` and ``GeoSeries.distance``
  for the distances to Belarus and Kaliningrad) against ``geo.enrich.territory_facts``,
  and the same tools carried to every enriched column against ``enrich_points``; with
  the naive answers' largest errors against ours.

Usage: ``.venv/bin/python benchmarks/enrich.py [--sizes 10000,100000,1000000]``
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.boundaries import load_boundaries  # noqa: E402
from geo.enrich import enrich_points, territory_facts  # noqa: E402
from geo.gazetteer import compass_point, load_gazetteer  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
TYPES = np.array(["drone", "aircraft", "missile", "balloon", "helicopter", "debris", "unknown"])


def synthetic_incidents(n: int, seed: int = 1) -> pd.DataFrame:
    """n incidents over the eastern flank (lon 14-32 E, lat 44-60 N) in canonical columns."""
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 2900, n), unit="D")
    return pd.DataFrame({
        "id": [f"syn-{i:07d}" for i in range(n)],
        "date": days.strftime("%Y-%m-%d"),
        "type": rng.choice(TYPES, n),
        "lat": np.round(rng.uniform(44.0, 60.0, n), 5),
        "lon": np.round(rng.uniform(14.0, 32.0, n), 5),
        "title": [f"synthetic incident {i}" for i in range(n)],
        "confidence": rng.choice(["confirmed", "reported", "disputed"], n),
    })


def io_floor_s(path: Path) -> float:
    """Seconds pandas needs to read the CSV and write it back."""
    start = time.perf_counter()
    frame = pd.read_csv(path)
    frame.to_csv(path.with_suffix(".copy.csv"), index=False)
    return time.perf_counter() - start


def run_enrich(path: Path) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of one enrich process."""
    out = path.with_suffix(".enriched.csv")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "geo", "enrich", str(path), "-o", str(out)],
                   cwd=ROOT, check=True)
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, peak_mb


def _timed(fn, repeat: int = 5):
    """Median seconds of ``repeat`` calls (after one warm-up call) and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def naive_three_columns(frame: pd.DataFrame, bnd) -> dict:
    """The textbook geopandas approach to the country and the two distances."""
    pts = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat), crs=4326)
    joined = gpd.sjoin(pts, bnd.airspace[["iso3", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    planar = joined.to_crs(3035)
    belarus = gpd.GeoSeries([bnd.belarus], crs=4326).to_crs(3035).iloc[0]
    kal = gpd.GeoSeries([bnd.kaliningrad], crs=4326).to_crs(3035).iloc[0]
    return {"country_iso3": joined.iso3.fillna("").to_numpy(),
            "dist_belarus_km": planar.distance(belarus).to_numpy() / 1000,
            "dist_kaliningrad_km": planar.distance(kal).to_numpy() / 1000}


def naive_all_columns(frame: pd.DataFrame, bnd, places: pd.DataFrame) -> dict:
    """The same approach carried to every enriched column: spatial joins for the state,
    land and exclave, planar distances in EPSG:3035 to Belarus, the exclave and each of
    the state's land borders, and ``sjoin_nearest`` for the nearest town."""
    out = naive_three_columns(frame, bnd)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(frame.lon, frame.lat), crs=4326)
    on_land = gpd.sjoin(pts, bnd.land[["geometry"]], how="inner", predicate="within").index
    out["over_water"] = ~pts.index.isin(on_land)
    out["in_kaliningrad"] = pts.within(bnd.kaliningrad).to_numpy()
    planar = pts.to_crs(3035)
    borders = bnd.borders.to_crs(3035)
    out["dist_border_km"] = np.full(len(pts), np.nan)
    out["nearest_border"] = np.full(len(pts), "", dtype=object)
    for iso3 in np.unique(out["country_iso3"][out["country_iso3"] != ""]):
        mine = borders[(borders.iso3_a == iso3) | (borders.iso3_b == iso3)]
        if mine.empty:
            continue
        rows = np.flatnonzero(out["country_iso3"] == iso3)
        dist = np.column_stack([planar.iloc[rows].distance(g).to_numpy() for g in mine.geometry])
        pick = dist.argmin(axis=1)
        out["dist_border_km"][rows] = dist[np.arange(len(rows)), pick] / 1000
        out["nearest_border"][rows] = mine.name.to_numpy()[pick]
    towns = gpd.GeoDataFrame(places[["name"]], crs=4326,
                             geometry=gpd.points_from_xy(places.lon, places.lat)).to_crs(3035)
    near = gpd.sjoin_nearest(planar, towns, how="left", distance_col="km")
    near = near[~near.index.duplicated()]
    town = towns.geometry.to_numpy()[near.index_right.to_numpy()]
    here = planar.geometry.values
    from_town = np.degrees(np.arctan2(shapely.get_x(here) - shapely.get_x(town),
                                      shapely.get_y(here) - shapely.get_y(town)))
    out["nearest_place"] = near.name.to_numpy()
    out["nearest_place_km"] = near.km.to_numpy() / 1000
    out["location_label"] = [f"{km:.0f} km {compass_point(az)} of {name}" for km, az, name in
                             zip(out["nearest_place_km"], from_town, out["nearest_place"],
                                 strict=True)]
    return out


def compare_with_naive(frame: pd.DataFrame) -> None:
    """Per-point speed of ours against the naive approach, like for like, at one size."""
    bnd = load_boundaries()
    gaz = load_gazetteer()
    lon, lat = frame.lon.to_numpy(), frame.lat.to_numpy()
    exact = enrich_points(lon, lat)  # also builds every index before timing
    naive3_s, naive3 = _timed(lambda: naive_three_columns(frame, bnd), repeat=3)
    ours3_s, ours3 = _timed(lambda: territory_facts(lon, lat, boundaries=bnd))
    naive_s, naive = _timed(lambda: naive_all_columns(frame, bnd, gaz.label_places), repeat=3)
    ours_s, _ = _timed(lambda: enrich_points(lon, lat))
    for name, got in (("naive", naive3), ("ours", ours3)):
        agree = (got["country_iso3"] == exact.country_iso3.to_numpy()).mean()
        err = max(np.nanmax(np.abs(got[c] - exact[c].to_numpy()))
                  for c in ("dist_belarus_km", "dist_kaliningrad_km"))
        print(f"  {name}: country agrees on {agree:.2%}, largest distance error {err:.3f} km")
    err = np.nanmax(np.abs(naive["dist_border_km"] - exact.dist_border_km.to_numpy()))
    same_town = (naive["nearest_place"] == exact.nearest_place.to_numpy()).mean()
    print(f"  naive, all columns: border distance error up to {err:.3f} km, "
          f"same nearest place for {same_town:.2%}")
    print(f"country + 2 distances at 10^4: naive {naive3_s:.3f} s, ours {ours3_s:.3f} s: "
          f"{naive3_s / ours3_s:.1f}x faster per point")
    print(f"every enriched column at 10^4: naive {naive_s:.3f} s, ours {ours_s:.3f} s: "
          f"{naive_s / ours_s:.1f}x faster per point")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("--sizes", default="10000,100000,1000000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"{'N':>9} {'enrich s':>9} {'io s':>7} {'ratio':>6} {'peak MB':>8}")
    for n in sizes:
        path = OUT / f"incidents_{n}.csv"
        synthetic_incidents(n).to_csv(path, index=False)
        floor = io_floor_s(path)
        elapsed, peak = run_enrich(path)
        print(f"{n:>9} {elapsed:>9.2f} {floor:>7.2f} {elapsed / floor:>6.1f} {peak:>8.0f}",
              flush=True)
    compare_with_naive(synthetic_incidents(10_000, seed=2))


if __name__ == "__main__":
    main()
