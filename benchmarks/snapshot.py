"""Briefing exports, whole process: ``python -m dashboard.export`` as a new process.

Measured (each 5 runs after one warm-up run; median and range):

- the briefing map (PNG, A4 landscape, 200 dpi) of the seed store and of 10^5 synthetic
  incidents over the Baltic region (drawn as hexagons above 5,000 points);
- the briefing pack (``--pack``, one PDF: map, incident table, timeline, sources) of
  the seed store and of 10^4 synthetic incidents;
- an atlas by airspace (``--atlas country``) of 8 airspaces, from a store of 2,000
  synthetic incidents spread over the flank from Finland to Romania.

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
ATLAS_COUNTRIES = "POL,LTU,LVA,EST,FIN,ROU,SVK,HUN"
#: The atlas store's incidents: the flank from Finland to Romania (west, south, east, north).
FLANK = (17.0, 44.0, 29.0, 63.0)


def time_export(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dashboard.export", *args], cwd=ROOT, check=True,
                   capture_output=True)
    return time.perf_counter() - t0


def measure(name: str, args: list[str]) -> dict:
    first = time_export(args)
    runs = [time_export(args) for _ in range(RUNS)]
    row = {"export": name, "first_s": round(first, 2),
           "median_s": round(statistics.median(runs), 2),
           "min_s": round(min(runs), 2), "max_s": round(max(runs), 2)}
    print(row, flush=True)
    return row


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seeds = str(open_store(folder / "seeds.gpkg").path)
        big = str(fill_store(folder / "big", 100_000).path)
        mid = str(fill_store(folder / "mid", 10_000).path)
        flank = str(fill_store(folder / "flank", 2_000, box=FLANK, start="2025-01-01",
                               days=300).path)
        cases = [
            ("map, seeds", ["--store", seeds, "-o", str(folder / "m.png")]),
            ("map, 10^5", ["--store", big, "-o", str(folder / "m.png")]),
            ("pack, seeds", ["--store", seeds, "--pack", "-o", str(folder / "p.pdf")]),
            ("pack, 10^4", ["--store", mid, "--pack", "-o", str(folder / "p.pdf")]),
            ("atlas, 8 airspaces", ["--store", flank, "--atlas", "country", "--countries",
                                    ATLAS_COUNTRIES, "-o", str(folder / "a.pdf")]),
        ]
        for name, args in cases:
            results.append(measure(name, args))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "snapshot.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
