"""Where the boxes of a drawing go: layered rows, no two boxes overlapping, edges cut at borders.

Pure geometry, no markup: a box's width comes from its label measured with a conservative width
per character (DejaVu Sans' advance widths, the widest common sans, plus a margin), so the label
fits in any common font; boxes are packed in rows with gaps, layer under layer, and so never
overlap whatever their number.
"""

from __future__ import annotations

import math
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

__all__ = ["MAX_W", "MIN_W", "NODE_H", "PAD_L", "PAD_R", "Box", "Layout", "clip", "place", "text_width"]

NODE_H, PAD_L, PAD_R, MIN_W, MAX_W = 38, 34, 10, 96, 420
"""A node's height, room left of its label (agent stripe, shape) and right of it, its width's bounds."""
GAP_X, GAP_Y, LAYER_GAP = 24, 18, 56
ASPECT = 1.8  # width / height the rows aim for, near a notebook output's shape

# DejaVu Sans advance widths in hundredths of an em for " " .. "~" (measured in Chromium, rounded up)
_ASCII_EM = [32, 41, 46, 84, 64, 96, 78, 28, 40, 40, 50, 84, 32, 37, 32, 34, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64]
_ASCII_EM += [34, 34, 84, 84, 84, 54, 100, 71, 69, 70, 78, 64, 58, 78, 76, 30, 30, 66, 56, 87, 75, 79, 61, 79, 70]
_ASCII_EM += [64, 60, 74, 69, 99, 69, 62, 69, 40, 34, 40, 84, 50, 50, 62, 64, 55, 64, 62, 35, 64, 64, 28, 28, 58]
_ASCII_EM += [28, 98, 64, 62, 64, 64, 40, 53, 40, 64, 60, 82, 60, 60, 53, 64, 34, 64, 84]
MARGIN = 1.08


def text_width(text: str, px: float) -> float:
    """A width `text` at `px` does not exceed in DejaVu Sans (about the widest common sans; the
    page asks for it first), with a margin, so a box sized by it holds its label."""
    em = 0.0
    for ch in text:
        code = ord(ch)
        if 32 <= code < 127:
            em += _ASCII_EM[code - 32] / 100
        elif unicodedata.combining(ch):
            continue
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            em += 1.05
        else:
            em += 1.0  # other scripts and symbols: as wide as the widest Latin letter
    return em * px * MARGIN


@dataclass(slots=True)
class Box:
    key: str
    """Element id: n<node id> or c<cluster number>."""
    layer: int
    w: float
    h: float = NODE_H
    x: float = 0.0
    y: float = 0.0

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass(slots=True)
class Layout:
    boxes: dict[str, Box]
    layers: list[tuple[str, float]]
    """(name, y of its first row) for each non-empty layer."""
    bounds: tuple[float, float, float, float]
    """x, y, width, height of everything drawn, gutter included."""


def place(boxes: list[Box], links: list[tuple[str, str]], names: list[str]) -> Layout:
    """Rows of boxes, layer under layer; each row centred, wrapped at a width that gives the whole
    drawing about ASPECT, boxes ordered by the mean x of neighbours already placed."""
    by_layer: dict[int, list[Box]] = defaultdict(list)
    for b in boxes:
        by_layer[b.layer].append(b)
    area = sum((b.w + GAP_X) * (b.h + GAP_Y) for b in boxes) + LAYER_GAP * 400 * len(by_layer)
    row_max = max(700.0, math.sqrt(area * ASPECT), max((b.w for b in boxes), default=0.0))
    neighbours: dict[str, list[str]] = defaultdict(list)
    for a, b in links:
        neighbours[a].append(b)
        neighbours[b].append(a)
    placed: dict[str, Box] = {}
    layers: list[tuple[str, float]] = []
    y = 0.0
    for layer in sorted(by_layer):
        members = by_layer[layer]

        def centre(b: Box) -> float:
            xs = [placed[k].cx for k in neighbours.get(b.key, ()) if k in placed]
            return sum(xs) / len(xs) if xs else math.inf

        order = sorted(range(len(members)), key=lambda i: (centre(members[i]), i))
        rows: list[list[Box]] = [[]]
        width = 0.0
        for i in order:
            b = members[i]
            if rows[-1] and width + GAP_X + b.w > row_max:
                rows.append([])
                width = 0.0
            width += (GAP_X if rows[-1] else 0.0) + b.w
            rows[-1].append(b)
        layers.append((names[layer] if layer < len(names) else "", y))
        for row in rows:
            x = -(sum(b.w for b in row) + GAP_X * (len(row) - 1)) / 2
            height = max(b.h for b in row)
            for b in row:
                b.x, b.y = x, y
                x += b.w + GAP_X
                placed[b.key] = b
            y += height + GAP_Y
        y += LAYER_GAP - GAP_Y
    xs = [b.x for b in boxes] or [0.0]
    x2 = max((b.x + b.w for b in boxes), default=0.0)
    gutter = max((text_width(name, 12) for name, _ in layers), default=0.0) + 24
    left = min(xs) - gutter
    pad = 16
    return Layout(
        {b.key: b for b in boxes},
        layers,
        (left - pad, -pad, x2 - left + 2 * pad, max(y - LAYER_GAP, NODE_H) + 2 * pad),
    )


def clip(a: Box, b: Box) -> tuple[float, float, float, float]:
    """The segment between two boxes' centres, cut at their borders (arrow heads stay visible)."""
    dx, dy = b.cx - a.cx, b.cy - a.cy

    def cut(box: Box, sx: float, sy: float) -> tuple[float, float]:
        tx = (box.w / 2) / abs(sx) if sx else math.inf
        ty = (box.h / 2) / abs(sy) if sy else math.inf
        t = min(tx, ty)
        return box.cx + sx * t, box.cy + sy * t

    if dx == 0 and dy == 0:
        return a.cx, a.y, a.cx, a.y
    x1, y1 = cut(a, dx, dy)
    x2, y2 = cut(b, -dx, -dy)
    return x1, y1, x2, y2
