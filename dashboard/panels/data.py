"""The store's data for the page, cached: reads are keyed on the store's version, so an
import refreshes them and a rerun reads nothing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import queries
from dashboard.maps import POPUP_LIMIT
from geo.errors import FlankwatchError, InputError
from geo.filters import IncidentFilter
from geo.store import open_store
from geo.store.base import Store


@st.cache_resource
def get_store(path: str) -> Store:
    """The incident store (created from the seeds on first use)."""
    return open_store(path)


# Keyed on the store filters only: switching layers or moving the map reads nothing.
@st.cache_data(max_entries=16)
def load_incidents(path: str, version: tuple, filters: IncidentFilter) -> pd.DataFrame:
    return queries.filtered_incidents(get_store(path), filters, full_below=POPUP_LIMIT)


@st.cache_data(max_entries=16)
def count_region_only(path: str, version: tuple, filters: IncidentFilter) -> int:
    """How many records an area filter left out because they are known only by their
    country or region (0 without an area filter)."""
    wider = filters.without_area()
    if wider is None:
        return 0
    # the selection without its area: often read already (before the area was drawn)
    return int(load_incidents(path, version, wider)["location_precision"].eq("region").sum())


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


@st.cache_data(ttl=30)
def store_denies(path: str) -> frozenset[str]:
    """The writes the store refuses this dashboard (see ``StoreBase.denied_writes``),
    looked at again every 30 s (rights are granted and taken away while it runs); none
    when the store cannot be reached (the page then says why)."""
    try:
        return get_store(path).denied_writes()
    except FlankwatchError:
        return frozenset()
