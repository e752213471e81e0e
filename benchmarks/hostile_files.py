"""Time and peak memory of ``python -m geo enrich`` on hostile files of about 100 MB.

Each case is a whole process (the wall time and the peak resident memory the kernel
reports for it); the files are written to ``benchmarks/out/hostile/`` and removed after.
The limits are stated in ``geo/csvfile.py``; the target is an answer in seconds within
1 GB for any input of at most 100 MB.

    .venv/bin/python benchmarks/hostile_files.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "hostile"
HEADER = b"id,date,type,lat,lon,confidence,title\n"
ROW = b"h-%d,2025-07-01,drone,54.6,25.1,reported,row %d\n"
SIZE = 100 * 1024 * 1024


def _write(path: Path, chunks) -> Path:
    with open(path, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
    return path


def _repeat(piece: bytes, size: int = SIZE):
    block = piece * max(1, (1 << 20) // len(piece))
    for _ in range(size // len(block)):
        yield block


CASES = {
    "one line of 100 MB of commas": lambda p: _write(p, [HEADER, *_repeat(b","), b"\n"]),
    "a header of 100 MB of column names": lambda p: _write(p, [*_repeat(b"col,"), b"\n"]),
    "a quote opened on line 2, then 100 MB of rows": lambda p: _write(
        p, [HEADER, b'q-1,2025-07-01,drone,54.6,25.1,reported,"open\n',
            *(ROW % (i, i) for i in range(1_850_000))]),
    "100 MB with no line end": lambda p: _write(p, [HEADER, *_repeat(b"x")]),
    "100 MB of empty lines": lambda p: _write(p, [HEADER, *_repeat(b"\n")]),
    "100 MB of random bytes": lambda p: _write(p, [os.urandom(SIZE)]),
    "100 MB of records with one field too many": lambda p: _write(
        p, [HEADER, *_repeat(b"x,2025-07-01,drone,54.6,25.1,reported,t,EXTRA\n")]),
}


def measure(path: Path) -> tuple[float, float, int, str]:
    """Wall seconds, peak MB, exit status and the last line of stderr of one run."""
    out = path.with_suffix(".out.csv")
    rejects = path.with_suffix(".rejects.csv")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "geo", "enrich", str(path), "-o",
                             str(out), "--rejects", str(rejects)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    for leftover in (out, rejects):
        leftover.unlink(missing_ok=True)
    last = err.strip().splitlines()[0] if err.strip() else ""
    return elapsed, usage.ru_maxrss / 1024, proc.returncode, last


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"{'case':<48} {'MB':>5} {'wall s':>7} {'peak MB':>8} exit  first line of stderr")
    for name, make in CASES.items():
        path = make(OUT / "case.csv")
        size = path.stat().st_size / 2**20
        elapsed, peak, status, last = measure(path)
        print(f"{name:<48} {size:>5.0f} {elapsed:>7.1f} {peak:>8.0f} {status:>4}  "
              f"{last[:90]}", flush=True)
        path.unlink()


if __name__ == "__main__":
    main()
