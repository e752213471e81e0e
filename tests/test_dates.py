import pandas as pd
import pytest

from geo.dates import DateParseError, parse_date, parse_date_column


@pytest.mark.parametrize(
    ("text", "start", "end", "precision"),
    [
        ("2025-07-28", "2025-07-28", None, "day"),
        ("2025-07-28T14:05:00+03:00", "2025-07-28T11:05:00", None, "day"),
        ("2025-07", "2025-07-01", None, "month"),
        ("2025", "2025-01-01", None, "year"),
        ("28 July 2025", "2025-07-28", None, "day"),
        ("July 28, 2025", "2025-07-28", None, "day"),
        ("Sep 2025", "2025-09-01", None, "month"),
        ("09–10 Sep 2025", "2025-09-09", "2025-09-10", "day"),
        ("20/21 Sep 2025", "2025-09-20", "2025-09-21", "day"),
        ("28/07/2025", "2025-07-28", None, "day"),
        ("03 Oct 2025, before 01:45", "2025-10-03", "2025-10-03T01:45", "day"),
        ("3 October 2025 after 22:10", "2025-10-03T22:10", "2025-10-03T23:59:59", "day"),
        ("2025-10-03 between 01:00 and 02:30", "2025-10-03T01:00", "2025-10-03T02:30", "day"),
        ("19 Sep 2025, around 09:58 UTC", "2025-09-19T09:58", None, "day"),
    ],
)
def test_reported_forms_give_start_end_and_precision(text, start, end, precision):
    got = parse_date(text)
    assert got.start == pd.Timestamp(start, tz="UTC")
    assert got.end == (None if end is None else pd.Timestamp(end, tz="UTC"))
    assert got.precision == precision


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "missing"),
        ("03/04/2025", "ambiguous"),
        ("2025-02-30", "not a valid date"),
        ("last Tuesday", "not a date"),
        ("12-10 Sep 2025", "ends before it starts"),
        ("03 Oct 2025, before 25:45", "impossible time"),
        ("Sep 2025, before 01:45", "needs a single day"),
        ("03 Oct 2025, shortly before dawn", "not a valid date"),
    ],
)
def test_unreadable_dates_are_rejected_with_a_reason(text, reason):
    with pytest.raises(DateParseError, match=reason):
        parse_date(text)


def test_column_parsing_keeps_the_index_and_reports_each_error():
    col = pd.Series(["2025-07-10", "nonsense", "2025-07-10"], index=[10, 11, 12])
    out = parse_date_column(col)
    assert list(out.index) == [10, 11, 12]
    assert out.loc[10, "date"] == pd.Timestamp("2025-07-10", tz="UTC")
    assert out.loc[11, "error"] != ""
    assert out.loc[12, "error"] == ""


@pytest.mark.parametrize(
    ("text", "missing"),
    [("August", "no year"), ("May", "no year"), ("5 Dec", "no year"), ("Dec 5", "no year"),
     ("Sep-25", "no year"), ("September 10th", "no year"),
     ("5 Dec 25", "no four-digit year"), ("Sep 2025 14:00", "no day")],
)
def test_a_date_missing_a_part_is_rejected_not_completed_from_today(text, missing):
    with pytest.raises(DateParseError, match=missing) as caught:
        parse_date(text)
    assert repr(text) in str(caught.value)  # the reason names the value


def test_a_month_and_year_in_words_stays_a_month():
    for text in ("September, 2025", "Sep 2025", "September 2025"):
        got = parse_date(text)
        assert (got.start, got.precision) == (pd.Timestamp("2025-09-01", tz="UTC"), "month")


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        # "UTC+3" in a report is three hours east of Greenwich (not the POSIX TZ sign)
        ("10 Sep 2025 23:00 UTC+3", "2025-09-10T20:00"),
        ("10 Sep 2025 14:00 GMT+3", "2025-09-10T11:00"),
        ("2025-09-10 23:00 UTC+03:00", "2025-09-10T20:00"),
        ("10 Sep 2025 23:00 (UTC+3)", "2025-09-10T20:00"),
        ("10 Sep 2025 23:00 +03:00", "2025-09-10T20:00"),
        ("10 Sep 2025 23:00 +0300", "2025-09-10T20:00"),
        ("2025-09-10T23:00+0300", "2025-09-10T20:00"),
        ("10 Sep 2025 23:00 EEST", "2025-09-10T20:00"),
        ("10 Jan 2025 23:00 EET", "2025-01-10T21:00"),
        ("10 Jan 2025 23:00 CET", "2025-01-10T22:00"),
        ("10 Sep 2025 23:00 CEST", "2025-09-10T21:00"),
        ("10 Sep 2025 23:00 MSK", "2025-09-10T20:00"),
        ("10 Sep 2025 11:00 pm UTC+3", "2025-09-10T20:00"),
        ("2025-07-28T14:05:00-04:00", "2025-07-28T18:05"),
        ("10 Sep 2025 23:00 UTC-3", "2025-09-11T02:00"),
        ("19 Sep 2025, around 09:58 GMT", "2025-09-19T09:58"),
        # forms from the wild (and what programs print)
        ("2025-09-10 11pm UTC+3", "2025-09-10T20:00"),
        ("2025-09-10 23 UTC+3", "2025-09-10T20:00"),
        ("10 Sep 2025 GMT+3 23:00", "2025-09-10T20:00"),
        ("2025-09-10 23:00:00+03:00 (EEST)", "2025-09-10T20:00"),  # said twice: once
        ("2025-09-10T23:00:00+03:00 MSK", "2025-09-10T20:00"),
        ("10 Sep 2025 23:00 +03", "2025-09-10T20:00"),
        ("10 Sep 2025 11 pm UTC", "2025-09-10T23:00"),
        ("at 23:00 UTC on 10 September 2025", "2025-09-10T23:00"),
        ("Wed Sep 10 23:00:00 UTC 2025", "2025-09-10T23:00"),
        ("Sept. 10, 2025 11 p.m. EEST", "2025-09-10T20:00"),
        ("2025-09-10 23:00:00-03:00", "2025-09-11T02:00"),  # str(datetime) west of UTC
        ("Wed, 10 Sep 2025 23:00:00 +0300", "2025-09-10T20:00"),  # e-mail headers
        ("10 Sep 2013 23:00 MSK", "2013-09-10T19:00"),  # Moscow at UTC+4, 2011-2014
        ("2014-10-26 00:30 MSK", "2014-10-25T20:30"),  # still +4: clocks went back at 02:00
        ("2011-03-27 01:00 MSK", "2011-03-26T22:00"),  # still +3 until 02:00
        ("2012-09-10 14:00 +04:00 (MSK)", "2012-09-10T10:00"),  # Moscow's +4, said twice
        ("10 Sep 2025 23:00 hrs (UTC+3)", "2025-09-10T20:00"),
        ("Sep 10, 2025 11:45 PM +03:00", "2025-09-10T20:45"),
    ],
)
def test_zones_after_a_time_are_read_as_offsets_east_of_utc(text, utc):
    assert parse_date(text).start == pd.Timestamp(utc, tz="UTC")


def test_a_time_qualifier_with_a_zone_moves_the_whole_period():
    got = parse_date("03 Oct 2025, before 01:45 UTC+3")
    assert got.start == pd.Timestamp("2025-10-02T21:00", tz="UTC")  # local midnight
    assert got.end == pd.Timestamp("2025-10-02T22:45", tz="UTC")


@pytest.mark.parametrize(
    ("text", "reason"),
    [("10 Sep 2025 23:00 PST", "'PST' is not one this tool reads"),
     ("10 Sep 2025 23:00 local", "not a valid date"),
     ("10 Sep 2025 23:00 EEST+1", "offset goes after UTC or GMT"),
     ("10 Sep 2025 23:00 UTC+15", "not a time zone offset"),
     ("10 Sep 2025 10:00-12:00", "range of times or a zone"),
     ("2025-09-10 0930-1130", "cannot be read exactly"),
     ("2025-09-10 23:00 +0300 EET", "two different time zones"),
     ("2012-09-10 14:00 +03:00 (MSK)", "two different time zones"),  # MSK was +4 then
     ("2012-09-10 14:00 UTC+3 (MSK)", "two different time zones"),
     ("10 Sep 2025 EEST", "needs a time of day"),
     ("10 Sep 2025 23:00 (local)", "not a valid date"),
     # a four-digit time beside the year: dateutil took it for the year (1930-09-10)
     ("1930Z 10 Sep 2025", "more than one four-digit number"),
     ("10 Sep 2025 2300Z", "more than one four-digit number"),
     ("10 Sep 2025, 10:00 GMT - 12:00", "not a valid date"),  # a range, not GMT-12
     ("10 10 Sep 2025", "the year cannot be told")],  # dateutil: 2010, at 20:25
)
def test_zones_that_cannot_be_read_exactly_are_refused(text, reason):
    with pytest.raises(DateParseError, match=reason) as caught:
        parse_date(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ("date", "end", "precision", "over"),
    [
        ("2025-09-10", None, "day", "2025-09-11"),  # a day: the whole day
        ("2025-09-10T14:05", None, "day", "2025-09-10T14:05"),  # a time: an instant
        ("2025-09-08", "2025-09-14", "day", "2025-09-15"),  # a week, its last day stated
        ("2025-09-01", None, "month", "2025-10-01"),
        ("2025-01-01", None, "year", "2026-01-01"),
        # an explicit end is the period's last day: "2022 – 2025" ends with 2025
        ("2022-01-01", "2025-12-31", "year", "2026-01-01"),
        ("2025-07-01", "2025-09-30", "month", "2025-10-01"),
        ("2025-10-03", "2025-10-03T01:45", "day", "2025-10-03T01:45"),  # before 01:45
    ],
)
def test_a_period_is_over_when_its_last_day_is(date, end, precision, over):
    from geo.dates import period_end_exclusive

    utc = [pd.Timestamp(date, tz="UTC")]
    ends = pd.Series([pd.Timestamp(end, tz="UTC") if end else pd.NaT],
                     dtype="datetime64[ns, UTC]")
    got = period_end_exclusive(pd.Series(utc), ends, pd.Series([precision]))
    assert got.iloc[0] == pd.Timestamp(over, tz="UTC")
