"""The notebook face in a real kernel: %load_ext cold time, a trivial cell's latency while agents run
in the background (unrecorded, and recorded to the project's graph as users run them: side by side,
medians of the rounds and the ratio), and widget messages per second under a flood of events.

Usage: python benchmarks/bench_kernel.py [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

BACKGROUND = textwrap.dedent("""
    from loom_nb.models import ScriptedModel, tool_call
    from loom_nb.notebook import default_runner
    from loom_nb.swarm import ROLES, Role, Swarm
    from loom_nb.tools import Tool

    async def _noop(args, ctx):
        return "ok"

    NOOP = Tool(name="noop", description="", parameters={{"type": "object", "properties": {{}}}}, fn=_noop,
                permission="read")
    # the extension point: a role's tools and iteration limit; here, agents that keep working
    ROLES["researcher"] = Role(name="researcher", system_prompt="bench", tools=lambda: (NOOP,), max_iterations=1000)

    def worker(messages, tools):
        return [tool_call("noop")]  # one tool turn after another, at the model's latency

    def lead(messages, tools):
        return "\\n".join(f"question number {{i}} for the benchmark" for i in range({n}))

    h = default_runner().submit(Swarm("bench", project=".", model=ScriptedModel(lead),
                                      weak=ScriptedModel(worker, latency=0.05), max_agents={n}, max_tasks={n},
                                      record={record}))
""")


class Kernel:
    def __init__(self, cwd: Path) -> None:
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd))

    def run(self, code: str, timeout: float = 120) -> tuple[float, list[dict]]:
        """Execute; returns (seconds until the reply, iopub messages of this request)."""
        started = time.perf_counter()
        msg_id = self.kc.execute(code)
        msgs = []
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") == msg_id or msg["msg_type"] == "comm_msg":
                msgs.append(msg)
            if (
                msg["parent_header"].get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                break
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{code[:60]!r} failed: {reply['content']}")
        return time.perf_counter() - started, msgs

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def load_ext_cold(directory: Path, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        k = Kernel(directory)
        try:
            _, msgs = k.run(
                "import time as _t\n_s = _t.perf_counter()\n%load_ext loom_nb\nprint(_t.perf_counter() - _s)"
            )
            times.append(float(next(m for m in msgs if m["msg_type"] == "stream")["content"]["text"]))
        finally:
            k.close()
    return statistics.median(times)


def responsiveness(directory: Path, agents: int, samples: int = 150, record: bool = False) -> dict:
    k = Kernel(directory)
    try:
        k.run("%load_ext loom_nb")
        if agents:
            k.run(BACKGROUND.format(n=agents, record=record))
            k.run(f"import time\nwhile len(h.tracker.rows()) < {agents} + 1: time.sleep(0.01)")
        latencies = [k.run("1 + 1")[0] for _ in range(samples)]
        running = k.run("print(h.status, len(h.tracker.rows()))")[1] if agents else []
        if agents:
            k.run("h.stop(); h.wait(timeout=30, raise_errors=False)")
    finally:
        k.close()
    latencies.sort()
    status = next((m["content"]["text"].strip() for m in running if m["msg_type"] == "stream"), "")
    return {
        "agents": agents,
        "recorded": record,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "samples": samples,
        "swarm_during_sampling": status,
    }


FLOOD = textwrap.dedent("""
    import asyncio
    from loom_nb.events import LLMCall
    from loom_nb.models import ScriptedModel

    async def flooding(messages, tools):
        for i in range({events}):
            swarm.bus.emit(LLMCall(session_id=swarm.session_id, agent="researcher-1", model="m", input_tokens=1))
            if i % 1000 == 0:
                await asyncio.sleep(0)
        return "flooded"

    def lead(messages, tools):
        return "the answer" if messages[0].text.startswith("Request:") else "one question about the flood"

    swarm = Swarm("flood", project=".", model=ScriptedModel(lead), weak=ScriptedModel(flooding), record=False)
""")


def widget_rate(directory: Path, events: int = 200_000) -> dict:
    k = Kernel(directory)
    try:
        k.run("%load_ext loom_nb\nfrom loom_nb.swarm import Swarm")
        k.run(FLOOD.format(events=events))
        # the magic's own path: live view on, foreground run, the flood inside it
        elapsed, msgs = k.run(
            "from loom_nb.notebook._view import start_live_view\n"
            "from loom_nb.notebook import default_runner\n"
            "views = []\n"
            "handle = default_runner().run_foreground(swarm, on_submit=lambda h: views.append(start_live_view(h)))\n"
            "views[0].finish()"
        )
    finally:
        k.close()
    comm = [m for m in msgs if m["msg_type"] == "comm_msg"]
    return {
        "events": events,
        "seconds": elapsed,
        "events_per_s": events / elapsed,
        "widget_messages": len(comm),
        "widget_messages_per_s": len(comm) / elapsed,
    }


GATED = textwrap.dedent("""
    import asyncio, pathlib
    from loom_nb.models import ScriptedModel
    from loom_nb.notebook import default_runner
    from loom_nb.swarm import Swarm

    def gated(marker):
        async def fn(messages, tools):
            pathlib.Path(marker).write_text("started")
            await asyncio.Event().wait()
        return ScriptedModel(fn)

    def lead(messages, tools):
        return "one question about the interrupt"
""")


def interrupt_latency(directory: Path, repeats: int = 5) -> dict:
    """Seconds from "Interrupt kernel" to the cell's KeyboardInterrupt reply, swarm recorded cancelled."""
    k = Kernel(directory)
    times = []
    try:
        k.run(GATED)
        for i in range(repeats):
            marker = directory / f"interrupt-{i}"
            msg_id = k.kc.execute(
                f"h = default_runner().run_foreground(Swarm('x', project='.', "
                f"model=ScriptedModel(lead), weak=gated({str(marker)!r}), record=False))"
            )
            deadline = time.monotonic() + 30
            while not marker.exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("the swarm never started")
                time.sleep(0.005)
            started = time.perf_counter()
            k.km.interrupt_kernel()
            while True:
                reply = k.kc.get_shell_msg(timeout=30)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            times.append(time.perf_counter() - started)
            assert reply["content"].get("ename") == "Interrupted", reply["content"]  # a KeyboardInterrupt
    finally:
        k.close()
    return {"median_s": statistics.median(times), "max_s": max(times), "repeats": repeats}


def _print_responsiveness(r: dict) -> None:
    print(
        f"trivial cell with {r['agents']:>3} background agents (50 ms model, "
        f"{'recorded' if r['recorded'] else 'unrecorded'}): p50 {r['p50_ms']:.1f} ms, "
        f"p99 {r['p99_ms']:.1f} ms  [{r['swarm_during_sampling']}]",
        flush=True,
    )


def recorded_vs_unrecorded(directory: Path, rounds: int = 3, agents: int = 100) -> dict:
    """A trivial cell's latency with 100 agents in the background, unrecorded and recorded, alternating."""
    runs: dict[str, list[dict]] = {"unrecorded": [], "recorded": []}
    for _ in range(rounds):
        for mode in runs:
            r = responsiveness(directory, agents, record=mode == "recorded")
            runs[mode].append(r)
            _print_responsiveness(r)
    p99 = {m: statistics.median(r["p99_ms"] for r in rs) for m, rs in runs.items()}
    p50 = {m: statistics.median(r["p50_ms"] for r in rs) for m, rs in runs.items()}
    print(
        f"recorded vs unrecorded ({agents} agents, {rounds} rounds): p99 {p99['recorded']:.1f} vs "
        f"{p99['unrecorded']:.1f} ms (x{p99['recorded'] / p99['unrecorded']:.2f}), p50 {p50['recorded']:.1f} vs "
        f"{p50['unrecorded']:.1f} ms",
        flush=True,
    )
    ratio = p99["recorded"] / p99["unrecorded"]
    return {"agents": agents, "p99_ms": p99, "p50_ms": p50, "p99_ratio": ratio, "raw": runs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "kernel.json")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the recorded vs unrecorded comparison")
    parser.add_argument("--compare-only", action="store_true", help="only the recorded vs unrecorded comparison")
    args = parser.parse_args()
    if args.compare_only:
        with tempfile.TemporaryDirectory() as tmp:
            results = {"recorded_vs_unrecorded": recorded_vs_unrecorded(Path(tmp), args.rounds)}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"results: {args.json}")
        return
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        results["load_ext_cold_s"] = t = load_ext_cold(d)
        print(f"%load_ext loom_nb, cold kernel: {t * 1000:.0f} ms (median of 5)", flush=True)
        results["responsiveness"] = []
        for n in (0, 500):
            r = responsiveness(d, n)
            results["responsiveness"].append(r)
            _print_responsiveness(r)
        results["recorded_vs_unrecorded"] = recorded_vs_unrecorded(d, args.rounds)
        results["interrupt"] = i = interrupt_latency(d)
        print(
            f"interrupt to KeyboardInterrupt reply (swarm cancelled, recorded): median {i['median_s'] * 1000:.0f} ms,"
            f" max {i['max_s'] * 1000:.0f} ms",
            flush=True,
        )
        results["widgets"] = w = widget_rate(d)
        print(
            f"flood: {w['events']:,} events in {w['seconds']:.2f} s ({w['events_per_s']:,.0f}/s) -> "
            f"{w['widget_messages']} widget messages, {w['widget_messages_per_s']:.1f}/s",
            flush=True,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
