"""Recompute the geometries of ``defense_lines.geojson`` from the reference borders.

Each feature's ``borders`` property ("LTU-BLR;LTU-RUS") names the land borders the line
follows; its geometry is those border lines from ``data/airspace.gpkg``, simplified to
about 100 m (the lines are schematic) and rounded to 5 decimals. Edit the properties by
hand, then run ``python seeds/build_defense_lines.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.boundaries import border_sections, load_boundaries
from geo.schema import split_list

PATH = Path(__file__).with_name("defense_lines.geojson")

#: Simplification tolerance of the schematic lines, degrees (about 100 m).
TOLERANCE_DEG = 0.001


def line_geometry(borders: str) -> shapely.Geometry:
    """The schematic line along the named land borders."""
    line = border_sections(load_boundaries(), split_list(borders))
    return shapely.set_precision(shapely.simplify(line, TOLERANCE_DEG), 1e-5)


def main() -> None:
    """Rewrite the file with recomputed geometries, properties untouched."""
    collection = json.loads(PATH.read_text(encoding="utf-8"))
    features = []
    for feature in collection["features"]:
        props = json.dumps(feature["properties"], ensure_ascii=False, indent=2)
        geom = shapely.to_geojson(line_geometry(feature["properties"]["borders"]))
        features.append(f'{{"type": "Feature",\n "properties": {props},\n '
                        f'"geometry": {geom}}}')
    text = '{"type": "FeatureCollection", "features": [\n' + ",\n".join(features) + "\n]}\n"
    json.loads(text)  # refuse to write anything that is not JSON
    PATH.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
