"""Reading and writing incident tables: CSV, GeoJSON, GeoPackage.

A table is read with every column kept as given (CSV cells as text), plus the row number
a person would use to find a record: 1 for the first record (the line after a CSV
header, the first GeoJSON feature).
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyogrio
import shapely

from geo.errors import InputError
from geo.schema import coordinate_columns

CSV_SUFFIXES = {".csv", ".txt"}
GEO_SUFFIXES = {".geojson", ".json", ".gpkg"}
OUTPUT_SUFFIXES = {".csv", ".geojson", ".gpkg"}


@dataclass
class Table:
    """An input table: its columns as read and, for geodata, each row's point.

    The frame's index is the record's position (0 = the first record), kept through
    malformed records that are left out of the frame.
    """

    frame: pd.DataFrame
    #: Longitude/latitude of Point geometries (GeoJSON, GeoPackage); None for CSV.
    points: pd.DataFrame | None = None
    #: Rows whose geometry is not a point: row label -> geometry type.
    non_points: dict | None = None
    #: CSV records that could not be split into the header's fields:
    #: (row number, reason, raw text).
    malformed: list = field(default_factory=list)

    @property
    def row_numbers(self) -> pd.Series:
        """The row number a person would use for each record: 1 = the first."""
        return pd.Series(np.asarray(self.frame.index) + 1, index=self.frame.index)


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


def _read_csv(path: Path) -> tuple[pd.DataFrame, list]:
    """Every cell as text; UTF-8 (with or without a byte-order mark), else Windows-1252."""
    last_error: Exception | None = None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            sep = _delimiter(path, encoding)
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding,
                                sep=sep)
        except UnicodeDecodeError as exc:
            last_error = exc
            continue
        except (pd.errors.ParserError, csv.Error):
            return _read_csv_by_record(path, encoding, sep)
        except pd.errors.EmptyDataError as exc:
            msg = f"{path}: the file is empty"
            raise InputError(msg) from exc
        frame.columns = [str(c).strip() for c in frame.columns]
        return frame, []
    msg = f"{path}: not a text CSV file in UTF-8 or Windows-1252 ({last_error})"
    raise InputError(msg)


def _delimiter(path: Path, encoding: str) -> str:
    """The header's field separator: comma, or semicolon/tab/pipe where the header uses
    one of those instead (spreadsheet exports with decimal commas use semicolons)."""
    with open(path, encoding=encoding, newline="") as fh:
        header = fh.readline()
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > counts[","] else ","


def _read_csv_by_record(path: Path, encoding: str, sep: str) -> tuple[pd.DataFrame, list]:
    """Read a CSV whose records do not all have the header's number of fields.

    The well-formed records keep their positions (index = record number - 1); each
    malformed one is returned as (record number, reason, raw fields).
    """
    good_rows, good_index, malformed = [], [], []
    with open(path, newline="", encoding=encoding) as fh:
        reader = csv.reader(fh, delimiter=sep)
        header = [str(c).strip() for c in next(reader, [])]
        for number, fields in enumerate(reader, start=1):
            if len(fields) == len(header):
                good_rows.append(fields)
                good_index.append(number - 1)
            elif any(f.strip() for f in fields):
                reason = f"{len(fields)} fields where the header has {len(header)}"
                malformed.append((number, reason, sep.join(fields)))
    return pd.DataFrame(good_rows, columns=header, index=good_index), malformed


def _read_geo(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    try:
        gdf = gpd.read_file(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        msg = f"{path}: not a readable GeoJSON/GeoPackage file ({exc})"
        raise InputError(msg) from exc
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        msg = f"{path}: coordinates are in {gdf.crs.name}; expected WGS84 (EPSG:4326)"
        raise InputError(msg)
    geoms = gdf.geometry.values
    is_point = shapely.get_type_id(geoms) == 0
    points = pd.DataFrame({"lon": shapely.get_x(geoms), "lat": shapely.get_y(geoms)},
                          index=gdf.index).where(pd.Series(is_point, index=gdf.index), axis=0)
    non_points = {i: g.geom_type for i, g, p in zip(gdf.index, geoms, is_point, strict=True)
                  if g is not None and not p}
    return pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), points, non_points


def read_table(path: str | Path, *, column_map: dict[str, str] | None = None) -> Table:
    """Read an incident table from CSV, GeoJSON or GeoPackage.

    Parameters
    ----------
    path : path
        The input; its format comes from its extension.
    column_map : dict, optional
        ``{source_column: canonical_column}`` renames applied first.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        msg = f"{path}: no such file"
        raise InputError(msg)
    if suffix in CSV_SUFFIXES:
        frame, malformed = _read_csv(path)
        table = Table(frame, malformed=malformed)
    elif suffix in GEO_SUFFIXES:
        frame, points, non_points = _read_geo(path)
        table = Table(frame, points=points, non_points=non_points)
    else:
        msg = f"{path}: unknown input format {suffix!r}; expected one of " \
              f"{sorted(CSV_SUFFIXES | GEO_SUFFIXES)}"
        raise InputError(msg)
    if column_map:
        table.frame = _apply_map(table.frame, column_map)
    return table


def check_output_path(path: str | Path) -> Path:
    """Return the path if its extension names an output format this tool writes."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        msg = f"{path}: unknown output format {path.suffix!r}; expected one of " \
              f"{sorted(OUTPUT_SUFFIXES)}"
        raise InputError(msg)
    return path


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV through Arrow's writer (about 15x faster than pandas on a million rows);
    pandas writes columns Arrow cannot type, such as mixed text and numbers."""
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        frame.to_csv(path, index=False, lineterminator="\n")
        return
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table with ``lat``/``lon`` columns; the format comes from the extension.

    The file appears whole or not at all (written beside the target, then renamed).
    """
    path = check_output_path(path)
    suffix = path.suffix.lower()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if suffix == ".csv":
            _write_csv(frame, tmp)
        else:
            tmp.unlink()
            lat_col, lon_col = coordinate_columns(list(frame.columns))
            if lat_col is None or lon_col is None:
                msg = f"{path}: the table has no latitude/longitude columns to map"
                raise InputError(msg)
            lon = pd.to_numeric(frame[lon_col].astype(str).str.replace(",", "."),
                                errors="coerce")
            lat = pd.to_numeric(frame[lat_col].astype(str).str.replace(",", "."),
                                errors="coerce")
            geom = gpd.points_from_xy(lon, lat, crs=4326)
            gdf = gpd.GeoDataFrame(frame, geometry=geom)
            driver = "GeoJSON" if suffix == ".geojson" else "GPKG"
            gdf.to_file(tmp, driver=driver, layer="incidents" if driver == "GPKG" else None)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
