"""The `loom-nb` command line: `loom-nb subagent "task" [more tasks] --scope lib/`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict

from ._safe import terminal  # model and file text: its escape sequences are shown, not obeyed

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loom-nb", description="LLM agent swarms, from a notebook or a shell.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("subagent", help="run read-only search sub-agents on a codebase and print their findings")
    p.add_argument("tasks", nargs="+", metavar="TASK", help="what to find (several tasks run in parallel)")
    p.add_argument("--project", default=".", help="project root (default: the current directory)")
    p.add_argument("--scope", default=None, help="directory inside the project to search (default: all of it)")
    p.add_argument(
        "--model",
        default=None,
        help="model string, e.g. anthropic:claude-haiku-4-5 or offline "
        "(default: [model] weak in .loom.toml, else offline without ANTHROPIC_API_KEY)",
    )
    p.add_argument("--max-concurrency", type=int, default=4, help="sub-agents running at once (default 4)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="print each tool call to stderr as it happens")
    return parser


def _print_findings(findings: list, as_json: bool) -> None:
    if as_json:
        print(json.dumps([asdict(f) for f in findings], indent=2, default=str))
        return
    for i, f in enumerate(findings, 1):
        header = f"── sub-agent {i}/{len(findings)}: {terminal(f.task)}"
        print(header)
        print(terminal(f.text.rstrip()))
        cost = "unknown" if f.cost_usd is None else f"${f.cost_usd:.4f}"
        flags = " · PARTIAL (iteration limit)" if f.partial and not f.error else ""
        flags += f" · FAILED: {terminal(f.error)}" if f.error else ""
        print(
            f"[{f.model} · {f.iterations} iterations · {f.usage.input_tokens + f.usage.cache_read_tokens:,} in /"
            f" {f.usage.output_tokens:,} out tokens · {cost} · {len(f.evidence)} evidence lines verified ·"
            f" {f.elapsed_s:.2f} s{flags}]"
        )
        print()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .agents._sub_agent import sub_agents
    from .config import ConfigError
    from .events import EventBus, ToolCallEvent
    from .models import ModelError, UnknownModel
    from .tools import ToolError

    bus = EventBus()
    if args.verbose:

        def show(event: object) -> None:
            if isinstance(event, ToolCallEvent):
                print(
                    f"  {event.agent}: {terminal(event.tool)}({terminal(event.args_summary)}) {event.outcome} "
                    f"{event.duration_s * 1000:.0f} ms",
                    file=sys.stderr,
                )

        bus.subscribe(show)
    try:
        findings = sub_agents(
            args.tasks,
            scope=args.scope,
            project=args.project,
            model=args.model,
            max_concurrency=args.max_concurrency,
            bus=bus,
        )
    except (ConfigError, ModelError, UnknownModel, ToolError, ValueError) as exc:
        print(f"loom-nb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("loom-nb: interrupted", file=sys.stderr)
        return 130
    _print_findings(findings, args.json)
    return 1 if any(f.error for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
