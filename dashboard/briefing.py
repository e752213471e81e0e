"""Briefing packs and atlases: several pages of one selection in one PDF (or PNGs).

A pack is the briefing map, then the incident table (headers repeated on each page),
a timeline of incidents by type (the map's colours) and the sources cited. An atlas
is one map page per airspace with incidents, or per week with incidents. Every page
carries the marking and its number ("3 / 12"); PDF pages stay vector, with TrueType
fonts embedded, so their text can be searched and copied.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.ticker import MaxNLocator

from dashboard.queries import axis_starts, began_before, event_counts, time_axis
from dashboard.snapshot import (
    EDGE_IN,
    SnapshotOptions,
    data_bbox,
    map_extent_lonlat,
    marking_banners,
    render_snapshot,
)
from dashboard.style import PAGE_SIZES, TYPE_COLOURS
from dashboard.text import printable, safe_url
from geo.dates import format_date, format_period
from geo.schema import INCIDENT_TYPES

#: The incident table: (heading, column, width as a share of the page, alignment).
TABLE_COLUMNS = (
    ("Date", "date_text", 0.09, "left"),
    ("Type", "type", 0.07, "left"),
    ("Airspace", "country_iso3", 0.06, "left"),
    ("Location", "location_label", 0.22, "left"),
    ("km to BLR", "dist_belarus_km", 0.06, "right"),
    ("km to KGD", "dist_kaliningrad_km", 0.06, "right"),
    ("Confidence", "confidence", 0.08, "left"),
    ("Sources", "sources", 0.10, "left"),
    ("Id", "id", 0.22, "left"),
)
TABLE_WIDTH = sum(share for *_, share, _ in TABLE_COLUMNS)
TABLE_FONT_PT = 6.5
#: Atlases: the groupings a page can stand for.
ATLAS_KINDS = ("country", "week")
#: Sources cited: entries on one page, for counting a pack's pages before it is laid
#: out (an entry takes one or two lines).
SOURCES_PER_PAGE = 40


@dataclass(frozen=True)
class Page:
    """One page of a pack or an atlas: how to draw it and what it shows."""

    kind: str
    title: str
    #: Draws the page (matplotlib pages); None for pages laid out by reportlab.
    draw: Callable[[], plt.Figure] | None = None
    records: int = 0
    extent: tuple[float, float, float, float] | None = None


def _literal() -> matplotlib.rc_context:
    return matplotlib.rc_context({"text.parse_math": False, "text.usetex": False,
                                  "pdf.fonttype": 42})


def _clip(text: object, chars: int) -> str:
    return printable(text, chars)

def _sheet(opts: SnapshotOptions, heading: str) -> tuple[plt.Figure, float, float]:
    """A blank page with the marking and a heading; returns it and the top and bottom
    of its writing area (figure fractions)."""
    width, height = PAGE_SIZES[opts.size]
    fig = plt.figure(figsize=(width, height), dpi=opts.dpi)
    banner = marking_banners(fig, opts.marking)
    top = 1 - banner - (EDGE_IN + 0.1) / height
    left = max(0.04, EDGE_IN / width)
    fig.text(left, top, heading, fontsize=12, fontweight="bold", va="top", gid="heading")
    fig.text(left, top - 0.22 / height, _clip(f"{opts.title} · {opts.subtitle}", 160),
             fontsize=7.5, color="#444", va="top", gid="subheading")
    return fig, top - 0.55 / height, banner + (EDGE_IN + 0.3) / height


def table_rows(incidents: pd.DataFrame) -> pd.DataFrame:
    """The table's cells as text, oldest first."""
    frame = incidents.sort_values(["date", "id"], kind="stable")
    out = pd.DataFrame(index=frame.index)
    ends = frame["date_end"] if "date_end" in frame else pd.Series(pd.NaT, frame.index)
    out["date_text"] = [format_period(d, e, p or "day") for d, e, p in
                        zip(frame["date"], ends, frame.get("date_precision", "day"),
                            strict=True)]
    for _, column, _, _ in TABLE_COLUMNS:
        if column == "date_text":
            continue
        values = frame[column] if column in frame else pd.Series("", index=frame.index)
        if column.endswith("_km"):
            out[column] = [("" if pd.isna(v) else f"{float(v):,.0f}") for v in values]
        else:
            out[column] = values.fillna("").astype(str).str.replace(";", ", ")
    return out.reset_index(drop=True)


def _timeline_page(opts, incidents: pd.DataFrame, period=(None, None),
                   events: pd.DataFrame | None = None) -> plt.Figure:
    """Incidents per day, week or month and type, over the filter's ``period`` (first
    and last day; an open side is the data's): a record that began before it is counted
    at its start, never widening it. Under it, the records of each event (``events``:
    their titles and the totals the sources give)."""
    fig, top, bottom = _sheet(opts, "Timeline")
    ax = fig.add_axes((0.08, bottom + 0.08, 0.86, top - bottom - 0.14), gid="timeline")
    frame = incidents.dropna(subset=["date"])
    if frame.empty:
        ax.text(0.5, 0.5, "No dated incidents", ha="center", transform=ax.transAxes)
        return fig
    low, high = time_axis(frame, *period)
    last = max(low, high - pd.Timedelta(microseconds=1)).tz_convert(None)
    span_days = (last - low.tz_convert(None)).days
    freq, unit = (("D", "day") if span_days <= 62 else ("W-MON", "week")
                  if span_days <= 730 else ("MS", "month"))
    code = freq[0] if freq != "MS" else "M"
    bins = axis_starts(frame, low).dt.tz_convert(None).dt.to_period(code)
    counts = (frame.assign(bin=bins.dt.start_time).groupby(["bin", "type"]).size()
              .unstack(fill_value=0))
    full = pd.period_range(low.tz_convert(None).to_period(code), last.to_period(code),
                           freq=code).start_time
    counts = counts.reindex(full, fill_value=0)
    width = {"day": 0.8, "week": 5.6, "month": 24}[unit]
    base = np.zeros(len(counts))
    for kind in INCIDENT_TYPES:
        if kind in counts:
            ax.bar(counts.index, counts[kind], bottom=base, width=width, label=kind,
                   color=TYPE_COLOURS[kind], align="edge", edgecolor="none")
            base += counts[kind].to_numpy()
    ax.set_ylabel(f"incidents per {unit}", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False, ncols=min(len(counts.columns), 7), loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_ylim(0, max(base.max() * 1.15, 1))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{len(frame):,} incidents by {unit} and type", fontsize=9, loc="left")
    notes = []
    if "date_precision" in frame:
        vague = int(frame["date_precision"].isin(["month", "year"]).sum())
        if vague:
            notes.append(f"{vague:,} incidents dated only to a month or a year are "
                         f"counted in the {unit} their period starts.")
    early, since = began_before(frame, period[0])
    if early:
        notes.append(f"{early:,} ongoing since {since} are counted in the first {unit}.")
    if notes:
        ax.text(0, -0.12, " ".join(notes), fontsize=7, color="#444",
                transform=ax.transAxes, gid="timeline-note")
    _event_lines(ax, frame, events)
    return fig


def _event_lines(ax, incidents: pd.DataFrame, events: pd.DataFrame | None) -> None:
    """The selection's records counted by event, with the event's own totals (as its
    sources give them), under the timeline: at most eight, the rest counted."""
    known = events if events is not None else pd.DataFrame(columns=["id", "title"])
    by_event = event_counts(incidents, known)
    if not by_event:
        return
    totals = known.set_index("id")
    lines = []
    for ident, title, n in by_event[:8]:
        said = []
        if ident in totals.index:
            said = [f"{int(totals.at[ident, c]):,} {word}" for c, word in
                    (("violations", "violations"), ("shot_down", "shot down"))
                    if c in totals and pd.notna(totals.at[ident, c])]
        lines.append(f"{printable(title, 90)}: {n:,} record{'s' if n != 1 else ''} here"
                     + (f" (the event: {', '.join(said)})" if said else ""))
    if len(by_event) > 8:
        lines.append(f"and {len(by_event) - 8:,} more events")
    ax.text(0, -0.2, "By event: " + "; ".join(lines), fontsize=7, color="#444",
            transform=ax.transAxes, gid="timeline-events", wrap=True)


def source_lines(incidents: pd.DataFrame, sources: pd.DataFrame
                 ) -> list[tuple[str, str | None]]:
    """One entry per source the incidents cite: "[id] title · publication · date" and
    its address (None when there is none: then the archived document is named)."""
    cited = sorted({s.strip() for cell in incidents.get("sources", pd.Series(dtype=str))
                    .fillna("") for s in str(cell).split(";") if s.strip()})
    known = sources.drop_duplicates("id").set_index("id") if len(sources) else None
    lines = []
    for ident in cited:
        if known is None or ident not in known.index:
            lines.append((f"[{ident}] (cited by the records; not in the sources table)",
                          None))
            continue
        row = known.loc[ident]
        values = [_text(row.get(k)) for k in ("title", "publication", "published")]
        parts = [values[0] or "(untitled)", *[v for v in values[1:] if v]]
        address = _text(row.get("url")) or None
        if address is None:
            document = _text(row.get("document"))
            parts.append(f"archived document {document}" if document else "no address")
        elif safe_url(address) is None:  # shown, never a link (javascript:, file:, …)
            parts.append(f"address (not a web link): {address}")
            address = None
        lines.append((f"[{ident}] " + " · ".join(parts), address))
    return lines


def _text(value) -> str:
    if isinstance(value, pd.Timestamp):
        return format_date(value, "day")
    return printable(value)

def pack_page_count(incidents: pd.DataFrame, size: str) -> int:
    """A briefing pack's pages, counted before any is drawn: the map, the table's
    pages, the timeline and the sources cited (:data:`SOURCES_PER_PAGE` a page)."""
    from dashboard.pdftext import rows_per_page

    per_page = rows_per_page(PAGE_SIZES[size])
    cited = {s.strip() for cell in incidents.get("sources", pd.Series(dtype=str)).fillna("")
             for s in str(cell).split(";") if s.strip()}
    return (2 + -(-max(len(incidents), 1) // per_page)
            + max(-(-len(cited) // SOURCES_PER_PAGE), 1))


def atlas_page_count(incidents: pd.DataFrame, by: str, period=(None, None)) -> int:
    """An atlas's pages, counted before any is drawn (without splitting the incidents
    into its pages)."""
    if by == "country":
        codes = incidents["country_iso3"].fillna("")
        return int(codes[codes != ""].nunique())
    if by not in ATLAS_KINDS:
        return sum(1 for _ in atlas_groups(incidents, by, period))  # refused there
    return int(_weeks(incidents.dropna(subset=["date"]), period).nunique())


def pack_pages(sel, opts: SnapshotOptions, map_options: dict) -> list[Page]:
    """The matplotlib pages of a briefing pack: the map and the timeline (the table and
    the sources are laid out by :func:`write_pack`)."""
    incidents = sel.incidents
    return [Page("map", "Map", lambda: render_snapshot(incidents, options=opts,
                                                       **map_options), len(incidents)),
            Page("timeline", "Timeline",
                 lambda: _timeline_page(opts, incidents, sel.period, sel.events),
                 len(incidents))]


def write_pack(sel, opts: SnapshotOptions, map_options: dict, path, *,
               progress: Callable[[int, int], None] | None = None) -> list[Page]:
    """The briefing pack as one PDF: map, incident table, timeline, sources cited.
    Returns its pages in order (the map's with its extent). ``progress(done, total)``,
    if given, is told of each page laid out (``total`` as counted beforehand)."""
    expected = pack_page_count(sel.incidents, opts.size)
    tell = (lambda n: progress(min(n, expected), expected)) if progress else None
    from pypdf import PdfReader, PdfWriter

    from dashboard.pdftext import text_pages

    rows = table_rows(sel.incidents)
    text_pdf, table_count, source_count = text_pages(
        page_size_in=PAGE_SIZES[opts.size], marking=printable(opts.marking),
        subtitle=printable(f"{opts.title} · {opts.subtitle}"),
        columns=[(heading, share / TABLE_WIDTH) for heading, _, share, _ in TABLE_COLUMNS],
        rows=[[_clip(v, chars) for v, chars in zip(row, _column_chars(opts), strict=True)]
              for row in rows.itertuples(index=False)],
        sources=source_lines(sel.incidents, sel.sources), page_offset=1, pages_between=1,
        progress=tell)
    total = table_count + source_count + 2
    map_page, timeline_page = pack_pages(sel, opts, map_options)
    drawn = {}
    for number, page in ((1, map_page), (table_count + 2, timeline_page)):
        buffer = io.BytesIO()
        with _literal():
            fig = page.draw()
            _number(fig, number, total, opts)
            if page.kind == "map":
                page = replace(page, extent=map_extent_lonlat(fig))
            fig.savefig(buffer, format="pdf", facecolor="white")
            plt.close(fig)
        drawn[page.kind] = (page, PdfReader(buffer).pages[0])
    if progress:
        progress(total, total)
    text = PdfReader(io.BytesIO(text_pdf)).pages
    writer = PdfWriter()
    writer.add_page(drawn["map"][1])
    for i in range(table_count):
        writer.add_page(text[i])
    writer.add_page(drawn["timeline"][1])
    for i in range(table_count, table_count + source_count):
        writer.add_page(text[i])
    writer.add_metadata({"/Title": opts.title, "/Creator": "Flankwatch"})
    with open(path, "wb") as out:
        writer.write(out)
    table = [Page("table", f"Incidents, page {i + 1}") for i in range(table_count)]
    sources = [Page("sources", "Sources cited") for _ in range(source_count)]
    return [drawn["map"][0], *table, drawn["timeline"][0], *sources]


def _column_chars(opts: SnapshotOptions) -> list[int]:
    """How many characters of each table column fit in its width."""
    width_pt = (PAGE_SIZES[opts.size][0] - 2 * max(PAGE_SIZES[opts.size][0] * 0.04, EDGE_IN)
                ) * 72
    return [max(int(width_pt * share / TABLE_WIDTH / (TABLE_FONT_PT * 0.55)), 3)
            for _, _, share, _ in TABLE_COLUMNS]


def _week_label(start: pd.Timestamp) -> str:
    iso = start.isocalendar()
    end = start + pd.Timedelta(days=6)
    return f"week {iso.year}-W{iso.week:02d} ({start:%-d %b} – {end:%-d %b %Y})"


def atlas_groups(incidents: pd.DataFrame, by: str, period=(None, None)
                 ) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(key, heading, incidents) of each atlas page: airspaces with incidents, largest
    first; or weeks with incidents, oldest first, within the filter's ``period`` (a
    record that began before it is in the period's first week)."""
    if by not in ATLAS_KINDS:
        msg = f"`atlas` was {by!r} but is expected to be in {list(ATLAS_KINDS)}"
        raise ValueError(msg)
    if by == "country":
        from dashboard.display import airspace_outlines

        names = airspace_outlines()
        codes = incidents["country_iso3"].fillna("")
        for iso3 in codes[codes != ""].value_counts().index:
            yield iso3, names.get(iso3, (iso3,))[0], incidents[codes == iso3]
        return
    dated = incidents.dropna(subset=["date"])
    weeks = _weeks(dated, period)
    for start in sorted(weeks.unique()):
        start = pd.Timestamp(start)
        yield f"{start:%G-W%V}", _week_label(start), dated[weeks == start]


def _weeks(dated: pd.DataFrame, period) -> pd.Series:
    """The Monday of each dated incident's week on the period's axis (a record that
    began before the period is in its first week)."""
    if dated.empty:
        return pd.Series(dtype="datetime64[ns]")
    low, _ = time_axis(dated, *period)
    return axis_starts(dated, low).dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time


def atlas_pages(sel, opts: SnapshotOptions, map_options: dict, by: str) -> list[Page]:
    """One map page per airspace (framed on its own incidents) or per week (all framed
    alike, on the whole selection, so that weeks compare)."""
    common = data_bbox(sel.incidents, layers=opts.layers, bands_km=opts.bands_km,
                       countries=opts.countries)
    pages = []
    for key, heading, group in atlas_groups(sel.incidents, by, sel.period):
        frame = data_bbox(group, countries=[key]) if by == "country" else opts.bbox or common
        page_opts = replace(opts, bbox=frame, title=f"{opts.title} — {heading}")
        pages.append(Page("map", key, lambda o=page_opts, g=group: render_snapshot(
            g, options=o, **map_options), len(group)))
    if not pages:
        msg = (f"nothing to show: no incident of the selection has "
               f"{'an airspace' if by == 'country' else 'a date'} for an atlas by {by}")
        raise ValueError(msg)
    return pages


def _number(fig: plt.Figure, n: int, total: int, opts: SnapshotOptions) -> None:
    width, height = PAGE_SIZES[opts.size]
    banner = (0.35 + EDGE_IN) / height if opts.marking else 0.0
    fig.text(1 - EDGE_IN / width, 1 - banner - (EDGE_IN + 0.1) / height, f"{n} / {total}",
             ha="right", va="top", fontsize=8, color="#333", gid="page-number")


def draw_pages(pages: list[Page], opts: SnapshotOptions, *,
               progress: Callable[[int, int], None] | None = None
               ) -> Iterator[tuple[Page, plt.Figure]]:
    """Each page's figure, numbered (the caller saves and closes it); ``progress(done,
    total)``, if given, is told as each is drawn."""
    with _literal():
        for n, page in enumerate(pages, start=1):
            fig = page.draw()
            _number(fig, n, len(pages), opts)
            if page.kind == "map":
                page = replace(page, extent=map_extent_lonlat(fig))
            if progress:
                progress(n, len(pages))
            yield page, fig


def write_pdf(pages: list[Page], opts: SnapshotOptions, path, *,
              progress: Callable[[int, int], None] | None = None) -> list[Page]:
    """All pages into one PDF; returns the pages with their map extents."""
    done = []
    with _literal(), PdfPages(path, metadata={"Title": opts.title,
                                              "Creator": "Flankwatch"}) as pdf:
        for page, fig in draw_pages(pages, opts, progress=progress):
            pdf.savefig(fig, facecolor="white")
            plt.close(fig)
            done.append(page)
    return done
