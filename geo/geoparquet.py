"""GeoParquet 1.1 files, read and written a row group at a time.

What is written: one WKB point column (``geometry``, or ``geom`` where the table already
has a column of that name), the ``geo`` file metadata of GeoParquet 1.1.0
(``primary_column``, the CRS as PROJJSON of EPSG:4326, the geometry types and the
file's bounding box) and a ``bbox`` covering column, struct(xmin, ymin, xmax, ymax),
declared under ``covering`` so that readers may skip row groups by their statistics.

What is read: any Parquet file. With ``geo`` metadata, the primary geometry column
(WKB) gives each row's point; without it, the table is read as a CSV would be (the
``lat``/``lon`` columns or their aliases). Columns are kept with their types, except
those text formats cannot hold: dates and times become ISO 8601 text, nested values
JSON text, bytes hexadecimal text, other geometry columns WKT.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely
from pyproj import CRS

from geo.csvfile import MAX_COLUMNS
from geo.errors import InputError

#: The GeoParquet specification version written.
GEOPARQUET_VERSION = "1.1.0"
#: The covering column's name (``geometry_bbox`` where the table has a ``bbox``).
BBOX_COLUMN = "bbox"
#: The struct type of a bounding-box covering column.
BBOX_TYPE = pa.struct([(k, pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")])

_WGS84 = CRS.from_epsg(4326)

#: Errors pyarrow raises for bytes that are not (or no longer) a readable Parquet file.
_ARROW_ERRORS = (pa.ArrowException, OSError, ValueError)


def _refuse(path: Path, text: str) -> InputError:
    return InputError(f"{path}: {text}")


def open_parquet(path: Path) -> pq.ParquetFile:
    """The file opened for reading by row groups; a file that is not Parquet, or is
    cut short, is refused naming what pyarrow found."""
    try:
        return pq.ParquetFile(path)
    except _ARROW_ERRORS as exc:
        msg = f"not a readable Parquet file ({exc})"
        raise _refuse(path, msg) from None


@dataclass(frozen=True)
class GeoColumns:
    """What a file's ``geo`` metadata declares: the primary geometry column, every
    geometry column, and the covering columns of the primary one."""

    primary: str | None = None
    geometry: tuple[str, ...] = ()
    covering: tuple[str, ...] = ()


def geo_columns(path: Path, pf: pq.ParquetFile) -> GeoColumns:
    """The geometry columns of a (Geo)Parquet file, checked: WKB encoding, a binary
    column, WGS84 coordinates. A file without ``geo`` metadata has none."""
    schema = pf.schema_arrow
    raw = (pf.metadata.metadata or {}).get(b"geo") or (schema.metadata or {}).get(b"geo")
    if raw is None:
        return GeoColumns()
    try:
        meta = json.loads(raw)
        columns = meta["columns"]
        primary = meta["primary_column"]
        if not isinstance(columns, dict) or primary not in columns:
            raise TypeError("primary_column is not among columns")
    except (ValueError, KeyError, TypeError) as exc:
        msg = f"its 'geo' metadata is not GeoParquet ({exc})"
        raise _refuse(path, msg) from None
    for name, spec in columns.items():
        _check_geometry_column(path, schema, name, spec)
    covering = columns[primary].get("covering") or {}
    bbox = covering.get("bbox") if isinstance(covering, dict) else None
    derived = {parts[0] for parts in (bbox or {}).values()
               if isinstance(parts, list) and parts and parts[0] in schema.names}
    return GeoColumns(primary, tuple(columns), tuple(sorted(derived)))


def _check_geometry_column(path: Path, schema: pa.Schema, name: str, spec: object) -> None:
    if name not in schema.names:
        msg = f"its 'geo' metadata names a geometry column {name!r} it does not have"
        raise _refuse(path, msg)
    encoding = spec.get("encoding") if isinstance(spec, dict) else None
    kind = schema.field(name).type
    if str(encoding).upper() != "WKB" or not (pa.types.is_binary(kind)
                                              or pa.types.is_large_binary(kind)):
        msg = (f"geometry column {name!r} is {encoding!r} encoded as {kind}; this reads "
               "WKB in a binary column (GeoParquet's default)")
        raise _refuse(path, msg)
    crs = spec.get("crs", "OGC:CRS84")  # absent means OGC:CRS84 (longitude, latitude)
    try:
        given = _WGS84 if crs is None else CRS.from_user_input(crs)
    except Exception as exc:  # pyproj's CRSError, or a value of the wrong kind
        msg = f"geometry column {name!r} has a CRS pyproj cannot read ({exc})"
        raise _refuse(path, msg) from None
    if not given.to_2d().equals(_WGS84, ignore_axis_order=True):
        msg = f"coordinates of {name!r} are in {given.name}; expected WGS84 (EPSG:4326)"
        raise _refuse(path, msg)


@dataclass
class ParquetChunk:
    """Some consecutive rows of a Parquet file."""

    #: The columns (without geometry and covering columns); the index is each row's
    #: position in the file (0 = the first row).
    frame: pd.DataFrame
    #: Each row's primary geometry (None where missing or unreadable), else None.
    geometries: np.ndarray | None
    #: Rows whose geometry bytes are not WKB: (row position, column, reason).
    problems: list
    #: The share of the file's rows read so far.
    fraction: float


def iter_parquet(path: Path, *, chunk_records: int, row_groups: list[int] | None = None,
                 first_row: int = 0) -> Iterator[ParquetChunk]:
    """Read a Parquet file (or some of its row groups, the first of which begins at row
    position ``first_row``) a batch of at most ``chunk_records`` rows at a time; memory
    is bounded by that and by one row group's compressed size."""
    pf = open_parquet(path)
    geo = check_schema(path, pf)
    total = max(pf.metadata.num_rows if row_groups is None else
                sum(pf.metadata.row_group(k).num_rows for k in row_groups), 1)
    start, done = first_row, 0
    batches = pf.iter_batches(batch_size=chunk_records, row_groups=row_groups,
                              use_threads=False)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            if done == 0:  # no rows: one empty chunk keeps the columns
                empty = pa.RecordBatch.from_pylist([], schema=pf.schema_arrow)
                yield _chunk(path, empty, geo, pd.RangeIndex(start, start), 1.0)
            return
        except _ARROW_ERRORS as exc:
            msg = (f"cannot be read past row {start:,} ({exc}); the file is damaged or "
                   "cut short")
            raise _refuse(path, msg) from None
        index = pd.RangeIndex(start, start + batch.num_rows)
        done += batch.num_rows
        start += batch.num_rows
        yield _chunk(path, batch, geo, index, min(done / total, 1.0))


def check_schema(path: Path, pf: pq.ParquetFile) -> GeoColumns:
    """The file's geometry columns, once its columns are checked (see
    :func:`geo_columns`): a file that cannot be read as a table is refused here."""
    _check_columns(path, pf.schema_arrow.names)
    return geo_columns(path, pf)


def _check_columns(path: Path, names: list[str]) -> None:
    """At most :data:`geo.csvfile.MAX_COLUMNS` columns, each named once."""
    if len(names) > MAX_COLUMNS:
        msg = f"has {len(names):,} columns; at most {MAX_COLUMNS:,} are read"
        raise _refuse(path, msg)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        msg = f"names column(s) {twice[:5]} more than once; each column needs its own name"
        raise _refuse(path, msg)


def _chunk(path: Path, batch: pa.RecordBatch, geo: GeoColumns, index: pd.RangeIndex,
           fraction: float) -> ParquetChunk:
    try:
        return _read_chunk(batch, geo, index, fraction)
    except (pa.ArrowException, UnicodeDecodeError, ValueError) as exc:
        msg = f"rows {index[0] + 1:,}–{index[-1] + 1:,} cannot be read ({exc})"
        raise _refuse(path, msg) from None


def _read_chunk(batch: pa.RecordBatch, geo: GeoColumns, index: pd.RangeIndex,
                fraction: float) -> ParquetChunk:
    geoms, problems = None, []
    if geo.primary is not None:
        geoms, problems = _wkb_geometries(batch.column(geo.primary), geo.primary, index)
    drop = {*geo.covering, *([geo.primary] if geo.primary else [])}
    arrays, names = [], []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name in drop:
            continue
        column, bad = _valid_text(column)
        problems += [(int(index[k]), name, "text that is not valid UTF-8") for k in bad]
        arrays.append(_as_kept(column, name in geo.geometry))
        names.append(name)
    frame = pa.RecordBatch.from_arrays(arrays, names=names).to_pandas(
        types_mapper=_nullable_type)
    frame.index = index
    return ParquetChunk(frame, geoms, problems, fraction)


_NULLABLE = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(),
             pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(),
             pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
             pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(),
             pa.bool_(): pd.BooleanDtype()}


def _valid_text(column: pa.Array) -> tuple[pa.Array, list[int]]:
    """A text column with each cell that is not valid UTF-8 made empty, and where those
    cells were (Parquet's writers need not check)."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column, []
    try:
        column.validate(full=True)
        return column, []
    except pa.ArrowInvalid:
        pass
    raw = column.view(pa.large_binary() if pa.types.is_large_string(column.type)
                      else pa.binary()).to_pylist()
    bad = []
    for k, value in enumerate(raw):
        try:
            if value is not None:
                value.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(k)
            raw[k] = None
    return pa.array(raw, pa.large_binary()).cast(column.type), bad


def _nullable_type(kind: pa.DataType):
    """Integers and booleans as pandas' nullable types, so that a column keeps its type
    whether or not a batch has a missing value."""
    return _NULLABLE.get(kind)


def _as_kept(column: pa.Array, is_geometry: bool) -> pa.Array:
    """A column as the table keeps it (see the module docstring)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _as_kept(column.dictionary_decode(), is_geometry)
    if is_geometry:  # a secondary geometry column: WKT text
        wkb = column.to_numpy(zero_copy_only=False)
        geoms = shapely.from_wkb(wkb, on_invalid="ignore")
        return pa.array(shapely.to_wkt(geoms), pa.string())
    if pa.types.is_temporal(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) \
            or pa.types.is_fixed_size_binary(kind):
        return pa.array([None if b is None else b.hex() for b in column.to_pylist()],
                        pa.string())
    if pa.types.is_nested(kind):
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False,
                                                            default=str)
                         for v in column.to_pylist()], pa.string())
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pc.cast(column, pa.string())
    return column


def _wkb_geometries(column: pa.Array, name: str, index: pd.RangeIndex
                    ) -> tuple[np.ndarray, list]:
    """Shapely geometries of a WKB column; bytes that are not WKB give None and a
    problem naming the row."""
    raw = column.to_numpy(zero_copy_only=False)
    geoms = shapely.from_wkb(raw, on_invalid="ignore")
    broken = np.flatnonzero(pd.notna(raw) & pd.isna(geoms))
    problems = [(int(index[k]), name, "not a readable WKB geometry") for k in broken]
    return geoms, problems


# --- writing -----------------------------------------------------------------------------

def points_table(table: pa.Table, lon: np.ndarray, lat: np.ndarray, *, geometry: str
                 ) -> pa.Table:
    """``table`` with a WKB point column ``geometry`` (None where a coordinate is
    missing) and its bounding-box covering column."""
    ok = np.isfinite(lon) & np.isfinite(lat)
    points = shapely.points(np.where(ok, lon, np.nan), np.where(ok, lat, np.nan))
    points[~ok] = None
    wkb = pa.array(shapely.to_wkb(points), pa.binary())
    box = pa.StructArray.from_arrays(
        [pa.array(np.where(ok, v, np.nan), pa.float64(), mask=~ok)
         for v in (lon, lat, lon, lat)], fields=list(BBOX_TYPE),
        mask=pa.array(~ok))
    return table.append_column(geometry, wkb).append_column(
        bbox_name(table.column_names), box)


def bbox_name(names: list[str]) -> str:
    """The covering column's name for a table with these columns."""
    return BBOX_COLUMN if BBOX_COLUMN not in names else f"geometry_{BBOX_COLUMN}"


def geo_metadata(geometry: str, covering: str, bbox: list[float] | None) -> bytes:
    """The ``geo`` file metadata of a point column in WGS84."""
    column = {
        "encoding": "WKB",
        "geometry_types": ["Point"],
        "crs": _WGS84.to_json_dict(),
        "covering": {"bbox": {k: [covering, k] for k in ("xmin", "ymin", "xmax", "ymax")}},
    }
    if bbox is not None:
        column["bbox"] = bbox
    meta = {"version": GEOPARQUET_VERSION, "primary_column": geometry,
            "columns": {geometry: column}}
    return json.dumps(meta).encode()


class BoundsTracker:
    """The bounding box of the points written so far."""

    def __init__(self) -> None:
        self.box: list[float] | None = None

    def add(self, lon: np.ndarray, lat: np.ndarray) -> None:
        ok = np.isfinite(lon) & np.isfinite(lat)
        if not ok.any():
            return
        got = [lon[ok].min(), lat[ok].min(), lon[ok].max(), lat[ok].max()]
        if self.box is not None:
            got = [min(got[0], self.box[0]), min(got[1], self.box[1]),
                   max(got[2], self.box[2]), max(got[3], self.box[3])]
        self.box = [float(v) for v in got]
