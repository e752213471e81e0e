"""Who did what, for the logs: the user running this process and a file's digest."""

from __future__ import annotations

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


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (recorded with each import, and in export
    manifests)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
