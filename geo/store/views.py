"""Shared views: a team's named dashboard views, kept in the store (either backend).

A view is the dashboard's URL state (filters, layers, map position, selected incident,
area, playback) as a mapping of query parameters, stored as JSON under a name the team
sees. Its id never changes (the stable link ``?shared=ID``); its owner or an admin may
rename or delete it. Every change is written to ``view_log`` with who made it, in one
transaction of the store's (``store.transaction()``) in which view changes take turns.
"""

from __future__ import annotations

import json
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from geo.audit import utc_text
from geo.errors import InputError
from geo.store.changes import named_change

#: Longest name a view may have, characters.
NAME_MAX = 80

VIEW_COLUMNS = ("view_id", "name", "query", "owner", "created_at", "updated_at")
VIEW_LOG_COLUMNS = ("log_id", "view_id", "action", "name", "query", "who", "at")


class ViewPermissionError(InputError, PermissionError):
    """A change to someone else's view by a user who is not an admin."""


@dataclass(frozen=True)
class SharedView:
    view_id: str
    name: str
    #: The dashboard's query parameters.
    query: dict
    owner: str
    created_at: str
    updated_at: str


#: Characters that are letters or symbols to Unicode but show as nothing (Hangul fillers,
#: the Braille blank): a name holding one looks like the name without it.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def check_name(name: str) -> str:
    """A view's name, trimmed; empty, over-long or control characters are refused."""
    text = " ".join(str(name).split())
    if not text:
        msg = "a shared view needs a name"
        raise InputError(msg)
    if len(text) > NAME_MAX:
        msg = f"a view's name has at most {NAME_MAX} characters ({len(text)} given)"
        raise InputError(msg)
    if any(unicodedata.category(c) in ("Cc", "Cf") or c in _BLANK_LETTERS for c in text):
        msg = "a view's name may not hold control or invisible characters"
        raise InputError(msg)
    return text


@lru_cache(maxsize=1)
def _look_alike_classes() -> dict[str, str]:
    """Character → one character of its class of look-alikes (Unicode's confusables,
    UTS #39, as ``confusable-homoglyphs`` lists them: each character with the ones it
    is confused with), the classes closed over those lists."""
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def root(char: str) -> str:
        while parent.get(char, char) != char:
            char = parent[char]
        return char

    for char, alike in confusables_data.items():
        for other in (h["c"] for h in alike if len(h["c"]) == 1):
            a, b = sorted((root(char), root(other)))
            parent[b] = a
    return {char: root(char) for char in parent}


def _alike(text: str) -> str:
    """Each character replaced by the one standing for its class of look-alikes
    (Latin "e" for Cyrillic "е"; "1" for "l" and "I"; "0" for "O")."""
    classes = _look_alike_classes()
    return "".join(classes.get(char, char) for char in text)


def _skeletons(name: str) -> tuple[str, str]:
    """What a name looks like, read with and without letter case: compatibility forms
    folded (NFKC: full-width, ligatures) and marks that stand alone dropped (a dot
    above an "i" that NFKC does not join to a letter), then look-alike characters made
    one before case is folded ("KaIiningrad" with a capital i looks like "Kaliningrad")
    and after ("Ice" and "ice" differ only in case)."""
    text = "".join(c for c in unicodedata.normalize("NFKC", name)
                   if unicodedata.category(c) != "Mn")
    return _alike(text).casefold(), _alike(text.casefold())


def _refuse_look_alike(run, name: str, view_id: str | None) -> None:
    """Refuse ``name`` when another view's name looks the same (see :func:`_skeletons`)."""
    shapes = _skeletons(name)
    for other_id, other in run("SELECT view_id, name FROM views", ()).fetchall():
        if other_id == view_id or not any(
                a == b for a, b in zip(shapes, _skeletons(other), strict=True)):
            continue
        msg = ("a shared view of that name exists already; choose another name"
               if other == name else f"a shared view named {other!r} exists already, "
               f"and {name!r} looks the same; choose another name")
        raise InputError(msg)


def _view(row) -> SharedView:
    view_id, name, query, owner, created, updated = row
    return SharedView(view_id, name, json.loads(query), owner, created, updated)


def list_views(store) -> list[SharedView]:
    """Every shared view, by name."""
    rows = store.query(f"SELECT {', '.join(VIEW_COLUMNS)} FROM views ORDER BY name")
    return [_view(r) for r in rows]


def _one_view_sql(store) -> str:
    return f"SELECT {', '.join(VIEW_COLUMNS)} FROM views WHERE view_id = {store.PARAM}"


def get_view(store, view_id: str) -> SharedView | None:
    rows = store.query(_one_view_sql(store), (str(view_id),))
    return _view(rows[0]) if rows else None


def _change(store, view_id: str | None, change) -> None:
    """One transaction of the store's, in which changes of the views take turns:
    ``change(run, current)`` gets a function running a statement (written with
    ``store.PARAM``) and the view's current row, read inside the transaction (None when
    there is none, or for a new view)."""
    with named_change(store, "a shared view", "the shared views") as con:
        current = get_view_in(con, store, view_id) if view_id is not None else None
        change(lambda text, params: con.execute(text, params), current)


def get_view_in(con, store, view_id: str) -> SharedView | None:
    """A view as a transaction's connection reads it."""
    row = con.execute(_one_view_sql(store), (view_id,)).fetchone()
    return _view(row) if row else None


def _log(run, p: str, view_id: str, action: str, name: str, query: dict, who: str) -> None:
    run(f"INSERT INTO view_log (view_id, action, name, query, who, at) "
        f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
        (view_id, action, name, json.dumps(query, sort_keys=True), who, utc_text()))


def save_view(store, name: str, query: Mapping[str, str], who: str) -> SharedView:
    """Save a view under a new name; returns it (with its new, lasting id)."""
    name = check_name(name)
    plain = {str(k): str(v) for k, v in query.items()}
    now = utc_text()
    view = SharedView(secrets.token_urlsafe(9), name, plain, who, now, now)

    p = store.PARAM

    def change(run, _):
        _refuse_look_alike(run, name, None)
        run("INSERT INTO views (view_id, name, query, owner, created_at, updated_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
            (view.view_id, name, json.dumps(plain, sort_keys=True), who, view.created_at,
             view.updated_at))
        _log(run, p, view.view_id, "saved", name, plain, who)

    _change(store, None, change)
    return view


def _check_owner(view: SharedView | None, view_id: str, who: str, admin: bool) -> None:
    if view is None:
        msg = f"no shared view with id {view_id!r} (deleted meanwhile?)"
        raise InputError(msg)
    if view.owner != who and not admin:
        msg = f"the view {view.name!r} is {view.owner}'s; only they or an admin may change it"
        raise ViewPermissionError(msg)


def rename_view(store, view_id: str, name: str, who: str, *, admin: bool = False) -> None:
    """Rename a view (its owner, or an admin)."""
    name = check_name(name)
    p = store.PARAM

    def change(run, view):
        _check_owner(view, view_id, who, admin)
        _refuse_look_alike(run, name, view_id)
        run(f"UPDATE views SET name = {p}, updated_at = {p} WHERE view_id = {p}",
            (name, utc_text(), view_id))
        _log(run, p, view_id, "renamed", name, view.query, who)

    _change(store, view_id, change)


def delete_view(store, view_id: str, who: str, *, admin: bool = False) -> None:
    """Delete a view (its owner, or an admin); its log stays."""
    p = store.PARAM

    def change(run, view):
        _check_owner(view, view_id, who, admin)
        run(f"DELETE FROM views WHERE view_id = {p}", (view_id,))
        _log(run, p, view_id, "deleted", view.name, view.query, who)

    _change(store, view_id, change)


def view_log(store) -> pd.DataFrame:
    """Every change to the shared views, oldest first."""
    rows = store.query(f"SELECT {', '.join(VIEW_LOG_COLUMNS)} FROM view_log ORDER BY log_id")
    return pd.DataFrame(rows, columns=list(VIEW_LOG_COLUMNS))


def dump(store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every shared view and every line of their log, as stored (for a copy)."""
    views = store.query(f"SELECT {', '.join(VIEW_COLUMNS)} FROM views ORDER BY view_id")
    return (pd.DataFrame(views, columns=list(VIEW_COLUMNS)), view_log(store))
