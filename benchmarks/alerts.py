"""What alert rules cost an import: ``python -m geo import`` of N new incidents into a
store with no rule and with R rules (drones near Belarus, airspaces, boxes, rings around
towns), as whole processes, alternated run by run; prints each run and the medians.

    .venv/bin/python benchmarks/alerts.py [--rows 100000] [--rules 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "alerts"
sys.path.insert(0, str(ROOT))

from benchmarks.imports import fresh_store, write_rows  # noqa: E402

TOWNS = ["Vilnius", "Kaunas", "Riga", "Tallinn", "Warsaw", "Grodno", "Daugavpils",
         "Białystok", "Klaipėda", "Tartu"]
COUNTRIES = ["LTU", "LVA", "EST", "POL", "BLR"]


def add_rules(store: Path, count: int) -> None:
    """``count`` rules of the four kinds, spread over the region."""
    from geo import alerts
    from geo.filters import IncidentFilter
    from geo.store import open_store

    opened = open_store(store)
    for k in range(count):
        kind = k % 4
        if kind == 0:
            condition = IncidentFilter(types=("drone",), near=("belarus", 10.0 + k))
        elif kind == 1:
            condition = IncidentFilter(countries=(COUNTRIES[k % 5],), types=("balloon",))
        elif kind == 2:
            west, south = 20.5 + (k % 8), 53.5 + (k % 6)
            condition = IncidentFilter(bbox=(west, south, west + 1.0, south + 0.7))
        else:
            condition = IncidentFilter(around=(TOWNS[k % len(TOWNS)], 20.0 + k % 30))
        alerts.add_rule(opened, f"rule {k}", condition, who="benchmark")


def timed_import(csv: Path, store: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "geo", "import", str(csv), "--store", str(store)],
                   cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    csv = write_rows(OUT / f"rows-{args.rows}.csv", "a", args.rows, seed=7)
    times: dict[int, list[float]] = {0: [], args.rules: []}
    for run in range(args.runs):
        for rules in times:
            store = fresh_store(OUT / f"store-{rules}.gpkg")
            add_rules(store, rules)
            seconds = timed_import(csv, store)
            times[rules].append(seconds)
            print(f"run {run + 1}: {rules} rules: {seconds:.2f} s", flush=True)
    base, with_rules = (statistics.median(times[r]) for r in times)
    print(f"median: no rule {base:.2f} s, {args.rules} rules {with_rules:.2f} s "
          f"(+{100 * (with_rules / base - 1):.1f} %)")
    from geo import alerts
    from geo.store import open_store

    made = len(alerts.alerts(open_store(OUT / f"store-{args.rules}.gpkg"), limit=10**7))
    print(f"alerts written by the last import with rules: {made:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
