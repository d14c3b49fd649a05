"""Drawing the decision graph with pyvis, safely, offline, in any notebook front end.

pyvis builds the network (nodes, edges, options); the page around it is ours: vis-network's script
and style from the copy pyvis ships, inline, so nothing loads from a CDN (pyvis's own template
pulls bootstrap from one even in in_line mode). Text written by models is untrusted: it goes into
the page as JSON with <, > and & escaped, and the page shows it through textContent or the canvas,
never as HTML (pyvis's template puts any title containing "href" into innerHTML). In a notebook
the page sits in a sandboxed iframe (srcdoc: no file is written next to the notebook; no
allow-same-origin: its script cannot reach the notebook), which JupyterLab, Notebook 7, VS Code
and Colab all display.

Layout: nodes are placed in layers by type, as Loom's view does (goal; decision and revisit;
option; action; outcome and observation), with positions computed here and physics off. Even
5,000 nodes open at once and stay still.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GraphView", "render_graph"]

LAYERS = {"goal": 0, "decision": 1, "revisit": 1, "option": 2, "action": 3, "outcome": 4, "observation": 4}
LAYER_NAMES = ["goals", "decisions · revisits", "options", "actions", "outcomes · observations"]
NODE_STYLE = {  # type: (shape, fill)
    "goal": ("star", "#f2c94c"),
    "decision": ("diamond", "#5b8def"),
    "revisit": ("triangleDown", "#9b6ef3"),
    "option": ("dot", "#8fb3d9"),
    "action": ("box", "#4caf7d"),
    "outcome": ("hexagon", "#2e9e8f"),
    "observation": ("ellipse", "#c9d1d9"),
}
EDGE_COLORS = {"chosen": "#2e7d32", "rejected": "#d32f2f", "supersedes": "#ef8a17"}
EDGE_DEFAULT = "#9e9e9e"
STATUS_DASHES = {"superseded": [8, 5], "abandoned": [2, 4]}
AGENT_PALETTE = [
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#bfef45",
    "#469990",
    "#9a6324",
    "#800000",
    "#808000",
    "#000075",
    "#a9a9a9",
]
ROW_WIDTH = 40  # nodes per row within a layer before it wraps
X_GAP, Y_GAP, LAYER_GAP = 170, 110, 80
LABEL_CHARS = 48


@cache
def _vis_assets() -> tuple[str, str]:
    """vis-network's script, and the one rule of its 220 KB stylesheet this page uses (the tooltip;
    the rest styles editing and navigation widgets that are off here)."""
    import pyvis

    lib = Path(pyvis.__file__).parent / "templates" / "lib" / "vis-9.1.2"
    css = (lib / "vis-network.css").read_text(encoding="utf-8")
    tooltip = re.search(r"div\.vis-tooltip\{[^}]*\}", css)
    return (lib / "vis-network.min.js").read_text(encoding="utf-8"), tooltip.group(0) if tooltip else ""


def _script_json(value: Any) -> str:
    """JSON that is safe inside <script>: no </script>, no HTML comment openers, no &."""
    return (
        json.dumps(value, ensure_ascii=False, default=str)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _positions(nodes: pd.DataFrame) -> dict[int, tuple[float, float]]:
    by_layer: dict[int, list[int]] = defaultdict(list)
    for node_id, node_type in zip(nodes["id"].tolist(), nodes["node_type"].tolist(), strict=True):
        by_layer[LAYERS.get(node_type, 4)].append(int(node_id))
    out: dict[int, tuple[float, float]] = {}
    y = 0.0
    for layer in range(len(LAYER_NAMES)):
        members = by_layer.get(layer, [])
        if not members:
            continue  # an empty layer takes no room
        rows = -(-len(members) // ROW_WIDTH)
        for i, node_id in enumerate(members):
            row, col = divmod(i, ROW_WIDTH)
            in_row = min(ROW_WIDTH, len(members) - row * ROW_WIDTH)
            out[node_id] = ((col - (in_row - 1) / 2) * X_GAP, y + row * Y_GAP)
        y += rows * Y_GAP + LAYER_GAP
    return out


def render_graph(nodes: pd.DataFrame, edges: pd.DataFrame, *, title: str = "decision graph", height: int = 620) -> str:
    """A standalone HTML page (no network access needed) drawing these nodes and edges."""
    from pyvis.network import Network

    agents = sorted({a for a in nodes["agent_name"].dropna().tolist() if a})
    agent_color = {a: AGENT_PALETTE[i % len(AGENT_PALETTE)] for i, a in enumerate(agents)}
    pos = _positions(nodes)
    net = Network(height=f"{height}px", width="100%", directed=True)
    ids = set()
    for row in nodes.to_dict("records"):
        node_id = int(row["id"])
        ids.add(node_id)
        shape, fill = NODE_STYLE.get(row["node_type"], ("dot", "#cccccc"))
        agent = row.get("agent_name") or ""
        border = agent_color.get(agent, "#555555")
        confidence = row.get("confidence")
        has_conf = confidence is not None and confidence == confidence  # NaN/NA check without pandas
        tooltip = "\n".join(
            part
            for part in (
                f"#{node_id} · {row['node_type']} · {row['status']}",
                str(row["title"]),
                str(row["description"]) if row.get("description") else "",
                f"confidence: {int(confidence)}" if has_conf else "confidence: not given",
                f"agent: {agent}" if agent else "",
                f"session: {row['session_id']}" if row.get("session_id") else "",
            )
            if part
        )
        x, y = pos[node_id]
        net.add_node(
            node_id,
            label=_short(row["title"]) + (f"\n{agent}" if agent else ""),
            title=tooltip,
            shape=shape,
            color={"background": fill, "border": border, "highlight": {"background": fill, "border": "#000000"}},
            borderWidth=3,
            shapeProperties={"borderDashes": STATUS_DASHES.get(row["status"], False)},
            opacity=0.55 if row["status"] != "active" else 1.0,
            x=x,
            y=y,
            level=LAYERS.get(row["node_type"], 4),
            font={"size": 12, "multi": False},
        )
    for row in edges.to_dict("records"):
        a, b = int(row["from_node_id"]), int(row["to_node_id"])
        if a not in ids or b not in ids:
            continue
        edge_type = row["edge_type"]
        net.add_edge(
            a,
            b,
            title=f"{edge_type} (weight {row['weight']:g})" + (f"\n{row['rationale']}" if row.get("rationale") else ""),
            color=EDGE_COLORS.get(edge_type, EDGE_DEFAULT),
            dashes=edge_type == "supersedes",
            width=1 + min(float(row["weight"]), 4.0),
            arrows="to",
        )
    net.set_options(
        json.dumps(
            {
                "physics": {"enabled": False},
                "layout": {"improvedLayout": False},
                "interaction": {
                    "hover": True,
                    "tooltipDelay": 120,
                    "hideEdgesOnDrag": len(ids) > 500,
                    "navigationButtons": False,
                },
                "edges": {"smooth": False, "font": {"size": 10}},
            }
        )
    )
    vis_nodes, vis_edges, _, _, _, options = net.get_network_data()
    legend = {
        "types": [[t, NODE_STYLE[t][0], NODE_STYLE[t][1]] for t in NODE_STYLE],
        "edges": [[k, v] for k, v in EDGE_COLORS.items()] + [["other", EDGE_DEFAULT]],
        "agents": [[a, agent_color[a]] for a in agents],
        "layers": LAYER_NAMES,
    }
    js, css = _vis_assets()
    data = _script_json({"nodes": vis_nodes, "edges": vis_edges, "legend": legend, "title": title})
    return _PAGE.format(
        title=html.escape(title),
        css=css,
        js=js.replace("</script", "<\\/script"),
        data=data,
        options=options,
        height=height,
        count=len(ids),
    )


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>{css}</style>
<style>
 body {{ margin: 0; font: 12px system-ui, sans-serif; color: #222; background: #fff; }}
 #graph {{ width: 100%; height: {height}px; border: 1px solid #ddd; box-sizing: border-box; }}
 #legend {{ position: absolute; top: 8px; left: 8px; background: rgba(255,255,255,.92); border: 1px solid #ddd;
            padding: 6px 8px; max-width: 240px; max-height: {height}px; overflow: auto; }}
 #legend b {{ display: block; margin-top: 4px; }}
 .swatch {{ display: inline-block; width: 10px; height: 10px; margin-right: 4px; border: 1px solid #555; }}
 .line {{ display: inline-block; width: 18px; height: 3px; margin: 0 4px 3px 0; }}
 .vis-tooltip {{ white-space: pre-wrap; max-width: 420px; }}
</style></head>
<body><div id="graph" data-nodes="{count}"></div><div id="legend"></div>
<script>{js}</script>
<script>
(function () {{
  var data = {data};
  function text(s) {{ var el = document.createElement("div"); el.textContent = s; return el; }}
  // Titles become elements holding text: vis-network never sees a string it could treat as HTML.
  data.nodes.forEach(function (n) {{ if (typeof n.title === "string") n.title = text(n.title); }});
  data.edges.forEach(function (e) {{ if (typeof e.title === "string") e.title = text(e.title); }});
  var options = {options};
  var network = new vis.Network(document.getElementById("graph"),
      {{ nodes: new vis.DataSet(data.nodes), edges: new vis.DataSet(data.edges) }}, options);
  window.loomNetwork = network;  // for tests and the curious: the vis-network instance
  network.once("afterDrawing", function () {{ network.fit(); document.body.setAttribute("data-drawn", "1"); }});
  var legend = document.getElementById("legend");
  function head(s) {{ var b = document.createElement("b"); b.textContent = s; legend.appendChild(b); }}
  function item(color, label, line) {{
    var row = document.createElement("div"); var sw = document.createElement("span");
    sw.className = line ? "line" : "swatch"; sw.style.background = color; row.appendChild(sw);
    row.appendChild(document.createTextNode(label)); legend.appendChild(row);
  }}
  head(data.title + " · " + data.nodes.length + " nodes");
  head("node types (layers top to bottom)");
  data.legend.types.forEach(function (t) {{ item(t[2], t[0] + " (" + t[1] + ")"); }});
  head("edges");
  data.legend.edges.forEach(function (e) {{ item(e[1], e[0], true); }});
  legend.appendChild(text("dashed border: superseded · dotted: abandoned"));
  if (data.legend.agents.length) {{
    head("agents (node border)");
    data.legend.agents.forEach(function (a) {{ item(a[1], a[0]); }});
  }}
}})();
</script></body></html>"""


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
            f'style="width: 100%; height: {self.height + 10}px; border: none;" '
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
