"""Views round-trip through the URL; bad parameters are reported, not half-applied."""

from __future__ import annotations

import datetime as dt

from dashboard.state import ViewState


def test_a_view_survives_the_url():
    view = ViewState(start=dt.date(2025, 7, 1), end=dt.date(2025, 9, 30),
                     types=("drone", "aircraft"), countries=("LTU", "POL"),
                     confidence=("confirmed",), near=("kaliningrad", 25.0),
                     layers=("incidents", "tracks"), bands_km=(5.0, 20.0),
                     basemap="osm", view=(54.9, 24.1, 8), selected="ltu-2025-07-28-gerbera")
    again = ViewState.from_query(view.to_query())
    assert again == view
    assert again.warnings == ()


def test_the_default_view_has_an_empty_query():
    assert ViewState().to_query() == {}
    assert ViewState.from_query({}) == ViewState()


def test_bad_parameters_are_reported_and_the_rest_kept():
    got = ViewState.from_query({"types": "drone,ufo", "countries": "LTU", "near": "mars:5",
                                "view": "54,24,99", "start": "2025-13-01", "colour": "red"})
    assert got.types is None
    assert got.countries == ("LTU",)
    assert got.near is None
    assert got.start is None
    assert len(got.warnings) == 5
    assert any("colour" in w for w in got.warnings)


def test_reversed_dates_are_dropped():
    got = ViewState.from_query({"start": "2025-09-30", "end": "2025-07-01"})
    assert (got.start, got.end) == (None, None)
    assert got.warnings


def test_time_in_the_url_is_read_as_utc_and_far_offsets_are_refused():
    view = ViewState.from_query({"time": "2025-09-10T03:00+02:00", "window": "all"})
    assert view.time.cursor == dt.datetime(2025, 9, 10, 1, 0, tzinfo=dt.UTC)
    assert view.time.window is None  # cumulative
    for text in ("9999-12-31T23:00-05:00", "0001-01-01T00:30+01:00", "2025-13-01T00:00"):
        view = ViewState.from_query({"time": text})
        assert view.time is None
        assert f"time={text!r}" in view.warnings[0]


def test_invisible_formatting_in_the_address_is_dropped():
    """A right-to-left override would show "03:sunliV" for a place written Vilnius:30."""
    got = ViewState.from_query({"around": "\u202eVilnius:30", "selected": "lt-\u200b1"})
    assert got.around == ("Vilnius", 30.0)
    assert got.selected == "lt-1"
    assert not got.warnings
