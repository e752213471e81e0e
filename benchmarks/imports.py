"""Imports under load: concurrent importers into one store, and the peak memory of a
large import through the command line and through the dashboard's Import tab.

- ``concurrent``: N processes each run ``python -m geo import`` of its own file of R
  rows into one GeoPackage, started together; every one must finish (exit 0), and the
  store must hold every row, pass its integrity check and log N imports.
- ``memory``: a CSV of about 200 MB (1.4 million rows) imported by ``python -m geo
  import`` as a whole process, and through the dashboard's Import tab driven by
  Streamlit's AppTest in its own process (the upload is held in memory as Streamlit
  holds it, checked, then imported with the button); the peak resident memory of each
  process is the kernel's figure.

    .venv/bin/python benchmarks/imports.py concurrent [--processes 4] [--rows 300000]
    .venv/bin/python benchmarks/imports.py memory [--rows 1400000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "imports"
sys.path.insert(0, str(ROOT))

TYPES = ["drone", "aircraft", "balloon", "missile", "unknown"]


def write_rows(path: Path, prefix: str, n: int, *, seed: int = 0) -> Path:
    """A canonical incident CSV of n rows over the Baltic region (about 145 bytes each)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "id": [f"{prefix}{i}" for i in range(n)],
        "date": (pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D")
                 ).strftime("%Y-%m-%d"),
        "type": rng.choice(TYPES, n),
        "lat": rng.uniform(53.5, 59.5, n).round(5),
        "lon": rng.uniform(20.5, 28.5, n).round(5),
        "confidence": rng.choice(["confirmed", "reported", "disputed"], n),
        "title": [f"Synthetic incident {prefix}{i}" for i in range(n)],
        "description": "Reported crossing of the border at low altitude, seen by radar.",
    })
    frame.to_csv(path, index=False)
    return path


def _wait(proc: subprocess.Popen) -> tuple[int, float]:
    """Exit status and peak resident memory (MB) of a finished child."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024


def concurrent(processes: int, rows: int) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    store = OUT / "concurrent.gpkg"
    for leftover in OUT.glob("concurrent.gpkg*"):
        leftover.unlink()
    subprocess.run([sys.executable, "-c", "from geo.store import open_store; "
                    f"open_store({str(store)!r})"], cwd=ROOT, check=True)
    files = [write_rows(OUT / f"part{k}.csv", f"p{k}-", rows, seed=k) for k in range(processes)]
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "geo", "import", str(f), "--store",
                               str(store)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for f in files]
    for k, proc in enumerate(procs):
        status, peak = _wait(proc)
        err = proc.stderr.read()
        waited = "waited" if "waiting for another import" in err else "no wait"
        print(f"importer {k}: exit {status} after {time.monotonic() - started:.0f} s, "
              f"peak {peak:.0f} MB, {waited}; {proc.stdout.read().splitlines()[:1]}",
              flush=True)
    with closing(sqlite3.connect(store)) as con:
        total = con.execute("SELECT count(*) FROM incidents").fetchone()[0]
        logged = con.execute("SELECT count(*) FROM imports").fetchone()[0]
        check = con.execute("PRAGMA integrity_check").fetchone()[0]
    print(f"{processes} x {rows:,} rows: all done in {time.monotonic() - started:.0f} s; "
          f"store holds {total:,} incidents (7 seeds + {total - 7:,}), {logged - 1} imports "
          f"logged, integrity {check}")
    for f in files:
        f.unlink()


APPTEST = """
import sys, time
from streamlit.testing.v1 import AppTest
data = open(sys.argv[1], "rb").read()
app = AppTest.from_file(sys.argv[2], default_timeout=3600)
app.run()
app.session_state["tab"] = "Import"
app.run()
started = time.monotonic()
app.file_uploader(key="upload").upload("big.csv", data, "text/csv").run()
checked = time.monotonic()
app.button(key="do_import").click().run()
done = time.monotonic()
notes = [e.proto.body for e in app.get("html") if "fw-notice" in e.proto.body]
print(f"checked in {checked - started:.0f} s, imported in {done - checked:.0f} s; "
      f"{notes[-1][-160:] if notes else 'no notice'}")
"""


def memory(rows: int) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    src = write_rows(OUT / "big.csv", "m", rows)
    size_mb = src.stat().st_size / 1e6
    store = OUT / "memory.gpkg"
    for leftover in OUT.glob("memory.gpkg*"):
        leftover.unlink()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "geo", "import", str(src), "--store",
                             str(store)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    status, peak = _wait(proc)
    print(f"command line: {rows:,} rows, {size_mb:.0f} MB: exit {status} in "
          f"{time.monotonic() - started:.0f} s, peak {peak:.0f} MB; "
          f"{proc.stdout.read().strip().splitlines()[-1:]}", flush=True)
    for leftover in OUT.glob("memory.gpkg*"):
        leftover.unlink()
    env = {**os.environ, "FLANKWATCH_STORE": str(store), "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", APPTEST, str(src),
                             str(ROOT / "dashboard" / "app.py")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    status, peak = _wait(proc)
    print(f"dashboard Import tab: {size_mb:.0f} MB upload: exit {status} in "
          f"{time.monotonic() - started:.0f} s, peak {peak:.0f} MB; "
          f"{proc.stdout.read().strip()}", flush=True)
    src.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["concurrent", "memory"])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rows", type=int)
    args = parser.parse_args()
    if args.what == "concurrent":
        concurrent(args.processes, args.rows or 300_000)
    else:
        memory(args.rows or 1_400_000)


if __name__ == "__main__":
    main()
