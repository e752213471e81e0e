"""Property-based tests (hypothesis) of the date parser, the CSV reader and the importer,
and a bounded mutation fuzz of real record files (fixed seed; the long run is
``benchmarks/fuzz.py``).

The properties: nothing but the project's own errors is ever raised, values written by
a CSV writer read back exactly, and no record is lost: every record is either read or
listed as rejected, with row numbers 1..N each used once.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from geo.csvfile import read_csv_records
from geo.dates import EARLIEST, LATEST, DateParseError, parse_date
from geo.enrich import enrich_table
from geo.errors import FlankwatchError
from geo.readers import read_table
from geo.records import import_file, load_file
from geo.settings import ROOT_DIR
from geo.store import open_store
from tests.browser import ARTIFACTS
from tests.fuzzing import mutants

FUZZ_FILES = 2000
SOURCES = [ROOT_DIR / p for p in ("seeds/incidents.csv", "seeds/deployments.csv",
                                  "seeds/sources.csv", "tests/data/acled_eastern_flank.csv")]

# Text a CSV cell can hold: anything but NUL (which marks a binary file) and lone
# surrogates (which no encoding can write).
CELL = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
               max_size=30)


# --- dates ----------------------------------------------------------------------------

@given(st.text(max_size=40))
def test_any_text_is_a_date_in_range_or_a_date_error(text):
    try:
        got = parse_date(text)
    except DateParseError:
        return
    assert EARLIEST <= got.start <= LATEST
    assert got.end is None or got.start <= got.end <= LATEST


@given(st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_every_written_date_is_read_or_refused_for_its_era(day):
    inside = EARLIEST.date() <= day <= LATEST.date()
    for text in (day.isoformat(), f"{day.day} {day:%B} {day.year:04d}"):
        if inside:
            assert parse_date(text).start.date() == day
        else:
            with pytest.raises(DateParseError, match=r"is (before 1900|after 2200)"):
                parse_date(text)


# --- the CSV reader -------------------------------------------------------------------

def _accounted(found_rows, malformed) -> int:
    """Row numbers of records read and refused together are 1..N, each once."""
    rows = sorted([*found_rows, *(m[0] for m in malformed)])
    assert rows == list(range(1, len(rows) + 1))
    return len(rows)


@given(st.integers(2, 5).flatmap(lambda w: st.lists(st.lists(CELL, min_size=w, max_size=w),
                                                    max_size=12)),
       st.sampled_from([",", ";", "\t"]), st.sampled_from(["\n", "\r\n"]))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_what_a_csv_writer_writes_reads_back_exactly(tmp_path, rows, sep, end):
    # Python's writer quotes a carriage return only when it ends lines with one
    assume(end == "\r\n" or not any("\r" in v for r in rows for v in r))
    width = len(rows[0]) if rows else 2
    names = [f"c{i}" for i in range(width)]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=sep, lineterminator=end)
    writer.writerow(names)
    writer.writerows(rows)
    path = tmp_path / "t.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    found = read_csv_records(path)
    kept = [r for r in rows if not (len(r) == 1 and not r[0].strip())]
    assert found.malformed == []
    assert found.frame.to_numpy().tolist() == kept
    _accounted(found.frame.index + 1, found.malformed)


@given(st.binary(max_size=3000))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_bytes_after_a_header_lose_no_record(tmp_path, body):
    path = tmp_path / "b.csv"
    path.write_bytes(b"id,date,type,lat,lon,title\n" + body)
    try:
        found = read_csv_records(path)
    except FlankwatchError:
        return
    _accounted(found.frame.index + 1, found.malformed)


# --- the importer ---------------------------------------------------------------------

VALUES = {
    "date": ["2025-07-01", "28 July 2025", "Sep 2025", "9999-12-31", "", "03/04/2025"],
    "type": ["drone", "aircraft", "ufo", ""],
    "lat": ["54.6", "54,6", "154", "north", ""],
    "lon": ["25.1", "-181", ""],
    "confidence": ["reported", "confirmed", "maybe"],
}


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory):
    return open_store(tmp_path_factory.mktemp("fuzz") / "s.gpkg")


_batches = itertools.count()


@given(st.lists(st.fixed_dictionaries({k: st.sampled_from(v) for k, v in VALUES.items()}),
                min_size=1, max_size=8))
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_import_keeps_every_valid_row_and_rejects_the_rest(fuzz_store, tmp_path, rows):
    batch = next(_batches)
    frame = pd.DataFrame(rows)
    frame.insert(0, "id", [f"h{batch}-{i}" for i in range(len(frame))])
    path = tmp_path / f"rows{batch}.csv"
    frame.to_csv(path, index=False)
    before = fuzz_store.counts()["incidents"]
    result = import_file(fuzz_store, path, keep_valid=True)
    assert result.total == len(frame)
    assert fuzz_store.counts()["incidents"] - before == result.valid
    assert result.rejects()["row"].is_unique


# --- mutation fuzz --------------------------------------------------------------------

@pytest.mark.slow
def test_mutated_record_files_never_crash_and_lose_no_row(tmp_path, gazetteer, boundaries):
    """2,000 mutants of the seeds and an ACLED export: read all; every fifth also
    enriched, every twentieth loaded as records, every fortieth imported."""
    sources = [p.read_bytes() for p in SOURCES]
    store = open_store(tmp_path / "s.gpkg")
    refused = 0
    for number, data in mutants(sources, FUZZ_FILES):
        path = tmp_path / f"m{number}.csv"
        path.write_bytes(data)
        try:
            _check_mutant(path, number, store, gazetteer, boundaries)
        except FlankwatchError:
            refused += 1
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(path, ARTIFACTS / f"fuzz-failure-{number}.csv")
            raise
        path.unlink()
    assert refused < FUZZ_FILES // 2  # most mutants are still tables


def _check_mutant(path: Path, number: int, store, gazetteer, boundaries) -> None:
    table = read_table(path)
    total = _accounted(table.frame.index + 1, table.malformed)
    if number % 5 == 0:
        enriched, rejects = enrich_table(table, gazetteer=gazetteer, boundaries=boundaries)
        assert len(enriched) + len(rejects) == total
        assert rejects["row"].is_unique
    if number % 20 == 1:
        files = load_file(path)
        assert sum(f.total for f in files) == total
    if number % 40 == 1:
        result = import_file(store, path, keep_valid=True)
        assert result.total == total
