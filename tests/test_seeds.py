"""The seed records: valid, complete against the source documents, positions honest."""

from __future__ import annotations

import json
import shutil
import sys

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.__main__ import main
from geo.records import load_directory
from geo.settings import DEFAULT_SEEDS_DIR as SEEDS_DIR
from geo.settings import LAND_PATH


@pytest.fixture(scope="module")
def seeds():
    records = load_directory(SEEDS_DIR)
    assert records.rejected == 0
    return records.batches()


def test_validate_seeds_exits_0_and_prints_counts_per_type(capsys):
    assert main(["validate", str(SEEDS_DIR)]) == 0
    out = capsys.readouterr().out
    for kind in ("incident", "deployment", "defense_line", "source"):
        assert f"{kind}: " in out


def _one(frame, **conditions):
    rows = frame
    for column, value in conditions.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, conditions
    return rows.iloc[0]


def test_the_incidents_the_documents_describe_are_there(seeds):
    inc = seeds["incidents"]
    inc = inc.assign(day=inc["date"].dt.strftime("%Y-%m-%d"))
    first = _one(inc, day="2025-07-10", type="drone", country_iso3="LTU")
    assert first["origin"] == "BLR"
    gerbera = _one(inc, day="2025-07-28", type="drone")
    assert gerbera["country_iso3"] == "LTU"
    assert gerbera["dist_belarus_km"] == pytest.approx(100, abs=15)
    assert "2 kg" in gerbera["description"]
    poland = _one(inc, day="2025-09-01", type="drone", country_iso3="POL")
    assert (poland["origin"], poland["date_precision"]) == ("RUS", "month")
    migs = _one(inc, id="est-2025-09-mig31")
    assert (migs["type"], migs["country_iso3"]) == ("aircraft", "EST")
    assert "MiG-31" in migs["title"]
    similar = inc[inc["title"].str.contains("unspecific")]
    assert sorted(similar["country_iso3"]) == ["LVA", "POL", "ROU"]
    assert set(similar["location_precision"]) == {"region"}


def test_contradictions_between_documents_are_noted(seeds):
    notes = seeds["incidents"].set_index("id").loc["ltu-2025-07-28-gerbera", "notes"]
    for fact in ("found", "Rutte", "Stoltenberg", "2021"):
        assert fact in notes


def test_deployments_and_exercises_cover_the_documents(seeds):
    dep = seeds["deployments"]
    iskander = dep[dep["name"].str.contains("Iskander")]
    assert sorted(iskander["status"]) == ["active", "exercise"]
    assert (iskander["date"].dt.strftime("%Y-%m-%d") == "2018-02-05").any()
    battalions = dep[dep["name"].str.contains("multinational battalion")]
    assert sorted(battalions["host_iso3"]) == ["EST", "LTU", "LVA", "POL"]
    assert set(battalions["date"].dt.year) == {2017}
    assert (dep["name"].str.contains("Patriot") & (dep["host_iso3"] == "LTU")).any()
    purchase = _one(dep, kind="procurement")
    assert purchase["date"].strftime("%Y-%m") == "2017-11"
    arrival = dep[dep["date"].dt.strftime("%Y-%m-%d") == "2025-08-06"]
    assert list(arrival["host_iso3"]) == ["BLR"]
    assert dep["description"].str.contains("34,000").any()
    sentry = dep[dep["name"].str.contains("Eastern Sentry")]
    assert {"DEU", "FRA", "GBR", "CZE", "DNK"} <= set(sentry["operator"])
    planned = dep[dep["status"] == "planned"]["name"]
    assert planned.str.contains("NASAMS").any()
    assert planned.str.contains("MSHORAD").any()
    assert dep["name"].str.contains("UAV systems training").any()


def test_defence_lines_follow_the_reference_borders(seeds, boundaries):
    sys.path.insert(0, str(SEEDS_DIR))
    from build_defense_lines import line_geometry

    lines = seeds["defense_lines"].set_index("id")
    assert set(lines["schematic"]) == {"true"}
    assert lines.loc["ltu-border-defence-line", "depth_km"] == 50
    assert {"baltic-defence-line-est", "baltic-defence-line-lva", "pol-east-shield"} <= \
        set(lines.index)
    for ident, row in lines.iterrows():
        expected = line_geometry(row["borders"])
        assert shapely.equals_exact(row["geometry"], expected, tolerance=1e-5), ident


def test_positions_come_from_their_stated_basis(seeds, gazetteer, boundaries):
    land = gpd.read_file(LAND_PATH).set_index("iso3").geometry
    kaliningrad = boundaries.kaliningrad
    for name in ("incidents", "deployments"):
        for row in seeds[name].itertuples():
            kind, _, what = row.location_basis.partition(": ")
            if kind == "gazetteer":
                name, _, iso3 = what.partition(", ")  # "NAME, ISO3" where NAME is ambiguous
                place = gazetteer.geocode(name, country=iso3 or None).place
                expected = (place.lat, place.lon)
            elif what == "centroid of the Kaliningrad exclave":
                expected = (kaliningrad.centroid.y, kaliningrad.centroid.x)
            else:
                iso3 = what.removeprefix("centroid of ").removesuffix(" land territory")
                expected = (land[iso3].centroid.y, land[iso3].centroid.x)
            assert (row.lat, row.lon) == pytest.approx(expected, abs=1e-3), row.id
            if kind == "region":
                assert row.location_precision == "region", row.id


def test_region_records_carry_no_invented_distances(seeds):
    inc = seeds["incidents"]
    region = inc[inc["location_precision"] == "region"]
    assert region["dist_belarus_km"].isna().all()
    assert region["location_label"].str.contains("no position reported").all()


def test_a_broken_seed_directory_fails_with_row_level_messages(tmp_path, capsys):
    broken = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, broken, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    inc = pd.read_csv(broken / "incidents.csv", dtype=str, keep_default_na=False)
    inc.loc[1, "sources"] = "S000;NOPE"
    inc.loc[2, "date_end"] = "2025-08-01"
    inc.loc[2, "date"] = "2025-08-05"
    inc.loc[3, "date"] = "2031-01-01"
    inc.to_csv(broken / "incidents.csv", index=False)
    lines = json.loads((broken / "defense_lines.geojson").read_text())
    lines["features"][0]["properties"]["status"] = "imaginary"
    (broken / "defense_lines.geojson").write_text(json.dumps(lines))
    assert main(["validate", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "row 2: sources: unknown source id(s) ['NOPE']" in err
    assert "row 3: date_end: date_end is before date" in err
    assert "row 4: date: date is in the future" in err
    assert "row 1: status: must be one of planned, under_construction, active" in err


def test_events_group_their_records_and_cite_known_sources():
    inc = pd.read_csv(SEEDS_DIR / "incidents.csv", dtype=str, keep_default_na=False)
    events = pd.read_csv(SEEDS_DIR / "events.csv", dtype=str, keep_default_na=False)
    sources = set(pd.read_csv(SEEDS_DIR / "sources.csv", dtype=str, keep_default_na=False)["id"])
    assert events["id"].is_unique
    assert set(inc["event"]) - {""} <= set(events["id"])
    assert set(events["id"]) <= set(inc["event"])  # no event without its records
    for row in events.itertuples():
        assert set(row.sources.split(";")) <= sources, row.id
        assert all(v == "" or v.isdigit() for v in (row.violations, row.shot_down)), row.id
    assert inc["count"].str.fullmatch(r"\d*").all()
    night = events.set_index("id").loc["pol-2025-09-10-incursion"]
    assert (night["violations"], night["date"], night["date_end"]) == ("19", "2025-09-09",
                                                                     "2025-09-10")
    sites = inc[inc["event"] == "pol-2025-09-10-incursion"]["id"]
    for village in ("czosnowka", "czesniki", "wyryki", "krzywowierzba-kolonia", "wohyn",
                    "wielki-lan", "zablocie-kolonia", "wyhalew", "bychawka-trzecia", "mniszkow",
                    "olesno", "nowe-miasto-nad-pilica", "rabiany-sewerynow", "czyzow", "sobotka",
                    "smykow", "przymiarki"):
        assert f"pol-2025-09-10-{village}" in set(sites), village


def test_web_sources_have_an_address_and_no_document():
    src = pd.read_csv(SEEDS_DIR / "sources.csv", dtype=str, keep_default_na=False)
    web = src[src["id"].str.startswith("W")]
    assert len(web) > 0
    assert web["url"].str.match(r"https?://").all()
    assert (web["document"] == "").all()
    assert (web["publication"] != "").all()
    assert (web["title"] != "").all()
    assert web["published"].str.fullmatch(r"(\d{4}-\d{2}-\d{2})?").all()  # the store keeps days


def test_each_record_lies_within_its_events_period(seeds):
    """A record of an event falls within the event's period: a day-precision record
    begins in it, a month-precision one ("Sep 2025") meets it."""
    from geo.dates import record_periods

    inc, events = seeds["incidents"], seeds["events"].set_index("id")
    grouped = inc[inc["event"].fillna("") != ""]
    assert len(grouped) > 50
    starts, ends = record_periods(events)
    begins, finishes = record_periods(grouped)
    for k, row in enumerate(grouped.itertuples()):
        start, end = starts[row.event], ends[row.event]
        if row.date_precision == "day":
            assert start <= row.date < end, (row.id, row.event)
        else:
            assert begins.iloc[k] < end, (row.id, row.event)
            assert finishes.iloc[k] > start, (row.id, row.event)


def test_positioned_records_lie_in_the_airspace_their_id_names(seeds):
    """A record placed at a village or a named place (not a region's stand-in) lies in
    the airspace of the state its id begins with (pol-…: Poland), land or territorial
    sea, as the enrichment finds it."""
    inc = seeds["incidents"]
    placed = inc[inc["location_precision"] != "region"]
    assert len(placed) > 100
    stated = placed["id"].str.split("-").str[0].str.upper()
    wrong = placed[placed["country_iso3"] != stated][["id", "country_iso3"]]
    assert wrong.empty, wrong.to_string()
