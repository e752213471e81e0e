"""Speed and memory of `python -m geo enrich` on synthetic incidents.

Prints, in one run:

- wall time and peak memory of the whole ``python -m geo enrich IN.csv -o OUT.csv``
  process for N = 10^4, 10^5, 10^6 incidents (every enriched column);
- the I/O floor: pandas reading and writing the same CSV;
- a naive geopandas baseline at N = 10^4 (``sjoin`` for the country, ``to_crs(3035)``
  and ``GeoSeries.distance`` for the distances to Belarus and Kaliningrad), its time per
  point against ours, and its largest distance error against the geodesic answer.

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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.boundaries import load_boundaries  # noqa: E402
from geo.enrich import enrich_points  # noqa: E402

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


def naive_baseline(frame: pd.DataFrame) -> tuple[float, float]:
    """Seconds and largest distance error (km) of the textbook geopandas approach."""
    bnd = load_boundaries()
    start = time.perf_counter()
    pts = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat), crs=4326)
    joined = gpd.sjoin(pts, bnd.airspace[["iso3", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    planar = joined.to_crs(3035)
    belarus = gpd.GeoSeries([bnd.belarus], crs=4326).to_crs(3035).iloc[0]
    kal = gpd.GeoSeries([bnd.kaliningrad], crs=4326).to_crs(3035).iloc[0]
    d_blr = planar.distance(belarus) / 1000
    d_kal = planar.distance(kal) / 1000
    elapsed = time.perf_counter() - start
    exact = enrich_points(frame.lon.to_numpy(), frame.lat.to_numpy())
    err = max(np.abs(d_blr.to_numpy() - exact.dist_belarus_km.to_numpy()).max(),
              np.abs(d_kal.to_numpy() - exact.dist_kaliningrad_km.to_numpy()).max())
    return elapsed, float(err)


def ours_in_process(frame: pd.DataFrame) -> float:
    """Seconds for every enriched column, data already loaded (per-point comparison)."""
    enrich_points(frame.lon.to_numpy()[:10], frame.lat.to_numpy()[:10])  # warm the caches
    start = time.perf_counter()
    enrich_points(frame.lon.to_numpy(), frame.lat.to_numpy())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    frame = synthetic_incidents(10_000, seed=2)
    naive_s, naive_err = naive_baseline(frame)
    ours_s = ours_in_process(frame)
    print(f"naive geopandas at 10^4: {naive_s:.2f} s, max distance error {naive_err:.3f} km; "
          f"ours {ours_s:.2f} s (all columns): {naive_s / ours_s:.1f}x faster per point")


if __name__ == "__main__":
    main()
