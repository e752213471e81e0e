"""Importers: canonical CSV, ACLED exports, GeoJSON with tracks, other schemas by --map."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from geo.__main__ import main
from geo.filters import IncidentFilter
from geo.records import load_file
from geo.settings import ROOT_DIR
from geo.store import open_store

ACLED = ROOT_DIR / "tests" / "data" / "acled_eastern_flank.csv"


@pytest.fixture(scope="module")
def acled():
    incidents, = load_file(ACLED)
    return incidents


def test_acled_is_detected_and_mapped(acled):
    rec = acled.records.set_index("id")
    assert list(rec.index) == ["LTU1201", "LTU1207", "POL3391", "EST0072", "ROU0555",
                               "LVA0101"]
    assert rec.loc["LTU1201", "date"] == pd.Timestamp("2025-07-10", tz="UTC")  # "10 July"
    assert rec.loc["EST0072", "type"] == "aircraft"
    assert rec.loc["LVA0101", "type"] == "balloon"
    assert rec.loc["LTU1201", "origin"] == "RUS"
    assert rec.loc["POL3391", "sources"] == "PAP;Reuters"
    # quoted notes with commas and doubled quotes survive as the description
    assert 'described as a "Gerbera", was' in rec.loc["LTU1201", "description"]
    assert rec.loc["LTU1207", "country_iso3"] == "LTU"
    assert rec.loc["EST0072", "country_iso3"] == "EST"  # territorial sea off Vaindloo


def test_acled_precision_codes_map_to_ours(acled):
    rec = acled.records.set_index("id")
    assert rec["location_precision"].to_dict() == {
        "LTU1201": "approximate", "LTU1207": "exact", "POL3391": "approximate",
        "EST0072": "approximate", "ROU0555": "region", "LVA0101": "region"}
    week = rec.loc["ROU0555"]  # time_precision 2: the week around the coded day
    assert (week["date"], week["date_end"]) == (pd.Timestamp("2025-09-10", tz="UTC"),
                                                pd.Timestamp("2025-09-16", tz="UTC"))
    month = rec.loc["LVA0101"]  # time_precision 3: the month
    assert (month["date"], month["date_precision"]) == (pd.Timestamp("2025-09-01", tz="UTC"),
                                                        "month")


def test_acled_inter_codes_as_numbers_or_text_are_kept(acled):
    extra = acled.records.set_index("id")["extra"].map(json.loads)
    assert extra["LTU1201"]["inter1"] == "1"
    assert extra["LTU1207"]["inter1"] == "State forces"
    assert extra["LTU1201"]["population_best"] == "560000"


def test_acled_bad_rows_are_reported_not_lost(acled):
    assert acled.total == 8
    bad = acled.rejects.set_index("row")
    assert "not a valid date" in bad.loc[7, "reason"]
    assert "acled time_precision 4" in bad.loc[8, "reason"]


FREE_TEXT = """id,date,type,place,confidence
t-1,"09–10 Sep 2025",drone,Włodawa,reported
t-2,20/21 Sep 2025,drone,Jonava,reported
t-3,"03 Oct 2025, before 01:45",balloon,Vilnius,reported
t-4,Sep 2025,drone,Rzeszów,reported
t-5,03/04/2025,drone,Vilnius,reported
t-6,sometime in autumn,drone,Vilnius,reported
t-7,2025-07-10,spaceship,Vilnius,reported
t-8,2025-07-10,drone,Atlantis City,reported
"""


def test_free_text_dates_become_start_end_precision_or_are_rejected(tmp_path):
    path = tmp_path / "reported.csv"
    path.write_text(FREE_TEXT, encoding="utf-8")
    loaded, = load_file(path)
    rec = loaded.records.set_index("id")
    assert rec.loc["t-1", ["date", "date_end"]].tolist() == [
        pd.Timestamp("2025-09-09", tz="UTC"), pd.Timestamp("2025-09-10", tz="UTC")]
    assert rec.loc["t-2", "date_end"] == pd.Timestamp("2025-09-21", tz="UTC")
    assert rec.loc["t-3", "date_end"] == pd.Timestamp("2025-10-03T01:45", tz="UTC")
    assert rec.loc["t-4", "date_precision"] == "month"
    assert rec.loc["t-1", "location_basis"] == "gazetteer: Włodawa"
    assert rec.loc["t-1", "location_precision"] == "approximate"
    bad = loaded.rejects.set_index("row")
    assert "ambiguous" in bad.loc[5, "reason"]
    assert "not a date" in bad.loc[6, "reason"]
    assert "must be one of drone" in bad.loc[7, "reason"]
    assert "Atlantis" in bad.loc[8, "reason"]
    assert loaded.total == 8


def test_other_schemas_import_through_a_column_map(tmp_path, capsys):
    path = tmp_path / "radar.csv"
    path.write_text("ref,event_time,kind,y,x\nr1,2025-09-19T09:58Z,aircraft,59.83,26.36\n"
                    "r2,2025-09-10,drone,51.667,23.417\n", encoding="utf-8")
    store = tmp_path / "s.gpkg"
    assert main(["import", str(path), "--store", str(store), "--map",
                 "id=ref,date=event_time,type=kind,lat=y,lon=x"]) == 0
    got = open_store(store).incidents(IncidentFilter(types=("aircraft",))).set_index("id")
    assert got.loc["r1", "country_iso3"] == "EST"
    assert got.loc["r1", "confidence"] == "reported"  # the input has no such column


def test_geojson_points_are_incidents_and_lines_are_tracks(tmp_path):
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [24.13, 54.955]},
         "properties": {"id": "g-1", "date": "2025-07-28", "type": "drone",
                        "confidence": "confirmed"}},
        {"type": "Feature",
         "geometry": {"type": "LineString",
                      "coordinates": [[25.9, 54.3], [25.5, 54.6], [24.13, 54.955]]},
         "properties": {"id": "trk-1", "incident_id": "g-1", "type": "drone",
                        "times": "2025-07-28T10:00Z;2025-07-28T10:30Z;2025-07-28T11:40Z"}},
        {"type": "Feature",
         "geometry": {"type": "LineString", "coordinates": [[25.9, 54.3], [25.5, 54.6]]},
         "properties": {"id": "trk-2", "times": "2025-07-28T10:00Z;2025-07-28T09:00Z"}},
    ]
    path = tmp_path / "flight.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    incidents, tracks = load_file(path)
    assert list(incidents.records["id"]) == ["g-1"]
    assert list(tracks.records["id"]) == ["trk-1"]
    assert tracks.rejects.iloc[0]["row"] == 3
    assert "backwards" in tracks.rejects.iloc[0]["reason"]
    store = tmp_path / "s.gpkg"
    assert main(["import", str(path), "--store", str(store), "--rejects",
                 str(tmp_path / "rej.csv")]) == 0
    stored = open_store(store).records("tracks").set_index("id")
    assert stored.loc["trk-1", "geometry"].coords[0] == (25.9, 54.3)
