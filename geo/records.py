"""Record files: one file of any record type, or a directory of them, cross-checked.

A directory (such as ``seeds/``) holds ``incidents.csv``, ``deployments.csv``,
``defense_lines.geojson``, ``sources.csv`` and optionally ``tracks.geojson``. Every row
of every file ends up either among the valid records or in its file's rejection table.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geo.csvfile import CHUNK_RECORDS
from geo.dates import parse_date_column
from geo.enrich import prepare_incidents, rejection_report
from geo.errors import FlankwatchError, InputError, RowsRejectedError
from geo.readers import STREAMED_SUFFIXES, Table, iter_tables
from geo.schema import (
    DEFENSE_LINE,
    DEPLOYMENT,
    EVENT,
    INCIDENT,
    SOURCE,
    TRACK,
    RecordType,
    RejectList,
    coordinate_columns,
    report_names,
    split_list,
    validate_points,
    validate_records,
)

#: File stem → record type, for the files of a record directory.
FILE_TYPES = {"incidents": INCIDENT, "deployments": DEPLOYMENT,
              "defense_lines": DEFENSE_LINE, "tracks": TRACK, "sources": SOURCE,
              "events": EVENT}

#: Record type name → store table.
TABLE_OF = {"incident": "incidents", "deployment": "deployments",
            "defense_line": "defense_lines", "track": "tracks", "source": "sources",
            "event": "events"}

_LINE_TYPES = {"LineString", "MultiLineString"}

log = logging.getLogger(__name__)


def counted(n: int, noun: str) -> str:
    """A count with its noun, as people write it: "1 row", "2,500 rows"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@dataclass
class LoadedFile:
    """The valid records and the rejected rows of one file (or one part of a file)."""

    path: Path
    record_type: RecordType
    records: pd.DataFrame
    rejects: pd.DataFrame
    #: The GeoPackage layer the records come from, where the file has several.
    layer: str | None = None

    @property
    def total(self) -> int:
        """Input rows: valid plus rejected."""
        return len(self.records) + len(self.rejects)


@dataclass
class RecordSet:
    """Records loaded from files, by record type, with every rejected row."""

    directory: Path
    files: list[LoadedFile] = field(default_factory=list)

    def batches(self) -> dict[str, pd.DataFrame]:
        """Valid records per store table, in the order the store writes them."""
        out: dict[str, list[pd.DataFrame]] = {}
        for loaded in self.files:
            out.setdefault(TABLE_OF[loaded.record_type.name], []).append(loaded.records)
        return {name: pd.concat(frames, ignore_index=True) for name, frames in out.items()}

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per record type: (valid, rejected)."""
        out: dict[str, tuple[int, int]] = {}
        for f in self.files:
            valid, bad = out.get(f.record_type.name, (0, 0))
            out[f.record_type.name] = (valid + len(f.records), bad + len(f.rejects))
        return out

    @property
    def rejected(self) -> int:
        """Rejected rows over all files."""
        return sum(len(f.rejects) for f in self.files)

    def raise_if_rejected(self) -> None:
        """Raise :class:`RowsRejectedError` naming every rejected row."""
        if self.rejected:
            lines = [f"{f.path.name} row {r.row}: {r.field}: {r.reason}"
                     for f in self.files for r in f.rejects.itertuples()]
            msg = f"{self.rejected} invalid record(s):\n  " + "\n  ".join(lines)
            raise RowsRejectedError(msg, lines)


def record_type_of(path: Path, columns, layer: str | None = None) -> RecordType:
    """A file's (or layer's) record type: from its name in a record directory (or the
    layer's name, as in a store), else from its header."""
    for name in (layer, path.stem):
        if name in FILE_TYPES:
            return FILE_TYPES[name]
    names = {str(c).strip().lower() for c in columns}
    if {"kind", "status"} <= names:
        return DEPLOYMENT
    if "publication" in names:
        return SOURCE
    if {"borders", "depth_km"} & names:
        return DEFENSE_LINE
    if {"violations", "shot_down"} & names:
        return EVENT
    return INCIDENT


def _finish(path: Path, rt: RecordType, table: Table, typed: pd.DataFrame,
            rejects: RejectList) -> LoadedFile:
    return LoadedFile(path, rt, typed.drop(index=rejects.index),
                      rejection_report(table, rejects))


def _load_points(path: Path, table: Table, rt: RecordType) -> LoadedFile:
    rejects = table.rejects()
    if rt.geometry is None:  # an attribute table such as sources
        typed = validate_records(table.frame, rt, rejects)
        return _finish(path, rt, table, typed, rejects)
    lat_col, lon_col = ("lat", "lon") if table.points is not None else \
        coordinate_columns(list(table.frame.columns))
    work = (table.frame.assign(lat=table.points["lat"], lon=table.points["lon"])
            if table.points is not None else table.frame)
    coords = validate_points(work, lat_col, lon_col, rejects, check_dates=False)
    missing = coords["lat"].isna() | coords["lon"].isna()
    rejects.add_many(table.frame.index[missing & ~table.frame.index.isin(rejects.index)],
                     "lat,lon", "required but empty")
    typed = validate_records(table.frame, rt, rejects)
    typed[["lat", "lon"]] = coords[["lat", "lon"]]
    return _finish(path, rt, table, typed, rejects)


def _check_track_times(typed: pd.DataFrame, geoms: pd.Series, rejects: RejectList) -> None:
    """A track's ``times``, where given, are one per vertex, readable and in order."""
    for label, text in typed["times"].items():
        times = split_list(text)
        geom = geoms[label]
        if not times or geom is None or geom.geom_type != "LineString":
            continue
        parsed = parse_date_column(pd.Series(times))
        if (parsed["error"] != "").any():
            rejects.add(label, "times", parsed.loc[parsed["error"] != "", "error"].iloc[0])
        elif len(times) != len(geom.coords):
            rejects.add(label, "times", f"{len(times)} times for {len(geom.coords)} vertices")
        elif (parsed["date"].diff().dropna() < pd.Timedelta(0)).any():
            rejects.add(label, "times", "times go backwards")


def _load_lines(path: Path, table: Table, rt: RecordType) -> LoadedFile:
    rejects = table.rejects()
    if table.geometries is None:
        msg = f"{path}: {rt.name} records need line geometries (GeoJSON or GeoPackage)"
        raise InputError(msg)
    geoms = table.geometries
    allowed = _LINE_TYPES | ({"Polygon", "MultiPolygon"} if rt is DEFENSE_LINE else set())
    kinds = geoms.map(lambda g: None if g is None else g.geom_type)
    unread = geoms.index.isin(rejects.index)  # the reader found the geometry unusable
    wrong = ~kinds.isin(allowed) & ~unread
    rejects.add_many(geoms.index[wrong], "geometry",
                     kinds[wrong].map(lambda k: f"geometry is {k or 'missing'}; expected "
                                      f"one of {', '.join(sorted(allowed))}"))
    invalid = ~wrong & ~unread & ~geoms.map(lambda g: g is not None and g.is_valid).astype(bool)
    rejects.add_many(geoms.index[invalid], "geometry", "invalid geometry")
    frame = table.frame.copy()
    if rt is DEFENSE_LINE and "schematic" in frame:  # GeoJSON booleans arrive as bool
        frame["schematic"] = frame["schematic"].map(
            lambda v: str(v).lower() if isinstance(v, bool | np.bool_) else v)
    typed = validate_records(frame, rt, rejects)
    if rt is TRACK:
        _check_track_times(typed, geoms, rejects)
    typed["geometry"] = geoms
    return _finish(path, rt, table, typed, rejects)


def load_file(path: str | Path, *, record_type: RecordType | None = None,
              column_map: dict[str, str] | None = None) -> list[LoadedFile]:
    """Load one record file whole. An incident file with line features yields its
    tracks too. Incidents are validated and enriched (see
    :func:`geo.enrich.prepare_incidents`)."""
    merged: dict[tuple, LoadedFile] = {}
    for chunk in iter_load_file(path, record_type=record_type, column_map=column_map):
        for part in chunk.parts:
            key = (part.layer, part.record_type.name)
            got = merged.get(key)
            if got is None:
                merged[key] = part
                continue
            got.records = pd.concat([got.records, part.records])
            got.rejects = pd.concat([got.rejects, part.rejects], ignore_index=True)
    return list(merged.values())


@dataclass
class Chunk:
    """Records loaded from a part of a file (see :func:`iter_load_file`)."""

    parts: list[LoadedFile]
    #: The share of the file read so far.
    fraction: float


def iter_load_file(path: str | Path, *, record_type: RecordType | None = None,
                   column_map: dict[str, str] | None = None,
                   chunk_records: int = CHUNK_RECORDS) -> Iterator[Chunk]:
    """Load a record file a chunk at a time (a CSV file by :data:`CHUNK_RECORDS`
    records, a GeoPackage by layer). An id seen in an earlier chunk of the same record
    type is rejected as a duplicate, as within one."""
    path = Path(path)
    seen: dict[str, set] = {}
    for table in iter_tables(path, column_map=column_map, chunk_records=chunk_records):
        rt = record_type or record_type_of(path, table.frame.columns, table.layer)
        parts = _load_table(path, table, rt)
        for part in parts:
            if "id" in part.records:
                ids = part.records["id"]
                again = _seen_again(ids, part.rejects,
                                    seen.setdefault(part.record_type.name, set()))
                _reject_rows(part, again, "id", "duplicate id " + ids.map(repr), table.frame)
            part.layer = table.layer
            if table.layer is not None and len(part.rejects):
                part.rejects.insert(0, "layer", table.layer)
        yield Chunk(parts, table.fraction)


def _distinct(*paths: Path) -> None:
    """Refuse an output that is also the input or another output."""
    resolved = [p.resolve() for p in paths]
    for k, path in enumerate(resolved):
        if path in resolved[:k]:
            msg = f"{paths[k]}: given twice (as input or output); each file may have one role"
            raise InputError(msg)


def _seen_again(ids: pd.Series, rejects: pd.DataFrame, seen: set) -> pd.Series:
    """Which of a chunk's valid rows have an id an earlier chunk had (valid or rejected,
    as a duplicate is found within one chunk); ``seen`` then takes this chunk's ids.

    A set lookup per id: ``Series.isin`` would copy the whole set for every chunk.
    """
    ids = ids.astype("string").str.strip().fillna("")
    again = pd.Series(np.fromiter((i in seen for i in ids.tolist()), dtype=bool,
                                  count=len(ids)), index=ids.index) & (ids != "")
    seen.update(ids[ids != ""])
    if "id" in rejects.columns and len(rejects):
        refused = rejects["id"].astype("string").str.strip().dropna()
        seen.update(refused[refused != ""])
    return again


def _load_table(path: Path, table: Table, rt: RecordType) -> list[LoadedFile]:
    if rt in (DEFENSE_LINE, TRACK):
        return [_load_lines(path, table, rt)]
    if rt is not INCIDENT:
        return [_load_points(path, table, rt)]
    lines = {k for k, v in (table.non_points or {}).items() if v in _LINE_TYPES}
    if not lines:
        records, rejects = prepare_incidents(table)
        return [LoadedFile(path, INCIDENT, records, rejects)]
    # points are incidents, lines are tracks; each part keeps its own row numbers
    is_line = table.frame.index.isin(lines)
    points_part = dataclasses.replace(
        table, frame=table.frame[~is_line], points=table.points[~is_line],
        non_points={k: v for k, v in table.non_points.items() if k not in lines},
        geometries=table.geometries[~is_line])
    lines_part = dataclasses.replace(table, frame=table.frame[is_line], points=None,
                                     non_points={}, geometries=table.geometries[is_line])
    tracks = _load_lines(path, lines_part, TRACK)
    if is_line.all():  # a file of tracks only
        return [tracks]
    records, rejects = prepare_incidents(points_part)
    return [LoadedFile(path, INCIDENT, records, rejects), tracks]


def _reject_rows(loaded: LoadedFile, bad: pd.Series, field_name: str,
                 reasons: pd.Series, source: pd.DataFrame | None = None) -> None:
    """Move records flagged in ``bad`` to the rejection table (row numbers kept, and the
    input's values where ``source``, the input table, is given)."""
    if bad.any():
        loaded.rejects = _add_rejects(loaded.rejects, loaded.records.index[bad], field_name,
                                      reasons[bad], source)
        loaded.records = loaded.records[~bad]


def _add_rejects(rejects: pd.DataFrame, labels: pd.Index, field_name: str,
                 reasons: pd.Series, source: pd.DataFrame | None) -> pd.DataFrame:
    """``rejects`` with rows for the records at ``labels`` (positions in the input):
    ``row``, ``field``, ``reason``, then the input's values where ``source`` is given."""
    report = pd.DataFrame({"row": labels + 1, "field": field_name,
                           "reason": reasons.to_numpy()}, index=labels)
    if source is not None:
        values = source.loc[labels].set_axis(report_names(source.columns), axis=1)
        report = pd.concat([report, values], axis=1)
    return pd.concat([rejects, report], ignore_index=True).sort_values("row", kind="stable")


def cross_check(files: list[LoadedFile]) -> None:
    """Every ``sources`` id exists in the sources file; every track's ``incident_id``
    names an incident; every incident's ``event`` names an event of the events file.
    Offending records move to their file's rejects."""
    source_ids = {i for f in files if f.record_type is SOURCE for i in f.records["id"]}
    incident_ids = {i for f in files if f.record_type is INCIDENT for i in f.records["id"]}
    event_ids = {i for f in files if f.record_type is EVENT for i in f.records["id"]}
    for loaded in files:
        if event_ids and loaded.record_type is INCIDENT and "event" in loaded.records:
            ref = loaded.records["event"].fillna("")
            _reject_rows(loaded, (ref != "") & ~ref.isin(event_ids), "event",
                         "no event with id " + ref.map(repr))
        if source_ids and "sources" in loaded.records:
            unknown = loaded.records["sources"].map(
                lambda s: [i for i in split_list(s) if i not in source_ids])
            _reject_rows(loaded, unknown.map(bool), "sources",
                         unknown.map(lambda u: f"unknown source id(s) {u}"))
        if loaded.record_type is TRACK and incident_ids:
            ref = loaded.records["incident_id"]
            bad = (ref != "") & ~ref.isin(incident_ids)
            _reject_rows(loaded, bad, "incident_id",
                         "no incident with id " + ref.map(repr))


def load_directory(directory: str | Path) -> RecordSet:
    """Load and cross-check every record file of a directory (see module docstring)."""
    directory = Path(directory)
    if not directory.is_dir():
        msg = f"{directory}: not a directory"
        raise InputError(msg)
    found = [p for stem in FILE_TYPES for p in sorted(directory.glob(f"{stem}.*"))
             if p.suffix.lower() in (".csv", ".geojson", ".gpkg")]
    if not found:
        msg = f"{directory}: no record files ({', '.join(FILE_TYPES)})"
        raise InputError(msg)
    files = [loaded for path in found for loaded in load_file(path)]
    cross_check(files)
    return RecordSet(directory, files)


# --- importing ------------------------------------------------------------------------

#: Rejected rows an :class:`ImportResult` keeps in memory for display (all of them go to
#: the rejects file).
SHOWN_REJECTS = 1000


@dataclass
class ImportResult:
    """What :func:`import_file` did with one input file."""

    #: The input, and the name it is logged under (an upload's own file name).
    path: Path
    name: str
    #: Per record type name: [valid rows, rejected rows].
    counts: dict[str, list[int]] = field(default_factory=dict)
    #: The first :data:`SHOWN_REJECTS` rejected rows (``row``, ``field``, ``reason``,
    #: then the row's values), by record type name.
    shown_rejects: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Per store table: inserted/updated/unchanged; empty where nothing was written.
    tables: list = field(default_factory=list)
    #: Whether the valid records went into the store.
    written: bool = False

    @property
    def total(self) -> int:
        """Input rows (valid + rejected)."""
        return sum(v + r for v, r in self.counts.values())

    @property
    def rejected(self) -> int:
        """Rejected input rows."""
        return sum(r for _, r in self.counts.values())

    @property
    def valid(self) -> int:
        """Valid input rows."""
        return self.total - self.rejected

    def rejects(self) -> pd.DataFrame:
        """The rejected rows kept for display (see :data:`SHOWN_REJECTS`)."""
        frames = [f for f in self.shown_rejects.values() if len(f)]
        if not frames:
            return pd.DataFrame(columns=["row", "field", "reason"])
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> str:
        """One line: rows read, valid, rejected, and what the store did."""
        text = f"{self.name}: {counted(self.total, 'row')} read, {self.valid:,} valid"
        if self.rejected:
            text += f", {self.rejected:,} rejected"
        if self.written:
            text += "; " + ("; ".join(map(str, self.tables)) or "nothing to write")
        return text

    def _add(self, part: LoadedFile) -> None:
        name = part.record_type.name
        counts = self.counts.setdefault(name, [0, 0])
        counts[0] += len(part.records)
        counts[1] += len(part.rejects)
        self.shown_rejects[name] = _first_rejects(self.shown_rejects.get(name),
                                                  part.rejects)


def _first_rejects(shown: pd.DataFrame | None, more: pd.DataFrame) -> pd.DataFrame:
    """The first :data:`SHOWN_REJECTS` rejected rows of ``shown`` then ``more``."""
    if shown is None:
        return more.head(SHOWN_REJECTS)
    if len(shown) >= SHOWN_REJECTS or not len(more):
        return shown
    return pd.concat([shown, more], ignore_index=True).head(SHOWN_REJECTS)


class _RejectsFile:
    """Rejected rows for a rejects file (see :class:`geo.readers.TableWriter`): written
    as they come when ``streamed`` (a CSV input, whose chunks share one header), else
    gathered and written at :meth:`close` with every part's columns (the layers of a
    GeoPackage differ). Columns: ``row``, ``field``, ``reason``, the input's, ``raw``."""

    def __init__(self, path: str | Path | None, *, streamed: bool = True) -> None:
        from geo.readers import TableWriter

        self.path = path
        self._writer = (TableWriter(path, suffixes=[".csv"], what="--rejects")
                        if path is not None else None)
        self._streamed = streamed
        self._columns: list[str] | None = None
        self._gathered: list[pd.DataFrame] = []

    def add(self, rejects: pd.DataFrame) -> None:
        if self._writer is None or not len(rejects):
            return
        if not self._streamed:
            self._gathered.append(rejects)
            return
        if self._columns is None:
            self._columns = [*rejects.columns, *(["raw"] if "raw" not in rejects else [])]
        self._write(rejects.reindex(columns=self._columns))

    def _write(self, frame: pd.DataFrame | None = None) -> None:
        """Append ``frame`` (or, without one, put the file in place); a storage error
        names the rejects file, not the store or the input."""
        try:
            if frame is None:
                self._writer.commit()
            else:
                self._writer.append(frame)
        except OSError as exc:
            msg = f"--rejects {self.path}: cannot be written ({exc.strerror or exc})"
            raise InputError(msg) from exc

    def close(self) -> None:
        if self._writer is None:
            return
        if self._gathered:
            self._write(pd.concat(self._gathered, ignore_index=True))
        elif self._columns is None:  # nothing rejected: a report with the header only
            self._write(pd.DataFrame(columns=["row", "field", "reason"]))
        self._write()

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.discard()


def import_file(store, path: str | Path, *, column_map: dict[str, str] | None = None,
                keep_valid: bool = False, rejects_path: str | Path | None = None,
                name: str | None = None, dry_run: bool = False,
                progress: Callable[[float, str], None] | None = None,
                chunk_records: int = CHUNK_RECORDS, who: str = "") -> ImportResult:
    """Read, validate and enrich a record file a chunk at a time, upserting its valid
    records into ``store`` in one transaction (the one import path of the command line,
    the dashboard, the benchmarks and the tests). Memory stays bounded whatever the
    file's size; a failure at any point leaves the store as it was.

    Parameters
    ----------
    store : geo.store.base.Store
        The store written to.
    path : path
        CSV (canonical or ACLED), GeoJSON, GeoPackage or (Geo)Parquet.
    column_map : dict, optional
        ``{source_column: canonical_column}`` renames.
    keep_valid : bool
        Import the valid rows even when some are rejected; by default a file with a
        rejected row imports nothing.
    rejects_path : path, optional
        Where to write every rejected row (CSV); checked before anything is read.
    name : str, optional
        The file's name in the store's import log (default: ``path``).
    dry_run : bool
        Read and check only; the store is not written.
    progress : callable, optional
        Called with (share of the file read, a line of text) after each chunk and while
        waiting for another import to finish.
    chunk_records : int
        Records read, checked and written at a time.
    who : str, optional
        Who imports, for the import log and the history (default: the operating-system
        user running this process).
    """
    from geo.audit import file_sha256

    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such file" if not path.exists() else f"{path}: not a file"
        raise InputError(msg)
    if rejects_path is not None:
        _distinct(path, Path(rejects_path))
    result = ImportResult(path, name or str(path))
    sink = _RejectsFile(None if dry_run else rejects_path,  # checked here, before reading
                        streamed=path.suffix.lower() in STREAMED_SUFFIXES)
    say = progress or (lambda fraction, text: None)
    digest = None if dry_run else file_sha256(path)
    importing = nullcontext() if dry_run else store.importing(
        file=result.name, sha256=digest, on_wait=lambda text: say(0.0, text), who=who)
    try:
        _read_into(importing, path, result, sink, column_map=column_map,
                   keep_valid=keep_valid, chunk_records=chunk_records, say=say)
    except InputError as exc:  # the file's fault (the store's own errors are not logged
        sink.discard()         # in the store: it is left as it was)
        log_refusal(store, result.name, path, str(exc), who=who, dry_run=dry_run,
                    sha256=digest)
        raise
    except BaseException:
        sink.discard()
        raise
    if not dry_run and not result.written:
        log_refusal(store, result.name, path, f"{result.rejected:,} of {result.total:,} rows "
                    "rejected; nothing imported", who=who, dry_run=False, sha256=digest)
    return result


def _read_into(importing, path: Path, result: ImportResult, sink: _RejectsFile, *,
               column_map: dict[str, str] | None, keep_valid: bool, chunk_records: int,
               say: Callable[[float, str], None]) -> None:
    """The reading and writing of :func:`import_file`, in the store's transaction."""
    with importing as writer:  # None for a dry run
        for chunk in iter_load_file(path, column_map=column_map,
                                    chunk_records=chunk_records):
            for part in chunk.parts:
                result._add(part)
                sink.add(part.rejects)
            if writer is None:
                pass
            elif result.rejected and not keep_valid:
                writer.cancel()  # nothing will be imported; every problem is listed
            elif chunk.parts:
                writer.write(RecordSet(path.parent, chunk.parts).batches())
            say(chunk.fraction, f"{counted(result.total, 'row')} read, {result.rejected:,} "
                                "rejected")
        if writer is not None:
            result.tables = writer.reports
        sink.close()  # before the commit: a failure here leaves the store as it was
    result.written = writer is not None and not writer.cancelled


def note_refusal(name: str, path: Path, reason: str, *, who: str = "",
                 dry_run: bool = False, sha256: str | None = None) -> str:
    """Say in this process's log who tried to import (or check) which file, its SHA-256
    (``sha256``, or read from the file), and why nothing was imported; returns the
    SHA-256."""
    from geo.audit import current_user, file_sha256

    reason = reason.replace(str(path), name)  # an upload's copy: named as its user named it
    digest = sha256 or file_sha256(path)
    log.warning("%s of %s (SHA-256 %s) by %s: nothing imported: %s",
                "check" if dry_run else "import", name, digest, who or current_user(), reason)
    return digest


def log_refusal(store, name: str, path: Path, reason: str, *, who: str = "",
                dry_run: bool = False, sha256: str | None = None) -> None:
    """Note an import of ``path`` (called ``name``) that wrote nothing: in the server's
    log (who, which file, its SHA-256, why) and, unless it was only a check, in the
    store's import log (report "refused: ...")."""
    digest = note_refusal(name, path, reason, who=who, dry_run=dry_run, sha256=sha256)
    if dry_run:
        return
    try:
        with store.importing(file=name, sha256=digest, who=who) as writer:
            writer.refused = reason
    except FlankwatchError as exc:  # the log itself cannot be written: said above only
        log.error("the refused import of %s is not in the store's log: %s", name, exc)


def enrich_chunk(table: Table, seen: set, *, gazetteer=None, boundaries=None
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Enrich one chunk of a table (see :func:`geo.enrich.enrich_table`), rejecting a
    valid row whose ``id`` an earlier chunk had: ``seen`` holds those ids and takes this
    chunk's. The step every engine runs, one process or a cluster's workers."""
    from geo.enrich import enrich_table

    enriched, rejects = enrich_table(table, gazetteer=gazetteer, boundaries=boundaries)
    if "id" in enriched.columns:
        again = _seen_again(enriched["id"], rejects, seen)
        if again.any():
            enriched, rejects = reject_duplicates(enriched, rejects, again, table.frame)
    return enriched, rejects


def reject_duplicates(enriched: pd.DataFrame, rejects: pd.DataFrame, again: pd.Series,
                      source: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move the rows flagged in ``again`` from ``enriched`` to ``rejects`` as duplicate
    ids, with their values from ``source`` (the input's columns)."""
    ids = enriched["id"][again].astype("string").str.strip()
    rejects = _add_rejects(rejects, enriched.index[again], "id",
                           "duplicate id " + ids.map(repr), source)
    return enriched[~again], rejects


#: Columns :func:`enrich_frames` adds: the row's number, and for a rejected row the
#: field and reason (empty for an enriched row).
FRAME_REPORT_COLUMNS = ("row", "reject_field", "reject_reason")


def enrich_frames(frames: Iterable[pd.DataFrame], *, first_row: int = 0
                  ) -> Iterator[pd.DataFrame]:
    """Enrich a stream of pandas frames, one frame out for each frame in (for Spark's
    ``mapInPandas``, DuckDB's Arrow batches and other engines that hand out batches).

    Each output frame holds every row of its input frame, in order: the input's columns
    (``lat``/``lon`` added where the input had none), :data:`ENRICHED_COLUMNS` (empty for
    a rejected row) and :data:`FRAME_REPORT_COLUMNS`. Rows are numbered from
    ``first_row`` + 1 through the stream; an id repeated within the stream is rejected
    as :func:`enrich_file` rejects it (ids in other streams are not seen).
    """
    from geo.boundaries import load_boundaries
    from geo.gazetteer import load_gazetteer
    from geo.schema import ENRICHED_COLUMNS

    gazetteer, boundaries = load_gazetteer(), load_boundaries()
    seen: set = set()
    start = first_row
    for frame in frames:
        frame = frame.set_axis(pd.RangeIndex(start, start + len(frame)))
        start += len(frame)
        enriched, rejects = enrich_chunk(Table(frame), seen, gazetteer=gazetteer,
                                         boundaries=boundaries)
        refused = frame.loc[frame.index.isin(rejects["row"] - 1)]
        reasons = rejects.set_index(rejects["row"] - 1)
        refused = refused.assign(reject_field=reasons["field"], reject_reason=reasons["reason"])
        coordinates = [c for c in ("lat", "lon") if c not in frame.columns]
        columns = [*frame.columns, *coordinates, *ENRICHED_COLUMNS, *FRAME_REPORT_COLUMNS]
        both = pd.concat([enriched, refused]).sort_index()
        flags = {c: both[c].astype("boolean") for c in ("over_water", "in_coverage",
                                                         "in_kaliningrad") if c in both}
        yield both.assign(row=both.index + 1, **flags).reindex(columns=columns)


@dataclass
class EnrichResult:
    """What :func:`enrich_file` did."""

    total: int = 0
    enriched: int = 0
    rejected: int = 0
    #: The first :data:`SHOWN_REJECTS` rejected rows.
    shown_rejects: pd.DataFrame | None = None
    #: Whether the output (and the rejects file) were written.
    written: bool = False


def enrich_file(path: str | Path, output: str | Path, *,
                rejects_path: str | Path | None = None,
                column_map: dict[str, str] | None = None,
                progress: Callable[[float, str], None] | None = None,
                chunk_records: int = CHUNK_RECORDS) -> EnrichResult:
    """Enrich a table file a chunk at a time into ``output`` (every input column, then
    the enriched columns; see :func:`geo.enrich.enrich_table`), with bounded memory.

    Without ``rejects_path`` a file with an invalid row writes nothing (every problem is
    still counted and the first ones kept); with it, the valid rows go to ``output`` and
    every rejected row to ``rejects_path``. Outputs appear whole or not at all.
    """
    from geo.boundaries import load_boundaries
    from geo.gazetteer import load_gazetteer
    from geo.readers import TableWriter

    _distinct(*[Path(p) for p in (path, output, rejects_path) if p is not None])
    out = TableWriter(output, what="-o")
    sink = _RejectsFile(rejects_path, streamed=Path(path).suffix.lower() in STREAMED_SUFFIXES)
    gazetteer, boundaries = load_gazetteer(), load_boundaries()
    result, seen = EnrichResult(), set()
    say = progress or (lambda fraction, text: None)
    try:
        for table in iter_tables(path, column_map=column_map, chunk_records=chunk_records):
            if table.layer is not None:
                msg = (f"{path}: has several layers; `enrich` reads one table (save the "
                       "layer alone, or use `python -m geo import`, which reads them all)")
                raise InputError(msg)
            enriched, rejects = enrich_chunk(table, seen, gazetteer=gazetteer,
                                             boundaries=boundaries)
            result.total += len(enriched) + len(rejects)
            result.enriched += len(enriched)
            result.rejected += len(rejects)
            result.shown_rejects = _first_rejects(result.shown_rejects, rejects)
            sink.add(rejects)
            if rejects_path is not None or not result.rejected:
                out.append(enriched)
            say(table.fraction, f"{counted(result.total, 'row')} read, {result.rejected:,} "
                                "rejected")
        if result.rejected and rejects_path is None:
            out.discard()
            return result
        sink.close()  # the report first: if it fails, no output appears
        out.commit()
        result.written = True
    finally:
        out.discard()
        sink.discard()
    return result
