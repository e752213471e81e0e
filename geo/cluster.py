"""Enrichment on a Dask cluster: ``python -m geo enrich IN -o OUT --engine dask``.

The input is cut into partitions: whole row groups of a Parquet file (of each file of a
folder or glob), or chunks of a CSV file read by this process. Each worker enriches its
partitions with :func:`geo.records.enrich_chunk`, the step of the single process, and
writes each as a GeoParquet part beside the output; the reference data are loaded once
per worker process (:class:`ReferenceData`), never sent with a task. Ids are checked
across partitions here, in the input's order, so that a duplicate id is rejected as one
process would reject it; rows keep the row numbers of the input file.

The output: a folder of ``part-NNNNN.parquet`` files and ``_metadata``; or, with
``single_file``, one file of any output format, gathered here from the parts in order.
Either appears whole or not at all.

The workers read the input and write the parts at the same paths as this process: on a
cluster of several machines those paths must be on a file system they all share.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from geo.csvfile import CHUNK_RECORDS
from geo.errors import ClusterError, InputError
from geo.readers import (
    CSV_SUFFIXES,
    OUTPUT_SUFFIXES,
    PARQUET_SUFFIXES,
    Table,
    check_output_path,
    iter_parquet_tables,
    iter_tables,
)

#: Workers of the cluster started when no scheduler is given, one thread each (the
#: enrichment itself runs its searches on a thread per core).
LOCAL_WORKERS = 2
#: Partitions sent ahead of the finished ones per worker (bounds a CSV's chunks held).
AHEAD_PER_WORKER = 2
#: Seconds to wait for a scheduler to answer.
CONNECT_TIMEOUT_S = 20


# --- partitions ----------------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    """One partition: row groups of a Parquet file, or a chunk of a CSV read here."""

    number: int
    file: str
    first_row: int = 0
    row_groups: tuple[int, ...] | None = None
    rows: int = 0


def input_files(source: str | Path) -> list[Path]:
    """The files an input names: a file, every ``*.parquet`` of a folder, or the
    Parquet files a glob pattern matches (sorted by name)."""
    text = str(source)
    if Path(text).is_dir():
        files = sorted(p for p in Path(text).glob("*.parquet") if p.name[0] not in "._")
    elif glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
    else:
        return [Path(text)]
    if not files:
        msg = f"{text}: no Parquet files (*.parquet) there"
        raise InputError(msg)
    strangers = [p.name for p in files if p.suffix.lower() not in PARQUET_SUFFIXES]
    if strangers:
        msg = f"{text}: a folder or pattern holds Parquet files only, not {strangers[:3]}"
        raise InputError(msg)
    return files


def parquet_parts(files: list[Path], partitions: int | None) -> list[Part]:
    """Partitions of whole row groups: one per row group, or about ``partitions`` in
    all (row groups are gathered until a partition has its share of the rows)."""
    from geo.geoparquet import check_schema, open_parquet

    groups = []  # (file, row group, first row, rows)
    for path in files:
        pf = open_parquet(path)
        check_schema(path, pf)  # a file refused whole is refused before any work
        meta = pf.metadata
        first = 0
        for k in range(meta.num_row_groups):
            rows = meta.row_group(k).num_rows
            groups.append((path, k, first, rows))
            first += rows
    total = sum(g[3] for g in groups)
    share = math.ceil(total / partitions) if partitions else 0
    parts: list[Part] = []
    for path, k, first, rows in groups:
        last = parts[-1] if parts else None
        if (last is not None and last.file == str(path) and share
                and last.rows + rows <= share):
            parts[-1] = Part(last.number, last.file, last.first_row,
                             (*last.row_groups, k), last.rows + rows)
        else:
            parts.append(Part(len(parts), str(path), first, (k,), rows))
    if not parts:  # a file without row groups: one empty partition keeps its columns
        parts = [Part(0, str(files[0]), 0, (), 0)]
    return parts


def csv_chunk_records(path: Path, partitions: int | None) -> int:
    """Records per CSV partition: :data:`CHUNK_RECORDS`, or the file's lines shared out
    over ``partitions`` (counted from its line breaks, quoted ones included)."""
    if not partitions:
        return CHUNK_RECORDS
    lines = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            lines += block.count(b"\n")
    return max(1, min(CHUNK_RECORDS, math.ceil(lines / partitions)))


# --- what a worker does ----------------------------------------------------------------

def load_reference_data():
    """The gazetteer and boundaries with their indexes built (cached per process)."""
    from geo.boundaries import load_boundaries
    from geo.enrich import _build_indexes
    from geo.gazetteer import load_gazetteer

    boundaries = load_boundaries()
    _build_indexes(boundaries)
    return load_gazetteer(), boundaries


def _worker_plugin():
    from distributed.diagnostics.plugin import WorkerPlugin

    class ReferenceData(WorkerPlugin):
        """Loads the reference data when a worker starts (or joins), once per process."""

        name = "flankwatch-reference-data"

        def setup(self, worker) -> None:
            load_reference_data()

    return ReferenceData()


@dataclass
class PartResult:
    """What a worker did with one partition."""

    number: int
    file: str
    #: The part written (None when it holds no row).
    path: str | None
    total: int = 0
    rejects: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Every id the partition holds (valid rows' and rejected rows').
    ids: list[str] = field(default_factory=list)
    #: The written rows' ids (stripped), indexed by row position, in the part's order.
    valid_ids: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))


def _tables_of(part: Part, table: Table | None, column_map: dict[str, str] | None
               ) -> Iterator[Table]:
    if table is not None:
        yield table
        return
    yield from iter_parquet_tables(Path(part.file), column_map=column_map,
                                   row_groups=list(part.row_groups or ()),
                                   first_row=part.first_row)


def enrich_part(part: Part, folder: str, column_map: dict[str, str] | None = None,
                table: Table | None = None) -> PartResult:
    """Enrich one partition into ``folder/part-NNNNN.parquet`` (run by a worker)."""
    from geo.readers import TableWriter
    from geo.records import enrich_chunk

    gazetteer, boundaries = load_reference_data()
    path = Path(folder) / f"part-{part.number:05d}.parquet"
    writer = TableWriter(path, suffixes=PARQUET_SUFFIXES, what="part")
    result, seen, rejects, valid = PartResult(part.number, part.file, str(path)), set(), [], []
    try:
        for chunk in _tables_of(part, table, column_map):
            enriched, refused = enrich_chunk(chunk, seen, gazetteer=gazetteer,
                                             boundaries=boundaries)
            writer.append(enriched)
            rejects.append(refused)
            result.total += len(enriched) + len(refused)
            if "id" in enriched.columns:
                valid.append(enriched["id"].astype("string").str.strip().fillna(""))
        writer.commit()
    finally:
        writer.discard()
    result.rejects = (pd.concat([r for r in rejects if len(r)], ignore_index=True)
                      if any(len(r) for r in rejects) else pd.DataFrame())
    result.ids = sorted(seen)
    result.valid_ids = pd.concat(valid) if valid else pd.Series(dtype=object)
    if result.total == len(result.rejects):  # no row written: no part
        path.unlink(missing_ok=True)
        result.path = None
    return result


def drop_rows(path: str, keep: np.ndarray) -> pd.DataFrame:
    """Rewrite a part without the rows where ``keep`` is false; returns those rows
    (run by a worker, for ids an earlier partition had)."""
    table = pq.read_table(path)
    meta = pq.read_metadata(path).metadata
    dropped = table.filter(~keep)
    aside = f"{path}.rewrite"
    with pq.ParquetWriter(aside, table.schema, compression="zstd", store_schema=False) as w:
        w.write_table(table.filter(keep))
        w.add_key_value_metadata({k: v for k, v in meta.items() if k == b"geo"})
    os.replace(aside, path)
    return dropped.to_pandas()


# --- the client ------------------------------------------------------------------------

@dataclass
class DaskOptions:
    """How to reach (or start) the cluster and cut the input."""

    #: ``tcp://HOST:PORT`` of a running scheduler; None: $DASK_SCHEDULER_ADDRESS, else a
    #: local cluster of :data:`LOCAL_WORKERS` workers on 127.0.0.1.
    scheduler: str | None = None
    #: About how many partitions; None: one per row group (CSV: per 50,000 records).
    partitions: int | None = None
    #: Write one file (any output format) instead of a folder of Parquet parts.
    single_file: bool = False


def check_output(output: Path, single_file: bool) -> None:
    """Refuse an output the run could not put in place, before any work."""
    if single_file:
        check_output_path(output, suffixes=OUTPUT_SUFFIXES, what="-o")
        return
    if output.suffix.lower() in OUTPUT_SUFFIXES - PARQUET_SUFFIXES:
        msg = (f"-o {output}: --engine dask writes a folder of Parquet parts; add "
               "--single-file for one file of that format")
        raise InputError(msg)
    if output.exists() and not (output.is_dir() and not any(output.iterdir())):
        msg = f"-o {output}: already exists; give a new (or empty) folder"
        raise InputError(msg)
    if not output.parent.is_dir():
        msg = f"-o {output}: the folder {output.parent} does not exist; create it first"
        raise InputError(msg)


@contextmanager
def connect(options: DaskOptions, say: Callable[[str], None]):
    """A client of the given scheduler, or of a local cluster started here (and shut
    down at the end)."""
    from distributed import Client, LocalCluster

    address = options.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    cluster = None
    try:
        if address:
            client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
        else:
            # every socket on the loopback interface, the dashboard's too (any free port)
            # the workers' own logs say only what is critical: a task's error comes
            # back here and is said once, in one line
            cluster = LocalCluster(n_workers=LOCAL_WORKERS, threads_per_worker=1,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                   worker_dashboard_address="127.0.0.1:0",
                                   processes=True, silence_logs=logging.CRITICAL)
            client = Client(cluster)
    except (OSError, TimeoutError, ValueError) as exc:
        where = address or "a local cluster on 127.0.0.1"
        msg = f"cannot reach the Dask scheduler at {where} ({exc})"
        raise ClusterError(msg) from None
    try:
        if _has_bokeh() and "dashboard" in client.scheduler_info().get("services", {}):
            say(f"Dask dashboard: {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def enrich_on_dask(path: str | Path, output: str | Path, *,
                   rejects_path: str | Path | None = None,
                   column_map: dict[str, str] | None = None,
                   options: DaskOptions | None = None,
                   progress: Callable[[int, int | None], None] | None = None,
                   say: Callable[[str], None] | None = None):
    """Enrich a Parquet or CSV file, or a folder or glob of Parquet files, on a Dask
    cluster (see the module docstring); returns a :class:`geo.records.EnrichResult`
    with the same rows, enrichment and rejections as :func:`geo.records.enrich_file`."""
    from geo.records import _distinct, _RejectsFile

    options = options or DaskOptions()
    output = Path(output)
    files = input_files(path)
    for file in files:
        if not file.is_file():
            msg = f"{file}: no such file" if not file.exists() else f"{file}: not a file"
            raise InputError(msg)
    _distinct(*files, output, *([Path(rejects_path)] if rejects_path else []))
    check_output(output, options.single_file)
    sink = _RejectsFile(rejects_path, streamed=False)
    say = say or (lambda text: print(text, file=sys.stderr))
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".parts",
                                    dir=output.parent))
    try:
        submissions, total = _submissions(files, column_map, options)
        with connect(options, say) as client:
            results = _run(client, submissions, total, staging, column_map,
                           progress or (lambda done, total: None))
            duplicates = _cross_partition_duplicates(client, results)
        return _finish(results, duplicates, files, output, staging, sink, options,
                       rejects_path is not None)
    finally:
        sink.discard()
        shutil.rmtree(staging, ignore_errors=True)


def _submissions(files: list[Path], column_map, options: DaskOptions
                 ) -> tuple[Iterator[tuple[Part, Table | None]], int | None]:
    """Each partition, with its table where this process reads it (CSV), and how many
    partitions there are (None for a CSV: known at its end)."""
    first = files[0]
    if first.suffix.lower() in PARQUET_SUFFIXES:
        parts = parquet_parts(files, options.partitions)
        return ((part, None) for part in parts), len(parts)
    if len(files) > 1 or first.suffix.lower() not in CSV_SUFFIXES:
        msg = (f"{first}: --engine dask reads Parquet files (a file, folder or glob) or one "
               "CSV file")
        raise InputError(msg)
    records = csv_chunk_records(first, options.partitions)
    tables = iter_tables(first, column_map=column_map, chunk_records=records)
    return ((Part(number, str(first), rows=len(table.frame)), table)
            for number, table in enumerate(tables)), None


def _run(client, submissions: Iterator[tuple[Part, Table | None]], total: int | None,
         staging: Path, column_map, progress: Callable[[int, int | None], None]
         ) -> list[PartResult]:
    """Every partition enriched by the workers, a bounded number in flight."""
    from distributed import wait

    client.register_plugin(_worker_plugin())
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    ahead = workers * AHEAD_PER_WORKER
    pending, results = set(), []
    for part, table in submissions:
        pending.add(client.submit(enrich_part, part, str(staging), column_map, table,
                                  key=f"flankwatch-part-{part.number}-{staging.name}",
                                  pure=False))
        while len(pending) >= ahead:
            done, pending = wait(pending, return_when="FIRST_COMPLETED")
            results += _collect(done, progress, len(results), total)
    while pending:
        done, pending = wait(pending, return_when="FIRST_COMPLETED")
        results += _collect(done, progress, len(results), total)
    return sorted(results, key=lambda r: r.number)


def _collect(done, progress, finished: int, total: int | None) -> list[PartResult]:
    out = []
    for future in done:
        out.append(future.result())  # a worker's InputError is raised here, as it was
        progress(finished + len(out), total)
    return out


def _cross_partition_duplicates(client, results: list[PartResult]) -> dict[int, pd.DataFrame]:
    """Valid rows whose id an earlier partition had, taken out of their parts; their
    rejections by partition number (as :func:`geo.records.enrich_chunk` makes them)."""
    from geo.records import reject_duplicates

    seen: set[str] = set()
    found: dict[int, pd.DataFrame] = {}
    for result in results:
        ids = result.valid_ids
        again = np.fromiter((i in seen for i in ids.tolist()), dtype=bool, count=len(ids))
        again &= ids.to_numpy() != ""
        seen.update(result.ids)
        if not again.any():
            continue
        rows = client.submit(drop_rows, result.path, ~again, pure=False).result()
        rows.index = ids.index[again]
        source = rows[[c for c in rows.columns if c not in _derived(rows.columns)]]
        _, found[result.number] = reject_duplicates(
            rows, pd.DataFrame(), pd.Series(True, index=rows.index), source)
    return found


def _derived(columns) -> set:
    """Columns a part has that its input had not: the enrichment's, geometry, bbox."""
    from geo.schema import ENRICHED_COLUMNS

    return {*ENRICHED_COLUMNS, "geometry", "bbox"} & set(columns)


def _finish(results: list[PartResult], duplicates: dict[int, pd.DataFrame],
            files: list[Path], output: Path, staging: Path, sink, options: DaskOptions,
            keep_valid: bool):
    """Count, write the rejects, then put the output in place (nothing when rows were
    rejected and no rejects file was given)."""
    from geo.records import SHOWN_REJECTS, EnrichResult

    frames = []
    for result in results:
        for frame in (result.rejects, duplicates.get(result.number)):
            if frame is not None and len(frame):
                frame = frame.copy()
                if len(files) > 1:
                    frame.insert(0, "file", Path(result.file).name)
                frames.append(frame)
    rejects = (pd.concat(frames, ignore_index=True).sort_values(
        [c for c in ("file", "row") if c in frames[0].columns], kind="stable")
        if frames else pd.DataFrame(columns=["row", "field", "reason"]))
    total = sum(r.total for r in results)
    outcome = EnrichResult(total=total, enriched=total - len(rejects), rejected=len(rejects),
                           shown_rejects=rejects.head(SHOWN_REJECTS))
    if len(rejects) and not keep_valid:
        return outcome
    sink.add(rejects)
    sink.close()
    parts = [Path(r.path) for r in results if r.path and Path(r.path).exists()]
    if options.single_file:
        _gather(parts, output)
    else:
        _write_metadata(parts, staging)
        if output.is_dir():
            output.rmdir()  # empty: checked before
        staging.rename(output)
    outcome.written = True
    return outcome


def _write_metadata(parts: list[Path], folder: Path) -> None:
    """``_metadata``: every part's row groups, so that a reader plans without opening
    each part."""
    collected, schema = [], None
    for part in parts:
        meta = pq.read_metadata(part)
        if not meta.num_rows:
            continue
        meta.set_file_path(part.name)
        collected.append(meta)
        schema = schema or pq.read_schema(part)
    if schema is None:
        return
    try:
        pq.write_metadata(schema, folder / "_metadata", metadata_collector=collected)
    except (ValueError, RuntimeError) as exc:
        msg = f"the parts' column types differ ({exc}); write --single-file instead"
        raise InputError(msg) from None


def _gather(parts: list[Path], output: Path) -> None:
    """The parts, in order, as one file of the output's format."""
    from geo.geoparquet import iter_parquet
    from geo.readers import TableWriter

    if parts and output.suffix.lower() in PARQUET_SUFFIXES:
        _concatenate(parts, output)
        return
    writer = TableWriter(output, what="-o")
    try:
        for part in parts:
            for chunk in iter_parquet(part, chunk_records=CHUNK_RECORDS):
                writer.append(chunk.frame.reset_index(drop=True))
        writer.commit()
    finally:
        writer.discard()


def _concatenate(parts: list[Path], output: Path) -> None:
    """GeoParquet parts, in order, as one GeoParquet file: their row groups copied as
    Arrow batches (no conversion), the ``geo`` metadata the first part's with the
    bounding box of them all."""
    first = pq.ParquetFile(parts[0])
    geo = json.loads(first.metadata.metadata[b"geo"])
    column = geo["columns"][geo["primary_column"]]
    boxes = [json.loads(pq.read_metadata(p).metadata[b"geo"])["columns"][
        geo["primary_column"]].get("bbox") for p in parts]
    boxes = [b for b in boxes if b]
    if boxes:
        column["bbox"] = [min(b[0] for b in boxes), min(b[1] for b in boxes),
                          max(b[2] for b in boxes), max(b[3] for b in boxes)]
    schema = first.schema_arrow.remove_metadata()
    fd, aside = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".parquet",
                                 dir=output.parent)
    os.close(fd)
    try:
        with pq.ParquetWriter(aside, schema, compression="zstd", store_schema=False) as out:
            for part in parts:
                for batch in pq.ParquetFile(part).iter_batches(batch_size=CHUNK_RECORDS):
                    out.write_table(_same_types(pa.Table.from_batches([batch]), schema))
            out.add_key_value_metadata({"geo": json.dumps(geo)})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(aside, 0o666 & ~umask)
        os.replace(aside, output)
    finally:
        Path(aside).unlink(missing_ok=True)


def _same_types(table: pa.Table, schema: pa.Schema) -> pa.Table:
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        msg = f"the parts' column types differ ({exc}); write a folder of parts instead"
        raise InputError(msg) from None
