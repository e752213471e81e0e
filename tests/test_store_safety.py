"""The store under load and faults: imports that wait for each other, storage that
fails or vanishes mid-import, and files of several layers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing

import geopandas as gpd
import pytest
import shapely

from geo.errors import StoreError
from geo.readers import read_table
from geo.records import import_file
from geo.settings import ROOT_DIR
from geo.store import open_store
from geo.store.gpkg import create_store
from tests.conftest import small_file_system

HEADER = "id,date,type,lat,lon,confidence,title\n"


def rows(prefix: str, n: int) -> str:
    return "".join(f"{prefix}-{i},2025-07-{i % 28 + 1:02d},drone,{54 + (i % 100) / 100:.2f},"
                   f"{24 + (i % 50) / 25:.2f},reported,incident {i}\n" for i in range(n))


def count(store, table: str = "incidents") -> int:
    with closing(sqlite3.connect(store)) as con:
        return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def test_an_import_waits_for_another_and_says_so(tmp_path):
    store = open_store(tmp_path / "s.gpkg")
    src = tmp_path / "in.csv"
    src.write_text(HEADER + rows("w", 50))
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another import holds the write lock
    said: list[str] = []
    done: list = []
    worker = threading.Thread(target=lambda: done.append(
        import_file(store, src, progress=lambda _, text: said.append(text))))
    worker.start()
    deadline = time.monotonic() + 60
    while "waiting for another import to finish…" not in said and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "waiting for another import to finish…" in said
    assert not done  # still waiting
    holder.execute("COMMIT")
    holder.close()
    worker.join(timeout=120)
    assert done[0].written
    assert count(store.path) == 7 + 50


def test_the_wait_for_the_lock_is_bounded(tmp_path):
    store = open_store(tmp_path / "s.gpkg")
    with closing(sqlite3.connect(store.path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match=r"another import has held the store for over "
                                             r"0\.5 s; try again when it has finished"), \
                store.importing(lock_wait_s=0.5):
            pass
        holder.execute("ROLLBACK")


@pytest.mark.slow
def test_concurrent_importers_all_finish_and_nothing_is_lost(tmp_path):
    store = open_store(tmp_path / "s.gpkg")
    files = []
    for k in range(4):
        path = tmp_path / f"in{k}.csv"
        path.write_text(HEADER + rows(f"c{k}", 3000))
        files.append(path)
    procs = [subprocess.Popen([sys.executable, "-m", "geo", "import", str(f), "--store",
                               str(store.path)], cwd=ROOT_DIR, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for f in files]
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert [status for status, _ in outcomes] == [0, 0, 0, 0], outcomes
    assert count(store.path) == 7 + 4 * 3000
    with closing(sqlite3.connect(store.path)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("SELECT count(*) FROM imports").fetchone()[0] == 1 + 4


def test_a_store_removed_during_an_import_is_reported(tmp_path):
    store = open_store(tmp_path / "s.gpkg")
    src = tmp_path / "in.csv"
    src.write_text(HEADER + rows("r", 10))

    def remove(fraction: float, text: str) -> None:
        store.path.unlink(missing_ok=True)

    with pytest.raises(StoreError, match="the file was removed or replaced during the "
                                         "import; nothing was written"):
        import_file(store, src, progress=remove, chunk_records=4)


def test_a_read_only_store_is_named_and_left_alone(tmp_path, capsys):
    from geo.__main__ import main

    src = tmp_path / "in.csv"
    src.write_text(HEADER + rows("o", 10))
    with small_file_system(tmp_path / "ro") as folder:
        store = folder / "s.gpkg"
        open_store(store)
        before = count(store)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        assert main(["import", str(src), "--store", str(store)]) == 2
        err = capsys.readouterr().err
        assert f"store {store}:" in err
        assert "read-only" in err
        with closing(sqlite3.connect(f"{store.as_uri()}?immutable=1", uri=True)) as con:
            assert con.execute("SELECT count(*) FROM incidents").fetchone()[0] == before


def test_every_layer_of_a_geopackage_is_read_and_the_others_named(tmp_path):
    source = open_store(tmp_path / "source.gpkg")  # a store: six layers
    zones = gpd.GeoDataFrame({"id": ["z1"], "date": ["2025-07-01"], "type": ["drone"],
                              "confidence": ["reported"]},
                             geometry=[shapely.box(24, 54, 25, 55)], crs=4326)
    zones.to_file(source.path, layer="zones", driver="GPKG")
    target = create_store(tmp_path / "target.gpkg")  # empty
    rejects = tmp_path / "rejects.csv"
    result = import_file(target, source.path, keep_valid=True, rejects_path=rejects)
    assert {name: valid for name, (valid, _) in result.counts.items()} == {
        "incident": 7, "deployment": 21, "defense_line": 4, "source": 10, "track": 0,
        "event": 0}
    for table, n in (("incidents", 7), ("deployments", 21), ("defense_lines", 4),
                     ("sources", 10)):
        assert count(target.path, table) == n
    refused = read_table(rejects).frame  # the polygon, named with its layer
    assert refused[["layer", "row", "field"]].to_numpy().tolist() == [["zones", "1",
                                                                       "geometry"]]
    assert refused.loc[0, "reason"] == "geometry is a Polygon; expected a Point"
