"""The sidebar: search, filters, area, map options; the widgets seeded from the page's
address (or a shared view's)."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard import keys, queries
from dashboard.export import MARKING_MAX, TITLE_MAX
from dashboard.panels.common import notice
from dashboard.panels.data import get_gazetteer, load_search_table
from dashboard.state import NEAR_TARGETS, PLACE_MAX, TIME_PARAMETERS, ViewState, parse_bands
from dashboard.style import BASEMAPS, DEFAULT_BANDS_KM, LAYER_LABELS
from dashboard.text import notice_html
from geo.errors import GeocodeError
from geo.filters import describe_area, place_point
from geo.schema import CONFIDENCES, INCIDENT_TYPES
from geo.store.base import Store
from geo.store.views import NAME_MAX, get_view

PRESETS = ["all", "last 7 days", "last 30 days", "last 90 days"]


#: The longest text each text box takes, characters: the box stops typing there, and a
#: longer text (which only a crafted message can send) is refused with the limit named.
TEXT_LIMITS = {keys.SEARCH: 100, keys.DATE_FROM: 20, keys.DATE_TO: 20,
               keys.AROUND_PLACE: PLACE_MAX, keys.BANDS: 60,
               keys.SHARED_NAME: NAME_MAX, keys.SHARED_RENAME: NAME_MAX,
               keys.EXPORT_TITLE: TITLE_MAX, keys.EXPORT_MARKING: MARKING_MAX,
               keys.ALERT_NAME: 80, keys.ALERT_WEBHOOK: 500, keys.ALERT_SECRET: 200,
               keys.ALERT_EMAIL: 200}


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


def search_panel(path: str, version: tuple) -> None:
    """Search places and incidents; a new search goes to its first hit, the list offers
    the others. An incident found is selected."""
    s = st.session_state
    text = text_box(st.sidebar, "Search", keys.SEARCH,
                    placeholder="A place (Wilno, Гродно), an incident id or words of a title")
    if not text or not text.strip():
        s[keys.FOUND] = None
        return
    hits = queries.search(get_gazetteer(), load_search_table(path, version), text)
    if not hits:
        s[keys.FOUND] = None
        st.sidebar.text(f"Nothing found for {text!r}.")  # (text: never Markdown)
        return
    if s.get(keys.SEARCHED) != text:  # a new search: to its first hit
        s[keys.SEARCHED] = text
        s[keys.SEARCH_PICK] = 0
    # a select box: its options are plain text (a radio's would be read as Markdown,
    # and the hits quote titles from the data)
    pick = st.sidebar.selectbox("Found", range(len(hits)), key=keys.SEARCH_PICK,
                                format_func=lambda k: hits[k].label)
    if s.get(keys.SEARCH_WENT) != (text, pick):
        s[keys.SEARCH_WENT] = (text, pick)
        hit = hits[pick]
        s[keys.VIEW] = (round(hit.lat, 4), round(hit.lon, 4), hit.zoom)
        s[keys.FOUND] = None if hit.incident else (hit.lat, hit.lon)  # a place: marked
        if hit.incident:
            s[keys.SELECTED] = hit.incident


def init_widgets(view: ViewState) -> None:
    """Seed the widgets from the URL's view, once per session."""
    s = st.session_state
    s[keys.PERIOD] = "custom" if (view.start or view.end) else "all"
    s[keys.DATE_FROM], s[keys.DATE_TO] = (d.isoformat() if d else ""
                                          for d in (view.start, view.end))
    s[keys.TYPES] = list(view.types or [])
    s[keys.COUNTRIES] = list(view.countries or [])
    s[keys.CONFIDENCE] = list(view.confidence or [])
    s[keys.NEAR_TARGET] = view.near[0] if view.near else "none"
    s[keys.NEAR_KM] = float(view.near[1]) if view.near else 50.0
    s[keys.LAYERS] = list(view.layers)
    s[keys.BANDS] = ", ".join(f"{b:g}" for b in view.bands_km)
    s[keys.BASEMAP] = view.basemap
    s[keys.VIEW] = view.view
    s[keys.ORIGIN] = view.view  # where the map is built; later moves go through st_folium
    s[keys.SELECTED] = view.selected
    s[keys.TIME_ORIGIN] = view.time  # the map's time control keeps its own state after
    s[keys.BBOX] = view.bbox
    s[keys.AREA] = view.area
    s[keys.AROUND_PLACE] = view.around[0] if view.around else ""
    s[keys.AROUND_KM] = float(view.around[1]) if view.around else 30.0
    s[keys.AROUND_SHOWN] = view.around  # a link's ring keeps the link's view
    s[keys.INITIALISED] = True


def open_view(query: dict) -> ViewState:
    """The widgets set from a view's URL state (the session's address, or a shared view
    opened before the next run); returns the view read, with its warnings."""
    opened = ViewState.from_query(query)
    init_widgets(opened)
    return opened


def start_session(store: Store) -> None:
    """The widgets of a new session, from the URL (or the shared view it names)."""
    query = st.query_params.to_dict()
    missing = []
    if "shared" in query:  # a shared view's link: the view it names
        shared = get_view(store, query["shared"])
        if shared is None:
            missing = [f"No shared view {query['shared']!r} (deleted?); the default view "
                       "is shown."]
        query = shared.query if shared else {}
    st.session_state[keys.ADDRESS_WARNINGS] = [*missing, *open_view(query).warnings]


def address_warnings() -> None:
    """What the page's address (or a shared view) held that could not be used: shown on
    every run until dismissed (the address is rewritten from the view, so the words are
    all that is left of a value ignored)."""
    s = st.session_state
    warnings = s.get(keys.ADDRESS_WARNINGS)
    if not warnings:
        return
    for warning in warnings:
        notice("warning", warning)
    if st.button("Dismiss", key=keys.DISMISS_WARNINGS):
        s[keys.ADDRESS_WARNINGS] = []
        st.rerun()


def sidebar(store: Store, span: tuple[dt.date, dt.date] | None) -> ViewState:
    """The filter controls (``span``: the stored records' first and last day); returns
    the view they describe."""
    s = st.session_state
    st.sidebar.header("Filters")
    years = range(span[1].year, span[0].year - 1, -1) if span else []
    periods = [*PRESETS, *map(str, years), "custom"]
    period = st.sidebar.selectbox("Period", periods, key=keys.PERIOD)
    if period == "custom":
        start, end = _custom_dates(span)
    else:
        start, end = queries.preset_range(period, dt.datetime.now(dt.UTC).date())
    types = st.sidebar.multiselect("Incident types", INCIDENT_TYPES, key=keys.TYPES,
                                   placeholder="All types")
    countries_known = store.distinct("country_iso3")
    options = sorted(set(countries_known) | set(s[keys.COUNTRIES]))
    countries = st.sidebar.multiselect("Countries (airspace)", options, key=keys.COUNTRIES,
                                       placeholder="All countries")
    confidence = st.sidebar.multiselect("Confidence", CONFIDENCES, key=keys.CONFIDENCE,
                                        placeholder="Any confidence")
    target = st.sidebar.selectbox("Within a distance of", ["none", *NEAR_TARGETS],
                                  key=keys.NEAR_TARGET, format_func=str.title)
    near = None
    if target != "none":
        near = (target, st.sidebar.number_input("km", min_value=1.0, max_value=2000.0,
                                                format="%g",
                                                step=10.0, key=keys.NEAR_KM))
    area_panel()
    around = _around()
    st.sidebar.header("Map")
    layers = st.sidebar.multiselect("Layers", list(LAYER_LABELS), key=keys.LAYERS,
                                    format_func=LAYER_LABELS.get)
    bands = _bands(text_box(st.sidebar, "Distance bands (km)", keys.BANDS))
    basemap = st.sidebar.radio("Basemap", BASEMAPS, key=keys.BASEMAP, horizontal=True,
                               help="Online basemaps load tiles from the internet; "
                                    "the offline one never leaves this server.")
    return ViewState(start=start, end=end, types=tuple(types) or None,
                     countries=tuple(countries) or None,
                     confidence=tuple(confidence) or None, near=near,
                     layers=tuple(layers), bands_km=bands, basemap=basemap,
                     view=s[keys.VIEW], selected=s[keys.SELECTED], time=_time_in_address(),
                     bbox=s[keys.BBOX], area=s[keys.AREA], around=around)


def _custom_dates(span: tuple[dt.date, dt.date] | None) -> tuple[dt.date | None,
                                                                   dt.date | None]:
    """A custom period: two text fields taking ISO dates (``2025-09-01``; a month,
    ``2025-09``, is its first or last day), applied on Enter or on leaving the field;
    first shown with the data's first and last day. An empty field leaves that side
    open; an unreadable one is named and left open."""
    s = st.session_state
    if span and not s.get(keys.DATES_SEEDED) and not (s.get(keys.DATE_FROM)
                                                      or s.get(keys.DATE_TO)):
        s[keys.DATE_FROM], s[keys.DATE_TO] = (d.isoformat() for d in span)
    s[keys.DATES_SEEDED] = True  # once: a field emptied later stays empty (an open side)
    days = []
    for label, key, last in (("From", keys.DATE_FROM, False), ("To", keys.DATE_TO, True)):
        text = text_box(st.sidebar, label, key, placeholder="YYYY-MM-DD")
        try:
            days.append(queries.typed_day(text or "", last=last))
        except ValueError as exc:
            st.sidebar.html(notice_html("error", f"{label}: {exc}; not used"))
            days.append(None)
    start, end = days
    if start and end and end < start:
        st.sidebar.html(notice_html("error", f"The period ends ({end}) before it begins "
                                             f"({start}); the two days are swapped."))
        start, end = end, start
    return start, end


def _around() -> tuple[str, float] | None:
    """The "around a place" filter: a place name (any name the gazetteer knows) and a
    distance; an unknown or ambiguous name is reported and the filter left off."""
    name = text_box(st.sidebar, "Around a place", keys.AROUND_PLACE,
                    placeholder="e.g. Vilnius, Wilno, Hrodna")
    if not name or not name.strip():
        return None
    km = st.sidebar.number_input("km around it", min_value=1.0, max_value=2000.0, format="%g",
                                 step=10.0, key=keys.AROUND_KM)
    try:
        lat, lon = place_point(name)
    except GeocodeError as exc:
        st.sidebar.html(notice_html("error", f"Around a place: {exc}"))
        return None
    ring = (name.strip(), float(km))
    if st.session_state.get(keys.AROUND_SHOWN) != ring:  # a new ring: the map shows it whole
        st.session_state[keys.AROUND_SHOWN] = ring
        st.session_state[keys.VIEW] = (round(lat, 4), round(lon, 4),
                                       queries.zoom_to_fit(lat, float(km)))
    return ring


def area_panel() -> None:
    """The area filter: what is set (a box from the address, or an area drawn with the
    map's rectangle and polygon tools), and a button to clear it."""
    s = st.session_state
    if not (s[keys.BBOX] or s[keys.AREA]):
        st.sidebar.caption("Area: draw a rectangle or polygon on the map (tools at its "
                           "top left) to keep only the incidents inside it.")
        return
    st.sidebar.text("Area: " + " and ".join(describe_area(s[keys.BBOX], s[keys.AREA])))
    if st.sidebar.button("Clear the area", key=keys.CLEAR_AREA):
        s[keys.BBOX] = s[keys.AREA] = None
        s[keys.LAST_DRAWING] = None
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
