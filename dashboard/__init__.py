"""Flankwatch dashboard: Streamlit layout, folium maps, briefing snapshots."""
