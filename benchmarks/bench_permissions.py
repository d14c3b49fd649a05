"""Permission decisions with a realistic 200-rule policy (target: <= 20 us median per decision).

Three kinds of call: a write checked against path globs, a shell command seen before (its parse is
cached: agents repeat their test command), and a new shell command (parsed with tree-sitter).

Usage: python benchmarks/bench_permissions.py [--rules 200] [--calls 20000] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time

from loom_nb.permissions import PermissionGate, Policy, Rule, split_command


def policy_with(n: int) -> Policy:
    rules = []
    for i in range(n):
        match i % 4:
            case 0:
                rules.append(Rule(action="deny", command=f"tool{i} --force"))
            case 1:
                rules.append(Rule(action="allow", command=f"tool{i}"))
            case 2:
                rules.append(Rule(action="ask", path=f"area{i}/**/*.py"))
            case _:
                rules.append(Rule(action="deny", path=f"secret{i}/", role="researcher"))
    return Policy(preset="balanced", rules=rules, test_command="make test")


def time_calls(fn, calls: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for i in range(calls):
        t = time.perf_counter_ns()
        fn(i)
        times.append((time.perf_counter_ns() - t) / 1000)
    return times


def approval_latency(rounds: int) -> list[float]:
    """An answer given on another thread (as a widget's click on a subshell thread is) until the
    waiting tool call goes on, in ms."""
    gate = PermissionGate(Policy(preset="strict"))
    asked = threading.Event()
    gate.queue.subscribe(lambda request, answer: answer is None and asked.set())
    latencies: list[float] = []

    async def one() -> None:
        asked.clear()
        stamp: list[float] = []

        def click() -> None:
            asked.wait()
            (request,) = gate.queue.pending()
            stamp.append(time.perf_counter())
            gate.queue.answer(request.id, "allow", by="widget")

        thread = threading.Thread(target=click)
        thread.start()
        result = await gate.check("shell", {"command": "make test"})
        latencies.append((time.perf_counter() - stamp[0]) * 1000)
        assert result.allowed
        thread.join()

    async def all_rounds() -> None:
        for _ in range(rounds):
            await one()

    asyncio.run(all_rounds())
    return latencies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=int, default=200)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--json")
    args = ap.parse_args()
    policy = policy_with(args.rules)
    paths = [f"src/pkg{i % 50}/module{i % 7}.py" for i in range(args.calls)]
    cases = {
        "write (path rules)": lambda i: policy.decide("file_write", {"path": paths[i]}, role="implementer"),
        "shell, seen before": lambda i: policy.decide("shell", {"command": "make test && git diff --stat"}),
        "shell, new command": lambda i: policy.decide("shell", {"command": f"pytest -k case{i} | tail -n {i}"}),
        "read": lambda i: policy.decide("file_read", {"path": paths[i]}),
    }
    for fn in cases.values():  # warm the per-tool index
        fn(0)
    split_command.cache_clear()
    results = {}
    for name, fn in cases.items():
        times = time_calls(fn, args.calls)
        times.sort()
        results[name] = {
            "median_us": statistics.median(times),
            "p99_us": times[int(len(times) * 0.99)],
        }
        print(f"{name:22} median {results[name]['median_us']:7.1f} us   p99 {results[name]['p99_us']:7.1f} us")
    print(f"({args.rules} rules, {args.calls} calls each; target: median <= 20 us)")
    latencies = sorted(approval_latency(200))
    results["approval answer to tool running"] = {
        "median_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99)],
    }
    print(
        f"approval answered on another thread -> the call goes on: median {statistics.median(latencies):.3f} ms,"
        f" p99 {latencies[int(len(latencies) * 0.99)]:.3f} ms (target 100 ms, click included: see bench_kernel)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rules": args.rules, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
