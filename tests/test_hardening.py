"""Malformed and careless files: each gets a clear answer and loses no row.

Every case here was seen in a fuzzing run of ``python -m geo enrich`` and ``import``
(see issue "Hardening"): dates beyond pandas' nanosecond range, records with more or
fewer fields than the header, unterminated quotes, encodings, absurd sizes, output
paths that cannot be written and stores that are not stores.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from dashboard.export import main as export_main
from geo import csvfile
from geo.__main__ import main
from geo.csvfile import MAX_COLUMNS, read_csv_records
from geo.errors import InputError, StoreError
from geo.readers import read_table, write_table
from geo.records import enrich_file, import_file, load_file
from geo.schema import TRACK
from geo.store import open_store
from tests.conftest import small_file_system

HEADER = "id,date,type,lat,lon,confidence,title"
GOOD = "g-{n},2025-07-{n:02d},drone,54.6,25.1,reported,good {n}"


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str]:
    status = main([str(a) for a in argv])
    return status, capsys.readouterr().err


def enrich(tmp_path, capsys, src) -> tuple[int, str, pd.DataFrame, pd.DataFrame]:
    out, rejects = tmp_path / "out.csv", tmp_path / "rejects.csv"
    status, err = run(capsys, "enrich", src, "-o", out, "--rejects", rejects)
    assert status == 0, err
    return status, err, read_table(out).frame, read_table(rejects).frame


def store_state(path) -> tuple:
    with closing(sqlite3.connect(path)) as con:
        return (con.execute("SELECT count(*) FROM incidents").fetchone()[0],
                con.execute("SELECT count(*) FROM imports").fetchone()[0])


# --- dates ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "reason"), [
    ("9999-12-31", "'9999-12-31' is after 2200 (a placeholder for an unknown date? "
                   "leave the cell empty)"),
    ("0001-01-01", "'0001-01-01' is before 1900 (a placeholder for an unknown date? "
                   "leave the cell empty)"),
    ("2999-01-01", "'2999-01-01' is after 2200"),
    ("1600", "'1600' is before 1900"),
    ("01 Jan 0001", "'01 Jan 0001' is before 1900"),
])
def test_dates_outside_the_era_are_rejected_with_a_reason(tmp_path, capsys, text, reason):
    src = write(tmp_path, "in.csv", f"{HEADER}\na-1,{text},drone,54.6,25.1,reported,x\n"
                                    f"{GOOD.format(n=2)}\n")
    _, _, out, rejects = enrich(tmp_path, capsys, src)
    assert list(out["id"]) == ["g-2"]
    assert rejects.loc[0, "field"] == "date"
    assert reason in rejects.loc[0, "reason"]


@pytest.mark.parametrize("end", ["9999-12-31", "0001-01-01"])
def test_an_end_date_outside_the_era_is_rejected_on_import(tmp_path, capsys, end):
    src = write(tmp_path, "in.csv", "id,date,date_end,type,lat,lon,confidence\n"
                                    f"a-1,2025-07-01,{end},drone,54.6,25.1,reported\n")
    status, err = run(capsys, "import", src, "--store", tmp_path / "s.gpkg")
    assert status == 1
    assert f"row 1: date_end: '{end}' is" in err


@pytest.mark.parametrize("text", ["August", "5 Dec", "Sep-25", "September 10th"])
def test_an_import_rejects_a_date_without_its_year_naming_the_value(tmp_path, capsys, text):
    src = write(tmp_path, "in.csv", f"{HEADER}\na-1,{text},drone,54.6,25.1,reported,x\n"
                                    f"{GOOD.format(n=2)}\n")
    store = tmp_path / "s.gpkg"
    status, err = run(capsys, "import", src, "--store", store, "--rejects",
                      tmp_path / "rejects.csv")
    assert status == 0, err
    ids = set(open_store(store).records("incidents")["id"])
    assert "g-2" in ids
    assert "a-1" not in ids
    rejected = read_table(tmp_path / "rejects.csv").frame
    assert rejected.loc[0, ["row", "field"]].tolist() == ["1", "date"]
    assert f"{text!r} has no year" in rejected.loc[0, "reason"]


def test_an_import_stores_utc_plus_3_three_hours_east_of_utc(tmp_path, capsys):
    src = write(tmp_path, "in.csv", f"{HEADER}\n"
                                    "a-1,10 Sep 2025 23:00 UTC+3,drone,54.6,25.1,reported,x\n"
                                    "a-2,10 Sep 2025 14:00 GMT+3,drone,54.6,25.1,reported,x\n"
                                    "a-3,10 Sep 2025 14:00 EEST,drone,54.6,25.1,reported,x\n")
    store = tmp_path / "s.gpkg"
    status, err = run(capsys, "import", src, "--store", store)
    assert status == 0, err
    dates = open_store(store).records("incidents").set_index("id")["date"]
    assert pd.to_datetime(dates[["a-1", "a-2", "a-3"]], utc=True).to_dict() == {
        "a-1": pd.Timestamp("2025-09-10T20:00", tz="UTC"),
        "a-2": pd.Timestamp("2025-09-10T11:00", tz="UTC"),
        "a-3": pd.Timestamp("2025-09-10T11:00", tz="UTC")}


# --- field counts and quotes --------------------------------------------------------------

def test_records_with_more_or_fewer_fields_are_rejected(tmp_path, capsys):
    src = write(tmp_path, "in.csv", f"{HEADER}\na-1,2025-07-01,drone,54.6,25.1,reported,x,"
                                    f"EXTRA\na-2,2025-07-01,drone,54.6,25.1,reported\n"
                                    f"{GOOD.format(n=3)}\n")
    _, _, out, rejects = enrich(tmp_path, capsys, src)
    assert list(out["id"]) == ["g-3"]
    assert list(rejects["row"]) == ["1", "2"]
    assert list(rejects["reason"]) == ["8 fields where the header has 7 (line 2)",
                                       "6 fields where the header has 7 (line 3)"]
    assert rejects.loc[0, "raw"] == "a-1,2025-07-01,drone,54.6,25.1,reported,x,EXTRA"


def test_an_unterminated_quote_is_reported_where_it_opens_and_reading_goes_on(tmp_path,
                                                                              capsys):
    src = write(tmp_path, "in.csv", f'{HEADER}\n{GOOD.format(n=1)}\n'
                                    f'a-2,2025-07-02,drone,54.6,25.1,reported,"never closed\n'
                                    f'{GOOD.format(n=3)}\n{GOOD.format(n=4)}\n')
    _, _, out, rejects = enrich(tmp_path, capsys, src)
    assert list(out["id"]) == ["g-1", "g-3", "g-4"]
    assert list(rejects["row"]) == ["2"]
    assert rejects.loc[0, "reason"] == ("a quoted field opens here and is never closed "
                                        "(line 3)")


def test_a_quoted_field_may_hold_line_breaks_and_separators(tmp_path, capsys):
    src = write(tmp_path, "in.csv", f'{HEADER}\na-1,2025-07-01,drone,54.6,25.1,reported,'
                                    f'"two\nlines, one ""quote"""\n{GOOD.format(n=2)}\n')
    _, _, out, rejects = enrich(tmp_path, capsys, src)
    assert list(out["title"]) == ['two\nlines, one "quote"', "good 2"]
    assert rejects.empty


def test_an_unterminated_quote_in_the_header_refuses_the_file(tmp_path, capsys):
    src = write(tmp_path, "in.csv", 'id,date,"type,lat,lon\na,2025-07-01,drone,54.6,25.1\n')
    status, err = run(capsys, "enrich", src, "-o", tmp_path / "out.csv")
    assert status == 2
    assert "the header (line 1) cannot be read as CSV (unexpected end of data)" in err


@pytest.mark.parametrize("header", ["", "    ", " \t "])
def test_a_blank_header_is_an_error_and_swallows_no_record(tmp_path, capsys, header):
    src = write(tmp_path, "in.csv", f"{header}\n{GOOD.format(n=1)}\n")
    status, err = run(capsys, "enrich", src, "-o", tmp_path / "out.csv")
    assert status == 2
    assert "line 1, the header, is blank; the first line must name the columns" in err


def test_a_header_only_file_gives_an_empty_output(tmp_path, capsys):
    src = write(tmp_path, "in.csv", f"{HEADER}\n")
    _, _, out, rejects = enrich(tmp_path, capsys, src)
    assert out.empty
    assert rejects.empty
    assert main(["import", str(src), "--store", str(tmp_path / "s.gpkg")]) == 0
    assert "0 rows read: 0 valid" in capsys.readouterr().out


def test_a_file_whose_only_record_is_broken(tmp_path, capsys):
    src = write(tmp_path, "in.csv", f"{HEADER}\na-1,2025-07-01,drone\n")
    _, _, out, rejects = enrich(tmp_path, capsys, src)
    assert out.empty
    assert list(rejects["reason"]) == ["3 fields where the header has 7 (line 2)"]


def test_semicolon_file_with_a_stray_comma(tmp_path, capsys):
    src = write(tmp_path, "in.csv", "id;date;type;lat;lon;confidence\n"
                                    "a-1;2025-07-01;drone;54,6;25,1;reported\n"
                                    "a-2,2025-07-01;drone;54,6;25,1;reported\n")
    _, _, out, rejects = enrich(tmp_path, capsys, src)
    assert list(out["id"]) == ["a-1"]
    assert list(rejects["reason"]) == ["5 fields where the header has 6 (line 3)"]


# --- encodings ------------------------------------------------------------------------

def test_one_invalid_byte_does_not_turn_a_utf8_file_into_mojibake(tmp_path, capsys):
    src = write(tmp_path, "in.csv", (f"{HEADER}\na-1,2025-07-01,drone,54.6,25.1,reported,"
                                     "Gaižiūnai\n").encode()
                + b"a-2,2025-07-02,drone,54.6,25.1,reported,bad\xff byte\n"
                + f"{GOOD.format(n=3)}\n".encode())
    _, _, out, rejects = enrich(tmp_path, capsys, src)
    assert list(out["title"]) == ["Gaižiūnai", "good 3"]
    assert rejects.loc[0, "field"] == "title"
    assert rejects.loc[0, "reason"].startswith("invalid UTF-8 byte 0xff (the rest of the "
                                               "file is UTF-8")


def test_windows_1252_and_utf16_files_are_read(tmp_path, capsys):
    cp = write(tmp_path, "cp.csv", f"{HEADER}\na-1,2025-07-01,drone,54.6,25.1,reported,"
                                   "café Šiauliai\n".encode("cp1252"))
    assert list(enrich(tmp_path, capsys, cp)[2]["title"]) == ["café Šiauliai"]
    u16 = write(tmp_path, "u16.csv", "id\tdate\ttype\tlat\tlon\n"
                                     "a-1\t2025-07-01\tdrone\t54.6\t25.1\n".encode("utf-16"))
    assert list(enrich(tmp_path, capsys, u16)[2]["id"]) == ["a-1"]


def test_a_binary_file_is_refused(tmp_path, capsys):
    src = write(tmp_path, "in.csv", b"PK\x03\x04" + bytes(range(256)) * 4)
    status, err = run(capsys, "import", src, "--store", tmp_path / "s.gpkg")
    assert status == 2
    assert "not a text CSV file (it holds binary data)" in err


# --- limits ---------------------------------------------------------------------------

def test_a_line_of_a_million_separators_is_refused_quickly(tmp_path, capsys):
    src = write(tmp_path, "in.csv", f"{HEADER}\n{',' * 1_000_000}\n{GOOD.format(n=2)}\n")
    _, _, out, rejects = enrich(tmp_path, capsys, src)
    assert list(out["id"]) == ["g-2"]
    assert rejects.loc[0, "reason"] == "1,000,001 fields; the limit is 1,000 (line 2)"
    assert len(rejects.loc[0, "raw"]) < 10_100  # the report keeps the start of it


def test_a_header_beyond_the_column_limit_is_refused(tmp_path, capsys):
    src = write(tmp_path, "in.csv", ",".join(f"c{i}" for i in range(10_000)) + "\n1,2\n")
    status, err = run(capsys, "import", src, "--store", tmp_path / "s.gpkg")
    assert status == 2
    assert f"the header has 10,000 columns; the limit is {MAX_COLUMNS:,}" in err


def test_duplicate_column_names_are_an_error(tmp_path):
    src = write(tmp_path, "in.csv", "id,date,id\n1,2025-07-01,2\n")
    with pytest.raises(InputError, match="names column 'id' twice"):
        read_csv_records(src)


# --- outputs and stores -------------------------------------------------------------------

@pytest.mark.parametrize("target", ["missing/dir/out.csv", "/proc/out.csv"])
def test_an_output_that_cannot_be_written_is_refused_first(tmp_path, capsys, target):
    src = write(tmp_path, "in.csv", f"{HEADER}\n{GOOD.format(n=1)}\n")
    out = tmp_path / target if not target.startswith("/") else target
    status, err = run(capsys, "enrich", src, "-o", out)
    assert status == 2
    assert f"-o {out}:" in err
    status, err = run(capsys, "enrich", src, "-o", tmp_path / "ok.csv", "--rejects", out)
    assert status == 2
    assert f"--rejects {out}:" in err
    assert not (tmp_path / "ok.csv").exists()


def test_a_read_only_file_system_is_refused(tmp_path, capsys):
    src = write(tmp_path, "in.csv", f"{HEADER}\n{GOOD.format(n=1)}\n")
    with small_file_system(tmp_path / "ro", readonly=True) as folder:
        status, err = run(capsys, "enrich", src, "-o", folder / "out.csv")
    assert status == 2
    assert f"-o {folder / 'out.csv'}: cannot write in {folder} (Read-only file system)" \
        in err


def test_a_full_disk_is_named_and_the_store_is_left_as_it_was(tmp_path, capsys):
    rows = "".join(f"f-{n},2025-07-01,drone,54.6,25.1,reported,{'x' * 2000}\n"
                   for n in range(3000))  # about 6 MB, on a 3 MB file system
    src = write(tmp_path, "big.csv", f"{HEADER}\n{rows}")
    with small_file_system(tmp_path / "full", size="3m") as folder:
        store = folder / "s.gpkg"
        open_store(store)
        before = store_state(store)
        status, err = run(capsys, "import", src, "--store", store)
        assert status == 2
        assert f"store {store}: the import was not written and the store is unchanged: " \
               "the disk is full" in err
        assert store_state(store) == before
        with closing(sqlite3.connect(store)) as con:
            assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_import_with_an_unwritable_rejects_path_leaves_the_store_alone(tmp_path, capsys):
    store = tmp_path / "s.gpkg"
    open_store(store)
    before = store_state(store)
    src = write(tmp_path, "in.csv", f"{HEADER}\n{GOOD.format(n=1)}\na-2,bad,drone,54.6,"
                                    "25.1,reported,x\n")
    status, err = run(capsys, "import", src, "--store", store, "--rejects",
                      tmp_path / "missing" / "dir" / "rej.csv")
    assert status == 2
    assert f"the folder {tmp_path / 'missing' / 'dir'} does not exist; create it first" in err
    assert store_state(store) == before


def test_a_store_that_is_not_a_store_is_refused(tmp_path, capsys):
    bogus = write(tmp_path, "bogus.gpkg", "this is not a database\n" * 100)
    status = export_main(["--store", str(bogus), "-o", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err
    assert status == 2
    assert f"store {bogus}: cannot be opened as a store: the file is not an " \
           "SQLite/GeoPackage database" in err
    other = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(other)) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="a database, but not an incident store"):
        open_store(other)
    src = write(tmp_path, "in.csv", f"{HEADER}\n{GOOD.format(n=1)}\n")
    status, err = run(capsys, "import", src, "--store", bogus)
    assert status == 2
    assert bogus.read_text().startswith("this is not a database")


# --- one import path ------------------------------------------------------------------

def test_every_import_that_writes_nothing_is_logged_with_who_and_why(tmp_path, caplog):
    """A refused file leaves a line in the import log (who, the file, its SHA-256, the
    reason) and in the server's log; a check of a bad file, in the server's log only."""
    from geo.audit import file_sha256

    store = open_store(tmp_path / "s.gpkg")
    broken = write(tmp_path, "broken.geojson", '{"type": "FeatureCollection", "feat')
    with pytest.raises(InputError):
        import_file(store, broken, name="upload.geojson", who="ana@example.org")
    half = write(tmp_path, "half.csv", f"{HEADER}\n{GOOD.format(n=1)}\na-2,bad,drone,54.6,"
                                       "25.1,reported,x\n")
    assert not import_file(store, half, who="bob@example.org").written
    with pytest.raises(InputError):
        import_file(store, broken, name="checked.geojson", dry_run=True, who="eve@x.org")
    log = store.imports().iloc[-2:]
    assert list(log["file"]) == ["upload.geojson", str(half)]
    assert list(log["imported_by"]) == ["ana@example.org", "bob@example.org"]
    assert list(log["sha256"]) == [file_sha256(broken), file_sha256(half)]
    assert log["report"].iloc[0].startswith("refused: ")
    assert "not a readable GeoJSON/GeoPackage file" in log["report"].iloc[0]
    assert log["report"].iloc[1] == "refused: 1 of 2 rows rejected; nothing imported"
    said = caplog.text
    assert f"import of upload.geojson (SHA-256 {file_sha256(broken)}) by ana@example.org" \
        in said
    assert "check of checked.geojson" in said
    assert "eve@x.org" in said

def test_counts_are_written_as_people_write_them(tmp_path, capsys):
    one = write(tmp_path, "one.csv", f"{HEADER}\n{GOOD.format(n=1)}\n")
    assert import_file(open_store(tmp_path / "s.gpkg"), one, dry_run=True).summary() == (
        f"{one}: 1 row read, 1 valid")
    rows = "".join(GOOD.format(n=n % 28 + 1).replace("g-", f"g{n}-") + "\n"
                   for n in range(1200))
    many = write(tmp_path, "many.csv", f"{HEADER}\n{rows}")
    assert main(["import", str(many), "--store", str(tmp_path / "s.gpkg")]) == 0
    assert "1,200 rows read: 1,200 valid" in capsys.readouterr().out


def test_import_file_reports_and_logs_the_file_hash(tmp_path):
    store = open_store(tmp_path / "s.gpkg")
    src = write(tmp_path, "in.csv", f"{HEADER}\n{GOOD.format(n=1)}\na-2,bad,drone,54.6,"
                                    "25.1,reported,x\n")
    refused = import_file(store, src)
    assert (refused.total, refused.valid, refused.rejected, refused.written) == (2, 1, 1,
                                                                                 False)
    done = import_file(store, src, keep_valid=True, name="upload.csv")
    assert done.written
    assert done.summary() == ("upload.csv: 2 rows read, 1 valid, 1 rejected; incidents: "
                              "1 inserted, 0 updated, 0 unchanged")
    with closing(sqlite3.connect(store.path)) as con:
        file, sha = con.execute("SELECT file, sha256 FROM imports ORDER BY rowid DESC"
                                ).fetchone()
    assert file == "upload.csv"
    assert len(sha) == 64


def test_region_only_rows_get_no_distances_from_enrich_either(tmp_path, capsys):
    src = write(tmp_path, "in.csv", "id,date,type,lat,lon,confidence,location_precision\n"
                                    "r-1,2025-07-01,drone,55.2,23.9,reported,region\n"
                                    "e-1,2025-07-01,drone,55.2,23.9,reported,exact\n")
    out = enrich(tmp_path, capsys, src)[2].set_index("id")
    assert out.loc["r-1", "dist_belarus_km"] == ""
    assert out.loc["r-1", "location_label"] == "Lithuania (region; no position reported)"
    assert float(out.loc["e-1", "dist_belarus_km"]) > 0


def test_a_file_read_in_chunks_imports_as_one(tmp_path):
    """Chunks of two records: refused records, a duplicate id across chunks and a quote
    left open in one chunk are all found; the valid rows go in together."""
    store = open_store(tmp_path / "s.gpkg")
    lines = [GOOD.format(n=1), GOOD.format(n=2), "a-3,2025-07-03,drone,54.6",
             GOOD.format(n=4), GOOD.format(n=1), 'a-6,2025-07-06,drone,54.6,25.1,reported,"x',
             GOOD.format(n=7), GOOD.format(n=8)]
    src = write(tmp_path, "in.csv", HEADER + "\n" + "\n".join(lines) + "\n")
    rejects = tmp_path / "rejects.csv"
    seen: list[float] = []
    result = import_file(store, src, keep_valid=True, rejects_path=rejects,
                         chunk_records=2, progress=lambda f, _: seen.append(f))
    assert (result.total, result.valid, result.rejected) == (8, 5, 3)
    assert [t.inserted for t in result.tables] == [5]
    got = read_table(rejects).frame
    assert list(got["row"]) == ["3", "5", "6"]
    assert got.loc[1, "reason"] == "duplicate id 'g-1'"
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
    assert len(seen) >= 3
    refused = import_file(store, src, chunk_records=2)  # one bad row: nothing goes in
    assert not refused.written
    assert refused.rejected == 3


def test_enrich_in_chunks_matches_enrich_whole(tmp_path):
    lines = [GOOD.format(n=1), GOOD.format(n=2), "a-3,2025-07-03,drone,54.6",
             GOOD.format(n=4), GOOD.format(n=1), GOOD.format(n=6)]
    src = write(tmp_path, "in.csv", HEADER + "\n" + "\n".join(lines) + "\n")
    outputs = {}
    for chunk in (2, 1000):
        out, rejects = tmp_path / f"out{chunk}.csv", tmp_path / f"rej{chunk}.csv"
        result = enrich_file(src, out, rejects_path=rejects, chunk_records=chunk)
        assert (result.total, result.enriched, result.rejected) == (6, 4, 2)
        outputs[chunk] = (read_table(out).frame.reset_index(drop=True),
                          read_table(rejects).frame[["row", "field", "reason"]])
    pd.testing.assert_frame_equal(outputs[2][0], outputs[1000][0])
    pd.testing.assert_frame_equal(outputs[2][1], outputs[1000][1])
    assert list(outputs[2][1]["reason"]) == ["4 fields where the header has 7 (line 4)",
                                             "duplicate id 'g-1'"]
    refused = enrich_file(src, tmp_path / "none.csv", chunk_records=2)
    assert not refused.written
    assert not (tmp_path / "none.csv").exists()


# --- found in review: each once a bug ------------------------------------------------------

def test_a_bad_byte_inside_a_multi_line_record_refuses_that_record_whole(tmp_path):
    src = write(tmp_path, "in.csv", f"{HEADER}\n".encode() + b'a-1,2025-07-01,drone,54.6,25.1,'
                b'reported,"caf\xe9 log:\nFAKE,2025-07-10,drone,54.8,24.2,reported,x"\n'
                + f"{GOOD.format(n=3)}\n".encode() + "Gaižiūnai,x,y,z,w,v,u\n".encode())
    found = read_csv_records(src)
    assert [m[:2] for m in found.malformed] == [(1, "record")]
    assert list(found.frame["id"]) == ["g-3", "Gaižiūnai"]
    assert list(found.frame.index + 1) == [2, 3]


def test_a_literal_quote_beside_a_multi_line_field_is_not_an_open_quote(tmp_path):
    src = write(tmp_path, "in.csv", 'id,desc,size\n1,"line one\nline two",5"\n2,b,c\n')
    found = read_csv_records(src)
    assert found.malformed == []
    assert found.frame.to_numpy().tolist() == [["1", "line one\nline two", '5"'],
                                               ["2", "b", "c"]]


def test_a_record_over_the_size_limit_across_lines_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(csvfile, "MAX_RECORD_BYTES", 100)
    long = "x" * 60
    src = write(tmp_path, "in.csv", f'id,a,b\n1,"{long}\n","{long}\n"\n2,b,c\n')
    found = read_csv_records(src)
    assert [m[2] for m in found.malformed] == ["the record is longer than 100 bytes (line 2)"]
    assert list(found.frame["id"]) == ["2"]


def test_formula_column_names_are_defused_and_read_back(tmp_path, capsys):
    src = write(tmp_path, "in.csv", 'id,date,type,lat,lon,"=HYPERLINK(""x"")"\n'
                                    "a-1,2025-07-01,drone,54.6,25.1,v\n")
    out = tmp_path / "out.csv"
    assert main(["enrich", str(src), "-o", str(out)]) == 0
    assert out.read_text().splitlines()[0].split(",")[5] == '"\'=HYPERLINK(""x"")"'
    assert '=HYPERLINK("x")' in read_table(out).frame.columns


def test_a_negative_number_after_an_apostrophe_keeps_it(tmp_path):
    src = write(tmp_path, "in.csv", "id,v,w\n1,'-5,'=1+1\n")
    frame = read_table(src).frame
    assert (frame.loc[0, "v"], frame.loc[0, "w"]) == ("'-5", "=1+1")


def test_geojson_output_whose_first_chunk_is_all_rejected(tmp_path):
    src = write(tmp_path, "in.csv", HEADER + "\n" + "".join(
        f"b-{n},2025-07-01,drone,999,25.1,reported,x\n" for n in range(3))
        + GOOD.format(n=9) + "\n")
    out = tmp_path / "out.geojson"
    result = enrich_file(src, out, rejects_path=tmp_path / "rej.csv", chunk_records=2)
    assert (result.enriched, result.rejected) == (1, 3)
    assert list(gpd.read_file(out)["id"]) == ["g-9"]


def test_results_do_not_depend_on_where_chunks_end(tmp_path):
    src = write(tmp_path, "in.csv", HEADER + "\n" + "\n".join([
        "X,2025-07-01,drone,999,25.1,reported,x", "X,2025-07-01,drone,54.6,25.1,reported,x",
        GOOD.format(n=3), ",2025-07-04,drone,54.6,25.1,reported,no id"]) + "\n")
    seen = []
    for chunk in (1, 2, 1000):
        result = import_file(open_store(tmp_path / f"s{chunk}.gpkg"), src, dry_run=True,
                             chunk_records=chunk)
        seen.append((result.valid, result.rejects()[["row", "reason"]].to_numpy().tolist()))
    assert seen[0] == seen[1] == seen[2]
    assert seen[0][0] == 2  # g-3, and the row without an id (its id hashed from the row)
    assert seen[0][1][1] == [2, "duplicate id 'X'"]


def test_a_geojson_of_polygons_rejects_each_feature(tmp_path, capsys):
    src = tmp_path / "zones.geojson"
    gpd.GeoDataFrame({"id": ["z1", "z2"], "date": ["2025-07-01"] * 2, "type": ["drone"] * 2},
                     geometry=[shapely.box(24, 54, 25, 55)] * 2, crs=4326).to_file(src)
    status, err = run(capsys, "import", src, "--store", tmp_path / "s.gpkg")
    assert status == 1
    assert "row 2: geometry: geometry is a Polygon; expected a Point" in err


def _feature(ident: str, title: str) -> dict:
    """A GeoJSON point feature; its title is JSON text written as given (see _geojson)."""
    return {"type": "Feature", "properties": {"id": ident, "date": "2025-07-01",
                                              "type": "drone", "title": f"<{title}>"},
            "geometry": {"type": "Point", "coordinates": [25.1, 54.6]}}


def test_geojson_text_that_gdal_would_cut_or_change_is_rejected(tmp_path, capsys):
    escapes = {"nul": r"nul \u0000 here", "lone": r"lone \ud800 half",
               "pair": r"pair \ud83d\ude00 and a literal \\u0000"}
    text = json.dumps({"type": "FeatureCollection",
                       "features": [_feature(k, k) for k in escapes]})
    for ident, escaped in escapes.items():  # the escapes, not what json.dumps makes of them
        text = text.replace(f'"<{ident}>"', f'"{escaped}"')
    src = write(tmp_path, "in.geojson", text)
    status, err = run(capsys, "import", src, "--store", tmp_path / "s.gpkg",
                      "--rejects", tmp_path / "rejects.csv")
    assert status == 0, err
    got = open_store(tmp_path / "s.gpkg").records("incidents").set_index("id")
    assert "nul" not in got.index
    assert "lone" not in got.index
    assert got.loc["pair", "title"] == "pair \U0001f600 and a literal \\u0000"
    rejected = read_table(tmp_path / "rejects.csv").frame
    assert rejected[["row", "field"]].values.tolist() == [["1", "title"], ["2", "title"]]
    assert "NUL character" in rejected.loc[0, "reason"]
    assert "surrogate" in rejected.loc[1, "reason"]


def _raw_feature(ident: str, title_json: str, *, feature_id: str = "",
                 extra: str = "") -> str:
    """A GeoJSON feature as text, its title (and feature id) written as given; without
    ``ident`` the record's id is the feature's own."""
    own = ('"id": ' + feature_id + ", ") if feature_id else ""
    record = ('"id": "' + ident + '", ') if ident else ""
    return ('{"type": "Feature", ' + own + '"properties": {' + record + '"date": '
            '"2025-07-01", "type": "drone", "title": ' + title_json + extra + '}, '
            '"geometry": {"type": "Point", "coordinates": [25.1, 54.6]}}')


def _collection(*features: str) -> str:
    return '{"type": "FeatureCollection", "features": [' + ", ".join(features) + "]}"


@pytest.mark.parametrize(("name", "text", "field"), [
    # a NUL in the feature's own id: it would be read as a cut id (another record's)
    ("fid.geojson", _collection(_raw_feature("", '"t"', feature_id='"g-1\\u0000-new"'),
                                _raw_feature("ok", '"t"')), "id"),
    # ... and in the property "id" beside a harmless feature id
    ("pid.geojson", _collection(_raw_feature("g-1\\u0000-x", '"t"', feature_id='"any"'),
                                _raw_feature("ok", '"t"')), "id"),
    # a lone surrogate in a property's name
    ("key.geojson", _collection(_raw_feature("bad", '"t"', extra=', "no\\ud800te": "x"'),
                                _raw_feature("ok", '"t"')), "no\\ud800te"),
    # a raw NUL byte inside a string
    ("raw.geojson", _collection(_raw_feature("bad", '"raw \x00 nul"'),
                                _raw_feature("ok", '"t"')), "title"),
    # a GeoJSON text sequence, one feature a line
    ("seq.geojson", _raw_feature("bad", '"seq \\u0000 nul"') + "\n"
     + _raw_feature("ok", '"t"') + "\n", "title"),
])
def test_text_gdal_would_cut_is_refused_in_every_place_it_can_be(tmp_path, capsys, name,
                                                                  text, field):
    store = tmp_path / "s.gpkg"
    open_store(store)
    before = open_store(store).records("incidents").set_index("id")["title"].to_dict()
    src = write(tmp_path, name, text)
    status, err = run(capsys, "import", src, "--store", store, "--rejects",
                      tmp_path / "rejects.csv")
    assert status == 0, err
    rejected = read_table(tmp_path / "rejects.csv").frame
    assert rejected[["row", "field"]].values.tolist() == [["1", field]]
    after = open_store(store).records("incidents").set_index("id")["title"]
    assert "ok" in after.index
    assert {k: after[k] for k in before} == before  # no record overwritten


def test_text_that_cannot_be_matched_to_a_feature_refuses_the_file(tmp_path, capsys):
    """A file the checker cannot parse (nesting deeper than Python's JSON reads) but GDAL
    can: its cut text would go in unseen, so nothing is read."""
    deep = "[" * 1000 + "]" * 1000
    text = _collection(_raw_feature("bad", '"cut \\u0000 here"')).replace(
        '"features"', '"junk": ' + deep + ', "features"')
    src = write(tmp_path, "deep.geojson", text)
    status, err = run(capsys, "import", src, "--store", tmp_path / "s.gpkg")
    assert status == 2
    assert "could not be matched to a feature" in err


def test_a_geopackage_with_an_empty_point_imports_the_others(tmp_path, capsys):
    src = tmp_path / "in.gpkg"
    gpd.GeoDataFrame({"id": ["empty", "ok", "nan"], "date": ["2025-07-01"] * 3,
                      "type": ["drone"] * 3},
                     geometry=[shapely.Point(), shapely.Point(25.1, 54.6),
                               shapely.Point(float("nan"), float("nan"))],
                     crs=4326).to_file(src)
    status, err = run(capsys, "import", src, "--store", tmp_path / "s.gpkg",
                      "--rejects", tmp_path / "rejects.csv")
    assert status == 0, err
    ids = set(open_store(tmp_path / "s.gpkg").records("incidents")["id"])
    assert "ok" in ids
    assert not {"empty", "nan"} & ids
    rejected = read_table(tmp_path / "rejects.csv").frame
    assert rejected[["row", "field", "reason"]].values.tolist() == [
        ["1", "geometry", "empty geometry"], ["3", "geometry", "empty geometry"]]


def test_tracks_with_a_coordinate_that_is_not_a_number_are_rejected(tmp_path, capsys):
    src = tmp_path / "tracks.gpkg"
    lines = [shapely.LineString([(24, 54), (25, float("nan"))]),
             shapely.LineString([(24, 54), (25, 55)]), shapely.LineString()]
    gpd.GeoDataFrame({"id": ["t-nan", "t-ok", "t-empty"], "date": ["2025-07-01"] * 3},
                     geometry=lines, crs=4326).to_file(src)
    tables = list(load_file(src, record_type=TRACK))
    assert list(tables[0].records["id"]) == ["t-ok"]
    assert tables[0].rejects[["row", "reason"]].values.tolist() == [
        [1, "a coordinate is not a number (NaN or infinite)"], [3, "empty geometry"]]


def test_a_3d_point_keeps_its_height_and_a_geopackage_nul_is_rejected(tmp_path):
    src = tmp_path / "in.gpkg"
    gpd.GeoDataFrame({"id": ["a", "b"], "date": ["2025-07-01"] * 2, "title": ["x", "y"]},
                     geometry=[shapely.Point(25.1, 54.6, 1200.0), shapely.Point(25, 54)],
                     crs=4326).to_file(src)
    with closing(sqlite3.connect(src)) as con:  # GDAL cannot write a NUL: set it in SQL
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'"):
            con.execute(f'DROP TRIGGER "{name}"')
        con.execute("UPDATE \"in\" SET title = ? WHERE id = 'b'", ("cut \x00 here",))
        con.commit()
    table = read_table(src)
    assert table.frame.loc[0, "z"] == 1200.0
    assert pd.isna(table.frame.loc[1, "z"])
    assert table.problems == [(1, "title", "contains a NUL character (0x00)")]


def test_utf8_with_a_replacement_character_and_utf32_files(tmp_path):
    src = write(tmp_path, "a.csv", "id,t\n1,a\ufffdb\n")
    assert read_csv_records(src).frame.loc[0, "t"] == "a\ufffdb"
    wide = write(tmp_path, "b.csv", "id,t\n1,Šiauliai\n".encode("utf-32"))
    found = read_csv_records(wide)
    assert (found.encoding, found.frame.loc[0, "t"]) == ("utf-32", "Šiauliai")


def test_csv_text_reads_back_exactly_whatever_it_looks_like(tmp_path):
    values = ["'=1+1", "-5\n", "-٣", "''=x", "'-5", "=x", "plain"]
    frame = pd.DataFrame({"id": [f"v{k}" for k in range(len(values))], "lat": "54.6",
                          "lon": "25.1", "=note": values, "'=note": values})
    out = tmp_path / "t.csv"
    write_table(frame, out)
    back = read_table(out).frame
    assert list(back.columns) == list(frame.columns)
    assert list(back["=note"]) == values
    assert list(back["'=note"]) == values


def test_odd_inputs_get_answers_not_internal_errors(tmp_path, capsys):
    store = tmp_path / "s.gpkg"
    nested = tmp_path / "nested.geojson"
    nested.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.1, 54.6]},
         "properties": {"id": f"n{k}", "date": date, "type": "drone", "x": {"k": [1, 2]}}}
        for k, date in enumerate(["2025-07-01", "bad"])]}))
    assert main(["import", str(nested), "--store", str(store), "--rejects",
                 str(tmp_path / "r1.csv")]) == 0
    assert read_table(tmp_path / "r1.csv").frame.loc[0, "x"] == '{"k": [1, 2]}'
    bare = tmp_path / "bare.geojson"
    bare.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [25.1, 54.6]},
         "properties": {}}]}))
    assert main(["import", str(bare), "--store", str(store)]) == 1  # no date: a reason
    clash = write(tmp_path, "clash.csv", f"{HEADER},row,input_row\n"
                                         "a-1,bad,drone,54.6,25.1,reported,x,1,2\n")
    assert main(["enrich", str(clash), "-o", str(tmp_path / "o.csv"), "--rejects",
                 str(tmp_path / "r2.csv")]) == 0
    assert list(read_table(tmp_path / "r2.csv").frame.columns)[:5] == [
        "row", "field", "reason", "id", "date"]
    fid = write(tmp_path, "fid.csv", "fid,id,lat,lon\n1,a,54.6,25.1\n")
    assert main(["enrich", str(fid), "-o", str(tmp_path / "o.gpkg")]) == 2
    assert "'fid' is reserved" in capsys.readouterr().err
    assert main(["enrich", str(tmp_path), "-o", str(tmp_path / "o.csv")]) == 2
    assert "not a file" in capsys.readouterr().err


def test_one_file_cannot_be_both_input_and_output(tmp_path, capsys):
    src = write(tmp_path, "in.csv", f"{HEADER}\n{GOOD.format(n=1)}\n")
    out = tmp_path / "x.csv"
    assert main(["enrich", str(src), "-o", str(out), "--rejects", str(out)]) == 2
    assert main(["import", str(src), "--store", str(tmp_path / "s.gpkg"), "--rejects",
                 str(src)]) == 2
    assert "given twice" in capsys.readouterr().err
    assert src.read_text().startswith(HEADER)


def test_an_input_geometry_column_is_kept_in_geodata_outputs(tmp_path):
    src = write(tmp_path, "in.csv", "id,lat,lon,geometry\na,54.6,25.1,POINT (1 2)\n")
    out = tmp_path / "o.gpkg"
    assert main(["enrich", str(src), "-o", str(out)]) == 0
    assert gpd.read_file(out).geometry.iloc[0].x == pytest.approx(25.1)
    attributes = pyogrio.read_dataframe(out, read_geometry=False)  # GDAL sees both
    assert attributes.loc[0, "geometry"] == "POINT (1 2)"


def test_the_dashboard_worker_finds_a_store_given_relative_to_the_server(tmp_path,
                                                                          monkeypatch):
    from dashboard.import_worker import run_import

    open_store(tmp_path / "rel.gpkg")
    write(tmp_path, "in.csv", f"{HEADER}\n{GOOD.format(n=1)}\n")
    monkeypatch.chdir(tmp_path)
    result = run_import(Path("rel.gpkg"), Path("in.csv"), name="in.csv", dry_run=False)
    assert result.error == ""
    assert result.written


def test_an_upload_named_like_an_option_is_imported_under_its_name(tmp_path):
    from dashboard.import_worker import run_import

    store = open_store(tmp_path / "s.gpkg")
    src = write(tmp_path, "in.csv", f"{HEADER}\n{GOOD.format(n=1)}\n")
    result = run_import(store.path, src, name="--report.csv", dry_run=False,
                        who="-someone")
    assert result.error == ""
    assert result.written
    log = store.imports()
    assert log.iloc[-1]["file"] == "--report.csv"
    assert log.iloc[-1]["imported_by"] == "-someone"
