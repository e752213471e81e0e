"""Who uses the page: sign-in on the page, and writes made by a button's callback in the
name of the user signed in at the click."""

from __future__ import annotations

import functools
import logging
from dataclasses import replace

import streamlit as st

from dashboard import keys
from dashboard.access import (
    Access,
    AccessDeniedError,
    access_from_claims,
    auth_configured,
    cookie_claims,
    sign_in_settings,
    sign_in_state,
    single_user,
)
from dashboard.panels.common import header, without_locations
from geo.errors import FlankwatchError
from geo.store import store_location
from geo.store.base import Store

log = logging.getLogger("flankwatch.dashboard")


@st.cache_resource
def warn_if_open() -> None:
    """Once per server: say in the log when the dashboard listens beyond this machine
    with no sign-in configured (anyone who reaches it can read and import)."""
    address = str(st.get_option("server.address") or "")
    if not auth_configured() and not is_loopback(address):
        log.warning("the dashboard listens on %s with no sign-in ([auth] is not set in "
                    ".streamlit/secrets.toml): anyone who can reach it can read the store "
                    "and import into it", address or "every network interface")


#: How often the dashboard's server sends the alerts that are due, seconds
#: (``FLANKWATCH_ALERT_EVERY_S``).
ALERT_EVERY_S = 30.0


@st.cache_resource
def deliver_alerts_in_background(location: str, _store: Store) -> None:
    """Once per server and store (``location``): a thread sending the store's due alerts
    every :data:`ALERT_EVERY_S` seconds (``python -m geo alerts deliver`` does the same
    from the command line); its failures are logged and it goes on. A store file that
    is gone is left alone (never made again from the seeds by this thread)."""
    import os
    import threading
    import time
    from pathlib import Path

    from geo.alerts import deliver
    from geo.store import is_store_url

    every = float(os.environ.get("FLANKWATCH_ALERT_EVERY_S") or ALERT_EVERY_S)
    link = os.environ.get("FLANKWATCH_PUBLIC_URL", "")

    def loop() -> None:
        while True:
            time.sleep(every)
            if not is_store_url(location) and not Path(location).exists():
                continue
            try:
                report = deliver(_store, link=link)
            except Exception:  # the store away for a moment: said, and tried again
                log.exception("sending the due alerts failed")
                continue
            if report.sent or report.failed:
                log.info("alerts: %s", report)

    threading.Thread(target=loop, name="flankwatch-alerts", daemon=True).start()


def is_loopback(address: str) -> bool:
    """Whether a listening address is this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # "" (every interface) or a host name
        return False


def _who() -> tuple[Access | None, str]:
    """Who uses the page, as the settings and the sign-in cookie say now, without
    drawing anything, and why they are refused ("" when they are not): "settings"
    (sign-in required, its settings unreadable), "anonymous" (not signed in) or "no
    role" (the access is then the signed-in user's, with no role)."""
    required, usable = sign_in_state()
    if not required:
        return single_user(), ""
    if not usable:
        return None, "settings"
    # the sign-in cookie as the gate reads it (a cookie in parts only when its parts were
    # set together), not st.user, which joins any parts it is given
    claims = cookie_claims(st.context.cookies) if st.user.is_logged_in else None
    access = access_from_claims(claims)
    if access is None:
        return None, "anonymous"
    return access, "" if access.role is not None else "no role"


def _who_with_store() -> tuple[Access | None, str]:
    """:func:`_who`, with the writes the store itself refuses (its rights are read
    only for a user who is let in)."""
    access, refused = _who()
    if refused:
        return access, refused
    from dashboard.panels.data import store_denies

    return replace(access, store_denies=store_denies(str(store_location()))), ""


def current_access() -> Access | None:
    """Who uses the page now (None when refused): see :func:`_who`."""
    access, refused = _who_with_store()
    return None if refused else access


def signed_in() -> Access:
    """Who uses the page. With sign-in on, a visitor who is not signed in sees the
    sign-in button only (nothing of the store is read), and a refused user a word
    saying so; the page stops there."""
    access, refused = _who_with_store()
    st.session_state[keys.DRAWN_FOR] = None if refused else access
    if not refused:
        if access.signed_in:
            st.sidebar.text(f"Signed in as {access.user} ({access.role})")
            st.sidebar.button("Sign out", on_click=st.logout, key=keys.SIGN_OUT)
        return access
    forget_clicks(nothing_drawn=True)
    header()
    if refused == "settings":
        st.text("Sign-in is required for this dashboard but its settings cannot be read "
                "just now; try again in a minute, or ask an administrator.")
        log.error("sign-in is required (set earlier in this server's life or by "
                  "FLANKWATCH_REQUIRE_SIGN_IN) but %s; everyone is refused until it is "
                  "mended", "the secrets file cannot be read"
                  if sign_in_settings() == "unreadable" else "the secrets have no [auth]")
    elif refused == "anonymous":
        st.write("Sign in with your organisation's account to see the incident map.")
        st.button("Sign in", on_click=st.login, type="primary", key=keys.SIGN_IN)
    else:
        st.text(f"{access.user} has no Flankwatch role; ask an administrator for one.")
        st.button("Sign out", on_click=st.logout, key=keys.SIGN_OUT)
    st.stop()


def panel(func):
    """A panel that need not redraw the map (export, import, shared views, history): a
    click in it runs the panel alone (``st.fragment``), not the whole page. Such a run
    skips :func:`signed_in`, so it looks again at who uses the page: when that (or their
    role) is not what the page was drawn for, or a click in the panel changed what the
    map shows (:func:`whole_page`), the whole page runs instead."""

    @st.fragment
    @functools.wraps(func)
    def part(*args, **kwargs):
        s = st.session_state
        if s.pop(keys.WHOLE_PAGE, False) or current_access() != s.get(keys.DRAWN_FOR):
            st.rerun()
        return func(*args, **kwargs)

    return part


def whole_page() -> None:
    """Ask, from a click's callback in a :func:`panel`, for the whole page to run next
    (what the click changed is on the map too)."""
    st.session_state[keys.WHOLE_PAGE] = True


def forget_clicks(*, nothing_drawn: bool = False) -> None:
    """After a run that failed or stopped early: what a click asked for and the run has
    not done is dropped (never done later, in another run). After a run that drew none
    of the filters (``nothing_drawn``), the next run sets them again from the page's
    address: widgets a run does not draw lose their values."""
    for asked in keys.ASKED:
        st.session_state.pop(asked, None)
    if nothing_drawn:
        st.session_state.pop(keys.INITIALISED, None)


def clicking_user(action: str) -> Access:
    """The user signed in at the moment of a click, when their role allows ``action``
    (the page may have been drawn for another role); else AccessDeniedError."""
    access = current_access()
    if access is None:
        raise AccessDeniedError("you are no longer signed in, or have no role")
    access.require(action)
    return access


def not_done(key: str, exc: Exception) -> None:
    """Keep a refused or failed write's reason under ``key`` for the page to show; the
    server's log says it too."""
    log.warning("a change asked for on the page was not done: %s", exc)
    st.session_state[key] = without_locations(f"Not done: {exc}")


def write(change, action: str, failed_key: str, store: Store, *args,
          widgets: dict | None = None, as_admin: bool = False, on_map: bool = False,
          **kwargs) -> None:
    """A write, run as its button's callback (before the next run, exactly once,
    whatever reruns follow), in the name of the user signed in now, whose role is
    checked again here, on the server; ``widgets`` maps keyword arguments to the
    widgets whose values they take, as they are at the click (not as drawn);
    ``as_admin``: ``change`` also takes whether the user may manage anyone's views;
    ``on_map``: what it changes is on the map (the whole page runs next). A refusal is
    kept under ``failed_key`` for the page to show."""
    s = st.session_state
    kwargs.update({name: s.get(key, "") for name, key in (widgets or {}).items()})
    try:
        access = clicking_user(action)
        if as_admin:
            kwargs["admin"] = access.can("manage views")
        change(store, *args, who=access.user, **kwargs)
        if on_map:
            whole_page()
    except FlankwatchError as exc:
        not_done(failed_key, exc)
