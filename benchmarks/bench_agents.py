"""Agent-loop overhead: N agents, each K tool-call turns plus a final answer, against a model of
latency L, supervised by a DynamicSupervisor; in-process (ScriptedModel) and through the fake HTTP
server (the real Anthropic SDK over 127.0.0.1).

ideal = (K + 1) * L (all agents in parallel, zero framework cost)
framework time per turn = (wall - ideal) / (N * (K + 1))

Recorded vs supervised, side by side (N=100, K=3, L=50 ms, in-process): the same run with the
recorder writing every event to a DuckDB file, and without; each mode in fresh processes (so each
has its own peak memory), alternating, medians and ratios: framework time per turn, the process's
CPU per turn (steadier than wall time on a shared machine; the recorder's work on its own thread
counts here, and after the run: the checkpoint of letting go of the file falls in the next run),
the session's end (last event to the recorder's close() returning) and peak RSS.

Usage: python benchmarks/bench_agents.py [--quick] [--compare-only] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

from loom_nb.agents import Agent
from loom_nb.events import EventBus
from loom_nb.models import ModelSettings, ProviderLimiter, ScriptedModel, tool_call
from loom_nb.models._anthropic import AnthropicModel
from loom_nb.runtime import ChildSpec, DynamicSupervisor, Process
from loom_nb.testing import FakeLLMServer, Reply
from loom_nb.tools import Scope, Tool, ToolContext

K = 3


async def _noop(args: dict, ctx: ToolContext) -> str:
    return "ok"


NOOP = Tool(
    name="noop",
    description="does nothing",
    parameters={"type": "object", "properties": {}},
    fn=_noop,
    permission="read",
)


def _turns_done(messages) -> int:
    return sum(1 for m in messages if m.role == "assistant")


def scripted_model(latency: float) -> ScriptedModel:
    def fn(messages, tools):
        return [tool_call("noop")] if _turns_done(messages) < K else "final answer"

    return ScriptedModel(fn, latency=latency)


@contextmanager
def server_process(latency: float):
    """The fake server in its own process, so its CPU is not counted as the framework's."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        url = proc.stdout.readline().strip()
        yield url
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def serve(latency: float) -> None:
    with FakeLLMServer(handler=http_handler(latency)) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin
        print(
            f"  (fake server: {time.process_time() / max(len(server.requests), 1) * 1000:.2f} ms CPU per request)",
            file=sys.stderr,
        )


def http_handler(latency: float):
    def handler(request):
        turns = sum(1 for m in request.body.get("messages", []) if m.get("role") == "assistant")
        if turns < K:
            return Reply(tool_calls=[("noop", {})], latency=latency)
        return Reply(text="final answer", latency=latency)

    return handler


async def run_swarm(n: int, model, scope: Scope, recorder=None, session: str = "bench") -> float:
    bus = EventBus()
    # one subscriber: the recorder, or a stand-in that does nothing
    bus.subscribe(recorder if recorder is not None else (lambda event: None))
    sup = DynamicSupervisor(name="bench")
    await sup.start()
    done = 0
    all_done = asyncio.Event()

    def make_body(i: int):
        async def body(proc: Process) -> None:
            nonlocal done
            agent = Agent(
                name=f"agent-{i}",
                model=model,
                tools=[NOOP],
                bus=bus,
                max_iterations=K + 2,
                context=ToolContext(scope=scope, project=scope.root, session_id=session),
                settings=ModelSettings(timeout=60),
            )
            await agent.run("work")
            done += 1
            if done == n:
                all_done.set()

        return body

    started = time.perf_counter()
    for i in range(n):
        await sup.start_child(ChildSpec(id=i, start=make_body(i), restart="temporary"))
    await all_done.wait()
    wall = time.perf_counter() - started
    await sup.stop()
    return wall


async def measure(n: int, latency: float, transport: str, scope: Scope, repeats: int) -> dict:
    walls, cpus = [], []
    for _ in range(repeats):
        if transport == "in-process":
            gc.collect()
            walls.append(await run_swarm(n, scripted_model(latency), scope))
            continue
        with server_process(latency) as url:
            model = AnthropicModel(
                "claude-haiku-4-5", base_url=url, api_key="bench-key", limiter=ProviderLimiter(default=max(n, 1))
            )
            await run_swarm(1, model, scope)  # warm up: SDK import, client, first connection
            gc.collect()
            cpu = time.process_time()
            walls.append(await run_swarm(n, model, scope))
            cpus.append(time.process_time() - cpu)
            await model.aclose()
    wall = statistics.median(walls)
    ideal = (K + 1) * latency
    per_turn_ms = (wall - ideal) / (n * (K + 1)) * 1000
    row = {
        "transport": transport,
        "N": n,
        "K": K,
        "L_s": latency,
        "repeats": repeats,
        "wall_s": wall,
        "ideal_s": ideal,
        "wall_over_ideal": wall / ideal,
        "framework_ms_per_turn": per_turn_ms,
    }
    if cpus:  # the client process's CPU per request: loom_nb plus the Anthropic SDK and its HTTP stack
        row["client_cpu_ms_per_request"] = statistics.median(cpus) / (n * (K + 1)) * 1000
    return row


async def recorded_run(n: int, latency: float, scope: Scope, directory: Path) -> tuple[float, float]:
    """One session recorded into the project's graph file (one file, a session per run, as a project
    keeps them): (wall until the agents are done, session end)."""
    from loom_nb.events import SessionEnded, SessionStarted
    from loom_nb.graph import GraphStore, Recorder

    recorder = Recorder(GraphStore(directory / "loom.duckdb"))
    recorder.start()
    session = f"bench-{time.monotonic_ns()}"
    recorder(SessionStarted(session_id=session, agent="", intent="bench"))
    wall = await run_swarm(n, scripted_model(latency), scope, recorder, session)
    recorder(SessionEnded(session_id=session, agent="", status="done"))
    last_event = time.perf_counter()
    await asyncio.to_thread(recorder.close)  # as Swarm.run ends a session
    return wall, time.perf_counter() - last_event


async def compare_one(mode: str, n: int, latency: float, repeats: int) -> dict:
    """In a fresh process: one warm-up run, then `repeats` measured runs of one mode."""
    import resource
    import tempfile

    scope = Scope(Path(__file__).parent)
    walls, ends, cpus = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats + 1):
            gc.collect()
            cpu = time.process_time()
            if mode == "recorded":
                wall, end = await recorded_run(n, latency, scope, Path(tmp))
                ends.append(end)
            else:
                wall = await run_swarm(n, scripted_model(latency), scope)
            walls.append(wall)
            cpus.append(time.process_time() - cpu)
    ideal = (K + 1) * latency
    return {
        "mode": mode,
        "framework_ms_per_turn": [(w - ideal) / (n * (K + 1)) * 1000 for w in walls[1:]],
        "session_end_ms": [e * 1000 for e in ends[1:]],
        "cpu_ms_per_turn": [c / (n * (K + 1)) * 1000 for c in cpus[1:]],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def recorded_vs_supervised(n: int = 100, latency: float = 0.05, rounds: int = 3, repeats: int = 3) -> dict:
    """Both modes, alternating, each round in two fresh processes; medians and ratios."""
    runs: dict[str, list[dict]] = {"supervised": [], "recorded": []}
    for _ in range(rounds):
        for mode in runs:
            out = subprocess.run(
                [sys.executable, __file__, "--compare-one", mode, str(n), str(latency), str(repeats)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    per_turn = {m: statistics.median(v for r in rs for v in r["framework_ms_per_turn"]) for m, rs in runs.items()}
    rss = {m: statistics.median(r["peak_rss_mb"] for r in rs) for m, rs in runs.items()}
    cpu = {m: statistics.median(v for r in rs for v in r["cpu_ms_per_turn"]) for m, rs in runs.items()}
    ends = [v for r in runs["recorded"] for v in r["session_end_ms"]]
    return {
        "N": n,
        "K": K,
        "L_s": latency,
        "runs_per_mode": rounds * repeats,
        "framework_ms_per_turn": per_turn,
        "recorded_over_supervised": per_turn["recorded"] / per_turn["supervised"],
        "cpu_ms_per_turn": cpu,
        "cpu_recorded_over_supervised": cpu["recorded"] / cpu["supervised"],
        "session_end_ms_median": statistics.median(ends),
        "session_end_ms_max": max(ends),
        "peak_rss_mb": rss,
        "raw": runs,
    }


def _print_comparison(c: dict) -> None:
    t = c["framework_ms_per_turn"]
    print(
        f"recorded vs supervised (N={c['N']}, K={c['K']}, L={c['L_s'] * 1000:.0f} ms, {c['runs_per_mode']} runs each): "
        f"framework/turn {t['recorded']:.4f} vs {t['supervised']:.4f} ms = {c['recorded_over_supervised']:.2f}x; "
        f"process CPU/turn {c['cpu_ms_per_turn']['recorded']:.3f} vs {c['cpu_ms_per_turn']['supervised']:.3f} ms = "
        f"{c['cpu_recorded_over_supervised']:.2f}x; "
        f"session end {c['session_end_ms_median']:.1f} ms (max {c['session_end_ms_max']:.1f}); "
        f"peak RSS {c['peak_rss_mb']['recorded']:.0f} vs {c['peak_rss_mb']['supervised']:.0f} MB",
        flush=True,
    )


async def memory_per_agent(n: int, scope: Scope) -> float:
    gc.collect()
    tracemalloc.start()
    await run_swarm(n, scripted_model(0.05), scope)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / n


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats, skip the 1 s runs")
    parser.add_argument("--compare-only", action="store_true", help="only recorded vs supervised")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "agents.json")
    args = parser.parse_args()
    scope = Scope(Path(__file__).parent)
    repeats = 1 if args.quick else 3
    comparison = recorded_vs_supervised(rounds=2 if args.quick else 3)
    _print_comparison(comparison)
    if args.compare_only:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"recorded_vs_supervised": comparison, "python": sys.version}, indent=2))
        print(f"results: {args.json}")
        return
    rows = []
    for transport in ("in-process", "http"):
        for n, latency in [(1, 0.05), (100, 0.05), (1000, 0.05)]:
            rows.append(await measure(n, latency, transport, scope, repeats))
            _print(rows[-1])
    if not args.quick:
        for transport in ("in-process", "http"):
            rows.append(await measure(1000, 1.0, transport, scope, 1))
            _print(rows[-1])
    mem = await memory_per_agent(1000, scope)
    print(f"peak traced memory per agent (N=1000, in-process): {mem / 1024:.1f} KiB")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {"rows": rows, "recorded_vs_supervised": comparison, "peak_bytes_per_agent": mem, "python": sys.version},
            indent=2,
        )
    )
    print(f"results: {args.json}")


def _print(row: dict) -> None:
    print(
        f"{row['transport']:>10}  N={row['N']:<5} L={row['L_s'] * 1000:>5.0f} ms  wall={row['wall_s']:.3f} s  "
        f"ideal={row['ideal_s']:.3f} s  wall/ideal={row['wall_over_ideal']:.3f}  "
        f"framework/turn={row['framework_ms_per_turn']:.4f} ms"
        + (
            f"  client CPU/request={row['client_cpu_ms_per_request']:.2f} ms"
            if "client_cpu_ms_per_request" in row
            else ""
        ),
        flush=True,
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(float(sys.argv[2]))
    elif len(sys.argv) == 6 and sys.argv[1] == "--compare-one":
        mode, n, latency, repeats = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(asyncio.run(compare_one(mode, n, latency, repeats))))
    else:
        asyncio.run(main())
