"""The layout on its own: boxes of any widths, in any number, never overlap; edges end on borders."""

import random
from itertools import pairwise

import pytest

from loom_nb.graph._layout import GAP_X, NODE_H, Box, clip, place, text_width


def intersect(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


@pytest.mark.parametrize("n", [1, 10, 100, 1000, 5000])
def test_no_two_boxes_overlap_and_layers_stay_in_order(n):
    rng = random.Random(n)
    boxes = [Box(f"n{i}", rng.randrange(5), rng.uniform(96, 420)) for i in range(n)]
    links = [(f"n{i}", f"n{rng.randrange(n)}") for i in range(n)]
    layout = place(boxes, links, ["a", "b", "c", "d", "e"])
    rows: dict[float, list[Box]] = {}
    for b in boxes:
        rows.setdefault(b.y, []).append(b)
    for row in rows.values():  # boxes share a row only with boxes of their layer, GAP_X apart
        row.sort(key=lambda b: b.x)
        assert len({b.layer for b in row}) == 1
        assert all(b.x - (a.x + a.w) >= GAP_X - 1e-6 for a, b in pairwise(row))
    ys = sorted(rows)
    assert all(b - a >= NODE_H for a, b in pairwise(ys))  # rows never overlap either
    by_layer = sorted(boxes, key=lambda b: (b.layer, b.y))
    assert [b.layer for b in by_layer] == sorted(b.layer for b in boxes)  # deeper layer, lower rows
    assert not any(intersect(a, b) for a, b in pairwise(by_layer))
    x, y, w, h = layout.bounds
    assert all(x <= b.x and b.x + b.w <= x + w and y <= b.y and b.y + b.h <= y + h for b in boxes)
    assert 0.5 < w / h < 8 or n < 10  # a shape that fits an output area, not one endless row


def test_edges_end_on_the_borders_of_their_boxes():
    a, b = Box("a", 0, 100, x=0, y=0), Box("b", 1, 100, x=300, y=200)
    x1, y1, x2, y2 = clip(a, b)
    assert (x1 == 100 or y1 == NODE_H) and (x2 == 300 or y2 == 200)
    assert 0 <= x1 <= 100 and 0 <= y1 <= NODE_H and 300 <= x2 <= 400 and 200 <= y2 <= 200 + NODE_H


def test_text_width_grows_with_wide_letters_and_scripts():
    assert text_width("WWWW", 12) > text_width("iiii", 12) * 2
    assert text_width("漢字", 12) >= 2 * 12  # wide (East Asian) letters take a full em each
    assert text_width("Ж", 12) >= text_width("W", 12)  # other scripts: as wide as the widest Latin letter
    assert text_width("e\u0301", 12) == text_width("e", 12)  # a combining accent takes no room
