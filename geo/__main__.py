"""The ``python -m geo`` command line: enrich, where, geocode, validate, import."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from geo.enrich import enrich_points
from geo.errors import FlankwatchError, GeocodeError, InputError
from geo.gazetteer import load_gazetteer
from geo.readers import check_output_path, parse_column_map
from geo.records import counted, load_directory, load_file

#: Rejected rows printed before "... and N more".
SHOWN_REJECTS = 20


def _print_rejects(rejects, stream, total: int | None = None) -> None:
    for rec in rejects.head(SHOWN_REJECTS).itertuples(index=False):
        where = f"layer {rec.layer!r} " if isinstance(getattr(rec, "layer", None), str) \
            else ""
        print(f"  {where}row {rec.row}: {rec.field}: {rec.reason}", file=stream)
    total = len(rejects) if total is None else total
    if total > SHOWN_REJECTS:
        print(f"  ... and {total - SHOWN_REJECTS} more", file=stream)


def _enrich_on_dask(args: argparse.Namespace):
    import distributed  # noqa: F401  (its loggers exist once it is imported)

    from geo.cluster import DaskOptions, enrich_on_dask

    # Dask's own notes (workers starting and stopping) only with -v
    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.DEBUG if args.verbose
                                             else logging.WARNING)
    options = DaskOptions(scheduler=args.scheduler, partitions=args.partitions,
                          single_file=args.single_file)
    return enrich_on_dask(args.input, args.output, rejects_path=args.rejects,
                          column_map=parse_column_map(args.map), options=options,
                          progress=_partitions_line(sys.stderr))


def cmd_enrich(args: argparse.Namespace) -> int:
    """Enrich a table; bad rows stop the run unless --rejects is given."""
    from geo.records import enrich_file

    if args.engine == "dask":
        result = _enrich_on_dask(args)
    elif args.scheduler or args.partitions or args.single_file:
        msg = "--scheduler, --partitions and --single-file go with --engine dask"
        raise InputError(msg)
    else:
        result = enrich_file(args.input, args.output, rejects_path=args.rejects,
                             column_map=parse_column_map(args.map),
                             progress=_progress_line(sys.stderr))
    if sys.stderr.isatty():
        print(file=sys.stderr)  # end the progress line
    shown = result.shown_rejects
    if not result.written:
        print(f"{result.rejected:,} of {counted(result.total, 'row')} invalid; nothing written "
              f"(use --rejects FILE to keep the valid rows):", file=sys.stderr)
        _print_rejects(shown, sys.stderr, result.rejected)
        return 1
    print(f"{result.enriched} rows enriched -> {args.output}"
          + (f"; {result.rejected} rejected -> {args.rejects}" if args.rejects else ""),
          file=sys.stderr)
    if result.rejected:
        _print_rejects(shown, sys.stderr, result.rejected)
    return 0


def _fmt_km(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.3f} km"


def cmd_where(args: argparse.Namespace) -> int:
    """Print the enriched facts of one point."""
    if not (-90 <= args.lat <= 90 and -180 <= args.lon <= 180):
        print(f"error: {args.lat} {args.lon} is not a WGS84 latitude/longitude pair",
              file=sys.stderr)
        return 2
    f = enrich_points([args.lon], [args.lat]).iloc[0]
    country = f"{f.country_name} ({f.country_iso3})" if f.country_iso3 else "none"
    if not f.in_coverage:
        country = "unknown: outside the reference data's coverage"
    lines = [
        ("point", f"{args.lat:.5f} N, {args.lon:.5f} E"),
        ("airspace", country),
        ("over water", "unknown" if pd.isna(f.over_water) else str(f.over_water).lower()),
        ("in Kaliningrad exclave", str(bool(f.in_kaliningrad)).lower()),
        ("distance to Belarus", _fmt_km(f.dist_belarus_km)),
        ("distance to Kaliningrad", _fmt_km(f.dist_kaliningrad_km)),
        ("nearest land border", f"{f.nearest_border} at {_fmt_km(f.dist_border_km)}"
         if f.nearest_border else "-"),
        ("location", f.location_label or "-"),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}  {value}")
    return 0


def cmd_geocode(args: argparse.Namespace) -> int:
    """Print a place's coordinates and the other places the name matched."""
    gaz = load_gazetteer()
    try:
        found = gaz.geocode(args.name, country=args.country)
    except GeocodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for cand in exc.candidates:
            print(f"  {cand.describe() if hasattr(cand, 'describe') else cand}",
                  file=sys.stderr)
        return 1
    place = found.place
    print(f"{place.lat:.5f} {place.lon:.5f}  {place.describe()}  [{place.source}]")
    others = [c for c in found.candidates if c != place]
    if others:
        print("other matches:")
        for cand in others:
            print(f"  {cand.describe()}")
    return 0


def _print_file_rejects(files, stream) -> None:
    for loaded in files:
        if len(loaded.rejects):
            print(f"{loaded.path.name}: {len(loaded.rejects)} of {loaded.total} "
                  f"{loaded.record_type.name} rows rejected:", file=stream)
            _print_rejects(loaded.rejects, stream)


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a record directory or file; print counts per record type."""
    path = Path(args.path)
    files = (load_directory(path).files if path.is_dir()
             else load_file(path, column_map=parse_column_map(args.map)))
    counts: dict[str, list[int]] = {}
    for loaded in files:
        entry = counts.setdefault(loaded.record_type.name, [0, 0])
        entry[0] += len(loaded.records)
        entry[1] += len(loaded.rejects)
    for name, (valid, bad) in counts.items():
        print(f"{name}: {valid} valid" + (f", {bad} rejected" if bad else ""))
    _print_file_rejects(files, sys.stderr)
    return 1 if any(bad for _, bad in counts.values()) else 0


def cmd_import(args: argparse.Namespace) -> int:
    """Validate, enrich and upsert a file into the store, all or nothing."""
    from geo.records import import_file
    from geo.store import open_store

    if args.rejects is not None:  # checked before the store is opened or created
        check_output_path(args.rejects, suffixes=[".csv"], what="--rejects")
    if not Path(args.input).is_file():
        msg = f"{args.input}: no such file"
        raise InputError(msg)
    store = open_store(args.store)
    result = import_file(store, args.input, column_map=parse_column_map(args.map),
                         keep_valid=args.rejects is not None, rejects_path=args.rejects,
                         progress=_progress_line(sys.stderr))
    if sys.stderr.isatty():
        print(file=sys.stderr)  # end the progress line
    if not result.written:
        print(f"{result.rejected:,} of {counted(result.total, 'row')} invalid; nothing imported "
              f"(use --rejects FILE to import the valid rows):", file=sys.stderr)
        _print_rejects(result.rejects(), sys.stderr, result.rejected)
        return 1
    for report in result.tables:
        print(report)
    print(f"{counted(result.total, 'row')} read: {result.valid:,} valid"
          + (f", {result.rejected:,} rejected -> {args.rejects}" if result.rejected else "")
          + f"; store {store}")
    if result.rejected:
        _print_rejects(result.rejects(), sys.stderr, result.rejected)
    return 0


def _progress_line(stream):
    """A progress reporter that rewrites one line on a terminal (and prints only the
    waiting notice elsewhere)."""
    tty = stream.isatty()

    def report(fraction: float, text: str) -> None:
        if text.startswith("waiting"):
            print(text, file=stream, flush=True)
        elif tty:
            print(f"\r{fraction:6.1%} of the file: {text}", end="", file=stream, flush=True)
    return report


def _partitions_line(stream):
    """A progress reporter of partitions done: one line rewritten on a terminal, else a
    line each tenth of the way."""
    tty = stream.isatty()

    def report(done: int, total: int | None) -> None:
        text = f"partitions done: {done:,}/{total:,}" if total else \
            f"partitions done: {done:,}"
        if tty:
            print(f"\r{text}", end="", file=stream, flush=True)
        elif total is None or done == total or done % max(1, total // 10) == 0:
            print(text, file=stream, flush=True)
    return report


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        msg = f"{text} is not a positive number"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    # the module's docstring without reStructuredText's literal quotes
    parser = argparse.ArgumentParser(prog="python -m geo",
                                     description=__doc__.replace("``", ""))
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    enrich = sub.add_parser("enrich", help="add airspace, distance and place columns")
    enrich.add_argument("input", type=Path,
                        help="CSV, GeoJSON, GeoPackage or (Geo)Parquet; with --engine dask "
                             "also a folder or glob of Parquet files")
    enrich.add_argument("-o", "--output", required=True, type=Path,
                        help="output file: .csv, .geojson, .gpkg or .parquet; with --engine "
                             "dask a folder of Parquet parts (see --single-file)")
    enrich.add_argument("--rejects", type=Path,
                        help="write invalid rows here (row, field, reason) and keep the rest")
    enrich.add_argument("--map", help="column renames, e.g. date=event_time,lat=y,lon=x")
    enrich.add_argument("--engine", choices=["single", "dask"], default="single",
                        help="single: this process (default); dask: the partitions on a "
                             "Dask cluster, with the same results")
    enrich.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="dask: a running scheduler (default: $DASK_SCHEDULER_ADDRESS, "
                             "else a local cluster of two workers on 127.0.0.1)")
    enrich.add_argument("--partitions", type=_count, metavar="N",
                        help="dask: about N partitions (default: one per Parquet row group, "
                             "or per 50,000 CSV records)")
    enrich.add_argument("--single-file", action="store_true",
                        help="dask: write one file of the output's format (.parquet, .csv, "
                             ".geojson, .gpkg) instead of a folder of parts")
    enrich.set_defaults(func=cmd_enrich)

    where = sub.add_parser("where", help="the enriched facts of one point")
    where.add_argument("lat", type=float)
    where.add_argument("lon", type=float)
    where.set_defaults(func=cmd_where)

    geocode = sub.add_parser("geocode", help="coordinates of a place name")
    geocode.add_argument("name")
    geocode.add_argument("--country", help="ISO 3166 alpha-3 code, e.g. LTU")
    geocode.set_defaults(func=cmd_geocode)

    validate = sub.add_parser("validate", help="check record files; counts per type")
    validate.add_argument("path", type=Path, help="a record directory (seeds/) or one file")
    validate.add_argument("--map", help="column renames for a single file")
    validate.set_defaults(func=cmd_validate)

    imp = sub.add_parser("import", help="validate, enrich and upsert into the store")
    imp.add_argument("input", type=Path,
                     help="CSV (canonical or ACLED), GeoJSON, GeoPackage, GeoParquet")
    imp.add_argument("--store", help=STORE_HELP)
    imp.add_argument("--rejects", type=Path,
                     help="write invalid rows here (row, field, reason); import the rest")
    imp.add_argument("--map", help="column renames, e.g. date=event_time,lat=y,lon=x")
    imp.set_defaults(func=cmd_import)

    hist = sub.add_parser("history", help="every version of a record, and what changed")
    hist.add_argument("id", help="the record's id")
    hist.add_argument("--table", default="incidents", help="incidents (default), "
                      "deployments, defense_lines, tracks or sources")
    hist.add_argument("--store", help=STORE_HELP)
    hist.set_defaults(func=cmd_history)

    rev = sub.add_parser("revert", help="restore an earlier version of a record")
    rev.add_argument("id", help="the record's id")
    rev.add_argument("--to", type=int, required=True, metavar="VERSION",
                     help="the version to restore (see: python -m geo history ID)")
    rev.add_argument("--table", default="incidents")
    rev.add_argument("--store", help=STORE_HELP)
    rev.set_defaults(func=cmd_revert)

    admin = sub.add_parser("store", help="create, upgrade or copy a store")
    admin.add_argument("action", choices=["init", "migrate", "copy"],
                       help="init: create the store's tables (a PostGIS database, or a new "
                            "GeoPackage with the seed records); migrate: upgrade its schema; "
                            "copy SRC DST: every table, the history and the import log into "
                            "a new GeoPackage or an empty PostGIS store")
    admin.add_argument("locations", nargs="*", metavar="SRC DST",
                       help="copy: the source and destination stores (files or URLs)")
    admin.add_argument("--store", help=STORE_HELP)
    admin.add_argument("--with-seeds", action="store_true",
                       help="init: load the seed records (seeds/) into the new store")
    admin.set_defaults(func=cmd_store)
    from geo.alerts_cli import add_alert_commands

    add_alert_commands(sub, STORE_HELP)
    return parser


STORE_HELP = ("a GeoPackage file or a postgresql:// URL (default: $FLANKWATCH_STORE, else "
              "var/store.gpkg)")


def _copy(args: argparse.Namespace) -> int:
    from geo.store.transfer import copy_store

    if len(args.locations) != 2:
        msg = "store copy takes two stores: SRC DST (files or postgresql:// URLs)"
        raise InputError(msg)
    for report in copy_store(*args.locations):
        print(report)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """Print a record's versions, oldest first, with what each change did."""
    from geo.store import open_store
    from geo.store.history import changes, comparable, versions

    found = versions(open_store(args.store), args.table, args.id)
    previous = None
    for version in found:
        if version.current:
            print(f"version {version.number} (current)")
        else:
            print(f"version {version.number}: replaced {version.replaced_at} by import "
                  f"{version.replaced_by_import} ({version.replaced_by_file}) of "
                  f"{version.replaced_by_user}")
        if previous is None:
            shown = {k: v for k, v in comparable(args.table, version.values).items()
                     if v not in ("", None) and k != "geom"}
            print("  " + "; ".join(f"{k}: {v}" for k, v in shown.items()))
        for column, before, after in changes(args.table, previous, version) if previous \
                else []:
            print(f"  {column}: {before!r} -> {after!r}")
        previous = version
    return 0


def cmd_revert(args: argparse.Namespace) -> int:
    """Restore an earlier version of a record (itself recorded as an import)."""
    from geo.store import open_store
    from geo.store.history import revert

    for report in revert(open_store(args.store), args.table, args.id, args.to):
        print(report)
    print(f"{args.table} {args.id}: version {args.to} restored; the version it replaced "
          "is kept (python -m geo history ID)")
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    """Create or upgrade a store's schema."""
    from geo.store import open_store, store_location

    if args.action == "copy":
        return _copy(args)
    location = store_location(args.store)
    if isinstance(location, Path):  # the GeoPackage's schema is created with the file
        store = open_store(location)
        print(f"store {store.path}: ready ({args.action} has nothing more to do for a "
              "GeoPackage)")
        return 0
    from geo.store.postgis import SCHEMA_VERSION, migrate, schema_version, shown_url

    if args.action == "init" and schema_version(location):
        print(f"store {shown_url(location)}: already initialised "
              f"(schema version {schema_version(location)})")
        return 0
    applied = migrate(location)
    done = ", ".join(map(str, applied)) if applied else "none needed"
    print(f"store {shown_url(location)}: schema version {SCHEMA_VERSION} "
          f"(versions applied: {done})")
    if args.action == "init" and args.with_seeds:
        from geo.records import load_directory
        from geo.settings import SEEDS_DIR
        from geo.store import open_store

        seeds = load_directory(SEEDS_DIR)
        seeds.raise_if_rejected()
        for report in open_store(location).write(seeds.batches(), file=str(SEEDS_DIR)):
            print(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except FlankwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: said in one line; the traceback with -v
        logging.getLogger("geo").debug("internal error", exc_info=True)
        print(f"error: internal error ({type(exc).__name__}: {exc}); nothing was "
              "committed. Run with -v for details and please report it.", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
