"""Record history: every version a record has had, and going back to one.

Each update an import makes keeps the replaced row in the store's ``history`` table (in
the same transaction), numbered as the record's version 1, 2, …; the record as it is now
is the next version. Reverting writes an old version back as an import of its own
(logged, and keeping the version it replaces), so nothing is ever lost by a revert.
Both store backends keep the same history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from geo.errors import InputError
from geo.schema import BOOL_COLUMNS, DATE_COLUMNS, REAL_COLUMNS
from geo.store.base import LAYERS, as_stored


@dataclass(frozen=True)
class Version:
    """One version of a record."""

    number: int
    #: Column → value as stored (dates ISO 8601 text, geometry as WKB hex in ``geom``).
    values: dict
    #: When it was replaced, by which import (None for the current version).
    replaced_at: str | None = None
    replaced_by_import: int | None = None
    replaced_by_file: str | None = None
    replaced_by_user: str | None = None

    @property
    def current(self) -> bool:
        return self.replaced_at is None


def comparable(table: str, values: dict) -> dict:
    """Values in one textual form (stored rows and history JSON differ in types)."""
    layer = LAYERS[table]
    out = {}
    for column in layer.columns:
        value = values.get(column)
        if column in BOOL_COLUMNS and value is not None and not pd.isna(value):
            value = bool(value)
        out[column] = as_stored(pd.Series([value], dtype=object), column)[0]
    if layer.geometry and layer.geometry != "POINT":
        out["geom"] = (values.get("geom") or "").upper()
    return out


def _current_values(store, table: str, ident: str) -> dict | None:
    rows = store.record(table, ident)
    if rows.empty:
        return None
    row = rows.iloc[0].to_dict()
    geometry = row.pop("geometry", None)
    if geometry is not None:
        row["geom"] = shapely.to_wkb(geometry, hex=True, byte_order=1)
    return row


def versions(store, table: str, ident: str) -> list[Version]:
    """Every version of a record, oldest first; the last is the current one. Raises
    :class:`InputError` when the store has no such record and no history of it."""
    if table not in LAYERS:
        msg = f"`table` was {table!r} but is expected to be in {list(LAYERS)}"
        raise InputError(msg)
    old = [Version(v, json.loads(record), str(at), imp, file, who)
           for v, record, at, imp, file, who in store.history_rows(table, ident)]
    current = _current_values(store, table, ident)
    if current is None and not old:
        msg = f"no {table} record with id {ident!r} in the store"
        raise InputError(msg)
    if current is not None:
        old.append(Version(len(old) + 1, current))
    return old


def changes(table: str, before: Version, after: Version) -> list[tuple[str, str, str]]:
    """(column, value before, value after) of each column that differs, as people read
    them (a real number to six decimals, not every digit the store keeps)."""
    a, b = comparable(table, before.values), comparable(table, after.values)
    return [(c, _readable(c, a[c]), _readable(c, b[c])) for c in a if a[c] != b[c]]


def _readable(column: str, value: object) -> str:
    if column in REAL_COLUMNS and isinstance(value, float) and value == value:
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def _frame(table: str, values: dict) -> pd.DataFrame:
    """A version's values as a one-record frame the store's writer takes."""
    layer = LAYERS[table]
    row = {c: values.get(c) for c in layer.columns}
    for c in BOOL_COLUMNS & set(row):
        row[c] = None if row[c] is None else bool(row[c])
    for c in REAL_COLUMNS & set(row):
        row[c] = np.nan if row[c] is None else float(row[c])
    for c in set(DATE_COLUMNS) & set(row):
        row[c] = pd.to_datetime(row[c], utc=True) if row[c] else pd.NaT
    frame = pd.DataFrame([row])
    if layer.geometry and layer.geometry != "POINT":
        frame["geometry"] = [shapely.from_wkb(values["geom"]) if values.get("geom")
                             else None]
    return frame


def revert(store, table: str, ident: str, number: int, *, who: str = ""):
    """Write version ``number`` of a record back as its current state, as an import of
    its own; returns the import's reports."""
    found = versions(store, table, ident)
    chosen = next((v for v in found if v.number == number), None)
    if chosen is None:
        known = ", ".join(str(v.number) for v in found)
        msg = f"{table} {ident!r} has no version {number} (versions: {known})"
        raise InputError(msg)
    if chosen.current:
        msg = f"{table} {ident!r}: version {number} is the current one; nothing to revert"
        raise InputError(msg)
    with store.importing(file=f"revert {table} {ident} to version {number}",
                         who=who) as writer:
        writer.write({table: _frame(table, chosen.values)})
    return writer.reports
