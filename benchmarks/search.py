"""The dashboard's search box at 10^5 and 10^6 incidents: reading the searchable columns
once (cached by the dashboard), then one search by place name, incident id and title
words; each timed in this process, median of five.

Usage: ``python benchmarks/search.py [--sizes 100000,1000000]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from synthetic import fill_store  # noqa: E402

from dashboard import queries  # noqa: E402
from geo.gazetteer import load_gazetteer  # noqa: E402

QUERIES = ("Wilno", "b4242", "synthetic incident 77")


def _median_s(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()
    t0 = time.perf_counter()
    gazetteer = load_gazetteer()
    gazetteer.search("warm")  # builds the name index once, as the first search does
    print(f"gazetteer loaded and indexed: {time.perf_counter() - t0:.2f} s")
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            store = fill_store(Path(tmp), n)
            read = _median_s(lambda s=store: s.incidents(columns=queries.SEARCH_COLUMNS), 3)
            table = store.incidents(columns=queries.SEARCH_COLUMNS)
            row = {"incidents": len(table), "read_s": round(read, 2)}
            for text in QUERIES:
                hits = queries.search(gazetteer, table, text)
                row[text] = (round(_median_s(
                    lambda t=text, d=table: queries.search(gazetteer, d, t)),
                                   3), len(hits))
            print(row, flush=True)


if __name__ == "__main__":
    main()
