"""Reading and writing incident tables: CSV, GeoJSON, GeoPackage, GeoParquet.

A table is read with every column kept as given (CSV cells as text), plus the row number
a person would use to find a record: 1 for the first record (the line after a CSV
header, the first GeoJSON feature).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import mmap
import os
import re
import sqlite3
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pycountry
import pyogrio
import shapely

from geo import geoparquet
from geo.csvfile import CHUNK_RECORDS, iter_csv_records
from geo.dates import parse_date_column
from geo.errors import InputError
from geo.schema import LIST_SEPARATOR, NUL_REASON, RejectList, coordinate_columns

CSV_SUFFIXES = {".csv", ".txt"}
GEO_SUFFIXES = {".geojson", ".json", ".gpkg"}
PARQUET_SUFFIXES = {".parquet"}
OUTPUT_SUFFIXES = {".csv", ".geojson", ".gpkg", ".parquet"}
#: Inputs read a chunk at a time, every chunk with the same columns.
STREAMED_SUFFIXES = CSV_SUFFIXES | PARQUET_SUFFIXES

log = logging.getLogger(__name__)


@dataclass
class Table:
    """An input table: its columns as read and, for geodata, each row's point.

    The frame's index is the record's position (0 = the first record), kept through
    malformed records that are left out of the frame.
    """

    frame: pd.DataFrame
    #: Longitude/latitude of Point geometries (GeoJSON, GeoPackage, GeoParquet); None
    #: for CSV and for Parquet without geometry.
    points: pd.DataFrame | None = None
    #: Rows whose geometry is not a point: row label -> geometry type.
    non_points: dict | None = None
    #: CSV records that could not be split into the header's fields:
    #: (row number, field, reason, raw text).
    malformed: list = field(default_factory=list)
    #: "canonical" or "acled" (an ACLED export, mapped to canonical columns).
    source_format: str = "canonical"
    #: Each row's shapely geometry (GeoJSON, GeoPackage, GeoParquet); None for CSV.
    geometries: pd.Series | None = None
    #: The share of the file read when this table (or chunk of one) was made.
    fraction: float = 1.0
    #: The layer of a GeoPackage of several layers, else None.
    layer: str | None = None
    #: Rows kept in the frame that the reader found wrong: (row label, field, reason).
    #: Their records are rejected by whoever loads the table (see :meth:`rejects`).
    problems: list = field(default_factory=list)

    @property
    def row_numbers(self) -> pd.Series:
        """The row number a person would use for each record: 1 = the first."""
        return pd.Series(np.asarray(self.frame.index) + 1, index=self.frame.index)

    def rejects(self) -> RejectList:
        """A rejection list holding what the reader found wrong in this table's rows."""
        found = RejectList()
        for label, name, reason in self.problems:
            if label in self.frame.index:  # a part of the table holds only some rows
                found.add(label, name, reason)
        return found


def parse_column_map(text: str | None) -> dict[str, str]:
    """Parse ``"date=event_time,lat=y"`` into ``{"event_time": "date", "y": "lat"}``."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        target, sep, source = item.partition("=")
        if not sep or not target.strip() or not source.strip():
            msg = f"--map item {item!r} is not of the form column=source_column"
            raise InputError(msg)
        mapping[source.strip()] = target.strip()
    return mapping


def _apply_map(frame: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    missing = sorted(set(mapping) - set(frame.columns))
    if missing:
        msg = (f"--map names column(s) {missing} that the input does not have; "
               f"it has {list(frame.columns)}")
        raise InputError(msg)
    clash = sorted(t for t in mapping.values() if t in frame.columns and t not in mapping)
    if clash:
        msg = (f"--map would overwrite column(s) {clash} that the input already has; "
               "rename or drop them first")
        raise InputError(msg)
    return frame.rename(columns=mapping)


def _geo_layers(path: Path) -> list[tuple[str, str | None]]:
    """The file's layers: (name, geometry type)."""
    try:
        return [(str(n), g) for n, g in pyogrio.list_layers(path)]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        msg = f"{path}: not a readable GeoJSON/GeoPackage file ({exc})"
        raise InputError(msg) from exc


def _read_geo(path: Path, layer: str | None = None, *, table_name: str = "") -> Table:
    """One layer of a GeoJSON or GeoPackage file as a table (columns, points, other
    geometries; rows whose text or geometry cannot be kept as they are in ``problems``)."""
    # Dates stay text as written (GDAL would otherwise type a column from its first
    # value and drop the rest of a cell such as a list of track times, or its zone).
    geojson = path.suffix.lower() in (".geojson", ".json")
    options = {"DATE_AS_STRING": "YES"} if geojson else {"datetime_as_string": True}
    try:
        with warnings.catch_warnings(record=True) as said:  # GDAL's notes on bad features
            gdf = gpd.read_file(path, layer=layer, fid_as_index=not geojson, **options)
        for note in said:
            log.info("%s: %s", path.name, note.message)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        msg = f"{path}: not a readable GeoJSON/GeoPackage file ({exc})"
        raise InputError(msg) from exc
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start:exc.start + 1].hex()
        msg = (f"{path}: text that is not UTF-8 (byte 0x{byte} at offset {exc.start:,}); "
               "GeoJSON and GeoPackage text must be UTF-8")
        raise InputError(msg) from exc
    fids = gdf.index
    gdf = gdf.reset_index(drop=True)
    problems = (_geojson_text_problems(path, len(gdf)) if geojson
                else _gpkg_text_problems(path, table_name or layer or "", fids))
    if not isinstance(gdf, gpd.GeoDataFrame):  # an attribute table (sources)
        return Table(pd.DataFrame(gdf), problems=problems)
    if gdf.crs is not None and not gdf.crs.to_2d().equals("EPSG:4326",
                                                          ignore_axis_order=True):
        msg = f"{path}: coordinates are in {gdf.crs.name}; expected WGS84 (EPSG:4326)"
        raise InputError(msg)
    return _point_table(pd.DataFrame(gdf.drop(columns=gdf.geometry.name)),
                        np.asarray(gdf.geometry.values), problems)


def _point_table(frame: pd.DataFrame, geoms: np.ndarray, problems: list) -> Table:
    """A table of geodata: its columns, and each row's point from ``geoms`` (shapely
    geometries in the frame's row order); rows whose geometry is unusable join
    ``problems``, and other geometry types are noted for the loaders."""
    labels = frame.index
    broken = {labels[k]: why for k, why in _geometry_problems(geoms).items()}
    problems = problems + [(k, "geometry", why) for k, why in broken.items()]
    usable = ~labels.isin(list(broken))
    is_point = (shapely.get_type_id(geoms) == 0) & usable
    points = pd.DataFrame({"lon": shapely.get_x(np.where(is_point, geoms, None)),
                           "lat": shapely.get_y(np.where(is_point, geoms, None))},
                          index=labels)
    non_points = {i: g.geom_type for i, g, p, ok in zip(labels, geoms, is_point, usable,
                                                        strict=True)
                  if g is not None and not p and ok}
    heights = shapely.get_z(np.where(is_point & shapely.has_z(geoms), geoms, None))
    if not np.isnan(heights).all():  # a 3-D point's height is kept, not dropped
        frame["geometry_z" if "z" in frame.columns else "z"] = heights
    return Table(frame, points=points, non_points=non_points, problems=problems,
                 geometries=pd.Series(geoms, index=labels, dtype=object))


def _geometry_problems(geoms) -> dict[int, str]:
    """Row position → why its geometry cannot be used: empty, or a coordinate that is
    not a finite number (a missing geometry is left to the loaders: a record may be
    placed by name)."""
    out = {int(k): "empty geometry" for k in np.flatnonzero(shapely.is_empty(geoms))}
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    for k in np.unique(which[~np.isfinite(coords).all(axis=1)]):
        out[int(k)] = "a coordinate is not a number (NaN or infinite)"
    return out


#: The JSON escape of a character no text here can hold, NUL or half of a surrogate pair
#: (a pair written as two escapes is one character and passes the check below), or a
#: raw NUL byte (which GDAL reads too, and cuts the text at).
_JSON_BAD_TEXT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})|\x00")
_SURROGATE = re.compile("[\ud800-\udfff]")


def bad_text_reason(text: str) -> str | None:
    """Why a text cannot be kept as it is (a NUL character, which GDAL and SQL cut the
    text at, or a lone surrogate, which is no character), else None."""
    if "\x00" in text:
        return NUL_REASON
    if _SURROGATE.search(text):
        return "contains half of a surrogate pair (\\ud800-\\udfff), which is no character"
    return None


def shown_name(name: str) -> str:
    """A column's name as a report shows it: a NUL or a lone surrogate escaped."""
    return name.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()


def _strings(value: object) -> Iterator[str]:
    """Every text inside a JSON value: strings, and the keys of objects."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _json_features(data: bytes) -> list:
    """The features of a GeoJSON document, a GeoJSON text sequence (one feature a line,
    or RS-separated) or an Esri JSON document (raises ValueError or RecursionError for
    text that is none of them)."""
    try:
        documents = [json.loads(data, strict=False)]  # strict: raw control characters
    except json.JSONDecodeError:
        parts = (p.strip() for p in re.split(rb"[\n\x1e]", data))
        documents = [json.loads(p, strict=False) for p in parts if p]
    features = []
    for document in documents:
        if not isinstance(document, dict):
            continue
        inner = document.get("features")
        features += inner if isinstance(inner, list) else [document]
    return features


def _geojson_text_problems(path: Path, rows: int) -> list[tuple[int, str, str]]:
    """Features whose id or properties (or Esri attributes) hold text GDAL would cut or
    change (a NUL, a lone surrogate): (row, field, reason). The file is scanned for such
    text first and parsed again only when it has some; a file that then cannot be
    matched feature by feature is refused whole rather than read cut."""
    data = b""
    with (open(path, "rb") as fh, suppress(ValueError),  # ValueError: an empty file
          mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view):
        first = _JSON_BAD_TEXT.search(view)
        data = view[:] if first else b""
    if not data:
        return []
    try:
        features = _json_features(data)
    except (ValueError, RecursionError):
        features = None
    found = []
    for row, feature in enumerate(features or []):
        if not isinstance(feature, dict):
            continue
        fields = list((feature.get("properties") or feature.get("attributes") or {}).items())
        fields += [("id", feature["id"])] if "id" in feature else []  # the feature's own
        for name, value in fields:
            reason = next(filter(None, map(bad_text_reason, _strings({name: value}))), None)
            if reason:
                found.append((row, shown_name(str(name)), reason))
    if features is None or (found and len(features) != rows):
        msg = (f"{path}: holds a NUL character or half of a surrogate pair in its text (near "
               f"byte {first.start():,}), which could not be matched to a feature to refuse "
               "it alone; nothing is read from it")
        raise InputError(msg)
    return found


def _sql_name(name: str) -> str:
    """An SQL identifier, quoted (a layer or column name is the file's text)."""
    return '"' + name.replace('"', '""') + '"'


def _gpkg_text_problems(path: Path, table: str, fids: pd.Index
                        ) -> list[tuple[int, str, str]]:
    """Rows of a GeoPackage layer (table) with a NUL character in a text column (GDAL
    cuts the text there): (row, column, reason), found by SQLite on the bytes. A layer
    without a key (a view) that holds one is refused whole."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as con:
            info = con.execute("SELECT name, upper(type), pk FROM pragma_table_info(?)",
                               (table,)).fetchall()
            # only an INTEGER primary key is the row's FID as GDAL reads it
            keys = [n for n, kind, pk in info if pk]
            key = (_sql_name(keys[0]) if len(keys) == 1 and dict(
                (n, kind) for n, kind, _ in info)[keys[0]] == "INTEGER" else None)
            texts = [n for n, kind, _ in info if "CHAR" in kind or "TEXT" in kind or not kind]
            found = [(fid, name, NUL_REASON) for name in texts
                     for (fid,) in con.execute(
                         f"SELECT {key or 'NULL'} FROM {_sql_name(table)} "
                         f"WHERE instr(CAST({_sql_name(name)} AS BLOB), x'00')")]
    except sqlite3.Error:  # not SQLite underneath: GDAL reads it or says why
        return []
    if found and key is None:
        msg = (f"{path}: layer {table!r}: column {shown_name(found[0][1])!r} holds a NUL "
               "character, and the layer has no integer key to refuse those rows alone")
        raise InputError(msg)
    where = pd.Index(fids).get_indexer([fid for fid, _, _ in found])
    return [(int(k), shown_name(name), why)
            for k, (_, name, why) in zip(where, found, strict=True) if k >= 0]


def _geo_tables(path: Path, column_map: dict[str, str] | None) -> Iterator[Table]:
    """One table per layer of a GeoJSON or GeoPackage file (named where there are
    several); features of a geometry a record type cannot hold are rejected one by one
    by the record loaders, with their layer."""
    layers = _geo_layers(path)
    named = len(layers) > 1
    for name, _ in layers:
        table = _read_geo(path, name if named else None, table_name=name)
        table.layer = name if named else None
        yield _canonical(table, column_map)


def read_table(path: str | Path, *, column_map: dict[str, str] | None = None) -> Table:
    """Read an incident table from CSV, GeoJSON, GeoPackage or Parquet, whole.

    Parameters
    ----------
    path : path
        The input; its format comes from its extension.
    column_map : dict, optional
        ``{source_column: canonical_column}`` renames applied first.
    """
    tables = list(iter_tables(path, column_map=column_map))
    if len(tables) == 1:
        return tables[0]
    if any(t.layer is not None for t in tables):
        names = ", ".join(repr(t.layer) for t in tables)
        msg = (f"{path}: has several layers ({names}); this reads one table: save the "
               "layer alone, or use `python -m geo import`, which reads every layer")
        raise InputError(msg)
    first = tables[0]
    return dataclasses.replace(first, frame=pd.concat([t.frame for t in tables]),
                               malformed=[m for t in tables for m in t.malformed])


def iter_tables(path: str | Path, *, column_map: dict[str, str] | None = None,
                chunk_records: int = CHUNK_RECORDS) -> Iterator[Table]:
    """Read a table a chunk of records at a time (CSV and Parquet; GeoJSON and
    GeoPackage come as one chunk). Each chunk keeps its records' positions in the file;
    ``fraction`` says how much of the file has been read. Raises :class:`InputError` for
    a file that cannot be read at all."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        msg = f"{path}: no such file" if not path.exists() else f"{path}: not a file"
        raise InputError(msg)
    if suffix in GEO_SUFFIXES:
        yield from _geo_tables(path, column_map)
    elif suffix in CSV_SUFFIXES:
        for chunk in iter_csv_records(path, chunk_records=chunk_records):
            frame = chunk.frame.apply(unguard_text) if len(chunk.frame) else chunk.frame
            frame.columns = [_unguarded(c) for c in frame.columns]
            yield _canonical(Table(frame, malformed=chunk.malformed,
                                   fraction=chunk.fraction), column_map)
    elif suffix in PARQUET_SUFFIXES:
        yield from iter_parquet_tables(path, column_map=column_map,
                                       chunk_records=chunk_records)
    else:
        msg = f"{path}: unknown input format {suffix!r}; expected one of " \
              f"{sorted(CSV_SUFFIXES | GEO_SUFFIXES | PARQUET_SUFFIXES)}"
        raise InputError(msg)


def iter_parquet_tables(path: Path, *, column_map: dict[str, str] | None = None,
                        chunk_records: int = CHUNK_RECORDS,
                        row_groups: list[int] | None = None, first_row: int = 0
                        ) -> Iterator[Table]:
    """A (Geo)Parquet file (or some of its row groups, beginning at row position
    ``first_row``) as tables of at most ``chunk_records`` rows: with a geometry column,
    as GeoJSON is read (each row's point); without, as CSV is (its lat/lon columns)."""
    for chunk in geoparquet.iter_parquet(path, chunk_records=chunk_records,
                                         row_groups=row_groups, first_row=first_row):
        problems = _parquet_text_problems(chunk.frame) + chunk.problems
        if chunk.geometries is None:
            _check_coordinate_types(path, chunk.frame)
            table = Table(chunk.frame, problems=problems)
        else:
            table = _point_table(chunk.frame, chunk.geometries, problems)
        table.fraction = chunk.fraction
        yield _canonical(table, column_map)


def _check_coordinate_types(path: Path, frame: pd.DataFrame) -> None:
    """Coordinate columns hold numbers or text (a text that is no number is that row's
    rejection); any other type refuses the file, naming the column."""
    for name in filter(None, coordinate_columns(list(frame.columns))):
        kind = frame[name].dtype
        if not (pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_string_dtype(kind)) \
                or pd.api.types.is_bool_dtype(kind):
            msg = (f"{path}: column {shown_name(str(name))!r} is of type {kind}; "
                   "coordinates must be numbers or text")
            raise InputError(msg)


def _parquet_text_problems(frame: pd.DataFrame) -> list[tuple[object, str, str]]:
    """Rows holding a NUL character in a text cell (GDAL and SQL cut the text there):
    (row label, column, reason)."""
    found = []
    for name in frame.columns:
        column = frame[name]
        if not pd.api.types.is_string_dtype(column.dtype):
            continue
        bad = column.astype("string").str.contains("\x00", regex=False, na=False)
        found += [(label, shown_name(str(name)), NUL_REASON) for label in frame.index[bad]]
    return found


def _canonical(table: Table, column_map: dict[str, str] | None) -> Table:
    """A table with ``column_map`` applied, and an ACLED export mapped."""
    if column_map:
        table.frame = _apply_map(table.frame, column_map)
    if table.points is None and is_acled(table.frame.columns):
        table.frame = acled_to_canonical(table.frame)
        table.source_format = "acled"
    return table


def check_output_path(path: str | Path, *, suffixes: Iterable[str] = OUTPUT_SUFFIXES,
                      what: str = "output") -> Path:
    """Return the path if a file of a format this tool writes can be written there.

    Checked before any work is done or committed: the extension, the folder (it must
    exist and take a new file) and the path itself (not a folder).
    """
    path = Path(path)
    suffixes = sorted(suffixes)
    if path.suffix.lower() not in suffixes:
        msg = f"{what} {path}: unknown format {path.suffix!r}; expected one of {suffixes}"
        raise InputError(msg)
    folder = path.parent
    if not folder.is_dir():
        msg = f"{what} {path}: the folder {folder} does not exist; create it first"
        raise InputError(msg)
    if path.is_dir():
        msg = f"{what} {path}: is a folder; give a file name"
        raise InputError(msg)
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        msg = f"{what} {path}: cannot write in {folder} ({exc.strerror or exc})"
        raise InputError(msg) from exc
    return path


#: A text cell a spreadsheet would run as a formula: it begins with = + - @, a tab or
#: a carriage return (OWASP, "CSV Injection").
FORMULA_START = r"^[=+\-@\t\r]"
#: A cell that is only a number (``-12.5``, ``+3``, ``1e-3``; ASCII digits): shown as a
#: number by every spreadsheet, so it is written as it is. (``$`` is the end of the text
#: for Arrow's RE2; the Python pattern below uses ``\Z`` for the same.)
_PLAIN_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
#: What the writer puts before such a cell (and the reader takes off again). A cell
#: that already begins with it before a formula-like rest gets one more, so that every
#: text reads back exactly.
FORMULA_GUARD = "'"
_RISKY = re.compile(FORMULA_START)
_NUMBER = re.compile(_PLAIN_NUMBER[:-1] + r"\Z")


def _guard_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A text column with a leading apostrophe before every cell a spreadsheet would
    take for a formula (numbers excepted)."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    # formula-like once any leading guards are set aside (see _needs_guard)
    guards = f"^{FORMULA_GUARD}*"
    risky = pc.and_(pc.match_substring_regex(column, guards + FORMULA_START[1:]),
                    pc.invert(pc.match_substring_regex(column, guards + _PLAIN_NUMBER[1:])))
    if not pc.any(risky).as_py():
        return column
    guard = pa.scalar(FORMULA_GUARD, column.type)
    guarded = pc.binary_join_element_wise(guard, column, pa.scalar("", column.type))
    return pc.if_else(risky, guarded, column)


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table, one chunk per column: columns Arrow cannot type
    (mixed values; objects and lists from GeoJSON properties) as text, JSON for the
    objects and lists."""
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # mixed columns, or objects and lists from GeoJSON properties: written as text
        texts = {c: frame[c].map(_as_text, na_action="ignore").astype("string")
                 for c in frame.columns if frame[c].dtype == object}
        table = pa.Table.from_pandas(frame.assign(**texts) if texts else frame,
                                     preserve_index=False)
    columns = [pa.array(frame.iloc[:, k].map(_as_text, na_action="ignore"), pa.string())
               if pa.types.is_nested(c.type) else c  # objects, lists: as JSON text
               for k, c in enumerate(table.columns)]
    # one chunk per column: Arrow's CSV writer misreads columns whose chunks include an
    # empty one (as pandas' concatenations leave them), writing bytes from elsewhere
    return pa.table(columns, names=[str(n) for n in table.column_names]).combine_chunks()


def spreadsheet_safe(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table whose text cells no spreadsheet will run: each cell
    that begins like a formula gets a leading apostrophe (see :data:`FORMULA_START`).
    Numeric columns, and text cells that are plain numbers, are left as they are."""
    table = arrow_table(frame)
    names = [f"{FORMULA_GUARD}{n}" if _needs_guard(n) else n for n in table.column_names]
    return pa.table([_guard_text(c) for c in table.columns], names=names).combine_chunks()


def _formula_like(text: str) -> bool:
    return bool(_RISKY.match(text)) and not _NUMBER.match(text)


def _needs_guard(text: str) -> bool:
    """Whether the writer puts :data:`FORMULA_GUARD` before this text: it is formula-like
    once its own leading guards are set aside (so ``'=x`` becomes ``''=x`` and reads
    back as ``'=x``)."""
    return _formula_like(text.lstrip(FORMULA_GUARD))


def _as_text(value: object) -> object:
    """A cell as text (objects and lists as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def unguard_text(values: pd.Series) -> pd.Series:
    """Text cells without the apostrophe :func:`spreadsheet_safe` put before a
    formula-like value, so that the project's own CSV files read back exactly."""
    if not values.str.startswith(FORMULA_GUARD, na=False).any():
        return values
    return values.map(_unguarded, na_action="ignore")


def _unguarded(text: str) -> str:
    """One text without the guard the writer put before it (others as they are)."""
    rest = text[len(FORMULA_GUARD):]
    return rest if text.startswith(FORMULA_GUARD) and _needs_guard(rest) else text


def csv_bytes(frame: pd.DataFrame, *, header: bool = True) -> bytes:
    """A frame as spreadsheet-safe CSV (UTF-8), with the header line first when
    ``header``."""
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(spreadsheet_safe(frame), buffer,
                    pacsv.WriteOptions(include_header=header, quoting_style="needed"))
    return buffer.getvalue().to_pybytes()


def append_csv(frame: pd.DataFrame, path: Path, *, header: bool) -> None:
    """Add rows to a spreadsheet-safe CSV file, with the header line first when
    ``header``."""
    with open(path, "ab") as fh:
        fh.write(csv_bytes(frame, header=header))


class TableWriter:
    """A table written a chunk at a time (see :meth:`append`) to a file beside ``path``
    that takes its place when :meth:`commit` is called, so the output appears whole or
    not at all. The format comes from the extension: spreadsheet-safe CSV, GeoJSON or
    GeoPackage or GeoParquet (points from the ``lat``/``lon`` columns; a Parquet file
    gets one row group per chunk, and every chunk the first one's column types)."""

    def __init__(self, path: str | Path, *, suffixes: Iterable[str] = OUTPUT_SUFFIXES,
                 what: str = "output") -> None:
        self.path = check_output_path(path, suffixes=suffixes, what=what)
        self._suffix = self.path.suffix.lower()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=self._suffix,
                                   dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._tmp.unlink()
        self._started = False
        self._empty = pd.DataFrame(columns=["lat", "lon"])
        self._parquet: _ParquetSink | None = None

    def append(self, frame: pd.DataFrame) -> None:
        """Write some more rows (the first call also writes the header or schema)."""
        if self._suffix == ".csv":
            append_csv(frame, self._tmp, header=not self._started)
        elif not len(frame):  # GDAL (and Parquet) type the fields from the first rows
            self._empty = frame
            return
        elif self._suffix == ".parquet":
            self._write_parquet(frame)
        else:
            self._write_geo(frame, mode="a" if self._started else "w")
        self._started = True

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        if self._parquet is None:
            self._parquet = _ParquetSink(self._tmp, self.path)
        self._parquet.write(frame)

    def _write_geo(self, frame: pd.DataFrame, *, mode: str = "w") -> None:
        driver = "GeoJSON" if self._suffix == ".geojson" else "GPKG"
        try:
            _as_points(frame, self.path).to_file(
                self._tmp, driver=driver, layer="incidents" if driver == "GPKG" else None,
                mode=mode)
        except (pyogrio.errors.DataLayerError, pyogrio.errors.DataSourceError) as exc:
            msg = (f"{self.path}: cannot be written as {driver} ({exc}); column names "
                   "must differ in more than letter case, and 'fid' is reserved: rename "
                   "them with --map, or write .csv")
            raise InputError(msg) from exc

    def commit(self) -> None:
        """Put the file in place (with an ordinary new file's permissions)."""
        if not self._started and self._suffix == ".csv":  # no rows at all: the header
            self.append(self._empty)
        elif not self._started and self._suffix == ".parquet":
            self._write_parquet(self._empty)
        elif not self._started:  # ... or the columns alone
            self._write_geo(self._empty)
        if self._parquet is not None:
            self._parquet.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._tmp, 0o666 & ~umask)
        self._tmp.replace(self.path)

    def discard(self) -> None:
        """Forget what was written."""
        if self._parquet is not None:
            self._parquet.close(finished=False)
        self._tmp.unlink(missing_ok=True)


class _ParquetSink:
    """A GeoParquet file written a row group at a time (see :mod:`geo.geoparquet`); the
    ``geo`` metadata, with the bounding box of every point, is added when it closes."""

    def __init__(self, tmp: Path, path: Path) -> None:
        self._tmp, self.path = tmp, path
        self._writer: pq.ParquetWriter | None = None
        self._bounds = geoparquet.BoundsTracker()
        self._geometry = self._covering = ""

    def write(self, frame: pd.DataFrame) -> None:
        lon, lat = _coordinates(frame, self.path)
        table = arrow_table(frame)
        if self._writer is None:
            self._geometry = "geom" if "geometry" in table.column_names else "geometry"
            self._covering = geoparquet.bbox_name(table.column_names)
        table = geoparquet.points_table(table, lon, lat, geometry=self._geometry)
        if self._writer is None:
            # a column without a value yet is text; Arrow's pandas notes are left out
            schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                                for f in table.schema])
            # no Arrow schema of its own: the ``geo`` metadata, complete only at the end,
            # is then the one every reader sees
            self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd",
                                            store_schema=False)
        try:
            table = table.cast(self._writer.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
            msg = (f"{self.path}: a column's values change type between chunks of the "
                   f"input ({exc}); write .csv, or give the input one type per column")
            raise InputError(msg) from None
        self._writer.write_table(table)
        self._bounds.add(lon, lat)

    def close(self, *, finished: bool = True) -> None:
        if self._writer is None:
            return
        if finished:
            self._writer.add_key_value_metadata({"geo": geoparquet.geo_metadata(
                self._geometry, self._covering, self._bounds.box)})
        self._writer.close()
        self._writer = None


def _coordinates(frame: pd.DataFrame, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes of a table's points (NaN where not numbers)."""
    lat_col, lon_col = coordinate_columns(list(frame.columns))
    if lat_col is None or lon_col is None:
        msg = f"{path}: the table has no latitude/longitude columns to map"
        raise InputError(msg)
    lon = pd.to_numeric(frame[lon_col].astype(str).str.replace(",", "."), errors="coerce")
    lat = pd.to_numeric(frame[lat_col].astype(str).str.replace(",", "."), errors="coerce")
    return lon.to_numpy(dtype=float), lat.to_numpy(dtype=float)


def _as_points(frame: pd.DataFrame, path: Path) -> gpd.GeoDataFrame:
    lon, lat = _coordinates(frame, path)
    name = "geom" if "geometry" in frame.columns else "geometry"  # keep an input column
    points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), index=frame.index, crs=4326)
    return gpd.GeoDataFrame(frame.assign(**{name: points}), geometry=name, crs=4326)


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table with ``lat``/``lon`` columns; the format comes from the extension.

    The file appears whole or not at all (written beside the target, then renamed).
    """
    writer = TableWriter(path)
    try:
        writer.append(frame)
        writer.commit()
    finally:
        writer.discard()


# --- ACLED exports --------------------------------------------------------------------

#: Columns whose presence identifies an ACLED export (a subset of its header).
ACLED_MARKERS = frozenset({"event_id_cnty", "event_date", "time_precision", "geo_precision",
                           "latitude", "longitude", "notes", "source"})

#: ACLED ``geo_precision`` → ``location_precision``: 1 the named town itself, 2 near a
#: town or a part of a region, 3 only the region (ACLED codebook).
ACLED_GEO_PRECISION = {"1": "exact", "2": "approximate", "3": "region"}

#: ACLED ``time_precision``: 1 the day is known, 2 only the week, 3 only the month.
ACLED_TIME_PRECISION = {"1": "day", "2": "week", "3": "month"}

#: Incident type from the event's wording (``sub_event_type`` and ``notes``), first
#: match wins: weapons named before platforms so "missile debris" is a missile.
ACLED_TYPE_PATTERNS = (
    ("missile", r"\b(?:missiles?|rockets?|iskander|kh-\d+|kalibr)\b"),
    ("drone", r"\b(?:drones?|uavs?|unmanned|shahed|gerbera|geran)\b"),
    ("balloon", r"\bballoons?\b"),
    ("helicopter", r"\b(?:helicopters?|mi-\d+|ka-\d+)\b"),
    ("aircraft", r"\b(?:aircraft|jets?|fighters?|bombers?|planes?|mig-\d+|su-\d+|tu-\d+)\b"),
    ("debris", r"\b(?:debris|fragments?|wreckage)\b"),
)

_ACTOR_STATE = re.compile(r"^Military Forces of (?P<state>[^(]+?)\s*(\(|$)")


def is_acled(columns) -> bool:
    """Whether a header is an ACLED export's (matched case-insensitively)."""
    return {str(c).strip().lower() for c in columns} >= ACLED_MARKERS


def _acled_type(frame: pd.DataFrame) -> pd.Series:
    wording = (frame.get("sub_event_type", "") + " " + frame["notes"]).str.lower()
    kind = pd.Series("unknown", index=frame.index, dtype=object)
    for name, pattern in reversed(ACLED_TYPE_PATTERNS):  # earlier patterns overwrite
        kind = kind.mask(wording.str.contains(pattern, regex=True), name)
    return kind


def _state_iso3(name: str) -> str:
    """ISO3 of a state as ACLED names it ("Russia", "Belarus"), else empty.

    An exact ISO 3166 name first; otherwise pycountry's fuzzy search, accepted only when
    the name is the start of the match's first word ("Russia" → "Russian Federation",
    but not "Mars" → "Marshall Islands").
    """
    try:
        return pycountry.countries.lookup(name).alpha_3
    except LookupError:
        pass
    try:
        best = pycountry.countries.search_fuzzy(name)[0]
    except LookupError:
        return ""
    first = best.name.split()[0].lower()
    return best.alpha_3 if first.startswith(name.lower()) and len(first) - len(name) <= 2 \
        else ""


def _acled_origin(actors: pd.Series) -> pd.Series:
    """ISO3 of the state in "Military Forces of Russia (2000-)", else empty."""
    def lookup(actor: str) -> str:
        m = _ACTOR_STATE.match(actor)
        return _state_iso3(m["state"].strip()) if m else ""

    return actors.map({a: lookup(a) for a in actors.unique()})


def _acled_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """``date``/``date_end``/``date_precision`` from ``event_date`` and ``time_precision``.

    A week-precision event (2) spans the three days either side of the coded date (ACLED
    codes the middle of the week); a month-precision one (3) becomes that month. Unknown
    precision codes leave ``date_precision`` with the code so validation rejects it.
    """
    parsed = parse_date_column(frame["event_date"])
    code = frame["time_precision"].str.strip().str.replace(r"\.0$", "", regex=True)
    level = code.map(ACLED_TIME_PRECISION)
    day = parsed["date"].dt.strftime("%Y-%m-%d")
    week_start = (parsed["date"] - pd.Timedelta(days=3)).dt.strftime("%Y-%m-%d")
    week_end = (parsed["date"] + pd.Timedelta(days=3)).dt.strftime("%Y-%m-%d")
    month = parsed["date"].dt.strftime("%Y-%m")
    bad_date = parsed["error"] != ""
    date = np.select([bad_date, level == "week", level == "month"],
                     [frame["event_date"], week_start, month], default=day)
    date_end = np.where(level == "week", week_end, "")
    precision = np.select([level == "week", level.isna()],
                          ["day", "ACLED time_precision " + code], default=level.fillna(""))
    return pd.DataFrame({"date": date, "date_end": np.where(bad_date, "", date_end),
                         "date_precision": np.where(bad_date, "", precision)},
                        index=frame.index)


def acled_to_canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Map an ACLED export to the canonical incident columns.

    Every ACLED column is kept under its own name, except ``notes`` (the event's
    description, which becomes ``description``) and ``source`` (which becomes
    ``sources``, its ``;``-separated publications). The mapping: ``event_id_cnty`` → id,
    ``event_date`` + ``time_precision`` → date/date_end/date_precision,
    ``geo_precision`` → location_precision, ``actor1`` "Military Forces of X" → origin,
    wording → type (see :data:`ACLED_TYPE_PATTERNS`), confidence "reported".
    """
    frame = frame.rename(columns={c: str(c).strip().lower() for c in frame.columns})
    text = frame.astype("string").fillna("").apply(lambda s: s.str.strip())
    geo_code = text["geo_precision"].str.replace(r"\.0$", "", regex=True)
    out = frame.drop(columns=["notes", "source"]).rename(columns={"event_id_cnty": "id"})
    out = out.assign(
        **_acled_dates(text),
        type=_acled_type(text),
        location_precision=geo_code.map(ACLED_GEO_PRECISION).fillna(
            "ACLED geo_precision " + geo_code),
        location_basis="ACLED geo_precision " + geo_code + ": " + text["location"]
        if "location" in text else "ACLED",
        origin=_acled_origin(text["actor1"]) if "actor1" in text else "",
        title=(text.get("sub_event_type", "event") + ": " + text.get("location", "")),
        description=frame["notes"].astype("string").fillna(""),  # prose kept as written
        sources=text["source"].str.replace(r"\s*;\s*", LIST_SEPARATOR, regex=True),
        confidence="reported",
    )
    return out
