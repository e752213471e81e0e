"""The incident store: a GeoPackage file (an SQLite database) holding every record type.

Each record type is a GeoPackage table (incidents and deployments as points, tracks and
defence lines as lines, sources as plain attributes), readable by GDAL/QGIS/geopandas.
The store is written through SQLite directly so that an import is one transaction:

- all or nothing: a crash or a kill during an import leaves the store as it was;
- readers never see half an import (write-ahead log: they read the last commit);
- records are upserted by ``id``; a record whose content is unchanged is not touched,
  so importing the same file twice changes nothing.

Reads filter by date range, type, country and bounding box in SQL, on indexed columns.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.errors import InputError, StoreError
from geo.filters import IncidentFilter
from geo.schema import REAL_COLUMNS, column_kind
from geo.store.base import (
    ALERT_TABLES_SQL,
    BATCH_ROWS,
    DATED_TABLES_V5,
    EVENTS,
    LAYERS,
    LOCK_WAIT_S,
    SCHEMA_VERSION,
    SRS_ID,
    BatchWriter,
    ImportReport,
    Layer,
    StoreBase,
    columns_at,
    fill_date_until,
    layers_at,
    stored_rows,
    wkb_of_blob,
)

log = logging.getLogger(__name__)

_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
_GPKG_VERSION = 10400  # GeoPackage 1.4
#: SQLite's type of each kind of column (see ``geo.schema.column_kind``).
_SQL_TYPES = {"date": "TEXT", "real": "REAL", "bool": "BOOLEAN", "text": "TEXT"}


# --- GeoPackage structure ---------------------------------------------------------------

def _column_sql(name: str) -> str:
    if name == "id":
        return '"id" TEXT NOT NULL UNIQUE'
    return f'"{name}" {_SQL_TYPES[column_kind(name)]}'


def _create_layer_sql(layer: Layer, version: int = 1) -> list[str]:
    """A table as schema ``version`` makes it (its columns of that version; a dated
    table made after version 5 has ``date_until`` at once)."""
    cols = ["fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"]
    if layer.geometry:
        cols.append(f"geom {layer.geometry}")
    cols += [_column_sql(c) for c in columns_at(layer, version)]
    if layer.record_type.dated:
        cols.append("date_last TEXT")  # date_end, else date: the overlap filter's key
    cols.append("record_hash TEXT NOT NULL")
    until = layer.record_type.dated and version >= 5
    if until:
        cols.append("date_until TEXT")
    statements = [f'CREATE TABLE "{layer.table}" ({", ".join(cols)})']
    statements += [f'CREATE INDEX "{layer.table}_{c}_idx" ON "{layer.table}" ("{c}")'
                   for c in (*layer.indexed, *(["date_until"] if until else []))]
    data_type = "features" if layer.geometry else "attributes"
    statements.append(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
        f"VALUES ('{layer.table}', '{data_type}', '{layer.table}', "
        f"{SRS_ID if layer.geometry else 'NULL'})")
    if layer.geometry:
        statements.append(
            "INSERT INTO gpkg_geometry_columns VALUES "
            f"('{layer.table}', 'geom', '{layer.geometry}', {SRS_ID}, 0, 0)")
    return statements


def _create_schema(con: sqlite3.Connection) -> None:
    """The GeoPackage core tables (spec 1.4, requirements 10-22) and the store's tables."""
    con.execute(f"PRAGMA application_id = {_GPKG_APPLICATION_ID}")
    con.execute(f"PRAGMA user_version = {_GPKG_VERSION}")
    con.executescript("""
        CREATE TABLE gpkg_spatial_ref_sys (
            srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
            organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,
            description TEXT);
        CREATE TABLE gpkg_contents (
            table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
            identifier TEXT UNIQUE, description TEXT DEFAULT '',
            last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
            FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
        CREATE TABLE gpkg_geometry_columns (
            table_name TEXT NOT NULL, column_name TEXT NOT NULL,
            geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL,
            z TINYINT NOT NULL, m TINYINT NOT NULL,
            PRIMARY KEY (table_name, column_name),
            FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
            FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
        CREATE TABLE imports (
            import_id INTEGER PRIMARY KEY AUTOINCREMENT, file TEXT NOT NULL,
            sha256 TEXT, imported_at TEXT NOT NULL, report TEXT NOT NULL);
    """)
    con.executemany(
        "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
        [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", None),
         ("Undefined geographic SRS", 0, "NONE", 0, "undefined", None),
         ("WGS 84 geodetic", SRS_ID, "EPSG", SRS_ID, CRS.from_epsg(SRS_ID).to_wkt(),
          "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid")])
    for layer in layers_at(1):
        for statement in _create_layer_sql(layer):
            con.execute(statement)


def _rtree_sql(table: str) -> str:
    """The GeoPackage R-tree spatial index extension on ``table``'s points: the index
    table, the spec's triggers that keep it current on any writer (GDAL and QGIS have
    its ST_ functions; this module registers them on its own connections), its
    registration, and the index filled from the rows already there (an index GDAL or
    QGIS made already is kept and refreshed). An update deletes
    then inserts (GeoPackage 1.4's update6), which an upsert's conflict policy allows."""
    rtree = f"rtree_{table}_geom"
    bounds = "ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)"
    has = "NEW.geom NOT NULL AND NOT ST_IsEmpty(NEW.geom)"
    lacks = "NEW.geom IS NULL OR ST_IsEmpty(NEW.geom)"
    return f"""
        CREATE TABLE IF NOT EXISTS gpkg_extensions (
            table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
            definition TEXT NOT NULL, scope TEXT NOT NULL,
            CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
        CREATE VIRTUAL TABLE IF NOT EXISTS {rtree} USING rtree(id, minx, maxx, miny, maxy);
        CREATE TRIGGER IF NOT EXISTS {rtree}_insert AFTER INSERT ON {table} WHEN ({has})
        BEGIN INSERT OR REPLACE INTO {rtree} VALUES (NEW.fid, {bounds}); END;
        CREATE TRIGGER IF NOT EXISTS {rtree}_update6 AFTER UPDATE OF geom ON {table}
        WHEN OLD.fid = NEW.fid AND ({has})
        BEGIN DELETE FROM {rtree} WHERE id = OLD.fid;
              INSERT INTO {rtree} VALUES (NEW.fid, {bounds}); END;
        CREATE TRIGGER IF NOT EXISTS {rtree}_update2 AFTER UPDATE OF geom ON {table}
        WHEN OLD.fid = NEW.fid AND ({lacks})
        BEGIN DELETE FROM {rtree} WHERE id = OLD.fid; END;
        CREATE TRIGGER IF NOT EXISTS {rtree}_update3 AFTER UPDATE ON {table}
        WHEN OLD.fid != NEW.fid AND ({has})
        BEGIN DELETE FROM {rtree} WHERE id = OLD.fid;
              INSERT INTO {rtree} VALUES (NEW.fid, {bounds}); END;
        CREATE TRIGGER IF NOT EXISTS {rtree}_update4 AFTER UPDATE ON {table}
        WHEN OLD.fid != NEW.fid AND ({lacks})
        BEGIN DELETE FROM {rtree} WHERE id IN (OLD.fid, NEW.fid); END;
        CREATE TRIGGER IF NOT EXISTS {rtree}_delete AFTER DELETE ON {table} WHEN old.geom NOT NULL
        BEGIN DELETE FROM {rtree} WHERE id = OLD.fid; END;
        INSERT OR IGNORE INTO gpkg_extensions VALUES ('{table}', 'geom', 'gpkg_rtree_index',
            'http://www.geopackage.org/spec120/#extension_rtree', 'write-only');
        INSERT OR REPLACE INTO {rtree} SELECT fid, lon, lon, lat, lat FROM {table}
            WHERE geom IS NOT NULL AND lon IS NOT NULL AND lat IS NOT NULL;
    """


def _blob_point(blob: bytes | None) -> tuple[float, float] | None:
    """(x, y) of a GeoPackage point blob; None for no geometry or an empty point."""
    if blob is None:
        return None
    wkb = wkb_of_blob(blob)
    order = "<" if wkb[0] == 1 else ">"
    kind = struct.unpack_from(f"{order}I", wkb, 1)[0] % 1000
    if kind != 1:  # not a point: its bounds
        geom = shapely.from_wkb(wkb)
        if geom.is_empty:
            return None
        x0, y0, x1, y1 = geom.bounds
        return (x0 + x1) / 2, (y0 + y1) / 2
    x, y = struct.unpack_from(f"{order}dd", wkb, 5)
    return None if (x != x or y != y) else (x, y)  # NaN coordinates: an empty point


def _register_functions(con: sqlite3.Connection) -> None:
    """The SQL functions the R-tree triggers call (points only, as the store keeps)."""
    last: list = [None, None]  # the triggers ask five times about each new row's blob

    def point_of(blob):
        if blob != last[0]:
            last[0], last[1] = blob, _blob_point(blob)
        return last[1]

    def coordinate(i: int):
        def read(blob):
            point = point_of(blob)
            return None if point is None else point[i]
        return read

    for name, i in (("ST_MinX", 0), ("ST_MaxX", 0), ("ST_MinY", 1), ("ST_MaxY", 1)):
        con.create_function(name, 1, coordinate(i), deterministic=True)
    con.create_function("ST_IsEmpty", 1, lambda blob: int(point_of(blob) is None),
                        deterministic=True)
    con.create_function("FW_WKB_HEX", 1, _wkb_hex, deterministic=True)


def _wkb_hex(blob: bytes | None) -> str | None:
    """The WKB of a GeoPackage geometry blob as hex (its header and envelope dropped)."""
    return None if blob is None else wkb_of_blob(blob).hex().upper()


_GPKG_MIGRATIONS = {
    2: """
        CREATE TABLE history (
            history_id INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL,
            id TEXT NOT NULL, version INTEGER NOT NULL, record TEXT NOT NULL,
            record_hash TEXT NOT NULL, replaced_at TEXT NOT NULL, import_id INTEGER);
        CREATE INDEX history_record_idx ON history (table_name, id);
        ALTER TABLE imports ADD COLUMN imported_by TEXT;
    """,
    3: "\n".join(_rtree_sql(table) for table in ("incidents", "deployments")),
    4: """
        CREATE TABLE views (
            view_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, query TEXT NOT NULL,
            owner TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
        CREATE TABLE view_log (
            log_id INTEGER PRIMARY KEY AUTOINCREMENT, view_id TEXT NOT NULL,
            action TEXT NOT NULL, name TEXT NOT NULL, query TEXT NOT NULL,
            who TEXT NOT NULL, at TEXT NOT NULL);
    """,
    5: "\n".join(f'ALTER TABLE "{t}" ADD COLUMN date_until TEXT;\n'
                 f'CREATE INDEX "{t}_date_until_idx" ON "{t}" (date_until);'
                 for t in DATED_TABLES_V5),
    # events, and the incidents' event and count
    6: """
        ALTER TABLE incidents ADD COLUMN "event" TEXT;
        ALTER TABLE incidents ADD COLUMN "count" REAL;
        CREATE INDEX incidents_event_idx ON incidents ("event");
    """ + "".join(f"{statement};\n" for statement in _create_layer_sql(EVENTS, 6))
    + ALERT_TABLES_SQL.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT"),
}
#: What a version computes for the rows already stored, after its statements.
_GPKG_FILLS = {5: lambda con: fill_date_until(con, "?")}


def _gpkg_version(con: sqlite3.Connection) -> int:
    """Schema version of a GeoPackage store (1: made before versions were recorded)."""
    found = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'"
                        ).fetchone()
    if not found:
        return 1
    return con.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 1


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a script, each whole (triggers hold ';' in their bodies)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        msg = f"incomplete SQL statement: {pending.strip()[:80]!r}"
        raise ValueError(msg)


def _migrate_gpkg(con: sqlite3.Connection) -> list[int]:
    """Bring a GeoPackage store to :data:`SCHEMA_VERSION`, one version per transaction."""
    current = _gpkg_version(con)
    if current > SCHEMA_VERSION:
        msg = (f"schema version {current} is newer than this Flankwatch "
               f"({SCHEMA_VERSION}); upgrade Flankwatch")
        raise StoreError(msg)
    applied = []
    for version in range(current + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN IMMEDIATE")
        if _gpkg_version(con) >= version:  # another process got there first
            con.execute("COMMIT")
            continue
        try:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                        "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            con.execute("INSERT OR IGNORE INTO schema_version VALUES "
                        "(1, strftime('%Y-%m-%dT%H:%M:%SZ','now'))")
            for statement in _statements(_GPKG_MIGRATIONS[version]):
                con.execute(statement)
            if version in _GPKG_FILLS:
                _GPKG_FILLS[version](con)
            con.execute("INSERT INTO schema_version VALUES "
                        "(?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))", (version,))
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        applied.append(version)
    return applied


def _geoms_from_blobs(blobs: Iterable) -> np.ndarray:
    """Geometries from GeoPackage blobs written by any GeoPackage writer."""
    return shapely.from_wkb(np.asarray([None if b is None else wkb_of_blob(b) for b in blobs],
                                       dtype=object))


# --- Connections ------------------------------------------------------------------------

def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    _register_functions(con)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = FULL")
    return con


#: SQLite's words for storage faults → what a user can act on.
_STORAGE_FAULTS = {
    "database or disk is full": "the disk is full",
    "readonly database": "the store is read-only",
    "disk i/o error": "the disk reported an input/output error (removed or failing?)",
    "unable to open database file": "the store's file or folder cannot be opened",
    "file is not a database": "the file is not an SQLite/GeoPackage database",
    "database is locked": "another process held the store's write lock too long",
}


def storage_fault(exc: sqlite3.Error) -> str:
    """A storage error in words: the cause, as SQLite reported it."""
    text = str(exc)
    plain = next((v for k, v in _STORAGE_FAULTS.items() if k in text.lower()), "")
    return f"{plain} ({text})" if plain else text


@contextmanager
def _store_errors(path: Path, doing: str) -> Iterator[None]:
    """Storage faults as a :class:`StoreError` naming the store and the cause."""
    try:
        yield
    except sqlite3.Error as exc:
        msg = f"store {path}: {doing}: {storage_fault(exc)}"
        raise StoreError(msg) from exc
    except OSError as exc:
        if isinstance(exc, StoreError):
            raise
        msg = f"store {path}: {doing}: {exc.strerror or exc}"
        raise StoreError(msg) from exc


# --- Writing ----------------------------------------------------------------------------

def _upsert(con: sqlite3.Connection, layer: Layer, records: pd.DataFrame) -> ImportReport:
    """Insert new ids, update changed ones, leave identical ones alone."""
    names, rows = stored_rows(layer, records)
    hash_at = names.index("record_hash")
    id_at = names.index("id")
    con.execute("CREATE TEMP TABLE IF NOT EXISTS incoming (id TEXT PRIMARY KEY, h TEXT)")
    con.execute("DELETE FROM incoming")
    con.executemany("INSERT INTO incoming VALUES (?, ?)",
                    [(r[id_at], r[hash_at]) for r in rows])
    old = dict(con.execute(f'SELECT s.id, s.record_hash FROM incoming i '
                           f'JOIN "{layer.table}" s ON s.id = i.id'))
    _keep_history(con, layer)
    quoted = ", ".join(f'"{n}"' for n in names)
    updates = ", ".join(f'"{n}" = excluded."{n}"' for n in names if n != "id")
    sql = (f'INSERT INTO "{layer.table}" ({quoted}) VALUES ({", ".join("?" * len(names))}) '
           f'ON CONFLICT(id) DO UPDATE SET {updates} '
           f'WHERE "{layer.table}".record_hash != excluded.record_hash')
    for start in range(0, len(rows), BATCH_ROWS):
        con.executemany(sql, rows[start:start + BATCH_ROWS])
        log.info("%s: wrote %d/%d rows (not committed)", layer.table,
                 min(start + BATCH_ROWS, len(rows)), len(rows))
    changed = sum(1 for r in rows if r[id_at] in old and old[r[id_at]] != r[hash_at])
    ids = tuple(r[id_at] for r in rows if old.get(r[id_at]) != r[hash_at])
    return ImportReport(layer.table, len(rows) - len(old), changed, len(old) - changed, ids)


def _history_json_sql(layer: Layer, alias: str) -> str:
    """SQL of a stored row as a JSON object of its columns (the geometry as WKB hex)."""
    def value(c: str) -> str:
        column = f'{alias}."{c}"'
        if c in REAL_COLUMNS:  # every digit (SQLite's own text form keeps 15)
            return f"CASE WHEN {column} IS NULL THEN NULL ELSE printf('%!.17g', {column}) END"
        return column

    pairs = [f"'{c}', {value(c)}" for c in layer.columns]
    if layer.geometry:  # the blob's WKB, whatever header (and envelope) wrote it
        pairs.append(f"'geom', FW_WKB_HEX({alias}.geom)")
    return f"json_object({', '.join(pairs)})"


def _keep_history(con: sqlite3.Connection, layer: Layer) -> None:
    """Copy the rows the incoming batch changes into ``history`` (same transaction),
    each numbered as its record's next version."""
    con.execute(
        "INSERT INTO history (table_name, id, version, record, record_hash, replaced_at) "
        f"SELECT ?, s.id, 1 + (SELECT count(*) FROM history h WHERE h.table_name = ? "
        f"AND h.id = s.id), {_history_json_sql(layer, 's')}, s.record_hash, "
        "strftime('%Y-%m-%dT%H:%M:%SZ','now') "
        f'FROM incoming i JOIN "{layer.table}" s ON s.id = i.id '
        "WHERE s.record_hash != i.h", (layer.table, layer.table))


def _update_extent(con: sqlite3.Connection, layer: Layer) -> None:
    if layer.table in ("incidents", "deployments"):
        con.execute(
            "UPDATE gpkg_contents SET (min_x, min_y, max_x, max_y) = "
            f'(SELECT min(lon), min(lat), max(lon), max(lat) FROM "{layer.table}"), '
            "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?",
            (layer.table,))


_LOCK_POLL_S = 0.25


def _begin_write(con: sqlite3.Connection, path: Path, on_wait, wait_s: float) -> None:
    """Take the store's write lock, waiting for another import to finish if need be."""
    deadline = time.monotonic() + wait_s
    con.execute(f"PRAGMA busy_timeout = {int(_LOCK_POLL_S * 1000)}")
    told = False
    while True:
        try:
            con.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                waited = f"{wait_s / 60:.0f} minutes" if wait_s >= 120 else f"{wait_s:g} s"
                msg = (f"store {path}: another import has held the store for over "
                       f"{waited}; try again when it has finished")
                raise StoreError(msg) from exc
            if not told and on_wait is not None:
                on_wait("waiting for another import to finish…")
                told = True
    con.execute("PRAGMA busy_timeout = 30000")


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``, None if there is none."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


class GeoPackageWriter(BatchWriter):
    """The GeoPackage's writer: upserts through SQLite, keeps the layers' extents."""

    def _upsert(self, layer: Layer, records: pd.DataFrame) -> ImportReport:
        return _upsert(self._con, layer, records)

    def _after_write(self, tables) -> None:
        for name in tables:
            _update_extent(self._con, LAYERS[name])


class GeoPackageStore(StoreBase):
    """An incident store file. Open it with :func:`geo.store.open_store`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    @property
    def location(self) -> str:
        """Where the store is (its file), as text: what caches key on."""
        return str(self.path)

    def connect(self) -> sqlite3.Connection:
        """A new connection (one per thread; the caller closes it)."""
        return _connect(self.path)

    def _tables_denied(self, tables: Sequence[str]) -> set[str]:
        """Every table when the file (or its folder, where SQLite keeps its journal)
        cannot be written by this process; none otherwise."""
        writable = os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)
        return set() if writable else set(tables)

    @contextmanager
    def importing(self, *, file: str = "", sha256: str = "",
                  on_wait: Callable[[str], None] | None = None,
                  lock_wait_s: float | None = None,
                  who: str = "") -> Iterator[GeoPackageWriter]:
        """One import as a transaction: batches written through the yielded writer are
        committed together at the end of the block, logged in ``imports``, or not at
        all (an error, or :meth:`BatchWriter.cancel`).

        The store has one writer at a time: another import's lock is waited for (up to
        ``lock_wait_s``, default :data:`LOCK_WAIT_S`), and ``on_wait`` is told once.
        """
        doing = "the import was not written and the store is unchanged"
        with _store_errors(self.path, doing), closing(self.connect()) as con:
            _begin_write(con, self.path, on_wait,
                         LOCK_WAIT_S if lock_wait_s is None else lock_wait_s)
            identity = _file_identity(self.path)
            writer = GeoPackageWriter(con, self.PARAM, who)
            writer.store = self
            try:
                yield writer
                if not writer.cancelled:
                    writer.finish(file, sha256)
                    if _file_identity(self.path) != identity:
                        msg = (f"store {self.path}: the file was removed or replaced "
                               "during the import; nothing was written")
                        raise StoreError(msg)
            except BaseException:
                with suppress(sqlite3.Error):  # SQLite may have rolled back already
                    con.execute("ROLLBACK")
                raise
            con.execute("ROLLBACK" if writer.cancelled else "COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction holding the store's write lock (so the rows it
        reads stay as read until it ends), committed at the end of the block or rolled
        back on an error."""
        with closing(self.connect()) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def incidents_query_plan(self, filters: IncidentFilter) -> str:
        """SQLite's plan for :meth:`incidents` with a filter (to check index use)."""
        where, params = self._where(filters)
        rows = self.query(f"EXPLAIN QUERY PLAN SELECT * FROM incidents {where}", params)
        return "\n".join(r[-1] for r in rows)

    def version(self) -> tuple[int, float]:
        """Changes whenever an import commits: (last import id, file modification time).
        Caches key on it."""
        last = self.query("SELECT max(import_id) FROM imports")[0][0] or 0
        return last, self.path.stat().st_mtime

    @staticmethod
    def _box_sql(box: tuple[float, float, float, float]) -> tuple[str, list]:
        # the R-tree finds the candidates, the coordinates decide
        min_lon, min_lat, max_lon, max_lat = box
        return ("fid IN (SELECT id FROM rtree_incidents_geom WHERE minx <= ? AND maxx >= ? "
                "AND miny <= ? AND maxy >= ?) AND lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?",
                [max_lon, min_lon, max_lat, min_lat, min_lon, max_lon, min_lat, max_lat])

    def _read(self, layer: Layer, where: str, params: list,
              columns=None, order: str | None = None) -> pd.DataFrame:
        order = order or "ORDER BY fid"
        wanted = self._checked_columns(layer, columns)
        geom = layer.geometry and layer.geometry != "POINT"
        select = ", ".join(f'"{c}"' for c in wanted) + (", geom" if geom else "")
        with closing(self.connect()) as con:
            frame = pd.read_sql_query(f'SELECT {select} FROM "{layer.table}" {where} {order}',
                                      con, params=params)
        if geom:
            frame["geometry"] = _geoms_from_blobs(frame.pop("geom"))
        return self._typed(frame)


def create_store(path: Path) -> GeoPackageStore:
    """Create an empty store at ``path`` (which must not exist)."""
    path = Path(path)
    if path.exists():
        msg = f"{path}: already exists"
        raise InputError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as con:  # open_store builds it aside and renames
        _create_schema(con)
        con.commit()
    with closing(sqlite3.connect(path, isolation_level=None)) as con:
        _migrate_gpkg(con)
    return GeoPackageStore(path)


def check_store(path: Path) -> GeoPackageStore:
    """The store at ``path``, after checking that it is one (a GeoPackage with the
    store's tables); else a :class:`StoreError` saying what it is instead."""
    if path.is_dir():
        msg = f"store {path}: is a folder; give the store's file (e.g. var/store.gpkg)"
        raise StoreError(msg)
    if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
        msg = (f"store {path}: is on a read-only file system; the store needs to write "
               "beside itself (its log), so copy it somewhere writable")
        raise StoreError(msg)
    with _store_errors(path, "cannot be opened as a store"), \
            closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as con:
        tables = {r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = sorted({layer.table for layer in layers_at(1)} - tables)
    if missing:
        msg = (f"store {path}: a database, but not an incident store (no table "
               f"{', '.join(missing)}); give a store file or a new path")
        raise StoreError(msg)
    # a file made by an older Flankwatch is brought up to date (the user's own file)
    with _store_errors(path, "cannot upgrade its schema"), closing(_connect(path)) as con:
        applied = _migrate_gpkg(con)
    if applied:
        log.info("store %s: schema upgraded (versions %s)", path, applied)
    return GeoPackageStore(path)


def create_from_seeds(target: Path, seeds) -> None:
    """Build a store of the seed records (a ``geo.records.RecordSet``) beside
    ``target``, then rename it into place, so two processes starting at once never see
    a half-built store."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        store = create_store(tmp)
        seeds.raise_if_rejected()
        store.write(seeds.batches(), file=str(seeds.directory))
        with closing(store.connect()) as con:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if not target.exists():
            os.replace(tmp, target)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
