"""Shared views in the sidebar: open one, save the current view, rename or delete one."""

from __future__ import annotations

import streamlit as st

from dashboard import keys
from dashboard.access import Access
from dashboard.panels.session import clicking_user, not_done, panel, whole_page, write
from dashboard.panels.sidebar import open_view, text_box
from dashboard.state import ViewState
from dashboard.text import notice_html
from geo.errors import FlankwatchError
from geo.store.base import Store
from geo.store.views import delete_view, list_views, rename_view, save_view


@panel
def views_panel(store: Store, view: ViewState, access: Access) -> None:
    """The team's shared views: open one (everyone), save the current view (analysts),
    rename or delete one (its owner, or an admin). Each has a lasting link."""
    st.sidebar.header("Shared views")
    s = st.session_state
    name = s.pop(keys.PENDING_SAVE, None)
    if name is not None:  # asked for by the button: saved as the view is in this run
        try:
            access.require("save view")
            s[keys.SHARED_PICK] = save_view(store, name, view.to_query(), access.user).view_id
        except FlankwatchError as exc:
            not_done(keys.VIEWS_FAILED, exc)
    found = {v.view_id: v for v in list_views(store)}
    if found:
        picked = st.sidebar.selectbox("Views", list(found), key=keys.SHARED_PICK,
                                      format_func=lambda k: found[k].name)
        chosen = found[picked]
        st.sidebar.button("Open this view", key=keys.SHARED_OPEN, on_click=_open,
                          args=(chosen.query,))
        st.sidebar.text(f"By {chosen.owner}, {chosen.updated_at}\n"
                        f"Link: {_link(chosen.view_id)}")
        if chosen.owner == access.user or access.can("manage views"):
            with st.sidebar.expander("Rename or delete"):
                text_box(st, "New name", keys.SHARED_RENAME)
                # the owner, whatever their role now, or an admin: geo.store.views checks
                # which, in its transaction
                st.button("Rename", key=keys.SHARED_RENAME_DO, on_click=write,
                          args=(rename_view, "read", keys.VIEWS_FAILED, store),
                          kwargs={"widgets": {"view_id": keys.SHARED_PICK,
                                              "name": keys.SHARED_RENAME}, "as_admin": True})
                st.button("Delete", key=keys.SHARED_DELETE, on_click=write,
                          args=(delete_view, "read", keys.VIEWS_FAILED, store),
                          kwargs={"widgets": {"view_id": keys.SHARED_PICK}, "as_admin": True})
    else:
        st.sidebar.caption("No shared views yet.")
    if access.store_denies and access.role in ("analyst", "admin"):
        st.sidebar.caption("This dashboard only reads the store (its file is read-only, or "
                           "its database role may only read): importing, saving views "
                           "and reverting are off.")
    if access.can("save view"):
        text_box(st.sidebar, "Save the current view as", keys.SHARED_NAME,
                 placeholder="a name the team will see")
        st.sidebar.button("Save for the team", key=keys.SHARED_SAVE, on_click=_ask_save)
    failed = s.pop(keys.VIEWS_FAILED, None)
    if failed:
        st.sidebar.html(notice_html("error", failed))


def _open(query: dict) -> None:
    """The open button's callback: the filters set from the view, the whole page next."""
    open_view(query)
    whole_page()


def _ask_save() -> None:
    """The save button's callback: the view is saved in the run that follows, as it is
    then (a change made in the same instant is not left out), when the role allows it
    both now and in that run."""
    try:
        clicking_user("save view")
    except FlankwatchError as exc:
        not_done(keys.VIEWS_FAILED, exc)
        return
    st.session_state[keys.PENDING_SAVE] = st.session_state.get(keys.SHARED_NAME, "")


def _link(view_id: str) -> str:
    """The lasting address of a shared view."""
    from urllib.parse import quote

    base = st.context.url or ""
    return f"{base}?shared={quote(view_id)}"
