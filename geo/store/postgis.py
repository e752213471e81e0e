"""The team store: the same tables as the GeoPackage, on a PostgreSQL + PostGIS server.

Opened from a ``postgresql://`` URL (e.g. ``postgresql://flankwatch@/flankwatch?
host=/run/postgresql``), with :func:`geo.store.open_store`. It offers what
:class:`geo.store.gpkg.GeoPackageStore` offers (the contract of :mod:`geo.store.base`), with
the same semantics:

- an import is one transaction; imports into one store take turns (a transaction-level
  advisory lock), so concurrent importers never lose a record and never see a conflict;
  readers see the state before or after each import, never half of one;
- records are upserted by ``id`` with the content hash of the GeoPackage store (a
  record moved from one store to the other is "unchanged");
- filters are SQL on B-tree indexes (dates, type, airspace) and a GiST index on the
  position; every value goes in as a query parameter.

The schema is the project's: :data:`SCHEMA_VERSION` in ``schema_version``, created by
``python -m geo store init`` and upgraded by ``python -m geo store migrate``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from urllib.parse import unquote

import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from geo.errors import StoreError
from geo.filters import IncidentFilter
from geo.schema import column_kind
from geo.store.base import (
    ALERT_TABLES_SQL,
    DATED_TABLES_V5,
    EVENTS,
    LOCK_WAIT_S,
    SCHEMA_VERSION,
    BatchWriter,
    ImportReport,
    Layer,
    StoreBase,
    columns_at,
    fill_date_until,
    layers_at,
    stored_rows,
)

log = logging.getLogger(__name__)

#: Key of the advisory lock that makes imports take turns.
_IMPORT_LOCK = 0x464C4B57  # "FLKW"
#: Key of the advisory lock that makes changes of the shared views take turns.
_VIEWS_LOCK = 0x464C5657  # "FLVW"
_BY_FID = sql.SQL("ORDER BY fid")
#: A timestamptz column as ISO 8601 text in UTC (the GeoPackage's form).
_UTC_TEXT = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#: Column types: points from lon/lat are 2-D points; track and line tables take any
#: geometry with SRID 4326 (Z values and multi-part lines, as the GeoPackage does).
_GEOMETRY_TYPES = {"POINT": "geometry(Point, 4326)", "LINESTRING": "geometry",
                   "GEOMETRY": "geometry"}


def _written_secrets(url: str) -> list[str]:
    """The pieces of a store URL, as written, that may be (part of) a password: what
    lies between the user's ``:`` and the last ``@`` of the part before the path (a
    password with an unescaped ``@`` reaches past where libpq stops reading it; one
    with an unescaped ``/`` leaves no ``@`` before the path, and libpq would take it
    for the port), and ``password=`` values."""
    rest = url.split("://", 1)[-1]
    authority = rest.split("/", 1)[0]
    found = []
    if "@" in authority:
        user_info = authority.rsplit("@", 1)[0]
        if ":" in user_info:
            found.append(user_info.split(":", 1)[1])
    elif ":" in authority and not authority.rsplit(":", 1)[1].isdigit():
        found.append(authority.split(":", 1)[1])  # user:password with no @ after it
    return found + re.findall(r"(?i)password=([^&#]*)", url)


def _secrets(url: str) -> list[str]:
    """Every piece that may be (part of) the URL's password, longest first: as written,
    %-decoded, and as libpq reads it."""
    found = _written_secrets(url)
    with suppress(psycopg.Error, ValueError, UnicodeError):
        found.append(conninfo_to_dict(url).get("password") or "")
    with suppress(ValueError, UnicodeError):
        found += [unquote(piece) for piece in found]
    return sorted({piece for piece in found if piece}, key=len, reverse=True)


#: Characters that end a URL's password where libpq reads it: one inside it means the
#: URL cannot be read as its writer meant (percent-encode them).
_URL_DELIMITERS = set("@/?#&")


def url_problem(url: str) -> str | None:
    """Why a store URL cannot be used as it is, in words that show no part of it (None
    when it reads)."""
    written = _written_secrets(url)
    authority = url.split("://", 1)[-1].split("/", 1)[0]
    if "@" not in authority and ":" in authority and written:
        return ("it has user:password with no @host after it (or a password with a / "
                "that is not percent-encoded: write %2F)")
    if any(_URL_DELIMITERS & set(piece) for piece in written):
        return ("its password holds an @, /, ?, # or & that is not percent-encoded "
                "(write %40, %2F, %3F, %23, %26)")
    try:
        conninfo_to_dict(url)
    except (psycopg.Error, ValueError, UnicodeError) as exc:
        return _reason(exc, url)
    return None


def shown_url(url: str) -> str:
    """A store URL as messages, logs and manifests give it: user, server and database
    only, never any part of a password (``user:pw@``, ``?password=``); a URL that
    cannot be read is shown as ``postgresql://…``."""
    if url_problem(url) is not None:
        return url.split("://", 1)[0][:20] + "://…"
    parts = conninfo_to_dict(url)
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = parts.get("host", "")
    where = f"?host={host}" if host.startswith("/") else ""
    server = "" if where else host + (f":{parts['port']}" if parts.get("port") else "")
    return f"postgresql://{user}{server}/{parts.get('dbname', '')}{where}"


#: A quoted piece of a message, in double or single quotes.
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def _reason(exc: Exception, url: str) -> str:
    """A driver error in words, without any part of the URL's password: every piece that
    may be the password is masked and, when the URL has one, every quoted piece of the
    message (libpq quotes what it cannot read, or a host it cannot find, which may be a
    piece of a password)."""
    text = str(exc).strip()
    secrets = _secrets(url)
    for piece in secrets:
        text = text.replace(piece, "***")
    if secrets:
        text = _QUOTED.sub(lambda m: m[0][0] + "…" + m[0][0], text)
    return text


#: PostgreSQL's type of each kind of column (see ``geo.schema.column_kind``).
_SQL_TYPES = {"date": "timestamptz", "real": "double precision", "bool": "boolean",
              "text": "text"}


def _column_type(name: str) -> str:
    return ("timestamptz" if name in ("date_last", "date_until")
            else _SQL_TYPES[column_kind(name)])


def _table_sql(layer: Layer, version: int = 1) -> list[sql.Composable]:
    """A table as schema ``version`` makes it (its columns of that version; a dated
    table made after version 5 has ``date_until`` at once)."""
    table = sql.Identifier(layer.table)
    columns = [sql.SQL("fid bigserial PRIMARY KEY")]
    if layer.geometry:
        columns.append(sql.SQL("geom {}").format(sql.SQL(_GEOMETRY_TYPES[layer.geometry])))
    for name in columns_at(layer, version):
        kind = "text NOT NULL UNIQUE" if name == "id" else _column_type(name)
        columns.append(sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)))
    if layer.record_type.dated:
        columns.append(sql.SQL("date_last timestamptz"))
    columns.append(sql.SQL("record_hash text NOT NULL"))
    until = layer.record_type.dated and version >= 5
    if until:
        columns.append(sql.SQL("date_until timestamptz"))
    out = [sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(columns))]
    for name in (*layer.indexed, *(["date_until"] if until else [])):
        out.append(sql.SQL("CREATE INDEX {} ON {} ({})").format(
            sql.Identifier(f"{layer.table}_{name}_idx"), table, sql.Identifier(name)))
    if layer.geometry:
        out.append(sql.SQL("CREATE INDEX {} ON {} USING gist (geom)").format(
            sql.Identifier(f"{layer.table}_geom_idx"), table))
    return out


#: Each schema version's statements, applied in order by ``init`` and ``migrate``.
MIGRATIONS: dict[int, Callable[[], list[sql.Composable]]] = {
    1: lambda: [
        sql.SQL("CREATE EXTENSION IF NOT EXISTS postgis"),
        sql.SQL("CREATE TABLE imports (import_id bigserial PRIMARY KEY, file text NOT NULL, "
                "sha256 text, imported_at timestamptz NOT NULL DEFAULT now(), "
                "report text NOT NULL)"),
        *[s for layer in layers_at(1) for s in _table_sql(layer)],
    ],
    2: lambda: [
        sql.SQL("CREATE TABLE history (history_id bigserial PRIMARY KEY, "
                "table_name text NOT NULL, id text NOT NULL, version int NOT NULL, "
                "record text NOT NULL, record_hash text NOT NULL, "
                "replaced_at timestamptz NOT NULL DEFAULT now(), import_id bigint)"),
        sql.SQL("CREATE INDEX history_record_idx ON history (table_name, id)"),
        sql.SQL("ALTER TABLE imports ADD COLUMN imported_by text"),
    ],
    # the GeoPackage's R-tree on positions; here the GiST indexes of version 1 serve
    3: lambda: [],
    # shared views (geo.store.views): times as the same ISO 8601 text the GeoPackage keeps
    4: lambda: [
        sql.SQL("CREATE TABLE views (view_id text PRIMARY KEY, name text NOT NULL UNIQUE, "
                "query text NOT NULL, owner text NOT NULL, created_at text NOT NULL, "
                "updated_at text NOT NULL)"),
        sql.SQL("CREATE TABLE view_log (log_id bigserial PRIMARY KEY, view_id text NOT NULL, "
                "action text NOT NULL, name text NOT NULL, query text NOT NULL, "
                "who text NOT NULL, at text NOT NULL)"),
    ],
    # when a record's period is over (see geo.store.base.until_text), filled below
    5: lambda: [
        *[sql.SQL("ALTER TABLE {} ADD COLUMN date_until timestamptz").format(
            sql.Identifier(table)) for table in DATED_TABLES_V5],
        *[sql.SQL("CREATE INDEX {} ON {} (date_until)").format(
            sql.Identifier(f"{table}_date_until_idx"), sql.Identifier(table))
          for table in DATED_TABLES_V5],
    ],
    # events, and the incidents' event and count
    6: lambda: [
        sql.SQL('ALTER TABLE incidents ADD COLUMN "event" text'),
        sql.SQL('ALTER TABLE incidents ADD COLUMN "count" double precision'),
        sql.SQL('CREATE INDEX incidents_event_idx ON incidents ("event")'),
        *_table_sql(EVENTS, 6),
        *[sql.SQL(statement) for statement in
          ALERT_TABLES_SQL.format(serial="bigserial PRIMARY KEY").split(";")
          if statement.strip()],
    ],
}
#: What a version computes for the rows already stored, after its statements.
FILLS = {5: lambda con: fill_date_until(con, "%s")}


def _connect(url: str, **kwargs) -> psycopg.Connection:
    problem = url_problem(url)  # read before libpq quotes the part it cannot read
    if problem is not None:
        msg = f"store {shown_url(url)}: the URL cannot be read: {problem}"
        raise StoreError(msg)
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.Error as exc:
        msg = f"store {shown_url(url)}: cannot connect: {_reason(exc, url)}"
        raise StoreError(msg) from exc


def schema_version(url: str) -> int:
    """The store's schema version; 0 for a database without the store's tables."""
    with _connect(url) as con:
        found = con.execute("SELECT to_regclass('schema_version')").fetchone()[0]
        if found is None:
            return 0
        return con.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0


def migrate(url: str, *, target: int = SCHEMA_VERSION) -> list[int]:
    """Bring the schema to ``target`` (creating it in an empty database); returns the
    versions applied. Each version is one transaction, recorded in ``schema_version``."""
    applied = []
    with _connect(url) as con:
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version int PRIMARY KEY, "
                    "applied_at timestamptz NOT NULL DEFAULT now())")
        con.commit()
        current = con.execute("SELECT coalesce(max(version), 0) FROM schema_version"
                              ).fetchone()[0]
        if current > SCHEMA_VERSION:
            msg = (f"store {shown_url(url)}: schema version {current} is newer than this "
                   f"Flankwatch ({SCHEMA_VERSION}); upgrade Flankwatch")
            raise StoreError(msg)
        for version in range(current + 1, target + 1):
            with con.transaction():
                con.execute("SELECT pg_advisory_xact_lock(%s)", (_IMPORT_LOCK,))
                done = con.execute("SELECT coalesce(max(version), 0) FROM schema_version"
                                   ).fetchone()[0]
                if done >= version:  # another process got there first
                    continue
                for statement in MIGRATIONS[version]():
                    con.execute(statement)
                if version in FILLS:
                    FILLS[version](con)
                con.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied


class PostgisWriter(BatchWriter):
    """The team store's writer: upserts through COPY and one merge per batch; after a
    copy, the id counters move past the copied ids."""

    def _upsert(self, layer: Layer, records: pd.DataFrame) -> ImportReport:
        return _upsert(self._con, layer, records)

    def _after_restore(self, counters) -> None:
        for table, column in counters:
            self._con.execute(sql.SQL(
                "SELECT setval(pg_get_serial_sequence(%s, %s), "
                "coalesce((SELECT max({}) FROM {}), 0) + 1, false)").format(
                    sql.Identifier(column), sql.Identifier(table)), (table, column))


def _upsert(con: psycopg.Connection, layer: Layer, records: pd.DataFrame) -> ImportReport:
    """Insert new ids, update changed ones, leave identical ones alone: the batch is
    copied into a temporary table, then merged in one statement."""
    names, rows = stored_rows(layer, records)
    if "geom" in names:  # the GeoPackage blob's 8-byte header off: plain WKB
        at = names.index("geom")
        rows = [(*r[:at], None if r[at] is None else bytes(r[at][8:]).hex(), *r[at + 1:])
                for r in rows]
    table = sql.Identifier(layer.table)
    # pg_temp: never a permanent table of the same name
    con.execute("DROP TABLE IF EXISTS pg_temp.incoming")
    con.execute(sql.SQL("CREATE TEMP TABLE incoming ({}, ordinal bigserial) ON COMMIT DROP")
                .format(sql.SQL(", ").join(
                    sql.SQL("{} text").format(sql.Identifier(n)) for n in names)))
    with con.cursor().copy(sql.SQL("COPY pg_temp.incoming ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, names)))) as copy:
        for row in rows:
            copy.write_row(row)
    old = dict(con.execute(sql.SQL(
        "SELECT DISTINCT s.id, s.record_hash FROM pg_temp.incoming i JOIN {} s "
        "ON s.id = i.id"
    ).format(table)).fetchall())

    _keep_history(con, layer)

    def value(name: str) -> sql.Composable:
        column = sql.Identifier(name)
        if name == "geom":
            return sql.SQL("ST_SetSRID(ST_GeomFromWKB(decode({}, 'hex')), 4326)").format(column)
        return sql.SQL("{}::{}").format(column, sql.SQL(_column_type(name)))

    targets = sql.SQL(", ").join(map(sql.Identifier, names))
    updates = sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(n))
                                 for n in names if n != "id")
    con.execute(sql.SQL(
        "INSERT INTO {table} ({targets}) SELECT {values} FROM (SELECT DISTINCT ON (id) * "
        "FROM pg_temp.incoming ORDER BY id, ordinal DESC) latest ORDER BY ordinal "
        "ON CONFLICT (id) DO UPDATE SET {updates} "
        "WHERE {table}.record_hash IS DISTINCT FROM excluded.record_hash"
    ).format(table=table, targets=targets, values=sql.SQL(", ").join(map(value, names)),
             updates=updates))
    log.info("%s: wrote %d rows (not committed)", layer.table, len(rows))
    hash_at, id_at = names.index("record_hash"), names.index("id")
    latest = {r[id_at]: r[hash_at] for r in rows}
    changed = sum(1 for i, h in latest.items() if i in old and old[i] != h)
    return ImportReport(layer.table, len(latest) - len(old), changed,
                        len(old) - changed, tuple(i for i, h in latest.items()
                                                  if old.get(i) != h))


def _history_json(layer: Layer) -> sql.Composable:
    """A stored row as JSON text in the GeoPackage's form: dates as ISO 8601 text in UTC,
    the geometry as WKB hex."""
    pairs = []
    for name in layer.columns:
        column = sql.SQL("s.{}").format(sql.Identifier(name))
        if column_kind(name) == "date":
            column = sql.SQL("to_char({} AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')").format(column)
        pairs += [sql.Literal(name), column]
    if layer.geometry:
        pairs += [sql.Literal("geom"), sql.SQL("encode(ST_AsBinary(s.geom, 'NDR'), 'hex')")]
    return sql.SQL("jsonb_build_object({})::text").format(sql.SQL(", ").join(pairs))


def _keep_history(con: psycopg.Connection, layer: Layer) -> None:
    """Copy the rows the incoming batch changes into ``history`` (same transaction),
    each numbered as its record's next version."""
    con.execute(sql.SQL(
        "INSERT INTO history (table_name, id, version, record, record_hash) "
        "SELECT %s, s.id, 1 + (SELECT count(*) FROM history h WHERE h.table_name = %s "
        "AND h.id = s.id), {json}, s.record_hash "
        "FROM (SELECT DISTINCT ON (id) id, record_hash FROM pg_temp.incoming "
        "ORDER BY id, ordinal DESC) i JOIN {table} s ON s.id = i.id "
        "WHERE s.record_hash <> i.record_hash"
    ).format(json=_history_json(layer), table=sql.Identifier(layer.table)),
        (layer.table, layer.table))


class PostgisStore(StoreBase):
    """A team store on PostgreSQL + PostGIS. Open it with :func:`geo.store.open_store`."""

    PARAM = "%s"
    _fragment = staticmethod(sql.SQL)

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = None  # no file: the dashboard keys its caches on :attr:`location`

    @property
    def location(self) -> str:
        return self.url

    def __str__(self) -> str:
        return shown_url(self.url)

    def connect(self) -> psycopg.Connection:
        """A new connection (the caller closes it)."""
        return _connect(self.url)

    def _tables_denied(self, tables: Sequence[str]) -> set[str]:
        """The tables on which the connection's role lacks INSERT, UPDATE or DELETE (an
        import updates, a view is deleted)."""
        with closing(self.connect()) as con:
            rows = con.execute(
                "SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NOT NULL AND "
                "NOT (has_table_privilege(t, 'INSERT') AND has_table_privilege(t, 'UPDATE')"
                " AND (t <> 'views' OR has_table_privilege(t, 'DELETE')))",
                (list(tables),)).fetchall()
        return {r[0] for r in rows}

    @staticmethod
    def _time_text(column: str) -> str:
        return _UTC_TEXT.format(column)

    @contextmanager
    def importing(self, *, file: str = "", sha256: str = "",
                  on_wait: Callable[[str], None] | None = None,
                  lock_wait_s: float | None = None,
                  who: str = "") -> Iterator[PostgisWriter]:
        """One import as one transaction, committed at the end of the block or not at
        all; imports take turns (``on_wait`` is told once when this one waits)."""
        con = self.connect()
        try:
            with con.transaction():
                if not con.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                   (_IMPORT_LOCK,)).fetchone()[0]:
                    if on_wait is not None:
                        on_wait("waiting for another import to finish…")
                    wait_s = LOCK_WAIT_S if lock_wait_s is None else lock_wait_s
                    timeout_ms = max(int(wait_s * 1000), 1)
                    con.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                        sql.Literal(f"{timeout_ms}ms")))
                    con.execute("SELECT pg_advisory_xact_lock(%s)", (_IMPORT_LOCK,))
                writer = PostgisWriter(con, self.PARAM, who)
                writer.store = self
                yield writer
                if writer.cancelled:
                    raise _CancelledError
                writer.finish(file, sha256)
        except _CancelledError:
            pass
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.errors.LockNotAvailable):
                waited = (LOCK_WAIT_S if lock_wait_s is None else lock_wait_s) / 60
                msg = (f"store {self}: another import has held the store for over "
                       f"{waited:.0f} minutes; try again when it has finished")
            else:
                msg = (f"store {self}: the import was not written and the store is "
                       f"unchanged: {_reason(exc, self.url)}")
            raise StoreError(msg) from exc
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A connection in a transaction that changes of the shared views take turns
        on (a transaction-level advisory lock), committed at the end of the block or
        rolled back on an error."""
        with closing(self.connect()) as con, con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(%s)", (_VIEWS_LOCK,))
            yield con

    @staticmethod
    def _box_sql(box: tuple[float, float, float, float]) -> tuple[str, list]:
        return "geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)", list(box)

    def incidents_query_plan(self, filters: IncidentFilter) -> str:
        """PostgreSQL's plan for :meth:`incidents` with a filter (to check index use)."""
        where, params = self._where(filters)
        with closing(self.connect()) as con:
            con.execute("SET enable_seqscan = off")  # small tables: show the usable index
            rows = con.execute(sql.SQL("EXPLAIN SELECT * FROM incidents {}").format(where),
                               params).fetchall()
        return "\n".join(r[0] for r in rows)

    def version(self) -> tuple[int, float]:
        """Changes whenever an import commits (caches key on it)."""
        (last, when), = self.query(
            "SELECT coalesce(max(import_id), 0), extract(epoch FROM max(imported_at)) "
            "FROM imports")
        return int(last), float(when or 0.0)

    def _read(self, layer: Layer, where: sql.Composable, params: list,
              columns: Sequence[str] | None,
              order: sql.Composable | None = None) -> pd.DataFrame:
        order = order or _BY_FID
        wanted = self._checked_columns(layer, columns)
        geom = layer.geometry and layer.geometry != "POINT"
        select = [sql.Identifier(c) for c in wanted]
        if geom:
            select.append(sql.SQL("ST_AsBinary(geom)"))
        query = sql.SQL("SELECT {} FROM {} {} {}").format(
            sql.SQL(", ").join(select), sql.Identifier(layer.table), where, order)
        with closing(self.connect()) as con:
            rows = con.execute(query, params).fetchall()
        names = [*wanted, *(["geom"] if geom else [])]
        frame = pd.DataFrame.from_records(rows, columns=names)
        if geom:
            blobs = np.asarray([None if b is None else bytes(b) for b in frame.pop("geom")],
                               dtype=object)
            frame["geometry"] = shapely.from_wkb(blobs)
        return self._typed(frame)


class _CancelledError(Exception):
    """Raised inside the import's transaction to roll it back on purpose."""


def open_postgis(url: str) -> PostgisStore:
    """The store at ``url``, after checking that its schema is this code's."""
    version = schema_version(url)
    if version == 0:
        msg = (f"store {shown_url(url)}: the database has no store tables yet; create them "
               f"with: python -m geo store init --store URL")
        raise StoreError(msg)
    if version != SCHEMA_VERSION:
        msg = (f"store {shown_url(url)}: schema version {version}, this Flankwatch reads "
               f"{SCHEMA_VERSION}; run: python -m geo store migrate --store URL")
        raise StoreError(msg)
    return PostgisStore(url)
