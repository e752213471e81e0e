"""The map: built from the selection, drawn by streamlit-folium, and what the user does on
it (clicks, moves, drawn areas) read back."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from dashboard import keys, queries
from dashboard.maps import MapOptions, MapPage, build_map, publish
from dashboard.panels.common import notice
from dashboard.panels.data import load_crossings, load_table
from dashboard.state import PARAMETER_READERS, ViewState, encode_area
from geo.filters import geodesic_circle
from geo.records import counted


def map_page(path: str, version: tuple, view: ViewState, incidents: pd.DataFrame,
             sources: dict) -> MapPage:
    """The map of the selection. It is built at the session's first view: a moved view
    would change the page and make the component start over (closing popups); moves go
    through st_folium."""
    lat0, lon0, zoom0 = st.session_state[keys.ORIGIN]
    opts = MapOptions(layers=view.layers, bands_km=view.bands_km, basemap=view.basemap,
                      center=(lat0, lon0), zoom=int(zoom0), sources=sources,
                      time=st.session_state[keys.TIME_ORIGIN], outlines=_outlines(view),
                      drawing=True, period=(view.start, view.end),
                      fit=_first_fit(incidents, view))
    deployments = queries.in_period(load_table(path, version, "deployments"), view.start,
                                    view.end)
    return build_map(incidents, deployments=deployments,
                     defense_lines=load_table(path, version, "defense_lines"),
                     tracks=load_table(path, version, "tracks"),
                     crossings=load_crossings(path, version), options=opts)


def first_view_box(incidents: pd.DataFrame, view: ViewState
                   ) -> tuple[float, float, float, float]:
    """The box (west, south, east, north) a session's first map is fitted to: the
    selection's positioned incidents and the airspaces of those known only by their
    region (and of a country filter's countries), as the briefing map frames them."""
    from dashboard.snapshot import data_bbox  # (matplotlib: only when a map opens)

    return data_bbox(incidents, countries=view.countries or ())


def _first_fit(incidents: pd.DataFrame, view: ViewState
               ) -> tuple[float, float, float, float] | None:
    """The box the session's map opens fitted to (in the browser, whose size the server
    does not know), worked out at the first run and kept: the same options do not
    rebuild the map. None when the address gave a view (a shared link keeps its own)."""
    s = st.session_state
    if s.get(keys.FIT) is True:
        s[keys.FIT] = first_view_box(incidents, view)
    return s.get(keys.FIT) or None


def _place(view: ViewState) -> tuple[tuple[float, float] | None, int | None]:
    """Where the component is told the map is (centre, zoom). In a session that opened
    fitted: nowhere until the map has reported the fitted view (the component would move
    it back), then, while the view is the map's own, exactly where the map said it was
    (a rounded place would move it a little, and that move would run the page again).
    Else the view's."""
    s = st.session_state
    lat, lon, zoom = view.view
    if not s.get(keys.FIT):
        return (lat, lon), int(zoom)
    reported = s.get(keys.MAP) or {}
    if s.get(keys.MAP_REPORTED) is None:
        return None, None
    centre = reported.get("center")
    if centre and reported.get("zoom") is not None and s.get(keys.VIEW) == s.get(
            keys.MAP_REPORTED):
        return (centre["lat"], centre["lng"]), int(reported["zoom"])
    return (lat, lon), int(zoom)


def explicit_view(query) -> bool:
    """Whether a session's first address says where the map looks (``view=``, or a
    shared view, which keeps its own)."""
    return "view" in query or "shared" in query


def figures_panel(incidents: pd.DataFrame, view: ViewState, left_out: int = 0) -> None:
    """The counts beside the map (so that the map starts at the top); the period is the
    filter's, and records that began before it are said to be going on; ``left_out``:
    records known only by their region that the area filter left out."""
    st.metric("Incidents shown", f"{len(incidents):,}")
    first, last = queries.period_text(incidents, view.start, view.end)
    st.metric("Period", f"{first} – {last}" if first != last else first)
    early, since = queries.began_before(incidents, view.start)
    ongoing = f" · {early:,} ongoing since {since}" if early else ""
    st.caption(f"Airspaces: {incidents['country_iso3'].replace('', pd.NA).nunique()}"
               f"{ongoing}")
    if left_out:
        st.caption(f"The area filter leaves out {counted(left_out, 'incident')} known only "
                   "by their country or region (no position to place in an area).")


def map_panel(page: MapPage, view: ViewState, incidents: pd.DataFrame) -> ViewState:
    """Draw the map at the view's position, with the selected incident ringed; returns
    the view as the user's clicks and moves on it leave it."""
    # imported here, in a run of the page: imported with the module by the web server,
    # before Streamlit's runtime exists, the map component would not be registered
    from streamlit_folium import st_folium

    centre, zoom = _place(view)
    with st.container(key=keys.MAP_BOX):  # (its height: the page's style, app.py)
        out = st_folium(publish(page), key=keys.MAP, height=MapOptions.height,
                        use_container_width=True, center=centre, zoom=zoom,
                        feature_group_to_add=_highlight(incidents, view.selected,
                                                        st.session_state.get(keys.FOUND)),
                        returned_objects=["last_object_clicked", "zoom", "center",
                                          "bounds", "last_active_drawing"])
    return _follow_map(out or {}, incidents, view)


def _follow_map(out: dict, incidents: pd.DataFrame, view: ViewState) -> ViewState:
    """Selection and map position from the map's last interaction."""
    s = st.session_state
    clicked = out.get("last_object_clicked")
    zoom = out.get("zoom") or view.view[2]
    if clicked and clicked != s.get(keys.LAST_CLICK):
        s[keys.LAST_CLICK] = clicked
        found = queries.incident_at(incidents, clicked["lat"], clicked["lng"], int(zoom))
        if found:
            s[keys.SELECTED] = found
    drawing = out.get("last_active_drawing")
    if drawing and drawing != s.get(keys.LAST_DRAWING):
        s[keys.LAST_DRAWING] = drawing
        ring = _drawn_ring(drawing)
        if ring:  # a new area: the counts, table and exports follow it
            s[keys.AREA] = ring
            st.rerun()
    bounds = out.get("bounds") or {}
    south_west, north_east = bounds.get("_southWest") or {}, bounds.get("_northEast") or {}
    if south_west.get("lat") is not None and north_east.get("lat") is not None:
        s[keys.BOUNDS] = (max(south_west["lng"], -180.0), max(south_west["lat"], -90.0),
                       min(north_east["lng"], 180.0), min(north_east["lat"], 90.0))
    centre = out.get("center")
    if centre and out.get("zoom"):
        # only a move of the map's own: its value lags one run behind a view set here
        # (a search, a table row), which it would otherwise undo
        moved = (round(centre["lat"], 4), round(centre["lng"], 4), int(out["zoom"]))
        if moved != s.get(keys.MAP_REPORTED):
            s[keys.MAP_REPORTED] = moved
            s[keys.VIEW] = moved
    return replace(view, view=s[keys.VIEW], selected=s[keys.SELECTED])


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


def _highlight(incidents: pd.DataFrame, selected: str | None,
               found: tuple[float, float] | None = None):
    """A ring around the selected incident, and a mark on the place the search went to,
    added to the map without rebuilding it."""
    import folium

    group = folium.FeatureGroup(name="Selected incident")
    if found:
        for radius, weight in ((11, 3), (2, 4)):  # a ring with a dot: the place itself
            folium.CircleMarker(list(found), radius=radius, weight=weight, color="#d81b60",
                                fill=radius == 2, fill_opacity=1.0, interactive=False,
                                class_name="fw-found").add_to(group)
    if selected:
        found = incidents[incidents["id"] == selected]
        if len(found):
            row = found.iloc[0]
            folium.CircleMarker([float(row["lat"]), float(row["lon"])], radius=15, weight=4,
                                color="#00bcd4", fill=False, interactive=False).add_to(group)
    return group


def _drawn_ring(drawing: dict) -> tuple[tuple[float, float], ...] | None:
    """The outline of a rectangle or polygon drawn on the map, checked as the address's
    ``area=`` is (None, with a message, when it cannot be used). streamlit-folium also
    reports a clicked incident as a "drawing" (a point): that is no area, and no
    message."""
    geometry = drawing.get("geometry") if isinstance(drawing, dict) else None
    if isinstance(geometry, dict) and geometry.get("type") not in ("Polygon", None):
        return None
    try:
        coords = drawing["geometry"]["coordinates"][0]
        return PARAMETER_READERS["area"](encode_area([(float(x), float(y)) for x, y in coords]))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        notice("warning", f"The drawn area cannot be used: {exc}")
        return None
