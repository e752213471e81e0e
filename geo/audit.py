"""Who did what and when, for the logs: the user running this process, the time as the
stores write it, and a file's digest."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
from pathlib import Path


def current_user() -> str:
    """The operating-system user running this process (the import log's "who" when
    nobody is signed in)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid without a name (some containers)
        return f"uid {os.getuid()}"


def utc_text(stamp: dt.datetime | None = None) -> str:
    """A moment (now by default; a given one is timezone-aware) as the stores' ISO 8601
    text in UTC."""
    return (stamp or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (recorded with each import, and in export
    manifests)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
