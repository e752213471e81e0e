"""Alert rules on both store backends: matching in the writing transaction, the three
states, delivery by a real webhook receiver and a real SMTP server on 127.0.0.1 (with
failures, retries and a killed sender), the Atom feed, the command line."""

from __future__ import annotations

import csv
import datetime as dt
import email
import hashlib
import hmac
import http.server
import io
import itertools
import json
import subprocess
import sys
import threading
import time
from email import policy
from typing import ClassVar
from xml.etree import ElementTree

import psycopg
import pytest

from geo import alerts
from geo.__main__ import main
from geo.filters import IncidentFilter
from geo.records import import_file
from geo.settings import ROOT_DIR
from geo.store import open_store
from tests.browser import free_port
from tests.postgres import private_cluster

_databases = itertools.count()
HOSTILE_TITLE = 'Drone </title><script>alert(1)</script>\r\nBcc: victim@example.org "x"'


@pytest.fixture(scope="module")
def cluster():
    with private_cluster() as url:
        yield url


@pytest.fixture(params=["geopackage", "postgis"])
def store(request, tmp_path):
    if request.param == "geopackage":
        return open_store(tmp_path / "store.gpkg")
    cluster = request.getfixturevalue("cluster")
    name = f"alerts_{next(_databases)}"
    with psycopg.connect(cluster, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    url = cluster.replace("/flankwatch?", f"/{name}?")
    assert main(["store", "init", "--store", url, "--with-seeds"]) == 0
    return open_store(url)


def _row(*values) -> str:
    """One CSV line, quoted as a spreadsheet would write it."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)  # (a field with CR is quoted)
    return out.getvalue()


def _write(store, tmp_path, rows: str, name: str = "in.csv"):
    path = tmp_path / name
    path.write_text("id,date,date_precision,type,lat,lon,confidence,title\n" + rows,
                    encoding="utf-8")
    assert import_file(store, path).written


def _states(store, rule) -> list[tuple[str, str]]:
    found = alerts.alerts(store, rule=rule)
    return sorted(zip(found["record_id"], found["state"], strict=True))


def test_a_rule_says_new_updated_and_cleared_once_each(store, tmp_path):
    """Drones within 100 km of Belarus (the stored exact distance): a new one near
    Vilnius is 'new'; imported again unchanged, nothing; its title changed, 'updated';
    moved to Klaipėda (over 100 km away), 'cleared'; an aircraft never matches."""
    rule = alerts.add_rule(store, "Drones near Belarus",
                           IncidentFilter(types=("drone",), near=("belarus", 100.0)),
                           who="ana@example.org")
    _write(store, tmp_path, "d1,2025-10-01,day,drone,54.6,25.3,reported,Drone A\n"
                            "a1,2025-10-01,day,aircraft,54.6,25.3,reported,Plane\n")
    assert _states(store, rule) == [("d1", "new")]
    _write(store, tmp_path, "d1,2025-10-01,day,drone,54.6,25.3,reported,Drone A\n")
    assert _states(store, rule) == [("d1", "new")]
    _write(store, tmp_path, "d1,2025-10-01,day,drone,54.6,25.3,reported,\"Drone A, found\"\n")
    assert _states(store, rule) == [("d1", "new"), ("d1", "updated")]
    _write(store, tmp_path, "d1,2025-10-01,day,drone,55.71,21.13,reported,\"Drone A, found\"\n")
    assert _states(store, rule) == [("d1", "cleared"), ("d1", "new"), ("d1", "updated")]
    facts = alerts.alerts(store, rule=rule).set_index("state").loc["new", "facts"]
    assert facts["title"] == "Drone A"
    assert 20 < facts["dist_belarus_km"] < 40  # the store's own distance, not a new one


def test_a_ring_around_a_place_and_a_revert_are_matched_too(store, tmp_path):
    from geo.store.history import revert

    rule = alerts.add_rule(store, "Vilnius 30 km", IncidentFilter(around=("Wilno", 30.0)),
                           who="ana@example.org")
    _write(store, tmp_path, "v1,2025-10-02,day,balloon,54.90,23.90,reported,Balloon\n"
                            "w1,2025-10-02,day,balloon,54.70,25.30,reported,Near balloon\n")
    assert _states(store, rule) == [("w1", "new")]  # v1 is at Kaunas, 80 km away
    _write(store, tmp_path, "v1,2025-10-02,day,balloon,54.70,25.30,reported,Balloon\n")
    assert _states(store, rule) == [("v1", "new"), ("w1", "new")]
    revert(store, "incidents", "v1", 1, who="admin@example.org")  # back to Kaunas
    assert _states(store, rule) == [("v1", "cleared"), ("v1", "new"), ("w1", "new")]


class _Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that answers 500 to its first ``fail`` requests."""

    fail = 0
    got: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append((dict(self.headers), body))
        failing = len(type(self).got) <= type(self).fail
        self.send_response(500 if failing else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    handler = type("Receiver", (_Receiver,), {"got": [], "fail": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_a_webhook_is_signed_retried_with_back_off_and_never_sent_twice(store, tmp_path,
                                                                         receiver):
    handler, url = receiver
    handler.fail = 2
    alerts.add_rule(store, "Any drone", IncidentFilter(types=("drone",)), who="ana",
                    webhook=url, secret="s3cret")
    _write(store, tmp_path, _row("h1", "2025-10-03", "day", "drone", 54.6, 25.3, "reported",
                                 HOSTILE_TITLE))
    start = dt.datetime.now(dt.UTC)
    first = alerts.deliver(store, now=start)
    assert (first.sent, first.retried) == (0, 1)
    assert alerts.deliver(store, now=start + dt.timedelta(seconds=10)).sent == 0  # not due
    second = alerts.deliver(store, now=start + dt.timedelta(seconds=31))
    assert (second.sent, second.retried) == (0, 1)
    assert alerts.deliver(store, now=start + dt.timedelta(seconds=61)).sent == 0  # 60 s now
    third = alerts.deliver(store, now=start + dt.timedelta(seconds=92))
    assert third.sent == 1
    assert alerts.deliver(store, now=start + dt.timedelta(hours=2)).sent == 0
    assert len(handler.got) == 3
    headers, body = handler.got[-1]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Flankwatch-Signature"] == expected
    sent = json.loads(body)
    assert sent["rule"] == "Any drone"
    assert sent["alerts"][0]["record"]["title"] == HOSTILE_TITLE  # text, as it was
    assert sent["alerts"][0]["state"] == "new"
    assert {h["X-Flankwatch-Delivery"] for h, _ in handler.got} == {
        sent["alerts"][0]["delivery"]}  # the same delivery id on every attempt


def test_a_receiver_that_refuses_for_a_day_is_given_up(store, tmp_path):
    alerts.add_rule(store, "Nobody listens", IncidentFilter(types=("drone",)), who="ana",
                    webhook="http://127.0.0.1:9/closed", secret="k")
    _write(store, tmp_path, "g1,2025-10-03,day,drone,54.6,25.3,reported,Drone\n")
    now = dt.datetime.now(dt.UTC)
    while now < dt.datetime.now(dt.UTC) + dt.timedelta(days=2):
        alerts.deliver(store, now=now)
        now += dt.timedelta(hours=1)
    row = alerts.deliveries(store).iloc[0]
    assert row["status"] == "failed"
    assert "not reached" in row["last_error"]
    assert 20 <= row["attempts"] <= 30


def test_a_sender_killed_while_sending_is_replaced_after_the_claim_expires(store, tmp_path,
                                                                           receiver):
    """Claimed (status 'sending') by a process that died before reporting: nothing is
    lost, and it is sent once by the next sender after the claim's expiry."""
    handler, url = receiver
    alerts.add_rule(store, "Claimed", IncidentFilter(types=("drone",)), who="ana",
                    webhook=url, secret="k")
    _write(store, tmp_path, "c1,2025-10-03,day,drone,54.6,25.3,reported,Drone\n")
    now = dt.datetime.now(dt.UTC)
    due = [dict(delivery_id=d) for d in alerts.deliveries(store)["delivery_id"]]
    assert alerts._claim(store, due, now) == due  # ... and then the sender is killed
    assert alerts.deliver(store, now=now + dt.timedelta(seconds=60)).sent == 0
    assert alerts.deliver(store, now=now + dt.timedelta(seconds=301)).sent == 1
    assert alerts.deliver(store, now=now + dt.timedelta(seconds=900)).sent == 0
    assert len(handler.got) == 1


def test_an_import_process_killed_after_commit_leaves_its_alerts_for_delivery(
        tmp_path, receiver, monkeypatch):
    """The import commits its records and their alerts together; the importing process
    then dies (killed) before any delivery: `alerts deliver`, run later by another
    process, sends them."""
    handler, url = receiver
    store_path = tmp_path / "store.gpkg"
    store = open_store(store_path)
    alerts.add_rule(store, "Killed", IncidentFilter(types=("drone",)), who="ana",
                    webhook=url, secret="k")
    (tmp_path / "in.csv").write_text(
        "id,date,date_precision,type,lat,lon,confidence,title\n"
        "k1,2025-10-03,day,drone,54.6,25.3,reported,Drone\n", encoding="utf-8")
    script = ("import os, signal, sys; from geo.__main__ import main; "
              "main(['import', sys.argv[1], '--store', sys.argv[2]]); "
              "os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "in.csv"),
                           str(store_path)], cwd=ROOT_DIR, capture_output=True, timeout=120)
    assert proc.returncode == -9
    assert handler.got == []
    done = subprocess.run([sys.executable, "-m", "geo", "alerts", "deliver", "--store",
                           str(store_path)], cwd=ROOT_DIR, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 sent" in done.stdout
    assert len(handler.got) == 1


def test_e_mail_goes_through_a_real_smtp_server_without_header_injection(store, tmp_path):
    from aiosmtpd.controller import Controller

    class Keep:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd)
            self.messages.append(envelope)
            return "250 OK"

    kept = Keep()
    port = free_port()
    controller = Controller(kept, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = alerts.SmtpSettings(host="127.0.0.1", port=port, sender="alerts@flankwatch.test")
        alerts.add_rule(store, "Mail me", IncidentFilter(types=("drone",)), who="ana",
                        email="duty@example.org")
        _write(store, tmp_path, _row("m1", "2025-10-03", "day", "drone", 54.6, 25.3,
                                     "reported", HOSTILE_TITLE))
        report = alerts.deliver(store, smtp=smtp, link="http://127.0.0.1:8501")
        assert report.sent == 1
    finally:
        controller.stop()
    (envelope,) = kept.messages
    assert envelope.rcpt_tos == ["duty@example.org"]  # no Bcc smuggled in by the title
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert "Bcc" not in message
    assert "\n" not in message["Subject"]
    assert "<script>alert(1)</script>" in message["Subject"]  # kept, as text
    assert "http://127.0.0.1:8501/?selected=m1" in message.get_content()


def test_the_atom_feed_is_well_formed_with_hostile_text(store, tmp_path):
    rule = alerts.add_rule(store, "Feed", IncidentFilter(types=("drone",)), who="ana")
    _write(store, tmp_path, _row("f1", "2025-10-03", "day", "drone", 54.6, 25.3, "reported",
                                 HOSTILE_TITLE + "\x01"))
    root = ElementTree.fromstring(alerts.feed_xml(store, rule, link="http://h"))
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entry = root.find("a:entry", ns)
    assert entry.find("a:title", ns).text.startswith("new: Drone </title><script>")
    assert entry.find("a:link", ns).get("href") == "http://h/?selected=f1"
    assert root.find("a:script", ns) is None
    assert entry.find("a:script", ns) is None


def test_cooldown_sends_what_comes_in_between_together(store, tmp_path, receiver):
    handler, url = receiver
    alerts.add_rule(store, "Calm", IncidentFilter(types=("drone",)), who="ana", webhook=url,
                    secret="k", cooldown_s=900)
    _write(store, tmp_path, "q1,2025-10-03,day,drone,54.6,25.3,reported,One\n", "a.csv")
    now = dt.datetime.now(dt.UTC)
    assert alerts.deliver(store, now=now + dt.timedelta(seconds=5)).sent == 1
    _write(store, tmp_path, "q2,2025-10-03,day,drone,54.6,25.3,reported,Two\n", "b.csv")
    _write(store, tmp_path, "q3,2025-10-03,day,drone,54.6,25.3,reported,Three\n", "c.csv")
    assert alerts.deliver(store, now=now + dt.timedelta(seconds=60)).sent == 0
    assert alerts.deliver(store, now=now + dt.timedelta(seconds=960)).sent == 2
    assert [len(json.loads(b)["alerts"]) for _, b in handler.got] == [1, 2]


def test_quiet_hours_hold_deliveries_until_they_end():
    night = dt.datetime(2025, 10, 3, 23, 30, tzinfo=dt.UTC)
    assert alerts.in_quiet_hours("22:00-06:00", night)
    assert alerts.in_quiet_hours("22:00-06:00", night.replace(hour=5, minute=59))
    assert not alerts.in_quiet_hours("22:00-06:00", night.replace(hour=6))
    assert not alerts.in_quiet_hours("", night)
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        alerts.check_quiet("10pm-6am")


def test_the_command_line_adds_lists_tests_disables_and_removes(tmp_path, capsys):
    store = str(tmp_path / "store.gpkg")
    assert main(["alerts", "add", "Near Belarus", "--store", store, "--types", "drone",
                 "--border", "belarus:150", "--cooldown", "15m", "--quiet", "22:00-06:00"]) == 0
    assert main(["alerts", "add", "Near Belarus", "--store", store]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["alerts", "add", "Bad", "--store", store, "--near", "Nowhereville:5"]) == 2
    assert "Nowhereville" in capsys.readouterr().err
    assert main(["alerts", "add", "Hook", "--store", store, "--webhook", "http://x/"]) == 2
    assert "--secret" in capsys.readouterr().err
    assert main(["alerts", "list", "--store", store]) == 0
    assert "within 150 km of Belarus" in capsys.readouterr().out
    assert main(["alerts", "test", "Near Belarus", "--store", store]) == 0
    assert "1 incident(s) match now" in capsys.readouterr().out  # the seeds' Gerbera
    assert main(["alerts", "disable", "Near Belarus", "--store", store]) == 0
    assert alerts.list_rules(open_store(store))[0].enabled is False
    assert main(["alerts", "remove", "Near Belarus", "--store", store]) == 0
    assert main(["alerts", "show", "Near Belarus", "--store", store]) == 2
    log = alerts.rule_log(open_store(store))
    assert list(log["action"]) == ["added", "disabled", "removed"]


def test_matching_a_large_import_stays_in_its_transaction(store, tmp_path):
    """2,000 records and three rules: the alerts are written with the records (the
    import's report and the alerts agree), none for the records left unchanged."""
    for name, filters in (("All drones", IncidentFilter(types=("drone",))),
                          ("Latvia", IncidentFilter(countries=("LVA",))),
                          ("Box", IncidentFilter(bbox=(24.0, 54.0, 26.0, 55.5)))):
        alerts.add_rule(store, name, filters, who="ana")
    rows = "".join(f"b{k},2025-10-04,day,{'drone' if k % 2 else 'balloon'},"
                   f"{54.0 + (k % 40) * 0.05:.2f},{23.0 + (k % 50) * 0.08:.2f},reported,R{k}\n"
                   for k in range(2000))
    started = time.monotonic()
    _write(store, tmp_path, rows)
    assert time.monotonic() - started < 120
    found = alerts.alerts(store, limit=10_000)
    drones = found[found["rule"] == "All drones"]
    assert len(drones) == 1000
    box = found[found["rule"] == "Box"]
    expected = open_store(store.location if store.location.startswith("postgresql")
                          else store.path).incidents(IncidentFilter(
                              bbox=(24.0, 54.0, 26.0, 55.5)))
    assert set(box["record_id"]) == set(expected["id"]) & {f"b{k}" for k in range(2000)}


@pytest.mark.e2e
def test_the_dashboards_server_sends_due_alerts_on_its_own(tmp_path, receiver, page,
                                                           monkeypatch):
    """With the dashboard open, a record imported from the command line reaches the
    webhook without anyone running `alerts deliver` (the server's own loop; every 1 s
    here, 30 s by default)."""
    from tests.browser import ARTIFACTS, dashboard, map_frame, open_tab

    handler, url = receiver
    store_path = tmp_path / "store.gpkg"
    alerts.add_rule(open_store(store_path), "Server", IncidentFilter(types=("balloon",)),
                    who="ana", webhook=url, secret="k")
    monkeypatch.setenv("FLANKWATCH_ALERT_EVERY_S", "1")
    monkeypatch.setenv("FLANKWATCH_PUBLIC_URL", "http://127.0.0.1:8501")
    with dashboard(store_path) as site:
        page.goto(site)
        map_frame(page)
        (tmp_path / "in.csv").write_text(
            "id,date,date_precision,type,lat,lon,confidence,title\n"
            "s1,2025-10-05,day,balloon,54.6,25.3,reported,Balloon\n", encoding="utf-8")
        assert main(["import", str(tmp_path / "in.csv"), "--store", str(store_path)]) == 0
        deadline = time.monotonic() + 60
        while not handler.got and time.monotonic() < deadline:
            time.sleep(0.5)
        # the Alerts tab lists it; "Open" selects its record beside the map
        page.reload()
        map_frame(page)
        listed = page.get_by_text("new: Balloon", exact=False)
        open_tab(page, "Alerts", listed)
        page.locator("[class*='st-key-alert_open-'] button").first.click()
        page.locator(".fw-facts").filter(has_text="s1").wait_for(timeout=30_000)
        assert "1 new alert" in page.locator(".fw-header").inner_text()
        page.screenshot(path=str(ARTIFACTS / "alerts-tab.png"))
    assert len(handler.got) == 1
    sent = json.loads(handler.got[0][1])
    assert sent["alerts"][0]["link"] == "http://127.0.0.1:8501/?selected=s1"


def test_the_hostile_corpus_is_only_text_in_every_channel(tmp_path, receiver):
    """Every string of tests/hostile.py as a record's title: the webhook's JSON gives it
    back exactly, the e-mail has one recipient and a one-line subject, the feed parses;
    nothing in any channel is evaluated."""
    from aiosmtpd.controller import Controller

    from tests.hostile import CORPUS, EVALUATED_MARKERS

    handler, url = receiver
    store = open_store(tmp_path / "store.gpkg")
    rule = alerts.add_rule(store, "Hostile", IncidentFilter(types=("drone",)), who="ana",
                           webhook=url, secret="k", email="duty@example.org")
    rows = "".join(_row(f"x-{name}", "2025-10-06", "day", "drone", 54.6, 25.3, "reported",
                        text) for name, text in CORPUS.items())
    (tmp_path / "in.csv").write_text("id,date,date_precision,type,lat,lon,confidence,title\n"
                                     + rows, encoding="utf-8")
    assert import_file(store, tmp_path / "in.csv", keep_valid=True).written
    stored = store.incidents(columns=["id", "title"]).set_index("id")["title"]
    imported = [name for name in CORPUS if f"x-{name}" in stored]
    assert imported == list(CORPUS)

    class Keep:
        messages: ClassVar[list] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd)
            self.messages.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        report = alerts.deliver(store, smtp=alerts.SmtpSettings(host="127.0.0.1", port=port))
    finally:
        controller.stop()
    assert report.sent == 2 * len(imported)
    sent = json.loads(handler.got[0][1])
    titles = {a["record"]["id"]: a["record"]["title"] for a in sent["alerts"]}
    assert titles == {f"x-{name}": stored[f"x-{name}"] for name in imported}
    (envelope,) = Keep.messages
    assert envelope.rcpt_tos == ["duty@example.org"]
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert "\n" not in message["Subject"]
    feed = alerts.feed_xml(store, rule).decode()
    ElementTree.fromstring(feed)
    for text in (handler.got[0][1].decode(), message.get_content(), feed):
        assert not any(marker in text for marker in EVALUATED_MARKERS)
