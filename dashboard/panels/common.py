"""What every panel uses: the page's header, notices, messages without server paths."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.text import notice_html
from geo.store import store_location


def header(unseen_alerts: int = 0) -> None:
    """The page's title line, with the count of alerts no one has marked seen."""
    badge = (f' · <span class="fw-alert-count">{unseen_alerts:,} new alert'
             f'{"" if unseen_alerts == 1 else "s"} (Alerts tab)</span>' if unseen_alerts else "")
    st.html('<div class="fw-header"><b>Flankwatch</b> · airspace incidents on NATO\'s '
            f'eastern flank{badge}</div>')


def notice(kind: str, message: object) -> None:
    """A message shown exactly as written (no Markdown: it may quote file names and
    values from the data)."""
    st.html(notice_html(kind, message))


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
