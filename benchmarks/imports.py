"""Imports under load: concurrent importers into one store, and the peak memory of a
large import through the command line and through the dashboard's Import tab.

- ``concurrent``: N processes each run ``python -m geo import`` of its own file of R
  rows into one GeoPackage, started together; every one must finish (exit 0), and the
  store must hold every row, pass its integrity check and log N imports.
- ``memory``: a CSV of about 200 MB (1.4 million rows) imported by ``python -m geo
  import`` as a whole process, and uploaded through the dashboard's Import tab in
  chromium (the file checked, then imported with the button); the peak resident memory
  of the command's process and of the Streamlit server is the kernel's figure.

    .venv/bin/python benchmarks/imports.py concurrent [--processes 4] [--rows 300000] [--postgis]

``--postgis`` runs the concurrent importers against the PostGIS team store instead, on a
throwaway PostgreSQL cluster of its own (a Unix socket in a temporary folder).
    .venv/bin/python benchmarks/imports.py memory [--rows 1400000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing, suppress
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


def fresh_store(store: Path) -> Path:
    """A new store of the seed records at ``store`` (an old one and its log removed)."""
    from geo.store import open_store

    store.parent.mkdir(parents=True, exist_ok=True)
    for leftover in store.parent.glob(f"{store.name}*"):
        leftover.unlink()
    return open_store(store).path


def concurrent(processes: int, rows: int, *, postgis: bool = False) -> None:
    if postgis:
        from tests.postgres import private_cluster

        with private_cluster() as url:
            subprocess.run([sys.executable, "-m", "geo", "store", "init", "--with-seeds",
                            "--store", url], cwd=ROOT, check=True, capture_output=True)
            _concurrent(processes, rows, url)
        return
    _concurrent(processes, rows, str(fresh_store(OUT / "concurrent.gpkg")))


def _concurrent(processes: int, rows: int, store: str) -> None:
    from geo.store import open_store

    OUT.mkdir(parents=True, exist_ok=True)
    files = [write_rows(OUT / f"part{k}.csv", f"p{k}-", rows, seed=k) for k in range(processes)]
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "geo", "import", str(f), "--store",
                               store], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for f in files]
    for k, proc in enumerate(procs):
        status, peak = _wait(proc)
        err = proc.stderr.read()
        waited = "waited" if "waiting for another import" in err else "no wait"
        print(f"importer {k}: exit {status} after {time.monotonic() - started:.0f} s, "
              f"peak {peak:.0f} MB, {waited}; {proc.stdout.read().splitlines()[:1]}",
              flush=True)
    opened = open_store(store)
    total = opened.counts()["incidents"]
    logged = len(opened.imports())
    check = "not applicable"
    if not store.startswith("postgresql://"):
        with closing(sqlite3.connect(store)) as con:
            check = con.execute("PRAGMA integrity_check").fetchone()[0]
    print(f"{processes} x {rows:,} rows: all done in {time.monotonic() - started:.0f} s; "
          f"store holds {total:,} incidents (7 seeds + {total - 7:,}), {logged - 1} imports "
          f"logged, integrity {check}")
    for f in files:
        f.unlink()


def _peak_mb(pid: int) -> float:
    """The peak resident memory of a running process (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def dashboard_upload(src: Path, store: Path) -> str:
    """Upload ``src`` through the dashboard's Import tab in chromium, check it, import
    it; returns what happened and the server's peak memory."""
    from playwright.sync_api import sync_playwright

    from tests.browser import dashboard

    with dashboard(store) as url, sync_playwright() as p:
        server = next(int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()
                      and "streamlit" in _cmdline(d) and str(ROOT) in _cmdline(d))
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(url)
        page.get_by_role("tab", name="Import").click(timeout=120_000)
        workers: dict[int, float] = {}
        watching = threading.Event()
        watching.set()
        sampler = threading.Thread(target=_watch_workers, args=(workers, watching))
        sampler.start()
        started = time.monotonic()
        page.locator("input[type=file]").set_input_files(str(src))
        before = _peak_mb(server)
        page.locator(".fw-notice.fw-info").wait_for(timeout=1_800_000)
        checked = time.monotonic()
        after_check = _peak_mb(server)
        page.get_by_role("button", name="Import").click()
        page.locator(".fw-notice.fw-success").wait_for(timeout=1_800_000)
        done = time.monotonic()
        watching.clear()
        sampler.join()
        text = page.locator(".fw-notice.fw-success").inner_text()
        peak = _peak_mb(server)
        browser.close()
    return (f"uploaded and checked in {checked - started:.0f} s, imported in "
            f"{done - checked:.0f} s; server peak {before:.0f} MB before the upload, "
            f"{after_check:.0f} MB once uploaded and checked, {peak:.0f} MB after the "
            f"import and the redraw of the map with every incident; import worker peaks "
            f"(check, import): {', '.join(f'{v:.0f}' for v in workers.values())} MB; "
            f"{text[-120:]}")


def _watch_workers(peaks: dict[int, float], watching: threading.Event) -> None:
    """The peak memory of every import worker process seen while ``watching``."""
    while watching.is_set():
        for folder in Path("/proc").iterdir():
            if folder.name.isdigit() and "dashboard.import_worker" in _cmdline(folder):
                with suppress(OSError, ValueError):
                    peaks[int(folder.name)] = max(peaks.get(int(folder.name), 0.0),
                                                  _peak_mb(int(folder.name)))
        time.sleep(0.2)


def _cmdline(folder: Path) -> str:
    try:
        return (folder / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def memory(rows: int) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    src = write_rows(OUT / "big.csv", "m", rows)
    size_mb = src.stat().st_size / 1e6
    store = OUT / "memory.gpkg"
    for leftover in OUT.glob("memory.gpkg*"):
        leftover.unlink()  # the command line creates it
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "geo", "import", str(src), "--store",
                             str(store)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    status, peak = _wait(proc)
    print(f"command line: {rows:,} rows, {size_mb:.0f} MB: exit {status} in "
          f"{time.monotonic() - started:.0f} s, peak {peak:.0f} MB; "
          f"{proc.stdout.read().strip().splitlines()[-1:]}", flush=True)
    fresh_store(store)
    print(f"dashboard Import tab, {size_mb:.0f} MB upload in chromium: "
          f"{dashboard_upload(src, store)}", flush=True)
    src.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["concurrent", "memory"])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--postgis", action="store_true",
                        help="concurrent: into a PostGIS store on a throwaway cluster")
    args = parser.parse_args()
    if args.what == "concurrent":
        concurrent(args.processes, args.rows or 300_000, postgis=args.postgis)
    else:
        memory(args.rows or 1_400_000)


if __name__ == "__main__":
    main()
