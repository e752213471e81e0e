"""Flankwatch dashboard (page layout only).

The full layered map arrives with the dashboard work; until then the page shows the
enriched facts of any point, computed by the ``geo`` package.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.enrich import enrich_points

st.set_page_config(page_title="Flankwatch", layout="wide")
st.title("Flankwatch")
st.caption("Airspace incidents on NATO's eastern flank. Map layers are not built yet; "
           "this page answers one question: whose airspace is a point in, and how far "
           "is it from Belarus and Kaliningrad?")

col_lat, col_lon = st.columns(2)
lat = col_lat.number_input("Latitude (° N)", min_value=-90.0, max_value=90.0,
                           value=54.97, format="%.5f")
lon = col_lon.number_input("Longitude (° E)", min_value=-180.0, max_value=180.0,
                           value=24.13, format="%.5f")
facts = enrich_points([lon], [lat]).iloc[0]
st.dataframe(facts.astype(str).rename("value"), width="stretch")
