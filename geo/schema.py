"""Record definitions and their validation.

Validation never drops a row silently: every row is either valid or listed in a
rejection table with its row number (1 = the first record of the input: the line after
a CSV header, the first GeoJSON feature), the offending field and the reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from geo.dates import parse_date_column
from geo.settings import in_coverage_box

#: Accepted spellings of the coordinate columns, in order of preference.
LAT_ALIASES = ("lat", "latitude", "y")
LON_ALIASES = ("lon", "longitude", "lng", "long", "x")

#: Columns of a rejection table; the input's own columns follow them.
REJECT_COLUMNS = ["row", "field", "reason"]


def coordinate_columns(columns: list[str]) -> tuple[str | None, str | None]:
    """Return the names of the latitude and longitude columns, or None where absent."""
    lower = {str(c).strip().lower(): c for c in columns}
    lat = next((lower[a] for a in LAT_ALIASES if a in lower), None)
    lon = next((lower[a] for a in LON_ALIASES if a in lower), None)
    return lat, lon


def _not_swapped(frame: pd.DataFrame) -> pd.Series:
    """False where a point is outside coverage but would be inside with lat/lon swapped."""
    inside = in_coverage_box(frame["lon"], frame["lat"])
    return inside | ~in_coverage_box(frame["lat"], frame["lon"])


#: Checks of located points: numeric WGS84 coordinates (NaN = not given), unique ids.
POINT_SCHEMA = pa.DataFrameSchema(
    {
        "lat": pa.Column(float, pa.Check.in_range(-90, 90, error="latitude must be within ±90"),
                         nullable=True),
        "lon": pa.Column(float, pa.Check.in_range(-180, 180,
                                                  error="longitude must be within ±180"),
                         nullable=True),
        "id": pa.Column(str, nullable=True, required=False, unique=True,
                        report_duplicates="exclude_first"),
    },
    checks=pa.Check(_not_swapped, error="outside coverage; lat/lon swapped?"),
)


class RejectList:
    """Collects (row index, field, reason) and renders the rejection table."""

    def __init__(self) -> None:
        self._items: list[tuple[object, str, str]] = []

    def add(self, index: object, field: str, reason: str) -> None:
        """Record one problem of the row with this index label."""
        self._items.append((index, field, reason))

    def add_many(self, index: pd.Index, field: str, reasons: pd.Series | str) -> None:
        """Record one problem for each row label in ``index``."""
        texts = [reasons] * len(index) if isinstance(reasons, str) else list(reasons)
        self._items.extend(zip(index, [field] * len(index), texts, strict=True))

    @property
    def index(self) -> pd.Index:
        """Labels of the rejected rows, in input order, each once."""
        return pd.Index(pd.unique(pd.Series([i for i, _, _ in self._items], dtype=object)))

    def table(self, frame: pd.DataFrame, row_numbers: pd.Series) -> pd.DataFrame:
        """One row per rejected input row: ``row, field, reason`` then its own values."""
        if not self._items:
            return pd.DataFrame(columns=[*REJECT_COLUMNS, *frame.columns])
        items = pd.DataFrame(self._items, columns=["label", "field", "reason"])
        merged = items.groupby("label", sort=False).agg(
            field=("field", lambda s: ",".join(dict.fromkeys(",".join(s).split(",")))),
            reason=("reason", lambda s: "; ".join(dict.fromkeys(s))),
        )
        out = frame.loc[merged.index].copy()
        out.insert(0, "reason", merged["reason"].to_numpy())
        out.insert(0, "field", merged["field"].to_numpy())
        out.insert(0, "row", row_numbers.loc[merged.index].to_numpy())
        return out.sort_values("row", kind="stable")


def _numeric(values: pd.Series, field: str, rejects: RejectList) -> pd.Series:
    """Numbers from text; text that is not a number is rejected (blank means absent)."""
    text = values.astype("string").str.strip().fillna("")
    number = pd.to_numeric(text.str.replace(",", ".", regex=False).where(text != ""),
                           errors="coerce")
    bad = (text != "") & number.isna()
    rejects.add_many(values.index[bad], field,
                     "not a number: " + text[bad].str.slice(0, 40).map(repr))
    return number.astype(float)


def validate_points(frame: pd.DataFrame, lat_col: str | None, lon_col: str | None,
                    rejects: RejectList) -> pd.DataFrame:
    """Check coordinates, ids and dates of incident-like rows.

    Returns a frame with numeric ``lat``/``lon`` (NaN where not given); every problem,
    including an unreadable ``date`` where the input has that column, goes to ``rejects``.
    """
    checked = pd.DataFrame(index=frame.index)
    checked["lat"] = (_numeric(frame[lat_col], lat_col, rejects) if lat_col
                      else pd.Series(np.nan, index=frame.index))
    checked["lon"] = (_numeric(frame[lon_col], lon_col, rejects) if lon_col
                      else pd.Series(np.nan, index=frame.index))
    if "id" in frame.columns:
        ids = frame["id"].astype("string").str.strip()
        checked["id"] = ids.where(ids != "").astype(object)
    try:
        POINT_SCHEMA.validate(checked, lazy=True)
    except pa.errors.SchemaErrors as exc:
        _collect_schema_failures(exc.failure_cases, rejects, {"lat": lat_col, "lon": lon_col})
    if "date" in frame.columns:
        dates = parse_date_column(frame["date"])
        bad = dates["error"] != ""
        rejects.add_many(frame.index[bad], "date", dates.loc[bad, "error"])
    return checked


def _collect_schema_failures(cases: pd.DataFrame, rejects: RejectList,
                             names: dict[str, str | None]) -> None:
    for case in cases.itertuples(index=False):
        if pd.isna(case.index):
            continue
        if case.schema_context == "Column":
            field = names.get(case.column) or case.column
        else:  # a frame-wide check such as the lat/lon swap
            field = f"{names['lat'] or 'lat'},{names['lon'] or 'lon'}"
        reason = str(case.check)
        if case.column == "id" and "unique" in reason:
            reason = f"duplicate id {case.failure_case!r}"
        rejects.add(case.index, field, reason)
