"""The one selection object: what it keeps, how it reads in words and in manifests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from geo.filters import IncidentFilter, place_point
from geo.settings import GEOD


def test_a_ring_around_a_place_is_geodesic():
    lat, lon = place_point("Wilno")  # Vilnius under its Polish name
    azimuths = np.arange(0, 360, 45.0)
    inside = GEOD.fwd(np.full(8, lon), np.full(8, lat), azimuths, np.full(8, 29_900.0))
    outside = GEOD.fwd(np.full(8, lon), np.full(8, lat), azimuths, np.full(8, 30_100.0))
    ring = IncidentFilter(around=("Wilno", 30))
    assert ring.keep(inside[0], inside[1]).all()
    assert not ring.keep(outside[0], outside[1]).any()
    west, south, east, north = ring.search_box()
    lons, lats = inside[0], inside[1]  # the store's box holds every point of the ring
    assert (lons > west).all()
    assert (lons < east).all()
    assert (lats > south).all()
    assert (lats < north).all()


def test_areas_that_do_not_meet_select_nothing():
    apart = IncidentFilter(bbox=(20.0, 50.0, 21.0, 51.0),
                           area=((25.0, 55.0), (26.0, 55.0), (25.5, 56.0)))
    assert apart.is_empty()
    assert not IncidentFilter(bbox=(20.0, 50.0, 26.0, 56.0)).is_empty()


def test_describe_and_manifest_say_every_active_filter():
    f = IncidentFilter(start=dt.date(2025, 7, 1), end=dt.date(2025, 9, 30), types=("drone",),
                       countries=(), near=("belarus", 50), bbox=(20.9, 54.0, 27.0, 56.5),
                       around=("Vilnius", 30))
    assert f.describe() == ("2025-07-01 – 2025-09-30 · types: drone · airspace: none · "
                            "within 50 km of Belarus · in the box 20.9–27° E, 54–56.5° N · "
                            "within 30 km of Vilnius")
    plain = f.to_dict()
    assert plain["start"] == "2025-07-01"
    assert plain["countries"] == []
    assert plain["near"] == ["belarus", 50]
    assert IncidentFilter().describe() == "All dates"


def test_an_unknown_distance_target_is_refused():
    with pytest.raises(ValueError, match="'moon'"):
        IncidentFilter(near=("moon", 5))
