"""The decision-graph drawing: bytes it adds to a saved notebook, time to render it in Python, and
time until a headless Chromium shows it (medians), at 10 to 5,000 nodes.

Usage: python benchmarks/bench_view.py [--sizes 10,100,1000,5000] [--repeats 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from loom_nb.graph import Graph, GraphStore

TYPES = "['goal','decision','option','action','outcome','observation','revisit']"


def make_graph(directory: Path, n: int, agents: int = 12) -> Graph:
    """n nodes of every type over `agents` agents, each node tied to an earlier one (i // 3)."""
    store = GraphStore(directory / f"view{n}.duckdb")
    with store.connect() as con:
        con.execute(f"""INSERT INTO decision_nodes (change_id, node_type, title, status, confidence, metadata,
                session_id, agent_name, created_at, updated_at)
            SELECT 'v' || i, {TYPES}[i % 7 + 1], 'node ' || i || ' with a title of ordinary length',
                   CASE WHEN i % 9 = 0 THEN 'superseded' ELSE 'active' END, (i % 101)::INTEGER, '{{}}', 's',
                   'agent-' || (i % {agents}), now()::TIMESTAMP, now()::TIMESTAMP FROM range({n}) t(i)""")
        con.execute(f"""INSERT INTO decision_edges (change_id, from_node_id, to_node_id, edge_type, created_at)
            SELECT 'e' || i, (i // 3) + 1, i + 1, ['leads_to','chosen','rejected','requires'][i % 4 + 1],
                   now()::TIMESTAMP FROM range(1, {n}) t(i)""")
    return Graph(store)


def notebook_growth(view: object, directory: Path) -> int:
    """Bytes the drawing adds to a saved .ipynb (its display output, as nbformat writes it)."""
    import nbformat

    cell = nbformat.v4.new_code_cell("g.show()")
    nb = nbformat.v4.new_notebook(cells=[cell])
    nbformat.write(nb, directory / "without.ipynb")
    cell.outputs = [
        nbformat.v4.new_output(
            "execute_result", data={"text/html": view._repr_html_(), "text/plain": repr(view)}, execution_count=1
        )
    ]
    nbformat.write(nb, directory / "with.ipynb")
    return (directory / "with.ipynb").stat().st_size - (directory / "without.ipynb").stat().st_size


def browser_open_s(path: Path, repeats: int) -> list[float]:
    """Seconds from navigation until the page says it is drawn, each in a fresh page."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "chromium is not on PATH: run `make chromium`"
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            t = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-drawn='1']", timeout=120_000)
            times.append(time.perf_counter() - t)
            page.close()
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000,5000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "view.json")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for n in (int(s) for s in args.sizes.split(",")):
            g = make_graph(d, n)
            g.show()  # warm: imports, assets
            renders = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                view = g.show()
                renders.append(time.perf_counter() - t)
            cell = view._repr_html_()  # what a saved notebook keeps for the drawing
            page = d / f"view{n}.html"
            view.save(page)
            opens = browser_open_s(page, args.repeats)
            results[n] = r = {
                "ipynb_growth_bytes": notebook_growth(view, d),
                "notebook_output_bytes": len(cell.encode()),
                "page_bytes": len(view.html.encode()),
                "render_median_s": statistics.median(renders),
                "browser_open_median_s": statistics.median(opens),
                "browser_open_s": opens,
            }
            print(
                f"{n:>5,} nodes: adds {r['ipynb_growth_bytes'] / 1024:8,.1f} KiB to the .ipynb, page "
                f"{r['page_bytes'] / 1024:8,.1f} KiB, rendered in {r['render_median_s'] * 1000:6.0f} ms, "
                f"open in Chromium {r['browser_open_median_s']:.2f} s (median of {args.repeats})",
                flush=True,
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
