"""Drawing the decision graph: laid out here, drawn as SVG, safe, offline and small.

Nodes sit in layers by type, as Loom's view has them (goal; decision and revisit; option; action;
outcome and observation), each a box sized from its label and packed so no two overlap (see
_layout.py); within a layer, nodes are ordered by where their neighbours above sit. Edges are drawn
before (under) the opaque boxes, so none crosses a label; their type is their colour (legend) and
their tooltip. Shape and tint say a node's type, its border its status, a stripe and a text line
its agent.

The page is plain SVG markup written here with every model-written string escaped as text (a
title is never markup), a <title> per node (a tooltip even without JavaScript), and a ~6 KB
script of our own for pan, zoom, tooltips and clusters (_view_page.py): no vis-network (~500 KB)
in every drawing, nothing from a CDN. The legend is HTML beside the drawing, never over it. In a
notebook the page sits in a sandboxed iframe (srcdoc: no file next to the notebook; no
allow-same-origin: its script cannot reach the notebook), which JupyterLab, Notebook 7, VS Code,
Colab and nbconvert's HTML export all display.

Large graphs (over MAX_DRAWN nodes) open as one box per agent (per session), at most CLUSTER_MAX
nodes each, with the edges between them counted; a click opens a box's own layered drawing, kept
in an inert <template> until then.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._layout import LAYER_GAP, MAX_W, MIN_W, NODE_H, PAD_L, PAD_R, Box, Layout, clip, place, text_width
from ._view_page import PAGE_HEAD, SCRIPT

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


def _short(text: Any, limit: int = LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _e(text: Any) -> str:
    """Model-written text as SVG/HTML text or attribute value: never markup."""
    return html.escape(str(text), quote=True)


def _n(v: float) -> str:
    return str(round(v))


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


def _node_markup(row: dict[str, Any], box: Box, styles: _Styles, label: str, meta: str, sessions: bool) -> str:
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


def _task_of(row: dict[str, Any]) -> str:
    meta = row.get("metadata")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            return ""
    task = meta.get("task") if isinstance(meta, dict) else None
    return str(task) if task else ""


GROUP_HEAD, GROUP_PAD = 24, 10
"""A task's band: the height of its title line, and room around its boxes."""


TaskKey = tuple[str, str]
"""(session id, task id): task ids are unique within a session only."""


def _group(
    boxes: list[Box], links: list[tuple[str, str]], tasks: Mapping[TaskKey, str], task_of: dict[str, TaskKey]
) -> tuple[Layout, list[tuple[TaskKey, str, Box]]]:
    """Nodes of a plan's tasks in a band per task (its title on top, its nodes in layers inside), the bands
    packed in rows under the nodes that belong to no task; returns the layout and (task, label, band)."""
    order = {t: i for i, t in enumerate(tasks)}
    members: dict[TaskKey, list[Box]] = defaultdict(list)
    free = []
    for b in boxes:
        (members[task_of[b.key]] if b.key in task_of else free).append(b)
    sessions = len({session for session, _ in members}) > 1
    keys = {b.key for b in free}
    top = place(free, [(a, b) for a, b in links if a in keys and b in keys], LAYER_NAMES)
    bands, inner = [], []
    ranked = sorted(members, key=lambda t: (order.get(t, len(order)), _natural(t[0]), _natural(t[1])))
    for i, task in enumerate(ranked):
        group = members[task]
        keys = {b.key for b in group}
        sub = place(group, [(a, b) for a, b in links if a in keys and b in keys], [])
        label = _short(tasks.get(task) or (f"{task[1]} · {task[0]}" if sessions else task[1]), 80)
        x, y, w, h = sub.bounds
        w = max(w, min(text_width(label, 11) + 2 * GROUP_PAD, MAX_W + 2 * GROUP_PAD))
        while text_width(label, 11) + 2 * GROUP_PAD > w and len(label) > 2:
            label = label[:-2] + "…"
        band = Box(f"g{i}", 0, w, h + GROUP_HEAD)
        bands.append(band)
        inner.append((task, label, band, sub, group))
    where = {b.key: band.key for _, _, band, _, group in inner for b in group}
    between = {(where[a], where[b]) for a, b in links if a in where and b in where and where[a] != where[b]}
    place(bands, sorted(between), [""])  # the bands as boxes: packed in rows, never overlapping
    below = (top.bounds[1] + top.bounds[3] + LAYER_GAP) if free else 0.0
    for _, _, band, sub, group in inner:
        band.y += below
        x, y, _, _ = sub.bounds
        for b in group:  # into its band: under the title line
            b.x += band.x - x
            b.y += band.y + GROUP_HEAD - y
    everything = [*free, *bands]
    x1 = min(min(b.x for b in everything), top.bounds[0] if free else math.inf)
    x2 = max(b.x + b.w for b in everything)
    y1 = top.bounds[1] if free else min(b.y for b in bands) - 16
    y2 = max(b.y + b.h for b in everything) + 16
    layout = Layout({b.key: b for b in boxes}, top.layers if free else [], (x1 - 16, y1, x2 - x1 + 32, y2 - y1))
    return layout, [(task, label, band) for task, label, band, _, _ in inner]


def _bands(bands: list[tuple[TaskKey, str, Box]]) -> str:
    """Each task's band: a tinted frame with the task's title (escaped text) on top, under everything else."""
    return "".join(
        f"<svg id={band.key} x={_n(band.x)} y={_n(band.y)} width={round(band.w)} height={round(band.h)} "
        f"data-session='{_e(task[0])}' data-task='{_e(task[1])}'>"
        f"<rect width={round(band.w)} height={round(band.h)} rx=6 />"
        f"<text x={GROUP_PAD} y=16>{_e(label)}</text></svg>"
        for task, label, band in bands
    )


def _drawing(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    styles: _Styles,
    tasks: Mapping[TaskKey, str] | None = None,
) -> tuple[str, Layout]:
    """SVG markup (task bands, edges, nodes, layer names) and its layout, for these nodes."""
    boxes, labels = [], {}
    for row in nodes:
        agent = str(row["agent_name"]) if _is_set(row.get("agent_name")) else ""
        label = _short(row["title"])
        meta = f"{row['node_type']} · {agent}" if agent else str(row["node_type"])
        meta = _short(meta, 48)
        need = PAD_L + max(text_width(label, FONT_PX), text_width(meta, META_PX)) + PAD_R
        key = f"n{int(row['id'])}"
        boxes.append(Box(key, LAYERS.get(row["node_type"], 4), min(max(need, MIN_W), MAX_W)))
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
    links = [(a, b) for a, b, _ in drawn]
    task_of = {f"n{int(row['id'])}": (str(row.get("session_id") or ""), t) for row in nodes if (t := _task_of(row))}
    parts = []
    if task_of:
        layout, bands = _group(boxes, links, tasks or {}, task_of)
        parts.append(f"<g class=G>{_bands(bands)}</g>")
    else:
        layout = place(boxes, links, LAYER_NAMES)
    parts.append("<g class=E>")
    for a, b, e in drawn:
        if a == b:
            continue
        x1, y1, x2, y2 = clip(layout.boxes[a], layout.boxes[b])
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


def _gutter(layout: Layout) -> str:
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
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    styles: _Styles,
    tasks: Mapping[TaskKey, str] | None = None,
) -> tuple[str, Layout, list[str]]:
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
        boxes.append(Box(f"c{i}", 0, min(max(w, MIN_W), MAX_W), NODE_H + 6))
        texts[f"c{i}"] = (_short(label), meta)
    layout = place(boxes, [(f"c{a}", f"c{b}") for a, b in between], ["agents"])
    parts = ["<g class=E>"]
    for (a, b), kinds in between.items():
        x1, y1, x2, y2 = clip(layout.boxes[f"c{a}"], layout.boxes[f"c{b}"])
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
        markup, sub = _drawing(members, inside[i], styles, tasks)
        heading = f"{label}: {len(members):,} nodes, {len(inside[i]):,} edges (and {outside[i]:,} to other boxes)"
        x, y, w_, h = sub.bounds
        templates.append(
            f"<template id=tc{i} data-view='{_n(x)} {_n(y)} {_n(w_)} {_n(h)}' data-title='{_e(heading)}'>"
            f"<svg>{markup}</svg></template>"
        )
    parts.append("</g>")
    return "".join(parts), layout, templates


def render_graph(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    title: str = "decision graph",
    height: int = 620,
    tasks: Mapping[TaskKey, str] | None = None,
) -> str:
    """A standalone HTML page (no network access needed) drawing these nodes and edges. Nodes whose
    metadata names a task are drawn in a band per task and session, labelled `tasks[(session, task)]` (in
    the mapping's order), else the task's id."""
    rows = nodes.to_dict("records")
    edge_rows = edges.to_dict("records")
    agents = sorted({str(a) for a in nodes["agent_name"].tolist() if _is_set(a)}, key=_natural)
    styles = _Styles(agents)
    templates: list[str] = []
    if len(rows) > MAX_DRAWN:
        markup, layout, templates = _overview(rows, edge_rows, styles, tasks)
        note = f"{len(rows):,} nodes: one box per agent; click one to open it"
    else:
        markup, layout = _drawing(rows, edge_rows, styles, tasks)
        note = f"{len(rows):,} nodes, {len(edge_rows):,} edges" if rows else "no nodes recorded yet"
    x, y, w, h = layout.bounds
    types_present = {str(t) for t in nodes["node_type"].tolist()}
    legend = _legend(styles, title, note, types_present, {str(t) for t in edges["edge_type"].tolist()})
    view = f"{_n(x)} {_n(y)} {_n(w)} {_n(h)}"
    return (
        PAGE_HEAD.replace("$TITLE", _e(title)).replace("$HEIGHT", str(int(height))).replace("$CSS", styles.css())
        + f"<body><main><div id=bar><button id=back hidden>← all agents</button><span id=where>{_e(title)}</span>"
        "<button id=fit title='fit the drawing (or double-click it)'>fit</button></div>"
        f"<div id=graph data-nodes={len(rows)}><svg id=view viewBox='{view}' data-home='{view}' "
        f"data-edges='{' '.join(EDGE_COLORS)}'>"
        f"{styles.defs()}<g id=content>{markup}</g></svg></div></main>{legend}<div id=tip hidden></div>"
        f"{''.join(templates)}<script>{SCRIPT}</script></body></html>"
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
