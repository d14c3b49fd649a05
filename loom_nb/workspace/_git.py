"""git through argv lists (never a shell), with errors that say what git said."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["GitError", "git"]


class GitError(RuntimeError):
    """git refused or failed; the message carries its own words."""


# Hooks, pagers, editors and prompts of the user's configuration must not run or wait inside a swarm.
_QUIET_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
    "GIT_EDITOR": "true",
    "GIT_OPTIONAL_LOCKS": "0",
    "LC_ALL": "C",
}


def git(
    cwd: str | os.PathLike[str],
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    text: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `git -C cwd args...`; GitError when it fails and check is set."""
    full_env = {**os.environ, **_QUIET_ENV, **(env or {})}
    # No hooks and no fsmonitor: a repository (or a worktree an agent tampered with) runs nothing of its own
    argv: Sequence[str] = [
        "git", "-C", os.fspath(cwd), "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", *args
    ]  # fmt: skip
    try:
        done = subprocess.run(
            argv,
            input=input.decode() if (input is not None and text) else input,
            capture_output=True,
            env=full_env,
            text=text,
            check=False,
        )  # type: ignore[call-overload]
    except FileNotFoundError:
        raise GitError("git is not installed; install it (apt-get install git) to let agents write") from None
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout or "").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {said[-1] if said else f'exit {done.returncode}'}")
    return done  # type: ignore[no-any-return]


def toplevel(path: str | os.PathLike[str]) -> Path | None:
    """The repository root containing path, or None outside a repository."""
    done = git(path, "rev-parse", "--show-toplevel", check=False)
    return Path(done.stdout.strip()) if done.returncode == 0 else None
