"""Briefing clips (``--animate``): frame count, size and codec of each format, where a known
incident shows and when, the window, and the refusals (too many frames, unknown format,
no ffmpeg, an empty period), none of which leaves a file."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from dashboard.animation import (
    AnimationOptions,
    Frame,
    frame_count,
    shift,
    visibility,
)
from dashboard.export import ExportRequest, clip_renderer, main, select
from dashboard.snapshot import _TO_MAP, map_axes
from dashboard.state import ViewState
from dashboard.style import TYPE_COLOURS
from geo.store import open_store

#: The seed incident with a point of its own: a drone, 54.955 N 24.13 E, 2025-07-28.
GERBERA = ("ltu-2025-07-28-gerbera", 24.13, 54.955)
#: Five days around it, drawn small (A4 at 50 dpi: 584 × 414 pixels).
SMALL = ["--start", "2025-07-26", "--end", "2025-07-30", "--animate", "day",
         "--size", "A4-landscape", "--dpi", "50"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return open_store(tmp_path_factory.mktemp("clips") / "store.gpkg")


def probe(path) -> dict:
    assert shutil.which("ffprobe"), "Debian's ffmpeg is needed (make test installs it)"
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
                          "-show_entries", "stream=codec_name,width,height,pix_fmt,"
                          "nb_read_frames", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["streams"][0]


def run(store, args, capsys) -> tuple[int, str]:
    code = main(["--store", str(store.path), *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "h264"), (".webm", "vp9")])
def test_a_clip_has_one_frame_a_day_in_its_codec_and_size(store, tmp_path, capsys, suffix,
                                                         codec):
    out = tmp_path / f"brief{suffix}"
    code, err = run(store, [*SMALL, "-o", str(out)], capsys)
    assert code == 0, err
    stream = probe(out)
    assert stream["codec_name"] == codec
    assert stream["pix_fmt"] == "yuv420p"
    assert (stream["width"], stream["height"]) == (584, 414)
    assert int(stream["nb_read_frames"]) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # nothing else left


def test_a_clip_is_1920_by_1080_unless_told_and_a_gif_at_most_960_wide(store, tmp_path,
                                                                      capsys):
    one_day = ["--start", "2025-07-28", "--end", "2025-07-28", "--animate", "day"]
    code, err = run(store, [*one_day, "-o", str(tmp_path / "b.mp4")], capsys)
    assert code == 0, err
    stream = probe(tmp_path / "b.mp4")
    assert (stream["width"], stream["height"], int(stream["nb_read_frames"])) == (1920, 1080, 1)
    code, err = run(store, [*one_day, "-o", str(tmp_path / "b.gif")], capsys)
    assert code == 0, err
    stream = probe(tmp_path / "b.gif")
    assert stream["codec_name"] == "gif"
    assert stream["width"] <= 960
    assert int(stream["nb_read_frames"]) == 1


def _renderer(store, window: int | None, dpi: int = 100):
    view = ViewState(start=dt.date(2025, 7, 26), end=dt.date(2025, 7, 30))
    request = ExportRequest(view=view, size="A4-landscape", dpi=dpi,
                            animation=AnimationOptions("day", window=window))
    return clip_renderer(select(store, view), request)


def _pixel(renderer, lon: float, lat: float) -> np.ndarray:
    """The frame pixel (row, column) at a point, from the drawn map's own transform."""
    ax = map_axes(renderer.fig)
    px, py = ax.transData.transform(_TO_MAP.transform(lon, lat))
    return round(renderer.size_px[1] - py), round(px)


def _frame_on(renderer, day: str):
    return next(f for f in renderer.frames if f.start == pd.Timestamp(day, tz="UTC"))


def test_a_known_incident_shows_in_its_type_colour_from_its_day_on(store):
    renderer = _renderer(store, window=1)
    try:
        row, col = _pixel(renderer, *GERBERA[1:])
        drone = np.array(to_rgb(TYPE_COLOURS["drone"])) * 255
        colour = {day: renderer.render(_frame_on(renderer, day))[row, col].astype(float)
                  for day in ("2025-07-27", "2025-07-28", "2025-07-29")}
    finally:
        renderer.close()
    assert np.abs(colour["2025-07-28"] - drone).max() < 30  # on its day, in red
    assert np.abs(colour["2025-07-27"] - drone).max() > 60  # not before it
    assert np.abs(colour["2025-07-29"] - drone).max() > 60  # a window of one day: gone


def test_a_cumulative_clip_keeps_the_incident_to_the_end(store):
    renderer = _renderer(store, window=None)
    try:
        row, col = _pixel(renderer, *GERBERA[1:])
        last = renderer.render(renderer.frames[-1])[row, col].astype(float)
        labels = [t for t in renderer.labels if t.get_label() == GERBERA[0]]
    finally:
        renderer.close()
    assert renderer.frames[-1].start == pd.Timestamp("2025-07-30", tz="UTC")
    assert np.abs(last - np.array(to_rgb(TYPE_COLOURS["drone"])) * 255).max() < 30
    assert labels
    assert labels[0].get_visible()


def test_an_incident_fades_over_its_window_and_a_month_covers_its_month():
    day = pd.Timestamp("2025-07-28", tz="UTC").value
    month = (pd.Timestamp("2025-09-01", tz="UTC").value,
             pd.Timestamp("2025-10-01", tz="UTC").value)
    starts = np.array([day, month[0]])
    ends = np.array([day + 86_400 * 10**9, month[1]])

    def at(date: str, window: int | None):
        start = pd.Timestamp(date, tz="UTC")
        end = shift(start, "day", 1)
        return visibility(starts, ends, Frame(start, end, None if window is None
                                              else shift(end, "day", -window)))

    shown, alpha = at("2025-07-28", 7)
    assert shown[0]
    assert alpha[0] == 1.0
    shown, alpha = at("2025-07-31", 7)
    assert shown[0]
    assert alpha[0] == pytest.approx(1 - 3 / 7)
    assert not at("2025-08-04", 7)[0][0]  # seven days after its day
    assert at("2025-08-04", None)[0][0]  # cumulative: still there
    for date in ("2025-09-01", "2025-09-30"):  # known to the month: the whole month
        assert at(date, 1)[0][1]
    assert not at("2025-08-31", 1)[0][1]
    assert not at("2025-10-01", 1)[0][1]


def test_months_are_calendar_months():
    jan31 = pd.Timestamp("2025-01-31", tz="UTC")
    assert shift(jan31, "month", 1) == pd.Timestamp("2025-02-28", tz="UTC")
    low = pd.Timestamp("2025-01-01", tz="UTC")
    assert frame_count(low, pd.Timestamp("2026-01-01", tz="UTC"), "month") == 12
    assert frame_count(low, pd.Timestamp("2025-03-02", tz="UTC"), "month") == 3
    assert frame_count(low, pd.Timestamp("2026-01-01", tz="UTC"), "hour") == 8760


def test_frames_dir_and_zip_list_each_frames_time(store, tmp_path, capsys):
    folder = tmp_path / "frames"
    code, err = run(store, [*SMALL, "--frames", str(folder)], capsys)
    assert code == 0, err
    listing = json.loads((folder / "frames.json").read_text())
    assert [f["file"] for f in listing["frames"]] == [f"frame-000{n}.png" for n in range(1, 6)]
    assert listing["frames"][2]["start"] == "2025-07-28T00:00:00Z"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["frames.json", *(f["file"] for f in listing["frames"])])
    code, err = run(store, [*SMALL, "--frames", str(folder)], capsys)  # not over it
    assert code == 2
    assert "not an empty folder" in err
    out = tmp_path / "clip.zip"
    code, err = run(store, [*SMALL, "--window", "all", "-o", str(out)], capsys)
    assert code == 0, err
    with zipfile.ZipFile(out) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        assert "frame-0005.png" in bundle.namelist()
    assert [f["start"][:10] for f in manifest["frames"]] == [
        f"2025-07-{d}" for d in range(26, 31)]
    assert manifest["animation"] == {"step": "day", "window": "all", "fps": 4}


def test_too_many_frames_are_refused_with_the_count_and_a_larger_step(store, tmp_path,
                                                                      capsys):
    out = tmp_path / "year.mp4"
    code, err = run(store, ["--start", "2025-01-01", "--end", "2025-12-31", "--animate",
                            "hour", "-o", str(out)], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "8,760 frames" in err
    assert "--animate day: 365 frames" in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("args", "message"), [
    (["--animate", "day", "-o", "{tmp}/brief.avi"], "unknown clip format '.avi'"),
    (["-o", "{tmp}/brief.mp4"], "needs --animate"),
    (["--window", "3", "-o", "{tmp}/brief.png"], "only go with --animate"),
    (["--start", "2019-01-01", "--end", "2019-01-31", "--animate", "day", "-o",
      "{tmp}/brief.mp4"], "the period is empty"),
])
def test_bad_clip_requests_get_one_line_and_exit_2(store, tmp_path, capsys, args, message):
    code, err = run(store, [a.format(tmp=tmp_path) for a in args], capsys)
    assert code == 2
    assert message in err
    assert err.strip().count("\n") == 0
    assert not list(tmp_path.iterdir())


def test_a_missing_ffmpeg_is_named(store, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    code, err = run(store, [*SMALL, "-o", str(tmp_path / "brief.mp4")], capsys)
    assert code == 2
    assert "ffmpeg is not installed" in err
    assert err.strip().count("\n") == 0
    assert not list(tmp_path.iterdir())


def test_an_aircraft_moves_along_its_timed_track(store):
    """A drone's track from Belarus into Lithuania, 10:00 to 14:00: at noon it is half
    way (the frame of 11:00-12:00 ends at noon), in its type's colour, and it is gone
    after 14:00."""
    import shapely

    from dashboard.animation import ClipRenderer
    from dashboard.queries import track_crossings
    from dashboard.snapshot import SnapshotOptions

    line = shapely.LineString([(26.4, 54.2), (24.6, 54.9)])
    tracks = pd.DataFrame({"id": ["t1"], "type": ["drone"], "geometry": [line],
                           "times": ["2025-07-28T10:00:00Z;2025-07-28T14:00:00Z"]})
    layers = {"tracks": tracks, "crossings": track_crossings(tracks)}
    period = (pd.Timestamp("2025-07-28", tz="UTC"), pd.Timestamp("2025-07-29", tz="UTC"))
    renderer = ClipRenderer(store.incidents().head(0), layers,
                            SnapshotOptions(size="A4-landscape", dpi=100),
                            AnimationOptions("hour", window=1), period)
    try:
        ax = map_axes(renderer.fig)
        (x0, y0), (x1, y1) = (_TO_MAP.transform(*p) for p in line.coords)
        px, py = ax.transData.transform(((x0 + x1) / 2, (y0 + y1) / 2))
        row, col = round(renderer.size_px[1] - py), round(px)
        noon = renderer.render(renderer.frames[11])[row, col].astype(float)
        later = renderer.render(renderer.frames[16])[row, col].astype(float)
    finally:
        renderer.close()
    drone = np.array(to_rgb(TYPE_COLOURS["drone"])) * 255
    assert np.abs(noon - drone).max() < 30
    assert np.abs(later - drone).max() > 60
