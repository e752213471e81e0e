"""GeoParquet in and out of `python -m geo enrich`: one process against a local Dask
cluster, and both against the floor of reading and writing the same table.

Each figure is the median of whole processes (start-up, imports, reference data,
reading, enriching, writing), run in turn (one of each, then again):
``python -m geo enrich IN.parquet -o OUT.parquet`` (one process),
the same with ``--engine dask`` (a local cluster of two workers started by the run: a
folder of parts, and ``--single-file``), and as floors a process that reads the input
and writes it back with pyarrow (``read_table`` / ``write_table``) or with geopandas
(``read_parquet`` / ``to_parquet``). Peak memory is that of the process and every
process it started (the workers too), sampled every 0.1 s.

The input: N synthetic incidents over the eastern flank (lon 14-32 E, lat 44-60 N), as
GeoParquet written by this project (row groups of 50,000 rows).

Usage: ``.venv/bin/python benchmarks/parquet.py [--n 1000000] [--runs 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.enrich import synthetic_incidents  # noqa: E402 (the same points)
from geo.csvfile import CHUNK_RECORDS  # noqa: E402
from geo.readers import TableWriter  # noqa: E402

FLOORS = {
    "floor: pyarrow read + write": (
        "import sys, pyarrow.parquet as pq; "
        "pq.write_table(pq.read_table(sys.argv[1]), sys.argv[2])"),
    "floor: geopandas read + write": (
        "import sys, geopandas as gpd; gpd.read_parquet(sys.argv[1]).to_parquet(sys.argv[2])"),
}


def measured(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB (the process and its descendants) of a command."""
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    watched, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        msg = f"{command} failed: {proc.stderr.read().decode()[-2000:]}"
        raise RuntimeError(msg)
    return seconds, peak / 2**20


def commands(source: Path, folder: Path) -> dict[str, tuple[list[str], Path]]:
    geo = [sys.executable, "-m", "geo", "enrich", str(source), "-o"]
    out = {name: ([sys.executable, "-c", code, str(source), str(folder / f"f{k}.parquet")],
                  folder / f"f{k}.parquet") for k, (name, code) in enumerate(FLOORS.items())}
    out["enrich, one process"] = ([*geo, str(folder / "one.parquet")], folder / "one.parquet")
    out["enrich, Dask: folder of parts"] = (
        [*geo, str(folder / "parts"), "--engine", "dask"], folder / "parts")
    out["enrich, Dask: --single-file"] = (
        [*geo, str(folder / "dask.parquet"), "--engine", "dask", "--single-file"],
        folder / "dask.parquet")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "incidents.parquet"
        frame, writer = synthetic_incidents(args.n), TableWriter(source)
        for start in range(0, args.n, CHUNK_RECORDS):  # one row group per chunk
            writer.append(frame.iloc[start:start + CHUNK_RECORDS])
        writer.commit()
        size_mb = source.stat().st_size / 2**20
        print(f"N = {args.n:,}; input {size_mb:.1f} MB GeoParquet; median of {args.runs} "
              f"interleaved runs; load average {os.getloadavg()[0]:.1f} at the start")
        todo = commands(source, folder)
        runs: dict[str, list] = {name: [] for name in todo}
        for _ in range(args.runs):  # one run of each in turn: a busy spell hits them all
            for name, (command, output) in todo.items():
                runs[name].append(measured(command))
                if output.is_dir():
                    shutil.rmtree(output)
                else:
                    output.unlink()
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        print("| what | s | peak MB | × floor |\n|---|---:|---:|---:|")
        floor = None
        for name, got in runs.items():
            seconds = statistics.median(r[0] for r in got)
            peak = statistics.median(r[1] for r in got)
            floor = floor or seconds
            print(f"| {name} | {seconds:.2f} | {peak:,.0f} | {seconds / floor:.1f} |")


if __name__ == "__main__":
    main()
