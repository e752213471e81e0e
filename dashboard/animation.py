"""Briefing clips: one briefing map per step of a period, as MP4, WebM, GIF or PNG frames.

A frame shows the map as the dashboard's time control shows it at the end of its step:
an incident appears in the step its period starts in and stays, fading, for the window
of steps behind the cursor (``all``: it stays for good); a record known to the month or
the year covers its whole month or year (``geo.dates.period_end_exclusive``), like on
the map. Aircraft move along their timed tracks and border crossings appear when they
happen; hexagons (above ``snapshot.AGGREGATE_ABOVE`` incidents) count the incidents of
the window, weighted by their fading.

Every frame is the same briefing map: the map is drawn once for the whole clip (its
frame, basemap, borders, legend, scale bar, north arrow, titles and every label, placed
for every incident of the clip, so that nothing moves between frames); each frame then
draws only what changes over a copy of that picture, plus its time and a timeline bar
with the cursor. Frames go as raw RGB to ffmpeg (Debian's), which encodes them while
the next ones are drawn: H.264 in yuv420p with the index first (``+faststart``) for
MP4, VP9 for WebM, a GIF with one palette made for the whole clip.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from dashboard import display
from dashboard.snapshot import (
    HEX_GRID,
    SYMBOL_SIZE_PT2,
    SnapshotOptions,
    _symbol_widths,
    map_axes,
    positioned,
    render_snapshot,
)
from dashboard.state import TIME_STEPS
from dashboard.style import PAGE_SIZES, TYPE_COLOURS
from geo.dates import record_periods
from geo.errors import InputError, ToolError

#: The steps a clip moves by, as the time control's.
STEPS = TIME_STEPS
#: The most frames a clip has; a step that gives more is refused with a larger one.
MAX_FRAMES = 2000
#: Frames a second, by default and allowed.
DEFAULT_FPS = 4
FPS_RANGE = (1, 60)
#: Steps behind the cursor an incident stays on the map (the time control's default).
DEFAULT_WINDOW = 7
#: A clip's page and resolution unless chosen: 13.333 × 7.5 in at 144 dpi, 1920 × 1080.
CLIP_SIZE = "slide-16x9"
CLIP_DPI = 144
#: The widest GIF (pixels): a GIF is drawn at a resolution that keeps within it.
GIF_MAX_WIDTH_PX = 960
#: The faintest an incident fades to at the end of its window (the time control's).
MIN_ALPHA = 0.15
FRAME_PNG = "frame-{:04d}.png"

#: Told of each frame made: (frames done, frames in all).
Progress = Callable[[int, int], None]

_STEP_DELTAS = {"hour": pd.Timedelta(hours=1), "day": pd.Timedelta(days=1),
                "week": pd.Timedelta(weeks=1)}
_CURSOR = "#c00000"


@dataclass(frozen=True)
class AnimationOptions:
    """How a clip moves: its step, window (None: cumulative), speed and empty frames."""

    step: str = "day"
    window: int | None = DEFAULT_WINDOW
    fps: int = DEFAULT_FPS
    skip_empty: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.step not in STEPS:
            problems.append(f"`step` was {self.step!r} but is expected to be in {STEPS}")
        if self.window is not None and self.window < 1:
            problems.append(f"`window` was {self.window} but is expected to be at least 1 "
                            "or None (cumulative)")
        if not FPS_RANGE[0] <= self.fps <= FPS_RANGE[1]:
            problems.append(f"`fps` was {self.fps} but is expected to be within "
                            "{}-{}".format(*FPS_RANGE))
        if problems:
            raise ValueError("; ".join(problems))


# --- time ------------------------------------------------------------------------------

def shift(t: pd.Timestamp, step: str, k: int) -> pd.Timestamp:
    """``t`` moved by ``k`` steps; months are calendar months (31 January plus a month is
    the last day of February), as on the time control."""
    if step == "month":
        return t + pd.DateOffset(months=k)
    return t + k * _STEP_DELTAS[step]


def frame_count(low: pd.Timestamp, high: pd.Timestamp, step: str) -> int:
    """The steps (frames) that cover ``low`` to ``high`` (exclusive), counted without
    listing them."""
    if high <= low:
        return 0
    if step != "month":
        return math.ceil((high - low) / _STEP_DELTAS[step])
    n = max((high.year - low.year) * 12 + high.month - low.month - 1, 1)
    while shift(low, step, n) < high:
        n += 1
    while n > 1 and shift(low, step, n - 1) >= high:
        n -= 1
    return n


def check_frame_count(low: pd.Timestamp, high: pd.Timestamp, step: str) -> int:
    """The clip's frame count; over :data:`MAX_FRAMES` it is refused with the count and
    the first larger step that keeps within the limit."""
    count = frame_count(low, high, step)
    if count <= MAX_FRAMES:
        return count
    larger = [(s, frame_count(low, high, s)) for s in STEPS[STEPS.index(step) + 1:]]
    fits = next(((s, n) for s, n in larger if n <= MAX_FRAMES), None)
    hint = (f"use a larger step (--animate {fits[0]}: {fits[1]:,} frames)" if fits
            else "give a shorter period (--start/--end)")
    msg = (f"--animate {step} gives {count:,} frames for {low:%Y-%m-%d} to "
           f"{high - pd.Timedelta(1):%Y-%m-%d}, more than {MAX_FRAMES:,}; {hint}")
    raise InputError(msg)


def frame_label(start: pd.Timestamp, end: pd.Timestamp, step: str) -> str:
    """A frame's step in words, UTC ("2025-07-10 UTC", "2025-07-10 14:00-15:00 UTC")."""
    if step == "hour":
        return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC"
    if step == "week":
        return f"{start:%Y-%m-%d} to {end - pd.Timedelta(days=1):%Y-%m-%d} UTC"
    if step == "month":
        return f"{start:%B %Y} (UTC)"
    return f"{start:%Y-%m-%d} UTC"


@dataclass(frozen=True)
class Frame:
    """One frame: its step (start, end exclusive), the cursor (the step's end) and where
    the window behind the cursor starts (None: cumulative)."""

    start: pd.Timestamp
    end: pd.Timestamp
    window_start: pd.Timestamp | None

    def entry(self, step: str) -> dict:
        """The frame in a manifest."""
        iso = "%Y-%m-%dT%H:%M:%SZ"
        return {"start": self.start.strftime(iso), "end": self.end.strftime(iso),
                "label": frame_label(self.start, self.end, step)}


def frames_of(low: pd.Timestamp, high: pd.Timestamp, options: AnimationOptions
              ) -> list[Frame]:
    """The frames of the period ``low`` to ``high`` (checked against :data:`MAX_FRAMES`)."""
    count = check_frame_count(low, high, options.step)
    bounds = [shift(low, options.step, k) for k in range(count + 1)]
    return [Frame(a, b, None if options.window is None
                  else shift(b, options.step, -options.window))
            for a, b in itertools.pairwise(bounds)]


def _ns(stamps) -> np.ndarray:
    return pd.DatetimeIndex(stamps).as_unit("ns").asi8


def visibility(starts: np.ndarray, ends: np.ndarray, frame: Frame
               ) -> tuple[np.ndarray, np.ndarray]:
    """Which records (periods as ns since 1970, end exclusive) a frame shows and their
    opacity: started by the cursor and not over before the window's start; full while
    going on, fading to :data:`MIN_ALPHA` over the window after they are over."""
    cursor = frame.end.value
    since = -np.inf if frame.window_start is None else frame.window_start.value
    shown = (starts < cursor) & (ends > since)
    alpha = np.ones(len(starts))
    if frame.window_start is not None:
        age = (cursor - ends).astype("float64")
        fading = age / (cursor - since)
        alpha = np.where(age > 0, np.clip(1 - fading, MIN_ALPHA, 1.0), 1.0)
    return shown, alpha


def period_of(incidents: pd.DataFrame, start: dt.date | None, end: dt.date | None
              ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The clip's period, the time control's axis (``queries.time_axis``); an empty one
    is refused."""
    from dashboard.queries import time_axis

    low, high = time_axis(incidents, start, end)
    if low is None or high is None or high <= low:
        what = "the filter's" if start or end else "the selection's"
        msg = f"the period is empty ({what} period has no time to animate)"
        raise InputError(msg)
    return low, high


# --- frames ------------------------------------------------------------------------------

@dataclass
class _Timed:
    """Records with their periods (ns), projected positions and colours."""

    frame: pd.DataFrame
    starts: np.ndarray
    ends: np.ndarray


def _timed(incidents: pd.DataFrame, low: pd.Timestamp, high: pd.Timestamp) -> _Timed:
    begins, ends = record_periods(incidents)
    keep = (begins.notna() & (begins < high) & (ends > low)).to_numpy()
    kept = incidents[keep]
    return _Timed(kept, _ns(begins[keep]), _ns(ends[keep]))


def _even(pixels: float) -> int:
    """Pixels rounded to an even count (yuv420p halves both sides)."""
    return max(2, round(pixels / 2) * 2)


class ClipRenderer:
    """The frames of one clip, drawn over one rendered static map."""

    def __init__(self, incidents: pd.DataFrame, layers: dict, options: SnapshotOptions,
                 animation: AnimationOptions, period: tuple[pd.Timestamp, pd.Timestamp],
                 *, max_width_px: int | None = None) -> None:
        self.animation, self.period = animation, period
        self.frames = frames_of(*period, animation)
        self.timed = _timed(incidents, *period)
        self.tracks, self.crossings = (_timed_tracks(layers) if "tracks" in options.layers
                                       else ([], []))
        if self.timed.frame.empty and not self.tracks and not self.crossings:
            low, high = period
            msg = (f"the period is empty: no incident from {low:%Y-%m-%d} to "
                   f"{high - pd.Timedelta(1):%Y-%m-%d}, nothing to animate")
            raise InputError(msg)
        width_in, height_in = PAGE_SIZES[options.size]
        dpi = options.dpi
        if max_width_px and width_in * dpi > max_width_px:
            dpi = max(int(max_width_px / width_in), 50)
        self.size_px = (_even(width_in * dpi), _even(height_in * dpi))
        if max_width_px and self.size_px[0] > max_width_px:
            self.size_px = (max_width_px - max_width_px % 2, self.size_px[1])
        with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
            self.fig = render_snapshot(self.timed.frame, options=dataclasses.replace(
                options, dpi=dpi, timeline=True), **layers)
            self.fig.set_size_inches(self.size_px[0] / dpi, self.size_px[1] / dpi)
            self._prepare()
        if animation.skip_empty:
            self.frames = [f for f in self.frames if self._anything(f)]
            if not self.frames:
                msg = "every frame of the period is empty (--skip-empty left none)"
                raise InputError(msg)

    # the static map and the changing layers

    def _prepare(self) -> None:
        fig = self.fig
        ax = self.ax = map_axes(fig)
        density = None
        for coll in list(ax.collections):
            if coll.get_gid() in ("incidents", "density", "crossings"):
                density = coll if coll.get_gid() == "density" else density
                coll.remove()
        self.density = density
        self._points()
        self.regions = [a for a in ax.get_children() if a.get_gid() in
                        ("region-only", "label-region")]
        self.labels = [t for t in ax.texts if t.get_gid() == "label-incident"]
        self.subtitle = next(t for t in fig.texts if t.get_gid() == "subtitle")
        self.subtitle_text = self.subtitle.get_text()
        self.planes = ax.scatter([], [], s=44, zorder=11.5, edgecolors="black",
                                 linewidths=1.5, gid="planes")
        self.crossing_dots = ax.scatter([], [], s=30, c="white", edgecolors=_CURSOR,
                                        linewidths=1.6, zorder=11, gid="crossings")
        # (the layers this clip can show: an empty one would cost a band of its own)
        self.dynamic = [self.dots, *([self.planes] if self.tracks else []),
                        *([self.crossing_dots] if self.crossings else []), *self.regions,
                        *self.labels]
        lowest = min([10.0, *(a.get_zorder() for a in self.regions),
                      *([8.0] if density is not None else [])])
        skip = {id(a) for a in self.dynamic} | {id(ax.patch)}
        skip |= {id(s) for s in ax.spines.values()}
        self.above = [a for a in ax.get_children() if id(a) not in skip
                      and a.get_visible() and a.get_zorder() >= lowest
                      and isinstance(a, (matplotlib.collections.Collection,
                                         matplotlib.patches.Patch, Line2D,
                                         matplotlib.text.Text))]
        self.timeline = _Timeline(fig, ax, self.period, self.timed.starts, self.animation)
        # the static artists above the lowest changing layer, in the bands between the
        # changing layers' levels, each drawn once on a clear layer and laid over the
        # frame after its band's changing artists (drawing them again every frame is
        # slow: labels with halos are drawn as paths)
        self.levels = sorted({*(a.get_zorder() for a in self.dynamic), 8.0}
                             if density is not None else
                             {a.get_zorder() for a in self.dynamic})
        bands: list[list] = [[] for _ in self.levels]
        for artist in self.above:
            bands[np.searchsorted(self.levels, artist.get_zorder(), side="right") - 1
                  ].append(artist)
        self.overlays = [self._overlay(band) for band in bands]
        self.background = self._background()

    def _points(self) -> None:
        """The positioned incidents in view, projected, in start order (newer on top)."""
        from dashboard.snapshot import _TO_MAP

        ax, frame = self.ax, self.timed.frame
        placed = positioned(frame)
        x, y = _TO_MAP.transform(placed["lon"].to_numpy(), placed["lat"].to_numpy())
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        rows = frame.index.get_indexer(placed.index[inside])
        order = np.argsort(self.timed.starts[rows], kind="stable")
        self.rows = rows[order]
        self.xy = np.column_stack([x[inside], y[inside]])[order]
        types = placed["type"].to_numpy()[inside][order]
        self.rgba = np.array([to_rgba(TYPE_COLOURS.get(t, TYPE_COLOURS["unknown"]))
                              for t in types]).reshape(-1, 4)
        self.widths = _symbol_widths(placed[inside]).reshape(-1)[order]
        region = np.ones(len(frame), dtype=bool)
        region[frame.index.get_indexer(placed.index)] = False
        self.region_rows = np.flatnonzero(region)
        self.region_iso3 = frame["country_iso3"].fillna("").to_numpy()[region] \
            if "country_iso3" in frame else np.array([""] * int(region.sum()))
        self.ids = frame["id"].astype(str).to_numpy()
        self.dots = ax.scatter(np.zeros(0), np.zeros(0), s=SYMBOL_SIZE_PT2, zorder=10,
                               gid="incidents")

    def _overlay(self, artists: list):
        """``artists`` alone drawn on a clear layer: (row, column) of its part with
        something drawn, its RGB and its opacity (0-255); None when nothing is drawn."""
        if not artists:
            return None
        fig, keep = self.fig, {id(a) for a in artists}
        hidden = [a for a in (fig.patch, *fig.texts, *fig.axes, self.ax.patch,
                              *self.ax.get_children()) if id(a) not in keep
                  and a is not self.ax and a.get_visible()]
        for a in hidden:
            a.set_visible(False)
        try:
            fig.canvas.draw()
            layer = np.array(fig.canvas.buffer_rgba())
        finally:
            for a in hidden:
                a.set_visible(True)
        rows = np.flatnonzero(layer[..., 3].any(axis=1))
        cols = np.flatnonzero(layer[..., 3].any(axis=0))
        if not len(rows):
            return None
        part = layer[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        return (rows[0], cols[0], part[..., :3].astype(np.uint16),
                part[..., 3:].astype(np.uint16))

    @staticmethod
    def _lay(pixels: np.ndarray, overlay) -> None:
        """Lay an overlay (:meth:`_overlay`) over the frame's RGBA pixels, in place."""
        if overlay is None:
            return
        row, col, rgb, alpha = overlay
        under = pixels[row:row + rgb.shape[0], col:col + rgb.shape[1], :3]
        under[...] = (rgb * alpha + under * (255 - alpha) + 127) // 255

    def _background(self):
        """The figure drawn without what changes: copied once, under every frame."""
        changing = [*self.dynamic, *self.above, self.subtitle, self.timeline.ax]
        for a in changing:
            a.set_visible(False)
        canvas = self.fig.canvas
        canvas.draw()
        background = canvas.copy_from_bbox(self.fig.bbox)
        for a in (*self.above, self.subtitle, self.timeline.ax, self.dots, self.planes,
                  self.crossing_dots):
            a.set_visible(True)
        return background

    def _anything(self, frame: Frame) -> bool:
        shown, _ = visibility(self.timed.starts, self.timed.ends, frame)
        return bool(shown.any()) or bool(self._plane_positions(frame)[0]) or bool(
            self._crossings_at(frame).any())

    # one frame

    def render(self, frame: Frame) -> np.ndarray:
        """A frame's pixels, height × width × RGB (uint8)."""
        with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
            return self._render(frame)

    def _render(self, frame: Frame) -> np.ndarray:
        canvas, ax = self.fig.canvas, self.ax
        canvas.restore_region(self.background)
        shown, alpha = visibility(self.timed.starts, self.timed.ends, frame)
        count = self._update_points(shown, alpha)
        self._update_regions(shown)
        ids = set(self.ids[shown])
        for label in self.labels:
            label.set_visible(label.get_label() in ids)
        self._update_tracks(frame)
        hexes = self._hexes(shown, alpha)
        drawn = [*self.dynamic, *([hexes] if hexes is not None else [])]
        pixels = np.asarray(canvas.buffer_rgba())
        for n, level in enumerate(self.levels):
            for artist in drawn:
                if artist.get_zorder() == level and artist.get_visible():
                    ax.draw_artist(artist)
            self._lay(pixels, self.overlays[n])
        if hexes is not None:
            hexes.remove()
        noun = "incident" if count == 1 else "incidents"
        self.subtitle.set_text(re.sub(r"[\d,]+(\s+)incidents?(?=\s+on\s+the\s+map\s*$)",
                                      lambda m: f"{count:,}{m[1]}{noun}",
                                      self.subtitle_text))
        self.fig.draw_artist(self.subtitle)
        self.timeline.update(frame)
        self.fig.draw_artist(self.timeline.ax)
        return np.ascontiguousarray(pixels[..., :3])

    def _update_points(self, shown: np.ndarray, alpha: np.ndarray) -> int:
        on = shown[self.rows]
        if self.density is not None:
            self.dots.set_offsets(np.zeros((0, 2)))
            return int(on.sum())
        faces = self.rgba[on].copy()
        faces[:, 3] = alpha[self.rows][on]
        edges = np.tile(to_rgba("#222222"), (len(faces), 1))
        edges[:, 3] = faces[:, 3]
        self.dots.set_offsets(self.xy[on])
        self.dots.set_facecolors(faces)
        self.dots.set_edgecolors(edges)
        self.dots.set_linewidths(self.widths[on])
        return int(on.sum())

    def _hexes(self, shown: np.ndarray, alpha: np.ndarray):
        """The window's incidents counted in hexagons (weighted by their fading), on the
        whole clip's colour scale; None without hexagons."""
        on = shown[self.rows]
        if self.density is None or not on.any():
            return None
        (x0, x1), (y0, y1) = self.ax.get_xlim(), self.ax.get_ylim()
        return self.ax.hexbin(self.xy[on, 0], self.xy[on, 1], C=alpha[self.rows][on],
                              reduce_C_function=np.sum, gridsize=HEX_GRID, mincnt=1,
                              cmap=self.density.get_cmap(), norm=self.density.norm,
                              alpha=0.85, zorder=8, linewidths=0.2,
                              extent=(x0, x1, y0, y1), gid="density")

    def _update_regions(self, shown: np.ndarray) -> None:
        """Airspaces of incidents known only by country: hatched while they have one,
        with the count of the frame's."""
        on = shown[self.region_rows]
        counts = pd.Series(self.region_iso3[on]).value_counts()
        outlines = display.airspace_outlines()
        for artist in self.regions:
            iso3 = artist.get_label()
            count = int(counts.get(iso3, 0))
            artist.set_visible(count > 0)
            if count and artist.get_gid() == "label-region":
                name = outlines.get(iso3, (iso3,))[0]
                noun = "incident" if count == 1 else "incidents"
                artist.set_text(f"{name}: {count} {noun}, no position")

    def _plane_positions(self, frame: Frame) -> tuple[list, list]:
        cursor = frame.end.value // 1_000_000
        xy, colours = [], []
        for track in self.tracks:
            times = track["times"]
            if not times[0] <= cursor <= times[-1]:
                continue
            xy.append([np.interp(cursor, times, track["x"]),
                       np.interp(cursor, times, track["y"])])
            colours.append(track["colour"])
        return xy, colours

    def _crossings_at(self, frame: Frame) -> np.ndarray:
        if not self.crossings:
            return np.zeros(0, dtype=bool)
        times = np.array([c["time"] for c in self.crossings])
        since = -np.inf if frame.window_start is None else frame.window_start.value / 1e6
        return (times <= frame.end.value / 1e6) & (times >= since)

    def _update_tracks(self, frame: Frame) -> None:
        xy, colours = self._plane_positions(frame)
        self.planes.set_offsets(np.array(xy).reshape(-1, 2))
        self.planes.set_facecolors(colours or np.zeros((0, 4)))
        on = self._crossings_at(frame)
        points = np.array([(c["x"], c["y"]) for c in self.crossings]).reshape(-1, 2)
        self.crossing_dots.set_offsets(points[on] if len(on) else points)

    def close(self) -> None:
        import matplotlib.pyplot as plt

        plt.close(self.fig)


def _timed_tracks(layers: dict) -> tuple[list[dict], list[dict]]:
    """Tracks with a time at every vertex (projected) and crossings with a time, as the
    time control has them (``dashboard.maps``)."""
    from dashboard.maps import timed_crossings, timed_tracks
    from dashboard.snapshot import _TO_MAP

    if layers.get("tracks") is None or layers["tracks"].empty:
        return [], []
    tracks = []
    for track in timed_tracks(layers.get("tracks")):
        lat, lon = np.array(track["coords"]).T
        x, y = _TO_MAP.transform(lon, lat)
        tracks.append({"times": np.array(track["times"]), "x": x, "y": y,
                       "colour": track["colour"]})
    crossings = []
    for c in timed_crossings(layers.get("crossings")):
        x, y = _TO_MAP.transform(c["lon"], c["lat"])
        crossings.append({"x": x, "y": y, "time": c["time"]})
    return tracks, crossings


class _Timeline:
    """The frame's time and a bar of the period with the cursor, in the box the map keeps
    free at its lower left."""

    def __init__(self, fig, ax, period, starts: np.ndarray, animation: AnimationOptions
                 ) -> None:
        box = next(p for p in ax.patches if p.get_gid() == "timeline-box")
        (px0, py0), (px1, py1) = ax.transData.transform(
            [(box.get_x(), box.get_y()), (box.get_x() + box.get_width(),
                                          box.get_y() + box.get_height())])
        w, h = fig.bbox.width, fig.bbox.height
        self.ax = fig.add_axes((px0 / w, py0 / h, (px1 - px0) / w, (py1 - py0) / h),
                               gid="timeline")
        self.ax.set_axis_off()
        self.ax.set_xlim(0, 1)
        self.ax.set_ylim(0, 1)
        self.low, self.high = (t.value for t in period)
        self.step = animation.step
        left, right, bar_y, bar_h = 0.04, 0.96, 0.30, 0.10
        self.left, self.width = left, right - left
        self.ax.add_patch(Rectangle((left, bar_y), right - left, bar_h, facecolor="#e4e4e4",
                                    edgecolor="#999", lw=0.4))
        self.filled = self.ax.add_patch(Rectangle((left, bar_y), 0, bar_h,
                                                  facecolor="#9db7cf", lw=0))
        # a tick where incidents start (one per 1/500 of the bar: a clip may have 10^5)
        marks = np.unique(np.round(self._x(
            starts[(starts >= self.low) & (starts < self.high)]) * 500) / 500)
        self.ax.vlines(marks, bar_y, bar_y + bar_h, colors="#333", lw=0.6)
        self.cursor = Line2D([left, left], [bar_y - 0.08, bar_y + bar_h + 0.08],
                             color=_CURSOR, lw=2.2, solid_capstyle="butt")
        self.ax.add_line(self.cursor)
        text = {"transform": self.ax.transAxes, "parse_math": False}
        self.when = self.ax.text(left, 0.72, "", fontsize=11, fontweight="bold",
                                 va="center", ha="left", gid="frame-time", **text)
        window = ("cumulative" if animation.window is None else
                  f"window {animation.window} {animation.step}"
                  f"{'s' if animation.window > 1 else ''}, fading")
        self.ax.text((left + right) / 2, 0.12, window, fontsize=6, color="#444",
                     va="center", ha="center", **text)
        first, last = period[0], period[1] - pd.Timedelta(1)
        fmt = "%Y-%m-%d %H:%M" if animation.step == "hour" else "%Y-%m-%d"
        for x, stamp, ha in ((left, first, "left"), (right, last, "right")):
            self.ax.text(x, 0.12, stamp.strftime(fmt), fontsize=6, color="#444", ha=ha,
                         va="center", **text)

    def _x(self, ns) -> np.ndarray:
        share = (np.asarray(ns, dtype="float64") - self.low) / max(self.high - self.low, 1)
        return self.left + self.width * np.clip(share, 0.0, 1.0)

    def update(self, frame: Frame) -> None:
        x = float(self._x(frame.end.value))
        self.cursor.set_xdata([x, x])
        self.filled.set_width(x - self.left)
        self.when.set_text(frame_label(frame.start, frame.end, self.step))


# --- writing ---------------------------------------------------------------------------

def ffmpeg_path() -> str:
    """ffmpeg on the PATH; refused, saying how to get it, when there is none."""
    found = shutil.which("ffmpeg")
    if found is None:
        msg = ("ffmpeg is not installed (not found on PATH); install Debian's "
               "(apt-get install ffmpeg) or write PNG frames with --frames DIR")
        raise InputError(msg)
    return found


def _codec_args(suffix: str) -> list[str]:
    if suffix == ".mp4":  # plays in browsers and PowerPoint
        return ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "fast", "-crf", "20",
                "-movflags", "+faststart"]
    return ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-b:v", "0", "-crf", "33",
            "-deadline", "good", "-cpu-used", "5", "-row-mt", "1"]


def _raw_input(size_px: tuple[int, int], fps: int, source: str) -> list[str]:
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size_px[0]}x{size_px[1]}",
            "-r", str(fps), "-i", source]


def _run_ffmpeg(args: list[str], frames: Iterator[np.ndarray] | None = None) -> None:
    """ffmpeg with ``args``; ``frames`` written to its input while it encodes them. A
    failure is raised with ffmpeg's last line."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([ffmpeg_path(), "-y", "-nostdin", "-loglevel", "error",
                                    *args], stdin=subprocess.PIPE if frames else None,
                                   stdout=subprocess.DEVNULL, stderr=errors)
        try:
            if frames is not None:
                for pixels in frames:
                    process.stdin.write(pixels.tobytes())
                process.stdin.close()
        except BrokenPipeError:
            pass
        finally:
            if process.poll() is None and frames is not None and not process.stdin.closed:
                process.kill()
            code = process.wait()
        if code != 0:
            errors.seek(0)
            lines = errors.read().decode("utf-8", "replace").strip().splitlines()
            msg = f"ffmpeg failed ({lines[-1] if lines else f'exit status {code}'})"
            raise ToolError(msg)


def _frames(renderer: ClipRenderer, progress: Progress | None) -> Iterator[np.ndarray]:
    total = len(renderer.frames)
    for n, frame in enumerate(renderer.frames, start=1):
        yield renderer.render(frame)
        if progress:
            progress(n, total)


def write_clip(renderer: ClipRenderer, path: Path, *, progress: Progress | None = None
               ) -> None:
    """The clip as MP4 (H.264), WebM (VP9) or GIF (one palette for the clip), by
    ``path``'s extension."""
    suffix = path.suffix.lower()
    fps, size = renderer.animation.fps, renderer.size_px
    if suffix != ".gif":
        _run_ffmpeg([*_raw_input(size, fps, "-"), *_codec_args(suffix), "-f",
                     suffix[1:], str(path)], _frames(renderer, progress))
        return
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        raw, palette = Path(tmp) / "frames.rgb", Path(tmp) / "palette.png"
        with raw.open("wb") as out:
            for pixels in _frames(renderer, progress):
                out.write(pixels.tobytes())
        _run_ffmpeg([*_raw_input(size, fps, str(raw)), "-vf",
                     "palettegen=stats_mode=full", "-frames:v", "1", "-update", "1",
                     str(palette)])
        _run_ffmpeg([*_raw_input(size, fps, str(raw)), "-i", str(palette), "-lavfi",
                     "paletteuse=dither=sierra2_4a", "-loop", "0", "-f", "gif", str(path)])


def write_frames(renderer: ClipRenderer, folder: Path, *, progress: Progress | None = None
                 ) -> list[dict]:
    """The frames as numbered PNGs in ``folder``; returns their manifest entries (file,
    step start and end, label)."""
    from PIL import Image

    entries = []
    for n, pixels in enumerate(_frames(renderer, progress), start=1):
        name = FRAME_PNG.format(n)
        Image.fromarray(pixels).save(folder / name, compress_level=3)
        entries.append({"file": name, **renderer.frames[n - 1].entry(
            renderer.animation.step)})
    return entries


def check_frame_folder(folder: Path) -> Path:
    """``--frames DIR``: a new folder, or an empty one, in a folder that exists."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        msg = f"--frames {folder}: exists and is not an empty folder; give a new one"
        raise InputError(msg)
    if not folder.parent.is_dir():
        msg = f"--frames {folder}: the folder {folder.parent} does not exist; create it first"
        raise InputError(msg)
    return folder


def write_frame_folder(renderer: ClipRenderer, folder: Path, *,
                       progress: Progress | None = None) -> Path:
    """``--frames DIR``: the PNG frames and ``frames.json`` (each frame's file and time)
    in a new or empty folder, which appears whole or not at all."""
    folder = check_frame_folder(folder)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", suffix=".part",
                                    dir=folder.parent))
    try:
        entries = write_frames(renderer, partial, progress=progress)
        (partial / "frames.json").write_text(json.dumps(
            {"step": renderer.animation.step, "window": renderer.animation.window or "all",
             "fps": renderer.animation.fps, "size_px": list(renderer.size_px),
             "frames": entries}, indent=2), encoding="utf-8")
        if folder.exists():
            folder.rmdir()
        os.replace(partial, folder)
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    return folder


def default_dpi(size: str) -> int:
    """The resolution of a clip of page ``size``: 1080 pixels high at most, as a slide."""
    return CLIP_DPI if size == CLIP_SIZE else max(int(1080 / PAGE_SIZES[size][1]), 50)
