"""The decision graph in DuckDB: recording rate, flush latency, emit-side cost, a session's end (the
last event to close() returning), reads over 1M nodes, and pyvis rendering (when available).

Usage: python benchmarks/bench_graph.py [--events 500000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from loom_nb.events import EventBus, LLMCall, SessionStarted, ToolCallEvent
from loom_nb.graph import Graph, GraphStore, Recorder


def _events(n: int, session: str) -> list:
    out = []
    for i in range(n):
        if i % 2:
            out.append(
                LLMCall(
                    session_id=session,
                    agent=f"agent-{i % 50}",
                    model="anthropic:claude-haiku-4-5",
                    input_tokens=1200,
                    output_tokens=80,
                    cost_usd=0.0016,
                    latency_s=0.9,
                )
            )
        else:
            out.append(
                ToolCallEvent(
                    session_id=session,
                    agent=f"agent-{i % 50}",
                    tool="content_search",
                    call_id=f"c{i}",
                    args_summary="pattern='parse_config'",
                    duration_s=0.004,
                    outcome="ok",
                )
            )
    return out


def recording_rate(n: int, directory: Path) -> dict:
    """Emit n events as fast as possible; the rate is n / time until all are on disk."""
    events = _events(n, "rate")
    store = GraphStore(directory / "rate.duckdb")
    bus = EventBus()
    rec = Recorder(store).attach(bus)
    bus.emit(SessionStarted(session_id="rate", agent="", intent="bench"))
    rec.flush()
    started = time.perf_counter()
    for e in events:
        bus.emit(e)
    emitted = time.perf_counter() - started
    rec.flush(timeout=600)
    total = time.perf_counter() - started
    rec.close()
    return {
        "events": n,
        "emit_s": emitted,
        "emit_us_per_event": emitted / n * 1e6,
        "to_disk_s": total,
        "events_per_s": n / total,
    }


def flush_latency(rate: int, seconds: float, directory: Path) -> dict:
    """Emit at a steady `rate` per second; for each event, the time until the batch holding it commits."""
    store = GraphStore(directory / "latency.duckdb")
    bus = EventBus()
    commits: list[tuple[float, int]] = []
    lock = threading.Lock()

    def on_flush(written: int) -> None:
        with lock:
            commits.append((time.perf_counter(), written))

    rec = Recorder(store, on_flush=on_flush).attach(bus)
    bus.emit(SessionStarted(session_id="lat", agent="", intent="bench"))
    rec.flush()
    base = rec.written
    events = _events(int(rate * seconds), "lat")
    emit_times: list[float] = []
    started = time.perf_counter()
    burst = max(1, rate // 1000)  # a burst every millisecond, idle in between, as an event loop is
    for i in range(0, len(events), burst):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # pacing the producer, not synchronisation
        for e in events[i : i + burst]:
            bus.emit(e)
        emit_times.extend([time.perf_counter()] * len(events[i : i + burst]))
    rec.flush()
    rec.close()
    latencies = []
    j = 0
    for i, t in enumerate(emit_times):
        seq = base + i + 1
        while commits[j][1] < seq:
            j += 1
        latencies.append(commits[j][0] - t)
    latencies.sort()
    return {
        "rate_per_s": rate,
        "events": len(events),
        "batches": len(commits),
        "latency_p50_ms": latencies[len(latencies) // 2] * 1000,
        "latency_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "latency_max_ms": latencies[-1] * 1000,
    }


def session_end(directory: Path, events: int = 2000, repeats: int = 9) -> dict:
    """Sessions of `events` events (a second of 100 agents' work) into one project file, one after
    another: how long close() takes after the last event, and the process CPU per session."""
    import os

    from loom_nb.events import SessionEnded

    store = GraphStore(directory / "sessions.duckdb")
    ends, cpus = [], []
    for i in range(repeats + 1):
        cpu = os.times()
        bus = EventBus()
        rec = Recorder(store).attach(bus)
        session = f"end-{i}"
        bus.emit(SessionStarted(session_id=session, agent="", intent="bench"))
        for e in _events(events, session):
            bus.emit(e)
        bus.emit(SessionEnded(session_id=session, agent="", status="done"))
        started = time.perf_counter()
        rec.close()
        ends.append(time.perf_counter() - started)
        after = os.times()
        cpus.append(after.user + after.system - cpu.user - cpu.system)
    return {
        "events": events,
        "close_ms_median": statistics.median(ends[1:]) * 1000,
        "close_ms_max": max(ends[1:]) * 1000,
        "cpu_ms_per_session": statistics.median(cpus[1:]) * 1000,
    }


def swarm_events(directory: Path, n: int = 20_000, tasks: int = 100, project: bool = False) -> dict:
    """Per-event cost of the specialist swarm's kinds (messages, test runs, task statuses, commits): n events
    of each kind into a session with a plan of `tasks` tasks, as fast as they come; CPU of the whole process
    (the writer thread's DuckDB work included) per event, and wall time until on disk."""
    import os

    from loom_nb.events import CommitMade, MessageSent, PlanMade, PlannedTask, TaskStatus, TestRun

    def make(kind: str, i: int, session: str):
        agent, task = f"agent-{i % tasks}", f"t{i % tasks}"
        if kind == "message":
            return MessageSent(
                session_id=session,
                agent=agent,
                message_id=f"m{i}",
                to=f"agent-{(i + 1) % tasks}",
                text="the tests fail in test_session.py: " + "x" * 80,
                task=task,
            )
        if kind == "test_run":
            return TestRun(
                session_id=session,
                agent=agent,
                command="pytest -q",
                passed=40,
                failed=i % 3,
                failing=("tests/test_a.py::test_b",) * (i % 3),
                task=task,
                round=1 + i % 3,
            )
        if kind == "task_status":
            status = ("running", "done")[i // tasks % 2]
            return TaskStatus(
                session_id=session,
                agent=agent,
                task=task,
                role="implementer",
                status=status,
                summary="renamed it",
                files_changed=("a.py",),
                cost_usd=0.01,
            )
        return CommitMade(
            session_id=session,
            agent=agent,
            sha=f"{i:040x}",
            message="edit",
            files=("a.py",),
            insertions=1,
            deletions=1,
            task=task,
        )

    out = {}
    store = GraphStore(directory / f"swarm-{project}.duckdb")
    for kind in ("message", "test_run", "task_status", "commit"):
        session = f"{kind}-{project}"
        bus = EventBus()
        rec = Recorder(store, project_decisions=project).attach(bus)
        bus.emit(SessionStarted(session_id=session, agent="", intent="bench"))
        plan = tuple(PlannedTask(id=f"t{i}", role="implementer", prompt=f"part {i}") for i in range(tasks))
        bus.emit(PlanMade(session_id=session, agent="lead", tasks=plan))
        rec.flush()
        events = [make(kind, i, session) for i in range(n)]
        cpu = os.times()
        started = time.perf_counter()
        for e in events:
            bus.emit(e)
        rec.flush(timeout=600)
        wall = time.perf_counter() - started
        after = os.times()
        rec.close()
        cpu_s = after.user + after.system - cpu.user - cpu.system
        out[kind] = {"events": n, "cpu_us_per_event": cpu_s / n * 1e6, "wall_us_per_event": wall / n * 1e6}
    return out


def nodes_over_a_million(directory: Path, repeats: int = 5) -> dict:
    store = GraphStore(directory / "million.duckdb")
    with store.connect() as con:
        con.execute("""INSERT INTO decision_nodes (change_id, node_type, title, description, status, confidence,
                metadata, session_id, agent_name, created_at, updated_at)
            SELECT md5(i::VARCHAR), ['goal','decision','option','action','outcome','observation','revisit'][i % 7 + 1],
                   'node ' || i, 'a description of node ' || i,
                   CASE WHEN i % 10 = 0 THEN 'superseded' ELSE 'active' END, (i % 101)::INTEGER,
                   CASE WHEN i % 10 = 0 THEN '{"source": "researcher-' || (i % 13) || '", "tokens": ' || i || '}'
                        ELSE '{}' END, 'session-' || (i % 100), 'agent-' || (i % 40),
                   now()::TIMESTAMP, now()::TIMESTAMP
            FROM range(1000000) t(i)""")
    g = Graph(store)
    out = {}
    for label, kwargs in (
        ("session (10k rows)", {"session": "session-42"}),
        ("session+type (1.4k rows)", {"session": "session-42", "node_type": "goal"}),
        ("type+status (129k rows)", {"node_type": "goal", "status": "active"}),
    ):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            df = g.nodes(**kwargs)
            times.append(time.perf_counter() - t)
        out[label] = {"rows": len(df), "median_ms": statistics.median(times) * 1000}
    return out


def pyvis_rendering(directory: Path, sizes: tuple[int, ...] = (100, 1000, 5000)) -> dict:
    """HTML size and render time in Python, and time until a headless Chromium has drawn the page."""
    import shutil

    out: dict = {}
    for n in sizes:
        store = GraphStore(directory / f"view{n}.duckdb")
        with store.connect() as con:
            con.execute(f"""INSERT INTO decision_nodes (change_id, node_type, title, status, confidence, metadata,
                    session_id, agent_name, created_at, updated_at)
                SELECT 'v' || i, ['goal','decision','option','action','outcome','observation','revisit'][i % 7 + 1],
                       'node ' || i || ' with a title of ordinary length', CASE WHEN i % 9 = 0 THEN 'superseded'
                       ELSE 'active' END, (i % 101)::INTEGER, '{{}}', 's', 'agent-' || (i % 12),
                       now()::TIMESTAMP, now()::TIMESTAMP FROM range({n}) t(i)""")
            con.execute(f"""INSERT INTO decision_edges (change_id, from_node_id, to_node_id, edge_type, created_at)
                SELECT 'e' || i, (i // 3) + 1, i + 1, ['leads_to','chosen','rejected','requires'][i % 4 + 1],
                       now()::TIMESTAMP FROM range(1, {n}) t(i)""")
        g = Graph(store)
        g.show()  # warm: imports, assets
        t = time.perf_counter()
        view = g.show()
        render = time.perf_counter() - t
        path = view.save(directory / f"view{n}.html")
        settle = None
        chromium = shutil.which("chromium")
        if chromium:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=chromium,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
                )
                page = browser.new_page()
                t = time.perf_counter()
                page.goto(path.as_uri())
                page.wait_for_selector("body[data-drawn='1']", timeout=60_000)
                settle = time.perf_counter() - t
                browser.close()
        out[n] = {"html_bytes": len(view.html.encode()), "render_s": render, "browser_settle_s": settle}
        print(
            f"pyvis view, {n:,} nodes: {len(view.html.encode()) / 1024:,.0f} KiB, rendered in {render * 1000:.0f} ms, "
            f"drawn by Chromium in {settle:.2f} s"
            if settle is not None
            else "(no chromium)",
            flush=True,
        )
    return out


def _swarm(results: dict, d: Path) -> None:
    for project in (False, True):
        results[f"swarm_events_project_{project}"] = sw = swarm_events(d, project=project)
        for kind, v in sw.items():
            print(
                f"{kind} events{' with project_decisions' if project else ''}: "
                f"{v['cpu_us_per_event']:.1f} µs CPU, {v['wall_us_per_event']:.1f} µs wall per event",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--swarm-only", action="store_true", help="only the specialist swarm's event kinds")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    args.json = args.json or Path(__file__).parent / "results" / (
        "graph_swarm.json" if args.swarm_only else "graph.json"
    )
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if args.swarm_only:
            _swarm(results, d)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2))
            print(f"results: {args.json}")
            return
        results["recording"] = r = recording_rate(args.events, d)
        print(
            f"recording: {r['events']:,} events on disk in {r['to_disk_s']:.2f} s = {r['events_per_s']:,.0f} "
            f"events/s; emit side {r['emit_us_per_event']:.2f} µs/event",
            flush=True,
        )
        results["latency"] = []
        for rate in (10_000, 100_000):
            lat = flush_latency(rate, 3.0, d)
            results["latency"].append(lat)
            print(
                f"flush latency at {rate:,}/s: p50 {lat['latency_p50_ms']:.0f} ms, p99 {lat['latency_p99_ms']:.0f} "
                f"ms, max {lat['latency_max_ms']:.0f} ms ({lat['batches']} batches)",
                flush=True,
            )
        results["session_end"] = end = session_end(d)
        print(
            f"session end ({end['events']:,} events, then close()): median {end['close_ms_median']:.1f} ms, "
            f"max {end['close_ms_max']:.1f} ms; {end['cpu_ms_per_session']:.0f} ms CPU per session",
            flush=True,
        )
        _swarm(results, d)
        results["nodes_1M"] = nodes = nodes_over_a_million(d)
        for label, v in nodes.items():
            print(f"g.nodes({label}) over 1,000,000 nodes: {v['median_ms']:.0f} ms", flush=True)
        results["pyvis"] = pyvis_rendering(d)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
