"""Drawing the decision graph: laid out here, drawn as SVG, safe, offline and small.

Layout: nodes sit in layers by type, as Loom's view has them (goal; decision and revisit; option;
action; outcome and observation), each a box sized from its label with a conservative width per
character (DejaVu Sans' advance widths, the widest common sans, plus a margin), packed in rows
with gaps, so no two boxes overlap at any size. Within a layer, nodes are ordered by where their
neighbours above sit (barycentre), which shortens edges. Edges are drawn before (under) the
opaque boxes, so none crosses a label; their type is their colour (legend) and their tooltip.

Page: plain SVG markup written here with every model-written string escaped as text (a title is
never markup), a <title> per node and edge (a tooltip even without JavaScript), and a ~5 KB script
of our own for pan, zoom, richer tooltips and clusters: no vis-network (~500 KB) in every drawing,
nothing from a CDN. The legend is HTML beside the drawing, never over it. In a notebook the page
sits in a sandboxed iframe (srcdoc: no file next to the notebook; no allow-same-origin: its script
cannot reach the notebook), which JupyterLab, Notebook 7, VS Code, Colab and nbconvert's HTML
export all display.

Large graphs (over MAX_DRAWN nodes) open as one box per agent (per session), at most CLUSTER_MAX
nodes each, with the edges between them counted; a click opens a box's own layered drawing,
kept in an inert <template> until then.
"""

from __future__ import annotations

import html
import math
import os
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GraphView", "render_graph"]

LAYERS = {"goal": 0, "decision": 1, "revisit": 1, "option": 2, "action": 3, "outcome": 4, "observation": 4}
LAYER_NAMES = ["goals", "decisions · revisits", "options", "actions", "outcomes · observations"]
NODE_STYLE = {  # type: (shape, colour of the shape, tint of the box)
    "goal": ("star", "#c99a06", "#fdf3d0"),
    "decision": ("diamond", "#3b6fd8", "#e3ecfc"),
    "revisit": ("triangle", "#7c4ddb", "#eee7fb"),
    "option": ("circle", "#5f8fbf", "#e9f0f7"),
    "action": ("square", "#2f8f5b", "#e2f3e9"),
    "outcome": ("hexagon", "#1f7f73", "#ddf1ee"),
    "observation": ("ellipse", "#6e7781", "#eef0f2"),
}
OTHER_STYLE = ("circle", "#999999", "#f4f4f4")
ICONS = {  # 14 x 14 px shapes, one per node type
    "star": "M7 0.5L8.9 5 13.6 5.2 9.9 8.2 11.1 13 7 10.3 2.9 13 4.1 8.2 0.4 5.2 5.1 5Z",
    "diamond": "M7 0.5L13.5 7 7 13.5 0.5 7Z",
    "triangle": "M0.8 1.5H13.2L7 12.8Z",
    "circle": "M7 1A6 6 0 1 1 6.99 1Z",
    "square": "M1.5 1.5H12.5V12.5H1.5Z",
    "hexagon": "M3.8 1.2H10.2L13.4 7 10.2 12.8H3.8L0.6 7Z",
    "ellipse": "M7 3A6.5 4 0 1 1 6.99 3Z",
}
EDGE_COLORS = {
    "leads_to": "#8a8f98",
    "chosen": "#2e7d32",
    "rejected": "#d32f2f",
    "requires": "#1565c0",
    "blocks": "#6a1b9a",
    "enables": "#00897b",
    "supersedes": "#ef8a17",
}
EDGE_OTHER = "#b0b0b0"
STATUS_NOTE = {"superseded": "dashed border", "abandoned": "dotted border, faded"}
AGENT_PALETTE = [
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#9a6324",
    "#469990",
    "#800000",
    "#808000",
    "#000075",
    "#bfef45",
    "#a9a9a9",
]
NO_AGENT = "#555555"

MAX_DRAWN = 1200
"""Above this many nodes the drawing opens as clusters (one box per agent) that expand on click."""
CLUSTER_MAX = 1000
"""Most nodes one cluster (and so one expanded drawing) holds; a bigger agent is split in parts."""
LABEL_CHARS = 40
FONT_PX, META_PX = 12, 10
NODE_H, PAD_L, PAD_R, MIN_W, MAX_W = 38, 34, 10, 96, 420
GAP_X, GAP_Y, LAYER_GAP = 24, 18, 56
ASPECT = 1.8  # width / height the rows aim for, near a notebook output's shape

# DejaVu Sans advance widths in hundredths of an em for " " .. "~" (measured in Chromium, rounded up)
_ASCII_EM = [32, 41, 46, 84, 64, 96, 78, 28, 40, 40, 50, 84, 32, 37, 32, 34, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64]
_ASCII_EM += [34, 34, 84, 84, 84, 54, 100, 71, 69, 70, 78, 64, 58, 78, 76, 30, 30, 66, 56, 87, 75, 79, 61, 79, 70]
_ASCII_EM += [64, 60, 74, 69, 99, 69, 62, 69, 40, 34, 40, 84, 50, 50, 62, 64, 55, 64, 62, 35, 64, 64, 28, 28, 58]
_ASCII_EM += [28, 98, 64, 62, 64, 64, 40, 53, 40, 64, 60, 82, 60, 60, 53, 64, 34, 64, 84]
MARGIN = 1.08


def text_width(text: str, px: float) -> float:
    """A width no common sans font exceeds for `text` at `px` (so a box sized by it holds it)."""
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


def _short(text: Any, limit: int = LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _e(text: Any) -> str:
    """Model-written text as SVG/HTML text or attribute value: never markup."""
    return html.escape(str(text), quote=True)


def _n(v: float) -> str:
    return str(round(v))


@dataclass(slots=True)
class _Box:
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
class _Layout:
    boxes: dict[str, _Box]
    layers: list[tuple[str, float]]
    """(name, y of its first row) for each non-empty layer."""
    bounds: tuple[float, float, float, float]
    """x, y, width, height of everything drawn, gutter included."""


def _place(boxes: list[_Box], links: list[tuple[str, str]], names: list[str]) -> _Layout:
    """Rows of boxes, layer under layer; each row centred, wrapped at a width that gives the whole
    drawing about ASPECT, boxes ordered by the mean x of neighbours already placed."""
    by_layer: dict[int, list[_Box]] = defaultdict(list)
    for b in boxes:
        by_layer[b.layer].append(b)
    area = sum((b.w + GAP_X) * (b.h + GAP_Y) for b in boxes) + LAYER_GAP * 400 * len(by_layer)
    row_max = max(700.0, math.sqrt(area * ASPECT), max((b.w for b in boxes), default=0.0))
    neighbours: dict[str, list[str]] = defaultdict(list)
    for a, b in links:
        neighbours[a].append(b)
        neighbours[b].append(a)
    placed: dict[str, _Box] = {}
    layers: list[tuple[str, float]] = []
    y = 0.0
    for layer in sorted(by_layer):
        members = by_layer[layer]

        def centre(b: _Box) -> float:
            xs = [placed[k].cx for k in neighbours.get(b.key, ()) if k in placed]
            return sum(xs) / len(xs) if xs else math.inf

        order = sorted(range(len(members)), key=lambda i: (centre(members[i]), i))
        rows: list[list[_Box]] = [[]]
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
    gutter = max((text_width(name, FONT_PX) for name, _ in layers), default=0.0) + 24
    left = min(xs) - gutter
    pad = 16
    return _Layout(
        {b.key: b for b in boxes},
        layers,
        (left - pad, -pad, x2 - left + 2 * pad, max(y - LAYER_GAP, NODE_H) + 2 * pad),
    )


def _clip(a: _Box, b: _Box) -> tuple[float, float, float, float]:
    """The segment between two boxes' centres, cut at their borders (arrow heads stay visible)."""
    dx, dy = b.cx - a.cx, b.cy - a.cy

    def cut(box: _Box, sx: float, sy: float) -> tuple[float, float]:
        tx = (box.w / 2) / abs(sx) if sx else math.inf
        ty = (box.h / 2) / abs(sy) if sy else math.inf
        t = min(tx, ty)
        return box.cx + sx * t, box.cy + sy * t

    if dx == 0 and dy == 0:
        return a.cx, a.y, a.cx, a.y
    x1, y1 = cut(a, dx, dy)
    x2, y2 = cut(b, -dx, -dy)
    return x1, y1, x2, y2


class _Styles:
    """Class numbers for node types, edge types and agents, shared by every drawing of a page."""

    def __init__(self, agents: list[str]) -> None:
        self.types = list(NODE_STYLE)
        self.edges = list(EDGE_COLORS)
        self.agents = agents
        self.agent_ix = {a: i for i, a in enumerate(agents)}

    def type_ix(self, node_type: str) -> int:
        return self.types.index(node_type) if node_type in NODE_STYLE else len(self.types)

    def edge_ix(self, edge_type: str) -> int:
        return self.edges.index(edge_type) if edge_type in EDGE_COLORS else len(self.edges)

    def agent_color(self, agent: str) -> str:
        i = self.agent_ix.get(agent)
        return NO_AGENT if i is None else AGENT_PALETTE[i % len(AGENT_PALETTE)]

    def css(self) -> str:
        rules = []
        for i, t in enumerate([*self.types, None]):
            _, color, tint = NODE_STYLE[t] if t else OTHER_STYLE
            rules.append(f".t{i} .b{{fill:{tint}}}#i{i}{{fill:{color}}}")
        for i, t in enumerate([*self.edges, None]):
            color = EDGE_COLORS[t] if t else EDGE_OTHER
            dash = "stroke-dasharray:7 4;" if t == "supersedes" else ""
            rules.append(f".e{i}{{stroke:{color};{dash}marker-end:url(#m{i})}}#m{i}{{fill:{color}}}")
        for i, a in enumerate(self.agents):
            rules.append(f".a{i}{{fill:{self.agent_color(a)}}}")
        return "".join(rules)

    def defs(self) -> str:
        icons = "".join(
            f'<path id=i{i} d="{ICONS[(NODE_STYLE[t] if t else OTHER_STYLE)[0]]}"/>'
            for i, t in enumerate([*self.types, None])
        )
        markers = "".join(
            f"<marker id=m{i} viewBox='0 0 10 10' refX=10 refY=5 markerWidth=9 markerHeight=9 "
            "markerUnits=userSpaceOnUse orient=auto><path d='M0 0L10 5 0 10Z'/></marker>"
            for i in range(len(self.edges) + 1)
        )
        return f"<defs>{icons}{markers}</defs>"


def _natural(text: str) -> list[Any]:
    """agent-2 before agent-10."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def _is_set(v: Any) -> bool:
    return v is not None and v == v and v != ""  # NaN/NA check without pandas


def _node_markup(row: dict[str, Any], box: _Box, styles: _Styles, label: str, meta: str, sessions: bool) -> str:
    """One node: a box tinted by type, its shape, a stripe in its agent's colour, two lines of text
    and a tooltip with the rest (the full title only when the label had to cut it)."""
    node_id = int(row["id"])
    status = str(row["status"])
    agent = str(row["agent_name"]) if _is_set(row.get("agent_name")) else ""
    confidence = row.get("confidence")
    conf = f"confidence {int(confidence)}" if _is_set(confidence) else "confidence not given"
    tip = [f"#{node_id} · {row['node_type']} · {status} · {conf}"]
    if label != " ".join(str(row["title"]).split()):
        tip.append(_short(row["title"], 600))
    if _is_set(row.get("description")):
        tip.append(_short(row["description"], 600))
    tip.append(f"agent: {agent}" if agent else "agent: (none)")
    if sessions and _is_set(row.get("session_id")):
        tip.append(f"session: {row['session_id']}")
    s = {"superseded": " data-s=s", "abandoned": " data-s=a"}.get(status, "")
    stripe = f"<rect class=a{styles.agent_ix[agent]} width=5 height={box.h:g} />" if agent in styles.agent_ix else ""
    w = round(box.w)
    return (
        f"<svg id=n{node_id} class=t{styles.type_ix(row['node_type'])}{s} x={_n(box.x)} y={_n(box.y)} "
        f"width={w} height={box.h:g}><title>{_e(chr(10).join(tip))}</title>"
        f"<rect class=b x=.5 y=.5 width={w - 1} height={box.h - 1:g} rx=4 />{stripe}"
        f"<use href=#i{styles.type_ix(row['node_type'])} x=11 y=6 />"
        f"<text>{_e(label)}</text><text class=m>{_e(meta)}</text></svg>"
    )


def _drawing(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], styles: _Styles) -> tuple[str, _Layout]:
    """SVG markup (edges, then nodes, then layer names) and its layout, for these nodes."""
    boxes, labels = [], {}
    for row in nodes:
        agent = str(row["agent_name"]) if _is_set(row.get("agent_name")) else ""
        label = _short(row["title"])
        meta = f"{row['node_type']} · {agent}" if agent else str(row["node_type"])
        meta = _short(meta, 48)
        need = PAD_L + max(text_width(label, FONT_PX), text_width(meta, META_PX)) + PAD_R
        key = f"n{int(row['id'])}"
        boxes.append(_Box(key, LAYERS.get(row["node_type"], 4), min(max(need, MIN_W), MAX_W)))
        labels[key] = (label, meta)
    if boxes:  # labels too long for MAX_W lose characters until they fit
        for b in boxes:
            label, meta = labels[b.key]
            while PAD_L + text_width(label, FONT_PX) + PAD_R > b.w and len(label) > 2:
                label = label[:-2] + "…"
            while PAD_L + text_width(meta, META_PX) + PAD_R > b.w and len(meta) > 2:
                meta = meta[:-2] + "…"
            labels[b.key] = (label, meta)
    ids = {b.key for b in boxes}
    drawn = [
        (f"n{int(e['from_node_id'])}", f"n{int(e['to_node_id'])}", e)
        for e in edges
        if f"n{int(e['from_node_id'])}" in ids and f"n{int(e['to_node_id'])}" in ids
    ]
    layout = _place(boxes, [(a, b) for a, b, _ in drawn], LAYER_NAMES)
    parts = ["<g class=E>"]
    for a, b, e in drawn:
        if a == b:
            continue
        x1, y1, x2, y2 = _clip(layout.boxes[a], layout.boxes[b])
        # The page's script names the type (from the class) and both ends (from the id) on hover;
        # only what it cannot derive is written out: an unusual weight, a rationale, an unknown type.
        extra = [] if e["edge_type"] in EDGE_COLORS else [f"type {e['edge_type']}"]
        if _is_set(e.get("weight")) and float(e["weight"]) != 1.0:
            extra.append(f"weight {float(e['weight']):g}")
        if _is_set(e.get("rationale")):
            extra.append(_short(e["rationale"], 400))
        title = f"<title>{_e(chr(10).join(extra))}</title>" if extra else ""
        parts.append(
            f"<path id={a}-{b[1:]} class=e{styles.edge_ix(e['edge_type'])} d=M{_n(x1)},{_n(y1)}L{_n(x2)},{_n(y2)}>"
            f"{title}</path>"
        )
    parts.append("</g><g class=N>")
    sessions = len({r.get("session_id") for r in nodes}) > 1
    for row in nodes:
        key = f"n{int(row['id'])}"
        parts.append(_node_markup(row, layout.boxes[key], styles, *labels[key], sessions))
    parts.append("</g>")
    parts.append(_gutter(layout))
    return "".join(parts), layout


def _gutter(layout: _Layout) -> str:
    """Layer names left of the rows (outside every box)."""
    x = min((b.x for b in layout.boxes.values()), default=0.0) - 16
    return "".join(f"<text class=L x={_n(x)} y={_n(y + 16)}>{_e(name)}</text>" for name, y in layout.layers if name)


def _clusters(nodes: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(agent, label, members): one per agent and session, split in parts of at most CLUSTER_MAX."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    sessions = {str(r.get("session_id")) for r in nodes}
    for row in nodes:
        agent = str(row["agent_name"]) if _is_set(row.get("agent_name")) else ""
        groups[(str(row.get("session_id")), agent)].append(row)
    out = []
    for (session, agent), members in groups.items():
        name = agent or "(no agent)"
        if len(sessions) > 1:
            name += f" · {session}"
        parts = -(-len(members) // CLUSTER_MAX)
        for p in range(parts):
            label = name if parts == 1 else f"{name} · part {p + 1}/{parts}"
            out.append((agent, label, members[p * CLUSTER_MAX : (p + 1) * CLUSTER_MAX]))
    return out


def _overview(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], styles: _Styles
) -> tuple[str, _Layout, list[str]]:
    """One box per cluster, edges between clusters counted; each cluster's own drawing in a
    <template> that the page's script opens on a click."""
    clusters = _clusters(nodes)
    where: dict[int, int] = {}
    for i, (_, _, members) in enumerate(clusters):
        for row in members:
            where[int(row["id"])] = i
    between: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    inside: dict[int, list[dict[str, Any]]] = defaultdict(list)
    outside: Counter[int] = Counter()
    for e in edges:
        a, b = where.get(int(e["from_node_id"])), where.get(int(e["to_node_id"]))
        if a is None or b is None:
            continue
        if a == b:
            inside[a].append(e)
        else:
            between[(a, b)][str(e["edge_type"])] += 1
            outside[a] += 1
            outside[b] += 1
    boxes, texts = [], {}
    for i, (_, label, members) in enumerate(clusters):
        meta = f"{len(members):,} nodes · click to open"
        w = PAD_L + max(text_width(_short(label), FONT_PX), text_width(meta, META_PX)) + PAD_R
        boxes.append(_Box(f"c{i}", 0, min(max(w, MIN_W), MAX_W), NODE_H + 6))
        texts[f"c{i}"] = (_short(label), meta)
    layout = _place(boxes, [(f"c{a}", f"c{b}") for a, b in between], ["agents"])
    parts = ["<g class=E>"]
    for (a, b), kinds in between.items():
        x1, y1, x2, y2 = _clip(layout.boxes[f"c{a}"], layout.boxes[f"c{b}"])
        total = sum(kinds.values())
        tip = f"{total:,} edges {clusters[a][1]} → {clusters[b][1]}: " + ", ".join(
            f"{n:,} {k}" for k, n in kinds.most_common()
        )
        width = 1 + min(math.log10(total) * 1.5, 5)
        parts.append(
            f"<path id=c{a}-{b} class=e{styles.edge_ix(kinds.most_common(1)[0][0])} style=stroke-width:{width:.1f} "
            f"d=M{_n(x1)},{_n(y1)}L{_n(x2)},{_n(y2)}><title>{_e(tip)}</title></path>"
        )
    parts.append("</g><g class=N>")
    templates = []
    for i, (agent, label, members) in enumerate(clusters):
        box = layout.boxes[f"c{i}"]
        kinds = Counter(str(r["node_type"]) for r in members)
        status = Counter(str(r["status"]) for r in members)
        tip = "\n".join(
            [
                f"{label}: {len(members):,} nodes, {len(inside[i]):,} edges among them",
                ", ".join(f"{n:,} {k}" for k, n in kinds.most_common()),
                ", ".join(f"{n:,} {k}" for k, n in status.most_common()),
                "click to open this cluster's drawing",
            ]
        )
        stripe = (
            f"<rect class=a{styles.agent_ix[agent]} width=7 height={box.h:g} />" if agent in styles.agent_ix else ""
        )
        title, meta = texts[f"c{i}"]
        w = round(box.w)
        parts.append(
            f"<svg id=c{i} class=cl x={_n(box.x)} y={_n(box.y)} width={w} height={box.h:g}><title>{_e(tip)}</title>"
            f"<rect class=b x=.5 y=.5 width={w - 1} height={box.h - 1:g} rx=6 />{stripe}"
            f"<text>{_e(title)}</text><text class=m>{_e(meta)}</text></svg>"
        )
        markup, sub = _drawing(members, inside[i], styles)
        heading = f"{label}: {len(members):,} nodes, {len(inside[i]):,} edges (and {outside[i]:,} to other boxes)"
        x, y, w_, h = sub.bounds
        templates.append(
            f"<template id=tc{i} data-view='{_n(x)} {_n(y)} {_n(w_)} {_n(h)}' data-title='{_e(heading)}'>"
            f"<svg>{markup}</svg></template>"
        )
    parts.append("</g>")
    return "".join(parts), layout, templates


def render_graph(nodes: pd.DataFrame, edges: pd.DataFrame, *, title: str = "decision graph", height: int = 620) -> str:
    """A standalone HTML page (no network access needed) drawing these nodes and edges."""
    rows = nodes.to_dict("records")
    edge_rows = edges.to_dict("records")
    agents = sorted({str(a) for a in nodes["agent_name"].tolist() if _is_set(a)}, key=_natural)
    styles = _Styles(agents)
    templates: list[str] = []
    if len(rows) > MAX_DRAWN:
        markup, layout, templates = _overview(rows, edge_rows, styles)
        note = f"{len(rows):,} nodes: one box per agent; click one to open it"
    else:
        markup, layout = _drawing(rows, edge_rows, styles)
        note = f"{len(rows):,} nodes, {len(edge_rows):,} edges" if rows else "no nodes recorded yet"
    x, y, w, h = layout.bounds
    types_present = {str(t) for t in nodes["node_type"].tolist()}
    legend = _legend(styles, title, note, types_present, {str(t) for t in edges["edge_type"].tolist()})
    view = f"{_n(x)} {_n(y)} {_n(w)} {_n(h)}"
    return (
        _PAGE_HEAD.replace("$TITLE", _e(title)).replace("$HEIGHT", str(int(height))).replace("$CSS", styles.css())
        + f"<body><main><div id=bar><button id=back hidden>← all agents</button><span id=where>{_e(title)}</span>"
        "<button id=fit title='fit the drawing (or double-click it)'>fit</button></div>"
        f"<div id=graph data-nodes={len(rows)}><svg id=view viewBox='{view}' data-home='{view}' "
        f"data-edges='{' '.join(EDGE_COLORS)}'>"
        f"{styles.defs()}<g id=content>{markup}</g></svg></div></main>{legend}<div id=tip hidden></div>"
        f"{''.join(templates)}<script>{_SCRIPT}</script></body></html>"
    )


def _legend(styles: _Styles, title: str, note: str, types: set[str], edge_types: set[str]) -> str:
    """HTML beside the drawing: what shapes, colours, dashes and stripes mean."""

    def icon(i: int) -> str:
        return f"<svg width=14 height=14><use href=#i{i} /></svg>"

    rows = [f"<b>{_e(title)}</b><div>{_e(note)}</div><b>node types (layers, top down)</b>"]
    for i, t in enumerate(styles.types):
        dim = "" if t in types else " class=dim"
        rows.append(f"<div{dim}>{icon(i)} {_e(t)}</div>")
    rows.append("<b>status</b><div><i class='st'></i> active</div>")
    rows.extend(f"<div><i class='st {s[0]}'></i> {s} ({note_})</div>" for s, note_ in STATUS_NOTE.items())
    rows.append("<b>edges (hover for type)</b>")
    for i, t in enumerate(styles.edges):
        dim = "" if t in edge_types else " class=dim"
        dash = " stroke-dasharray='5 3'" if t == "supersedes" else ""
        rows.append(
            f"<div{dim}><svg width=22 height=8><path d='M1 4H21' class=e{i}{dash} style=marker-end:none /></svg> "
            f"{_e(t)}</div>"
        )
    if styles.agents:
        rows.append("<b>agents (left stripe)</b>")
        rows.extend(
            f"<div><i class=sw style=background:{styles.agent_color(a)}></i> {_e(a)}</div>" for a in styles.agents
        )
    rows.append("<p>scroll: zoom · drag: pan · double-click: fit · hover: details</p>")
    return f"<aside id=legend>{''.join(rows)}</aside>"


_PAGE_HEAD = """<!DOCTYPE html><html><head><meta charset=utf-8><title>$TITLE</title><style>
body{margin:0;display:flex;height:$HEIGHTpx;font:12px "DejaVu Sans",Verdana,"Segoe UI",Helvetica,Arial,sans-serif;
color:#222;background:#fff;overflow:hidden}
main{flex:1;display:flex;flex-direction:column;min-width:0;border:1px solid #ddd}
#bar{display:flex;gap:8px;align-items:center;padding:3px 6px;border-bottom:1px solid #eee}
#where{flex:1;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;color:#555}
#graph{flex:1;min-height:0;cursor:grab}#graph:active{cursor:grabbing}
#view{width:100%;height:100%;display:block;user-select:none}
#legend{width:200px;flex:none;overflow:auto;padding:4px 8px;border:1px solid #ddd;border-left:none;font-size:11px}
#legend b{display:block;margin-top:6px}#legend p{color:#666}#legend svg{vertical-align:middle}
.dim{opacity:.45}.sw{display:inline-block;width:10px;height:10px;border-radius:2px}
.st{display:inline-block;width:18px;height:9px;border:1.5px solid #555;border-radius:2px;vertical-align:middle}
.st.s{border-style:dashed}.st.a{border-style:dotted;opacity:.55}
#tip{position:fixed;z-index:2;max-width:420px;white-space:pre-wrap;background:#fffff4;border:1px solid #aaa;
padding:5px 7px;box-shadow:0 2px 6px rgba(0,0,0,.2);pointer-events:none;font-size:11px}
text{font-size:12px;fill:#1b1f24}text.m{font-size:10px;fill:#57606a}text.L{text-anchor:end;fill:#8c959f;font-style:italic}
.N text{transform:translate(30px,16px)}.N text.m{transform:translate(30px,31px)}
.N .cl text{transform:translate(18px,19px)}.N .cl text.m{transform:translate(18px,35px)}
.b{stroke:#57606a;stroke-width:1}[data-s=s] .b{stroke-dasharray:6 3}[data-s=a]{opacity:.55}
[data-s=a] .b{stroke-dasharray:1.5 2.5}.cl .b{fill:#f6f8fa;stroke-width:1.5}.cl{cursor:pointer}
.E path{fill:none;stroke-width:1.4;vector-effect:non-scaling-stroke}.E path.hl{stroke-width:3.5}
.N svg.hl .b{stroke:#000;stroke-width:2}$CSS
</style></head>"""

_SCRIPT = r"""
(function () {
  "use strict";
  var svg = document.getElementById("view"), content = document.getElementById("content");
  var tip = document.getElementById("tip"), back = document.getElementById("back");
  var where = document.getElementById("where"), home0 = where.textContent;
  var tips = new WeakMap(), named = new WeakSet(), touching = {}, overview = null, home, vb;
  var edgeTypes = svg.getAttribute("data-edges").split(" ");
  function box(s) { return s.split(" ").map(Number); }
  function show(v) { vb = v; svg.setAttribute("viewBox", v.join(" ")); }
  function fit() { show(home.slice()); }
  function index() {  // titles become our tooltips (text only); edges are indexed by their ends
    touching = {};
    content.querySelectorAll("title").forEach(function (t) {
      tips.set(t.parentNode, t.textContent); t.remove();
    });
    content.querySelectorAll(".E path").forEach(function (p) {
      var ends = p.id.split("-"), b = ends[0][0] + ends[1];
      if (ends[0][0] === "n" && !named.has(p)) {  // type from the class, ends from the id
        var type = edgeTypes[+p.getAttribute("class").slice(1)] || "other", more = tips.get(p);
        tips.set(p, type + " · #" + ends[0].slice(1) + " → #" + ends[1] + (more ? "\n" + more : ""));
        named.add(p);
      }
      (touching[ends[0]] = touching[ends[0]] || []).push(p);
      (touching[b] = touching[b] || []).push(p);
    });
  }
  function node(el) {
    while (el && el !== svg) {
      if (el.parentNode && el.parentNode.classList && el.parentNode.classList.contains("N")) return el;
      if (el.tagName === "path" && el.parentNode.classList.contains("E")) return el;
      el = el.parentNode;
    }
    return null;
  }
  var lit = [];
  function light(el) {
    lit.forEach(function (p) { p.classList.remove("hl"); }); lit = [];
    if (!el) return;
    lit = (touching[el.id] || []).concat([el]);
    lit.forEach(function (p) { p.classList.add("hl"); });
  }
  svg.addEventListener("pointerover", function (ev) {
    var el = node(ev.target);
    light(el && el.tagName === "svg" ? el : null);
    if (!el || !tips.has(el)) { tip.hidden = true; return; }
    var text = tips.get(el), edges = el.tagName === "svg" ? touching[el.id] || [] : [];
    if (edges.length) {
      text += "\n\nedges:\n" + edges.slice(0, 8).map(function (p) {
        return (tips.get(p) || "").split("\n")[0];
      }).join("\n");
      if (edges.length > 8) text += "\n… " + (edges.length - 8) + " more";
    }
    tip.textContent = text; tip.hidden = false;
  });
  svg.addEventListener("pointermove", function (ev) {
    if (tip.hidden) return;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > innerWidth) x = Math.max(0, ev.clientX - tip.offsetWidth - 8);
    if (y + tip.offsetHeight > innerHeight) y = Math.max(0, ev.clientY - tip.offsetHeight - 8);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  });
  svg.addEventListener("pointerleave", function () { tip.hidden = true; light(null); });
  function user(ev) {
    var p = svg.createSVGPoint(); p.x = ev.clientX; p.y = ev.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var u = user(ev), k = Math.pow(1.0015, ev.deltaY);
    show([u.x - (u.x - vb[0]) * k, u.y - (u.y - vb[1]) * k, vb[2] * k, vb[3] * k]);
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, vb: vb.slice(), k: 1 / svg.getScreenCTM().a, moved: false };
  });
  window.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (drag.moved) show([drag.vb[0] - dx * drag.k, drag.vb[1] - dy * drag.k, vb[2], vb[3]]);
  });
  window.addEventListener("pointerup", function () { setTimeout(function () { drag = null; }, 0); });
  svg.addEventListener("dblclick", fit);
  document.getElementById("fit").addEventListener("click", fit);
  function expand(id) {  // a cluster's own drawing, from its inert template
    var t = document.getElementById("t" + id);
    if (!t) return false;
    if (!overview) overview = { nodes: Array.prototype.slice.call(content.childNodes), home: home };
    var drawing = t.content.firstElementChild.cloneNode(true);
    content.replaceChildren.apply(content, Array.prototype.slice.call(drawing.childNodes));
    home = box(t.getAttribute("data-view")); fit(); index();
    where.textContent = t.getAttribute("data-title"); back.hidden = false; tip.hidden = true;
    return true;
  }
  function up() {
    if (!overview) return;
    content.replaceChildren.apply(content, overview.nodes);
    home = overview.home; overview = null; fit(); index();
    where.textContent = home0; back.hidden = true;
  }
  svg.addEventListener("click", function (ev) {
    if (drag && drag.moved) return;
    var el = node(ev.target);
    if (el && el.classList.contains("cl")) expand(el.id);
  });
  back.addEventListener("click", up);
  home = box(svg.getAttribute("data-home")); fit(); index();
  window.loomView = {
    expand: expand, back: up, fit: fit,
    boxes: function () {  // each drawn node's box on screen: [id, left, top, width, height]
      return Array.prototype.map.call(content.querySelectorAll(".N > svg"), function (n) {
        var r = n.querySelector("rect.b").getBoundingClientRect();
        return [n.id, r.left, r.top, r.width, r.height];
      });
    }
  };
  document.body.setAttribute("data-drawn", "1");
})();
"""


class GraphView:
    """A drawn graph: displays itself in a notebook, or saves a standalone HTML file."""

    def __init__(self, page: str, *, height: int = 620, nodes: int = 0) -> None:
        self.html = page
        """The standalone page."""
        self.height = height
        self.nodes = nodes

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" sandbox="allow-scripts" '
            f'style="width: 100%; height: {self.height + 4}px; border: none;" '
            f'title="loom decision graph ({self.nodes} nodes)"></iframe>'
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the standalone page; it opens in any browser, offline."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.html, encoding="utf-8")
        return target

    def __repr__(self) -> str:
        return f"<GraphView {self.nodes} nodes, {len(self.html):,} bytes>"
