"""Briefing clips, whole process: ``python -m dashboard.export --animate`` as a new process.

Measured (wall time and the peak resident memory of the export and its ffmpeg; each
case 3 runs after one warm-up run; median and range):

- 30 daily frames of the seed store at 1920 x 1080 (MP4), the issue's first target
  (at most 30 s);
- 168 hourly frames (one week) of 10^5 synthetic incidents timed to the hour over the
  Baltic region in that week (MP4, 1920 x 1080, drawn as hexagons), the second target
  (at most 120 s, peak memory at most 1.5 GB).

Usage: ``python benchmarks/animation.py``; results in ``benchmarks/out/animation.json``.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from synthetic import fill_store  # noqa: E402

from geo.store import open_store  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
RUNS = 3


def time_export(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB (the largest of the export and ffmpeg) of one
    export run in a child process of its own (``ru_maxrss`` of the children)."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run([sys.executable, '-m', 'dashboard.export', *sys.argv[1:]], "
            "check=True, capture_output=True); "
            "print(time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def measure(name: str, args: list[str]) -> dict:
    first, _ = time_export(args)
    runs = [time_export(args) for _ in range(RUNS)]
    seconds = [s for s, _ in runs]
    row = {"clip": name, "first_s": round(first, 2),
           "median_s": round(statistics.median(seconds), 2),
           "min_s": round(min(seconds), 2), "max_s": round(max(seconds), 2),
           "peak_mb": round(max(m for _, m in runs))}
    print(row, flush=True)
    return row


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seeds = str(open_store(folder / "seeds.gpkg").path)
        hourly = str(fill_store(folder / "hourly", 100_000, start="2025-03-03",
                                hours=168).path)
        cases = [
            ("30 days of the seeds, 1920x1080 MP4",
             ["--store", seeds, "--start", "2025-07-01", "--end", "2025-07-30",
              "--animate", "day", "-o", str(folder / "seeds.mp4")]),
            ("168 hours of 10^5 incidents, 1920x1080 MP4",
             ["--store", hourly, "--start", "2025-03-03", "--end", "2025-03-09",
              "--animate", "hour", "--window", "24", "-o", str(folder / "hourly.mp4")]),
        ]
        for name, args in cases:
            results.append(measure(name, args))
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
          " MB)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "animation.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
