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
