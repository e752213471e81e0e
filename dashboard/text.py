"""Text from the data on a page: always shown as text, never run as markup.

Records, file names and messages can hold anything (HTML, Markdown, template tags, TeX).
In HTML they are escaped; on the dashboard they are shown through HTML built here, never
through Markdown (which Streamlit's messages, captions and tables render); links are made
only from absolute http(s) addresses, escaped.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from markupsafe import Markup

#: Colours of the notices (background, border) by kind, close to Streamlit's own.
_NOTICE_COLOURS = {
    "error": ("#fde8e8", "#e0a0a0"),
    "warning": ("#fff6dc", "#e6c96f"),
    "success": ("#e6f4ea", "#8fc79e"),
    "info": ("#e8f0fb", "#9bb7e0"),
}


def printable(value: object, limit: int | None = None) -> str:
    """Text for print (briefing maps and packs): whitespace runs as one space, control and
    invisible formatting characters (zero-width, bidirectional overrides) dropped, so
    that a title cannot reorder or hide its own letters; cut to ``limit`` with "…"."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    text = "".join(c for c in str(value)
                   if c.isspace() or unicodedata.category(c) not in ("Cc", "Cf"))
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def esc(value: object) -> str:
    """HTML-escaped text of a value (empty for missing values)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return ""
    return html.escape(str(value), quote=True)


def safe_url(url: object) -> str | None:
    """The address if it is an absolute http(s) URL, else None."""
    text = str(url or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme in ("http", "https") and parts.netloc else None


def link_html(label: object, url: object) -> str:
    """A link opening in a new tab where ``url`` is http(s); else the label as text."""
    link = safe_url(url)
    if not link:
        return esc(label)
    return (f'<a href="{esc(link)}" target="_blank" rel="noopener noreferrer">'
            f"{esc(label)}</a>")


def notice_html(kind: str, message: object) -> str:
    """A message box (error, warning, success, info) whose text is shown as written."""
    if kind not in _NOTICE_COLOURS:
        msg = f"`kind` was {kind!r} but is expected to be in {list(_NOTICE_COLOURS)}"
        raise ValueError(msg)
    background, border = _NOTICE_COLOURS[kind]
    role = "alert" if kind in ("error", "warning") else "status"
    return (f'<div class="fw-notice fw-{kind}" role="{role}" style="background:{background};'
            f"border:1px solid {border};border-radius:6px;padding:8px 12px;"
            f'white-space:pre-wrap;overflow-wrap:anywhere">{esc(message)}</div>')


def facts_html(facts: Iterable[tuple[str, object]], *, title: object = "") -> str:
    """A two-column table of (label, value) pairs, every value as text (values that are
    already HTML, such as :func:`link_html` output, are passed as markupsafe.Markup)."""
    rows = "".join(
        f'<tr><th style="text-align:left;padding:3px 8px 3px 0;vertical-align:top;'
        f'font-weight:600;white-space:nowrap">{esc(label)}</th>'
        f'<td style="padding:3px 0;white-space:pre-wrap;overflow-wrap:anywhere">'
        f"{value if isinstance(value, Markup) else esc(value)}</td></tr>"
        for label, value in facts)
    head = f'<div class="fw-title" style="font-weight:700;margin-bottom:4px">{esc(title)}</div>'
    return (f'<div class="fw-facts">{head if title else ""}'
            f'<table style="border-collapse:collapse;font-size:14px">{rows}</table></div>')
