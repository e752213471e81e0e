"""Imports for the dashboard, run in a process of their own.

An upload of hundreds of megabytes is checked and imported by ``geo.records.import_file``
in a child process (``python -m dashboard.import_worker``), so the dashboard's server
never holds the reference data, the chunks and their enrichment on top of the upload
Streamlit keeps in memory; the child reports progress and its result as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geo.settings import STORE_ENV_VAR
from geo.store import is_store_url

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class UploadResult:
    """What the worker reported: the import's summary, counts and first rejects."""

    summary: str = ""
    valid: int = 0
    rejected: int = 0
    written: bool = False
    rejects: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: The project's own error message, when the file could not be imported.
    error: str = ""


def run_import(store: str, path: Path, *, name: str, dry_run: bool, who: str = "",
               progress: Callable[[float, str], None] | None = None) -> UploadResult:
    """Check (``dry_run``) or import ``path`` into ``store`` in a child process, in the
    name of ``who`` (the import log's user; by default the process's)."""
    location = store if is_store_url(store) else str(Path(store).resolve())
    # the store goes by the environment: a URL may hold a password, and any local user
    # can read a process's command line
    command = [sys.executable, "-m", "dashboard.import_worker",
               str(Path(path).resolve()), f"--name={name}",
               *([f"--who={who}"] if who else []), *(["--dry-run"] if dry_run else [])]
    # stderr to a file: warnings from GDAL could fill a pipe no one reads meanwhile
    with tempfile.TemporaryFile("w+") as errors_file, subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors_file,
            text=True, env={**os.environ, STORE_ENV_VAR: location}) as proc:
        result = None
        for line in proc.stdout:
            message = json.loads(line)
            if "progress" in message and progress is not None:
                progress(message["progress"], message["text"])
            elif "result" in message:
                result = _result(message["result"])
        proc.wait()
        errors_file.seek(0)
        errors = errors_file.read()[-5000:]
    if result is None:
        log.error("the import worker failed (exit %s): %s", proc.returncode, errors)
        _note_failure(location, name, Path(path), who=who, dry_run=dry_run)
        return UploadResult(error="the file could not be imported: an internal error (the "
                                  "details are in the server's log)")
    if result.error or not (dry_run or result.written):  # the server's log says so too
        from geo.records import note_refusal

        note_refusal(name, Path(path), result.error or result.summary, who=who,
                     dry_run=dry_run)
    return result


def _note_failure(location: str, name: str, path: Path, *, who: str, dry_run: bool) -> None:
    """A crashed worker's import in the logs (see :func:`geo.records.log_refusal`)."""
    from geo.errors import FlankwatchError
    from geo.records import log_refusal
    from geo.store import open_store

    try:
        log_refusal(open_store(location), name, path, "the import stopped with an internal "
                    "error", who=who, dry_run=dry_run)
    except (FlankwatchError, OSError) as exc:
        log.error("the failed import of %s is not in the store's log: %s", name, exc)


def _result(data: dict) -> UploadResult:
    return UploadResult(summary=data["summary"], valid=data["valid"],
                        rejected=data["rejected"], written=data["written"],
                        rejects=pd.DataFrame(data["rejects"]), error=data["error"])


def _emit(**message) -> None:
    print(json.dumps(message, ensure_ascii=False, default=str), flush=True)


def _plain(value: object) -> object:
    """A JSON-safe cell: missing values as None, everything else as it is or as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, int | float | str | bool) else str(value)


def main(argv: list[str] | None = None) -> int:
    """Run one check or import and report it as JSON lines on standard output."""
    from geo.errors import FlankwatchError
    from geo.records import import_file
    from geo.store import open_store
    from geo.store.gpkg import check_store

    parser = argparse.ArgumentParser(prog="python -m dashboard.import_worker")
    parser.add_argument("input", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--who", default="")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    try:
        location = os.environ[STORE_ENV_VAR]  # set by run_import
        store = (open_store(location) if is_store_url(location)
                 else check_store(Path(location)))
        result = import_file(store, args.input, keep_valid=True,
                             name=args.name, dry_run=args.dry_run, who=args.who,
                             progress=lambda f, t: _emit(progress=f, text=t))
    except FlankwatchError as exc:
        _emit(result={"summary": "", "valid": 0, "rejected": 0, "written": False,
                      "rejects": [], "error": str(exc)})
        return 0
    shown = [c for c in ("layer", "row", "field", "reason") if c in result.rejects()]
    rejects = result.rejects()[shown] if result.rejected else None
    rows = [] if rejects is None else [
        {k: _plain(v) for k, v in r.items()} for r in rejects.to_dict("records")]
    _emit(result={"summary": result.summary(), "valid": result.valid,
                  "rejected": result.rejected, "written": result.written, "rejects": rows,
                  "error": ""})
    return 0


if __name__ == "__main__":
    sys.exit(main())
