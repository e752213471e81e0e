"""A corpus of hostile text and record files carrying it in every text field.

Each string would do something if the project ever treated data as code or markup:
Jinja would compute, Markdown would fetch an image from a host outside the machine,
HTML would run a script, matplotlib would read TeX, a spreadsheet would run a formula.
The corpus marks what evaluation would produce (``EVALUATED_MARKERS``): none of those
may ever appear in an output.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

#: Outside host named by the corpus (TEST-NET-3, never routed): a request to it means a
#: text was rendered as markup.
OUTSIDE = "203.0.113.9"

CORPUS = {
    "jinja": "{{ 7*191 }} and {{ 'jinja' ~ '-ran' }}",
    "jinja_block": "{% for x in 'ab' %}loop-{{ x }}{% endfor %}{# hidden #}",
    "jinja_rce": "{{ lipsum.__globals__.os.popen('echo rce-' ~ 'ran').read() }}",
    "markdown_image": f"![x](http://{OUTSIDE}/pixel.png)",
    "markdown_link": f"[look](http://{OUTSIDE}/) **bold** _it_ # heading",
    "html": "<img src=x onerror=alert(1)><script>alert(2)</script>",
    "javascript": "${alert(3)} `tick` \\\" </script><!-- '",
    "tex": "$\\frac{1}{0}$ and $x^{$ \\undefined",
    "formula_equals": f'=HYPERLINK("http://{OUTSIDE}/","open")',
    "formula_plus": "+cmd|' /C calc'!A0",
    "formula_minus": "-2+3+cmd|' /C calc'!A0",
    "formula_at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "formula_tab": "\t=1+1",
    "formula_cr": "\r=2+2",
    "bidi": "\u202egnp.exe\u202c and \u2066isolate\u2069",
    "zero_width": "zero\u200bwidth\u200djoin\ufeffmark",
    "streamlit_markup": f":red[colour] :material/home: :smile: <http://{OUTSIDE}/auto>",
    "long": "very long text " * 1500,
}
TEXTS = list(CORPUS.values())

#: What the corpus would turn into if it were evaluated.
EVALUATED_MARKERS = ("jinja-ran", "loop-a", "rce-ran")

#: Prose fields of each record type (kept exactly as written).
PROSE = {
    "incidents": ("title", "description", "notes", "location_basis"),
    "deployments": ("name", "operator", "location_basis", "description", "notes"),
    "defense_lines": ("name", "description", "notes"),
    "tracks": ("notes",),
    "sources": ("publication", "title", "document"),
}


def text_for(record: int, field: int) -> str:
    """The corpus string record ``record`` carries in its ``field``-th text field: over
    the records, every field gets every string."""
    return TEXTS[(record + field) % len(TEXTS)]


def expected_prose(table: str) -> dict[str, dict[str, str]]:
    """``{record id: {field: text}}`` of the prose written by :func:`write_corpus`."""
    prefix = {"incidents": "hx", "deployments": "hd", "defense_lines": "hl",
              "tracks": "ht", "sources": "hs"}[table]
    return {f"{prefix}-{k}": {f: text_for(k, j) for j, f in enumerate(PROSE[table])}
            for k in range(len(TEXTS))}


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features},
                               ensure_ascii=False), encoding="utf-8")
    return path


def write_corpus(folder: Path) -> dict[str, Path]:
    """Record files of every type with hostile text in every text field; returns
    ``{table: path}`` in an order that imports cleanly (sources first)."""
    n = len(TEXTS)
    incidents, deployments, lines, tracks, sources = [], [], [], [], []
    for k in range(n):
        lat, lon = 54.0 + 0.04 * k, 23.6 + 0.09 * k  # inside Lithuania
        sources.append({"id": f"hs-{k}", **expected_prose("sources")[f"hs-{k}"],
                        "published": "", "url": f"http://{OUTSIDE}/a)b![x](http://"
                                                f"{OUTSIDE}/p.png)?q={k}"})
        incidents.append({"id": f"hx-{k}", "date": f"2025-08-{k % 28 + 1:02d}",
                          "date_precision": "day", "type": "drone", "lat": lat,
                          "lon": lon, "location_precision": "exact", "origin": "RUS",
                          **expected_prose("incidents")[f"hx-{k}"],
                          "sources": f"hs-{k}", "confidence": "reported"})
        deployments.append({"id": f"hd-{k}", "date": f"2024-05-{k % 28 + 1:02d}",
                            "date_precision": "day", "kind": "air_defence",
                            "status": "active", "host_iso3": "LTU", "lat": lat + 0.02,
                            "lon": lon - 0.05, "location_precision": "approximate",
                            **expected_prose("deployments")[f"hd-{k}"],
                            "sources": text_for(k, 7).replace(";", ","),
                            "confidence": "reported"})
        line = [[lon, lat], [lon + 0.3, lat + 0.1]]
        lines.append({"type": "Feature",
                      "geometry": {"type": "LineString", "coordinates": line},
                      "properties": {"id": f"hl-{k}", "date": "2025", "date_precision": "year",
                                     "country_iso3": "LTU", "status": "planned",
                                     "borders": "LTU-BLR", "depth_km": 10,
                                     "schematic": "true", "confidence": "reported",
                                     "sources": text_for(k, 5).replace(";", ","),
                                     **expected_prose("defense_lines")[f"hl-{k}"]}})
        tracks.append({"type": "Feature",
                       "geometry": {"type": "LineString", "coordinates": line},
                       "properties": {"id": f"ht-{k}", "incident_id": f"hx-{k}",
                                      "type": "drone",
                                      "times": "2025-08-01T01:00Z;2025-08-01T01:20Z",
                                      "sources": text_for(k, 3).replace(";", ","),
                                      **expected_prose("tracks")[f"ht-{k}"]}})
    return {
        "sources": _write_csv(folder / "hostile_sources.csv", sources),
        "incidents": _write_csv(folder / "hostile_incidents.csv", incidents),
        "deployments": _write_csv(folder / "hostile_deployments.csv", deployments),
        "defense_lines": _write_geojson(folder / "hostile_defense_lines.geojson", lines),
        "tracks": _write_geojson(folder / "hostile_tracks.geojson", tracks),
    }
