"""The Alerts tab: recent alerts (everyone; open one on the map, acknowledge it), the
team's rules, and a new rule made from the current view (analysts)."""

from __future__ import annotations

import streamlit as st

from dashboard import keys
from dashboard.access import Access
from dashboard.panels.common import notice
from dashboard.panels.session import clicking_user, not_done, panel, whole_page, write
from dashboard.panels.sidebar import text_box
from dashboard.state import ViewState
from dashboard.text import notice_html
from geo import alerts
from geo.errors import FlankwatchError
from geo.store.base import Store

#: Alerts the tab lists.
SHOWN_ALERTS = 50


def unacknowledged(store: Store) -> int:
    """How many alerts no one has acknowledged (the header's count)."""
    try:
        return int(store.query("SELECT count(*) FROM alerts WHERE acknowledged_by IS NULL"
                               )[0][0])
    except Exception:  # a store of an older schema, or away: no count rather than no page
        return 0


@panel
def alerts_panel(store: Store, view: ViewState, access: Access) -> None:
    """Recent alerts, the rules, and "alert me on this view"."""
    failed = st.session_state.pop(keys.ALERTS_FAILED, None)
    if failed:
        st.html(notice_html("error", failed))
    recent = alerts.alerts(store, limit=SHOWN_ALERTS)
    st.subheader("Recent alerts")
    if recent.empty:
        st.caption("No alerts yet. A rule (below, or `python -m geo alerts add`) makes "
                   "one when an import or a revert writes a record that matches it.")
    for row in recent.itertuples():
        seen = f" · seen by {row.acknowledged_by}" if row.acknowledged_by else ""
        left, middle, right = st.columns([6, 1, 1])
        left.text(f"{row.created_at} · {row.rule} · {alerts.headline(row.state, row.facts)}"
                  f"{seen}")
        middle.button("Open", key=f"{keys.ALERT_OPEN}-{row.alert_id}", on_click=_open,
                      args=(row.record_id,))
        if not row.acknowledged_by and access.can("acknowledge"):
            right.button("Seen", key=f"{keys.ALERT_ACK}-{row.alert_id}", on_click=write,
                         args=(_acknowledge, "acknowledge", keys.ALERTS_FAILED, store,
                               row.alert_id), kwargs={"on_map": True})
    st.subheader("Rules")
    for rule in alerts.list_rules(store):
        ways = ", ".join(c for c, _ in rule.channels()) or "this list and its feed only"
        st.text(f"{'on ' if rule.enabled else 'off'} {rule.name} (by {rule.owner}): "
                f"{rule.condition.describe()} → {ways}")
    if access.can("add alert"):
        _new_rule(store, view)


def _open(record_id: str) -> None:
    """An alert's Open button: its record selected on the map (the whole page next)."""
    st.session_state[keys.SELECTED] = record_id
    whole_page()


def _acknowledge(store: Store, alert_id: str, *, who: str) -> None:
    alerts.acknowledge(store, alert_id, who=who)


def _new_rule(store: Store, view: ViewState) -> None:
    """A rule on the current view's filters and area, with its channels."""
    with st.expander("Alert me on this view"):
        st.caption(f"Matches: {view.filter.describe()}")
        text_box(st, "Rule name", keys.ALERT_NAME, placeholder="a name the team will see")
        text_box(st, "Webhook (https://…)", keys.ALERT_WEBHOOK)
        text_box(st, "Webhook secret", keys.ALERT_SECRET, type="password")
        text_box(st, "E-mail", keys.ALERT_EMAIL)
        st.selectbox("At most one message per", ["0s", "5m", "15m", "1h", "6h"],
                     key=keys.ALERT_COOLDOWN)
        st.button("Save the rule", key=keys.ALERT_SAVE, on_click=_save, args=(store, view))
        done = st.session_state.pop(keys.ALERT_SAVED, None)
        if done:
            notice("success", done)


def _save(store: Store, view: ViewState) -> None:
    """The save button's callback: the rule, in the name of the user signed in at the
    click (their role checked again)."""
    s = st.session_state
    try:
        who = clicking_user("add alert").user
        rule = alerts.add_rule(store, s.get(keys.ALERT_NAME, ""), view.filter, who=who,
                               webhook=s.get(keys.ALERT_WEBHOOK, ""),
                               secret=s.get(keys.ALERT_SECRET, ""),
                               email=s.get(keys.ALERT_EMAIL, ""),
                               cooldown_s=alerts.seconds_of(s.get(keys.ALERT_COOLDOWN, "0s")))
    except FlankwatchError as exc:
        not_done(keys.ALERTS_FAILED, exc)
        return
    s[keys.ALERT_SAVED] = f"Rule {rule.name!r} saved: {rule.condition.describe()}"
