"""Alerts: rules that watch the store and say when a record starts, goes on or stops
matching them, delivered by webhook and e-mail and listed in an Atom feed.

A rule is a condition (an :class:`~geo.filters.IncidentFilter`: period, types,
airspaces, confidence, a distance from Belarus or the exclave, a box, a drawn area, a
ring around a place) with its channels. Every write of incident records (an import from
the command line or the dashboard, a revert) calls :func:`queue_alerts` inside its own
transaction, before it commits: the rules are matched with the store's own SQL on the
stored, exact distances, and each alert, with one delivery per channel, is written in the
same transaction as the records that caused it, or not at all. :func:`deliver` then sends
what is due (``python -m geo alerts deliver``; the dashboard's server every 30 s): one
message per rule and channel, retried with back-off, given up after a day, never sent
again once sent. A delivery is claimed before it is sent, so two senders never send the
same one; one killed while sending is sent again after :data:`CLAIM_EXPIRY_S` — a
receiver that must see it once keys on the delivery id, which stays the same.

States: ``new`` (a record that starts matching: new, or changed so that it matches),
``updated`` (a matching record changed and still matches), ``cleared`` (a matching record
changed so that it no longer matches). One alert per rule, record and state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from xml.etree import ElementTree

import pandas as pd

from geo.audit import utc_text
from geo.errors import InputError
from geo.filters import IncidentFilter
from geo.store.changes import named_change

log = logging.getLogger(__name__)

RULE_COLUMNS = ("rule_id", "name", "owner", "condition", "webhook", "secret", "email",
                "cooldown_s", "quiet", "enabled", "created_at", "updated_at")
STATES = ("new", "updated", "cleared")
#: A failed delivery is tried again after 30 s, then twice as long each time, at most
#: an hour apart, and given up a day after its alert was made.
RETRY_FIRST_S, RETRY_MAX_S, GIVE_UP_S = 30.0, 3600.0, 86_400.0
#: A delivery claimed by a sender that did not report back within this time (killed,
#: say) is due again.
CLAIM_EXPIRY_S = 300.0
#: Longest rule name, characters.
NAME_MAX = 80
#: The facts of a record an alert carries.
FACT_COLUMNS = ("id", "title", "type", "date", "date_precision", "country_iso3",
                "country_name", "location_label", "location_precision", "dist_belarus_km",
                "dist_kaliningrad_km", "confidence")


@dataclass(frozen=True)
class Rule:
    """An alert rule as stored."""

    rule_id: str
    name: str
    owner: str
    condition: IncidentFilter
    webhook: str = ""
    secret: str = ""
    email: str = ""
    cooldown_s: float = 0.0
    #: Hours in which nothing is sent, UTC, "HH:MM-HH:MM" (may wrap past midnight).
    quiet: str = ""
    enabled: bool = True
    created_at: str = ""
    updated_at: str = ""

    def channels(self) -> list[tuple[str, str]]:
        """(channel, target) of each way the rule is delivered."""
        return [(c, t) for c, t in (("webhook", self.webhook), ("email", self.email)) if t]


# --- conditions -------------------------------------------------------------------------

def condition_text(filters: IncidentFilter) -> str:
    """A condition as the store keeps it (JSON)."""
    return json.dumps(filters.to_dict(), sort_keys=True)


def condition_of(text: str) -> IncidentFilter:
    """A stored condition back as a filter."""
    raw = json.loads(text)

    def day(value):
        return None if value is None else dt.date.fromisoformat(value)

    def listed(value):
        return None if value is None else tuple(value)

    area = raw.get("area")
    return IncidentFilter(
        start=day(raw.get("start")), end=day(raw.get("end")), types=listed(raw.get("types")),
        countries=listed(raw.get("countries")), confidence=listed(raw.get("confidence")),
        near=None if raw.get("near") is None else (raw["near"][0], float(raw["near"][1])),
        bbox=None if raw.get("bbox") is None else tuple(float(v) for v in raw["bbox"]),
        area=None if area is None else tuple((float(x), float(y)) for x, y in area),
        around=None if raw.get("around") is None else (raw["around"][0],
                                                        float(raw["around"][1])),
        around_at=None if raw.get("around_at") is None else (float(raw["around_at"][0]),
                                                              float(raw["around_at"][1])))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def seconds_of(text: str) -> float:
    """A duration written ``90``, ``90s``, ``15m``, ``2h`` or ``1d``, in seconds."""
    found = _DURATION.match(str(text))
    if not found:
        msg = f"the duration {text!r} is not a number of s, m, h or d (e.g. 15m)"
        raise InputError(msg)
    number, unit = float(found[1]), found[2] or "s"
    return number * {"s": 1, "m": 60, "h": 3600, "d": 86_400}[unit]


def check_quiet(text: str) -> str:
    """Quiet hours, ``HH:MM-HH:MM`` (UTC), or empty."""
    text = str(text).strip()
    if text and not _QUIET.match(text):
        msg = f"quiet hours {text!r} are not written HH:MM-HH:MM (UTC), e.g. 22:00-06:00"
        raise InputError(msg)
    return text


def in_quiet_hours(quiet: str, now: dt.datetime) -> bool:
    """Whether ``now`` (UTC) falls in the quiet hours (an end before the start wraps
    past midnight)."""
    found = _QUIET.match(quiet or "")
    if not found:
        return False
    start = int(found[1]) * 60 + int(found[2])
    end = int(found[3]) * 60 + int(found[4])
    minute = now.hour * 60 + now.minute
    return start <= minute < end if start <= end else minute >= start or minute < end


def _check_name(name: str) -> str:
    text = " ".join(str(name).split())
    if not text or len(text) > NAME_MAX or any(not c.isprintable() for c in text):
        msg = f"a rule needs a name of 1 to {NAME_MAX} printable characters"
        raise InputError(msg)
    return text


def _check_target(channel: str, target: str) -> str:
    target = str(target).strip()
    if channel == "webhook" and target and not re.match(r"^https?://[^\s]+$", target):
        msg = f"the webhook {target!r} is not an http(s) address"
        raise InputError(msg)
    if channel == "email" and target and not re.match(r"^[^@\s,;<>]+@[^@\s,;<>]+$", target):
        msg = f"{target!r} is not one e-mail address"
        raise InputError(msg)
    return target


# --- rules in the store -----------------------------------------------------------------

def _rule(row: Sequence) -> Rule:
    values = dict(zip(RULE_COLUMNS, row, strict=True))
    values["condition"] = condition_of(values["condition"])
    values["cooldown_s"] = float(values["cooldown_s"] or 0)
    values["enabled"] = bool(values["enabled"])
    return Rule(**values)


def list_rules(store, *, enabled_only: bool = False, con=None) -> list[Rule]:
    """The rules, by name (through ``con`` inside a transaction)."""
    text = (f"SELECT {', '.join(RULE_COLUMNS)} FROM alert_rules"
            + (" WHERE enabled = 1" if enabled_only else "") + " ORDER BY name")
    rows = con.execute(text).fetchall() if con is not None else store.query(text)
    return [_rule(r) for r in rows]


def get_rule(store, name: str) -> Rule:
    """The rule of that name; InputError naming it when there is none."""
    rows = store.query(f"SELECT {', '.join(RULE_COLUMNS)} FROM alert_rules WHERE name = "
                       f"{store.PARAM}", (name,))
    if not rows:
        msg = f"no alert rule named {name!r} (python -m geo alerts list)"
        raise InputError(msg)
    return _rule(rows[0])


def _changed(store, what: str, change: Callable) -> None:
    """One transaction of the store's for a change of the rules; a name taken already is
    said in words."""
    with named_change(store, "an alert rule", f"the alert rules ({what})") as con:
        change(con)


def _log_rule(con, p: str, rule: Rule, action: str, who: str) -> None:
    shown = {"condition": rule.condition.to_dict(), "webhook": rule.webhook,
             "email": rule.email, "cooldown_s": rule.cooldown_s, "quiet": rule.quiet,
             "enabled": rule.enabled}
    con.execute(f"INSERT INTO alert_log (rule_id, action, name, rule, who, at) VALUES "
                f"({p}, {p}, {p}, {p}, {p}, {p})",
                (rule.rule_id, action, rule.name, json.dumps(shown, sort_keys=True), who,
                 utc_text()))


def add_rule(store, name: str, condition: IncidentFilter, *, who: str, webhook: str = "",
             secret: str = "", email: str = "", cooldown_s: float = 0.0,
             quiet: str = "") -> Rule:
    """Save a new rule (logged under ``who``); it watches writes from now on. A ring's
    place is resolved now and kept with the rule (an import never loads the gazetteer
    for it, and a later gazetteer does not move it)."""
    if condition.around is not None and condition.around_at is None:
        from dataclasses import replace

        lat, lon, _ = condition.around_point()
        condition = replace(condition, around_at=(lat, lon))
    now = utc_text()
    rule = Rule(secrets.token_hex(8), _check_name(name), who, condition,
                _check_target("webhook", webhook), str(secret),
                _check_target("email", email), float(cooldown_s), check_quiet(quiet),
                True, now, now)
    if condition.is_empty():
        msg = "the rule's area filters leave nothing to match (boxes that do not meet)"
        raise InputError(msg)
    if webhook and not secret:
        msg = "a webhook needs --secret (the receiver checks each message's signature)"
        raise InputError(msg)
    p = store.PARAM

    def change(con):
        con.execute(f"INSERT INTO alert_rules ({', '.join(RULE_COLUMNS)}) VALUES "
                    f"({', '.join([p] * len(RULE_COLUMNS))})",
                    (rule.rule_id, rule.name, rule.owner, condition_text(condition),
                     rule.webhook, rule.secret, rule.email, rule.cooldown_s, rule.quiet, 1,
                     rule.created_at, rule.updated_at))
        _log_rule(con, p, rule, "added", who)

    _changed(store, "add", change)
    return rule


def set_enabled(store, name: str, enabled: bool, *, who: str) -> None:
    rule = get_rule(store, name)
    p = store.PARAM

    def change(con):
        con.execute(f"UPDATE alert_rules SET enabled = {p}, updated_at = {p} "
                    f"WHERE rule_id = {p}", (int(enabled), utc_text(), rule.rule_id))
        _log_rule(con, p, rule, "enabled" if enabled else "disabled", who)

    _changed(store, "enable" if enabled else "disable", change)


def remove_rule(store, name: str, *, who: str) -> None:
    """Delete a rule; its alerts and log stay, its pending deliveries are dropped."""
    rule = get_rule(store, name)
    p = store.PARAM

    def change(con):
        con.execute(f"DELETE FROM alert_rules WHERE rule_id = {p}", (rule.rule_id,))
        con.execute(f"DELETE FROM alert_matches WHERE rule_id = {p}", (rule.rule_id,))
        con.execute(f"UPDATE alert_deliveries SET status = 'dropped' WHERE rule_id = {p} "
                    "AND status IN ('pending', 'sending')", (rule.rule_id,))
        _log_rule(con, p, rule, "removed", who)

    _changed(store, "remove", change)


def rule_log(store) -> pd.DataFrame:
    """Every change to the rules, oldest first."""
    columns = ["log_id", "rule_id", "action", "name", "rule", "who", "at"]
    rows = store.query(f"SELECT {', '.join(columns)} FROM alert_log ORDER BY log_id")
    return pd.DataFrame(rows, columns=columns)


def matching_now(store, rule: Rule) -> pd.DataFrame:
    """What the rule's condition selects in the store now (``alerts test``)."""
    return store.incidents(rule.condition, columns=list(FACT_COLUMNS))


# --- matching, inside the writing transaction -------------------------------------------

def _facts(con, store, table: str) -> dict[str, str]:
    """The facts (as JSON text) alerts carry of the changed records (ids in ``table``),
    as the transaction sees them: read once for every rule."""
    rows = con.execute(f"SELECT {', '.join(FACT_COLUMNS)} FROM incidents WHERE id IN "
                       f"(SELECT id FROM {table})").fetchall()
    return {row[0]: json.dumps({k: _plain(v) for k, v in zip(FACT_COLUMNS, row,
                                                              strict=True)}, sort_keys=True)
            for row in rows}


def _plain(value):
    if isinstance(value, dt.datetime | pd.Timestamp):
        return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ") \
            if pd.Timestamp(value).tzinfo else pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float) and value != value:
        return None
    return value


def _ids_table(con, store, ids: Sequence[str]) -> str:
    """A temporary table of ``ids`` on the transaction's connection; its name."""
    name = "fw_changed"
    if store.PARAM == "%s":
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (id text PRIMARY KEY) "
                    "ON COMMIT DELETE ROWS")
    else:
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (id TEXT PRIMARY KEY)")
    con.execute(f"DELETE FROM {name}")
    con.cursor().executemany(f"INSERT INTO {name} (id) VALUES ({store.PARAM})",
                             [(i,) for i in ids])
    return f"pg_temp.{name}" if store.PARAM == "%s" else f"temp.{name}"


def queue_alerts(store, con, ids: Sequence[str], import_id) -> int:
    """Match every enabled rule against the incident records ``ids`` a write has just
    changed, on the writing transaction's connection ``con``; write the alerts (and a
    delivery per channel) it makes there. Returns how many alerts were written."""
    rules = list_rules(store, enabled_only=True, con=con)
    if not rules or not ids:
        return 0
    table = _ids_table(con, store, ids)
    now = utc_text()
    planned = [(rule, states) for rule in rules
               if (states := _new_states(con, store, rule, table))]
    if not planned:
        return 0
    facts = _facts(con, store, table)
    return sum(_write_alerts(con, store, rule, states, facts, table, import_id, now)
               for rule, states in planned)


def _new_states(con, store, rule: Rule, table: str) -> dict[str, str]:
    """{record id: state} of the changed records (ids in ``table``) for one rule; the
    rule's record of what matches it brought up to date."""
    if rule.condition.is_empty():
        return {}
    p = store.PARAM
    query, params = store.matching_sql(rule.condition, table)
    rows = con.execute(query, params).fetchall()
    matched = {r[0] for r in rows}
    if rule.condition.has_outline and rows:
        frame = pd.DataFrame(rows, columns=["id", "lon", "lat"])
        matched = set(frame["id"][rule.condition.keep(frame["lon"], frame["lat"])])
    before = {r[0] for r in con.execute(
        f"SELECT record_id FROM alert_matches WHERE rule_id = {p} AND record_id IN "
        f"(SELECT id FROM {table})", (rule.rule_id,)).fetchall()}
    con.cursor().executemany(
        f"INSERT INTO alert_matches (rule_id, record_id) VALUES ({p}, {p})",
        [(rule.rule_id, i) for i in sorted(matched - before)])
    con.cursor().executemany(
        f"DELETE FROM alert_matches WHERE rule_id = {p} AND record_id = {p}",
        [(rule.rule_id, i) for i in sorted(before - matched)])
    return ({i: "new" for i in matched - before} | {i: "updated" for i in matched & before}
            | {i: "cleared" for i in before - matched})


def _write_alerts(con, store, rule: Rule, states: dict[str, str], facts: dict[str, str],
                  table: str, import_id, now: str) -> int:
    """The alerts of one rule (one per record and state, never twice: those the changed
    records, ids in ``table``, had already are left out) and their deliveries, due at
    once or when the rule's cooldown since its last one is over."""
    p = store.PARAM
    had = set(map(tuple, con.execute(
        f"SELECT record_id, state FROM alerts WHERE rule_id = {p} AND record_id IN "
        f"(SELECT id FROM {table})", (rule.rule_id,)).fetchall()))
    fresh = [(i, state) for i, state in sorted(states.items()) if (i, state) not in had]
    if not fresh:
        return 0
    # the cooldown runs from the rule's last message sent (or being sent); what comes in
    # meanwhile is due at its end, all together
    last = con.execute(f"SELECT max(coalesce(sent_at, due_at)) FROM alert_deliveries "
                       f"WHERE rule_id = {p} AND status IN ('sent', 'sending')",
                       (rule.rule_id,)).fetchone()[0]
    due = now
    if last and rule.cooldown_s:
        after = (pd.Timestamp(last) + pd.Timedelta(seconds=rule.cooldown_s))
        due = max(now, after.strftime("%Y-%m-%dT%H:%M:%SZ"))
    made = [(secrets.token_hex(12), i, state) for i, state in fresh]
    con.cursor().executemany(
        "INSERT INTO alerts (alert_id, rule_id, record_id, state, created_at, import_id, "
        f"facts) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT DO NOTHING",
        [(a, rule.rule_id, i, state, now, import_id,
          facts.get(i) or json.dumps({"id": i})) for a, i, state in made])
    con.cursor().executemany(
        "INSERT INTO alert_deliveries (delivery_id, alert_id, rule_id, channel, target, "
        f"created_at, due_at, attempts, status, last_error) VALUES ({p}, {p}, {p}, {p}, "
        f"{p}, {p}, {p}, 0, 'pending', '')",
        [(f"{a}-{channel}", a, rule.rule_id, channel, target, now, due)
         for channel, target in rule.channels() for a, _, _ in made])
    log.info("alert rule %r: %d alert(s) queued", rule.name, len(made))
    return len(made)


# --- reading alerts ---------------------------------------------------------------------

ALERT_COLUMNS = ("alert_id", "rule_id", "record_id", "state", "created_at", "import_id",
                 "facts", "acknowledged_by", "acknowledged_at")


def alerts(store, *, rule: Rule | None = None, limit: int = 200) -> pd.DataFrame:
    """The latest alerts (of one rule), newest first, with their rule's name."""
    p = store.PARAM
    where = f"WHERE a.rule_id = {p}" if rule else ""
    rows = store.query(
        f"SELECT {', '.join('a.' + c for c in ALERT_COLUMNS)}, coalesce(r.name, '') "
        f"FROM alerts a LEFT JOIN alert_rules r ON r.rule_id = a.rule_id {where} "
        f"ORDER BY a.created_at DESC, a.alert_id LIMIT {int(limit)}",
        (rule.rule_id,) if rule else ())
    frame = pd.DataFrame(rows, columns=[*ALERT_COLUMNS, "rule"])
    frame["facts"] = frame["facts"].map(json.loads)
    return frame


def acknowledge(store, alert_id: str, *, who: str) -> None:
    """Mark an alert as seen by ``who`` (the first acknowledgement stays)."""
    p = store.PARAM

    def change(con):
        con.execute(f"UPDATE alerts SET acknowledged_by = {p}, acknowledged_at = {p} "
                    f"WHERE alert_id = {p} AND acknowledged_by IS NULL",
                    (who, utc_text(), alert_id))

    _changed(store, "acknowledge", change)


def deliveries(store) -> pd.DataFrame:
    """Every delivery and its state, oldest first."""
    columns = ["delivery_id", "alert_id", "rule_id", "channel", "target", "created_at",
               "due_at", "attempts", "status", "last_error", "sent_at"]
    rows = store.query(f"SELECT {', '.join(columns)} FROM alert_deliveries "
                       "ORDER BY created_at, delivery_id")
    return pd.DataFrame(rows, columns=columns)


#: Every alert table and its columns, in the order a copy writes them.
TABLE_COLUMNS = {
    "alert_rules": RULE_COLUMNS,
    "alert_log": ("log_id", "rule_id", "action", "name", "rule", "who", "at"),
    "alert_matches": ("rule_id", "record_id"),
    "alerts": ALERT_COLUMNS,
    "alert_deliveries": ("delivery_id", "alert_id", "rule_id", "channel", "target",
                         "created_at", "due_at", "attempts", "status", "last_error",
                         "sent_at"),
}


def dump(store) -> dict[str, pd.DataFrame]:
    """Every row of the alert tables, as stored (for a copy of the store)."""
    return {table: pd.DataFrame(store.query(f"SELECT {', '.join(columns)} FROM {table} "
                                            f"ORDER BY {columns[0]}"), columns=list(columns))
            for table, columns in TABLE_COLUMNS.items()}


def feed_xml(store, rule: Rule, *, link: str = "") -> bytes:
    """The rule's alerts as an Atom feed (every text escaped by the XML writer)."""
    atom = "http://www.w3.org/2005/Atom"
    ElementTree.register_namespace("", atom)

    def sub(parent, tag, text=None, **attrs):
        element = ElementTree.SubElement(parent, f"{{{atom}}}{tag}", attrs)
        if text is not None:
            element.text = _printable(str(text))
        return element

    found = alerts(store, rule=rule)
    root = ElementTree.Element(f"{{{atom}}}feed")
    sub(root, "title", f"Flankwatch alerts: {rule.name}")
    sub(root, "id", f"urn:flankwatch:alert-rule:{rule.rule_id}")
    sub(root, "updated", found["created_at"].iloc[0] if len(found) else rule.updated_at)
    for row in found.itertuples():
        entry = sub(root, "entry")
        sub(entry, "id", f"urn:flankwatch:alert:{row.alert_id}")
        sub(entry, "title", headline(row.state, row.facts))
        sub(entry, "updated", row.created_at)
        sub(entry, "summary", summary_text(row.facts))
        if link:
            sub(entry, "link", href=record_link(link, row.record_id))
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def _printable(text: str) -> str:
    """Text without the control characters XML 1.0 cannot hold."""
    return "".join(c for c in text if c in "\t\n" or c.isprintable())


def headline(state: str, facts: dict) -> str:
    """One line for an alert: its state and the record's title (or id)."""
    title = " ".join(str(facts.get("title") or facts.get("id") or "").split())
    return f"{state}: {title}"[:200]


def summary_text(facts: dict) -> str:
    """The record's facts, one per line."""
    lines = []
    for key, label in (("id", "record"), ("type", "type"), ("date", "date"),
                       ("country_name", "airspace"), ("location_label", "where"),
                       ("dist_belarus_km", "from Belarus, km"),
                       ("dist_kaliningrad_km", "from Kaliningrad, km"),
                       ("confidence", "confidence")):
        value = facts.get(key)
        if value not in (None, ""):
            shown = f"{value:.1f}" if isinstance(value, float) else str(value)
            lines.append(f"{label}: {shown}")
    return "\n".join(lines)


def record_link(base: str, record_id: str) -> str:
    """The dashboard's address opening the map on a record."""
    from urllib.parse import quote

    return f"{base.rstrip('/')}/?selected={quote(record_id, safe='')}"


# --- delivery ---------------------------------------------------------------------------

@dataclass
class SmtpSettings:
    """Where e-mail goes (``FLANKWATCH_SMTP_*`` environment variables)."""

    host: str = ""
    port: int = 25
    starttls: bool = False
    user: str = ""
    password: str = ""
    sender: str = "flankwatch@localhost"

    @classmethod
    def from_environment(cls) -> SmtpSettings:
        import os

        env = os.environ
        return cls(host=env.get("FLANKWATCH_SMTP_HOST", ""),
                   port=int(env.get("FLANKWATCH_SMTP_PORT", "25") or 25),
                   starttls=env.get("FLANKWATCH_SMTP_STARTTLS", "") in ("1", "true", "yes"),
                   user=env.get("FLANKWATCH_SMTP_USER", ""),
                   password=env.get("FLANKWATCH_SMTP_PASSWORD", ""),
                   sender=env.get("FLANKWATCH_SMTP_FROM", "") or "flankwatch@localhost")


class DeliveryError(Exception):
    """A delivery that failed; ``retry``: whether trying again may help."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.sent} sent, {self.retried} to retry, {self.failed} given up, "
                f"{self.held} held by quiet hours")


def signature(secret: str, body: bytes) -> str:
    """The ``X-Flankwatch-Signature`` header's value for a webhook body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(rule: Rule, rows: list[dict], *, link: str = "") -> bytes:
    """The JSON a webhook receives: the rule, and per alert its delivery id, state and
    record (with the dashboard's link to it)."""
    items = [{"delivery": r["delivery_id"], "alert": r["alert_id"], "state": r["state"],
              "record": r["facts"],
              **({"link": record_link(link, r["record_id"])} if link else {})}
             for r in rows]
    return json.dumps({"rule": rule.name, "alerts": items}, ensure_ascii=False,
                      sort_keys=True).encode()


def send_webhook(rule: Rule, rows: list[dict], *, link: str = "",
                 timeout_s: float = 10.0) -> None:
    body = webhook_body(rule, rows, link=link)
    request = urllib.request.Request(
        rule.webhook, data=body, method="POST",
        headers={"Content-Type": "application/json",
                 "X-Flankwatch-Signature": signature(rule.secret, body),
                 "X-Flankwatch-Delivery": ",".join(r["delivery_id"] for r in rows)})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code}", retry=exc.code >= 500 or exc.code == 429
                            ) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"not reached: {reason}", retry=True) from exc


def send_email(rule: Rule, rows: list[dict], smtp: SmtpSettings, *, link: str = "") -> None:
    if not smtp.host:
        raise DeliveryError("no SMTP server set (FLANKWATCH_SMTP_HOST)", retry=True)
    message = EmailMessage()
    # a header holds one line: the record's text never adds one
    subject = f"Flankwatch alert {rule.name}: " + (
        headline(rows[0]["state"], rows[0]["facts"]) if len(rows) == 1
        else f"{len(rows)} alerts")
    message["Subject"] = " ".join(subject.split())[:200]
    message["From"] = smtp.sender
    message["To"] = rule.email
    message["X-Flankwatch-Delivery"] = ",".join(r["delivery_id"] for r in rows)
    parts = []
    for r in rows:
        text = headline(r["state"], r["facts"]) + "\n" + summary_text(r["facts"])
        if link:
            text += "\n" + record_link(link, r["record_id"])
        parts.append(text)
    message.set_content("\n\n".join(parts) + "\n")
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as server:
            if smtp.starttls:
                server.starttls()
            if smtp.user:
                server.login(smtp.user, smtp.password)
            server.send_message(message)
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.smtp_code}", retry=exc.smtp_code >= 400 and
                            exc.smtp_code < 500) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"not reached: {exc}", retry=True) from exc


def deliver(store, *, now: dt.datetime | None = None, smtp: SmtpSettings | None = None,
            link: str = "") -> DeliveryReport:
    """Send every delivery that is due: one message per rule and channel, after claiming
    its deliveries (so no other sender sends them too); a failure is retried later with
    back-off, given up a day after the alert."""
    now = now or dt.datetime.now(dt.UTC)
    smtp = smtp or SmtpSettings.from_environment()
    report = DeliveryReport()
    stale = utc_text(now - dt.timedelta(seconds=CLAIM_EXPIRY_S))
    p = store.PARAM
    with store.transaction() as con:  # a sender killed while sending: due again
        con.execute(f"UPDATE alert_deliveries SET status = 'pending' WHERE status = "
                    f"'sending' AND due_at < {p}", (stale,))
    rules = {r.rule_id: r for r in list_rules(store)}
    due = store.query(
        "SELECT d.delivery_id, d.alert_id, d.rule_id, d.channel, d.attempts, d.created_at, "
        "a.record_id, a.state, a.facts FROM alert_deliveries d JOIN alerts a "
        f"ON a.alert_id = d.alert_id WHERE d.status = 'pending' AND d.due_at <= {p} "
        "ORDER BY d.created_at, d.delivery_id", (utc_text(now),))
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in due:
        keys = ("delivery_id", "alert_id", "rule_id", "channel", "attempts", "created_at",
                "record_id", "state", "facts")
        item = dict(zip(keys, row, strict=True))
        item["facts"] = json.loads(item["facts"])
        groups.setdefault((item["rule_id"], item["channel"]), []).append(item)
    for (rule_id, channel), rows in groups.items():
        rule = rules.get(rule_id)
        if rule is None:
            continue
        if in_quiet_hours(rule.quiet, now):
            report.held += len(rows)
            continue
        claimed = _claim(store, rows, now)
        if not claimed:
            continue
        try:
            if channel == "webhook":
                send_webhook(rule, claimed, link=link)
            else:
                send_email(rule, claimed, smtp, link=link)
        except DeliveryError as exc:
            _failed(store, claimed, now, exc, report)
            log.warning("alert rule %r: %s delivery failed: %s", rule.name, channel, exc)
            continue
        _sent(store, claimed, now)
        report.sent += len(claimed)
    return report


def _claim(store, rows: list[dict], now: dt.datetime) -> list[dict]:
    """The deliveries of ``rows`` this sender now owns (status 'sending'; 'due_at' set
    to the claim's time, which :data:`CLAIM_EXPIRY_S` later frees them)."""
    p = store.PARAM
    mine = []
    with store.transaction() as con:
        for row in rows:
            taken = con.execute(
                f"UPDATE alert_deliveries SET status = 'sending', due_at = {p} "
                f"WHERE delivery_id = {p} AND status = 'pending'",
                (utc_text(now), row["delivery_id"])).rowcount
            if taken == 1:
                mine.append(row)
    return mine


def _sent(store, rows: list[dict], now: dt.datetime) -> None:
    p = store.PARAM
    with store.transaction() as con:
        con.cursor().executemany(
            f"UPDATE alert_deliveries SET status = 'sent', sent_at = {p}, "
            f"attempts = attempts + 1 WHERE delivery_id = {p}",
            [(utc_text(now), r["delivery_id"]) for r in rows])


def _failed(store, rows: list[dict], now: dt.datetime, exc: DeliveryError,
            report: DeliveryReport) -> None:
    p = store.PARAM
    updates = []
    for r in rows:
        attempts = int(r["attempts"]) + 1
        wait = min(RETRY_FIRST_S * 2 ** (attempts - 1), RETRY_MAX_S)
        age = (now - pd.Timestamp(r["created_at"]).to_pydatetime()).total_seconds()
        give_up = not exc.retry or age + wait > GIVE_UP_S
        status = "failed" if give_up else "pending"
        report.failed += give_up
        report.retried += not give_up
        updates.append((status, attempts, utc_text(now + dt.timedelta(seconds=wait)),
                        str(exc)[:300], r["delivery_id"]))
    report.errors.append(str(exc))
    with store.transaction() as con:
        con.cursor().executemany(
            f"UPDATE alert_deliveries SET status = {p}, attempts = {p}, due_at = {p}, "
            f"last_error = {p} WHERE delivery_id = {p}", updates)
