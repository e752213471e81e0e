"""The selected incident beside the map: its facts and its history (with revert, for an admin)."""

from __future__ import annotations

import itertools

import pandas as pd
import streamlit as st

from dashboard import keys
from dashboard.access import Access
from dashboard.maps import fmt_date, fmt_km
from dashboard.panels.common import notice
from dashboard.panels.data import load_versions
from dashboard.panels.session import panel, write
from dashboard.text import Markup, facts_html, link_html
from geo.schema import column_kind, split_list
from geo.store.base import Store


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
        "location": row["location_label"] if row["location_precision"] == "region"
        else f"{row['location_label']} ({row['location_precision'] or 'precision not stated'})",
        "position basis": row["location_basis"],
        "from Belarus": fmt_km(row["dist_belarus_km"]),
        "from Kaliningrad": fmt_km(row["dist_kaliningrad_km"]),
        "nearest border": f"{row['nearest_border']} at {fmt_km(row['dist_border_km'])}"
        if row["nearest_border"] else "—",
        "origin": row["origin"], "description": row["description"], "notes": row["notes"],
    }
    shown = [(k, "" if v is None or pd.isna(v) else str(v)) for k, v in facts.items()]
    links = [Markup(_source_html(*sources.get(i, (i, "")))) for i in split_list(row["sources"])]
    if links:
        shown.append(("sources", Markup("<br>".join(links))))
    st.html(facts_html(shown, title=row["title"] or selected))


@panel
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
                st.text(f"  {column}: {_value_text(column, old)} → {_value_text(column, new)}")
        earlier = [v.number for v in found if not v.current]
        if not earlier or not access.can("revert"):
            return
        number = st.selectbox("Revert to version", earlier[::-1], key=keys.REVERT_TO)
        st.button(f"Revert to version {number}", key=keys.REVERT, on_click=write,
                  args=(revert, "revert", keys.HISTORY_FAILED, store, "incidents", selected),
                  kwargs={"widgets": {"number": keys.REVERT_TO}, "on_map": True})
        failed = st.session_state.pop(keys.HISTORY_FAILED, None)
        if failed:
            notice("error", failed)


def _value_text(column: str, value: str) -> str:
    """A value as the history lists it (see ``geo.store.history.changes``): text
    quoted, so that an empty one is seen; numbers and dates as they are."""
    return repr(value) if column_kind(column) == "text" else value or "(none)"


def _source_html(title: str, url: str) -> str:
    """A source as a link to its address, or its title saying that none is recorded."""
    return link_html(title, url) if url else link_html(f"{title} (no address recorded)", "")
