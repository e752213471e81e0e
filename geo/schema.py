"""Record definitions and their validation.

Validation never drops a row silently: every row is either valid or listed in a
rejection table with its row number (1 = the first record of the input: the line after
a CSV header, the first GeoJSON feature), the offending field and the reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import pycountry

from geo.dates import parse_date_column
from geo.settings import in_coverage_box

#: Why a text with a NUL character is refused (GDAL, SQL and most tools cut it there).
NUL_REASON = "contains a NUL character (0x00)"

#: Accepted spellings of the coordinate columns, in order of preference.
LAT_ALIASES = ("lat", "latitude", "y")
LON_ALIASES = ("lon", "longitude", "lng", "long", "x")

#: The enriched columns, in output order (names fixed by DESIGN.md).
ENRICHED_COLUMNS = [
    "country_iso3",
    "country_name",
    "over_water",
    "in_coverage",
    "in_kaliningrad",
    "dist_belarus_km",
    "dist_kaliningrad_km",
    "nearest_border",
    "dist_border_km",
    "nearest_place",
    "nearest_place_km",
    "location_label",
    "geocode_source",
]

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


def _pandera():
    """pandera, imported on first use (it takes a third of a second to import, and
    readers of the store never validate)."""
    import pandera.pandas as pa

    return pa


@lru_cache(maxsize=1)
def point_schema():
    """Checks of located points: numeric WGS84 coordinates (NaN = not given), unique
    ids, no lat/lon swap."""
    pa = _pandera()
    return pa.DataFrameSchema(
        {
            "lat": pa.Column(float, pa.Check.in_range(
                -90, 90, error="latitude must be within ±90"), nullable=True),
            "lon": pa.Column(float, pa.Check.in_range(
                -180, 180, error="longitude must be within ±180"), nullable=True),
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
            return pd.DataFrame(columns=[*REJECT_COLUMNS, *report_names(frame.columns)])
        items = pd.DataFrame(self._items, columns=["label", "field", "reason"])
        merged = items.groupby("label", sort=False).agg(
            field=("field", lambda s: ",".join(dict.fromkeys(",".join(s).split(",")))),
            reason=("reason", lambda s: "; ".join(dict.fromkeys(s))),
        )
        out = frame.loc[merged.index].set_axis(report_names(frame.columns), axis=1)
        out.insert(0, "reason", merged["reason"].to_numpy())
        out.insert(0, "field", merged["field"].to_numpy())
        out.insert(0, "row", row_numbers.loc[merged.index].to_numpy())
        return out.sort_values("row", kind="stable")


def report_names(columns) -> list:
    """Input columns' names in a rejection table: an input's own ``row``, ``field``,
    ``reason`` or ``raw`` becomes ``input_row`` (``input_input_row`` if that is taken
    too, and so on), so that the report's columns stay the report's."""
    reserved = {*REJECT_COLUMNS, "raw", "layer"}
    taken = set(map(str, columns)) | reserved
    out = []
    for name in columns:
        new = name
        while new in reserved or (new != name and new in taken):
            new = f"input_{new}"
        taken.add(new)
        out.append(new)
    return out


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
                    rejects: RejectList, *, check_dates: bool = True) -> pd.DataFrame:
    """Check coordinates, ids and dates of incident-like rows.

    Returns a frame with numeric ``lat``/``lon`` (NaN where not given); every problem,
    including an unreadable ``date`` where the input has that column (unless
    ``check_dates`` is false because the caller validates whole records), goes to
    ``rejects``.
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
        point_schema().validate(checked, lazy=True)
    except _pandera().errors.SchemaErrors as exc:
        _collect_schema_failures(exc.failure_cases, rejects, {"lat": lat_col, "lon": lon_col})
    if check_dates and "date" in frame.columns:
        dates = parse_date_column(frame["date"])
        bad = dates["error"] != ""
        rejects.add_many(frame.index[bad], "date", dates.loc[bad, "error"])
    return checked


def _shown(value: object) -> str:
    """A failing value as a person would write it."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat().replace("+00:00", "Z")
    return repr(value) if isinstance(value, str) else str(value)


def _collect_schema_failures(cases: pd.DataFrame, rejects: RejectList,
                             names: dict[str, str | None]) -> None:
    """Turn pandera's failure cases into row-level rejections naming field and value."""
    for case in cases.itertuples(index=False):
        if pd.isna(case.index):
            continue
        reason = str(case.check)
        if case.schema_context == "Column":
            field = names.get(case.column) or case.column
            if case.column == "id" and "unique" in reason:
                reason = f"duplicate id {case.failure_case!r}"
            elif reason != "required but empty":
                reason = f"{reason} (got {_shown(case.failure_case)})"
        elif reason in _FRAME_CHECK_FIELDS:
            field = _FRAME_CHECK_FIELDS[reason]
        else:  # the lat/lon swap check
            field = f"{names['lat'] or 'lat'},{names['lon'] or 'lon'}"
        rejects.add(case.index, field, reason)


# --- Record types ---------------------------------------------------------------------

INCIDENT_TYPES = ("drone", "aircraft", "missile", "balloon", "helicopter", "debris", "unknown")
DATE_PRECISIONS = ("day", "month", "year")
LOCATION_PRECISIONS = ("exact", "approximate", "region")
CONFIDENCES = ("confirmed", "reported", "disputed")
#: What a deployment record describes.
DEPLOYMENT_KINDS = ("missile_system", "air_defence", "ground_forces", "combat_aircraft",
                    "exercise", "procurement", "training", "mission")
DEPLOYMENT_STATUSES = ("active", "planned", "exercise", "ended")
DEFENSE_LINE_STATUSES = ("planned", "under_construction", "active")

#: Separator of several values in one text cell (source ids, track times, borders).
LIST_SEPARATOR = ";"

_DATED = ("date", "date_end", "date_precision")
_LOCATED = ("lat", "lon", "location_precision", "location_basis")
_ATTRIBUTED = ("description", "sources", "confidence", "notes")


@dataclass(frozen=True)
class RecordType:
    """The one definition of a kind of record: its columns and what each may hold."""

    name: str
    #: Canonical columns, in file order.
    columns: tuple[str, ...]
    #: Columns every record must fill.
    required: tuple[str, ...]
    #: Columns restricted to a fixed vocabulary.
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Columns holding an ISO 3166 alpha-3 code (empty allowed unless required).
    iso3: tuple[str, ...] = ()
    #: Numeric columns (empty allowed unless required), with their allowed range.
    numbers: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: "point" (lat/lon columns), "line" (a GeoJSON geometry) or None.
    geometry: str | None = None

    @property
    def dated(self) -> bool:
        """Whether records carry ``date``/``date_end``/``date_precision``."""
        return "date" in self.columns


INCIDENT = RecordType(
    "incident",
    ("id", *_DATED, "type", *_LOCATED, "origin", "title", *_ATTRIBUTED, "event", "count"),
    required=("id", "date", "date_precision", "type", "confidence"),
    choices={"date_precision": DATE_PRECISIONS, "type": INCIDENT_TYPES,
             "location_precision": LOCATION_PRECISIONS, "confidence": CONFIDENCES},
    iso3=("origin",),
    numbers={"count": (1.0, 100_000.0)},
    geometry="point",
)
#: One event several incident records belong to ("Poland, night of 9–10 September
#: 2025"), with the totals the sources give for it (an incident's ``event`` names it).
EVENT = RecordType(
    "event",
    ("id", *_DATED, "title", "violations", "shot_down", "sources", "notes"),
    required=("id", "date", "date_precision", "title"),
    choices={"date_precision": DATE_PRECISIONS},
    numbers={"violations": (0.0, 100_000.0), "shot_down": (0.0, 100_000.0)},
)
DEPLOYMENT = RecordType(
    "deployment",
    ("id", *_DATED, "kind", "status", "name", "operator", "host_iso3", *_LOCATED,
     *_ATTRIBUTED),
    required=("id", "date", "date_precision", "kind", "status", "name", "lat", "lon",
              "location_precision", "location_basis", "description", "sources",
              "confidence"),
    choices={"date_precision": DATE_PRECISIONS, "kind": DEPLOYMENT_KINDS,
             "status": DEPLOYMENT_STATUSES, "location_precision": LOCATION_PRECISIONS,
             "confidence": CONFIDENCES},
    iso3=("host_iso3",),
    geometry="point",
)
DEFENSE_LINE = RecordType(
    "defense_line",
    ("id", *_DATED, "name", "country_iso3", "status", "borders", "depth_km", "schematic",
     *_ATTRIBUTED),
    required=("id", "date", "date_precision", "name", "country_iso3", "status", "schematic",
              "description", "sources", "confidence"),
    choices={"date_precision": DATE_PRECISIONS, "status": DEFENSE_LINE_STATUSES,
             "confidence": CONFIDENCES, "schematic": ("true", "false")},
    iso3=("country_iso3",),
    numbers={"depth_km": (0.0, 1000.0)},
    geometry="line",
)
TRACK = RecordType(
    "track",
    ("id", "incident_id", "type", "times", "sources", "notes"),
    required=("id",),
    choices={"type": INCIDENT_TYPES},
    geometry="line",
)
SOURCE = RecordType(
    "source",
    ("id", "publication", "title", "published", "url", "document"),
    required=("id", "title"),
)

#: Every record type by name.
RECORD_TYPES = {rt.name: rt for rt in (INCIDENT, DEPLOYMENT, DEFENSE_LINE, TRACK, SOURCE,
                                         EVENT)}

_ISO3_CODES = frozenset(c.alpha_3 for c in pycountry.countries)

_END_BEFORE_START = "date_end is before date"
#: Field named in a rejection by each frame-wide check.
_FRAME_CHECK_FIELDS = {_END_BEFORE_START: "date_end"}


#: What each stored column holds, for the stores' column types (any column not named
#: here is text): timestamps (UTC), real numbers, true/false.
DATE_COLUMNS = frozenset({"date", "date_end", "published"})
REAL_COLUMNS = frozenset({"lat", "lon", "depth_km", "dist_belarus_km", "dist_kaliningrad_km",
                          "dist_border_km", "nearest_place_km", "count", "violations",
                          "shot_down"})
BOOL_COLUMNS = frozenset({"over_water", "in_coverage", "in_kaliningrad"})


def column_kind(name: str) -> str:
    """"date", "real", "bool" or "text": what a stored column holds (see
    :data:`DATE_COLUMNS`)."""
    for kind, names in (("date", DATE_COLUMNS), ("real", REAL_COLUMNS),
                        ("bool", BOOL_COLUMNS)):
        if name in names:
            return kind
    return "text"


#: Columns of prose, kept exactly as written (leading spaces or tabs included: they
#: can be part of the value); a cell of only whitespace counts as empty.
FREE_TEXT = frozenset({"title", "description", "notes", "name", "operator",
                       "location_basis", "publication", "document"})


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as text, empty where absent or missing: stripped, except the prose
    columns of :data:`FREE_TEXT`, which keep their exact text."""
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    text = frame[column].astype("string").fillna("")
    stripped = text.str.strip()
    if column in FREE_TEXT:
        return text.where(stripped != "", "").astype(object)
    return stripped.astype(object)


def _record_schema(rt: RecordType, now: pd.Timestamp):
    """The pandera schema of a record type's typed frame (see :func:`validate_records`)."""
    pa = _pandera()
    columns: dict = {}
    for name in rt.columns:
        if name in ("lat", "lon", "date", "date_end") or name in rt.numbers:
            continue
        checks = []
        if name in rt.required:
            checks.append(pa.Check(lambda s: s != "", error="required but empty"))
        if name in rt.choices:
            allowed = rt.choices[name]
            checks.append(pa.Check(lambda s, a=allowed: (s == "") | s.isin(a),
                                   error=f"must be one of {', '.join(allowed)}"))
        if name in rt.iso3:
            checks.append(pa.Check(lambda s: (s == "") | s.isin(_ISO3_CODES),
                                   error="not an ISO 3166 alpha-3 country code"))
        if name == "url":
            checks.append(pa.Check.str_matches(r"^(https?://\S+)?$",
                                               error="only http(s) links are accepted"))
        columns[name] = pa.Column(str, checks, unique=name == "id",
                                  report_duplicates="exclude_first")
    for name, (low, high) in rt.numbers.items():
        columns[name] = pa.Column(float, pa.Check.in_range(low, high,
                                                           error=f"must be {low}–{high}"),
                                  nullable=name not in rt.required)
    if rt.dated:
        columns["date"] = pa.Column(checks=pa.Check(lambda s: s.isna() | (s <= now),
                                                    error="date is in the future"),
                                    nullable=True)
        columns["date_end"] = pa.Column(checks=pa.Check(
            lambda s: s.isna() | (s <= now), error="date_end is in the future"), nullable=True)
    checks = []
    if rt.dated:
        checks.append(pa.Check(lambda f: f["date_end"].isna() | f["date"].isna()
                               | (f["date_end"] >= f["date"]),
                               error=_END_BEFORE_START))
    return pa.DataFrameSchema(columns, checks=checks)


def period_end_inclusive(start: pd.Series, precision: pd.Series) -> pd.Series:
    """The last day of the month or year that starts at ``start`` (a day stays itself).

    Ends are inclusive days, like the dates people write: "until 2025" means up to
    and including 31 December 2025.
    """
    day = start.dt.normalize()
    month = day + pd.offsets.MonthEnd(0)
    year = day + pd.offsets.YearEnd(0)
    return start.where(precision == "day", month.where(precision == "month", year))


def _parse_dates(frame: pd.DataFrame, typed: pd.DataFrame, rejects: RejectList) -> None:
    """Fill ``date``, ``date_end`` and ``date_precision`` of ``typed`` from reported text.

    An explicit ``date_end`` or ``date_precision`` in the input wins over what the
    ``date`` text implies (for "Sep 2025" the precision is month unless stated).
    """
    parsed = parse_date_column(_text(frame, "date"))
    bad = parsed["error"] != ""
    rejects.add_many(frame.index[bad], "date", parsed.loc[bad, "error"])
    typed["date"] = parsed["date"]
    end_text = _text(frame, "date_end")
    given = end_text != ""
    ends = parse_date_column(end_text[given])
    bad_end = ends["error"] != ""
    rejects.add_many(ends.index[bad_end], "date_end", ends.loc[bad_end, "error"])
    explicit_end = ends["date_end"].fillna(period_end_inclusive(ends["date"],
                                                         ends["date_precision"]))
    explicit_end = explicit_end.reindex(frame.index)
    typed["date_end"] = explicit_end.where(given, parsed["date_end"])
    precision = _text(frame, "date_precision").str.lower()
    typed["date_precision"] = precision.where(precision != "",
                                              parsed["date_precision"].fillna(""))


def validate_records(frame: pd.DataFrame, record_type: RecordType | str,
                     rejects: RejectList, *, now: pd.Timestamp | None = None
                     ) -> pd.DataFrame:
    """Check every non-coordinate field of records of one type.

    Returns the typed canonical frame (text columns stripped, vocabulary columns in
    lower case, dates as UTC timestamps, numbers as floats; coordinates are checked by
    :func:`validate_points`). Every problem goes to ``rejects`` with the field and the
    reason; nothing is dropped here.
    """
    rt = RECORD_TYPES[record_type] if isinstance(record_type, str) else record_type
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    typed = pd.DataFrame(index=frame.index)
    for name in rt.columns:
        if name in ("lat", "lon") or (rt.dated and name in _DATED):
            continue
        if name in rt.numbers:
            typed[name] = _numeric(_text(frame, name), name, rejects)
            continue
        text = _text(frame, name)
        nul = text.str.contains("\x00", regex=False)
        if nul.any():  # neither SQL text nor most tools keep it; refused, not altered
            rejects.add_many(text.index[nul], name, NUL_REASON)
        typed[name] = text.str.lower() if name in rt.choices else text
    for name in rt.iso3:
        typed[name] = typed[name].str.upper()
    if rt.dated:
        _parse_dates(frame, typed, rejects)
    if "published" in rt.columns:
        given = typed["published"] != ""
        parsed = parse_date_column(typed.loc[given, "published"])
        bad = parsed["error"] != ""
        rejects.add_many(parsed.index[bad], "published", parsed.loc[bad, "error"])
    checked = typed
    if rt.dated:  # an unreadable date is reported once, not again as a missing precision
        unread = typed["date"].isna() & (typed["date_precision"] == "")
        checked = typed.assign(date_precision=typed["date_precision"].mask(unread, "day"))
    try:
        _record_schema(rt, now).validate(checked, lazy=True)
    except _pandera().errors.SchemaErrors as exc:
        _collect_schema_failures(exc.failure_cases, rejects, {"lat": None, "lon": None})
    return typed[[c for c in rt.columns if c in typed.columns]]


def stable_ids(frame: pd.DataFrame, *, prefix: str = "auto-") -> pd.Series:
    """Ids for records that have none: a hash of the row's values, so that importing
    the same file again gives the same ids (and changes nothing)."""
    if not len(frame):
        return pd.Series([], index=frame.index, dtype=object)
    if not len(frame.columns):  # features with no properties at all
        frame = pd.DataFrame({"": ""}, index=frame.index)
    joined = frame.astype("string").fillna("").agg("\x1f".join, axis=1)
    return joined.map(lambda row: prefix + hashlib.sha1(row.encode()).hexdigest()[:16])


def split_list(text: str) -> list[str]:
    """The items of a ``;``-separated cell, stripped, empty ones left out."""
    return [item.strip() for item in str(text or "").split(LIST_SEPARATOR) if item.strip()]
