"""GeoParquet 1.1 in and out of `python -m geo enrich` and `import`, a row group at a time."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from pyproj import CRS

from geo.__main__ import main
from geo.enrich import ENRICHED_COLUMNS
from geo.records import enrich_file

# Vilnius, Kaliningrad city, the Baltic between Gotland and Latvia (nobody's airspace),
# Minsk, and Cairo (outside the reference data's coverage)
PLACES_CSV = """id,date,type,lat,lon,title
vilnius,2025-07-10,drone,54.6892,25.2798,"=HYPERLINK(""x"")"
kaliningrad,2025-07-11,drone,54.7104,20.4522,over the exclave
sea,2025-07-12,aircraft,57.3,19.9,high seas
minsk,2025-07-13,balloon,53.9,27.5667,Minsk
cairo,2025-07-14,drone,30.0444,31.2357,outside coverage
"""


@pytest.fixture
def places_csv(tmp_path):
    path = tmp_path / "places.csv"
    path.write_text(PLACES_CSV, encoding="utf-8")
    return path


def test_our_file_is_geoparquet_1_1_for_geopandas_and_pyarrow(tmp_path, places_csv):
    out = tmp_path / "out.parquet"
    assert main(["enrich", str(places_csv), "-o", str(out)]) == 0

    meta = json.loads(pq.read_metadata(out).metadata[b"geo"])
    assert meta["version"] == "1.1.0"
    assert meta["primary_column"] == "geometry"
    column = meta["columns"]["geometry"]
    assert column["encoding"] == "WKB"
    assert CRS.from_json_dict(column["crs"]).to_epsg() == 4326
    assert column["covering"]["bbox"] == {k: ["bbox", k] for k in ("xmin", "ymin", "xmax",
                                                                 "ymax")}
    assert column["bbox"] == pytest.approx([19.9, 30.0444, 31.2357, 57.3])

    table = pq.read_table(out)
    assert table.schema.field("bbox").type == pa.struct(
        [(k, pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")])
    boxes = table.column("bbox").to_pylist()
    assert boxes[0] == {"xmin": 25.2798, "ymin": 54.6892, "xmax": 25.2798, "ymax": 54.6892}

    frame = gpd.read_parquet(out)
    assert frame.crs.to_epsg() == 4326
    assert frame["id"].tolist() == ["vilnius", "kaliningrad", "sea", "minsk", "cairo"]
    assert frame["country_iso3"].tolist() == ["LTU", "RUS", "", "BLR", ""]
    assert frame["in_kaliningrad"].tolist() == [False, True, False, False, False]
    assert frame["in_coverage"].tolist() == [True, True, True, True, False]
    assert frame["dist_belarus_km"].iloc[3] == 0.0
    assert frame.geometry.iloc[1].equals(shapely.Point(20.4522, 54.7104))
    # text from the data is kept as it was: Parquet is no spreadsheet
    assert frame["title"].iloc[0] == '=HYPERLINK("x")'
    assert list(frame.columns[:-1]) == [*pd.read_csv(places_csv).columns, *ENRICHED_COLUMNS]


def test_a_file_geopandas_wrote_is_read_and_every_row_accounted_for(tmp_path):
    frame = gpd.GeoDataFrame(
        {"id": ["a", "b", "c", "d"], "date": ["2025-09-10"] * 4,
         "count": pd.array([1, None, 3, 4], dtype="Int64")},
        geometry=[shapely.Point(23.9, 54.9), shapely.Point(20.45, 54.71),
                  shapely.LineString([(20, 54), (21, 55)]), None], crs=4326)
    src = tmp_path / "gp.parquet"
    frame.to_parquet(src, write_covering_bbox=True)
    out, rejects = tmp_path / "out.parquet", tmp_path / "rejects.csv"
    assert main(["enrich", str(src), "-o", str(out), "--rejects", str(rejects)]) == 0
    got = gpd.read_parquet(out)
    bad = pd.read_csv(rejects)
    assert len(got) + len(bad) == len(frame)
    assert got["id"].tolist() == ["a", "b"]
    assert got["country_iso3"].tolist() == ["LTU", "RUS"]
    # an integer column with a gap stays one
    assert pq.read_table(out).column("count").to_pylist() == [1, None]
    assert pq.read_schema(out).field("count").type == pa.int64()
    assert bad.set_index("row")["reason"].to_dict() == {
        3: "geometry is a LineString; expected a Point",
        4: "no coordinates (lat/lon) and no place name"}


def test_a_parquet_file_with_latitude_longitude_columns_is_read_like_a_csv(tmp_path):
    src = tmp_path / "ll.parquet"
    pq.write_table(pa.table({
        "id": ["vilnius", "text", "blank", "word"],
        "date": pa.array([pd.Timestamp("2025-09-10T01:02:03Z")] * 4,
                         pa.timestamp("us", tz="UTC")),
        "latitude": ["54.6892", "55.0", None, "fifty"],
        "longitude": [25.2798, 21.0, None, 25.0],
    }), src)
    out, rejects = tmp_path / "out.csv", tmp_path / "rejects.csv"
    assert main(["enrich", str(src), "-o", str(out), "--rejects", str(rejects)]) == 0
    got = pd.read_csv(out, keep_default_na=False)
    assert got["country_iso3"].tolist() == ["LTU", "RUS"]
    assert got["date"].iloc[0].startswith("2025-09-10 01:02:03")
    bad = pd.read_csv(rejects, keep_default_na=False).set_index("row")
    assert bad.loc[3, "reason"] == "no coordinates (lat/lon) and no place name"
    assert bad.loc[4, "reason"] == "not a number: 'fifty'"
    assert bad.loc[4, "field"] == "latitude"


def test_row_groups_are_streamed_and_rows_keep_their_numbers(tmp_path, places_csv):
    out, rejects = tmp_path / "out.parquet", tmp_path / "rejects.csv"
    result = enrich_file(places_csv, out, chunk_records=2)
    assert pq.ParquetFile(out).metadata.num_row_groups == 3
    again = tmp_path / "again.parquet"
    bad = pd.DataFrame({"id": ["vilnius"], "date": ["2025-07-10"], "lat": ["54.7"],
                        "lon": ["25.3"]})
    gpd.GeoDataFrame(pd.concat([gpd.read_parquet(out), bad], ignore_index=True)
                     ).drop(columns="geometry").to_parquet(tmp_path / "plus.parquet")
    second = enrich_file(tmp_path / "plus.parquet", again, rejects_path=rejects,
                         chunk_records=2)
    assert (result.total, second.total, second.enriched) == (5, 6, 5)
    report = pd.read_csv(rejects)
    assert report[["row", "field", "reason"]].values.tolist() == [
        [6, "id", "duplicate id 'vilnius'"]]


@pytest.mark.parametrize(("damage", "said"), [
    (lambda data: data[: len(data) // 2], "not a readable Parquet file"),
    (lambda data: b"id,lat,lon\n1,2,3\n", "not a readable Parquet file"),
    (lambda data: data.replace(b'"WKB"', b'"wkt"'), "this reads WKB"),
])
def test_a_damaged_file_is_refused_in_one_line(tmp_path, places_csv, capsys, damage, said):
    good = tmp_path / "good.parquet"
    assert main(["enrich", str(places_csv), "-o", str(good)]) == 0
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(damage(good.read_bytes()))
    capsys.readouterr()
    assert main(["enrich", str(bad), "-o", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: ")
    assert said in err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()


def test_geometry_bytes_that_are_not_wkb_reject_that_row(tmp_path, places_csv):
    good = tmp_path / "good.parquet"
    assert main(["enrich", str(places_csv), "-o", str(good)]) == 0
    table = pq.read_table(good)
    wkb = table.column("geometry").to_pylist()
    wkb[2] = b"\x01\x01\x00\x00\x00garbage"
    broken = table.set_column(table.schema.get_field_index("geometry"), "geometry",
                              pa.array(wkb, pa.binary()))
    src = tmp_path / "broken.parquet"
    pq.write_table(broken.replace_schema_metadata(pq.read_metadata(good).metadata), src)
    out, rejects = tmp_path / "out.parquet", tmp_path / "rejects.csv"
    assert main(["enrich", str(src), "-o", str(out)]) == 1
    assert not out.exists()
    assert main(["enrich", str(src), "-o", str(out), "--rejects", str(rejects)]) == 0
    report = pd.read_csv(rejects)
    assert report[["row", "field", "reason"]].values.tolist() == [
        [3, "geometry", "not a readable WKB geometry"]]
    assert len(pq.read_table(out)) == 4


def test_import_reads_geoparquet_into_the_store(tmp_path, places_csv, capsys):
    src = tmp_path / "places.parquet"
    assert main(["enrich", str(places_csv), "-o", str(src)]) == 0
    store = tmp_path / "store.gpkg"
    capsys.readouterr()
    assert main(["import", str(src), "--store", str(store)]) == 0
    assert "5 rows read: 5 valid" in capsys.readouterr().out
    from geo.store import open_store

    stored = open_store(store).incidents().set_index("id")
    assert stored.loc["kaliningrad", "country_iso3"] == "RUS"
    assert stored.loc["cairo", "in_coverage"] in (False, 0)


def test_text_that_is_not_utf8_rejects_its_row_and_a_column_named_twice_the_file(tmp_path,
                                                                                 capsys):
    raw = pa.array([b"\xff\xfeX", b"vilnius"], pa.binary())
    ids = pa.Array.from_buffers(pa.string(), 2, raw.buffers())  # no check on the way in
    src = tmp_path / "bytes.parquet"
    pq.write_table(pa.table({"id": ids, "lat": [54.69, 54.69], "lon": [25.28, 25.28]}), src)
    out, rejects = tmp_path / "out.parquet", tmp_path / "rejects.csv"
    assert main(["enrich", str(src), "-o", str(out), "--rejects", str(rejects)]) == 0
    report = pd.read_csv(rejects)
    assert report[["row", "field", "reason"]].values.tolist() == [
        [1, "id", "text that is not valid UTF-8"]]
    assert pq.read_table(out).column("id").to_pylist() == ["vilnius"]

    twice = tmp_path / "twice.parquet"
    pq.write_table(pa.table([pa.array([54.0]), pa.array([25.0]), pa.array([1.0])],
                            names=["lat", "lon", "lat"]), twice)
    capsys.readouterr()
    assert main(["enrich", str(twice), "-o", str(tmp_path / "t.csv")]) == 2
    assert "names column(s) ['lat'] more than once" in capsys.readouterr().err
