"""A throwaway PostgreSQL + PostGIS cluster for the tests: Debian's server binaries,
started as the ``postgres`` user when the tests run as root (``initdb`` refuses root),
listening on a Unix socket in a temporary folder only (no TCP)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL server's ``bin`` folder, None if there is none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextlib.contextmanager
def private_cluster(database: str = "flankwatch") -> Iterator[str]:
    """Start a cluster, create ``database`` with PostGIS; yield its URL; stop it."""
    binaries = server_binaries()
    if binaries is None:
        msg = "PostgreSQL is not installed (make test installs it)"
        raise RuntimeError(msg)
    folder = Path(tempfile.mkdtemp(prefix="flankwatch-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    try:
        subprocess.run(_as_owner([str(binaries / "initdb"), "-D", str(data), "-A", "trust",
                                  "-U", "postgres", "--no-sync", "-E", "UTF8"]), **quiet)
        options = (f"-c listen_addresses='' -c unix_socket_directories={folder} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-o", options,
                                  "-l", str(folder / "log"), "-w", "start"]), **quiet)
        subprocess.run([str(binaries / "createdb"), "-h", str(folder), "-U", "postgres",
                        database], **quiet)
        yield f"postgresql://postgres@/{database}?host={folder}"
    finally:
        subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m",
                                  "immediate", "-w", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(folder, ignore_errors=True)
