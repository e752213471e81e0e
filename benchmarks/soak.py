"""Soak: importers and readers on one store for several minutes, with random ``kill -9``.

Importers (``python -m geo import`` of files of 5,000 to 50,000 new rows) run back to
back, two at a time; readers (``python -m dashboard.export`` of the whole store to CSV)
run alongside; every few seconds a random importer or reader is killed with SIGKILL.
Each import that exits 0 is recorded as committed. At the end: every committed row is in
the store, no row of a killed import is half there (each file is all in or all out),
and ``PRAGMA integrity_check`` is ok.

    .venv/bin/python benchmarks/soak.py [--minutes 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "soak"
sys.path.insert(0, str(ROOT))

from benchmarks.imports import fresh_store, write_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    store = fresh_store(OUT / "soak.gpkg")
    importers: dict[subprocess.Popen, tuple[str, int]] = {}
    readers: list[subprocess.Popen] = []
    committed: dict[str, int] = {}
    attempted: dict[str, int] = {}
    outcomes = {"imports committed": 0, "imports killed": 0, "imports failed": 0,
                "exports done": 0, "exports killed": 0, "exports failed": 0}
    killed: set[subprocess.Popen] = set()
    batch = 0
    deadline = time.monotonic() + args.minutes * 60
    next_kill = time.monotonic() + rng.uniform(2, 8)
    while time.monotonic() < deadline or importers or readers:
        running = time.monotonic() < deadline
        while running and len(importers) < 2:
            prefix, n = f"s{batch}-", rng.randint(5_000, 50_000)
            path = write_rows(OUT / f"batch{batch}.csv", prefix, n, seed=batch)
            importers[subprocess.Popen(
                [sys.executable, "-m", "geo", "import", str(path), "--store", str(store)],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)] = (prefix, n)
            attempted[prefix] = n
            batch += 1
        while running and len(readers) < 1:
            readers.append(subprocess.Popen(
                [sys.executable, "-m", "dashboard.export", "--store", str(store), "-o",
                 str(OUT / "export.csv")], cwd=ROOT, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        if running and time.monotonic() > next_kill:
            victim = rng.choice([*importers, *readers])
            victim.send_signal(signal.SIGKILL)
            killed.add(victim)
            next_kill = time.monotonic() + rng.uniform(2, 8)
        for proc in list(importers):
            if proc.poll() is None:
                continue
            prefix, n = importers.pop(proc)
            if proc in killed:
                outcomes["imports killed"] += 1
            elif proc.returncode == 0:
                outcomes["imports committed"] += 1
                committed[prefix] = n
            else:
                outcomes["imports failed"] += 1
                print(f"import {prefix} failed: {proc.stderr.read()[-300:]!r}", flush=True)
        for proc in list(readers):
            if proc.poll() is None:
                continue
            readers.remove(proc)
            key = ("exports killed" if proc in killed else
                   "exports done" if proc.returncode == 0 else "exports failed")
            outcomes[key] += 1
        time.sleep(0.2)
    with closing(sqlite3.connect(store)) as con:
        check = con.execute("PRAGMA integrity_check").fetchone()[0]
        per_batch = dict(con.execute(
            "SELECT substr(id, 1, instr(id, '-')), count(*) FROM incidents "
            "WHERE id LIKE 's%-%' GROUP BY 1"))
    missing = {p: n for p, n in committed.items() if per_batch.get(p) != n}
    # a killed import is all there (killed after its commit) or not there at all
    partial = {p: c for p, c in per_batch.items() if p not in committed and c != attempted[p]}
    print(f"{args.minutes:g} minutes, {batch} import files: {outcomes}")
    print(f"committed imports whose rows are not all there: {missing or 'none'}; "
          f"killed imports half there: {partial or 'none'}; integrity {check}")
    for leftover in OUT.glob("batch*.csv"):
        leftover.unlink()


if __name__ == "__main__":
    main()
