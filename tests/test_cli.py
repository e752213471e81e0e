"""`python -m geo` on small realistic files, good and bad."""

import json
import re
import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest

from geo.__main__ import main
from geo.enrich import ENRICHED_COLUMNS

GOOD_CSV = '''id,date,type,latitude,longitude,title
lt-1,2025-07-10,drone,54.6892,25.2798,"Drone over Vilnius, alert"
lt-2,28 July 2025,drone,54.955,24.130,Gerbera in training area
ee-1,2025-09-19,aircraft,59.82,26.36,"MiG-31s near Vaindloo ""island"""
'''

BAD_CSV = """id,date,type,lat,lon,place
ok-1,2025-07-10,drone,54.69,25.28,
bad-lat,2025-07-11,drone,154.69,25.28,
bad-num,2025-07-12,drone,fifty,25.28,
swapped,2025-07-13,drone,25.28,54.69,
ok-1,2025-07-14,drone,54.70,25.29,
no-date,,drone,54.70,25.29,
place-ok,2025-07-15,drone,,,Jonava
place-bad,2025-07-16,drone,,,Atlantis City
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_enrich_keeps_every_input_column_and_adds_the_contract(tmp_path):
    src = write(tmp_path, "in.csv", GOOD_CSV)
    out = tmp_path / "out.csv"
    assert main(["enrich", str(src), "-o", str(out)]) == 0
    got = pd.read_csv(out, keep_default_na=False)
    original = pd.read_csv(src, dtype=str, keep_default_na=False)
    assert list(got.columns) == list(original.columns) + ENRICHED_COLUMNS
    assert got.title.tolist() == original.title.tolist()  # quotes and commas survive
    assert got.country_iso3.tolist() == ["LTU", "LTU", "EST"]
    assert got.geocode_source.unique().tolist() == ["coordinates"]


def test_bad_rows_stop_the_run_and_nothing_is_written(tmp_path, capsys):
    src = write(tmp_path, "bad.csv", BAD_CSV)
    out = tmp_path / "out.csv"
    assert main(["enrich", str(src), "-o", str(out)]) == 1
    assert not out.exists()
    err = capsys.readouterr().err
    assert "row 2: lat: latitude must be within ±90" in err
    assert "row 3: lat: not a number: 'fifty'" in err


def test_with_rejects_every_row_lands_in_exactly_one_file(tmp_path):
    src = write(tmp_path, "bad.csv", BAD_CSV)
    out, rej = tmp_path / "out.csv", tmp_path / "rejects.csv"
    assert main(["enrich", str(src), "-o", str(out), "--rejects", str(rej)]) == 0
    good = pd.read_csv(out, dtype=str, keep_default_na=False)
    bad = pd.read_csv(rej, dtype=str, keep_default_na=False).set_index("row")
    assert len(good) + len(bad) == 8
    assert good.id.tolist() == ["ok-1", "place-ok"]
    assert bad.index.astype(int).tolist() == [2, 3, 4, 5, 6, 8]
    assert "lat/lon swapped?" in bad.loc["4", "reason"]
    assert "duplicate id 'ok-1'" in bad.loc["5", "reason"]
    assert "date is missing" in bad.loc["6", "reason"]
    assert "unknown place 'Atlantis City'" in bad.loc["8", "reason"]
    placed = good.set_index("id").loc["place-ok"]
    assert placed.geocode_source == "gazetteer"
    assert float(placed.lat) == pytest.approx(55.08, abs=0.01)


def test_records_with_the_wrong_number_of_fields_are_rejected_not_fatal(tmp_path):
    src = write(tmp_path, "ragged.csv", "id,date,lat,lon\n"
                "a,2025-07-10,54.69,25.28\n"
                "b,2025-07-10,54.69,25.28,extra\n"
                "c,2025-07-11,54.70,25.29\n")
    out, rej = tmp_path / "out.csv", tmp_path / "rej.csv"
    assert main(["enrich", str(src), "-o", str(out), "--rejects", str(rej)]) == 0
    good = pd.read_csv(out, dtype=str, keep_default_na=False)
    bad = pd.read_csv(rej, dtype=str, keep_default_na=False)
    assert good.id.tolist() == ["a", "c"]
    assert bad.row.tolist() == ["2"]
    assert "5 fields where the header has 4" in bad.reason.iloc[0]
    assert bad.raw.iloc[0] == "b,2025-07-10,54.69,25.28,extra"


def test_semicolon_separated_export_with_decimal_commas(tmp_path):
    src = write(tmp_path, "excel.csv", "id;date;lat;lon\nx1;2025-07-28;54,955;24,130\n")
    out = tmp_path / "out.csv"
    assert main(["enrich", str(src), "-o", str(out)]) == 0
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert got.loc[0, "country_iso3"] == "LTU"
    assert got.loc[0, "lat"] == "54,955"  # the input's own text is kept


def test_a_binary_file_is_refused_with_a_message(tmp_path, capsys):
    src = tmp_path / "noise.csv"
    src.write_bytes(bytes(range(256)) * 8)
    assert main(["enrich", str(src), "-o", str(tmp_path / "out.csv")]) == 2
    assert "not a text CSV file" in capsys.readouterr().err


def test_coordinate_aliases_and_column_mapping(tmp_path):
    src = write(tmp_path, "xy.csv", "ref,when,y,x\nA,2025-09-10,50.85,23.0\n")
    out = tmp_path / "out.csv"
    assert main(["enrich", str(src), "-o", str(out), "--map", "id=ref,date=when"]) == 0
    got = pd.read_csv(out)
    assert got.loc[0, "country_iso3"] == "POL"
    assert {"id", "date", "y", "x"} <= set(got.columns)


def test_csv_with_coordinate_aliases_to_geojson(tmp_path):
    src = write(tmp_path, "in.csv", GOOD_CSV)
    out = tmp_path / "out.geojson"
    assert main(["enrich", str(src), "-o", str(out)]) == 0
    got = gpd.read_file(out)
    assert got.country_iso3.tolist() == ["LTU", "LTU", "EST"]
    assert got.geometry.iloc[2].y == pytest.approx(59.82)


def test_geojson_in_geopackage_out(tmp_path):
    features = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "k1", "date": "2025-09-10"},
         "geometry": {"type": "Point", "coordinates": [20.51, 54.71]}},
        {"type": "Feature", "properties": {"id": "t1", "date": "2025-09-10"},
         "geometry": {"type": "LineString", "coordinates": [[20, 54], [21, 55]]}},
    ]}
    src = write(tmp_path, "in.geojson", json.dumps(features))
    out, rej = tmp_path / "out.gpkg", tmp_path / "rej.csv"
    assert main(["enrich", str(src), "-o", str(out), "--rejects", str(rej)]) == 0
    got = gpd.read_file(out)
    assert got.loc[0, "in_kaliningrad"]
    assert got.geometry.iloc[0].x == pytest.approx(20.51)
    assert "LineString" in pd.read_csv(rej).loc[0, "reason"]


def test_unknown_output_format_is_refused(tmp_path, capsys):
    src = write(tmp_path, "in.csv", GOOD_CSV)
    assert main(["enrich", str(src), "-o", str(tmp_path / "out.xlsx")]) == 2
    assert "out.xlsx: unknown format '.xlsx'" in capsys.readouterr().err


@pytest.mark.slow
def test_where_and_geocode_from_a_real_process():
    where = subprocess.run([sys.executable, "-m", "geo", "where", "59.82", "26.36"],
                           capture_output=True, text=True, check=True)
    assert "Estonia (EST)" in where.stdout
    assert re.search(r"^over water\s+true$", where.stdout, re.MULTILINE)
    geocode = subprocess.run([sys.executable, "-m", "geo", "geocode", "Wilno"],
                             capture_output=True, text=True, check=True)
    assert geocode.stdout.startswith("54.6")
    assert "Vilnius" in geocode.stdout
    unknown = subprocess.run([sys.executable, "-m", "geo", "geocode", "Jonavva"],
                             capture_output=True, text=True)
    assert unknown.returncode == 1
    assert "Jonava" in unknown.stderr


def test_a_mapping_never_drops_an_input_column(tmp_path, capsys):
    src = write(tmp_path, "clash.csv", "date,when,y,x\nold,2025-07-10,54.9,24.1\n")
    out = tmp_path / "out.csv"
    assert main(["enrich", str(src), "-o", str(out), "--map", "date=when"]) == 2
    assert "would overwrite column(s) ['date']" in capsys.readouterr().err
    assert not out.exists()


def test_help_reads_as_plain_text(capsys):
    """The modules' docstrings are reStructuredText; --help shows them without its
    double backticks."""
    from dashboard.export import main as export_main

    for run_help in (lambda: main(["--help"]), lambda: export_main(["--help"])):
        with pytest.raises(SystemExit):
            run_help()
        shown = capsys.readouterr().out
        assert "python -m" in shown
        assert "``" not in shown
