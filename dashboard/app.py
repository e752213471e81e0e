"""Flankwatch dashboard: page layout only.

Filters live in the sidebar and in the URL (``dashboard.state``); the data comes from
the incident store (``geo.store``); the map is built by ``dashboard.maps``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import queries
from dashboard.access import (
    Access,
    AccessDeniedError,
    access_from_claims,
    auth_configured,
    cookie_claims,
    middleware,
    remove_old_selections,
    routes,
    sign_in_settings,
    sign_in_state,
    single_user,
)
from dashboard.export import MARKING_MAX, TITLE_MAX
from dashboard.import_worker import UploadResult, run_import
from dashboard.maps import (
    POPUP_LIMIT,
    MapOptions,
    build_map,
    fmt_date,
    fmt_km,
    publish,
)
from dashboard.state import (
    NEAR_TARGETS,
    PARAMETER_READERS,
    PLACE_MAX,
    TIME_PARAMETERS,
    ViewState,
    encode_area,
    parse_bands,
)
from dashboard.style import (
    BASEMAPS,
    DEFAULT_BANDS_KM,
    DEFAULT_DPI,
    DPI_RANGE,
    LAYER_LABELS,
    PAGE_SIZES,
    TYPE_COLOURS,
)
from dashboard.text import Markup, facts_html, link_html, notice_html
from dashboard.vendor import missing_assets
from geo.errors import FlankwatchError, GeocodeError, InputError
from geo.filters import IncidentFilter, describe_area, geodesic_circle, place_point
from geo.schema import CONFIDENCES, INCIDENT_TYPES, split_list
from geo.store import open_store, store_location
from geo.store.base import Store
from geo.store.views import NAME_MAX, delete_view, get_view, list_views, rename_view, save_view

log = logging.getLogger("flankwatch.dashboard")

#: A map-first page: little space above the map, and the figures beside it wrap rather
#: than end in "…" on a narrow screen.
PAGE_STYLE = ("<style>.block-container { padding-top: 3.8rem; } .fw-header { font-size: "
              "1.1rem; } [data-testid='stMetricValue'] { font-size: 1.7rem; }"
              " [data-testid='stMetricValue'] .stMarkdownEllipsis,"
              " [data-testid='stMetricValue'] p { white-space: normal;"
              " overflow: visible; }"
              # below 1100 px the details go under the map, at its full width (beside it
              # they were a column too narrow for their own labels)
              " @media (max-width: 1100px) { .st-key-fw-main [data-testid='stHorizontalBlock']"
              " { flex-wrap: wrap; } .st-key-fw-main [data-testid='stColumn'] {"
              " flex: 1 1 100% !important; width: 100% !important;"
              " min-width: 100% !important; } }</style>")


@st.cache_resource
def warn_if_open() -> None:
    """Once per server: say in the log when the dashboard listens beyond this machine
    with no sign-in configured (anyone who reaches it can read and import)."""
    address = str(st.get_option("server.address") or "")
    if not auth_configured() and not is_loopback(address):
        log.warning("the dashboard listens on %s with no sign-in ([auth] is not set in "
                    ".streamlit/secrets.toml): anyone who can reach it can read the store "
                    "and import into it", address or "every network interface")


def is_loopback(address: str) -> bool:
    """Whether a listening address is this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # "" (every interface) or a host name
        return False


def _who() -> tuple[Access | None, str]:
    """Who uses the page, as the settings and the sign-in cookie say now, without
    drawing anything, and why they are refused ("" when they are not): "settings"
    (sign-in required, its settings unreadable), "anonymous" (not signed in) or "no
    role" (the access is then the signed-in user's, with no role)."""
    required, usable = sign_in_state()
    if not required:
        return single_user(), ""
    if not usable:
        return None, "settings"
    # the sign-in cookie as the gate reads it (a cookie in parts only when its parts were
    # set together), not st.user, which joins any parts it is given
    claims = cookie_claims(st.context.cookies) if st.user.is_logged_in else None
    access = access_from_claims(claims)
    if access is None:
        return None, "anonymous"
    return access, "" if access.role is not None else "no role"


def current_access() -> Access | None:
    """Who uses the page now (None when refused): see :func:`_who`."""
    access, refused = _who()
    return None if refused else access


def signed_in() -> Access:
    """Who uses the page. With sign-in on, a visitor who is not signed in sees the
    sign-in button only (nothing of the store is read), and a refused user a word
    saying so; the page stops there."""
    access, refused = _who()
    if not refused:
        if access.signed_in:
            st.sidebar.text(f"Signed in as {access.user} ({access.role})")
            st.sidebar.button("Sign out", on_click=st.logout, key="sign_out")
        return access
    forget_clicks(nothing_drawn=True)
    header()
    if refused == "settings":
        st.text("Sign-in is required for this dashboard but its settings cannot be read "
                "just now; try again in a minute, or ask an administrator.")
        log.error("sign-in is required (set earlier in this server's life or by "
                  "FLANKWATCH_REQUIRE_SIGN_IN) but %s; everyone is refused until it is "
                  "mended", "the secrets file cannot be read"
                  if sign_in_settings() == "unreadable" else "the secrets have no [auth]")
    elif refused == "anonymous":
        st.write("Sign in with your organisation's account to see the incident map.")
        st.button("Sign in", on_click=st.login, type="primary", key="sign_in")
    else:
        st.text(f"{access.user} has no Flankwatch role; ask an administrator for one.")
        st.button("Sign out", on_click=st.logout, key="sign_out")
    st.stop()


def forget_clicks(*, nothing_drawn: bool = False) -> None:
    """After a run that failed or stopped early: what a click asked for and the run has
    not done is dropped (never done later, in another run). After a run that drew none
    of the filters (``nothing_drawn``), the next run sets them again from the page's
    address: widgets a run does not draw lose their values."""
    for asked in ("pending_save", "views_failed", "history_failed"):
        st.session_state.pop(asked, None)
    if nothing_drawn:
        st.session_state.pop("initialised", None)


def header() -> None:
    st.html('<div class="fw-header"><b>Flankwatch</b> · airspace incidents on NATO\'s '
            'eastern flank</div>')


PRESETS = ["all", "last 7 days", "last 30 days", "last 90 days"]


@st.cache_resource
def get_store(path: str) -> Store:
    """The incident store (created from the seeds on first use)."""
    return open_store(path)


# Keyed on the store filters only: switching layers or moving the map reads nothing.
@st.cache_data(max_entries=16)
def load_incidents(path: str, version: tuple, filters: IncidentFilter) -> pd.DataFrame:
    return queries.filtered_incidents(get_store(path), filters, full_below=POPUP_LIMIT)


@st.cache_data(max_entries=16)
def load_newest(path: str, version: tuple, filters: IncidentFilter) -> pd.DataFrame:
    return queries.newest_incidents(get_store(path), filters)


@st.cache_data(max_entries=4)
def load_table(path: str, version: tuple, name: str) -> pd.DataFrame:
    return get_store(path).records(name)


@st.cache_data(max_entries=16)
def load_versions(path: str, version: tuple, selected: str) -> list:
    """Every version of an incident (none when the store has no trace of it): read once
    per import, not on every rerun the incident stays selected."""
    from geo.store.history import versions

    try:
        return versions(get_store(path), "incidents", selected)
    except InputError:  # no trace of it (a store error is not kept: it is raised)
        return []


@st.cache_data(max_entries=4)
def load_crossings(path: str, version: tuple) -> pd.DataFrame:
    return queries.track_crossings(get_store(path).records("tracks"))


@st.cache_resource
def get_gazetteer():
    """Place names for the search box (read once per server)."""
    from geo.gazetteer import load_gazetteer

    return load_gazetteer()


@st.cache_data(max_entries=4)
def load_search_table(path: str, version: tuple) -> pd.DataFrame:
    return get_store(path).incidents(columns=queries.SEARCH_COLUMNS)


def search_panel(path: str, version: tuple) -> None:
    """Search places and incidents; a new search goes to its first hit, the list offers
    the others. An incident found is selected."""
    s = st.session_state
    text = text_box(st.sidebar, "Search", "search",
                    placeholder="A place (Wilno, Гродно), an incident id or words of a title")
    if not text or not text.strip():
        return
    hits = queries.search(get_gazetteer(), load_search_table(path, version), text)
    if not hits:
        st.sidebar.text(f"Nothing found for {text!r}.")  # (text: never Markdown)
        return
    if s.get("searched") != text:  # a new search: to its first hit
        s["searched"] = text
        s["search_pick"] = 0
    # a select box: its options are plain text (a radio's would be read as Markdown,
    # and the hits quote titles from the data)
    pick = st.sidebar.selectbox("Found", range(len(hits)), key="search_pick",
                                format_func=lambda k: hits[k].label)
    if s.get("search_went") != (text, pick):
        s["search_went"] = (text, pick)
        hit = hits[pick]
        s["view"] = (round(hit.lat, 4), round(hit.lon, 4), hit.zoom)
        if hit.incident:
            s["selected"] = hit.incident


def init_widgets(view: ViewState) -> None:
    """Seed the widgets from the URL's view, once per session."""
    s = st.session_state
    s["period"] = "custom" if (view.start or view.end) else "all"
    s["dates"] = tuple(d for d in (view.start, view.end) if d)
    s["types"] = list(view.types or [])
    s["countries"] = list(view.countries or [])
    s["confidence"] = list(view.confidence or [])
    s["near_target"] = view.near[0] if view.near else "none"
    s["near_km"] = float(view.near[1]) if view.near else 50.0
    s["layers"] = list(view.layers)
    s["bands"] = ", ".join(f"{b:g}" for b in view.bands_km)
    s["basemap"] = view.basemap
    s["view"] = view.view
    s["origin"] = view.view  # where the map is built; later moves go through st_folium
    s["selected"] = view.selected
    s["time_origin"] = view.time  # the map's time control keeps its own state after
    s["bbox"] = view.bbox
    s["area"] = view.area
    s["around_place"] = view.around[0] if view.around else ""
    s["around_km"] = float(view.around[1]) if view.around else 30.0
    s["initialised"] = True


def sidebar(store: Store, years: list[int]) -> ViewState:
    """The filter controls; returns the view they describe."""
    s = st.session_state
    st.sidebar.header("Filters")
    periods = [*PRESETS, *map(str, years), "custom"]
    period = st.sidebar.selectbox("Period", periods, key="period")
    if period == "custom":
        picked = st.sidebar.date_input("Date range", key="dates", format="YYYY-MM-DD")
        picked = tuple(picked) if isinstance(picked, tuple | list) else (picked,)
        start, end = (*picked, None, None)[:2]
    else:
        start, end = queries.preset_range(period, dt.datetime.now(dt.UTC).date())
    types = st.sidebar.multiselect("Incident types", INCIDENT_TYPES, key="types",
                                   placeholder="All types")
    countries_known = store.distinct("country_iso3")
    options = sorted(set(countries_known) | set(s["countries"]))
    countries = st.sidebar.multiselect("Countries (airspace)", options, key="countries",
                                       placeholder="All countries")
    confidence = st.sidebar.multiselect("Confidence", CONFIDENCES, key="confidence",
                                        placeholder="Any confidence")
    target = st.sidebar.selectbox("Within a distance of", ["none", *NEAR_TARGETS],
                                  key="near_target", format_func=str.title)
    near = None
    if target != "none":
        near = (target, st.sidebar.number_input("km", min_value=1.0, max_value=2000.0,
                                                step=10.0, key="near_km"))
    area_panel()
    around = _around()
    st.sidebar.header("Map")
    layers = st.sidebar.multiselect("Layers", list(LAYER_LABELS), key="layers",
                                    format_func=LAYER_LABELS.get)
    bands = _bands(text_box(st.sidebar, "Distance bands (km)", "bands"))
    basemap = st.sidebar.radio("Basemap", BASEMAPS, key="basemap", horizontal=True,
                               help="Online basemaps load tiles from the internet; "
                                    "the offline one never leaves this server.")
    return ViewState(start=start, end=end, types=tuple(types) or None,
                     countries=tuple(countries) or None,
                     confidence=tuple(confidence) or None, near=near,
                     layers=tuple(layers), bands_km=bands, basemap=basemap,
                     view=s["view"], selected=s["selected"], time=_time_in_address(),
                     bbox=s["bbox"], area=s["area"], around=around)


def _around() -> tuple[str, float] | None:
    """The "around a place" filter: a place name (any name the gazetteer knows) and a
    distance; an unknown or ambiguous name is reported and the filter left off."""
    name = text_box(st.sidebar, "Around a place", "around_place",
                    placeholder="e.g. Vilnius, Wilno, Hrodna")
    if not name or not name.strip():
        return None
    km = st.sidebar.number_input("km around it", min_value=1.0, max_value=2000.0,
                                 step=10.0, key="around_km")
    try:
        place_point(name)
    except GeocodeError as exc:
        st.sidebar.html(notice_html("error", f"Around a place: {exc}"))
        return None
    return name.strip(), float(km)


def area_panel() -> None:
    """The area filter: what is set (a box from the address, or an area drawn with the
    map's rectangle and polygon tools), and a button to clear it."""
    s = st.session_state
    if not (s["bbox"] or s["area"]):
        st.sidebar.caption("Area: draw a rectangle or polygon on the map (tools at its "
                           "top left) to keep only the incidents inside it.")
        return
    st.sidebar.text("Area: " + " and ".join(describe_area(s["bbox"], s["area"])))
    if st.sidebar.button("Clear the area", key="clear_area"):
        s["bbox"] = s["area"] = None
        s["last_drawing"] = None
        st.rerun()


def _time_in_address():
    """The time control's state as the map last wrote it into the page's address (the
    browser owns it: it moves without a rerun)."""
    query = st.query_params.to_dict()
    return ViewState.from_query({k: query[k] for k in TIME_PARAMETERS if k in query}).time


def _bands(text: str | None) -> tuple[float, ...]:
    try:
        return parse_bands(text or "")
    except ValueError as exc:
        st.sidebar.html(notice_html("error", f"Distance bands: {exc}"))
        return DEFAULT_BANDS_KM


#: The longest text each text box takes, characters: the box stops typing there, and a
#: longer text (which only a crafted message can send) is refused with the limit named.
TEXT_LIMITS = {"search": 100, "around_place": PLACE_MAX, "bands": 60,
               "shared_name": NAME_MAX, "shared_rename": NAME_MAX,
               "export_title": TITLE_MAX, "export_marking": MARKING_MAX}


def text_box(where, label: str, key: str, *value: str, **options) -> str | None:
    """A text box of at most ``TEXT_LIMITS[key]`` characters, and its text; None, with
    an error naming the limit, for a longer text."""
    limit = TEXT_LIMITS[key]
    text = where.text_input(label, *value, key=key, max_chars=limit, **options)
    if len(text) <= limit:
        return text
    where.html(notice_html("error", f"{label}: at most {limit} characters "
                                    f"({len(text):,} sent); not used"))
    return None


def detail_panel(store: Store, selected: str | None,
                 sources: dict[str, tuple[str, str]]) -> None:
    """Facts of the incident clicked on the map; every value shown as plain text."""
    st.markdown("**Selected incident**")
    row = store.incident(selected) if selected else None
    if row is None:
        st.caption("Click an incident on the map to see its details here.")
        return
    facts = {
        "id": selected, "date": fmt_date(row), "type": row["type"],
        "confidence": row["confidence"],
        "airspace": row["country_name"] or "none (international)",
        "location": f"{row['location_label']} "
                    f"({row['location_precision'] or 'precision not stated'})",
        "position basis": row["location_basis"],
        "from Belarus": fmt_km(row["dist_belarus_km"]),
        "from Kaliningrad": fmt_km(row["dist_kaliningrad_km"]),
        "nearest border": f"{row['nearest_border']} at {fmt_km(row['dist_border_km'])}"
        if row["nearest_border"] else "—",
        "origin": row["origin"], "description": row["description"], "notes": row["notes"],
    }
    shown = [(k, "" if v is None or pd.isna(v) else str(v)) for k, v in facts.items()]
    links = [Markup(link_html(*sources.get(i, (i, "")))) for i in split_list(row["sources"])]
    if links:
        shown.append(("sources", Markup("<br>".join(links))))
    st.html(facts_html(shown, title=row["title"] or selected))


def start_session(store: Store) -> None:
    """The widgets of a new session, from the URL (or the shared view it names)."""
    query = st.query_params.to_dict()
    if "shared" in query:  # a shared view's link: the view it names
        shared = get_view(store, query["shared"])
        if shared is None:
            notice("warning", f"No shared view {query['shared']!r} (deleted?); the "
                              "default view is shown.")
        query = shared.query if shared else {}
    for warning in _open_view(query).warnings:
        notice("warning", warning)


def views_panel(store: Store, view: ViewState, access: Access) -> None:
    """The team's shared views: open one (everyone), save the current view (analysts),
    rename or delete one (its owner, or an admin). Each has a lasting link."""
    st.sidebar.header("Shared views")
    s = st.session_state
    name = s.pop("pending_save", None)
    if name is not None:  # asked for by the button: saved as the view is in this run
        try:
            access.require("save view")
            s["shared_pick"] = save_view(store, name, view.to_query(), access.user).view_id
        except FlankwatchError as exc:
            _not_done("views_failed", exc)
    found = {v.view_id: v for v in list_views(store)}
    if found:
        picked = st.sidebar.selectbox("Views", list(found), key="shared_pick",
                                      format_func=lambda k: found[k].name)
        chosen = found[picked]
        st.sidebar.button("Open this view", key="shared_open", on_click=_open_view,
                          args=(chosen.query,))
        st.sidebar.text(f"By {chosen.owner}, {chosen.updated_at}\n"
                        f"Link: {_link(chosen.view_id)}")
        if chosen.owner == access.user or access.can("manage views"):
            with st.sidebar.expander("Rename or delete"):
                text_box(st, "New name", "shared_rename")
                # the owner, whatever their role now, or an admin: geo.store.views checks
                # which, in its transaction
                st.button("Rename", key="shared_rename_do", on_click=_write,
                          args=(rename_view, "read", "views_failed", store),
                          kwargs={"widgets": {"view_id": "shared_pick",
                                              "name": "shared_rename"}, "as_admin": True})
                st.button("Delete", key="shared_delete", on_click=_write,
                          args=(delete_view, "read", "views_failed", store),
                          kwargs={"widgets": {"view_id": "shared_pick"}, "as_admin": True})
    else:
        st.sidebar.caption("No shared views yet.")
    if access.can("save view"):
        text_box(st.sidebar, "Save the current view as", "shared_name",
                 placeholder="a name the team will see")
        st.sidebar.button("Save for the team", key="shared_save", on_click=_ask_save)
    failed = s.pop("views_failed", None)
    if failed:
        st.sidebar.html(notice_html("error", failed))


def _ask_save() -> None:
    """The save button's callback: the view is saved in the run that follows, as it is
    then (a change made in the same instant is not left out), when the role allows it
    both now and in that run."""
    try:
        _clicking_user("save view")
    except FlankwatchError as exc:
        _not_done("views_failed", exc)
        return
    st.session_state["pending_save"] = st.session_state.get("shared_name", "")


def _clicking_user(action: str) -> Access:
    """The user signed in at the moment of a click, when their role allows ``action``
    (the page may have been drawn for another role); else AccessDeniedError."""
    access = current_access()
    if access is None:
        raise AccessDeniedError("you are no longer signed in, or have no role")
    access.require(action)
    return access


def _not_done(key: str, exc: Exception) -> None:
    """Keep a refused or failed write's reason under ``key`` for the page to show."""
    st.session_state[key] = without_locations(f"Not done: {exc}")


def _write(change, action: str, failed_key: str, store: Store, *args,
           widgets: dict | None = None, as_admin: bool = False, **kwargs) -> None:
    """A write, run as its button's callback (before the next run, exactly once,
    whatever reruns follow), in the name of the user signed in now, whose role is
    checked again here, on the server; ``widgets`` maps keyword arguments to the
    widgets whose values they take, as they are at the click (not as drawn);
    ``as_admin``: ``change`` also takes whether the user may manage anyone's views. A
    refusal is kept under ``failed_key`` for the page to show."""
    s = st.session_state
    kwargs.update({name: s.get(key, "") for name, key in (widgets or {}).items()})
    try:
        access = _clicking_user(action)
        if as_admin:
            kwargs["admin"] = access.can("manage views")
        change(store, *args, who=access.user, **kwargs)
    except FlankwatchError as exc:
        _not_done(failed_key, exc)


def _open_view(query: dict) -> ViewState:
    """The widgets set from a view's URL state (the session's address, or a shared view
    opened before the next run); returns the view read, with its warnings."""
    opened = ViewState.from_query(query)
    init_widgets(opened)
    return opened


def _link(view_id: str) -> str:
    """The lasting address of a shared view."""
    from urllib.parse import quote

    base = st.context.url or ""
    return f"{base}?shared={quote(view_id)}"


def history_panel(store: Store, version: tuple, selected: str, access: Access) -> None:
    """The selected incident's versions, what each import changed, and (for an admin) a
    revert to an earlier version, logged under the admin's name."""
    from geo.store.history import changes, revert

    found = load_versions(store.location, version, selected)
    if not found:
        return
    with st.expander(f"History: {len(found)} version{'s' if len(found) > 1 else ''}"):
        for before, after in itertools.pairwise(found):
            by = f" by {before.replaced_by_user}" if before.replaced_by_user else ""
            st.text(f"Version {after.number}: {before.replaced_by_file or 'an import'}"
                    f"{by}, {before.replaced_at}")
            for column, old, new in changes("incidents", before, after):
                st.text(f"  {column}: {old!r} → {new!r}")
        earlier = [v.number for v in found if not v.current]
        if not earlier or not access.can("revert"):
            return
        number = st.selectbox("Revert to version", earlier[::-1], key="revert_to")
        st.button(f"Revert to version {number}", key="revert", on_click=_write,
                  args=(revert, "revert", "history_failed", store, "incidents", selected),
                  kwargs={"widgets": {"number": "revert_to"}})
        failed = st.session_state.pop("history_failed", None)
        if failed:
            notice("error", failed)


def notice(kind: str, message: object) -> None:
    """A message shown exactly as written (no Markdown: it may quote file names and
    values from the data)."""
    st.html(notice_html(kind, message))


def summary_panel(incidents: pd.DataFrame) -> None:
    """Counts of the selection by type, airspace and confidence, as plain text."""
    if incidents.empty:
        st.caption("No incidents in the selection.")
        return
    for column, label in (("type", "By type"), ("country_iso3", "By airspace"),
                          ("confidence", "By confidence")):
        counts = incidents[column].replace("", "none").value_counts()
        st.text(f"{label}: " + " · ".join(f"{k} {v:,}" for k, v in counts.items()))


EXPORT_FORMATS = {
    ".png": ("Briefing map, PNG", "image/png"),
    ".pdf": ("Briefing map, PDF (vector)", "application/pdf"),
    ".svg": ("Briefing map, SVG (vector)", "image/svg+xml"),
    ".html": ("Interactive map, one offline HTML file", "text/html"),
    ".csv": ("Incidents, CSV", "text/csv"),
    ".geojson": ("Incidents, GeoJSON", "application/geo+json"),
    ".gpkg": ("Incidents, GeoPackage", "application/geopackage+sqlite3"),
    ".zip": ("Bundle: map, data and manifest (zip)", "application/zip"),
}


def export_panel(store: Store, view: ViewState, incidents: pd.DataFrame) -> None:
    """Download the current selection as a briefing map, a data file or a bundle."""
    from dashboard.export import ExportRequest, export_bytes

    st.subheader("Export the current view")
    cols = st.columns(2)
    suffix = cols[0].selectbox("Format", list(EXPORT_FORMATS), key="export_format",
                               format_func=lambda k: EXPORT_FORMATS[k][0])
    size = cols[1].selectbox("Page", list(PAGE_SIZES), key="export_size")
    title = text_box(st, "Title", "export_title", ExportRequest.title)
    marking = text_box(st, "Marking (banner at top and bottom)", "export_marking", "",
                       placeholder="e.g. UNCLASSIFIED")
    if title is None or marking is None:
        return
    dpi = st.number_input("PNG resolution (dpi)", *DPI_RANGE, DEFAULT_DPI, step=50,
                          key="export_dpi")
    extent = st.radio("Extent", ["the map as it is now", "all incidents shown"],
                      key="export_extent", horizontal=True)
    bbox = st.session_state.get("bounds") if extent.startswith("the map") else None
    request = ExportRequest(view=view, title=title, marking=marking, size=size,
                            dpi=int(dpi), bbox=bbox)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    st.download_button(f"Download {EXPORT_FORMATS[suffix][0]}",
                       data=lambda: export_bytes(store, request, suffix),
                       file_name=f"flankwatch-{stamp}{suffix}",
                       mime=EXPORT_FORMATS[suffix][1], key="export_download",
                       on_click="ignore")
    st.caption("Several pages in one PDF, with the page, title and marking above:")
    documents = {"pack": "Briefing pack: map, incident table, timeline, sources",
                 "country": "Atlas: one map per airspace with incidents",
                 "week": "Atlas: one map per week with incidents"}
    document = st.selectbox("Document", list(documents), format_func=documents.get,
                            key="export_document")
    multi = replace(request, pack=document == "pack",
                    atlas=None if document == "pack" else document)
    empty = incidents.empty or (document == "country"
                                and not incidents["country_iso3"].astype(bool).any())
    st.download_button("Download the PDF", data=lambda: export_bytes(store, multi, ".pdf"),
                       file_name=f"flankwatch-{document}-{stamp}.pdf",
                       mime="application/pdf", key="export_pack", on_click="ignore",
                       disabled=empty, help="Nothing to show in the current view"
                       if empty else None)


def upload_panel(store: Store, access: Access) -> None:
    """Import a CSV, GeoJSON or ACLED export through the store's one import path, in a
    process of its own (see ``dashboard.import_worker``), in the name of the user."""
    access.require("import")
    st.subheader("Import incidents")
    file = st.file_uploader("CSV (canonical or ACLED), GeoJSON or GeoPackage",
                            type=["csv", "geojson", "json", "gpkg"], key="upload")
    if file is None:
        return
    done = st.session_state.get("imported")
    if done and done[0] == file.file_id:  # imported on the previous run
        notice("success", done[1])
        return
    commit = st.session_state.get("do_import", False)
    checked = st.session_state.get("upload_checked")
    if commit:
        result = _run_upload(store, access, file, commit=True)
    elif checked and checked[0] == file.file_id:
        result = checked[1]  # checked in an earlier run: a map pan reruns the page only
    else:
        result = _run_upload(store, access, file, commit=False)
        st.session_state["upload_checked"] = (file.file_id, result)
    if result.error:
        notice("error", result.error)
        return
    if result.written:  # run the page again: counts and map show the new records
        st.session_state["imported"] = (file.file_id, result.summary)
        st.rerun()
    notice("info", result.summary)
    if len(result.rejects):
        st.dataframe(result.rejects, width="stretch", hide_index=True)
    if result.valid:
        st.button(f"Import {result.valid} valid rows", key="do_import")


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


def without_locations(message: str) -> str:
    """A message as a visitor sees it: the store's file or address, and the server's
    own folder, never shown ("store /srv/x.gpkg: …" reads "the store: …")."""
    from geo.settings import ROOT_DIR
    from geo.store import is_store_url
    from geo.store.postgis import shown_url

    location = str(store_location())
    forms = {location}
    if is_store_url(location):
        forms.add(shown_url(location))
    else:
        forms.add(str(Path(location).resolve()))
    for form in sorted(forms, key=len, reverse=True):
        message = message.replace(f"store {form}", "the store").replace(form, "the store")
    return message.replace(str(ROOT_DIR), "(the server)")


def _as_uploaded(message: str, path: Path, name: str) -> str:
    """An error message about the upload's server-side copy, naming the file as the
    user called it (no server path is shown)."""
    return message.replace(str(path), name).replace(str(path.parent), "(upload)")


def main() -> None:
    """Lay out the page."""
    # imported here, in a run of the page: imported with the module by the web server,
    # before Streamlit's runtime exists, the map component would not be registered
    from streamlit_folium import st_folium

    access = signed_in()
    if missing_assets():
        forget_clicks(nothing_drawn=True)
        st.error("The map's Leaflet files are missing; run `make dashboard` (or "
                 "`python -m dashboard.vendor`) once to fetch them.")
        st.stop()
    store = get_store(str(store_location()))
    path, version = store.location, store.version()
    if not st.session_state.get("initialised"):
        start_session(store)
    low, high = store.date_range()
    years = list(range(high.year, low.year - 1, -1)) if low is not None else []
    search_panel(path, version)
    view = sidebar(store, years)
    filters = view.filter
    incidents = load_incidents(path, version, filters)
    sources = queries.source_titles(load_table(path, version, "sources"))

    header()
    left, right = st.container(key="fw-main").columns([3, 1])
    # The map is built at the session's first view: a moved view would change the page
    # and make the component start over (closing popups). Moves go through st_folium.
    lat0, lon0, zoom0 = st.session_state["origin"]
    opts = MapOptions(layers=view.layers, bands_km=view.bands_km, basemap=view.basemap,
                      center=(lat0, lon0), zoom=int(zoom0), sources=sources,
                      time=st.session_state["time_origin"], outlines=_outlines(view),
                      drawing=True)
    lat, lon, zoom = view.view
    deployments = queries.in_period(load_table(path, version, "deployments"), view.start,
                                    view.end)
    page = build_map(incidents, deployments=deployments,
                     defense_lines=load_table(path, version, "defense_lines"),
                     tracks=load_table(path, version, "tracks"),
                     crossings=load_crossings(path, version), options=opts)
    with right:  # the counts beside the map, so that the map starts at the top
        st.metric("Incidents shown", len(incidents))
        first, last = queries.period_text(incidents)
        st.metric("Period", f"{first} – {last}" if first != last else first)
        st.caption(f"Airspaces: {incidents['country_iso3'].replace('', pd.NA).nunique()}")
    with left:
        out = st_folium(publish(page), key="map", height=opts.height, use_container_width=True,
                        center=(lat, lon), zoom=int(zoom),
                        feature_group_to_add=_highlight(incidents, view.selected),
                        returned_objects=["last_object_clicked", "zoom", "center",
                                          "bounds", "last_active_drawing"])
    view = _follow_map(out or {}, incidents, view)
    with right:
        detail_panel(store, view.selected, sources)
        if view.selected:
            history_panel(store, version, view.selected, access)
    st.query_params.from_dict(view.to_query())
    views_panel(store, view, access)

    # only the open tab is computed and sent (the chart and the table are not free)
    names = ["Summary", "Incidents", "Timeline", "Export"]
    names += ["Import"] if access.can("import") else []  # checked again on importing
    tab_summary, tab_table, tab_time, tab_export, *tab_import = st.tabs(
        names, key="tab", on_change="rerun")
    with tab_summary:  # light first paint: the table's grid costs the browser seconds
        if tab_summary.open:
            summary_panel(incidents)
    with tab_table:
        if tab_table.open:
            newest = load_newest(path, version, filters)
            if len(incidents) > len(newest):
                st.caption(f"The newest {len(newest):,} of {len(incidents):,} incidents; "
                           "narrow the filters or export the selection for all of them.")
            picked = st.dataframe(queries.table(newest), width="stretch", hide_index=True,
                                  on_select="rerun", selection_mode="single-row",
                                  key="table")
            _follow_table(newest, picked.selection.rows)
    with tab_time:
        if tab_time.open:
            if incidents.empty:
                st.caption("No incidents in the selection.")
            else:
                st.caption("Incidents per week (by start date) and type")
                weekly = queries.weekly_counts(incidents)
                st.bar_chart(weekly, stack=True,
                             color=[TYPE_COLOURS[t] for t in weekly.columns])
    with tab_export:
        if tab_export.open:
            export_panel(store, view, incidents)
    for tab in tab_import:
        with tab:
            if tab.open:
                upload_panel(store, access)


def _follow_map(out: dict, incidents: pd.DataFrame, view: ViewState) -> ViewState:
    """Selection and map position from the map's last interaction."""
    s = st.session_state
    clicked = out.get("last_object_clicked")
    zoom = out.get("zoom") or view.view[2]
    if clicked and clicked != s.get("last_click"):
        s["last_click"] = clicked
        found = queries.incident_at(incidents, clicked["lat"], clicked["lng"], int(zoom))
        if found:
            s["selected"] = found
    drawing = out.get("last_active_drawing")
    if drawing and drawing != s.get("last_drawing"):
        s["last_drawing"] = drawing
        ring = _drawn_ring(drawing)
        if ring:  # a new area: the counts, table and exports follow it
            s["area"] = ring
            st.rerun()
    bounds = out.get("bounds") or {}
    south_west, north_east = bounds.get("_southWest") or {}, bounds.get("_northEast") or {}
    if south_west.get("lat") is not None and north_east.get("lat") is not None:
        s["bounds"] = (max(south_west["lng"], -180.0), max(south_west["lat"], -90.0),
                       min(north_east["lng"], 180.0), min(north_east["lat"], 90.0))
    centre = out.get("center")
    if centre and out.get("zoom"):
        # only a move of the map's own: its value lags one run behind a view set here
        # (a search, a table row), which it would otherwise undo
        moved = (round(centre["lat"], 4), round(centre["lng"], 4), int(out["zoom"]))
        if moved != s.get("map_reported"):
            s["map_reported"] = moved
            s["view"] = moved
    return replace(view, view=s["view"], selected=s["selected"])


def _outlines(view: ViewState) -> tuple:
    """The area filters drawn on the map: the drawn area, the box, the ring around a
    place (its geodesic circle; the place as the filters resolved it)."""
    rings = []
    if view.area:
        rings.append(view.area)
    if view.bbox:
        west, south, east, north = view.bbox
        rings.append(((west, south), (east, south), (east, north), (west, north)))
    if view.around:
        rings.append(tuple(geodesic_circle(*view.filter.around_point())))
    return tuple(rings)


def _follow_table(shown: pd.DataFrame, rows: list[int]) -> None:
    """A row picked in the incident table: select that incident and fly to it."""
    s = st.session_state
    if not rows or rows[0] >= len(shown):
        return
    row = shown.iloc[rows[0]]
    if s.get("table_pick") == row["id"]:
        return
    s["table_pick"] = s["selected"] = row["id"]
    s["view"] = (round(float(row["lat"]), 4), round(float(row["lon"]), 4),
                 max(9, int(s["view"][2])))
    st.rerun()


def _highlight(incidents: pd.DataFrame, selected: str | None):
    """A ring around the selected incident, added to the map without rebuilding it."""
    import folium

    group = folium.FeatureGroup(name="Selected incident")
    if selected:
        found = incidents[incidents["id"] == selected]
        if len(found):
            row = found.iloc[0]
            folium.CircleMarker([float(row["lat"]), float(row["lon"])], radius=15, weight=4,
                                color="#00bcd4", fill=False, interactive=False).add_to(group)
    return group


def _drawn_ring(drawing: dict) -> tuple[tuple[float, float], ...] | None:
    """The outline of a rectangle or polygon drawn on the map, checked as the address's
    ``area=`` is (None, with a message, when it cannot be used)."""
    try:
        coords = drawing["geometry"]["coordinates"][0]
        return PARAMETER_READERS["area"](encode_area([(float(x), float(y)) for x, y in coords]))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        notice("warning", f"The drawn area cannot be used: {exc}")
        return None


def run() -> None:
    """The page, with the project's own message for an unexpected failure: the details
    go to the server's log, never to the visitor (no traceback, no server path)."""
    st.set_page_config(page_title="Flankwatch", layout="wide")
    st.html(PAGE_STYLE)
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
