"""Leaflet and its plugins, fetched from the npm registry at set-up and served by the app.

The map must draw with no network, so its JavaScript and CSS cannot come from CDNs.
``python -m dashboard.vendor`` downloads each pinned package tarball from the npm
registry, checks it against the registry's published sha512 integrity, and unpacks the
files the map needs into ``dashboard/static/vendor/`` (git-ignored), which Streamlit
serves at ``/app/static/vendor/``. ``make`` runs it; nothing third-party is committed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

#: Where the unpacked files live; served by Streamlit's static file serving.
STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"

#: URL path under which the app serves ``VENDOR_DIR``.
VENDOR_URL = "app/static/vendor"

REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Package:
    """One npm package: pinned version, its registry integrity, the files we use."""

    name: str
    version: str
    #: Subresource-integrity string from the registry (``npm view NAME@VER dist.integrity``).
    integrity: str
    #: Paths inside the package (``dist/leaflet.js``); folders are copied whole.
    files: tuple[str, ...]

    @property
    def tarball_url(self) -> str:
        """The registry address of the package's tarball."""
        return f"{REGISTRY}/{self.name}/-/{self.name.split('/')[-1]}-{self.version}.tgz"


PACKAGES = (
    Package("leaflet", "1.9.4",
            "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
            ("dist/leaflet.js", "dist/leaflet.css", "dist/images")),
    Package("supercluster", "8.0.1",
            "sha512-IiOea5kJ9iqzD2t7QJq/cREyLHTtSmUT6gQsweojg9WH2sYJqZK9SswTu6jrscO6D1G5v5vYZ9ru/eq85lXeZQ==",
            ("dist/supercluster.min.js",)),
    Package("leaflet-measure", "3.1.0",
            "sha512-ln5c9UNaWDEd24tIzDt9hwnpb8OaCPBfSWNBg2H8rb9SA3cbXW9+NqohA6/8TdsNDGJZr36woXMrqRq07Pcl3w==",
            ("dist/leaflet-measure.js", "dist/leaflet-measure.css", "dist/assets")),
    Package("leaflet.fullscreen", "3.0.2",
            "sha512-m27waFVmwdrLGXjZw2L8b7w/W28EY+u7IGzK2x8K99XaPuzKbjI+/H1j0OMawLcRPZyDRh+39XpyLsvDwHUEoA==",
            ("Control.FullScreen.js", "Control.FullScreen.css", "icon-fullscreen.svg")),
    # Uber's H3 grid (the hexagon layer's cells)
    Package("h3-js", "4.5.0",
            "sha512-uKmdPc+DuarnR+XqZxEuWOMw7KzzKROrx3MLeJpFnMOs78S9M5eZ+X5RieS9UcSFQqbeXzbfWuX/W9Pyajinqw==",
            ("dist/h3-js.umd.js",)),
    # drawing an area on the map (the plugin folium's Draw uses)
    Package("leaflet-draw", "1.0.4",
            "sha512-rsQ6saQO5ST5Aj6XRFylr5zvarWgzWnrg46zQ1MEOEIHsppdC/8hnN8qMoFvACsPvTioAuysya/TVtog15tyAQ==",
            ("dist/leaflet.draw.js", "dist/leaflet.draw.css", "dist/images")),
    # the heatmap (the same plugin folium's HeatMap uses)
    Package("leaflet.heat", "0.2.0",
            "sha512-Cd5PbAA/rX3X3XKxfDoUGi9qp78FyhWYurFg3nsfhntcM/MCNK08pRkf4iEenO1KNqwVPKCmkyktjW3UD+h9bQ==",
            ("dist/leaflet-heat.js",)),
)

#: The map's own scripts and stylesheet (in the repository, not fetched).
OWN_DIR = Path(__file__).resolve().parent / "web"
#: The map's own scripts in load order: each is one function run at once that shares
#: only through ``window.Flankwatch``, which ``core.js`` makes; a script may use what
#: one before it put there.
OWN_SCRIPTS = tuple(OWN_DIR / name for name in (
    "core.js",          # the namespace, shared constants, the incidents' arrays
    "canvas.js",        # a canvas layer redrawn after each move, Mercator to screen
    "state.js",         # what is kept in the dashboard page: address, time, measurements
    "incidents.js",     # clusters, markers, region badges
    "playback.js",      # the time control
    "density.js",       # hexagons and heat
    "labels.js",        # place names on the offline basemap
    "measurements.js",  # measurements kept from one map to the next
    "layers.js",        # reference and data layers, behaviour, legend
))
OWN_STYLE = OWN_DIR / "map.css"


#: The map's third-party scripts in load order; the project's own follow them
#: (:data:`OWN_SCRIPTS`). They are written concatenated into one file, which the
#: dashboard loads: its map component fetches scripts one after another, so one request
#: instead of sixteen saves a round trip per script on every first visit.
BUNDLED_SCRIPTS = (("leaflet", "dist/leaflet.js"), ("supercluster", "dist/supercluster.min.js"),
                   ("leaflet-measure", "dist/leaflet-measure.js"),
                   ("leaflet.fullscreen", "Control.FullScreen.js"),
                   ("h3-js", "dist/h3-js.umd.js"), ("leaflet.heat", "dist/leaflet-heat.js"),
                   ("leaflet-draw", "dist/leaflet.draw.js"))


def own_script_name(path: Path) -> str:
    """A script of the project's own as the bundle names it (``dashboard/web/core.js``)."""
    return f"dashboard/web/{path.name}"


def bundle_name() -> str:
    """File name of the concatenated scripts, tied to the pinned packages and to the
    project's own scripts, their names and order (so a browser never keeps an old
    bundle after a change)."""
    digest = hashlib.sha256("".join(p.integrity for p in PACKAGES).encode())
    for path in OWN_SCRIPTS:
        digest.update(own_script_name(path).encode() + b"\0" + path.read_bytes())
    return f"map-scripts-{digest.hexdigest()[:12]}.js"


def bundle_url() -> str:
    """The app-relative address of the concatenated map scripts; the bundle is written
    first if it is not there yet (after a change of the project's scripts)."""
    if not (VENDOR_DIR / bundle_name()).exists() and all(
            asset_path(p, f).exists() for p, f in BUNDLED_SCRIPTS):
        write_bundle()
    return f"/{VENDOR_URL}/{bundle_name()}"


def write_bundle() -> Path:
    """Concatenate :data:`BUNDLED_SCRIPTS` (each keeps its own licence header) and then
    :data:`OWN_SCRIPTS`, each under a comment naming it; older bundles are removed."""
    parts = [f"/* {package}/{file} */\n" + asset_path(package, file).read_text(encoding="utf-8")
             for package, file in BUNDLED_SCRIPTS]
    parts += [f"/* flankwatch: {own_script_name(path)} */\n" + path.read_text(encoding="utf-8")
              for path in OWN_SCRIPTS]
    target = VENDOR_DIR / bundle_name()
    for old in VENDOR_DIR.glob("map-scripts-*.js"):
        if old != target:
            old.unlink(missing_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(";\n".join(parts) + ";\n", encoding="utf-8")
    tmp.replace(target)
    return target


def own_style() -> str:
    """The map's own stylesheet (put in the page as it is)."""
    return OWN_STYLE.read_text(encoding="utf-8")


def asset_path(package: str, file: str) -> Path:
    """Where a package file is unpacked."""
    return VENDOR_DIR / package / file


def asset_url(package: str, file: str) -> str:
    """The app-relative address the browser loads a package file from."""
    return f"/{VENDOR_URL}/{package}/{file}"


def vendor_file(url: str) -> Path:
    """The unpacked file behind an :func:`asset_url` address."""
    prefix = f"/{VENDOR_URL}/"
    if not url.startswith(prefix):
        msg = f"{url!r} is not a vendored asset address"
        raise ValueError(msg)
    path = (VENDOR_DIR / url.removeprefix(prefix)).resolve()
    if not path.is_relative_to(VENDOR_DIR.resolve()):
        msg = f"{url!r} points outside {VENDOR_DIR}"
        raise ValueError(msg)
    return path


def missing_assets() -> list[str]:
    """Package files that are not unpacked yet (empty when set-up is complete)."""
    # (the bundle is not counted: ``bundle_url`` writes it from these when it is missing)
    return [f"{p.name}/{f}" for p in PACKAGES for f in p.files
            if not asset_path(p.name, f).exists()]


def _verify(data: bytes, integrity: str, name: str) -> None:
    algo, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if digest != expected:
        msg = f"{name}: tarball {algo} is {digest}, the registry says {expected}"
        raise RuntimeError(msg)


def _unpack(package: Package, data: bytes) -> None:
    wanted = tuple(f"package/{f}" for f in package.files)
    target_root = (VENDOR_DIR / package.name).resolve()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith(wanted):
                continue
            relative = member.name.removeprefix("package/")
            target = (target_root / relative).resolve()
            if not target.is_relative_to(target_root):  # refuse paths escaping the folder
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())


def fetch(*, force: bool = False) -> None:
    """Download, verify and unpack every package whose files are not all present."""
    for package in PACKAGES:
        present = all(asset_path(package.name, f).exists() for f in package.files)
        if present and not force:
            continue
        with urllib.request.urlopen(package.tarball_url, timeout=60) as response:
            data = response.read()
        _verify(data, package.integrity, f"{package.name}@{package.version}")
        _unpack(package, data)
        print(f"{package.name}@{package.version}: unpacked into {VENDOR_DIR / package.name}")
    still = missing_assets()
    if still:
        msg = f"files not found in the packages: {still}"
        raise RuntimeError(msg)
    write_bundle()


if __name__ == "__main__":
    fetch(force="--force" in sys.argv)
