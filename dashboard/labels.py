"""Label placement on briefing maps: greedy, in display pixels, never overlapping.

Each label is measured once; its candidate positions are boxes computed from that size
(beside its point first, then farther out with a leader line). The first box that stays
inside the map and clear of every placed label and every obstacle (incident symbols,
markers, the legend, the scale bar...) is taken; a label with no free box is not drawn,
and the caller decides what to do with it (an incident goes to the numbered key).

This is the cartographers' candidate-position method rather than adjustText's
repulsion: repulsion leaves overlaps where labels crowd and cannot promise that no
label covers an incident; a briefing map must. Leader lines are checked too: one never
crosses a symbol or a label, and later labels keep off it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib.text import Annotation

#: Gap between a symbol and its label, in pixels at 72 dpi (scaled with the figure).
GAP_PT = 1.5
#: Directions tried for a label moved away from its point (with a leader line).
_DIRECTIONS = np.deg2rad(np.arange(0, 360, 30))
#: Distances (in symbol radii, beyond the symbol) tried with a leader line.
_LEADER_STEPS = (3.0, 5.0, 8.0, 12.0)


def boxes_overlap(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Which of ``boxes`` (N×4: x0, y0, x1, y1) intersect ``box``."""
    return ((boxes[:, 0] < box[2]) & (box[0] < boxes[:, 2])
            & (boxes[:, 1] < box[3]) & (box[1] < boxes[:, 3]))


@dataclass
class LabelPlacer:
    """Places text on one axes so that no two labels and no label and obstacle meet."""

    ax: object
    #: Free area for labels (display pixels: x0, y0, x1, y1): the map's inside.
    bounds: tuple[float, float, float, float]
    _placed: list = field(default_factory=list)
    _obstacles: np.ndarray = field(default_factory=lambda: np.empty((0, 4)))

    @classmethod
    def for_axes(cls, ax) -> LabelPlacer:
        """A placer over the whole of ``ax`` (its limits and aspect must be set)."""
        ax.apply_aspect()
        x0, y0, x1, y1 = ax.get_window_extent().extents
        return cls(ax, (x0 + 2, y0 + 2, x1 - 2, y1 - 2))

    @property
    def px_per_pt(self) -> float:
        return self.ax.figure.dpi / 72.0

    def block(self, boxes) -> None:
        """Add obstacles (N×4 display boxes)."""
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        self._obstacles = np.vstack([self._obstacles, boxes])

    def block_points(self, x, y, radius_pt: float) -> None:
        """Add symbols drawn at data points ``x, y`` with a radius in points."""
        if len(x) == 0:
            return
        px = self.ax.transData.transform(np.column_stack([x, y]))
        r = radius_pt * self.px_per_pt
        self.block(np.column_stack([px[:, 0] - r, px[:, 1] - r, px[:, 0] + r, px[:, 1] + r]))

    def block_artist(self, artist) -> None:
        """Add an artist's drawn extent (legend, scale bar, inset...)."""
        renderer = self.ax.figure.canvas.get_renderer()
        self.block(artist.get_window_extent(renderer).extents)

    def is_free(self, box: np.ndarray) -> bool:
        x0, y0, x1, y1 = self.bounds
        if box[0] < x0 or box[1] < y0 or box[2] > x1 or box[3] > y1:
            return False
        grown = box + np.array([-1, -1, 1, 1])
        if len(self._obstacles) and boxes_overlap(self._obstacles, grown).any():
            return False
        return not (self._placed and boxes_overlap(np.array(self._placed), grown).any())

    def _line_is_free(self, points: np.ndarray) -> bool:
        """Whether a leader line (its sample points) crosses no obstacle and no label."""
        boxes = [self._obstacles] + ([np.array(self._placed)] if self._placed else [])
        for many in boxes:
            if not len(many) or not len(points):
                continue
            inside = ((points[:, None, 0] >= many[None, :, 0])
                      & (points[:, None, 0] <= many[None, :, 2])
                      & (points[:, None, 1] >= many[None, :, 1])
                      & (points[:, None, 1] <= many[None, :, 3]))
            if inside.any():
                return False
        return True

    def _size(self, text: str, style: dict) -> tuple[float, float]:
        probe = self.ax.text(0, 0, text, **style)
        renderer = self.ax.figure.canvas.get_renderer()
        extent = probe.get_window_extent(renderer)
        probe.remove()
        return extent.width, extent.height

    def _candidates(self, width: float, height: float, radius: float, *, leader: bool):
        """Lower-left corners (relative to the point) and whether a leader line is drawn:
        the eight places around the symbol, then farther out in twelve directions."""
        g = GAP_PT * self.px_per_pt + radius
        d = g * 0.75
        for dx, dy in ((g, -height / 2), (-g - width, -height / 2), (-width / 2, g),
                       (-width / 2, -g - height), (d, d), (d, -d - height),
                       (-d - width, d), (-d - width, -d - height)):
            yield dx, dy, False
        if not leader:
            return
        for step in _LEADER_STEPS:
            reach = g + step * max(radius, 3.0)
            for angle in _DIRECTIONS:
                cx, cy = np.cos(angle), np.sin(angle)
                ax_, ay_ = reach * cx, reach * cy
                dx = ax_ if cx > 0.3 else (ax_ - width if cx < -0.3 else ax_ - width / 2)
                dy = ay_ if cy > 0.3 else (ay_ - height if cy < -0.3 else ay_ - height / 2)
                yield dx, dy, True

    def place(self, text: str, x: float, y: float, *, radius_pt: float = 0.0,
              leader: bool = False, centred: bool = False, gid: str = "label",
              **style) -> Annotation | None:
        """Draw ``text`` for the data point ``x, y`` at the first free place; None when
        there is none. ``centred`` tries the point itself first (names of areas)."""
        width, height = self._size(text, style)
        px, py = self.ax.transData.transform((x, y))
        radius = radius_pt * self.px_per_pt
        options = self._candidates(width, height, radius, leader=leader)
        if centred:
            shifts = [(-width / 2 + sx * width, -height / 2 + sy * height, False)
                      for sx, sy in ((0, 0), (0, 0.8), (0, -0.8), (0.4, 0), (-0.4, 0))]
            options = iter(shifts)
        for dx, dy, with_line in options:
            box = np.array([px + dx, py + dy, px + dx + width, py + dy + height])
            if not self.is_free(box):
                continue
            line = _leader_points(box, px, py, radius) if with_line else None
            if line is not None and not self._line_is_free(line):
                continue
            self._placed.append(box)
            if line is not None and len(line):  # later labels keep off the leader line
                self.block(np.column_stack([line - 1.5, line + 1.5]))
            scale = 1 / self.px_per_pt
            arrow = ({"arrowstyle": "-", "color": "#555", "lw": 0.5, "shrinkA": 0,
                      "shrinkB": radius_pt} if with_line else None)
            return self.ax.annotate(text, xy=(x, y), xytext=(dx * scale, dy * scale),
                                    textcoords="offset points", ha="left", va="bottom",
                                    arrowprops=arrow, gid=gid, annotation_clip=False,
                                    zorder=15, **style)
        return None


def _leader_points(box: np.ndarray, px: float, py: float, radius: float) -> np.ndarray:
    """Points along the leader line from a label's box to its symbol (display pixels),
    those inside the box and on the symbol itself left out."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    t = np.linspace(0.0, 1.0, 24)[:, None]
    points = np.array([cx, cy]) + (np.array([px, py]) - np.array([cx, cy])) * t
    outside_box = ~((points[:, 0] >= box[0]) & (points[:, 0] <= box[2])
                    & (points[:, 1] >= box[1]) & (points[:, 1] <= box[3]))
    off_symbol = np.hypot(points[:, 0] - px, points[:, 1] - py) > radius * 1.5 + 2
    return points[outside_box & off_symbol]
