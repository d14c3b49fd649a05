"""Workspaces on a 10,000-file repository: creating the worktree (target <= 1 s) and a commit per
edit (target <= 30 ms median). The files of a new worktree are written in the background while the
run starts; the benchmark reports both the creation and the time until every file is there (and, as
the floor of that second figure on this disk, `cp -r` of the same tree).

Usage: python benchmarks/bench_workspace.py [--files 10000] [--edits 50] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from loom_nb.workspace import Workspace


def make_repo(root: Path, files: int) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    for i in range(files):
        d = root / f"pkg{i % 100}" / f"sub{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"module{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n" * 5)
    env = ["-c", "user.name=bench", "-c", "user.email=bench@example.org"]
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), *env, "commit", "-qm", "start"], check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--edits", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        make_repo(root, args.files)
        creates, readies, commits = [], [], []
        t = time.perf_counter()
        subprocess.run(["cp", "-r", str(root), str(Path(tmp) / "copy")], check=True)
        copy_s = time.perf_counter() - t
        for r in range(args.rounds):
            t = time.perf_counter()
            ws = Workspace.create(root, f"bench{r}")
            creates.append(time.perf_counter() - t)
            ws.wait_ready()
            readies.append(time.perf_counter() - t)
            for e in range(args.edits):
                path = f"pkg{e % 100}/sub{e % 7}/module{e}.py"
                (ws.path / path).write_text(f"# edit {r}.{e}\n" + (ws.path / path).read_text())
                t = time.perf_counter()
                ws.commit([path], f"edit {path}", agent="implementer-1", role="implementer", task="bench")
                commits.append(time.perf_counter() - t)
            ws.discard()
    result = {
        "files": args.files,
        "create_median_s": statistics.median(creates),
        "create_max_s": max(creates),
        "files_ready_median_s": statistics.median(readies),
        "cp_r_same_tree_s": copy_s,
        "commit_median_ms": statistics.median(commits) * 1000,
        "commit_p90_ms": sorted(commits)[int(len(commits) * 0.9)] * 1000,
    }
    print(
        f"{args.files} files: create worktree median {result['create_median_s']:.3f} s"
        f" (max {result['create_max_s']:.3f}; target 1 s); every file written after"
        f" {result['files_ready_median_s']:.2f} s in the background (cp -r of the tree: {copy_s:.2f} s);"
        f" commit per edit median {result['commit_median_ms']:.1f} ms"
        f" (p90 {result['commit_p90_ms']:.1f}; target 30 ms)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
