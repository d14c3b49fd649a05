"""Scheduling a 1,000-task plan: check_plan, then a Scheduler driving every task to done in
dependency order (a task is started as soon as ready() offers it and finished in the order started).

The plan is a random DAG (seeded): each task depends on ~3 earlier tasks, kinds mixed (blocks,
requires_output, informs). Median and p99 of 20 runs; target <= 50 ms (issue 10, item 9).

Usage: python benchmarks/bench_plan.py [--tasks N] [--runs N] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import deque

from loom_nb.swarm import Dep, Scheduler, Task, check_plan

ROLES = ["researcher", "architect", "implementer", "tester", "reviewer"]
KINDS = ["blocks", "requires_output", "informs"]
TARGET_MS = 50.0


def random_plan(n: int, deps_per_task: int, seed: int) -> list[Task]:
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        earlier = rng.sample(range(i), min(i, deps_per_task))
        tasks.append(
            Task(
                id=f"t{i}",
                role=rng.choice(ROLES),
                prompt=f"step {i} of the change",
                deps=tuple(Dep(task=f"t{j}", kind=rng.choice(KINDS)) for j in earlier),  # type: ignore[arg-type]
            )
        )
    rng.shuffle(tasks)  # plan order is not dependency order
    return tasks


def schedule(tasks: list[Task]) -> list[str]:
    """Check the plan and run it to the end; returns the order tasks finished in."""
    check_plan(tasks, ROLES, max_tasks=len(tasks))
    s = Scheduler(tasks)
    running: deque[str] = deque()
    order = []
    while True:
        for t in s.ready():
            s.start(t.id)
            running.append(t.id)
        if not running:
            break
        done = running.popleft()
        s.inputs(done)  # what the crew reads for each task's prompt
        s.finish(done, f"output of {done}")
        order.append(done)
    return order


def verify(tasks: list[Task], order: list[str]) -> None:
    """Every task done, and each after the tasks it waits on."""
    at = {tid: i for i, tid in enumerate(order)}
    assert len(order) == len(tasks) == len(at), "not every task ran exactly once"
    for t in tasks:
        for d in t.deps:
            if d.kind != "informs":
                assert at[d.task] < at[t.id], f"{t.id} finished before {d.task}, which it waits on"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--deps", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=10)
    args = ap.parse_args()
    tasks = random_plan(args.tasks, args.deps, args.seed)
    verify(tasks, schedule(tasks))
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        schedule(tasks)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    median = statistics.median(times)
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    edges = sum(len(t.deps) for t in tasks)
    print(f"plan: {args.tasks} tasks, {edges} dependencies (seed {args.seed}), {args.runs} runs")
    print(f"check_plan + schedule to done: median {median:.2f} ms, p99 {p99:.2f} ms, min {times[0]:.2f} ms")
    print(f"target <= {TARGET_MS:.0f} ms: {'met' if median <= TARGET_MS else 'MISSED'}")


if __name__ == "__main__":
    main()
