"""The swarm's framework time per model turn (issue 10, item 9): 100 specialists at once on a fake
model (K=3 tool turns, then a final answer, latency L=50 ms per turn), with everything a swarm does
around a turn: the crew's processes and supervisors, the permission gate deciding every call, the post
office routing a message per agent, complete_task, task statuses, and the recorder writing every event
to a DuckDB file.

ideal = (K + 1) * L   (every agent in parallel, zero framework cost; the plan is given, the lead's
                       answer turn has no latency)

The target is measured over the agents' part of the run, as bench_agents.py measured it (the agents'
wall with the recorder already open; the session's end reported on its own):

  agents' window = first TaskStatus "running" -> last TaskStatus "done" (timed on the bus, as emitted)
  framework time per turn = (agents' window - ideal) / (N * (K + 1))

The window starts at the first task's start, not at SessionStarted: what lies before it (opening the
graph file and the recorder, the estimate's read of earlier runs, PlanMade) is paid once per session,
whatever N and K are, and is reported as the session's start; the spread of the N tasks' starts is
inside the window (starting processes is per-task work). Also printed, each a median:

  session start  = swarm.run() called -> first task running
  session end    = last task done -> swarm.run() returned (stopping the crew, the lead's answer, the
                   recorder's close: its last batch)
  whole run      = (wall of swarm.run() - ideal) / (N * (K + 1)), the figure this benchmark gave first
  CPU per turn   = the process's CPU time (every thread: the recorder's writer counts) over the
                   window, and over the whole run, divided by N * (K + 1)

Each mode runs in fresh processes, alternating, and medians are reported: recorded (the default) and
unrecorded (record=False), so the recorder's share shows. The probe that times the window is one more
bus subscriber (a type check per event, a clock read on TaskStatus only).

Usage: python benchmarks/bench_swarm.py [--n 100] [--rounds 3] [--repeats 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

K = 3


def worker_model(latency: float, n: int):
    from loom_nb.models import ScriptedModel, tool_call

    def fn(messages, tools):
        turns = sum(1 for m in messages if m.role == "assistant")
        me = int(messages[0].text.split("worker task ", 1)[1].split()[0])
        if turns == 0:
            return [tool_call("file_read", path="a.py")]
        if turns == 1:
            return [tool_call("send_message", to=f"worker-{me % n + 1}", text=f"hello from {me}")]
        if turns == 2:
            return [tool_call("complete_task", summary=f"read a.py; told worker-{me % n + 1}")]
        return "done"

    return ScriptedModel(fn, latency=latency, name="scripted:worker")


class _Probe:
    """Clock readings at the run's marks, taken on the emitter's thread as the events are emitted."""

    def __init__(self, n: int) -> None:
        from loom_nb.events import TaskStatus

        self._status = TaskStatus
        self.n = n
        self.first_running: tuple[float, float] | None = None
        self.last_done: tuple[float, float] | None = None
        self._done = 0

    def __call__(self, event: object) -> None:
        if type(event) is not self._status:
            return
        status = event.status  # type: ignore[attr-defined]
        if status == "running" and self.first_running is None:
            self.first_running = (time.perf_counter(), time.process_time())
        elif status == "done":
            self._done += 1
            if self._done == self.n:
                self.last_done = (time.perf_counter(), time.process_time())


async def one_run(n: int, latency: float, record: bool, directory: Path) -> dict[str, float]:
    """One swarm run; its clock readings (perf_counter and process_time) at the marks."""
    from loom_nb.models import ScriptedModel
    from loom_nb.swarm import Role, RoleBook, Swarm, Task, roles

    book = RoleBook(parent=roles)
    book.define(
        Role(
            name="worker",
            description="reads a file and greets a colleague",
            system_prompt="Work.",
            tools=("file_read", "send_message", "complete_task"),
            model="weak",
            max_iterations=K + 2,
        )
    )
    plan = [Task(id=f"t{i}", role="worker", prompt=f"worker task {i} of the benchmark") for i in range(1, n + 1)]
    swarm = Swarm(
        "benchmark",
        project=directory,
        plan=plan,
        roles=book,
        model=ScriptedModel(["the answer"], name="scripted:lead"),
        weak=worker_model(latency, n),
        max_agents=n,
        max_tasks=n,
        preset="balanced",
        record=record,
        db=directory / "loom.duckdb",
        revise=False,
    )
    probe = _Probe(n)
    swarm.bus.subscribe(probe)
    started, cpu = time.perf_counter(), time.process_time()
    result = await swarm.run()
    ended, cpu_end = time.perf_counter(), time.process_time()
    assert result.status == "done", result.error
    assert all(r.status == "done" for r in result.tasks), [r.error for r in result.tasks if r.status != "done"]
    assert probe.first_running is not None and probe.last_done is not None
    (w0, c0), (w1, c1) = probe.first_running, probe.last_done
    return {
        "wall": ended - started,
        "cpu": cpu_end - cpu,
        "window": w1 - w0,
        "window_cpu": c1 - c0,
        "start": w0 - started,
        "end": ended - w1,
    }


async def compare_one(mode: str, n: int, latency: float, repeats: int) -> dict:
    marks: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "a.py").write_text("x = 1\n")
        for _ in range(repeats + 1):  # the first run warms imports and caches
            gc.collect()
            marks.append(await one_run(n, latency, mode == "recorded", directory))
    marks = marks[1:]
    ideal = (K + 1) * latency
    turns = n * (K + 1)
    return {
        "mode": mode,
        "framework_ms_per_turn": [(m["window"] - ideal) / turns * 1000 for m in marks],
        "cpu_ms_per_turn": [m["window_cpu"] / turns * 1000 for m in marks],
        "whole_framework_ms_per_turn": [(m["wall"] - ideal) / turns * 1000 for m in marks],
        "whole_cpu_ms_per_turn": [m["cpu"] / turns * 1000 for m in marks],
        "session_start_ms": [m["start"] * 1000 for m in marks],
        "session_end_ms": [m["end"] * 1000 for m in marks],
        "wall_s": [m["wall"] for m in marks],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "swarm.json")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"recorded": [], "unrecorded": []}
    for _ in range(args.rounds):
        for mode in runs:
            out = subprocess.run(
                [sys.executable, __file__, "--one", mode, str(args.n), str(args.latency), str(args.repeats)],
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                raise SystemExit(out.stderr)
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary: dict[str, dict[str, float]] = {}
    print(
        f"N={args.n} K={K} L={args.latency * 1000:.0f} ms, medians of {args.rounds} fresh processes x "
        f"{args.repeats} runs; per turn = over the agents' window (first task running -> last done)",
        flush=True,
    )
    for mode, rs in runs.items():
        row = summary[mode] = {
            key: statistics.median(v for r in rs for v in r[key])
            for key in (
                "framework_ms_per_turn",
                "cpu_ms_per_turn",
                "whole_framework_ms_per_turn",
                "whole_cpu_ms_per_turn",
                "session_start_ms",
                "session_end_ms",
            )
        }
        row["framework_ms_per_turn_min"] = min(v for r in rs for v in r["framework_ms_per_turn"])
        row["runs"] = sum(len(r["framework_ms_per_turn"]) for r in rs)
        print(
            f"{mode:>10}: framework/turn {row['framework_ms_per_turn']:.4f} ms "
            f"(min {row['framework_ms_per_turn_min']:.4f}), CPU/turn {row['cpu_ms_per_turn']:.4f} ms | "
            f"session start {row['session_start_ms']:.1f} ms, end {row['session_end_ms']:.1f} ms | "
            f"whole run: {row['whole_framework_ms_per_turn']:.4f} ms/turn, CPU {row['whole_cpu_ms_per_turn']:.4f} "
            f"ms/turn",
            flush=True,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"summary": summary, "raw": runs, "python": sys.version}, indent=2))
    print(f"results: {args.json}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--one":
        mode, n, latency, repeats = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(asyncio.run(compare_one(mode, n, latency, repeats))))
    else:
        main()
