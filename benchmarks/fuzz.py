"""Long mutation fuzz of the command line: ``python -m geo enrich`` and ``import`` as real
processes on mutated copies of the seeds and an ACLED export.

For every mutant and command: the exit status must be 0, 1 or 2 (3 is an internal error),
nothing may print a traceback, and the rows must add up: rows read = rows written +
rows rejected (enrich: output rows + rejects rows; import: the store's new records +
rejects rows). Prints counts per outcome and the time per run; failing files are kept in
``benchmarks/out/fuzz-failures/``.

    .venv/bin/python benchmarks/fuzz.py [--files 1000] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.readers import read_table  # noqa: E402
from tests.fuzzing import mutants  # noqa: E402

SOURCES = [ROOT / p for p in ("seeds/incidents.csv", "seeds/deployments.csv",
                              "seeds/sources.csv", "tests/data/acled_eastern_flank.csv")]
OUT = ROOT / "benchmarks" / "out" / "fuzz-failures"
_READ = re.compile(r"(\d+) rows read")


def _records(path: Path) -> int:
    try:
        return len(read_table(path).frame)
    except Exception:
        return 0


def _store_rows(store: Path) -> int:
    with closing(sqlite3.connect(store)) as con:
        return sum(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                   for t in ("incidents", "deployments", "sources", "tracks",
                             "defense_lines"))


def _geo(python: str, command: str, *args: Path | str, rejects: Path,
         problems: list[str]) -> subprocess.CompletedProcess | None:
    """Run ``python -m geo COMMAND ... --rejects REJECTS``; None (and a problem noted)
    when it ended in an internal error or a traceback."""
    rejects.unlink(missing_ok=True)
    done = subprocess.run([python, "-m", "geo", command, *map(str, args), "--rejects",
                           str(rejects)], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    if done.returncode not in (0, 1, 2) or "Traceback" in done.stderr:
        problems.append(f"{command} exit {done.returncode}: {done.stderr[-300:]}")
        return None
    return done


def run_one(python: str, folder: Path, src: Path, store: Path) -> list[str]:
    """Problems found with one mutant (empty when it behaved)."""
    problems: list[str] = []
    out, rejects = folder / "out.csv", folder / "rejects.csv"
    out.unlink(missing_ok=True)
    done = _geo(python, "enrich", src, "-o", out, rejects=rejects, problems=problems)
    if done is not None and done.returncode == 0:
        m = re.search(r"(\d+) rows enriched .*?; (\d+) rejected", done.stderr)
        if m and _records(out) != int(m[1]):
            problems.append("enrich: output rows differ from the count reported")
    before = _store_rows(store)
    done = _geo(python, "import", src, "--store", store, rejects=rejects, problems=problems)
    if done is not None and done.returncode == 0:
        m = _READ.search(done.stdout)
        try:
            rejected = len(read_table(rejects).frame) if rejects.exists() else 0
        except Exception as exc:  # the project's own report must read back
            problems.append(f"import: the rejects file does not read back: {exc}")
            return problems
        inserted = sum(int(x) for x in re.findall(r"(\d+) inserted", done.stdout))
        unchanged = sum(int(x) + int(y) for x, y in
                        re.findall(r"(\d+) updated, (\d+) unchanged", done.stdout))
        if _store_rows(store) - before != inserted:
            problems.append("import: the store's growth differs from the report")
        if m and int(m[1]) != inserted + unchanged + rejected:
            problems.append(f"import: {m[1]} rows read != {inserted} inserted + "
                            f"{unchanged} updated/unchanged + {rejected} rejected")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    python = os.environ.get("PYTHON", sys.executable)
    sources = [p.read_bytes() for p in SOURCES]
    outcomes: collections.Counter = collections.Counter()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = folder / "store.gpkg"
        subprocess.run([python, "-c", f"from geo.store import open_store; "
                        f"open_store({str(store)!r})"], cwd=ROOT, check=True)
        for number, data in mutants(sources, args.files, seed=args.seed):
            src = folder / f"mutant-{number}.csv"
            src.write_bytes(data)
            problems = run_one(python, folder, src, store)
            outcomes["runs with a problem" if problems else "clean"] += 1
            if problems:
                OUT.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, OUT / src.name)
                print(f"mutant {number}: " + " | ".join(problems), flush=True)
            src.unlink()
    elapsed = time.monotonic() - started
    print(f"{args.files} mutants (seed {args.seed}), 2 commands each, {elapsed:.0f} s "
          f"({elapsed / args.files / 2:.2f} s per run): {dict(outcomes)}")


if __name__ == "__main__":
    main()
