"""What the dashboard asks of the store and derives from it (no Streamlit here)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from geo.dates import day_bounds, format_date, record_periods
from geo.filters import IncidentFilter
from geo.schema import INCIDENT_TYPES, split_list
from geo.settings import GEOD
from geo.store.base import Store

#: Columns of the incident table, in order.
TABLE_COLUMNS = ["id", "date", "date_end", "date_precision", "type", "title", "event", "count",
                 "country_iso3", "location_label", "location_precision", "dist_belarus_km",
                 "dist_kaliningrad_km", "nearest_border", "dist_border_km", "confidence",
                 "origin", "sources", "description", "notes"]

#: Metres per screen pixel at zoom 0 on the equator (Web Mercator, 256-pixel tiles).
_M_PER_PX_ZOOM0 = 156_543.034


#: Columns the map and the summary need for every incident; the rest (popups, table)
#: is read only for small selections or for the newest rows.
MAP_COLUMNS = ["id", "lat", "lon", "type", "confidence", "location_precision", "date",
               "date_end", "date_precision", "country_iso3", "event"]

#: Rows of the incident table (the newest ones); the map shows all.
TABLE_ROWS = 2000


def filtered_incidents(store: Store, filters: IncidentFilter, *, full_below: int
                       ) -> pd.DataFrame:
    """The incidents a filter selects: every column when there are fewer than
    ``full_below`` of them in the store's search box, else only :data:`MAP_COLUMNS`
    (much faster to read)."""
    in_box = replace(filters, area=None, around=None, bbox=filters.search_box())
    if store.count_incidents(in_box) <= full_below:
        return store.incidents(filters)
    return store.incidents(filters, columns=MAP_COLUMNS)


def newest_incidents(store: Store, filters: IncidentFilter) -> pd.DataFrame:
    """The newest :data:`TABLE_ROWS` incidents a filter selects. (With an
    area, the newest of the area's box are read and those outside dropped: a few may be
    missing from a full table; the map and the counts hold them all.)"""
    return store.incidents(filters, newest=TABLE_ROWS)


def preset_range(preset: str, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """Dates of a period preset: "all", "last 7 days" (…30, 90) or a year "2025"."""
    if preset == "all":
        return None, None
    if preset.startswith("last "):
        days = int(preset.split()[1])
        return today - dt.timedelta(days=days - 1), today
    year = int(preset)
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def typed_day(text: str, *, last: bool = False) -> dt.date | None:
    """A day typed as an ISO date (``2025-09-01``), or a month (``2025-09``) or a year
    (``2025``) read as its first day, or with ``last`` its last day; None for no text.
    Anything else is a ValueError naming the text."""
    text = text.strip()
    if not text:
        return None
    for form, precision in (("%Y-%m-%d", "day"), ("%Y-%m", "month"), ("%Y", "year")):
        try:
            day = dt.datetime.strptime(text, form).date()
        except ValueError:
            continue
        if not last or precision == "day":
            return day
        return (pd.Timestamp(day) + (pd.offsets.MonthEnd(0) if precision == "month"
                                     else pd.offsets.YearEnd(0))).date()
    msg = f"{text!r} is not a date written YYYY-MM-DD (or YYYY-MM, YYYY)"
    raise ValueError(msg)


def time_axis(incidents: pd.DataFrame, start: dt.date | None = None,
              end: dt.date | None = None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The span every time axis of a selection shows (timeline, atlas weeks, the time
    control, the period beside the map): the filter's period, ``start`` 00:00 to the end
    of ``end`` (UTC, end exclusive); a side the filter leaves open is the data's own
    (first start, last end). A record that began earlier or ends later never widens it."""
    low, high = day_bounds(start, end)
    if (low is None or high is None) and len(incidents):
        begins, ends = record_periods(incidents)
        low = begins.min() if low is None else low
        high = ends.max() if high is None else high
    return (None if pd.isna(low) else low), (None if pd.isna(high) else high)


def axis_starts(incidents: pd.DataFrame, low: pd.Timestamp | None) -> pd.Series:
    """Where each record starts on a time axis beginning at ``low``: its own start, or
    ``low`` for a record that began before it (it is going on when the axis begins)."""
    return pd.to_datetime(incidents["date"], utc=True).clip(lower=low)


def began_before(incidents: pd.DataFrame, start: dt.date | None) -> tuple[int, str]:
    """How many records of a selection began before the filter's ``start``, and the
    earliest beginning as precisely as it is known ("2022"): the "ongoing since" note."""
    if start is None or incidents.empty:
        return 0, ""
    begins = pd.to_datetime(incidents["date"], utc=True)
    early = begins < day_bounds(start, None)[0]
    if not early.any():
        return 0, ""
    first = begins[early].idxmin()
    precision = incidents["date_precision"].at[first] if "date_precision" in incidents \
        else "day"
    return int(early.sum()), format_date(begins.at[first], precision)


def weekly_counts(incidents: pd.DataFrame, start: dt.date | None = None,
                  end: dt.date | None = None) -> pd.DataFrame:
    """Incidents per week (weeks starting Monday) and type, over the selection's time
    axis (:func:`time_axis`); a record that began before it is counted in its first
    week."""
    if incidents.empty or incidents["date"].isna().all():
        return pd.DataFrame(columns=list(INCIDENT_TYPES))
    low, high = time_axis(incidents, start, end)
    starts = axis_starts(incidents, low).dt.tz_convert(None)
    week = starts.dt.to_period("W-SUN").dt.start_time
    counts = pd.crosstab(week, incidents["type"])
    last = (high - pd.Timedelta(microseconds=1)).tz_convert(None).to_period("W-SUN")
    full = pd.date_range(low.tz_convert(None).to_period("W-SUN").start_time,
                         max(last.start_time, counts.index.max()), freq="7D")
    ordered = [t for t in INCIDENT_TYPES if t in counts.columns]
    return counts.reindex(full, fill_value=0)[ordered].rename_axis("week")


def incident_at(incidents: pd.DataFrame, lat: float, lon: float, zoom: int,
                *, tolerance_px: float = 14.0) -> str | None:
    """The id of the incident drawn under a click, or None.

    The nearest incident (geodesic distance) counts when it is within ``tolerance_px``
    screen pixels at the map's zoom; region-precision markers are drawn larger.
    """
    if incidents.empty:
        return None
    lats = incidents["lat"].to_numpy(float)
    lons = incidents["lon"].to_numpy(float)
    _, _, dist_m = GEOD.inv(np.full(len(lats), lon), np.full(len(lats), lat), lons, lats)
    m_per_px = _M_PER_PX_ZOOM0 * np.cos(np.radians(lat)) / 2 ** zoom
    radius_px = np.where(incidents["location_precision"].to_numpy() == "region", 13, 7)
    reach = (radius_px + tolerance_px) * m_per_px
    hits = np.flatnonzero(dist_m <= reach)
    if not len(hits):
        return None
    return str(incidents["id"].iloc[hits[np.argmin(dist_m[hits])]])


def track_crossings(tracks: pd.DataFrame) -> pd.DataFrame:
    """Border crossings of every track, with the track's id."""
    from geo.tracks import CROSSING_COLUMNS, analyse_track  # reads the boundaries

    if tracks.empty:
        return pd.DataFrame(columns=[*CROSSING_COLUMNS, "track_id"])
    frames = []
    for row in tracks.itertuples():
        times = split_list(getattr(row, "times", "") or "")
        report = analyse_track(row.geometry, pd.to_datetime(times, utc=True) if times else None)
        frames.append(report.crossings.assign(track_id=row.id))
    return pd.concat(frames, ignore_index=True)


def source_titles(sources: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``{source id: (title, url)}`` from the sources table."""
    return {r.id: (f"{r.publication}: {r.title}" if r.publication else r.title, r.url)
            for r in sources.itertuples()}


#: The incident table's headings (the stored column names are for files, not readers).
TABLE_LABELS = {"id": "Id", "date": "Date", "date_end": "Until",
                "date_precision": "Known to the", "type": "Type", "title": "Title",
                "event": "Event", "count": "How many",
                "country_iso3": "Airspace", "location_label": "Where",
                "location_precision": "Position", "dist_belarus_km": "From Belarus, km",
                "dist_kaliningrad_km": "From Kaliningrad, km",
                "nearest_border": "Nearest border", "dist_border_km": "From it, km",
                "confidence": "Confidence", "origin": "From (origin)", "sources": "Sources",
                "description": "Description", "notes": "Notes"}

#: What each column of an incident file holds: the Import tab's guide (allowed values
#: and which columns are required come from ``geo.schema.INCIDENT``).
COLUMN_MEANINGS = {
    "id": "a unique, stable name for the record; a record imported again under the same "
          "id replaces it (its history is kept)",
    "date": "when it began, UTC: 2025-09-10T02:30Z, 2025-09-10, 2025-09 or 2025 (a time "
            "with its zone, +03:00 or EEST, is converted)",
    "date_end": "the last day of a period, if it lasted",
    "date_precision": "how much of the date is known",
    "type": "what crossed",
    "lat": "latitude, WGS84 degrees (latitude and y are read too)",
    "lon": "longitude, WGS84 degrees (longitude and x are read too); or instead of lat "
           "and lon a 'place' column with a place name",
    "location_precision": "how well the position is known ('region': only the country)",
    "location_basis": "where the position comes from",
    "origin": "the ISO 3166 alpha-3 code of the state it came from, if known",
    "title": "a one-line summary",
    "description": "what happened",
    "sources": "source ids or addresses, separated by ';'",
    "confidence": "how sure the record is",
    "notes": "what the sources leave open or disagree on",
    "event": "the id of the event the record belongs to (an events file lists them)",
    "count": "how many objects the record is about, where known",
}


def event_counts(incidents: pd.DataFrame, events: pd.DataFrame
                 ) -> list[tuple[str, str, int]]:
    """(event id, title, records of the selection in it), most records first; records
    of no event are not counted. An event missing from ``events`` goes by its id."""
    if "event" not in incidents:
        return []
    named = incidents["event"].fillna("")
    counts = named[named != ""].value_counts()
    titles = dict(zip(events["id"], events["title"], strict=True)) if len(events) else {}
    return [(ident, titles.get(ident) or ident, int(n)) for ident, n in counts.items()]


def column_guide() -> pd.DataFrame:
    """The columns an incident file may have: required or not, allowed values, meaning
    (computed columns such as distances are added on import, never read)."""
    from geo.schema import INCIDENT

    return pd.DataFrame({
        "column": list(INCIDENT.columns),
        "required": ["yes" if c in INCIDENT.required else "" for c in INCIDENT.columns],
        "values": [", ".join(INCIDENT.choices.get(c, ())) for c in INCIDENT.columns],
        "meaning": [COLUMN_MEANINGS.get(c, "") for c in INCIDENT.columns]})


#: How precisely each date precision is written in the table: as much of an ISO date
#: as is known, so that the text sorts in time (``2025-09`` is a month, not its 1st).
_TABLE_DATE = {"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}


def _date_text(stamps: pd.Series, precision: pd.Series) -> pd.Series:
    """Dates as precisely as they are known (``2025-09-10 02:30Z``, ``2025-09``,
    ``2025``); empty where there is none."""
    text = pd.Series("", index=stamps.index, dtype=object)
    for name, form in _TABLE_DATE.items():
        these = stamps.notna() & (precision.fillna("day") == name)
        text[these] = stamps[these].dt.strftime(form)
    timed = stamps.notna() & (precision.fillna("day") == "day") & (
        stamps != stamps.dt.normalize())
    text[timed] = stamps[timed].dt.strftime("%Y-%m-%d %H:%MZ")
    return text


def table(incidents: pd.DataFrame) -> pd.DataFrame:
    """The incident table as shown (enriched columns, sources), dates as text as
    precise as they are known."""
    present = [c for c in TABLE_COLUMNS if c in incidents.columns]
    out = incidents[present].reset_index(drop=True)
    precision = out.get("date_precision", pd.Series("day", index=out.index))
    for column in ("date", "date_end"):
        if column in out:
            out[column] = _date_text(out[column], precision)
    return out


@dataclass(frozen=True)
class SearchHit:
    """Something the search box found: where to look, and the incident to select."""

    label: str
    lat: float
    lon: float
    zoom: int
    incident: str | None = None


#: Columns read for searching incidents.
SEARCH_COLUMNS = ["id", "title", "lat", "lon", "date", "date_precision"]
#: Most hits of each kind the search box lists.
SEARCH_LIMIT = 8


def search(gazetteer, incidents: pd.DataFrame, text: str) -> list[SearchHit]:
    """Incidents whose id contains ``text`` or whose title holds all its words (case
    ignored), then places of that name or alternate name (``Wilno`` is Vilnius)."""
    words = text.casefold().split()
    if not words:
        return []
    ids = incidents["id"].astype(str).str.casefold()
    titles = incidents["title"].fillna("").astype(str).str.casefold()
    match = ids.str.contains(text.strip().casefold(), regex=False)
    by_title = pd.Series(True, index=incidents.index)
    for word in words:
        by_title &= titles.str.contains(word, regex=False)
    found = incidents[match | by_title].head(SEARCH_LIMIT)
    hits = [SearchHit(f"{r['id']}: {r['title'] or 'untitled'} "
                      f"({format_date(r['date'], r['date_precision']) or 'no date'})",
                      float(r["lat"]), float(r["lon"]), 11, str(r["id"]))
            for r in found.to_dict("records")]
    hits += [SearchHit(f"{p.name} ({p.country_iso3}, {p.kind})", p.lat, p.lon,
                       place_zoom(p.population) if p.kind == "populated place" else 12)
             for p in gazetteer.search(text, limit=SEARCH_LIMIT)]
    return hits


def place_zoom(population: int) -> int:
    """The zoom that shows a town whole with its surroundings: a city of half a million
    at 10 (its built-up area about a third of the map), a village at 13."""
    for people, zoom in ((300_000, 10), (50_000, 11), (5_000, 12)):
        if population >= people:
            return zoom
    return 13


def zoom_to_fit(lat: float, radius_km: float, *, pixels: int = 560) -> int:
    """The largest zoom (2–18) at which a circle of ``radius_km`` around a point at
    ``lat`` fits ``pixels`` across (Web Mercator)."""
    m_per_px = 2 * radius_km * 1000 / pixels
    zoom = np.log2(_M_PER_PX_ZOOM0 * np.cos(np.radians(lat)) / m_per_px)
    return int(np.clip(np.floor(zoom), 2, 18))


def period_text(incidents: pd.DataFrame, start: dt.date | None = None,
                end: dt.date | None = None) -> tuple[str, str]:
    """The first and last moments of a selection's time axis (:func:`time_axis`): the
    filter's dates where it sets them, else the records' own, each as precise as its
    record ("2022" for a year-only record, "Sep 2025" for a month; a range's end for
    the last)."""
    if incidents.empty or incidents["date"].isna().all():
        return "—", "—"
    precision = incidents.get("date_precision", pd.Series("day", incidents.index))
    if start is not None:
        first = start.isoformat()
    else:
        at = incidents["date"].idxmin()
        first = format_date(incidents.at[at, "date"], precision.at[at])
    if end is not None:
        last = end.isoformat()
    else:  # the record whose period ends last (a year-only record runs to its end)
        at = record_periods(incidents)[1].idxmax()
        end = incidents["date_end"].at[at] if "date_end" in incidents else pd.NaT
        last = format_date(incidents.at[at, "date"] if pd.isna(end) else end,
                           precision.at[at])
    return first, last


def in_period(records: pd.DataFrame, start: dt.date | None, end: dt.date | None
              ) -> pd.DataFrame:
    """Records (deployments, defence lines) whose own period meets ``start``-``end``
    (``geo.dates.period_end_exclusive``: a year-only date covers its year). A record with no end
    date whose ``status`` is active or planned is still going on; records without a
    date are kept."""
    if records.empty or "date" not in records or (start is None and end is None):
        return records
    begins, ends = record_periods(records)
    if "status" in records:
        ongoing = records["status"].isin(["active", "planned"])
        if "date_end" in records:
            ongoing &= records["date_end"].isna()
        ends = ends.where(~ongoing)  # no end
    keep = begins.isna()
    within = pd.Series(True, index=records.index)
    low, high = day_bounds(start, end)
    if low is not None:
        within &= ends.isna() | (ends > low)
    if high is not None:
        within &= begins < high
    return records[keep | within].reset_index(drop=True)
