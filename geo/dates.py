"""Dates as reporting writes them: a start, an optional end, and a precision.

Accepted forms (each value may also carry a time of day, which is kept):

- ISO 8601: ``2025-07-28``, ``2025-07-28T14:05Z``, ``2025-07`` (month), ``2025`` (year);
- day-month-year in words: ``28 July 2025``, ``28 Jul 2025``, ``July 28, 2025``;
- month and year: ``Sep 2025``, ``September 2025``;
- ranges of days: ``09–10 Sep 2025``, ``20/21 Sep 2025``, ``2025-09-09/2025-09-10``;
- numeric day/month/year only when unambiguous (``28/07/2025``; ``03/04/2025`` is
  rejected because it could be either);
- a day with a time qualifier: ``03 Oct 2025, before 01:45`` (start of that day to
  01:45), ``after 22:10`` (22:10 to the end of the day), ``around 14:00`` (that time),
  ``between 01:00 and 02:30``. Times without a zone are read as UTC.

A time of day may carry its zone, named anywhere in the text (``UTC``, ``UTC+3`` /
``GMT+3``: three hours east of Greenwich, as reports mean it, not the POSIX ``TZ`` sign;
or one of the abbreviations in :data:`ZONE_HOURS`), or as an offset right after the time
(``Z``, ``+03:00``, ``+0300``, ``+3``); any other zone is refused, and so is a zone
without a time of day.

Anything else is rejected with a reason; a date is never guessed, and nothing a text
leaves out (a year, a month, a day) is filled in from today or from anywhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from dateutil import parser as dateparser

DAY, MONTH, YEAR = "day", "month", "year"

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_YEAR_ONLY = re.compile(r"^\d{4}$")
_ISO_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_MONTH_YEAR = re.compile(rf"^({_MONTHS})\s+(\d{{4}})$", re.IGNORECASE)
_DAY_RANGE = re.compile(rf"^(\d{{1,2}})\s*[-–—/]\s*(\d{{1,2}})\s+({_MONTHS})\s+(\d{{4}})$",
                        re.IGNORECASE)
_NUMERIC = re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{4})$")
_QUALIFIED = re.compile(
    r"^(?P<day>.+?),?\s+(?:(?P<word>before|after|by|around|about|approx\.?|circa|at)\s+"
    r"(?P<h>\d{1,2})[:.h](?P<m>\d{2})|between\s+(?P<h1>\d{1,2})[:.h](?P<m1>\d{2})\s+and\s+"
    r"(?P<h2>\d{1,2})[:.h](?P<m2>\d{2}))$",
    re.IGNORECASE,
)
_ISO_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*(?:/|–|—|\s-\s|\.\.)\s*(\d{4}-\d{2}-\d{2})$")

#: Zone abbreviations of the region's reports, as hours east of UTC. Only these are read;
#: any other name is refused rather than taken for UTC. (Moscow time was UTC+4 from 27
#: March 2011 to 26 October 2014: see :data:`_MSK_PLUS_4`.)
ZONE_HOURS = {"UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1,
              "CEST": 2, "EET": 2, "EEST": 3, "MSK": 3, "FET": 3}
_MSK_PLUS_4 = (pd.Timestamp("2011-03-27T02:00", tz="UTC"),  # local times, as written
               pd.Timestamp("2014-10-26T02:00", tz="UTC"))
#: A zone named anywhere in the text, optionally with an offset (``UTC+3``, ``GMT-1``),
#: optionally in brackets; ``Z`` only right after a digit (ISO 8601).
_NAMED_ZONE = re.compile(
    r"\(?\s*(?<![A-Za-z])(?P<name>"
    + "|".join(sorted((z for z in ZONE_HOURS if z != "Z"), key=len, reverse=True)) + ")"
    r"(?:\s?(?P<sign>[+\-−])(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?)?(?![A-Za-z\d])"
    r"\s*\)?|(?<=\d)(?P<zulu>Z)(?![A-Za-z])", re.IGNORECASE)
#: An offset alone at the end of a text, right after a time of day with a colon
#: (``23:00+03:00``, ``23:00 +0300``, ``23:00 +3``).
_NUMERIC_ZONE = re.compile(
    r"(?P<time>\d{1,2}:\d{2}(?P<seconds>:\d{2}(?:[.,]\d+)?)?(?:\s*[AaPp]\.?[Mm]\.?)?)"
    r"\s*(?P<sign>[+\-−])"
    r"(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?\s*\)?\s*$")
#: "hrs" after a time of day (military style: "2300 hrs", "23:00 hrs").
_HOURS_WORD = re.compile(r"(?:(?<=\d:\d\d)|(?<=\d{4}))\s*(?:hrs|hours)\b\.?", re.IGNORECASE)
#: A time of day somewhere in a text.
_TIME_OF_DAY = re.compile(r"\d{1,2}[:.h]\d{2}|\d\s*[ap]\.?\s?m\b|\d\s*[ap]\.?m\.", re.IGNORECASE)
#: Two defaults that differ in every part of a date: what dateutil took from them is
#: what the text did not say.
_SENTINELS = (datetime(2001, 1, 1), datetime(2002, 2, 2))


#: Dates this tool keeps: from 1 January 1900 to the end of 2200. Any date a person
#: writes (years 1 to 9999) is read, and one outside this range is rejected with a
#: reason: the records here are modern events, and a far past or far future date
#: (``0001-01-01``, ``9999-12-31``) is a placeholder for "unknown", not a date.
EARLIEST = pd.Timestamp("1900-01-01", tz="UTC")
LATEST = pd.Timestamp("2200-12-31 23:59:59", tz="UTC")


class DateParseError(ValueError):
    """A date text that cannot be read without guessing."""


@dataclass(frozen=True)
class ParsedDate:
    """A reported date: start, optional end (inclusive), precision."""

    start: pd.Timestamp
    end: pd.Timestamp | None
    precision: str


def _utc(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _month_start(month: int, year: int) -> pd.Timestamp:
    return pd.Timestamp(year=year, month=month, day=1, tz="UTC")


def _offset(text: str, sign: str | None, hours: str | None, minutes: str | None,
            base_hours: float = 0) -> pd.Timedelta:
    offset = pd.Timedelta(hours=base_hours)
    if sign:
        if int(hours) > 14 or int(minutes or 0) > 59:
            msg = f"{text!r}: {sign}{hours} hours is not a time zone offset"
            raise DateParseError(msg)
        size = pd.Timedelta(hours=int(hours), minutes=int(minutes or 0))
        offset = size if sign == "+" else -size
    return offset


#: A zone as the text wrote it: an offset east of UTC, and the zone's name ("" for an
#: offset alone), whose hours may depend on the date (Moscow time).
Zone = tuple[pd.Timedelta, str]


def _split_zone(text: str) -> tuple[str, list[Zone]]:
    """The text without its time zones, and each zone it names (see :func:`_zone_offset`
    for what they mean once the date is known)."""
    found: list[Zone] = []

    def named(m: re.Match) -> str:
        name = "Z" if m["zulu"] else m["name"].upper()
        if m["sign"] and name not in ("UTC", "GMT"):
            msg = f"{text!r}: an offset goes after UTC or GMT (UTC+3), not after {name}"
            raise DateParseError(msg)
        found.append((_offset(text, m["sign"], m["hours"], m["minutes"], ZONE_HOURS[name]),
                      name))
        return " "

    rest = _HOURS_WORD.sub("", text)  # "23:00 hrs": the word says nothing more
    rest = _NAMED_ZONE.sub(named, rest)
    if m := _NUMERIC_ZONE.search(rest):
        ambiguous = m["sign"] != "+" and not m["seconds"] and not re.search(r"\dT\d", rest)
        if ambiguous:
            msg = (f"{text!r}: is {rest[m.start('sign'):].strip()!r} the end of a range of "
                   "times or a zone west of UTC? write a range as 'between 10:00 and 12:00', "
                   "a zone as UTC-3")
            raise DateParseError(msg)
        found.append((_offset(text, m["sign"], m["hours"], m["minutes"]), ""))
        rest = rest[:m.start("sign")]
    return " ".join(rest.split()).strip(" ,"), found


def _zone_offset(text: str, zones: list[Zone], start: pd.Timestamp) -> pd.Timedelta | None:
    """The offset east of UTC of a date written at ``start`` (local time) in ``zones``
    (None where the text names none): Moscow time as it was on that date. A zone written
    twice (``+03:00 (EEST)``) must say the same both times."""
    offsets = {pd.Timedelta(hours=4) if name == "MSK" and
               _MSK_PLUS_4[0] <= start < _MSK_PLUS_4[1] else offset
               for offset, name in zones}
    if len(offsets) > 1:
        msg = f"{text!r} names two different time zones"
        raise DateParseError(msg)
    return offsets.pop() if offsets else None


def _refuse_zone(name: str | None, offset: int | None) -> None:
    """dateutil's ``tzinfos``: any zone :func:`_split_zone` did not read is refused
    (dateutil would read ``GMT+3`` as three hours west, and an unknown name as UTC)."""
    if name is None and offset is None:
        return None
    if name is None:
        msg = ("a time zone offset where it cannot be read exactly; write it right after "
               "the time of day (14:00 +03:00, 14:00 UTC+3)")
    else:
        msg = (f"time zone {name!r} is not one this tool reads; write the offset after the "
               f"time of day (14:00 UTC+3, 14:00 +03:00) or one of {', '.join(ZONE_HOURS)}")
    raise DateParseError(msg)


def _naive_iso(text: str) -> pd.Timestamp:
    """An ISO 8601 date (and time) with no zone left in it."""
    stamp = pd.Timestamp(text)
    if stamp.tzinfo is not None:  # a zone the zone reader did not take: never guessed
        _refuse_zone(None, 0)
    return _utc(stamp)


def _parse_words(value: str) -> ParsedDate:
    """A date in words, read by dateutil: refused where the text leaves out its year or
    month, a month where it leaves out the day (``September, 2025``)."""
    first, second = (dateparser.parse(value, dayfirst=True, default=d, tzinfos=_refuse_zone)
                     for d in _SENTINELS)
    unsaid = [part for part in ("year", "month", "day")
              if getattr(first, part) != getattr(second, part)]
    written = [int(y) for y in re.findall(r"(?<!\d)\d{4}(?!\d)", value)]
    if len(written) > 1:  # "1930Z 10 Sep 2025": dateutil may take either for the year
        msg = (f"{value!r} holds more than one four-digit number (which is the year?); "
               "write a time of day with a colon (19:30)")
        raise DateParseError(msg)
    if "year" in unsaid or "month" in unsaid:
        msg = f"{value!r} has no {unsaid[0]}; write the date in full (10 Sep 2025, Sep 2025)"
        raise DateParseError(msg)
    if not written:
        msg = f"{value!r} has no four-digit year; write the year in full"
        raise DateParseError(msg)
    if first.year not in written:
        if written[-1] >= 100 or first.year % 100 != written[-1]:
            # "10 10 Sep 2025": dateutil took "10" for the year and 2025 for a time
            msg = f"{value!r}: the year cannot be told from the other numbers"
            raise DateParseError(msg)
        first = first.replace(year=max(written[-1], 1))  # "0001" read as 2001
    if "day" in unsaid:
        if first.time() != datetime.min.time():
            msg = f"{value!r} has a time of day but no day"
            raise DateParseError(msg)
        return ParsedDate(_month_start(first.month, first.year), None, MONTH)
    return ParsedDate(_utc(pd.Timestamp(first)), None, DAY)


def _has_time(found: ParsedDate, text: str) -> bool:
    """Whether a date was written with a time of day."""
    stamps = [t for t in (found.start, found.end) if t is not None]
    return bool(_TIME_OF_DAY.search(text)) or any(t != t.normalize() for t in stamps)


def _shifted(found: ParsedDate, offset: pd.Timedelta | None) -> ParsedDate:
    """``found`` (written in a zone ``offset`` east of UTC) in UTC."""
    if not offset:
        return found
    end = found.end - offset if found.end is not None else None
    return ParsedDate(found.start - offset, end, found.precision)


def _month_number(word: str) -> int:
    return dateparser.parse(f"1 {word.rstrip('.')} 2000").month


def _parse_structured(text: str) -> ParsedDate | None:
    """The forms a regular expression recognises outright, or None."""
    if _YEAR_ONLY.match(text):
        return ParsedDate(pd.Timestamp(year=int(text), month=1, day=1, tz="UTC"), None, YEAR)
    if m := _ISO_MONTH.match(text):
        return ParsedDate(_month_start(int(m[2]), int(m[1])), None, MONTH)
    if m := _MONTH_YEAR.match(text):
        return ParsedDate(_month_start(_month_number(m[1]), int(m[2])), None, MONTH)
    if m := _DAY_RANGE.match(text):
        month, year = _month_number(m[3]), int(m[4])
        start = pd.Timestamp(year=year, month=month, day=int(m[1]), tz="UTC")
        end = pd.Timestamp(year=year, month=month, day=int(m[2]), tz="UTC")
        return _checked_range(start, end, text)
    if m := _ISO_RANGE.match(text):
        start, end = (_utc(pd.Timestamp(x)) for x in (m[1], m[2]))
        return _checked_range(start, end, text)
    if m := _NUMERIC.match(text):
        first, second, year = int(m[1]), int(m[2]), int(m[3])
        if first <= 12 and second <= 12 and first != second:
            msg = f"{text!r} is ambiguous (day/month or month/day?); write it as YYYY-MM-DD"
            raise DateParseError(msg)
        day, month = (first, second) if second <= 12 else (second, first)
        return ParsedDate(pd.Timestamp(year=year, month=month, day=day, tz="UTC"), None, DAY)
    return None


def _checked_range(start: pd.Timestamp, end: pd.Timestamp, text: str) -> ParsedDate:
    if end < start:
        msg = f"{text!r} ends before it starts"
        raise DateParseError(msg)
    return ParsedDate(start, end, DAY)


def _at(day: pd.Timestamp, hour: str, minute: str, text: str) -> pd.Timestamp:
    if int(hour) > 23 or int(minute) > 59:
        msg = f"{text!r} has an impossible time of day {hour}:{minute}"
        raise DateParseError(msg)
    return day + pd.Timedelta(hours=int(hour), minutes=int(minute))


def _parse_qualified(text: str) -> ParsedDate | None:
    """A day followed by a time qualifier ("before 01:45"), or None."""
    m = _QUALIFIED.match(text)
    if m is None:
        return None
    day = parse_date(m["day"])
    if day.precision != DAY or day.end is not None:
        msg = f"{text!r}: a time qualifier needs a single day before it"
        raise DateParseError(msg)
    start = day.start.normalize()
    if m["word"] is None:  # between A and B
        first = _at(start, m["h1"], m["m1"], text)
        return _checked_range(first, _at(start, m["h2"], m["m2"], text), text)
    moment = _at(start, m["h"], m["m"], text)
    word = m["word"].lower()
    if word in ("before", "by"):
        return ParsedDate(start, moment, DAY)
    if word == "after":
        return ParsedDate(moment, start + pd.Timedelta(days=1) - pd.Timedelta(seconds=1), DAY)
    return ParsedDate(moment, None, DAY)


def parse_date(text: object) -> ParsedDate:
    """Parse one reported date.

    Raises
    ------
    DateParseError
        The text is empty, not a date, or ambiguous.
    """
    value = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    value = value.strip()
    if not value:
        msg = "date is missing"
        raise DateParseError(msg)
    try:
        local, zones = _split_zone(value)
        found = _parse_structured(local) or _parse_qualified(local)
        if found is None and re.match(r"^\d{4}-\d{2}-\d{2}", local):
            found = ParsedDate(_naive_iso(local), None, DAY)
        if found is None and not re.search(_MONTHS, local, re.IGNORECASE):
            msg = f"{value!r} is not a date this tool reads (use YYYY-MM-DD)"
            raise DateParseError(msg)
        found = found or _parse_words(local)
        if zones and not _has_time(found, local):
            msg = f"{value!r}: a time zone needs a time of day before it"
            raise DateParseError(msg)
        found = _shifted(found, _zone_offset(value, zones, found.start))
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, DateParseError):  # every reason names the value
            if repr(value) in str(exc):
                raise
            msg = f"{value!r}: {exc}"
            raise DateParseError(msg) from exc
        msg = f"{value!r} is not a valid date ({exc})"
        raise DateParseError(msg) from exc
    return _in_range(found, value)


def _in_range(found: ParsedDate, text: str) -> ParsedDate:
    """``found`` if it lies within :data:`EARLIEST`–:data:`LATEST`, in nanoseconds."""
    last = found.end if found.end is not None else found.start
    if found.start < EARLIEST:
        msg = (f"{text!r} is before {EARLIEST.year} (a placeholder for an unknown date? "
               "leave the cell empty)")
        raise DateParseError(msg)
    if last > LATEST:
        msg = (f"{text!r} is after {LATEST.year} (a placeholder for an unknown date? "
               "leave the cell empty)")
        raise DateParseError(msg)
    end = found.end.as_unit("ns") if found.end is not None else None
    return ParsedDate(found.start.as_unit("ns"), end, found.precision)


def parse_date_column(values: pd.Series) -> pd.DataFrame:
    """Parse a column of reported dates; each distinct text is parsed once.

    Returns
    -------
    DataFrame
        ``date``, ``date_end`` (UTC timestamps, NaT where absent), ``date_precision``
        and ``error`` (empty where the date was read), indexed like ``values``.
    """
    results: dict[str, tuple] = {}
    for text in pd.unique(values.astype("string").fillna("")):
        try:
            got = parse_date(text)
            results[text] = (got.start, got.end if got.end is not None else pd.NaT,
                             got.precision, "")
        except DateParseError as exc:
            results[text] = (pd.NaT, pd.NaT, "", str(exc))
    keys = values.astype("string").fillna("")
    table = pd.DataFrame.from_dict(results, orient="index",
                                   columns=["date", "date_end", "date_precision", "error"])
    out = table.reindex(keys.to_numpy())
    out.index = values.index
    for column in ("date", "date_end"):
        out[column] = pd.to_datetime(out[column], utc=True).astype("datetime64[ns, UTC]")
    return out


def period_end_exclusive(start: pd.Series, end: pd.Series, precision: pd.Series
                         ) -> pd.Series:
    """When each record's period is over (the first instant after it), for playing and
    filtering records in time.

    An explicit ``end`` is the period's last day (a stored ``date_end``: "until 2025" is
    kept as 2025-12-31), or its last instant where it has a time of day. Without one,
    the period runs from ``start``: a date without a time of day covers its whole day, a
    month or a year its whole month or year; a time of day is an instant.
    """
    precision = precision.fillna(DAY).astype(str)
    given = end.notna()
    out = end.where(given, start).copy()
    whole_days = given & (end == end.dt.normalize())
    out[whole_days] = end[whole_days] + pd.Timedelta(days=1)
    for name, offset in ((YEAR, pd.DateOffset(years=1)), (MONTH, pd.DateOffset(months=1))):
        chosen = ~given & (precision == name) & start.notna()
        if chosen.any():
            out[chosen] = start[chosen] + offset
    whole_day = ~given & (precision == DAY) & start.notna() & (start == start.dt.normalize())
    out[whole_day] = start[whole_day] + pd.Timedelta(days=1)
    return out


def record_periods(records: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Start and end (``period_end_exclusive``) of each record of a table with ``date`` and,
    where present, ``date_end`` and ``date_precision`` columns (UTC; NaT where unknown)."""
    begins = pd.to_datetime(records["date"], utc=True)
    ends = (pd.to_datetime(records["date_end"], utc=True) if "date_end" in records
            else pd.Series(pd.NaT, records.index, dtype=begins.dtype))
    precision = records.get("date_precision", pd.Series(DAY, records.index))
    return begins, period_end_exclusive(begins, ends, precision)


#: strftime pattern of a date at each precision.
_FORMATS = {DAY: "%Y-%m-%d", MONTH: "%b %Y", YEAR: "%Y"}


def format_date(stamp, precision: str | None) -> str:
    """A date as precise as it is known: ``2025-07-28``, ``Sep 2025``, ``2022`` (empty
    where there is none)."""
    if stamp is None or pd.isna(stamp):
        return ""
    return stamp.strftime(_FORMATS.get(precision, _FORMATS[DAY]))


def format_period(start, end, precision: str | None) -> str:
    """A record's date as precise as it is known, with its end where that differs
    (``2022 – 2025``, ``2025-09-09 – 2025-09-10``)."""
    first = format_date(start, precision)
    last = format_date(end, precision)
    return f"{first} – {last}" if last and last != first else first


def day_bounds(start: date | None, end: date | None
               ) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """A period of whole days as moments: ``start`` at 00:00 UTC and the moment ``end``
    is over (the next day's 00:00, exclusive); None for a side left open."""
    return (None if start is None else pd.Timestamp(start, tz="UTC"),
            None if end is None else pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1))
