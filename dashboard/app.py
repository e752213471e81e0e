"""Flankwatch dashboard: the page's outline. Each panel is drawn by its own module
(``dashboard/panels/``); filters live in the sidebar and in the URL (``dashboard.state``),
the data comes from the incident store (``geo.store``), the map is built by
``dashboard.maps``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from dashboard.access import middleware, remove_old_selections, routes

# The panels are imported in a run of the page, not with this module: the web server
# imports it before Streamlit's runtime exists, when caches cannot be made yet.

log = logging.getLogger("flankwatch.dashboard")

#: A map-first page: little space above the map, and the figures beside it wrap rather
#: than end in "…" on a narrow screen.
PAGE_STYLE = ("<style>.block-container { padding-top: 3.8rem; } .fw-header { font-size: "
              "1.1rem; } [data-testid='stMetricValue'] { font-size: 1.7rem; }"
              " [data-testid='stMetricValue'] .stMarkdownEllipsis,"
              " [data-testid='stMetricValue'] p { white-space: normal;"
              " overflow: visible; }"
              # the map fills the window below the header (whatever height streamlit-folium
              # gave its frame); its lower right corner draws it taller or shorter (the
              # padding keeps that corner clear of the map's frame, which would take the
              # drag)
              " .st-key-fw-map { height: calc(100dvh - 7.5rem);"
              " flex: none !important; min-height: 320px; resize: vertical;"
              " overflow: hidden; padding-bottom: 12px; gap: 0; }"
              " .st-key-fw-map > div, .st-key-fw-map > div > div,"
              " .st-key-fw-map iframe { height: 100% !important; }"
              # beside the map, the figures and details are a box of the map's height that
              # scrolls: a long detail panel never pushes the tabs and the table down
              " @media (min-width: 1101px) {"
              " .st-key-fw-main [data-testid='stHorizontalBlock'] { align-items: stretch; }"
              " .st-key-fw-main [data-testid='stColumn']:last-child { position: relative; }"
              " .st-key-fw-main [data-testid='stColumn']:last-child >"
              " [data-testid='stVerticalBlock'] { position: absolute; inset: 0;"
              " overflow-y: auto; padding-right: 6px; flex-wrap: nowrap; } }"
              # below 1100 px the details go under the map, at its full width (beside it
              # they were a column too narrow for their own labels)
              " @media (max-width: 1100px) { .st-key-fw-main [data-testid='stHorizontalBlock']"
              " { flex-wrap: wrap; } .st-key-fw-main [data-testid='stColumn'] {"
              " flex: 1 1 100% !important; width: 100% !important;"
              " min-width: 100% !important; } }</style>")

#: The page's own script (the sidebar folds on a narrow window).
PAGE_SCRIPT = Path(__file__).resolve().parent / "web" / "page" / "narrow.js"


def main() -> None:
    """Lay out the page."""
    from dashboard import keys, queries
    from dashboard.panels.alerts import unacknowledged
    from dashboard.panels.common import header
    from dashboard.panels.data import count_region_only, get_store, load_incidents, load_table
    from dashboard.panels.details import detail_panel, history_panel
    from dashboard.panels.map import explicit_view, figures_panel, map_page, map_panel
    from dashboard.panels.session import deliver_alerts_in_background, forget_clicks, signed_in
    from dashboard.panels.sidebar import address_warnings, search_panel, sidebar, start_session
    from dashboard.panels.tabs import tabs_panel
    from dashboard.panels.views import views_panel
    from dashboard.vendor import missing_assets
    from geo.store import store_location

    access = signed_in()
    if missing_assets():
        forget_clicks(nothing_drawn=True)
        st.error("The map's Leaflet files are missing; run `make dashboard` (or "
                 "`python -m dashboard.vendor`) once to fetch them.")
        st.stop()
    store = get_store(str(store_location()))
    deliver_alerts_in_background(store.location, store)
    path, version = store.location, store.version()
    if not st.session_state.get(keys.INITIALISED):
        # the first map fits the selection unless the address says where to look
        st.session_state[keys.FIT] = not explicit_view(st.query_params)
        start_session(store)
    low, high = store.date_range()
    span = (low.date(), high.date()) if low is not None else None
    search_panel(path, version)
    view = sidebar(store, span)
    incidents = load_incidents(path, version, view.filter)
    sources = queries.source_titles(load_table(path, version, "sources"))

    header(unacknowledged(store))
    address_warnings()
    left, right = st.container(key=keys.MAIN).columns([3, 1])
    page = map_page(path, version, view, incidents, sources)
    with right:
        figures_panel(incidents, view, count_region_only(path, version, view.filter))
    with left:
        view = map_panel(page, view, incidents)
    with right:
        detail_panel(store, view.selected, sources)
        if view.selected:
            history_panel(store, version, view.selected, access)
    st.query_params.from_dict(view.to_query())
    views_panel(store, view, access)
    tabs_panel(store, version, view, incidents, access)


def run() -> None:
    """The page, with the project's own message for an unexpected failure: the details
    go to the server's log, never to the visitor (no traceback, no server path)."""
    from dashboard.panels.common import notice, without_locations
    from dashboard.panels.session import forget_clicks, warn_if_open
    from geo.errors import FlankwatchError

    st.set_page_config(page_title="Flankwatch", layout="wide")
    st.html(PAGE_STYLE)
    with st.sidebar:  # (in the page, where it takes no room above the map)
        st.html(f"<script>{PAGE_SCRIPT.read_text(encoding='utf-8')}</script>",
                unsafe_allow_javascript=True)
    warn_if_open()
    try:
        main()
    except FlankwatchError as exc:
        forget_clicks()
        log.warning("shown to the visitor: %s", exc)
        notice("error", without_locations(str(exc)))
    except Exception:
        forget_clicks()
        log.exception("the dashboard failed")
        notice("error", "Something went wrong on the server; the page could not be shown. "
                        "The details are in the server's log.")


if __name__ == "__main__":  # a run of the page (Streamlit runs the script as __main__)
    run()
else:  # imported by the web server, which `streamlit run` finds here: the page's routes
    remove_old_selections()
    app = st.App(__file__, routes=routes(), middleware=middleware())
