"""`python -m geo enrich --engine dask` on a real scheduler and two workers (loopback only):
the same rows, airspaces, distances and rejections as one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geo.__main__ import main
from geo.cluster import Part, input_files, parquet_parts
from geo.records import enrich_file

ROOT = Path(__file__).resolve().parents[1]
POINTS = 3000
#: Rows made invalid: (row position, column, value) and the reason each gets.
BROKEN = {5: ("lat", "95.0"), 7: ("lat", "fifty"), 13: ("date", "")}
#: Row positions whose id repeats an earlier row's (in another partition).
REPEATS = {2500: "p10", 2990: " p2000 "}

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_workers(address: str, count: int, procs) -> None:
    from distributed import Client

    deadline = time.monotonic() + 90
    with Client(address, timeout="30s") as client:
        while len(client.scheduler_info()["workers"]) < count:
            dead = [p.args for p in procs if p.poll() is not None]
            assert not dead, f"a Dask process ended: {dead}"
            assert time.monotonic() < deadline, "the workers did not join in 90 s"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1, stopped after."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    logs = tmp_path_factory.mktemp("dask")
    commands = [[sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                 "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    commands += [[sys.executable, "-m", "distributed.cli.dask_worker", address, "--host",
                  "127.0.0.1", "--nthreads", "1", "--no-dashboard", "--name", f"w{k}",
                  "--local-directory", str(logs / f"w{k}")] for k in range(2)]
    procs = []
    try:
        for k, command in enumerate(commands):
            log = open(logs / f"{k}.log", "wb")  # noqa: SIM115 (kept open for the process)
            procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=log,
                                          cwd=logs))
            if k == 0:
                time.sleep(1.5)
        _wait_for_workers(address, 2, procs)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _points() -> pd.DataFrame:
    """Points over the whole region: land, the Baltic, Kaliningrad, Belarus, and a few
    outside the reference data's coverage; some broken, some ids repeated."""
    rng = np.random.default_rng(30)
    lat = rng.uniform(49.0, 61.0, POINTS)
    lon = rng.uniform(13.0, 33.0, POINTS)
    lat[:4], lon[:4] = [54.71, 53.9, 57.3, 30.04], [20.45, 27.57, 19.9, 31.24]
    frame = pd.DataFrame({"id": [f"p{k}" for k in range(POINTS)], "date": "2025-09-10",
                          "lat": lat.astype(str), "lon": lon.astype(str)})
    for row, (column, value) in BROKEN.items():
        frame.loc[row, column] = value
    for row, repeated in REPEATS.items():
        frame.loc[row, "id"] = repeated
    return frame


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("points")
    frame = _points()
    csv = folder / "points.csv"
    frame.to_csv(csv, index=False)
    parquet = folder / "points.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet,
                   row_group_size=400)
    single, rejects = folder / "single.parquet", folder / "single-rejects.csv"
    result = enrich_file(csv, single, rejects_path=rejects)
    assert result.total == POINTS
    return csv, parquet, gpd.read_parquet(single), pd.read_csv(rejects)


def _same_as_one_process(got: pd.DataFrame, rejects: pd.DataFrame, inputs) -> None:
    _, _, single, single_rejects = inputs
    assert len(got) + len(rejects) == POINTS
    assert got["id"].tolist() == single["id"].tolist()
    assert got["country_iso3"].tolist() == single["country_iso3"].tolist()
    assert {"LTU", "POL", "RUS", "BLR", "LVA", ""} <= set(got["country_iso3"])
    assert got["in_kaliningrad"].any()
    assert not got["in_coverage"].all()
    for column in ("dist_belarus_km", "dist_kaliningrad_km", "dist_border_km"):
        a, b = got[column].to_numpy(float), single[column].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b))
        assert np.nanmax(np.abs(a - b)) * 1e6 < 1.0  # within 1 mm
    key = ["row", "field", "reason"]
    assert rejects[key].values.tolist() == single_rejects[key].values.tolist()
    assert rejects["row"].tolist() == sorted([k + 1 for k in (*BROKEN, *REPEATS)])


def test_parquet_row_groups_on_the_cluster_match_one_process(scheduler, inputs, tmp_path,
                                                             capsys):
    _, parquet, _, _ = inputs
    out, rejects = tmp_path / "enriched", tmp_path / "rejects.csv"
    assert main(["enrich", str(parquet), "-o", str(out), "--rejects", str(rejects),
                 "--engine", "dask", "--scheduler", scheduler]) == 0
    err = capsys.readouterr().err
    assert "partitions done: 8/8" in err
    parts = sorted(p.name for p in out.iterdir())
    assert parts == ["_metadata", *[f"part-{k:05d}.parquet" for k in range(8)]]
    assert pq.read_metadata(out / "_metadata").num_rows == POINTS - len(BROKEN) - len(REPEATS)
    _same_as_one_process(gpd.read_parquet(out), pd.read_csv(rejects), inputs)


def test_a_csv_on_the_cluster_into_one_file_matches_one_process(scheduler, inputs, tmp_path):
    csv, _, _, _ = inputs
    out, rejects = tmp_path / "enriched.parquet", tmp_path / "rejects.csv"
    assert main(["enrich", str(csv), "-o", str(out), "--rejects", str(rejects),
                 "--engine", "dask", "--scheduler", scheduler, "--partitions", "3",
                 "--single-file"]) == 0
    _same_as_one_process(gpd.read_parquet(out), pd.read_csv(rejects), inputs)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing left


def test_without_rejects_file_nothing_is_written(scheduler, inputs, tmp_path, capsys):
    _, parquet, _, _ = inputs
    out = tmp_path / "enriched"
    assert main(["enrich", str(parquet), "-o", str(out), "--engine", "dask",
                 "--scheduler", scheduler, "--partitions", "2"]) == 1
    assert "row 2501: id: duplicate id 'p10'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_scheduler_is_said_in_one_line(inputs, tmp_path, capsys):
    _, parquet, _, _ = inputs
    address = f"tcp://127.0.0.1:{_free_port()}"
    assert main(["enrich", str(parquet), "-o", str(tmp_path / "out"), "--engine", "dask",
                 "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot reach the Dask scheduler at {address}")
    assert list(tmp_path.iterdir()) == []


def test_row_groups_are_gathered_into_partitions(tmp_path):
    table = pa.table({"lat": [54.0] * 10, "lon": [25.0] * 10})
    for name in ("a", "b"):
        pq.write_table(table, tmp_path / f"{name}.parquet", row_group_size=2)
    files = input_files(tmp_path)
    assert [f.name for f in files] == ["a.parquet", "b.parquet"]
    assert len(parquet_parts(files, None)) == 10
    parts = parquet_parts(files, 4)  # 5 rows a partition at most; never across files
    assert parts[:3] == [Part(0, str(files[0]), 0, (0, 1), 4),
                         Part(1, str(files[0]), 4, (2, 3), 4),
                         Part(2, str(files[0]), 8, (4,), 2)]
    assert len(parts) == 6
    assert sum(p.rows for p in parts) == 20
    assert {p.file for p in parts} == {str(f) for f in files}


def test_a_damaged_row_group_stops_the_run_in_one_line(scheduler, inputs, tmp_path, capsys):
    _, parquet, _, _ = inputs
    data = bytearray(parquet.read_bytes())
    column = pq.read_metadata(parquet).row_group(3).column(0)
    start = column.data_page_offset + 8
    data[start:start + 200] = bytes(200)
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "enriched"
    capsys.readouterr()
    assert main(["enrich", str(damaged), "-o", str(out), "--engine", "dask",
                 "--scheduler", scheduler, "--rejects", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"error: {damaged}: ")
    assert "Traceback" not in "\n".join(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.parquet"]
