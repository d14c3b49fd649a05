"""content_search over the Python standard library: the `rg` binary itself, loom_nb's ripgrep path
(rg plus parsing and sorting) and the pure-Python fallback. Checks that all three agree.

Usage: python benchmarks/bench_search.py [--repeats 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sysconfig
import time
from pathlib import Path

from loom_nb.tools import Scope, search
from loom_nb.tools._search import ripgrep_command

PATTERNS = [
    ("allow_nan", False),  # rare identifier
    (r"def \w+_nan", False),  # regex with a class
    ("json", True),  # common word, case-insensitive
    (r"TODO|FIXME|XXX", False),  # alternation
    (r"^\s*class \w+Error\(", False),  # anchored
]


def rg_binary(root: Path, pattern: str, ignore_case: bool) -> list[tuple[str, int]]:
    """The same command loom_nb runs, parsed as plainly as possible."""
    args = ripgrep_command("rg", pattern, ".", ignore_case=ignore_case)
    out = subprocess.run(args, cwd=root, capture_output=True).stdout
    hits = []
    for row in out.split(b"\n"):
        if row:
            path, _, rest = row.partition(b"\0")
            hits.append((path.decode(errors="replace").removeprefix("./"), int(rest.partition(b":")[0])))
    return sorted(hits)


def timed(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "search.json")
    args = parser.parse_args()
    if not shutil.which("rg"):
        raise SystemExit("rg is not on PATH: `make bench` installs ripgrep")
    root = Path(sysconfig.get_paths()["stdlib"])
    scope = Scope(root)
    files = sum(1 for p in root.rglob("*") if p.is_file())
    print(f"tree: {root} ({files:,} files)")
    rows = []
    for pattern, ignore_case in PATTERNS:
        t_bin, hits_bin = timed(lambda: rg_binary(root, pattern, ignore_case), args.repeats)  # noqa: B023
        t_rg, m_rg = timed(
            lambda: asyncio.run(search(scope, pattern, ignore_case=ignore_case, engine="rg")),  # noqa: B023
            args.repeats,
        )
        t_py, m_py = timed(
            lambda: asyncio.run(search(scope, pattern, ignore_case=ignore_case, engine="python")),  # noqa: B023
            max(1, args.repeats // 2),
        )
        same = [(m.path, m.line) for m in m_rg] == hits_bin and m_rg == m_py
        row = {
            "pattern": pattern,
            "ignore_case": ignore_case,
            "matches": len(m_rg),
            "identical": same,
            "rg_binary_s": t_bin,
            "rg_path_s": t_rg,
            "python_s": t_py,
            "rg_path_over_binary": t_rg / t_bin,
            "python_over_binary": t_py / t_bin,
        }
        rows.append(row)
        print(
            f"/{pattern}/{'i' if ignore_case else ''}: {len(m_rg):>6} matches  identical={same}  "
            f"rg binary {t_bin * 1000:7.1f} ms  rg path {t_rg * 1000:7.1f} ms ({row['rg_path_over_binary']:.2f}x)  "
            f"python {t_py * 1000:8.1f} ms ({row['python_over_binary']:.1f}x)",
            flush=True,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"tree": str(root), "files": files, "rows": rows}, indent=2))
    print(f"results: {args.json}")
    if not all(r["identical"] for r in rows):
        raise SystemExit("the engines disagree")


if __name__ == "__main__":
    main()
