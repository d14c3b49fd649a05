"""The swarm's framework time per model turn (issue 10, item 9): 100 specialists at once on a fake
model (K=3 tool turns, then a final answer, latency L=50 ms per turn), with everything a swarm does
around a turn: the crew's processes and supervisors, the permission gate deciding every call, the post
office routing a message per agent, complete_task, task statuses, and the recorder writing every event
to a DuckDB file.

ideal = (K + 1) * L   (every agent in parallel, zero framework cost; the plan is given, the lead's
                       answer turn has no latency)
framework time per turn = (wall of swarm.run() - ideal) / (N * (K + 1))

Each mode runs in a fresh process, alternating, and medians are reported: recorded (the default) and
unrecorded (record=False), so the recorder's share shows.

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


async def one_run(n: int, latency: float, record: bool, directory: Path) -> float:
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
    started = time.perf_counter()
    result = await swarm.run()
    wall = time.perf_counter() - started
    assert result.status == "done", result.error
    assert all(r.status == "done" for r in result.tasks), [r.error for r in result.tasks if r.status != "done"]
    return wall


async def compare_one(mode: str, n: int, latency: float, repeats: int) -> dict:
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "a.py").write_text("x = 1\n")
        for _ in range(repeats + 1):  # the first run warms imports and caches
            gc.collect()
            cpu = time.process_time()
            walls.append(await one_run(n, latency, mode == "recorded", directory))
            cpus.append(time.process_time() - cpu)
    ideal = (K + 1) * latency
    turns = n * (K + 1)
    return {
        "mode": mode,
        "framework_ms_per_turn": [(w - ideal) / turns * 1000 for w in walls[1:]],
        "cpu_ms_per_turn": [c / turns * 1000 for c in cpus[1:]],
        "wall_s": walls[1:],
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
    summary = {}
    for mode, rs in runs.items():
        per_turn = [v for r in rs for v in r["framework_ms_per_turn"]]
        cpu = [v for r in rs for v in r["cpu_ms_per_turn"]]
        summary[mode] = {
            "framework_ms_per_turn_median": statistics.median(per_turn),
            "framework_ms_per_turn_min": min(per_turn),
            "cpu_ms_per_turn_median": statistics.median(cpu),
            "runs": len(per_turn),
        }
        row = summary[mode]
        print(
            f"{mode:>10}: N={args.n} K={K} L={args.latency * 1000:.0f} ms  framework/turn median "
            f"{row['framework_ms_per_turn_median']:.4f} ms (min {row['framework_ms_per_turn_min']:.4f})"
            f"  process CPU/turn {summary[mode]['cpu_ms_per_turn_median']:.3f} ms  ({len(per_turn)} runs)",
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
