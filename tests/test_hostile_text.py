"""Hostile text in every text field of every record type, through every output.

The corpus (``tests/hostile.py``) holds Jinja, Markdown, HTML/JS, TeX, spreadsheet
formulas, bidi and zero-width characters and a 22 KB string. Every record goes in through
``python -m geo import`` and comes out of the store, the data exports (CSV, GeoJSON,
GeoPackage, zip), the briefing maps (PNG, PDF, SVG), the offline HTML map and the
dashboard in chromium: the text must come back as written, nothing may be evaluated,
no request may leave the machine and no dialog may open.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import geopandas as gpd
import matplotlib.text
import pandas as pd
import pytest

from dashboard.export import main as export_main
from dashboard.style import LAYER_LABELS
from geo.__main__ import main as geo_main
from geo.readers import FORMULA_START, read_table
from geo.store import open_store
from tests.browser import ARTIFACTS, dashboard, map_frame, open_tab, settled
from tests.hostile import (
    CORPUS,
    EVALUATED_MARKERS,
    OUTSIDE,
    PROSE,
    TEXTS,
    expected_prose,
    write_corpus,
)

PERIOD = ["--start", "2010-01-01", "--end", "2025-12-31"]
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A store holding the corpus (beside the seeds it starts with), imported file by
    file through the command line."""
    folder = tmp_path_factory.mktemp("hostile")
    files = write_corpus(folder)
    store = folder / "store.gpkg"
    for path in files.values():
        assert geo_main(["import", str(path), "--store", str(store)]) == 0
    return folder, store


def _stored(store: Path, table: str) -> pd.DataFrame:
    s = open_store(store)
    return (s.incidents() if table == "incidents" else s.records(table)).set_index("id")


@pytest.mark.parametrize("table", list(PROSE))
def test_prose_is_stored_exactly_as_written(hostile, table):
    _, store = hostile
    stored = _stored(store, table)
    for ident, fields in expected_prose(table).items():
        for field, text in fields.items():
            assert stored.loc[ident, field] == text, (ident, field)


def _assert_no_live_formula(csv_bytes: bytes) -> None:
    """No cell of the CSV would be run by a spreadsheet."""
    rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8"), newline="")))
    live = [cell for row in rows for cell in row
            if re.match(FORMULA_START, cell) and not _NUMBER.match(cell)]
    assert live == []


def _assert_nothing_evaluated(text: str) -> None:
    for marker in EVALUATED_MARKERS:
        assert marker not in text


def test_csv_export_defuses_formulas_and_reads_back_exactly(hostile, tmp_path):
    _, store = hostile
    out = tmp_path / "incidents.csv"
    assert export_main([*PERIOD, "--store", str(store), "-o", str(out)]) == 0
    raw = out.read_bytes()
    _assert_no_live_formula(raw)
    assert f"'{CORPUS['formula_equals']}".replace('"', '""').encode() in raw
    back = read_table(out).frame.set_index("id")
    for ident, fields in expected_prose("incidents").items():
        for field, text in fields.items():
            assert back.loc[ident, field] == text, (ident, field)


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg"])
def test_geodata_exports_keep_the_exact_text(hostile, tmp_path, suffix):
    _, store = hostile
    out = tmp_path / f"incidents{suffix}"
    assert export_main([*PERIOD, "--store", str(store), "-o", str(out)]) == 0
    back = gpd.read_file(out).set_index("id")
    for ident, fields in expected_prose("incidents").items():
        for field, text in fields.items():
            assert back.loc[ident, field] == text, (ident, field)


def test_bundle_holds_defused_csv_and_exact_geojson(hostile, tmp_path):
    _, store = hostile
    out = tmp_path / "bundle.zip"
    assert export_main([*PERIOD, "--store", str(store), "--title", CORPUS["tex"],
                        "-o", str(out)]) == 0
    with zipfile.ZipFile(out) as bundle:
        _assert_no_live_formula(bundle.read("incidents.csv"))
        features = json.loads(bundle.read("incidents.geojson"))["features"]
        manifest = json.loads(bundle.read("manifest.json"))
    titles = {f["properties"]["id"]: f["properties"]["title"] for f in features}
    expected = {i: f["title"] for i, f in expected_prose("incidents").items()}
    assert {i: titles[i] for i in expected} == expected
    assert manifest["title"] == CORPUS["tex"]
    assert manifest["records"] == len(features) >= len(TEXTS)


def test_enrich_output_and_rejects_defuse_formulas(hostile, tmp_path):
    folder, _ = hostile
    source = folder / "hostile_incidents.csv"
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    frame.loc[0, "date"] = "not a date"  # one row goes to the rejects file
    bad = tmp_path / "in.csv"
    frame.to_csv(bad, index=False, lineterminator="\r\n")  # quotes cells holding CR
    out, rejects = tmp_path / "out.csv", tmp_path / "rejects.csv"
    assert geo_main(["enrich", str(bad), "-o", str(out), "--rejects", str(rejects)]) == 0
    for path in (out, rejects):
        _assert_no_live_formula(path.read_bytes())
    back = read_table(out).frame.set_index("id")
    for ident, fields in list(expected_prose("incidents").items())[1:]:
        assert back.loc[ident, "description"] == fields["description"]
    rejected = read_table(rejects).frame
    assert list(rejected["row"]) == ["1"]
    assert rejected.loc[0, "title"] == expected_prose("incidents")["hx-0"]["title"]


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_briefing_maps_draw_hostile_text(hostile, tmp_path, suffix):
    _, store = hostile
    out = tmp_path / f"map{suffix}"
    assert export_main([*PERIOD, "--store", str(store), "--title", CORPUS["tex"],
                        "--marking", CORPUS["jinja"], "--layers",
                        "incidents,deployments,defense_lines,tracks,borders",
                        "-o", str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_briefing_map_texts_are_literal(hostile):
    from dashboard.export import ExportRequest, select
    from dashboard.snapshot import SnapshotOptions, render_snapshot

    _, store = hostile
    sel = select(open_store(store), ExportRequest().view)
    fig = render_snapshot(sel.incidents, deployments=sel.deployments,
                          options=SnapshotOptions(title=CORPUS["tex"]))
    texts = fig.findobj(matplotlib.text.Text)
    assert CORPUS["tex"] in [t.get_text() for t in texts]
    labels = [t.get_text() for t in texts
              if t.get_gid() != "title" and CORPUS["tex"][:12] in t.get_text()]
    assert labels  # incident titles holding TeX are drawn (labels or the key)...
    assert not any(t.get_parse_math() for t in texts)  # ...as the characters they are
    fig.canvas.draw()  # and drawing them does not fail


_COLLECT_POPUPS = """() => {
    const html = [];
    for (let i = 0; i < window.fwIncidents.total; i++) {
        html.push(window.fwIncidents.popup(i), window.fwIncidents.tip(i));
    }
    const map = window.map || Object.keys(window).filter(k => k.startsWith("map_"))
        .map(k => window[k]).find(v => v instanceof L.Map);
    for (const layer of Object.values(map._layers)) {
        const p = layer.feature && layer.feature.properties;
        if (p && (p.popup || p.tip)) { html.push(p.popup || "", p.tip || ""); }
    }
    // as a reader sees them: parsed as HTML in this document (where an <img> would load
    // and its onerror run), then read back as text
    return html.map(h => { const d = document.createElement("div"); d.innerHTML = h;
                           return d.textContent; });
}"""


def _seen(text: str) -> str:
    """Text as HTML shows it: a lone carriage return is a line feed."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.e2e
@pytest.mark.slow
def test_offline_html_map_shows_text_literally(hostile, tmp_path, page):
    _, store = hostile
    out = tmp_path / "map.html"
    assert export_main([*PERIOD, "--store", str(store), "--layers",
                        "incidents,deployments,defense_lines,tracks", "-o", str(out)]) == 0
    source = out.read_text(encoding="utf-8")
    _assert_nothing_evaluated(source)
    page.goto(out.as_uri())
    page.wait_for_function("() => window.fwIncidents && window.fwIncidents.total > 0",
                           timeout=30_000)
    shown = "\n".join(page.evaluate(_COLLECT_POPUPS))
    settled(page)  # any injected handler has fired by now (the fixture checks)
    for table, fields in (("incidents", ("title", "description")),
                          ("deployments", ("name", "operator", "location_basis",
                                           "description")),
                          ("defense_lines", ("name", "description"))):
        for ident, texts in expected_prose(table).items():
            for field in fields:
                assert _seen(texts[field]) in shown, (table, ident, field)
    _assert_nothing_evaluated(shown)


@pytest.mark.e2e
@pytest.mark.slow
def test_dashboard_shows_hostile_text_as_text(hostile, page):
    _, store = hostile
    prose = expected_prose("incidents")
    with dashboard(store) as url:
        for k in range(0, len(TEXTS), 4):  # four fields each: every string is seen
            ident = f"hx-{k}"
            # the first visit with every layer, the density surfaces and the time control
            extra = ("&layers=" + ",".join(LAYER_LABELS)
                     + "&time=2025-08-01T01:10&window=all&step=hour") if k == 0 else ""
            page.goto(f"{url}/?selected={ident}{extra}")
            facts = page.locator(".fw-facts")
            facts.wait_for(timeout=60_000)
            frame = map_frame(page)
            if k == 0:  # the live map's popups and tooltips, as the browser reads them
                frame.wait_for_function("() => !!window.fwPlayback", timeout=30_000)
                frame.locator(".fw-time [data-act=fwd]").click()  # a step: tracks move
                assert frame.locator(".fw-time-cursor").inner_text() == "2025-08-01 02:10Z"
                popups = "\n".join(frame.evaluate(_COLLECT_POPUPS))
                for text in TEXTS:
                    assert _seen(text) in popups
            table = facts.evaluate("e => e.textContent")
            for field, text in prose[ident].items():
                assert _seen(text) in table, (ident, field)
            link = facts.locator("a")
            assert link.count() == 1
            assert link.get_attribute("href").startswith(f"http://{OUTSIDE}/a)b")
            assert facts.locator("img, script, strong, em, h1").count() == 0
            _assert_nothing_evaluated(page.content())
        # the search lists hits quoting hostile titles: plain text, nothing fetched
        word = "pixel.png"  # in the Markdown image of the corpus
        titled = [i for i, p in prose.items() if word in p["title"]]
        assert titled  # the corpus puts it in some titles
        box = page.get_by_role("textbox", name="Search")
        box.fill(word)
        box.press("Enter")
        picked = page.get_by_role("combobox", name="Found")
        picked.wait_for(timeout=30_000)
        picked.click()  # the list of hits opens
        page.get_by_role("option").first.wait_for(timeout=10_000)
        listed = " ".join(page.get_by_role("option").all_inner_texts())
        assert CORPUS["markdown_image"] in listed  # literally, not an image
        assert page.locator("[data-testid=stSidebar] img").count() == 0
        page.keyboard.press("Escape")
        open_tab(page, "Incidents", page.get_by_test_id("stDataFrame"))
        page.get_by_test_id("stDataFrame").wait_for(timeout=60_000)  # a 2-core CI is slow
        open_tab(page, "Import", page.locator("input[type=file]"))
        name = f"![x](http://{OUTSIDE}/f.png) {{{{ 7*191 }}}} :smile:.csv"
        page.locator("input[type=file]").set_input_files(
            {"name": name, "mimeType": "text/csv",
             "buffer": b"id,date,type,lat,lon,confidence\nu-1,2025-08-01,drone,54.6,25.1,"
                       b"reported\n"})
        notice = page.locator(".fw-notice").filter(has_text="1 row read")
        notice.wait_for(timeout=30_000)
        assert notice.evaluate("e => e.textContent").startswith(name)
        settled(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-hostile.png"), full_page=True)
