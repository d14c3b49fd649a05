"""Two views of a session.

graph: the decision-graph drawing: bytes it adds to a saved notebook, time to render it in Python, and
time until a headless Chromium shows it (medians), at 10 to 5,000 nodes.

live: the live view under a flood: 100 agents on a 100-task plan emit model calls, status changes,
messages, task changes and test runs as fast as the swarm's loop can, while the view's refresher
runs there too (as in a notebook). Reported: events a second the tracker absorbed, with the view and
without it; what the tracker adds to emitting one event (µs); widget updates a second the view sent
(comm messages of its real widgets, counted; the target is <= 10 redraws a second, one message per
changed widget); and a redraw's time (median, p99).

Usage: python benchmarks/bench_view.py [--part all|graph|live] [--sizes 10,100,1000,5000] [--repeats 3]
       [--seconds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

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


AGENTS = 100


def _waiting_swarm(project: Path, started: threading.Event) -> Any:
    """A session whose researcher waits for ever: the view has a running handle to show."""
    from loom_nb.models import ScriptedModel
    from loom_nb.swarm import Swarm

    async def wait(messages: Any, tools: Any) -> str:
        started.set()
        await asyncio.Event().wait()
        return ""

    def lead(messages: Any, tools: Any) -> str:
        return "1. a question" if not messages[0].text.startswith("Request:") else "done"

    return Swarm(
        "bench",
        project=project,
        model=ScriptedModel(lead, name="scripted:lead"),
        weak=ScriptedModel(wait),
        record=False,
        budget_usd=1000.0,
    )


async def _flood(bus: Any, session_id: str, seconds: float) -> int:
    """Emit as fast as the loop allows for `seconds`, yielding every 200 events (as busy agents do)."""
    from loom_nb.events import (
        AgentSpawned,
        AgentStatus,
        LLMCall,
        MessageSent,
        PlanMade,
        PlannedTask,
        TaskStatus,
        TestRun,
    )

    sid = session_id
    tasks = tuple(
        PlannedTask(id=f"t{i}", role="implementer", prompt=f"task {i}", deps=((f"t{i - 1}", "blocks"),) if i else ())
        for i in range(AGENTS)
    )
    bus.emit(PlanMade(session_id=sid, agent="lead", tasks=tasks, estimate_usd=1.0, estimate_basis="defaults"))
    for i in range(AGENTS):
        bus.emit(AgentSpawned(session_id=sid, agent=f"agent-{i}", role="implementer", model="m", task=f"t{i}"))
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for k in range(200):
            a = (n + k) % AGENTS
            agent = f"agent-{a}"
            match k % 10:
                case 0:
                    bus.emit(AgentStatus(session_id=sid, agent=agent, status="thinking", iteration=n))
                case 1:
                    bus.emit(MessageSent(session_id=sid, agent=agent, message_id=f"m{n}", to="agent-0", text="hi"))
                case 2:
                    bus.emit(
                        TaskStatus(session_id=sid, agent=agent, task=f"t{a}", role="implementer", status="running")
                    )
                case 3 if k == 3:
                    bus.emit(TestRun(session_id=sid, agent=agent, command="pytest", passed=n, task=f"t{a}"))
                case _:
                    bus.emit(LLMCall(session_id=sid, agent=agent, model="m", input_tokens=10, cost_usd=1e-6))
        n += 200
        await asyncio.sleep(0)
    return n


class _Counted:
    """The view of one session with every widget message counted and every redraw timed."""

    def __init__(self, handle: Any) -> None:
        from loom_nb.notebook._view import LiveView

        self.view = LiveView(handle)
        self.sent: Counter[str] = Counter()
        self.redraw_s: list[float] = []
        widgets = {"body": self.view.body, "budget": self.view.budget, "stop": self.view.stop_button}
        widgets["cards"] = self.view.cards.widget
        for name, widget in widgets.items():
            widget.comm.send = self._counting(name, widget.comm.send)
        draw = self.view.redraw

        def timed() -> None:
            t = time.perf_counter()
            draw()
            self.redraw_s.append(time.perf_counter() - t)

        self.view.redraw = timed  # type: ignore[method-assign]

    def _counting(self, name: str, send: Any) -> Any:
        def counting(*a: Any, **kw: Any) -> Any:
            self.sent[name] += 1
            return send(*a, **kw)

        return counting


def _live_run(runner: Any, project: Path, seconds: float, with_view: bool) -> dict[str, Any]:
    started = threading.Event()
    handle = runner.submit(_waiting_swarm(project, started))
    assert started.wait(30), "the session did not start"
    counted = _Counted(handle) if with_view else None
    refresher = runner.watch(counted.view.refresh()) if counted else None
    drawn = counted.view.redraws if counted else 0
    sent_before = sum(counted.sent.values()) if counted else 0
    t = time.perf_counter()
    events = runner.watch(_flood(handle.swarm.bus, handle.session_id, seconds)).result()
    wall = time.perf_counter() - t
    out: dict[str, Any] = {"events_per_s": events / wall}
    if counted is not None:
        sent = counted.sent
        out |= {
            "redraws_per_s": (counted.view.redraws - drawn) / wall,
            "widget_messages_per_s": (sum(sent.values()) - sent_before) / wall,
            "widget_messages_per_s_by_widget": {k: v / wall for k, v in sent.items()},
            "redraw_median_ms": statistics.median(counted.redraw_s) * 1000,
            "redraw_p99_ms": statistics.quantiles(counted.redraw_s, n=100)[98] * 1000,
            "body_bytes": len(counted.view.body.value.encode()),
        }
    handle.stop("benchmark over")
    handle.wait(timeout=30, raise_errors=False)
    if refresher is not None:
        refresher.result(timeout=30)
    return out


def tracker_fold_us(repeats: int, n: int = 100_000) -> float:
    """Microseconds the tracker (always subscribed in a kernel) adds to emitting one event, median of
    `repeats`: the four events of every turn (status, model call, tool started, tool ended), 100 agents."""
    from loom_nb.events import AgentSpawned, AgentStatus, EventBus, LLMCall, ToolCallEvent, ToolStarted
    from loom_nb.notebook._tracker import SessionTracker

    s = "s"
    kinds = (
        lambda a, i: AgentStatus(session_id=s, agent=a, status="thinking", iteration=i),
        lambda a, i: LLMCall(session_id=s, agent=a, model="m", input_tokens=10, cost_usd=1e-6),
        lambda a, i: ToolStarted(session_id=s, agent=a, tool="t", call_id="c", args_summary="x"),
        lambda a, i: ToolCallEvent(
            session_id=s, agent=a, tool="t", call_id="c", args_summary="x", duration_s=0.1, outcome="ok"
        ),
    )
    events = [kinds[i % 4](f"agent-{i % AGENTS}", i) for i in range(n)]
    times = []
    for _ in range(repeats):
        bare, tracked = EventBus(), EventBus()
        SessionTracker(tracked, s)
        for i in range(AGENTS):
            tracked.emit(AgentSpawned(session_id=s, agent=f"agent-{i}", role="implementer", model="m", task=f"t{i}"))
        spent = []
        for bus in (bare, tracked):
            t = time.perf_counter()
            for e in events:
                bus.emit(e)
            spent.append(time.perf_counter() - t)
        times.append((spent[1] - spent[0]) / n * 1e6)
    return statistics.median(times)


def live_view(seconds: float, repeats: int) -> dict[str, Any]:
    """Events a second absorbed with and without the view; widget updates a second; redraw times
    (medians of `repeats` runs of each, alternating: the machine is shared)."""
    from loom_nb.notebook import SwarmRunner

    runner = SwarmRunner()
    bare: list[dict[str, Any]] = []
    viewed: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(repeats):
                bare.append(_live_run(runner, Path(tmp), seconds, with_view=False))
                viewed.append(_live_run(runner, Path(tmp), seconds, with_view=True))
    finally:
        runner.shutdown()
    out: dict[str, Any] = {
        k: statistics.median(r[k] for r in viewed) for k in viewed[0] if isinstance(viewed[0][k], float)
    }
    out["widget_messages_per_s_by_widget"] = {
        w: statistics.median(r["widget_messages_per_s_by_widget"].get(w, 0.0) for r in viewed)
        for w in viewed[0]["widget_messages_per_s_by_widget"]
    }
    out["body_bytes"] = viewed[-1]["body_bytes"]
    out["events_per_s_tracker_only"] = statistics.median(r["events_per_s"] for r in bare)
    out["runs"] = {"tracker_only": bare, "with_view": viewed}
    out["tracker_us_per_event"] = tracker_fold_us(max(repeats, 5))
    print(
        f"live view, {AGENTS} agents, {seconds:.0f} s floods (medians of {repeats}): "
        f"absorbed {out['events_per_s']:,.0f} events/s "
        f"({out['events_per_s_tracker_only']:,.0f} without the view); sent {out['redraws_per_s']:.1f} redraws/s, "
        f"{out['widget_messages_per_s']:.1f} widget messages/s "
        f"({', '.join(f'{k} {v:.1f}' for k, v in out['widget_messages_per_s_by_widget'].items())}); "
        f"a redraw {out['redraw_median_ms']:.2f} ms median, {out['redraw_p99_ms']:.2f} ms p99, "
        f"body {out['body_bytes'] / 1024:.1f} KiB; the tracker folds an event in {out['tracker_us_per_event']:.2f} µs",
        flush=True,
    )
    return out


def graph_drawing(sizes: str, repeats: int) -> dict[int, dict[str, Any]]:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for n in (int(s) for s in sizes.split(",")):
            g = make_graph(d, n)
            g.show()  # warm: imports, assets
            renders = []
            for _ in range(repeats):
                t = time.perf_counter()
                view = g.show()
                renders.append(time.perf_counter() - t)
            cell = view._repr_html_()  # what a saved notebook keeps for the drawing
            page = d / f"view{n}.html"
            view.save(page)
            opens = browser_open_s(page, repeats)
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
                f"open in Chromium {r['browser_open_median_s']:.2f} s (median of {repeats})",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("all", "graph", "live"), default="all")
    parser.add_argument("--sizes", default="10,100,1000,5000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "view.json")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.part in ("all", "live"):
        results["live"] = live_view(args.seconds, args.repeats)
    if args.part in ("all", "graph"):
        results["graph"] = graph_drawing(args.sizes, args.repeats)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
