"""Moving a whole store from one backend to the other: ``python -m geo store copy``.

Every record of every table, the record history, the import log, the shared views
(with their log) and the alert rules, alerts and deliveries are copied in one
transaction into an empty store (a new GeoPackage file, or an initialised PostGIS
database without records); record hashes, import ids and history versions come out the
same, so GeoPackage → PostGIS → GeoPackage gives back the tables it started from.
"""

from __future__ import annotations

import os
from pathlib import Path

from geo import alerts
from geo.errors import InputError
from geo.store import open_store, store_location, views
from geo.store.base import LAYERS, ImportReport
from geo.store.gpkg import check_store, create_store


def _source(location: str | Path):
    if isinstance(location, Path):
        if not location.exists():
            msg = f"store {location}: no such file to copy from"
            raise InputError(msg)
        return check_store(location)
    return open_store(location)


def _empty_destination(location: str):
    store = open_store(location)
    imports, _ = store.dump_log()
    if any(store.counts().values()) or len(imports) or len(views.view_log(store)):
        msg = f"store {store}: already holds records; a copy goes into an empty store"
        raise InputError(msg)
    return store


def copy_store(source: str | Path, destination: str | Path) -> list[ImportReport]:
    """Copy every table, the history and the import log from ``source`` into a new,
    empty ``destination``; returns what each table received. A new GeoPackage is built
    beside its place and renamed into it when complete: a failed copy leaves nothing."""
    src = _source(store_location(source))
    target = store_location(destination)
    if isinstance(target, str):
        return _copy_into(src, _empty_destination(target))
    if target.exists():
        msg = f"store {target}: already exists; a copy goes into a new file"
        raise InputError(msg)
    aside = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        reports = _copy_into(src, create_store(aside))
        os.replace(aside, target)
    finally:
        for leftover in (aside, Path(f"{aside}-wal"), Path(f"{aside}-shm")):
            leftover.unlink(missing_ok=True)
    return reports


def _copy_into(src, dst) -> list[ImportReport]:
    with dst.importing(file=f"copy of {src}") as writer:
        for table in LAYERS:
            frame = src.incidents() if table == "incidents" else src.records(table)
            writer.write({table: frame})
        writer.restore_log(*src.dump_log())
        writer.restore_views(*views.dump(src))
        writer.restore_tables(alerts.dump(src), [("alert_log", "log_id")])
    return writer.reports
