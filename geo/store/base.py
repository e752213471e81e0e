"""The store contract both backends keep: the tables, how a record is stored, the reads,
the log and the batch writer, written once over a few hooks each backend fills in.

A backend (:mod:`geo.store.gpkg`, :mod:`geo.store.postgis`) gives a connection
(``connect``), its placeholder (``PARAM``), how a stored time reads as ISO 8601 text in
UTC (``_time_text``), a table's rows for a ``WHERE`` fragment (``_read``), a filter's
SQL part (``_where``), one import as one transaction (``importing``), one change of
the shared views as one transaction (``transaction``) and the store's version. The
dashboard and the command line type against :class:`Store`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
import shapely

from geo.audit import current_user, utc_text
from geo.dates import record_periods
from geo.errors import InputError
from geo.filters import IncidentFilter, apply_outline
from geo.schema import (
    BOOL_COLUMNS,
    DATE_COLUMNS,
    DEFENSE_LINE,
    DEPLOYMENT,
    ENRICHED_COLUMNS,
    EVENT,
    INCIDENT,
    REAL_COLUMNS,
    SOURCE,
    TRACK,
    RecordType,
)

#: Rows written per statement batch inside an import's single transaction.
BATCH_ROWS = 2000

#: The store's schema version: 1 the record tables and the import log, 2 adds the record
#: history and the importing user, 3 (GeoPackage) the R-tree index on positions, 4 the
#: shared views and their log (``geo.store.views``), 5 ``date_until`` (when a record's
#: period is over: the period filter's key; ``date_last`` kept the day a period began
#: for "Sep 2025").
SCHEMA_VERSION = 6

#: How long an import waits for another import to finish before giving up, seconds.
LOCK_WAIT_S = 1800.0

#: Coordinates are WGS84 longitude/latitude.
SRS_ID = 4326


@dataclass(frozen=True)
class Layer:
    """A store table: the record type it holds and how its geometry is stored."""

    table: str
    record_type: RecordType
    #: GeoPackage geometry type name, or None for an attribute table.
    geometry: str | None
    #: Columns kept besides the record type's own.
    derived: tuple[str, ...] = ()
    #: Columns with an index for filtered reads.
    indexed: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """Stored data columns, in order (without fid, geometry and bookkeeping)."""
        return [*self.record_type.columns, *self.derived]


INCIDENTS = Layer("incidents", INCIDENT, "POINT", (*ENRICHED_COLUMNS, "extra"),
                  ("date", "date_last", "type", "country_iso3", "lon"))
DEPLOYMENTS = Layer("deployments", DEPLOYMENT, "POINT", indexed=("date", "date_last", "kind"))
DEFENSE_LINES = Layer("defense_lines", DEFENSE_LINE, "GEOMETRY")
TRACKS = Layer("tracks", TRACK, "LINESTRING", indexed=("incident_id",))
SOURCES = Layer("sources", SOURCE, None)
EVENTS = Layer("events", EVENT, None)

#: Every table of the store by name.
LAYERS = {layer.table: layer for layer in (INCIDENTS, DEPLOYMENTS, DEFENSE_LINES, TRACKS,
                                           SOURCES, EVENTS)}

#: Tables and columns a later schema version added, by that version: a new store is made
#: as version 1 was, then every version's migration adds its own (as on an old store).
LATER_TABLES = {"events": 6}
LATER_COLUMNS = {("incidents", "event"): 6, ("incidents", "count"): 6}
#: Schema version 6's alert tables (geo.alerts), written once for both backends: times
#: are ISO 8601 text in UTC on both, as the shared views' are.
ALERT_TABLES_SQL = """
CREATE TABLE alert_rules (
    rule_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
    condition TEXT NOT NULL, webhook TEXT NOT NULL, secret TEXT NOT NULL,
    email TEXT NOT NULL, cooldown_s REAL NOT NULL, quiet TEXT NOT NULL,
    enabled INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE alert_log (
    log_id {serial}, rule_id TEXT NOT NULL, action TEXT NOT NULL, name TEXT NOT NULL,
    rule TEXT NOT NULL, who TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE alert_matches (
    rule_id TEXT NOT NULL, record_id TEXT NOT NULL, PRIMARY KEY (rule_id, record_id));
CREATE TABLE alerts (
    alert_id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, record_id TEXT NOT NULL,
    state TEXT NOT NULL, created_at TEXT NOT NULL, import_id BIGINT, facts TEXT NOT NULL,
    acknowledged_by TEXT, acknowledged_at TEXT, UNIQUE (rule_id, record_id, state));
CREATE INDEX alerts_created_idx ON alerts (created_at);
CREATE TABLE alert_deliveries (
    delivery_id TEXT PRIMARY KEY, alert_id TEXT NOT NULL, rule_id TEXT NOT NULL,
    channel TEXT NOT NULL, target TEXT NOT NULL, created_at TEXT NOT NULL,
    due_at TEXT NOT NULL, attempts INTEGER NOT NULL, status TEXT NOT NULL,
    last_error TEXT NOT NULL, sent_at TEXT);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (status, due_at);
"""
#: The alert tables, and the writes that need them.
ALERT_TABLES = ("alert_rules", "alert_log", "alert_matches", "alerts", "alert_deliveries")

#: The dated tables version 5 gave ``date_until`` (a table made later has it at once).
DATED_TABLES_V5 = ("incidents", "deployments", "defense_lines")


def layers_at(version: int) -> list[Layer]:
    """The store's tables as schema ``version`` had them."""
    return [layer for layer in LAYERS.values() if LATER_TABLES.get(layer.table, 1) <= version]


def columns_at(layer: Layer, version: int) -> list[str]:
    """A table's data columns as schema ``version`` had them."""
    return [c for c in layer.columns if LATER_COLUMNS.get((layer.table, c), 1) <= version]


@dataclass(frozen=True)
class ImportReport:
    """What an import did to one table."""

    table: str
    inserted: int
    updated: int
    unchanged: int
    #: The ids inserted or changed (what alert rules look at), not part of the report.
    changed: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __str__(self) -> str:
        return (f"{self.table}: {self.inserted} inserted, {self.updated} updated, "
                f"{self.unchanged} unchanged")


#: Columns of the import log and of the record history, as :meth:`StoreBase.dump_log`
#: gives them (times as ISO 8601 text in UTC).
LOG_COLUMNS = ("import_id", "file", "sha256", "imported_at", "imported_by", "report")
HISTORY_COLUMNS = ("history_id", "table_name", "id", "version", "record", "record_hash",
                   "replaced_at", "import_id")


#: Records with a position: an area filter never takes a record known only by its
#: country or region (its point stands for the region).
POSITIONED = "coalesce(location_precision, '') <> 'region'"


#: The tables each kind of write changes: what a store's database rights are checked
#: against (:meth:`StoreBase.denied_writes`).
WRITES = {"import": (*LAYERS, "imports", "history"), "revert": (*LAYERS, "imports", "history"),
          "save view": ("views", "view_log"), "manage views": ("views", "view_log"),
          "add alert": ("alert_rules", "alert_log"), "acknowledge": ("alerts",)}


#: Tables of dated records (with ``date_last`` and ``date_until``).
DATED_TABLES = tuple(name for name, layer in LAYERS.items() if layer.record_type.dated)


def plain_rows(frame: pd.DataFrame) -> list[tuple]:
    """Rows with Python values (None for missing) for a database driver."""
    return [tuple(None if (v is None or (not isinstance(v, str) and pd.isna(v)))
                  else (int(v) if isinstance(v, np.integer) else v) for v in row)
            for row in frame.itertuples(index=False)]


def timestamp_text(value: str | pd.Timestamp, *, end_of_day: bool) -> str:
    """A filter's date as stored text; ``end_of_day``: a date without a time means its
    last second."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if end_of_day and stamp == stamp.normalize():
        stamp = stamp + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- GeoPackage geometry blobs (the stored form both backends hash) -----------------

#: Bytes of the envelope after a GeoPackage blob's 8-byte header, by envelope code.
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
#: The header this project writes: magic, version, little-endian flag, SRS id.
GPKG_HEADER = b"GP\x00\x01" + SRS_ID.to_bytes(4, "little")


def wkb_of_blob(blob: bytes) -> bytes:
    """The WKB inside a GeoPackage geometry blob (its header and envelope dropped),
    whichever GeoPackage writer made it."""
    return bytes(blob[8 + _ENVELOPE_BYTES[(blob[3] >> 1) & 0b111]:])


def gpkg_blobs(geoms: Sequence) -> list[bytes | None]:
    """GeoPackage geometry blobs: :data:`GPKG_HEADER` (no envelope) followed by the
    geometry's little-endian WKB."""
    wkb = shapely.to_wkb(np.asarray(geoms, dtype=object), byte_order=1)
    return [None if w is None else GPKG_HEADER + w for w in wkb]


# --- Writing --------------------------------------------------------------------------

def as_stored(values: pd.Series, name: str) -> list:
    """A column's values as the store keeps them: dates as ISO 8601 text in UTC, reals,
    booleans, else text ("" for missing)."""
    if name in DATE_COLUMNS:  # (text in any ISO 8601 form: "2026-01" beside "2025-09-10")
        stamps = pd.to_datetime(values, utc=True, format="ISO8601")
        text = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        return [None if pd.isna(t) else t for t in text]
    if name in REAL_COLUMNS:
        return [None if pd.isna(v) else float(v) for v in values]
    if name in BOOL_COLUMNS:
        return [None if pd.isna(v) else bool(v) for v in values]
    return ["" if pd.isna(v) else str(v) for v in values]


def stored_rows(layer: Layer, records: pd.DataFrame) -> tuple[list[str], list[tuple]]:
    """Column names and row tuples to write, with each row's content hash (the same on
    both backends, so a record moved between them is "unchanged") and, for a dated
    layer, its ``date_until`` (see :func:`until_text`)."""
    absent = pd.Series(index=records.index, dtype=object)
    data = {c: as_stored(records.get(c, absent), c) for c in layer.columns}
    if layer.record_type.dated:
        data["date_last"] = [e or d for d, e in zip(data["date"], data["date_end"],
                                                    strict=True)]
    if layer.geometry:
        geoms = (records["geometry"].to_numpy() if "geometry" in records
                 else shapely.points(records["lon"].to_numpy(float),
                                     records["lat"].to_numpy(float)))
        data["geom"] = gpkg_blobs(geoms)
    until = until_text(records) if layer.record_type.dated else None
    values = list(zip(*data.values(), strict=True))
    keep = range(len(values))
    if len(set(data["id"])) < len(values):  # an id twice in one batch: the last one wins
        last = {ident: k for k, ident in enumerate(data["id"])}
        keep = [k for k in keep if last[data["id"][k]] == k]
    # a column added by a later schema version counts only where it holds a value: a
    # record stored before it existed keeps its hash (it has not changed)
    later = [k for k, c in enumerate(data) if (layer.table, c) in LATER_COLUMNS]
    hashed = [(*values[k], hashlib.sha256(repr(_hashed(values[k], later)).encode()
                                          ).hexdigest())
              for k in keep]
    if until is None:
        return [*data, "record_hash"], hashed
    # the end is derived from the dates the hash holds: left out of it (a change of the
    # rule is no change of the record)
    return [*data, "record_hash", "date_until"], [(*row, until[k])
                                                  for row, k in zip(hashed, keep, strict=True)]


def _hashed(row: tuple, later: list[int]) -> tuple:
    """A row as its hash reads it: the values of later columns (positions ``later``)
    only where set, after the others."""
    if not later:
        return row
    kept = tuple(v for k, v in enumerate(row) if k not in later)
    extra = tuple(row[k] for k in later if row[k] is not None)
    return kept + extra if extra else kept


def until_text(records: pd.DataFrame) -> list[str | None]:
    """Each record's ``date_until``: the moment its period is over
    (``geo.dates.period_end_exclusive``: "Sep 2025" lasts to 1 October), as stored
    text; the period filter's key."""
    return as_stored(record_periods(records)[1], "date")


def fill_date_until(con, param: str) -> None:
    """Schema version 5's data: ``date_until`` of every dated record already stored."""
    for table in DATED_TABLES_V5:
        layer = LAYERS[table]
        wanted = [c for c in ("date", "date_end", "date_precision") if c in layer.columns]
        rows = con.execute(f'SELECT fid, {", ".join(wanted)} FROM "{layer.table}"').fetchall()
        if not rows:
            continue
        frame = pd.DataFrame(rows, columns=["fid", *wanted])
        con.cursor().executemany(
            f'UPDATE "{layer.table}" SET date_until = {param} WHERE fid = {param}',
            list(zip(until_text(frame), frame["fid"].astype(int).tolist(), strict=True)))


def _insert_sql(table: str, columns: Sequence[str], param: str) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join([param] * len(columns))})")


class BatchWriter:
    """Writes batches of records inside an import's transaction (see
    :meth:`StoreBase.importing`); ``reports`` sums what each table got. A backend gives
    ``_upsert`` and, where it has them, ``_after_write`` (extents) and
    ``_after_restore`` (id counters)."""

    def __init__(self, con, param: str, who: str = "") -> None:
        self._con = con
        self._param = param
        self._totals: dict[str, list[int]] = {}
        #: Ids inserted or changed so far, by table.
        self.changed: dict[str, set[str]] = {}
        #: The store written to (its filter SQL serves the alert rules).
        self.store: StoreBase | None = None
        self.cancelled = False
        #: Who imports (the signed-in user, else the operating-system user).
        self.who = who or current_user()
        #: Whether the import is written to the log (not for a copy of a store).
        self.logged = True
        #: The log's report instead of the tables' counts (an import that was refused).
        self.refused = ""

    def _upsert(self, layer: Layer, records: pd.DataFrame) -> ImportReport:
        raise NotImplementedError

    def _after_write(self, tables: Sequence[str]) -> None:
        """Bookkeeping of the tables an import wrote (before it is logged)."""

    def _after_restore(self, counters: Sequence[tuple[str, str]]) -> None:
        """Bookkeeping after rows were copied in with their ids: (table, id column)."""

    def _run_many(self, statement: str, rows: list[tuple]) -> None:
        with closing(self._con.cursor()) as cursor:
            cursor.executemany(statement, rows)

    def write(self, batches: dict[str, pd.DataFrame]) -> None:
        """Upsert one batch of records per table (not yet committed)."""
        for name, frame in batches.items():
            if len(frame):
                got = self._upsert(LAYERS[name], frame)
                self.changed.setdefault(name, set()).update(got.changed)
                totals = self._totals.setdefault(name, [0, 0, 0])
                for k, n in enumerate((got.inserted, got.updated, got.unchanged)):
                    totals[k] += n

    def cancel(self) -> None:
        """Write nothing: the transaction is rolled back at the end of the import."""
        self.cancelled = True

    @property
    def reports(self) -> list[ImportReport]:
        """Per table: inserted, updated, unchanged so far."""
        return [ImportReport(name, *t) for name, t in self._totals.items()]

    def report(self) -> str:
        """The import log's words for this import."""
        return f"refused: {self.refused}" if self.refused else "; ".join(map(str, self.reports))

    def finish(self, file: str, sha256: str) -> None:
        """The tables' bookkeeping, and the import in the log (inside the transaction);
        the history rows it made get its id."""
        self._after_write(list(self._totals))
        if not self.logged:
            return
        columns = ("file", "sha256", "imported_at", "report", "imported_by")
        import_id = self._con.execute(
            _insert_sql("imports", columns, self._param) + " RETURNING import_id",
            (file, sha256, utc_text(), self.report(), self.who)).fetchone()[0]
        self._con.execute(f"UPDATE history SET import_id = {self._param} "
                          "WHERE import_id IS NULL", (import_id,))
        if self.store is not None and self.changed.get("incidents"):
            from geo.alerts import queue_alerts  # (the rules' module reads the store's)

            queue_alerts(self.store, self._con, sorted(self.changed["incidents"]), import_id)

    def restore_log(self, imports: pd.DataFrame, history: pd.DataFrame) -> None:
        """Write another store's import log and history as they are (a copy); the copy
        itself is then not logged."""
        self.logged = False
        self._run_many(_insert_sql("imports", LOG_COLUMNS, self._param),
                       plain_rows(imports[list(LOG_COLUMNS)]))
        self._run_many(_insert_sql("history", HISTORY_COLUMNS, self._param),
                       plain_rows(history[list(HISTORY_COLUMNS)]))
        self._after_restore([("imports", "import_id"), ("history", "history_id")])

    def restore_views(self, views: pd.DataFrame, log: pd.DataFrame) -> None:
        """Write another store's shared views and their log as they are (a copy)."""
        from geo.store.views import VIEW_COLUMNS, VIEW_LOG_COLUMNS

        for table, columns, frame in (("views", VIEW_COLUMNS, views),
                                      ("view_log", VIEW_LOG_COLUMNS, log)):
            self._run_many(_insert_sql(table, columns, self._param),
                           plain_rows(frame[list(columns)]))
        self._after_restore([("view_log", "log_id")])

    def restore_tables(self, tables: dict[str, pd.DataFrame],
                       counters: Sequence[tuple[str, str]] = ()) -> None:
        """Write another store's rows of plain tables (the alerts') as they are (a copy);
        ``counters``: (table, id column) whose id counter then moves past them."""
        for table, frame in tables.items():
            if len(frame):
                self._run_many(_insert_sql(table, tuple(frame.columns), self._param),
                               plain_rows(frame))
        self._after_restore(list(counters))


# --- Reading --------------------------------------------------------------------------

class StoreBase:
    """What both backends share, over their hooks (see the module's docstring)."""

    #: The driver's placeholder for a query parameter.
    PARAM = "?"
    #: Where the store is, as text: what caches key on.
    location: str

    @staticmethod
    def _fragment(text: str):
        """SQL text as the backend's driver takes a piece of a query."""
        return text

    def connect(self):
        raise NotImplementedError

    @staticmethod
    def _time_text(column: str) -> str:
        """SQL giving a stored time as ISO 8601 text in UTC."""
        return column

    def _read(self, layer: Layer, where, params: list, columns: Sequence[str] | None,
              order=None) -> pd.DataFrame:
        raise NotImplementedError

    def _tables_denied(self, tables: Sequence[str]) -> set[str]:
        """Which of ``tables`` this store's connection may not write."""
        raise NotImplementedError

    def denied_writes(self) -> frozenset[str]:
        """The kinds of write (:data:`WRITES`) this store's connection has not the
        rights for: a read-only file, or a database role granted only SELECT."""
        denied = self._tables_denied(sorted({t for ts in WRITES.values() for t in ts}))
        return frozenset(kind for kind, tables in WRITES.items() if denied & set(tables))

    def _where(self, filters: IncidentFilter) -> tuple:
        """``WHERE`` clause and parameters of a filter's SQL part: all but the outline of
        a drawn area or a ring, whose box it holds (through :meth:`_box_sql`, on the
        backend's spatial index)."""
        clauses, params = self._filter_sql(filters)
        return self._fragment("WHERE " + " AND ".join(clauses) if clauses else ""), params

    def matching_sql(self, filters: IncidentFilter, ids_table: str) -> tuple:
        """A query of (id, lon, lat) of the incidents ``filters`` selects (less its
        outline, see :meth:`_where`) among those whose ids ``ids_table`` holds."""
        clauses, params = self._filter_sql(filters)
        clauses.append(f"id IN (SELECT id FROM {ids_table})")
        return (self._fragment("SELECT id, lon, lat FROM incidents WHERE "
                               + " AND ".join(clauses)), params)

    def _filter_sql(self, filters: IncidentFilter) -> tuple[list[str], list]:
        """The SQL conditions of a filter (see :meth:`_where`) and their parameters."""
        p = self.PARAM
        clauses: list[str] = []
        params: list = []
        if filters.start is not None:  # the incident's period overlaps the range
            clauses.append(f"date_until > {p}")
            params.append(timestamp_text(filters.start, end_of_day=False))
        if filters.end is not None:
            clauses.append(f"date <= {p}")
            params.append(timestamp_text(filters.end, end_of_day=True))
        if filters.near is not None:
            column, km = filters.near_column
            clauses.append(f'"{column}" <= {p}')
            params.append(km)
        for column, values in (("type", filters.types), ("country_iso3", filters.countries),
                               ("confidence", filters.confidence)):
            if values is not None:
                clauses.append(f'"{column}" IN ({", ".join([p] * len(values))})' if values
                               else "1 = 0")
                params.extend(values)
        box = filters.search_box()
        if box is not None:
            clauses.append(POSITIONED)  # a region's stand-in point is in no area
            clause, box_params = self._box_sql(box)
            clauses.append(clause)
            params.extend(box_params)
        return clauses, params

    def _box_sql(self, box: tuple[float, float, float, float]) -> tuple[str, list]:
        """SQL keeping the positions in a (west, south, east, north) box, through the
        backend's spatial index, and its parameters."""
        raise NotImplementedError

    def importing(self, *, file: str = "", sha256: str = "",
                  on_wait: Callable[[str], None] | None = None,
                  lock_wait_s: float | None = None,
                  who: str = "") -> AbstractContextManager[BatchWriter]:
        raise NotImplementedError

    def query(self, text: str, params: Sequence = ()) -> list[tuple]:
        """The rows of one read (parameters as :attr:`PARAM`)."""
        with closing(self.connect()) as con:
            return con.execute(text, params).fetchall()

    def _count(self, where, params: list) -> int:
        with closing(self.connect()) as con:
            return con.execute(self._fragment("SELECT count(*) FROM incidents ") + where,
                               params).fetchone()[0]

    def _checked_columns(self, layer: Layer, columns: Sequence[str] | None) -> list[str]:
        wanted = list(columns) if columns else layer.columns
        unknown = sorted(set(wanted) - set(layer.columns))
        if unknown:
            msg = f"unknown column(s) {unknown} of {layer.table}; known: {layer.columns}"
            raise InputError(msg)
        return wanted

    @staticmethod
    def _typed(frame: pd.DataFrame) -> pd.DataFrame:
        """Stored values as the tables' types: dates as UTC timestamps, booleans."""
        for c in DATE_COLUMNS & set(frame.columns):
            frame[c] = pd.to_datetime(frame[c], utc=True, format="ISO8601")
        for c in BOOL_COLUMNS & set(frame.columns):
            frame[c] = frame[c].astype("boolean")
        for c in REAL_COLUMNS & set(frame.columns):
            frame[c] = frame[c].astype(float)
        return frame

    def incidents(self, filters: IncidentFilter | None = None, *,
                  columns: Sequence[str] | None = None,
                  newest: int | None = None) -> pd.DataFrame:
        """The incidents a filter selects (every one without a filter), every column or
        ``columns``; ``newest``: only that many, the most recent first.

        The period, types, airspaces, confidence, distance and the area's box are SQL
        on indexed columns; a drawn polygon and a ring around a place then drop the
        box's rows outside them (with ``newest``, among the box's newest rows)."""
        filters = filters or IncidentFilter()
        if filters.is_empty():
            return self._read(INCIDENTS, self._fragment("WHERE 1 = 0"), [], columns)
        where, params = self._where(filters)
        order = "ORDER BY fid"
        if newest is not None:  # only the most recent ones
            order = f"ORDER BY date DESC, fid LIMIT {self.PARAM}"
            params = [*params, int(newest)]
        wanted = list(columns) if columns else None
        if wanted and filters.has_outline:
            wanted = list(dict.fromkeys([*wanted, "lon", "lat"]))
        found = apply_outline(filters, self._read(INCIDENTS, where, params, wanted,
                                                  self._fragment(order)))
        return found[list(columns)] if columns else found

    def count_incidents(self, filters: IncidentFilter | None = None) -> int:
        """How many incidents a filter selects."""
        filters = filters or IncidentFilter()
        if filters.is_empty():
            return 0
        if filters.has_outline:
            return len(self.incidents(filters, columns=["lon", "lat"]))
        return self._count(*self._where(filters))

    def record(self, table: str, ident: str) -> pd.DataFrame:
        """The record ``ident`` of a table (one row, or none)."""
        return self._read(LAYERS[table], self._fragment(f"WHERE id = {self.PARAM}"),
                          [ident], None)

    def incident(self, ident: str) -> pd.Series | None:
        """One incident by id, every column; None when there is no such id."""
        found = self.record("incidents", ident)
        return None if found.empty else found.iloc[0]

    def records(self, table: str) -> pd.DataFrame:
        """Every record of a table; line tables come with shapely ``geometry``."""
        return self._read(LAYERS[table], self._fragment(""), [], None)

    def write(self, batches: dict[str, pd.DataFrame], *, file: str = "",
              sha256: str = "") -> list[ImportReport]:
        """Upsert records into several tables in one transaction, logged in ``imports``.

        ``batches`` maps a table name (see :data:`LAYERS`) to its valid records.
        """
        with self.importing(file=file, sha256=sha256) as writer:
            writer.write(batches)
        return writer.reports

    def counts(self) -> dict[str, int]:
        """Number of records in each table."""
        return {name: self.query(f'SELECT count(*) FROM "{name}"')[0][0] for name in LAYERS}

    def date_range(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """Earliest start and latest end of the incidents (None when empty)."""
        (low, high), = self.query(f"SELECT {self._time_text('min(date)')}, "
                                   f"{self._time_text('max(date_last)')} FROM incidents")
        return (pd.Timestamp(low) if low else None, pd.Timestamp(high) if high else None)

    def distinct(self, column: str) -> list[str]:
        """Distinct non-empty values of an incident column, sorted."""
        if column not in INCIDENTS.columns:
            msg = f"unknown incident column {column!r}"
            raise InputError(msg)
        return [r[0] for r in self.query(f'SELECT DISTINCT "{column}" FROM incidents '
                                          f"WHERE \"{column}\" <> '' ORDER BY 1")]

    def history_rows(self, table: str, ident: str) -> list[tuple]:
        """The replaced versions of a record, oldest first: (version, record as JSON,
        replaced at, import id, file of that import, who imported it)."""
        p = self.PARAM
        return [tuple(r) for r in self.query(
            f"SELECT h.version, h.record, {self._time_text('h.replaced_at')}, h.import_id, "
            "i.file, i.imported_by FROM history h LEFT JOIN imports i USING (import_id) "
            f"WHERE h.table_name = {p} AND h.id = {p} ORDER BY h.version", (table, ident))]

    def imports(self) -> pd.DataFrame:
        """The import log: id, file, SHA-256, when, who, what it did."""
        rows = self.query(f"SELECT import_id, file, sha256, {self._time_text('imported_at')}, "
                           "imported_by, report FROM imports ORDER BY import_id")
        return pd.DataFrame(rows, columns=list(LOG_COLUMNS))

    def dump_log(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The import log and the record history, every row (for a copy)."""
        rows = self.query(
            "SELECT history_id, table_name, id, version, record, record_hash, "
            f"{self._time_text('replaced_at')}, import_id FROM history ORDER BY history_id")
        return self.imports(), pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))


class Store(Protocol):
    """What the dashboard and the command line use of a store, whichever the backend."""

    path: object
    location: str
    PARAM: str

    def connect(self): ...

    def incidents(self, filters: IncidentFilter | None = None, *,
                  columns: Sequence[str] | None = None,
                  newest: int | None = None) -> pd.DataFrame: ...

    def count_incidents(self, filters: IncidentFilter | None = None) -> int: ...

    def record(self, table: str, ident: str) -> pd.DataFrame: ...

    def incident(self, ident: str) -> pd.Series | None: ...

    def records(self, table: str) -> pd.DataFrame: ...

    def write(self, batches: dict[str, pd.DataFrame], *, file: str = "",
              sha256: str = "") -> list[ImportReport]: ...

    def importing(self, *, file: str = "", sha256: str = "",
                  on_wait: Callable[[str], None] | None = None,
                  lock_wait_s: float | None = None,
                  who: str = "") -> AbstractContextManager[BatchWriter]: ...

    def transaction(self) -> AbstractContextManager: ...

    def counts(self) -> dict[str, int]: ...

    def version(self) -> tuple[int, float]: ...

    def denied_writes(self) -> frozenset[str]: ...

    def date_range(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]: ...

    def distinct(self, column: str) -> list[str]: ...

    def history_rows(self, table: str, ident: str) -> list[tuple]: ...

    def imports(self) -> pd.DataFrame: ...

    def dump_log(self) -> tuple[pd.DataFrame, pd.DataFrame]: ...

    def incidents_query_plan(self, filters: IncidentFilter) -> str: ...

