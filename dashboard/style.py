"""How records look, shared by the interactive map and the printed snapshot."""

from __future__ import annotations

#: Fill colour of each incident type.
TYPE_COLOURS = {"drone": "#d62728", "aircraft": "#1f77b4", "missile": "#9467bd",
                "balloon": "#ff7f0e", "helicopter": "#17becf", "debris": "#8c564b",
                "unknown": "#7f7f7f"}
#: Outline of each confidence level: weight in pixels and dash pattern.
CONFIDENCE_STROKES = {"confirmed": (3.0, None), "reported": (1.5, None),
                      "disputed": (1.5, "4 3")}
#: Colour of each deployment status; the letter on the marker says its kind.
STATUS_COLOURS = {"active": "#2ca02c", "planned": "#b8860b", "exercise": "#e377c2",
                  "ended": "#7f7f7f"}
KIND_LETTERS = {"missile_system": "M", "air_defence": "A", "ground_forces": "G",
                "combat_aircraft": "J", "exercise": "X", "procurement": "P",
                "training": "T", "mission": "N"}

#: Map layers a user can switch on and off, in drawing order, with their labels.
LAYER_LABELS = {
    "borders": "Land borders",
    "bands_belarus": "Distance bands from Belarus",
    "bands_kaliningrad": "Distance bands from Kaliningrad",
    "belarus": "Belarus",
    "kaliningrad": "Kaliningrad exclave",
    "defense_lines": "Defence lines",
    "deployments": "Deployments and exercises",
    "tracks": "Flight tracks",
    "heat": "Heatmap of incidents",
    "hex": "Hexagons of incidents (H3)",
    "incidents": "Incidents",
}
#: Density surfaces of the incidents (off unless chosen).
DENSITY_LAYERS = ("heat", "hex")
DEFAULT_LAYERS = tuple(k for k in LAYER_LABELS if k not in DENSITY_LAYERS)

#: Basemaps: the offline land polygons, or online tiles the user opts into.
ONLINE_BASEMAPS = {
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "© OpenStreetMap contributors", "OpenStreetMap (online)"),
    "topo": ("https://tile.opentopomap.org/{z}/{x}/{y}.png",
             "© OpenStreetMap contributors, SRTM; style © OpenTopoMap (CC-BY-SA)",
             "OpenTopoMap (online)"),
}
BASEMAPS = ("offline", *ONLINE_BASEMAPS)

#: Distance bands drawn around Belarus and Kaliningrad unless the user picks others (km).
DEFAULT_BANDS_KM = (10.0, 50.0, 100.0)
#: Where the map opens: latitude, longitude, zoom.
DEFAULT_VIEW = (54.9, 24.0, 6)

#: Pages of the printed briefing map, in inches (width, height).
PAGE_SIZES = {
    "A4-landscape": (11.69, 8.27), "A4-portrait": (8.27, 11.69),
    "A3-landscape": (16.54, 11.69), "A3-portrait": (11.69, 16.54),
    "slide-16x9": (13.333, 7.5),
}
DEFAULT_SIZE = "A4-landscape"
#: PNG resolution of the briefing map: default and accepted range (dots per inch).
DEFAULT_DPI = 200
DPI_RANGE = (50, 600)
