"""Shared fixtures: the committed reference data, loaded once per test session, and a
headless chromium whose pages may only talk to this machine."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

# Stores made by the tests (and the dashboards they start) hold the small, fixed seed
# set of tests/data/seeds, whose counts the tests know; tests/test_seeds.py checks the
# project's own seeds/ (the embedded default), which grows.
os.environ["FLANKWATCH_SEEDS"] = str(Path(__file__).parent / "data" / "seeds")

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geo.boundaries import load_boundaries
from geo.gazetteer import load_gazetteer
from tests.browser import Watcher


@pytest.fixture(scope="session")
def boundaries():
    return load_boundaries()


@pytest.fixture(scope="session")
def gazetteer():
    return load_gazetteer()


def brute_force_distance_m(lon: float, lat: float, geom: shapely.Geometry,
                           spacing_deg: float = 0.0005) -> float:
    """Reference distance (m): the target's outline, densified along its own
    longitude/latitude lines, projected into an azimuthal-equidistant plane centred on
    the point (where distance from the centre is the geodesic distance), then measured
    from the centre."""
    outline = geom.boundary if geom.geom_type in ("Polygon", "MultiPolygon") else geom
    dense = shapely.segmentize(outline, spacing_deg)
    aeqd = Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84", always_xy=True
    )
    projected = shapely.transform(dense, lambda xy: np.column_stack(aeqd.transform(xy[:, 0],
                                                                                   xy[:, 1])))
    return float(shapely.distance(shapely.Point(0.0, 0.0), projected))


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (make test installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page whose requests off this machine are blocked and recorded, as are dialogs;
    the test fails if there were any."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    offsite: list[str] = []
    dialogs: list[str] = []

    def guard(route):
        url = route.request.url
        host = urlsplit(url).hostname
        if host in ("127.0.0.1", "localhost") or url.startswith(("data:", "file:")):
            route.continue_()
        else:
            offsite.append(url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.offsite, pg.dialogs = offsite, dialogs
    pg.fw = Watcher(pg)  # (tests/browser.py: script runs and requests in flight)
    yield pg
    context.close()
    assert offsite == [], f"requests left localhost: {offsite}"
    assert dialogs == [], f"dialogs fired: {dialogs}"


@contextlib.contextmanager
def small_file_system(folder: Path, *, size: str = "2m", readonly: bool = False
                      ) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` for the length of the block (storage
    faults: a full disk, a read-only file system); unmounted and removed after."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if readonly else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], check=False).returncode:
            subprocess.run(["umount", "--lazy", str(folder)], check=False)
        folder.rmdir()


def pytest_collection_modifyitems(items) -> None:
    """Tests that need the PostgreSQL cluster are marked ``postgis``; the property tests
    of ``test_fuzz.py`` ``fuzz`` (``make test-fast`` leaves both out)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if "cluster" in getattr(item, "fixturenames", ()) or (
                callspec is not None and "postgis" in callspec.id):
            item.add_marker(pytest.mark.postgis)
        if item.module.__name__.endswith("test_fuzz"):
            item.add_marker(pytest.mark.fuzz)


@pytest.fixture
def store_with_an_event(tmp_path):
    """``tmp_path/store.gpkg`` (the tests' seed records) with one event, "Poland, night
    of 9–10 September 2025" (19 violations, 4 shot down), and two records of it (counts
    1 and 2), imported as an events file and an incidents file."""
    from geo.records import import_file
    from geo.store import open_store

    store = open_store(tmp_path / "store.gpkg")
    (tmp_path / "events.csv").write_text(
        "id,date,date_precision,title,violations,shot_down,sources,notes\n"
        "pl-night,2025-09-10,day,\"Poland, night of 9–10 September 2025\",19,4,,\n",
        encoding="utf-8")
    (tmp_path / "sites.csv").write_text(
        "id,date,date_precision,type,lat,lon,confidence,title,event,count\n"
        "site-1,2025-09-10,day,drone,51.64,23.54,confirmed,Debris at a farm,pl-night,1\n"
        "site-2,2025-09-10,day,drone,51.55,22.92,confirmed,Drone down in a field,pl-night,2\n",
        encoding="utf-8")
    for name in ("events.csv", "sites.csv"):
        assert import_file(store, tmp_path / name).written
    return store

