"""The dashboard's logic, driven by Streamlit's AppTest (no browser)."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from geo.settings import ROOT_DIR

APP = str(ROOT_DIR / "dashboard" / "app.py")


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("FLANKWATCH_STORE", str(tmp_path / "store.gpkg"))
    return AppTest.from_file(APP, default_timeout=120)


def shown(app) -> int:
    return int(app.metric[0].value)


def notices(app, kind: str) -> list[str]:
    """The text of the dashboard's notices of one kind, as a reader sees it."""
    return [html.unescape(re.sub(r"<[^>]+>", "", el.proto.body)) for el in app.get("html")
            if f"fw-notice fw-{kind}" in el.proto.body]


def test_opens_on_the_seeded_store(app):
    app.run()
    assert not app.exception
    assert shown(app) == 7
    summary = " ".join(t.value for t in app.text)
    assert "By type: drone 6 · aircraft 1" in summary
    app.session_state["tab"] = "Incidents"
    app.run()
    assert len(app.dataframe[-1].value) == 7  # the incident table


def test_filters_change_the_counts(app):
    app.run()
    app.multiselect(key="types").set_value(["aircraft"]).run()
    assert shown(app) == 1
    app.multiselect(key="types").set_value([]).run()
    app.selectbox(key="period").set_value("2024").run()
    assert shown(app) == 3  # only the records spanning 2022-2025
    app.selectbox(key="period").set_value("all").run()
    app.multiselect(key="countries").set_value(["LTU"]).run()
    assert shown(app) == 2
    app.selectbox(key="near_target").set_value("belarus").run()
    app.number_input(key="near_km").set_value(150.0).run()
    assert shown(app) == 1  # the Gerbera; the region record has no distance


def test_view_round_trips_through_the_url(app):
    app.run()
    app.multiselect(key="types").set_value(["drone"]).run()
    app.multiselect(key="confidence").set_value(["confirmed"]).run()
    app.selectbox(key="period").set_value("2025").run()
    query = {k: app.query_params[k] for k in app.query_params}
    assert query == {"start": "2025-01-01", "end": "2025-12-31", "types": "drone",
                     "confidence": "confirmed"}
    reopened = AppTest.from_file(APP, default_timeout=120)
    for key, value in query.items():
        reopened.query_params[key] = value
    reopened.run()
    assert shown(reopened) == shown(app) == 2
    assert reopened.multiselect(key="types").value == ["drone"]
    assert reopened.selectbox(key="period").value == "custom"


def test_bad_url_parameters_are_reported_and_ignored(app):
    app.query_params["types"] = "ufo"
    app.query_params["view"] = "999,1,1"
    app.run()
    assert shown(app) == 7
    warnings = " ".join(notices(app, "warning"))
    assert "types" in warnings
    assert "view" in warnings


def test_warnings_from_the_address_stay_until_dismissed(app):
    app.query_params.update({"start": "2025-13-01", "types": "drones"})
    app.run()
    first = notices(app, "warning")
    assert any("start" in w for w in first)
    assert any("drones" in w for w in first)
    app.multiselect(key="types").select("drone").run()  # any later run of the page
    assert notices(app, "warning") == first
    app.button(key="dismiss_warnings").click().run()
    assert not notices(app, "warning")
    assert shown(app) == 6  # the filter chosen after the bad link is kept


def test_bad_time_parameters_are_named_with_their_value_and_ignored(app):
    app.query_params.update({"time": "yesterday", "window": "5", "step": "fortnight"})
    app.run()
    assert not app.exception
    assert shown(app) == 7
    warnings = " ".join(notices(app, "warning"))
    for name, value in (("time", "yesterday"), ("window", "5"), ("step", "fortnight")):
        assert f"{name}={value!r}" in warnings


def test_a_time_link_is_kept_in_the_address(app):
    app.query_params.update({"time": "2025-09-10T03:00", "window": "all", "step": "hour"})
    app.run()
    assert not notices(app, "warning")
    kept = app.query_params
    assert (kept["time"], kept["window"], kept["step"]) == ("2025-09-10T03:00", "all", "hour")


UPLOAD = b"""id,date,type,lat,lon,confidence,description
up-1,2025-10-03,balloon,54.60,25.10,reported,Balloon near Vilnius
up-2,31/31/2025,balloon,54.60,25.10,reported,bad date
up-3,2025-10-04,balloon,154.60,25.10,reported,bad latitude
"""


def test_upload_reports_rejected_rows_and_imports_the_rest(app):
    app.run()
    app.session_state["tab"] = "Import"
    app.run()
    app.file_uploader(key="upload").upload("balloons.csv", UPLOAD, "text/csv").run()
    rejects = app.dataframe[-1].value
    assert list(rejects["row"]) == [2, 3]
    assert list(rejects["field"]) == ["date", "lat"]
    download = [b.proto for b in app.get("download_button")
                if b.proto.label == "Download the rejected rows (CSV)"]
    assert len(download) == 1
    guide = app.dataframe[0].value  # the column guide, from the record type's definition
    assert guide.set_index("column").loc["type", "values"].startswith("drone, aircraft")
    assert guide.set_index("column").loc["confidence", "required"] == "yes"
    app.button(key="do_import").click().run()
    assert "1 inserted" in notices(app, "success")[0]
    assert shown(app) == 8  # the counts (and the map) follow at once, no further click


def test_rejected_rows_download_as_a_spreadsheet_safe_csv():
    import io

    from geo.readers import csv_bytes

    rejects = pd.DataFrame({"row": [2, 3], "field": ["date", "title"],
                            "reason": ["not a date: '31/31/2025'", "=HYPERLINK(\"x\")"]})
    back = pd.read_csv(io.BytesIO(csv_bytes(rejects)))
    assert back["row"].tolist() == [2, 3]
    assert back["reason"].tolist() == ["not a date: '31/31/2025'", "'=HYPERLINK(\"x\")"]


def test_export_tab_offers_a_download_of_the_current_view(app):
    app.run()
    app.session_state["tab"] = "Export"
    app.run()
    assert not app.exception
    app.selectbox(key="export_format").set_value(".csv").run()
    assert app.get("download_button")
    assert "Incidents, CSV" in app.get("download_button")[0].proto.label
    app.selectbox(key="export_document").set_value("pack").run()
    make = app.button(key="export_make")
    assert make.label.startswith("Make the PDF (")  # its pages counted beforehand
    assert not make.disabled
    make.click().run()  # drawn with a progress bar, then offered
    assert not app.exception
    pack = app.get("download_button")[1].proto
    assert pack.label == "Download the PDF"


def test_a_document_of_many_pages_is_made_only_when_confirmed(app, monkeypatch):
    """Over 200 pages, the Export tab names the count and asks before drawing."""
    import dashboard.export

    monkeypatch.setattr(dashboard.export, "CONFIRM_PAGES", 1)
    app.session_state["tab"] = "Export"
    app.run()
    app.selectbox(key="export_document").set_value("pack").run()
    ask = app.checkbox(key="export_confirm")
    assert re.fullmatch(r"This pack has [\d,]+ pages\. Make it anyway\?", ask.label)
    assert app.button(key="export_make").disabled
    ask.check().run()
    assert not app.button(key="export_make").disabled


def test_a_text_over_its_limit_is_refused_with_the_limit_named(app):
    """The boxes stop typing at their limits; a longer text can only be sent by hand, and
    would cost every click seconds (a 500 kB title): it is named and not used."""
    app.session_state["tab"] = "Export"
    app.session_state["export_title"] = "x" * 500_000
    app.session_state["search"] = "Vilnius " * 1000
    app.run()
    assert not app.exception
    said = notices(app, "error")
    assert "Title: at most 200 characters (500,000 sent); not used" in said
    assert "Search: at most 100 characters (8,000 sent); not used" in said
    assert not app.get("download_button")  # nothing is drawn with that title
    assert not [b for b in app.selectbox if b.key == "search_pick"]  # nor searched


def test_a_region_only_incident_says_region_once(app):
    app.run()
    app.session_state["selected"] = "pol-2025-09-drones"
    app.run()
    facts = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", el.proto.body))
                     for el in app.get("html") if "fw-facts" in el.proto.body)
    assert "Poland (region; no position reported)" in facts
    assert "reported) (region)" not in facts


def _stored(tmp_path):
    from geo.store import open_store

    return open_store(tmp_path / "store.gpkg").incidents()


def test_a_box_in_the_url_keeps_the_incidents_inside_it(app, tmp_path):
    app.query_params["bbox"] = "20.9,54.0,27.0,56.5"
    app.run()
    assert not app.exception
    stored = _stored(tmp_path)
    region_only = stored["location_precision"] == "region"  # in no area: no position
    inside = stored["lon"].between(20.9, 27.0) & stored["lat"].between(54.0, 56.5)
    assert (inside & region_only).any()  # Lithuania's stand-in point is in the box
    assert 0 < (inside & ~region_only).sum() < len(stored)  # the check bites
    assert shown(app) == (inside & ~region_only).sum()
    left_out = f"The area filter leaves out {region_only.sum()} incidents known only"
    assert left_out in " ".join(c.value for c in app.caption)
    assert app.query_params["bbox"] == "20.9,54,27,56.5"  # kept in the address


def test_a_drawn_area_in_the_url_keeps_the_incidents_inside_it(app, tmp_path):
    import shapely

    from dashboard.state import encode_area

    ring = [(22.0, 53.0), (27.0, 53.0), (27.0, 56.0), (24.5, 56.5), (22.0, 55.5)]  # not a box
    app.query_params["area"] = encode_area(ring)
    app.run()
    assert not app.exception
    stored = _stored(tmp_path)
    inside = shapely.contains_xy(shapely.Polygon(ring), stored["lon"], stored["lat"])
    inside &= stored["location_precision"] != "region"  # a region's point is in no area
    assert 0 < inside.sum() < len(stored)
    assert shown(app) == inside.sum()
    assert "drawn area (5 vertices)" in " ".join(t.value for t in app.sidebar.text)
    app.sidebar.button(key="clear_area").click().run()
    assert shown(app) == len(stored)
    assert "area" not in app.query_params


def test_a_bad_box_or_area_is_named_and_ignored(app, tmp_path):
    app.query_params.update({"bbox": "27,54,20,56", "area": "not-a-polygon"})
    app.run()
    assert not app.exception
    assert shown(app) == len(_stored(tmp_path))
    warnings = " ".join(notices(app, "warning"))
    assert "bbox='27,54,20,56'" in warnings
    assert "west < east" in warnings
    assert "area='not-a-polygon'" in warnings


def test_first_and_last_dates_keep_their_precision(app):
    """The seeds run from "2022-2025" records (years only) to ...; Estonia's one record
    is "Sep 2025"."""
    app.run()
    assert {m.label: m.value for m in app.metric}["Period"] == "2022 – 2025"
    app.multiselect(key="countries").set_value(["EST"]).run()
    assert {m.label: m.value for m in app.metric}["Period"] == "Sep 2025"


def test_a_custom_period_reads_typed_days_and_names_what_it_cannot(app):
    app.run()
    app.selectbox(key="period").set_value("custom").run()
    assert app.text_input(key="date_from").value == "2022-01-01"  # the data's span
    assert app.text_input(key="date_to").value == "2025-12-31"
    assert shown(app) == 7
    app.text_input(key="date_from").input("2025-09").run()  # a month: from its 1st
    september_on = shown(app)
    assert 0 < september_on < 7
    app.text_input(key="date_to").input("2025-13-01").run()
    assert any("To: '2025-13-01' is not a date" in e for e in notices(app, "error"))
    assert shown(app) == september_on  # that side is left open, nothing else changes
    assert "end" not in app.query_params


def test_the_table_writes_dates_as_precisely_as_they_are_known():
    from dashboard.queries import TABLE_LABELS, table

    stamps = pd.to_datetime(["2025-09-10T02:30", "2025-09-01T00:00", "2022-01-01T00:00"],
                            utc=True)
    rows = pd.DataFrame({"id": ["a", "b", "c"], "date": stamps, "date_end": stamps,
                         "date_precision": ["day", "month", "year"]})
    shown_rows = table(rows)
    assert shown_rows["date"].tolist() == ["2025-09-10 02:30Z", "2025-09", "2022"]
    assert sorted(shown_rows["date"]) == ["2022", "2025-09", "2025-09-10 02:30Z"]
    assert all(TABLE_LABELS[c] != c for c in shown_rows.columns)  # headings for readers


def test_the_history_shows_numbers_as_numbers(app, tmp_path):
    """A record moved by an import: its history lists the changed distances to six
    decimals, unquoted (not 37.56315904852499), and text quoted."""
    from geo.records import import_file
    from geo.settings import SEEDS_DIR
    from geo.store import open_store

    store = open_store(tmp_path / "store.gpkg")
    seeds = pd.read_csv(SEEDS_DIR / "incidents.csv", dtype=str, keep_default_na=False)
    moved = seeds[seeds["id"] == "ltu-2025-07-28-gerbera"].assign(lat="54.9123456")
    moved.to_csv(tmp_path / "moved.csv", index=False)
    assert import_file(store, tmp_path / "moved.csv").written
    app.query_params["selected"] = "ltu-2025-07-28-gerbera"
    app.run()
    lines = {t.value.split(":")[0].strip(): t.value for t in app.text if " → " in t.value}
    assert re.fullmatch(r"\s*dist_belarus_km: \d+\.\d{1,6} → \d+\.\d{1,6}",
                        lines["dist_belarus_km"])
    assert re.fullmatch(r"\s*location_label: '.+' → '.+'", lines["location_label"])


def test_the_selected_incident_links_its_sources(app):
    app.query_params["selected"] = "ltu-2025-07-28-gerbera"
    app.run()
    facts = next(el.proto.body for el in app.get("html") if "fw-facts" in el.proto.body)
    assert ('<a href="https://deftechtimes.com/lithuania-urges-nato-help-after-military-'
            'drones-enter-its-airspace" target="_blank"') in facts
    assert "(no address recorded)" in facts  # S000: no address found for it


def test_the_summary_counts_records_by_event(app, store_with_an_event):
    """Records of one event (an events file names it, with its own totals) are counted
    under the event's title; the table shows each record's event and count."""
    app.run()
    summary = " ".join(t.value for t in app.text)
    assert "Poland, night of 9–10 September 2025: 2" in summary
    assert store_with_an_event.records("events")["violations"].iloc[0] == 19


def test_alert_me_on_this_view_then_open_and_acknowledge_the_alert(app, tmp_path):
    """An analyst saves a rule from the current filters (balloons); an import of a
    balloon makes an alert: counted in the header, listed in the Alerts tab, opened on
    the map (selected) and marked seen by the user."""
    from geo import alerts
    from geo.records import import_file
    from geo.store import open_store

    app.run()
    app.multiselect(key="types").set_value(["balloon"]).run()
    app.session_state["tab"] = "Alerts"
    app.run()
    app.text_input(key="alert_name").input("Balloons").run()
    app.button(key="alert_save").click().run()
    assert any("Rule 'Balloons' saved" in n for n in notices(app, "success"))
    store = open_store(tmp_path / "store.gpkg")
    (rule,) = alerts.list_rules(store)
    assert rule.condition.types == ("balloon",)
    (tmp_path / "b.csv").write_text(
        "id,date,date_precision,type,lat,lon,confidence,title\n"
        "b1,2025-10-05,day,balloon,54.6,25.3,reported,Balloon over Vilnius\n",
        encoding="utf-8")
    assert import_file(store, tmp_path / "b.csv").written
    app.run()
    header = next(el.proto.body for el in app.get("html") if "fw-header" in el.proto.body)
    assert "1 new alert" in header
    assert any("new: Balloon over Vilnius" in t.value for t in app.text)
    alert_id = alerts.alerts(store)["alert_id"].iloc[0]
    app.button(key=f"alert_open-{alert_id}").click().run()
    assert app.session_state["selected"] == "b1"
    app.button(key=f"alert_ack-{alert_id}").click().run()
    assert alerts.alerts(store)["acknowledged_by"].iloc[0]  # the user's name
    header = next(el.proto.body for el in app.get("html") if "fw-header" in el.proto.body)
    assert "new alert" not in header


def test_deployments_follow_the_period_by_their_own_dates():
    import datetime as dt

    import pandas as pd

    from dashboard.queries import in_period

    records = pd.DataFrame({
        "id": ["exercise-2017", "active-since-2017", "ended-2018", "planned-2026", "undated"],
        "date": pd.to_datetime(["2017-09-14", "2017-01-01", "2016-01-01", "2026-01-01", None],
                               utc=True),
        "date_end": pd.to_datetime([None, None, "2018-06-30", None, None], utc=True),
        "date_precision": ["day", "year", "day", "year", None],
        "status": ["exercise", "active", "ended", "planned", "active"]})
    sept_2025 = in_period(records, dt.date(2025, 9, 1), dt.date(2025, 9, 30))
    assert list(sept_2025["id"]) == ["active-since-2017", "undated"]
    in_2017 = in_period(records, dt.date(2017, 9, 1), dt.date(2017, 9, 30))
    assert list(in_2017["id"]) == ["exercise-2017", "active-since-2017", "ended-2018",
                                   "undated"]
    assert len(in_period(records, None, None)) == len(records)


def test_around_a_place_keeps_the_incidents_within_that_distance(app, tmp_path):
    """``around=Wilno:120``: any gazetteer name (Wilno is Vilnius), geodesic distance."""
    import numpy as np

    from geo.settings import GEOD

    app.query_params["around"] = "Wilno:120"
    app.run()
    assert not app.exception
    stored = _stored(tmp_path)
    _, _, metres = GEOD.inv(np.full(len(stored), 25.2798), np.full(len(stored), 54.68916),
                            stored["lon"].to_numpy(), stored["lat"].to_numpy())
    within = ((metres <= 120_000) & (stored["location_precision"] != "region")).sum()
    assert 0 < within < len(stored)
    assert shown(app) == within
    assert app.query_params["around"] == "Wilno:120"
    app.number_input(key="around_km").set_value(30.0).run()  # a changed ring: shown whole
    lat, lon, zoom = app.session_state["view"]
    assert (lat, lon) == (54.6892, 25.2798)
    ring_px = 2 * 30_000 / (156_543.034 * np.cos(np.radians(lat)) / 2 ** zoom)
    assert 140 < ring_px <= 600  # inside the map (620 px high), not a dot in it
    app.text_input(key="around_place").set_value("Nowhereville").run()
    assert shown(app) == len(stored)  # an unknown place: the filter is left off, and said
    assert any("unknown place 'Nowhereville'" in html.unescape(el.proto.body)
               for el in app.get("html"))


def test_a_saved_view_is_listed_opened_and_reached_by_its_link(app, tmp_path):
    from geo.store import open_store
    from geo.store.views import list_views

    app.run()
    app.multiselect(key="types").set_value(["aircraft"]).run()
    assert shown(app) == 1
    app.text_input(key="shared_name").set_value("Aircraft only").run()
    app.button(key="shared_save").click().run()
    assert not app.exception
    (saved,) = list_views(open_store(tmp_path / "store.gpkg"))
    assert saved.name == "Aircraft only"
    assert saved.query == {"types": "aircraft"}
    # another session opens it from the list, another by its link
    other = AppTest.from_file(APP, default_timeout=120)
    other.run()
    assert shown(other) == 7
    assert other.selectbox(key="shared_pick").value == saved.view_id
    other.button(key="shared_open").click().run()
    assert shown(other) == 1
    assert other.multiselect(key="types").value == ["aircraft"]
    # a filter changed in the same instant as the click is saved with the view
    app.multiselect(key="types").set_value(["drone"])
    app.text_input(key="shared_name").set_value("Drones only")
    app.button(key="shared_save").click().run()
    drones = next(v for v in list_views(open_store(tmp_path / "store.gpkg"))
                  if v.name == "Drones only")
    assert drones.query == {"types": "drone"}
    linked = AppTest.from_file(APP, default_timeout=120)
    linked.query_params["shared"] = saved.view_id
    linked.run()
    assert shown(linked) == 1
    gone = AppTest.from_file(APP, default_timeout=120)
    gone.query_params["shared"] = "no-such-view"
    gone.run()
    assert shown(gone) == 7
    assert any("No shared view 'no-such-view'" in n for n in notices(gone, "warning"))


def test_a_store_error_is_shown_without_the_server_path(tmp_path, monkeypatch):
    folder = tmp_path / "stores" / "not-a-file.gpkg"
    folder.mkdir(parents=True)
    monkeypatch.setenv("FLANKWATCH_STORE", str(folder))
    page = AppTest.from_file(APP, default_timeout=120)
    page.run()
    shown = notices(page, "error")
    assert shown
    assert shown[0].startswith("the store")
    assert not any(str(tmp_path) in n for n in shown)


def test_a_store_url_is_never_shown_with_any_part_of_its_password(monkeypatch, caplog):
    """An @ in a password that is not percent-encoded made libpq read its tail as the
    host, which the page then named."""
    monkeypatch.setenv("FLANKWATCH_STORE", "postgresql://flank:p@ssLEAK@db.invalid/flank")
    page = AppTest.from_file(APP, default_timeout=120)
    page.run()
    shown = notices(page, "error")
    assert shown
    assert not any("LEAK" in n for n in shown)
    assert "LEAK" not in caplog.text


def test_a_shared_view_is_renamed_and_deleted_by_its_owner(app, tmp_path):
    from geo.store import open_store
    from geo.store.views import list_views, view_log

    app.run()
    app.text_input(key="shared_name").set_value("Everything").run()
    app.button(key="shared_save").click().run()
    app.text_input(key="shared_name").set_value("Everything").run()
    app.button(key="shared_save").click().run()  # the same name again: refused, said so
    assert any("Not done: a shared view of that name exists already" in n
               for n in notices(app, "error"))
    in_sidebar = " ".join(el.proto.body for el in app.sidebar.get("html"))
    assert "exists already" in in_sidebar  # beside the list, not in another panel
    app.text_input(key="shared_rename").set_value("All incidents").run()
    app.button(key="shared_rename_do").click().run()
    store = open_store(tmp_path / "store.gpkg")
    assert [v.name for v in list_views(store)] == ["All incidents"]
    app.button(key="shared_delete").click().run()
    assert list_views(store) == []
    assert any(c.value == "No shared views yet." for c in app.caption)
    assert list(view_log(store)["action"]) == ["saved", "renamed", "deleted"]


def test_the_period_beside_the_map_is_the_filters_and_says_what_began_before(app):
    """July 2025: the three "2022 – 2025" records overlap it and are shown, but the
    period is July's, and they are said to be going on since 2022."""
    app.query_params["start"] = "2025-07-01"
    app.query_params["end"] = "2025-07-31"
    app.run()
    figures = {m.label: m.value for m in app.metric}
    assert figures["Period"] == "2025-07-01 – 2025-07-31"
    assert "3 ongoing since 2022" in " ".join(c.value for c in app.caption)


def test_weekly_counts_run_over_the_filters_weeks_only(tmp_path):
    """The Timeline tab's counts, July 2025 with the "2022 – 2025" records: weeks from
    the one holding 1 July to the one holding 31 July, the long records in the first."""
    import datetime as dt

    import pandas as pd

    from dashboard.queries import weekly_counts
    from geo.filters import IncidentFilter
    from geo.store import open_store

    july = IncidentFilter(start=dt.date(2025, 7, 1), end=dt.date(2025, 7, 31))
    incidents = open_store(tmp_path / "store.gpkg").incidents(july)
    weekly = weekly_counts(incidents, july.start, july.end)
    assert weekly.index.min() == pd.Timestamp("2025-06-30")
    assert weekly.index.max() == pd.Timestamp("2025-07-28")
    assert int(weekly.sum().sum()) == len(incidents)
    assert int(weekly.loc[pd.Timestamp("2025-06-30")].sum()) >= 3  # ongoing since 2022


def test_the_period_ends_with_the_record_that_ends_last():
    """A year-only "2025" runs to the end of 2025, past a record of 1 June 2025."""
    import pandas as pd

    from dashboard.queries import period_text

    records = pd.DataFrame({
        "date": pd.to_datetime(["2025-01-01", "2025-06-01"], utc=True),
        "date_end": pd.to_datetime([None, None], utc=True),
        "date_precision": ["year", "day"]})
    assert period_text(records) == ("2025", "2025")


def test_the_first_view_fits_the_selection_unless_the_address_gives_one(app):
    """A session opened without ``view=`` fits its first map to the selection (the box
    the briefing map frames: positioned incidents, the airspaces of region-only ones);
    a link with a view keeps it."""
    from dashboard.snapshot import data_bbox
    from geo.store import open_store, store_location

    app.query_params["types"] = "drone"
    app.query_params["countries"] = "LTU"
    app.run()
    assert not app.exception
    fit = app.session_state["fit"]
    store = open_store(store_location())
    selection = store.incidents()
    selection = selection[(selection["type"] == "drone")
                          & (selection["country_iso3"] == "LTU")]
    assert len(selection) == shown(app) == 2
    assert fit == pytest.approx(data_bbox(selection, countries=["LTU"]))
    west, south, east, north = fit
    lithuania = (21.0, 53.9, 26.8, 56.45)  # every part of it is in the box
    assert west <= lithuania[0]
    assert south <= lithuania[1]
    assert east >= lithuania[2]
    assert north >= lithuania[3]
    assert east - west < 12  # not the whole flank
    assert north - south < 8
    linked = AppTest.from_file(APP, default_timeout=120)
    linked.query_params["view"] = "54.9000,24.0000,7"
    linked.run()
    assert linked.session_state["fit"] is False


def test_a_clicked_incident_is_no_drawn_area():
    """streamlit-folium reports a clicked marker as the last drawing (a point): no area
    and no message; a drawn rectangle is an area."""
    from dashboard.panels.map import _drawn_ring

    point = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [24.13, 54.955]}}
    assert _drawn_ring(point) is None
    square = [[24.0, 54.0], [25.0, 54.0], [25.0, 55.0], [24.0, 55.0], [24.0, 54.0]]
    ring = _drawn_ring({"type": "Feature",
                        "geometry": {"type": "Polygon", "coordinates": [square]}})
    assert ring is not None
    assert len(ring) >= 4
