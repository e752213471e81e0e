"""The store interface on both backends: the GeoPackage file and the PostGIS team store
(a real PostgreSQL + PostGIS server, a throwaway cluster on a Unix socket). Each test
runs on both and expects the same answers."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

from geo.__main__ import main
from geo.audit import current_user, file_sha256
from geo.errors import StoreError
from geo.filters import IncidentFilter
from geo.records import load_directory
from geo.settings import ROOT_DIR, SEEDS_DIR
from geo.store import open_store
from geo.store.base import ALERT_TABLES, DATED_TABLES_V5, LAYERS, SCHEMA_VERSION, WRITES
from geo.store.history import changes, revert, versions
from geo.store.postgis import schema_version
from tests.postgres import private_cluster

ACLED = ROOT_DIR / "tests" / "data" / "acled_eastern_flank.csv"
_databases = itertools.count()


@pytest.fixture(scope="session")
def cluster():
    with private_cluster() as url:
        yield url


def _new_database(cluster: str) -> str:
    """An empty database with PostGIS on the test cluster; its URL."""
    name = f"store_{next(_databases)}"
    with psycopg.connect(cluster, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return cluster.replace("/flankwatch?", f"/{name}?")


def _postgis_store(cluster: str):
    url = _new_database(cluster)
    assert main(["store", "init", "--store", url, "--with-seeds"]) == 0
    return open_store(url)


@pytest.fixture(params=["geopackage", "postgis"])
def store(request, tmp_path):
    if request.param == "geopackage":
        return open_store(tmp_path / "store.gpkg")
    return _postgis_store(request.getfixturevalue("cluster"))


def _location(store) -> str:
    return str(store.path) if store.path else store.url


def _import(store, path: Path, tmp_path: Path) -> int:
    return main(["import", str(path), "--store", _location(store), "--rejects",
                 str(tmp_path / "rejects.csv")])


def test_the_seeds_are_the_same_records_in_both(store, tmp_path):
    counts = store.counts()
    assert counts["incidents"] == 7
    assert counts["defense_lines"] == 4
    assert counts["sources"] == 10
    reference = open_store(tmp_path / "reference.gpkg")
    for table in ("deployments", "defense_lines", "tracks", "sources"):
        mine = store.records(table).sort_values("id", ignore_index=True)
        theirs = reference.records(table).sort_values("id", ignore_index=True)
        _same(mine, theirs)
    _same(store.incidents(), reference.incidents())


def _same(mine: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert list(mine.columns) == list(theirs.columns)
    assert len(mine) == len(theirs)
    for column in mine.columns:
        a, b = mine[column], theirs[column]
        if column == "geometry":
            assert all(x.equals_exact(y, 1e-9) for x, y in zip(a, b, strict=True))
        elif isinstance(a.dtype, pd.DatetimeTZDtype):
            assert (a.isna() == b.isna()).all(), column
            assert (a[a.notna()] == b[b.notna()]).all(), column
        else:
            pd.testing.assert_series_equal(a, b, check_dtype=False, obj=column)


def test_reimporting_changes_nothing_and_a_change_is_an_update(store, tmp_path, capsys):
    assert _import(store, ACLED, tmp_path) == 0
    assert "incidents: 6 inserted, 0 updated, 0 unchanged" in capsys.readouterr().out
    before = store.incidents()
    assert _import(store, ACLED, tmp_path) == 0
    assert "incidents: 0 inserted, 0 updated, 6 unchanged" in capsys.readouterr().out
    pd.testing.assert_frame_equal(before, store.incidents())
    changed = tmp_path / "acled_v2.csv"
    changed.write_text(ACLED.read_text(encoding="utf-8-sig").replace(
        "for about 12 minutes", "for about 15 minutes"), encoding="utf-8")
    assert _import(store, changed, tmp_path) == 0
    assert "incidents: 0 inserted, 1 updated, 5 unchanged" in capsys.readouterr().out
    assert "15 minutes" in store.incident("EST0072")["description"]


FILTERS = [
    IncidentFilter(start=dt.date(2025, 7, 1), end=dt.date(2025, 7, 31)),
    IncidentFilter(types=("aircraft",)),
    IncidentFilter(countries=("POL", "LTU")),
    IncidentFilter(types=()),
    IncidentFilter(confidence=("confirmed",)),
    IncidentFilter(near=("belarus", 150)),
    IncidentFilter(bbox=(20.9, 54.0, 27.0, 56.5)),
    IncidentFilter(area=((22.0, 53.0), (27.0, 53.0), (27.0, 56.0), (22.0, 56.0))),
    IncidentFilter(around=("Vilnius", 120)),
    IncidentFilter(bbox=(20.0, 50.0, 21.0, 51.0), area=((25.0, 55.0), (26.0, 55.0),
                                                         (25.5, 56.0))),
]


def test_a_period_filter_finds_a_record_by_the_end_of_its_period(store, tmp_path):
    """"Sep 2025" lasts all September and "2024" all year: a filter on their second
    half finds them, on both backends; one starting after them does not."""
    src = tmp_path / "vague.csv"
    src.write_text("id,date,type,lat,lon,confidence\n"
                   "vague-month,Sep 2025,drone,54.6,25.1,reported\n"
                   "vague-year,2024,balloon,54.7,25.2,reported\n", encoding="utf-8")
    assert _import(store, src, tmp_path) == 0
    late = IncidentFilter(start=dt.date(2025, 9, 20), end=dt.date(2025, 9, 30))
    assert "vague-month" in set(store.incidents(late)["id"])
    december = IncidentFilter(start=dt.date(2024, 12, 1), end=dt.date(2024, 12, 31))
    assert "vague-year" in set(store.incidents(december)["id"])
    after = IncidentFilter(start=dt.date(2025, 10, 1))
    assert "vague-month" not in set(store.incidents(after)["id"])


def test_filters_select_the_same_incidents(store, tmp_path):
    assert _import(store, ACLED, tmp_path) == 0
    reference = open_store(tmp_path / "reference.gpkg")
    assert _import(reference, ACLED, tmp_path) == 0
    for filters in FILTERS:
        mine = sorted(store.incidents(filters)["id"])
        assert mine == sorted(reference.incidents(filters)["id"]), filters
        assert store.count_incidents(filters) == len(mine), filters
    newest = store.incidents(IncidentFilter(), newest=2, columns=["id", "date"])
    assert list(newest.columns) == ["id", "date"]
    assert newest["date"].is_monotonic_decreasing


def test_filtered_reads_use_the_indexes(store):
    for filters in (IncidentFilter(start=dt.date(2025, 7, 1)), IncidentFilter(types=("x",)),
                    IncidentFilter(countries=("LTU",))):
        assert "index" in store.incidents_query_plan(filters).lower(), filters


def test_a_failed_import_leaves_the_store_as_it_was(store):
    before = store.incidents()
    rows = load_directory(SEEDS_DIR).batches()["incidents"].assign(id=lambda f: f["id"] + "-x")

    def cut_off() -> None:
        with store.importing(file="x") as writer:
            writer.write({"incidents": rows})
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        cut_off()
    pd.testing.assert_frame_equal(store.incidents(), before)


def _csv(path: Path, ids: range) -> Path:
    rng = np.random.default_rng(ids.start)
    n = len(ids)
    pd.DataFrame({
        "id": [f"bulk-{i}" for i in ids], "date": "2025-05-01", "type": "drone",
        "lat": (54.0 + (np.array(ids) % 97) / 100).round(4),
        "lon": (23.0 + (np.array(ids) % 89) / 100).round(4),
        "confidence": rng.choice(["reported", "confirmed"], n).tolist(),
    }).assign(confidence="reported").to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_four_importers_at_once_lose_nothing(store, tmp_path):
    """Different and overlapping files imported by four processes at the same time:
    every process succeeds, every record is there once."""
    files = [_csv(tmp_path / f"part{k}.csv", range(k * 1500, k * 1500 + 3000))
             for k in range(4)]
    env = {**os.environ, "PYTHONPATH": str(ROOT_DIR)}
    procs = [subprocess.Popen([sys.executable, "-m", "geo", "import", str(f), "--store",
                               _location(store)], env=env, cwd=ROOT_DIR,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for f in files]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    assert not any("error" in err.lower() for _, err in outputs)
    ids = set(store.incidents(columns=["id"])["id"])
    assert {f"bulk-{i}" for i in range(4 * 1500 + 1500)} <= ids
    assert store.counts()["incidents"] == 7 + 4 * 1500 + 1500


@pytest.mark.slow
def test_a_killed_import_leaves_the_store_as_it_was(store, tmp_path):
    big = _csv(tmp_path / "big.csv", range(60_000))
    before = store.incidents()
    env = {**os.environ, "PYTHONPATH": str(ROOT_DIR)}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "geo", "-v", "import", str(big), "--store",
         _location(store)], stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT_DIR)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "wrote" in line and "(not committed)" in line:
            break
    assert proc.poll() is None, "".join(seen)  # mid-import: rows written, not committed
    pd.testing.assert_frame_equal(store.incidents(), before)  # readers see the last commit
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    pd.testing.assert_frame_equal(store.incidents(), before)
    assert len(store.imports()) == 1  # the seeds' import only
    if store.path is not None:
        with sqlite3.connect(store.path) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert _import(store, ACLED, tmp_path) == 0  # and the store takes imports afterwards
    assert len(store.incidents()) == len(before) + 6


# --- PostGIS only: the schema the project owns -------------------------------------------

def test_a_new_database_is_refused_until_init_then_migrate_is_a_no_op(cluster, capsys):
    url = _new_database(cluster)
    with pytest.raises(StoreError, match="python -m geo store init"):
        open_store(url)
    assert main(["store", "init", "--store", url]) == 0
    assert "versions applied: 1" in capsys.readouterr().out
    assert open_store(url).counts()["incidents"] == 0
    assert main(["store", "migrate", "--store", url]) == 0
    assert "versions applied: none needed" in capsys.readouterr().out
    with psycopg.connect(url) as con:  # a store from a newer Flankwatch is not touched
        con.execute("INSERT INTO schema_version (version) VALUES (99)")
    assert main(["store", "migrate", "--store", url]) == 2
    assert "newer than this Flankwatch" in capsys.readouterr().err


def test_the_position_has_a_spatial_index(cluster):
    store = _postgis_store(cluster)
    plan = store.incidents_query_plan(IncidentFilter(bbox=(20.0, 53.0, 27.0, 57.0)))
    assert "incidents_geom_idx" in plan


def test_an_unreachable_server_is_named_without_its_password(capsys):
    url = "postgresql://someone:s3cret@/nowhere?host=/nonexistent-socket-dir"
    assert main(["store", "migrate", "--store", url]) == 2
    err = capsys.readouterr().err
    assert "cannot connect" in err
    assert "s3cret" not in err


@pytest.mark.e2e
@pytest.mark.slow
def test_the_dashboard_runs_on_the_team_store(cluster, page):
    """The dashboard on PostGIS: the seeds' incidents counted and drawn in Chromium."""
    from tests.browser import dashboard, map_frame

    store = _postgis_store(cluster)
    with dashboard(store.url) as url:
        page.goto(url)
        frame = map_frame(page)
        assert frame.evaluate("() => window.fwIncidents.total") == 7
        assert page.get_by_test_id("stMetricValue").first.inner_text() == "7"


# --- record history and the import log ----------------------------------------------------

def test_an_update_keeps_the_previous_version_and_a_revert_restores_it(store, tmp_path):
    assert _import(store, ACLED, tmp_path) == 0
    original = store.record("incidents", "EST0072")
    changed = tmp_path / "acled_v2.csv"
    changed.write_text(ACLED.read_text(encoding="utf-8-sig").replace(
        "for about 12 minutes", "for about 15 minutes"), encoding="utf-8")
    assert _import(store, changed, tmp_path) == 0
    found = versions(store, "incidents", "EST0072")
    assert [v.number for v in found] == [1, 2]
    assert found[0].replaced_by_file == str(changed)
    assert [c[0] for c in changes("incidents", *found)] == ["description"]
    revert(store, "incidents", "EST0072", 1, who="analyst@example.org")
    pd.testing.assert_frame_equal(store.record("incidents", "EST0072"), original)
    found = versions(store, "incidents", "EST0072")
    assert [v.number for v in found] == [1, 2, 3]
    assert "15 minutes" in found[1].values["description"]  # the reverted one is kept
    log = store.imports()
    assert log["file"].iloc[-1] == "revert incidents EST0072 to version 1"
    assert log["imported_by"].iloc[-1] == "analyst@example.org"
    assert log["imported_by"].iloc[-2] == current_user()
    assert log["sha256"].iloc[-2] == file_sha256(changed)


def test_line_geometries_come_back_exactly(store):
    lines = store.records("defense_lines")
    first = lines.iloc[[0]].copy()
    ident = first["id"].iloc[0]
    first["geometry"] = [shapely.LineString([(20, 54), (21, 55)])]
    with store.importing(file="edit") as writer:
        writer.write({"defense_lines": first})
    assert store.record("defense_lines", ident)["geometry"].iloc[0].equals(
        first["geometry"].iloc[0])
    revert(store, "defense_lines", ident, 1)
    back = store.record("defense_lines", ident)
    assert back["geometry"].iloc[0].equals_exact(lines["geometry"].iloc[0], 0)


def test_reverting_to_the_current_or_a_missing_version_is_refused(store, capsys):
    assert main(["revert", "ltu-2025-07-28-gerbera", "--to", "1", "--store",
                 _location(store)]) == 2
    assert "is the current one" in capsys.readouterr().err
    assert main(["history", "no-such-id", "--store", _location(store)]) == 2
    assert "no incidents record with id 'no-such-id'" in capsys.readouterr().err


def test_a_store_of_the_previous_schema_is_migrated(request, tmp_path):
    """Version 1 (no history): a GeoPackage is upgraded when opened, a PostGIS store by
    `store migrate`; the records stay and updates are then kept."""
    path = tmp_path / "old.gpkg"
    open_store(path)
    with sqlite3.connect(path) as con:  # back to version 1's layout
        for (trigger,) in con.execute("SELECT name FROM sqlite_master WHERE type = "
                                      "'trigger' AND name LIKE 'rtree_%'").fetchall():
            con.execute(f'DROP TRIGGER "{trigger}"')
        for table in ("rtree_incidents_geom", "rtree_deployments_geom", "gpkg_extensions",
                      "history", "schema_version", "views", "view_log"):
            con.execute(f"DROP TABLE {table}")
        con.execute("ALTER TABLE imports DROP COLUMN imported_by")
        for table in DATED_TABLES_V5:
            con.execute(f"DROP INDEX {table}_date_until_idx")
            con.execute(f"ALTER TABLE {table} DROP COLUMN date_until")
        con.execute("DROP TABLE events")
        for table in ALERT_TABLES:
            con.execute(f"DROP TABLE {table}")
        con.execute("DELETE FROM gpkg_contents WHERE table_name = 'events'")
        con.execute("DROP INDEX incidents_event_idx")
        con.execute('ALTER TABLE incidents DROP COLUMN "event"')
        con.execute('ALTER TABLE incidents DROP COLUMN "count"')
    url = _postgis_store(request.getfixturevalue("cluster")).url
    with psycopg.connect(url) as con:  # the same for the team store
        con.execute("DROP TABLE history, views, view_log, events, "
                    + ", ".join(ALERT_TABLES))
        con.execute("ALTER TABLE imports DROP COLUMN imported_by")
        con.execute('ALTER TABLE incidents DROP COLUMN "event", DROP COLUMN "count"')
        for table in DATED_TABLES_V5:
            con.execute(f"ALTER TABLE {table} DROP COLUMN date_until")
        con.execute("DELETE FROM schema_version WHERE version >= 2")
    assert schema_version(url) == 1
    with pytest.raises(StoreError, match="python -m geo store migrate"):
        open_store(url)
    assert main(["store", "migrate", "--store", url]) == 0
    assert schema_version(url) == SCHEMA_VERSION
    for store in (open_store(path), open_store(url)):
        # the records' periods were worked out for the rows already there: Estonia's
        # "Sep 2025" is in the second half of September
        late = store.incidents(IncidentFilter(start=dt.date(2025, 9, 15),
                                              end=dt.date(2025, 9, 30)))
        assert "est-2025-09-mig31" in set(late["id"])
        # a record stored before events existed has not changed: imported again, it is
        # "unchanged" (the columns added later count in its hash only where set)
        again = load_directory(SEEDS_DIR).batches()["incidents"]
        with store.importing(file="again") as writer:
            writer.write({"incidents": again})
        assert writer.reports[0].unchanged == len(again)
        before = store.counts()
        first = store.incidents().iloc[[0]].assign(title="changed title")
        with store.importing(file="edit") as writer:
            writer.write({"incidents": first})
        assert [v.number for v in versions(store, "incidents", first["id"].iloc[0])] == [1, 2]
        assert store.counts() == before


def test_copy_to_postgis_and_back_loses_nothing(cluster, tmp_path):
    """GeoPackage → PostGIS → GeoPackage: every column of every table, the history and
    the import log come back as they were."""
    start = open_store(tmp_path / "start.gpkg")
    assert _import(start, ACLED, tmp_path) == 0
    edit = start.incidents().iloc[[0]].assign(title="a corrected title")
    with start.importing(file="edit", who="analyst") as writer:
        writer.write({"incidents": edit})
    from geo.store import views

    kept = views.save_view(start, "Kept", {"types": "drone"}, "ana@example.org")
    gone = views.save_view(start, "Gone", {}, "ana@example.org")
    views.delete_view(start, gone.view_id, "ana@example.org")
    from geo import alerts

    alerts.add_rule(start, "Drones", IncidentFilter(types=("drone",)), who="ana",
                    email="duty@example.org")
    with start.importing(file="a drone") as writer:  # an alert, a delivery due
        writer.write({"incidents": start.incidents().iloc[[1]].assign(type="drone",
                                                                       title="now a drone")})
    url = _new_database(cluster)
    assert main(["store", "init", "--store", url]) == 0
    assert main(["store", "copy", str(start.path), url]) == 0
    back = tmp_path / "back.gpkg"
    assert main(["store", "copy", url, str(back)]) == 0
    for middle_or_end in (open_store(url), open_store(back)):
        for table in LAYERS:
            if table == "incidents":
                _same(middle_or_end.incidents(), start.incidents())
            else:
                _same(middle_or_end.records(table), start.records(table))
        for mine, theirs in zip((*middle_or_end.dump_log(), *views.dump(middle_or_end)),
                                (*start.dump_log(), *views.dump(start)), strict=True):
            pd.testing.assert_frame_equal(mine, theirs, check_dtype=False)
        assert views.get_view(middle_or_end, kept.view_id) == kept  # its link still works
        for table, frame in alerts.dump(middle_or_end).items():  # rules, alerts, deliveries
            pd.testing.assert_frame_equal(frame, alerts.dump(start)[table], check_dtype=False)
        assert len(alerts.dump(middle_or_end)["alerts"]) == 1
    views.save_view(open_store(url), "After the copy", {}, "ana@example.org")  # ids go on
    # record hashes came through: re-importing the same file changes nothing
    end = open_store(back)
    with end.importing(file="again") as writer:
        writer.write({"incidents": start.incidents()})
    assert writer.reports[0].unchanged == len(start.incidents())


def test_copy_refuses_a_store_that_has_records(store, tmp_path, capsys):
    source = open_store(tmp_path / "source.gpkg")
    assert main(["store", "copy", str(source.path), _location(store)]) == 2
    assert "a copy goes into" in capsys.readouterr().err


def test_least_rights_roles_read_or_import_as_documented(cluster, tmp_path, capsys,
                                                          monkeypatch):
    """The README's roles: a viewer reads and exports but cannot import (refused with the
    server's reason, nothing written); an importer imports."""
    from dashboard.export import main as export_main

    url = _postgis_store(cluster).url
    with psycopg.connect(url, autocommit=True) as con:
        for statement in (
                "CREATE ROLE test_viewer LOGIN",
                "GRANT SELECT ON ALL TABLES IN SCHEMA public TO test_viewer",
                "CREATE ROLE test_importer LOGIN",
                "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO test_importer",
                "GRANT DELETE ON views TO test_importer",
                "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO test_importer"):
            con.execute(statement)
    viewer = url.replace("postgres@", "test_viewer@")
    importer = url.replace("postgres@", "test_importer@")
    assert export_main(["--store", viewer, "-o", str(tmp_path / "data.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "data.csv")) == 7
    assert main(["import", str(ACLED), "--store", viewer, "--rejects",
                 str(tmp_path / "r.csv")]) == 2
    assert "permission denied" in capsys.readouterr().err
    assert open_store(url).counts()["incidents"] == 7
    assert main(["import", str(ACLED), "--store", importer, "--rejects",
                 str(tmp_path / "r.csv")]) == 0
    assert open_store(url).imports()["imported_by"].iloc[-1] == current_user()
    # the dashboard's role (the importer's) keeps the team's shared views
    from geo.store import views

    team = open_store(importer)
    saved = views.save_view(team, "A view", {"types": "drone"}, "ana@example.org")
    views.delete_view(team, saved.view_id, "ana@example.org")
    assert list(views.view_log(team)["action"]) == ["saved", "deleted"]
    with pytest.raises(StoreError, match="permission denied"):  # a viewer's cannot
        views.save_view(open_store(viewer), "Another", {}, "vera@example.org")
    # what each role may write, as the dashboard asks before offering a write
    assert open_store(viewer).denied_writes() == frozenset(WRITES)
    assert open_store(importer).denied_writes() == frozenset()
    _dashboard_on_a_read_only_role(viewer, monkeypatch)


def _dashboard_on_a_read_only_role(viewer: str, monkeypatch) -> None:
    """A dashboard whose database role only reads offers no import and no saving of
    views (each would fail with "permission denied"), and says why."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FLANKWATCH_STORE", viewer)
    app = AppTest.from_file(str(ROOT_DIR / "dashboard" / "app.py"), default_timeout=120)
    app.run()
    assert not app.exception
    assert int(app.metric[0].value) == len(open_store(viewer).incidents())  # it reads
    assert [t.label for t in app.tabs] == ["Summary", "Incidents", "Timeline", "Export",
                                          "Alerts"]
    assert not [b for b in app.button if b.label == "Save for the team"]
    assert any("only reads the store" in c.value for c in app.sidebar.caption)


def test_review_cases_behave_alike_on_both_backends(store, tmp_path):
    """A permanent table named like the import's scratch table survives an import; an id
    twice in one batch keeps its last row; a track with heights imports."""
    if store.path is None:
        with psycopg.connect(store.url) as con:
            con.execute("CREATE TABLE public.incoming (x int)")
    twice = store.incidents().iloc[[0, 0]].copy()
    twice["title"] = ["first", "second"]
    with store.importing(file="twice") as writer:
        writer.write({"incidents": twice})
    assert store.incident(twice["id"].iloc[0])["title"] == "second"
    track = pd.DataFrame({"id": ["track-z"], "incident_id": [twice["id"].iloc[0]],
                          "type": ["drone"], "times": [""], "sources": [""], "notes": [""],
                          "geometry": [shapely.LineString([(23, 54, 100), (24, 55, 200)])]})
    with store.importing(file="height") as writer:
        writer.write({"tracks": track})
    stored = store.record("tracks", "track-z")["geometry"].iloc[0]
    assert stored.has_z
    assert stored.equals_exact(track["geometry"].iloc[0], 0)
    if store.path is None:
        with psycopg.connect(store.url) as con:
            assert con.execute("SELECT to_regclass('public.incoming')").fetchone()[0]


def test_a_password_in_the_url_is_never_shown(capsys, tmp_path):
    url = "postgresql://someone@/nowhere?host=/nonexistent-socket-dir&password=s3cret"
    assert main(["store", "migrate", "--store", url]) == 2
    assert "s3cret" not in capsys.readouterr().err


@pytest.mark.parametrize("url", [
    "postgresql://u@/db?host=/nonexistent&password=sec ret-LEAK",
    "postgresql://u@/db?host=/nonexistent&password=pw%zz-LEAK",
    "postgresql://u:pw%zz-LEAK@/db?host=/nonexistent",
    "postgresql://u:p w-LEAK@/db?host=/nonexistent",
    "postgresql://u@/db?host=/nonexistent&password=pw&LEAK=1",
    "postgresql://flank:p@ssLEAK@db.invalid/flank",  # an @ not percent-encoded
    "postgresql://flank:Zx9/Qm3kLEAK@/flank?host=/nonexistent",  # a /
    'postgresql://u@/db?host=/nonexistent&password=ab"LEAK%zz',  # a quote
    "postgresql://u:pw@[LEAK/db",
    "postgresql://flank:s3cretLEAK/flank",  # no @host: libpq took the password for a port
])
def test_no_part_of_an_unreadable_password_is_shown(capsys, monkeypatch, tmp_path, url):
    """libpq quotes the part of a URL it cannot read: that part may be the password."""
    src = tmp_path / "x.csv"
    src.write_text("id,date,type,lat,lon\na,2025-07-01,drone,54.6,25.1\n", encoding="utf-8")
    for argv in (["store", "migrate", "--store", url], ["import", str(src), "--store", url]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "LEAK" not in err
        assert "the URL cannot be read" in err
    monkeypatch.setenv("FLANKWATCH_STORE", url)
    assert main(["history", "some-id"]) == 2
    assert "LEAK" not in capsys.readouterr().err


def test_a_nul_character_never_reaches_a_store():
    """Text with a NUL (0x00), which PostgreSQL cannot hold, is refused by validation
    with its field, so both backends take the same records (the CSV reader refuses such
    a record earlier still; this is the check for every other reader)."""
    from geo.schema import RejectList, validate_records

    frame = pd.DataFrame({"id": ["a", "b"], "date": ["2025-08-01"] * 2, "type": ["drone"] * 2,
                          "confidence": ["reported"] * 2, "title": ["plain", "a\x00b"]})
    rejects = RejectList()
    validate_records(frame, "incident", rejects)
    assert list(rejects.index) == [1]
    table = rejects.table(frame, pd.Series([2, 3], index=frame.index))
    assert table["field"].tolist() == ["title"]
    assert "NUL" in table["reason"].iloc[0]


def test_shared_views_are_kept_changed_by_their_owner_or_an_admin_and_logged(store):
    from geo.errors import InputError
    from geo.store import views

    query = {"types": "drone", "start": "2025-01-01", "view": "54.7,25.3,8"}
    saved = views.save_view(store, "  Drones   2025 ", query, "ana@example.org")
    assert saved.name == "Drones 2025"
    assert views.get_view(store, saved.view_id).query == query  # the same view back
    with pytest.raises(InputError, match="exists already"):
        views.save_view(store, "Drones 2025", {}, "bob@example.org")
    for bad in ("", "x" * (views.NAME_MAX + 1), "a\u202eb"):
        with pytest.raises(InputError):
            views.save_view(store, bad, {}, "ana@example.org")
    with pytest.raises(views.ViewPermissionError):
        views.rename_view(store, saved.view_id, "Mine now", "bob@example.org")
    views.rename_view(store, saved.view_id, "Drones, 2025", "ana@example.org")
    other = views.save_view(store, "Balloons", {"types": "balloon"}, "bob@example.org")
    assert [v.name for v in views.list_views(store)] == ["Balloons", "Drones, 2025"]
    assert views.get_view(store, saved.view_id).name == "Drones, 2025"  # a lasting id
    with pytest.raises(views.ViewPermissionError):
        views.delete_view(store, other.view_id, "ana@example.org")
    views.delete_view(store, other.view_id, "adam@example.org", admin=True)
    assert [v.name for v in views.list_views(store)] == ["Drones, 2025"]
    with pytest.raises(InputError, match="no shared view"):  # gone: nothing is logged
        views.rename_view(store, other.view_id, "Back", "adam@example.org", admin=True)
    log = views.view_log(store)
    assert list(log["action"]) == ["saved", "renamed", "saved", "deleted"]
    assert list(log["who"]) == ["ana@example.org", "ana@example.org", "bob@example.org",
                                "adam@example.org"]


def test_a_view_name_that_looks_like_another_is_refused(store):
    """Names a reader cannot tell apart: case, Cyrillic letters, full-width forms."""
    from geo.errors import InputError
    from geo.store import views

    first = views.save_view(store, "Same name", {}, "ana@example.org")
    for alike in ("same name", "SAME NAME", "Sam\u0435 name", "\uff33ame name",
                  "Same nam\u0435", "SAME NAMЕ"):
        with pytest.raises(InputError, match="looks the same"):
            views.save_view(store, alike, {}, "bob@example.org")
    other = views.save_view(store, "Some name", {}, "bob@example.org")
    with pytest.raises(InputError, match="looks the same"):
        views.rename_view(store, other.view_id, "S\u0430me name", "bob@example.org")
    views.rename_view(store, first.view_id, "same name", "ana@example.org")  # its own
    assert sorted(v.name for v in views.list_views(store)) == ["Some name", "same name"]
    views.save_view(store, "Kaliningrad", {}, "ana@example.org")
    for alike in ("KaIiningrad", "kaliningrad", "Ka1iningrad"):  # capital i, one
        with pytest.raises(InputError, match="looks the same"):
            views.save_view(store, alike, {}, "bob@example.org")
    views.save_view(store, "Vilnius", {}, "ana@example.org")
    with pytest.raises(InputError, match="looks the same"):  # a dot standing alone
        views.save_view(store, "Vi\u0307lnius", {}, "bob@example.org")
    with pytest.raises(InputError, match="invisible"):  # a Hangul filler
        views.save_view(store, "Vilnius\u3164", {}, "bob@example.org")
    views.save_view(store, "Iaz", {}, "ana@example.org")  # villages, not look-alikes
    views.save_view(store, "Laz", {}, "ana@example.org")


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://u:p%40ss@127.0.0.1:1/db", "postgresql://u@127.0.0.1:1/db"),
    ("postgresql://u:p%2Fss@127.0.0.1:1/db", "postgresql://u@127.0.0.1:1/db"),
    ("postgresql://u@127.0.0.1:1/db?password=p%26ss", "postgresql://u@127.0.0.1:1/db"),
    ("postgresql://u@127.0.0.1:5432/db?application_name=me@laptop",
     "postgresql://u@127.0.0.1:5432/db"),
])
def test_a_percent_encoded_password_is_read_and_never_shown(url, shown):
    """The form the refusals ask for (%40 for @) works; an @ after the path is no
    password's."""
    from geo.store.postgis import shown_url, url_problem

    assert url_problem(url) is None
    assert shown_url(url) == shown
