"""Briefing-map export speed: the whole ``python -m dashboard.export -o map.png`` process.

Two stores: the seed records, and 10^5 synthetic incidents over the Baltic region (drawn
as hexagons, since points would overplot). Each export runs 5 times as a new process;
the median and the range are reported (the first run of a fresh checkout also builds the
display-layer caches and is reported apart). A4 landscape, 200 dpi.

Usage: ``python benchmarks/snapshot.py``; results in ``benchmarks/out/snapshot.json``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from synthetic import fill_store  # noqa: E402

from geo.store import open_store  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
RUNS = 5


def time_export(store_path: Path, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dashboard.export", "--store", str(store_path),
                    "-o", str(out)], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def measure(name: str, store_path: Path, folder: Path) -> dict:
    first = time_export(store_path, folder / "first.png")
    runs = [time_export(store_path, folder / f"{name}.png") for _ in range(RUNS)]
    row = {"store": name, "first_s": round(first, 2),
           "median_s": round(statistics.median(runs), 2),
           "min_s": round(min(runs), 2), "max_s": round(max(runs), 2)}
    print(row, flush=True)
    return row


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seeds = open_store(folder / "seeds.gpkg")
        results.append(measure("seeds", seeds.path, folder))
        big = fill_store(folder / "big", 100_000)
        results.append(measure("100k", big.path, folder))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "snapshot.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
