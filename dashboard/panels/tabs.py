"""The tabs under the map: summary, incident table, timeline, export, import."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import keys, queries
from dashboard.access import Access
from dashboard.import_worker import UploadResult, run_import
from dashboard.panels.common import notice, without_locations
from dashboard.panels.data import load_newest, load_table
from dashboard.panels.session import panel
from dashboard.panels.sidebar import text_box
from dashboard.state import ViewState
from dashboard.style import DEFAULT_DPI, DPI_RANGE, PAGE_SIZES, TYPE_COLOURS
from geo.readers import csv_bytes
from geo.records import counted
from geo.store.base import Store


def tabs_panel(store: Store, version: tuple, view: ViewState, incidents: pd.DataFrame,
               access: Access) -> None:
    """The tabs; only the open one is computed and sent (the chart and the table are
    not free)."""
    names = ["Summary", "Incidents", "Timeline", "Export", "Alerts"]
    names += ["Import"] if access.can("import") else []  # checked again on importing
    tab_summary, tab_table, tab_time, tab_export, tab_alerts, *tab_import = st.tabs(
        names, key=keys.TAB, on_change="rerun")
    with tab_summary:  # light first paint: the table's grid costs the browser seconds
        if tab_summary.open:
            summary_panel(incidents, load_table(store.location, version, "events"))
    with tab_table:
        if tab_table.open:
            table_panel(store.location, version, view, incidents)
    with tab_time:
        if tab_time.open:
            timeline_panel(incidents, view)
    with tab_export:
        if tab_export.open:
            export_panel(store, view, incidents)
    with tab_alerts:
        if tab_alerts.open:
            from dashboard.panels.alerts import alerts_panel

            alerts_panel(store, view, access)
    for tab in tab_import:
        with tab:
            if tab.open:
                upload_panel(store, access)


def table_panel(path: str, version: tuple, view: ViewState, incidents: pd.DataFrame
                ) -> None:
    """The newest incidents of the selection; a row picked selects its incident."""
    newest = load_newest(path, version, view.filter)
    if len(incidents) > len(newest):
        st.caption(f"The newest {len(newest):,} of {len(incidents):,} incidents; "
                   "narrow the filters or export the selection for all of them.")
    shown = queries.table(newest)
    labels = {c: st.column_config.Column(queries.TABLE_LABELS.get(c, c)) for c in shown}
    for column in ("dist_belarus_km", "dist_kaliningrad_km", "dist_border_km"):
        if column in shown:
            labels[column] = st.column_config.NumberColumn(queries.TABLE_LABELS[column],
                                                           format="%.1f")
    # a click on any cell picks its row (a row's own box is small and at its far left)
    picked = st.dataframe(shown, width="stretch", hide_index=True, column_config=labels,
                          on_select=_row_of_cell, selection_mode=["single-row", "single-cell"],
                          key=keys.TABLE)
    _follow_table(newest, picked.selection.rows)


def timeline_panel(incidents: pd.DataFrame, view: ViewState) -> None:
    """Incidents per week and type, in the map's type colours, over the filter's
    period."""
    if incidents.empty:
        st.caption("No incidents in the selection.")
        return
    early, since = queries.began_before(incidents, view.start)
    st.caption("Incidents per week (by start date) and type" + (
        f"; {early:,} ongoing since {since} counted in the first week" if early else ""))
    weekly = queries.weekly_counts(incidents, view.start, view.end)
    st.bar_chart(weekly, stack=True, color=[TYPE_COLOURS[t] for t in weekly.columns])


def summary_panel(incidents: pd.DataFrame, events: pd.DataFrame) -> None:
    """Counts of the selection by type, airspace, confidence and event, as plain text."""
    if incidents.empty:
        st.caption("No incidents in the selection.")
        return
    for column, label in (("type", "By type"), ("country_iso3", "By airspace"),
                          ("confidence", "By confidence")):
        counts = incidents[column].replace("", "none").value_counts()
        st.text(f"{label}: " + " · ".join(f"{k} {v:,}" for k, v in counts.items()))
    by_event = queries.event_counts(incidents, events)
    if by_event:
        st.text("By event (records):\n"
                + "\n".join(f"  {title}: {n:,}" for _, title, n in by_event))


def _row_of_cell() -> None:
    """A cell clicked in the incident table selects its whole row."""
    s = st.session_state
    selection = s[keys.TABLE]["selection"]
    cells = selection.get("cells") or []
    if cells and not selection.get("rows"):
        s[keys.TABLE] = {"selection": {"rows": [cells[0][0]], "columns": [], "cells": []}}


def _follow_table(shown: pd.DataFrame, rows: list[int]) -> None:
    """A row picked in the incident table: select that incident and fly to it."""
    s = st.session_state
    if not rows or rows[0] >= len(shown):
        return
    row = shown.iloc[rows[0]]
    if s.get(keys.TABLE_PICK) == row["id"]:
        return
    s[keys.TABLE_PICK] = s[keys.SELECTED] = row["id"]
    s[keys.VIEW] = (round(float(row["lat"]), 4), round(float(row["lon"]), 4),
                 max(9, int(s[keys.VIEW][2])))
    st.rerun()


EXPORT_FORMATS = {
    ".png": ("Briefing map, PNG", "image/png"),
    ".pdf": ("Briefing map, PDF (vector)", "application/pdf"),
    ".svg": ("Briefing map, SVG (vector)", "image/svg+xml"),
    ".html": ("Interactive map, one offline HTML file", "text/html"),
    ".csv": ("Incidents, CSV", "text/csv"),
    ".geojson": ("Incidents, GeoJSON", "application/geo+json"),
    ".gpkg": ("Incidents, GeoPackage", "application/geopackage+sqlite3"),
    ".parquet": ("Incidents, GeoParquet", "application/vnd.apache.parquet"),
    ".zip": ("Bundle: map, data and manifest (zip)", "application/zip"),
}


@panel
def export_panel(store: Store, view: ViewState, incidents: pd.DataFrame) -> None:
    """Download the current selection as a briefing map, a data file or a bundle."""
    from dashboard.export import CONFIRM_PAGES, ExportRequest, export_bytes, page_count

    st.subheader("Export the current view")
    cols = st.columns(2)
    suffix = cols[0].selectbox("Format", list(EXPORT_FORMATS), key=keys.EXPORT_FORMAT,
                               format_func=lambda k: EXPORT_FORMATS[k][0])
    size = cols[1].selectbox("Page", list(PAGE_SIZES), key=keys.EXPORT_SIZE)
    title = text_box(st, "Title", keys.EXPORT_TITLE, ExportRequest.title)
    marking = text_box(st, "Marking (banner at top and bottom)", keys.EXPORT_MARKING, "",
                       placeholder="e.g. UNCLASSIFIED")
    if title is None or marking is None:
        return
    dpi = st.number_input("PNG resolution (dpi)", *DPI_RANGE, DEFAULT_DPI, step=50,
                          key=keys.EXPORT_DPI)
    extent = st.radio("Extent", ["the map as it is now", "all incidents shown"],
                      key=keys.EXPORT_EXTENT, horizontal=True)
    bbox = st.session_state.get(keys.BOUNDS) if extent.startswith("the map") else None
    request = ExportRequest(view=view, title=title, marking=marking, size=size,
                            dpi=int(dpi), bbox=bbox)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    st.download_button(f"Download {EXPORT_FORMATS[suffix][0]}",
                       data=lambda: export_bytes(store, request, suffix),
                       file_name=f"flankwatch-{stamp}{suffix}",
                       mime=EXPORT_FORMATS[suffix][1], key=keys.EXPORT_DOWNLOAD,
                       on_click="ignore")
    st.caption("Several pages in one PDF, with the page, title and marking above:")
    documents = {"pack": "Briefing pack: map, incident table, timeline, sources",
                 "country": "Atlas: one map per airspace with incidents",
                 "week": "Atlas: one map per week with incidents"}
    document = st.selectbox("Document", list(documents), format_func=documents.get,
                            key=keys.EXPORT_DOCUMENT)
    multi = replace(request, pack=document == "pack",
                    atlas=None if document == "pack" else document)
    empty = incidents.empty or (document == "country"
                                and not incidents["country_iso3"].astype(bool).any())
    pages = page_count(incidents, multi)
    confirmed = pages <= CONFIRM_PAGES or st.checkbox(
        f"This {multi.document} has {pages:,} pages. Make it anyway?", key=keys.EXPORT_CONFIRM)
    asked = (document, view, size, title, marking)
    if st.button(f"Make the PDF ({pages:,} pages)", key=keys.EXPORT_MAKE,
                 disabled=empty or not confirmed,
                 help="Nothing to show in the current view" if empty else None):
        bar = st.progress(0.0, text="Drawing the pages…")
        data = export_bytes(store, replace(multi, max_pages=None), ".pdf",
                            progress=lambda done, total: bar.progress(
                                min(done / total, 1.0), text=f"Page {done:,} of {total:,}"))
        bar.empty()
        st.session_state[keys.EXPORT_MADE] = (asked, data)
    made = st.session_state.get(keys.EXPORT_MADE)
    if made and made[0] == asked:
        st.download_button("Download the PDF", data=made[1],
                           file_name=f"flankwatch-{document}-{stamp}.pdf",
                           mime="application/pdf", key=keys.EXPORT_PACK, on_click="ignore")
    from dashboard.panels.clip import clip_controls

    clip_controls(store, view, request)


@panel
def upload_panel(store: Store, access: Access) -> None:
    """Import a CSV, GeoJSON or ACLED export through the store's one import path, in a
    process of its own (see ``dashboard.import_worker``), in the name of the user."""
    access.require("import")
    st.subheader("Import incidents")
    file = st.file_uploader("CSV (canonical or ACLED), GeoJSON, GeoPackage or GeoParquet",
                            type=["csv", "geojson", "json", "gpkg", "parquet"],
                            key=keys.UPLOAD)
    with st.expander("Which columns a file may have"):
        st.caption("A CSV's header line, or a GeoJSON feature's properties, names them; "
                   "other columns are kept as they are. An ACLED export is recognised by "
                   "its own header. Each row is checked alone: a bad row is listed with "
                   "its number, field and reason, and the others are imported.")
        st.dataframe(queries.column_guide(), width="stretch", hide_index=True)
    if file is None:
        return
    done = st.session_state.get(keys.IMPORTED)
    if done and done[0] == file.file_id:  # imported on the previous run
        notice("success", done[1])
        return
    commit = st.session_state.get(keys.DO_IMPORT, False)
    checked = st.session_state.get(keys.UPLOAD_CHECKED)
    if commit:
        result = _run_upload(store, access, file, commit=True)
    elif checked and checked[0] == file.file_id:
        result = checked[1]  # checked in an earlier run: a map pan reruns the page only
    else:
        result = _run_upload(store, access, file, commit=False)
        st.session_state[keys.UPLOAD_CHECKED] = (file.file_id, result)
    if result.error:
        notice("error", result.error)
        return
    if result.written:  # run the page again: counts and map show the new records
        st.session_state[keys.IMPORTED] = (file.file_id, result.summary)
        st.rerun()
    notice("info", result.summary)
    if len(result.rejects):
        st.dataframe(result.rejects, width="stretch", hide_index=True)
        st.download_button("Download the rejected rows (CSV)", csv_bytes(result.rejects),
                           file_name=f"{Path(file.name).stem}-rejected.csv",
                           mime="text/csv", on_click="ignore", key=keys.REJECTS_DOWNLOAD)
    if result.valid:
        st.button(f"Import {counted(result.valid, 'valid row')}", key=keys.DO_IMPORT)


def _run_upload(store: Store, access: Access, file, *, commit: bool) -> UploadResult:
    """Check (or, with ``commit``, import) an upload in the worker, from a copy on disk;
    an error is worded for the page (the file by its own name, no server path)."""
    suffix = Path(file.name).suffix.lower()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        file.seek(0)
        with open(path, "wb") as fh:  # the upload goes to disk; it is read from there
            shutil.copyfileobj(file, fh, length=1 << 20)
        bar = st.progress(0.0, text="Importing…" if commit else "Checking the file…")
        result = run_import(store.location, path, name=file.name, dry_run=not commit,
                            who=access.user,
                            progress=lambda fraction, text: bar.progress(fraction, text))
        bar.empty()
        if result.error:
            message = without_locations(_as_uploaded(result.error, path, file.name))
            result.error = (message if message.startswith(file.name)
                            else f"{file.name}: {message}")
    return result


def _as_uploaded(message: str, path: Path, name: str) -> str:
    """An error message about the upload's server-side copy, naming the file as the
    user called it (no server path is shown)."""
    return message.replace(str(path), name).replace(str(path.parent), "(upload)")
