"""The incident store: a GeoPackage file (:mod:`geo.store.gpkg`) or a PostGIS team store
(:mod:`geo.store.postgis`), both keeping the contract of :mod:`geo.store.base`, with
the record history (:mod:`~geo.store.history`), shared views (:mod:`~geo.store.views`)
and copies between them (:mod:`~geo.store.transfer`). This module opens one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from geo.settings import DEFAULT_STORE_PATH, SEEDS_DIR, STORE_ENV_VAR

log = logging.getLogger(__name__)


def is_store_url(location: object) -> bool:
    """Whether a store location is a PostgreSQL URL (the PostGIS team store) rather than
    a GeoPackage file."""
    return str(location).startswith(("postgresql://", "postgres://"))


def store_location(location: str | Path | None = None) -> str | Path:
    """The store to use: ``location``, else ``$FLANKWATCH_STORE``, else the default
    file; a ``postgresql://`` URL stays text, anything else is a path."""
    chosen = location or os.environ.get(STORE_ENV_VAR) or DEFAULT_STORE_PATH
    return str(chosen) if is_store_url(chosen) else Path(chosen)


def open_store(path: str | Path | None = None, *, seeds_dir: Path | None = None):
    """Open the store: a GeoPackage file (on first use created and loaded with the seed
    records), or a PostGIS team store from a ``postgresql://`` URL (whose tables
    ``python -m geo store init`` creates).

    A new GeoPackage is built beside its final path and renamed into place, so two
    processes starting at once never see a half-built store.
    """
    location = store_location(path)
    if isinstance(location, str):
        from geo.store.postgis import open_postgis

        return open_postgis(location)
    from geo.store.gpkg import GeoPackageStore, _store_errors, check_store, create_from_seeds

    if location.exists():
        return check_store(location)
    from geo.records import load_directory

    with _store_errors(location, "cannot create it"):
        location.parent.mkdir(parents=True, exist_ok=True)
        create_from_seeds(location, load_directory(seeds_dir or SEEDS_DIR))
    log.info("created the store %s from the seed records", location)
    return GeoPackageStore(location)
