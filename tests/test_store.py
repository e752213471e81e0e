"""The incident store: a real GeoPackage, upserts by id, all-or-nothing imports."""

from __future__ import annotations

import datetime as dt
import sqlite3

import geopandas as gpd
import numpy as np
import pytest

from geo.filters import IncidentFilter
from geo.store import open_store


@pytest.fixture
def store(tmp_path):
    return open_store(tmp_path / "store.gpkg")


def test_first_use_creates_a_geopackage_from_the_seeds(store):
    counts = store.counts()
    assert counts["incidents"] == 7
    assert counts["deployments"] >= 18
    assert counts["defense_lines"] == 4
    assert counts["sources"] == 10
    with sqlite3.connect(store.path) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    gdf = gpd.read_file(store.path, layer="incidents")  # GDAL reads it as a GeoPackage
    assert gdf.crs.to_epsg() == 4326
    assert np.allclose(gdf.geometry.x, gdf["lon"])
    assert np.allclose(gdf.geometry.y, gdf["lat"])
    lines = gpd.read_file(store.path, layer="defense_lines")
    assert set(lines.geom_type) == {"MultiLineString"}


def test_store_location_comes_from_the_environment(tmp_path, monkeypatch):
    target = tmp_path / "from-env.gpkg"
    monkeypatch.setenv("FLANKWATCH_STORE", str(target))
    assert open_store().path == target
    assert target.exists()


def test_filtered_reads_use_the_indexes(store):
    for filters in (IncidentFilter(start=dt.date(2025, 7, 1)), IncidentFilter(types=("drone",)),
                    IncidentFilter(countries=("LTU",))):
        assert "USING INDEX" in store.incidents_query_plan(filters), filters


def test_filters_select_by_overlap_type_and_country(store):
    july = store.incidents(IncidentFilter(start=dt.date(2025, 7, 1), end=dt.date(2025, 7, 31)))
    assert set(july["id"]) >= {"ltu-2025-07-10-drone", "ltu-2025-07-28-gerbera"}
    assert "pol-2025-09-drones" not in set(july["id"])
    # records spanning 2022-2025 overlap July 2025 and are kept
    assert "rou-similar-incidents" in set(july["id"])
    one_day = store.incidents(IncidentFilter(start=dt.date(2025, 7, 28),
                                             end=dt.date(2025, 7, 28)))
    assert "ltu-2025-07-28-gerbera" in set(one_day["id"])
    aircraft = store.incidents(IncidentFilter(types=("aircraft",)))
    assert set(aircraft["id"]) == {"est-2025-09-mig31"}
    assert set(store.incidents(IncidentFilter(countries=("POL",)))["country_iso3"]) == {"POL"}
    assert store.incidents(IncidentFilter(types=())).empty
    box = store.incidents(IncidentFilter(bbox=(23.0, 54.0, 25.0, 56.0)))
    assert not box.empty
    assert ((box["lon"] >= 23) & (box["lon"] <= 25)).all()
    assert store.count_incidents(IncidentFilter(bbox=(23.0, 54.0, 25.0, 56.0))) == len(box)


def test_positions_have_an_r_tree_kept_current(store, tmp_path):
    """The GeoPackage R-tree extension on incident positions: registered, used by box
    filters, and right after inserts and updates that move a point."""
    box = IncidentFilter(bbox=(23.0, 54.0, 25.0, 56.0))
    assert "rtree_incidents_geom" in store.incidents_query_plan(box)
    placed = store.incidents().query("location_precision != 'region'")
    moved = placed.iloc[[0]].assign(lon=30.5, lat=60.5)
    with store.importing(file="move") as writer:
        writer.write({"incidents": moved})
    with sqlite3.connect(store.path) as con:
        assert con.execute("SELECT count(*) FROM gpkg_extensions WHERE table_name = "
                           "'incidents' AND extension_name = 'gpkg_rtree_index'"
                           ).fetchone()[0] == 1
        index = dict((fid, (x, y)) for fid, x, y in con.execute(
            "SELECT id, minx, miny FROM rtree_incidents_geom"))
        rows = con.execute("SELECT fid, lon, lat FROM incidents").fetchall()
    assert len(index) == len(rows)
    for fid, lon, lat in rows:
        assert index[fid] == pytest.approx((lon, lat), abs=1e-4)  # float32 bounds
    far = store.incidents(IncidentFilter(bbox=(30.0, 60.0, 31.0, 61.0)))
    assert list(far["id"]) == [moved["id"].iloc[0]]
    assert gpd.read_file(store.path, layer="incidents", bbox=(30.0, 60.0, 31.0, 61.0)
                         )["id"].tolist() == [moved["id"].iloc[0]]  # GDAL uses it too


def test_an_area_and_a_ring_keep_only_the_points_inside(store):
    """The polygon and the geodesic ring are applied after the SQL box, with the same
    answer whether rows or a count are asked for."""
    stored = store.incidents()
    placed = stored[stored["location_precision"] != "region"]
    lon, lat = float(placed["lon"].iloc[0]), float(placed["lat"].iloc[0])
    triangle = ((lon - 0.2, lat - 0.2), (lon + 0.3, lat - 0.2), (lon, lat + 0.3))
    inside = store.incidents(IncidentFilter(area=triangle))
    assert list(inside["id"]) == [placed["id"].iloc[0]]
    away = ((lon + 1, lat + 1), (lon + 2, lat + 1), (lon + 1.5, lat + 2))
    assert store.count_incidents(IncidentFilter(area=away)) == 0
    assert store.incidents(IncidentFilter(bbox=(30, 60, 31, 61), area=triangle)).empty


def test_a_history_change_shows_numbers_as_people_read_them():
    from geo.store.history import Version, changes

    before = Version(1, {"id": "a", "lat": 37.56315904852499, "title": "x"})
    after = Version(2, {"id": "a", "lat": 37.6, "title": "y"})
    assert changes("incidents", before, after) == [("lat", "37.563159", "37.6"),
                                                   ("title", "x", "y")]


def test_sources_dated_to_the_day_and_to_the_month_go_into_one_store(tmp_path):
    """A record directory whose sources give "2025-09-10" and "2026-01" (a month) makes
    a store (it stopped at the month: the dates were read in the first one's format)."""
    import shutil

    from geo.settings import SEEDS_DIR

    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, seeds)
    with open(seeds / "sources.csv", "a", encoding="utf-8") as fh:
        fh.write("M1,Paper,A month-dated story,2026-01,,\n")
    store = open_store(tmp_path / "store.gpkg", seeds_dir=seeds)
    published = store.records("sources").set_index("id")["published"]
    assert str(published["M1"].date()) == "2026-01-01"
