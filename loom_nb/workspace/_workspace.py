"""A run's workspace: a git worktree of the project on branch `loom/<session>`, from the user's HEAD.

The user's working tree, index and branch are not touched while the run goes on: the worktree lives
under `<project>/.loom/worktrees/<session>` (kept out of `git status` through `.git/info/exclude`,
which is not part of the working tree). Every applied edit is one commit, authored by the agent and
its role, with trailers naming session, agent and task. Afterwards the user diffs, merges (refused
while the touched files are dirty or the merge would conflict), undoes loom's own commits, or
discards the worktree and its branch. A worktree whose kernel died is found again as stale.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._pids import alive
from ._git import GitError, git, toplevel

__all__ = ["Commit", "Workspace", "WorkspaceError", "WorkspaceInfo"]

WORKTREES = Path(".loom") / "worktrees"
TRAILERS = ("Loom-Session", "Loom-Agent", "Loom-Role", "Loom-Task")
_SESSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class WorkspaceError(ValueError):
    """The workspace cannot do what was asked; the message says what to do instead."""


@dataclass(frozen=True, kw_only=True)
class Commit:
    """One of loom's commits in a workspace."""

    sha: str
    message: str
    agent: str = ""
    role: str = ""
    task: str = ""
    files: tuple[str, ...] = ()
    insertions: int = 0
    deletions: int = 0
    ts: float = 0.0


@dataclass(frozen=True, kw_only=True)
class WorkspaceInfo:
    """A loom worktree found in a project (for listing and cleaning up)."""

    session_id: str
    path: Path
    branch: str
    live: bool
    """Its run is still going (its process is alive)."""
    stale: bool
    """Its process died without releasing it (a killed kernel): offered for cleanup."""
    commits: int = 0
    created: float = 0.0


@dataclass(eq=False)
class Workspace:
    """Create with `Workspace.create(project, session_id)`; reopen with `Workspace.open(...)`."""

    project: Path
    """The repository root the user works in."""
    session_id: str
    path: Path
    """The worktree directory agents write in."""
    base: str
    """The commit the run started from (the user's HEAD then)."""
    user_branch: str | None
    """The branch the user was on (None if detached)."""
    _meta: Path = field(repr=False)
    _ready: threading.Event = field(default_factory=threading.Event, repr=False)
    _failed: str | None = field(default=None, repr=False)
    _holding: bool = field(default=False, repr=False)
    """This instance is the run's own (hold() was called on it): it may undo while the run goes on."""

    @property
    def branch(self) -> str:
        return f"loom/{self.session_id}"

    # lifecycle ----------------------------------------------------------------------------------

    @classmethod
    def create(cls, project: str | os.PathLike[str], session_id: str, *, background: bool = True) -> Workspace:
        """The worktree and its branch. With `background` (the default) the files are written on a
        thread while the run starts (the lead's first turn takes longer than that); everything that
        touches them waits for `wait_ready()`. Writing 10,000 files costs seconds on some disks, and
        nothing needs them before the first tool call."""
        if not _SESSION.match(session_id):
            raise WorkspaceError(f"session id {session_id!r} cannot name a branch; use letters, digits, . _ -")
        root = toplevel(project)
        if root is None:
            raise WorkspaceError(
                f"{os.fspath(project)} is not a git repository, so agents cannot write there: run "
                "`git init && git add -A && git commit -m start` in it to enable writes (or run read-only)"
            )
        head = git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        if head.returncode != 0:
            raise WorkspaceError(f"{root} has no commit yet: commit once (`git commit -m start`) to enable writes")
        base = head.stdout.strip()
        user_branch = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip() or None
        path = root / WORKTREES / session_id
        meta = root / WORKTREES / f"{session_id}.json"
        if path.exists() or meta.exists():
            raise WorkspaceError(
                f"session {session_id} already has a workspace at {path}; discard it or pick another id"
            )
        if git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/loom/{session_id}", check=False).returncode == 0:
            raise WorkspaceError(f"branch loom/{session_id} exists already; discard that session or pick another id")
        _exclude(root)
        path.parent.mkdir(parents=True, exist_ok=True)
        git(root, "worktree", "add", "--quiet", "--no-checkout", "-b", f"loom/{session_id}", str(path), base)
        ws = cls(project=root, session_id=session_id, path=path, base=base, user_branch=user_branch, _meta=meta)
        ws._write_meta(live=True)
        if background:
            threading.Thread(target=ws._checkout, name=f"loom-checkout-{session_id}", daemon=True).start()
        else:
            ws._checkout()
            ws.wait_ready()
        return ws

    def _git(self, *args: str, env: dict[str, str] | None = None, **kw: Any) -> Any:
        """git in the worktree, its git directory pinned: the worktree's `.git` file is the agents' to
        write (a shell command could), so loom never lets it decide which repository git works on."""
        pinned = {"GIT_DIR": str(self._git_dir), "GIT_WORK_TREE": str(self.path), **(env or {})}
        return git(self.path, *args, env=pinned, **kw)

    @functools.cached_property
    def _git_dir(self) -> Path:
        common = Path(git(self.project, "rev-parse", "--git-common-dir").stdout.strip())
        common = common if common.is_absolute() else self.project / common
        # git names a worktree's directory after the folder, adding a number when that is taken
        for d in (common / "worktrees").iterdir():
            if (d / "gitdir").is_file() and Path(
                (d / "gitdir").read_text().strip()
            ).parent.resolve() == self.path.resolve():
                return d
        raise WorkspaceError(f"the git directory of {self.path} is missing; discard the workspace")

    def _checkout(self) -> None:
        try:
            self._git("reset", "--hard", "--quiet", self.base)
        except GitError as exc:
            self._failed = str(exc)
        finally:
            self._ready.set()

    @property
    def ready(self) -> bool:
        """The worktree's files are all written."""
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the files are written; WorkspaceError if writing them failed."""
        if not self._ready.wait(timeout):
            raise WorkspaceError(f"the workspace of session {self.session_id} is still being written after {timeout} s")
        if self._failed is not None:
            raise WorkspaceError(f"the workspace of session {self.session_id} could not be written: {self._failed}")

    @classmethod
    def open(cls, project: str | os.PathLike[str], session_id: str) -> Workspace:
        root = toplevel(project)
        meta = (root or Path(project)) / WORKTREES / f"{session_id}.json"
        if root is None or not meta.is_file():
            raise WorkspaceError(f"no workspace for session {session_id!r} in {os.fspath(project)}; "
                                 "Workspace.list(project) shows the ones there are")  # fmt: skip
        data = json.loads(meta.read_text())
        opened = cls(
            project=root,
            session_id=session_id,
            path=root / WORKTREES / session_id,
            base=data["base"],
            user_branch=data.get("user_branch"),
            _meta=meta,
        )
        opened._ready.set()
        return opened

    @classmethod
    def list(cls, project: str | os.PathLike[str]) -> list[WorkspaceInfo]:
        """Every loom workspace of the project, newest first; `stale` marks those of dead processes."""
        root = toplevel(project)
        if root is None:
            return []
        found = []
        for meta in (root / WORKTREES).glob("*.json"):
            try:
                data = json.loads(meta.read_text())
            except (OSError, ValueError):
                continue
            live = bool(data.get("live")) and _alive(data.get("pid"), data.get("host"))
            session = meta.stem
            count = git(root, "rev-list", "--count", f"{data['base']}..loom/{session}", check=False).stdout.strip()
            found.append(
                WorkspaceInfo(
                    session_id=session,
                    path=root / WORKTREES / session,
                    branch=f"loom/{session}",
                    live=live,
                    stale=bool(data.get("live")) and not live,
                    commits=int(count) if count.isdigit() else 0,
                    created=data.get("created", 0.0),
                )
            )
        return sorted(found, key=lambda i: i.created, reverse=True)

    @classmethod
    def open_newest(cls, project: str | os.PathLike[str], session_id: str | None = None) -> Workspace:
        """The session's workspace, or the project's newest one (WorkspaceError when there is none)."""
        if session_id is None:
            infos = cls.list(project)
            if not infos:
                raise WorkspaceError(
                    f"no loom workspace in {os.fspath(project)}: only runs whose agents write have one"
                )
            session_id = infos[0].session_id
        return cls.open(project, session_id)

    @classmethod
    def discard_stale(cls, project: str | os.PathLike[str]) -> list[str]:
        """Discard the workspaces whose process died (killed kernels); the sessions discarded."""
        stale = [info.session_id for info in cls.list(project) if info.stale]
        for session in stale:
            cls.open(project, session).discard()
        return stale

    def release(self) -> None:
        """The run ended: the workspace stays for diff / merge / undo / discard, no longer live."""
        self._write_meta(live=False)
        self._holding = False

    def hold(self) -> None:
        """A swarm run works here now: merge, undo and discard from elsewhere are refused until it has
        ended (release())."""
        self._write_meta(live=True, running=True)
        self._holding = True

    def _refuse_while_running(self, action: str) -> None:
        if self._holding:
            return
        meta = json.loads(self._meta.read_text()) if self._meta.is_file() else {}
        if meta.get("running") and meta.get("live") and _alive(meta.get("pid"), meta.get("host")):
            raise WorkspaceError(
                f"session {self.session_id} is still running (its agents may still edit, and approvals of its "
                f"outcomes may be pending): {action} once it has ended, or stop it first (%loom stop)"
            )

    def discard(self) -> None:
        """Remove the worktree and its branch (nothing of the user's is touched)."""
        self.wait_ready()
        self._refuse_while_running("discard")
        if self.path.exists():
            done = git(self.project, "worktree", "remove", "--force", str(self.path), check=False)
            if done.returncode != 0 and self.path.exists():
                shutil.rmtree(self.path)
        git(self.project, "worktree", "prune", check=False)
        git(self.project, "branch", "-D", self.branch, check=False)
        self._meta.unlink(missing_ok=True)

    # edits --------------------------------------------------------------------------------------

    def commit(self, paths: list[str] | None, message: str, *, agent: str, role: str, task: str = "") -> Commit | None:
        """Commit these paths of the worktree (added, changed or deleted; None: everything, as after a
        shell command) as one attributed commit; None when they hold no change.

        Plumbing, not `git commit`: only the named paths are looked at (porcelain refreshes the
        whole index, a stat of every file), and the tree is written from git's cache-tree."""
        self.wait_ready()
        if paths is not None and not paths:
            raise WorkspaceError("commit needs the paths that changed")
        if paths is None:
            self._git("add", "--all")
        else:
            self._git("update-index", "--add", "--remove", "--replace", "--", *paths)
        parent, parent_tree = self._git("rev-parse", "HEAD", "HEAD^{tree}").stdout.split()
        tree = self._git("write-tree").stdout.strip()
        if tree == parent_tree:
            return None
        trailers = {"Loom-Session": self.session_id, "Loom-Agent": agent, "Loom-Role": role, "Loom-Task": task}
        subject = _one_line(message) or "edit"
        body = subject + "\n\n" + "\n".join(f"{k}: {_one_line(v)}" for k, v in trailers.items() if v) + "\n"
        env = {
            "GIT_AUTHOR_NAME": f"{agent} ({role})",
            "GIT_AUTHOR_EMAIL": f"{_slug(agent)}.{_slug(role)}@loom-nb.invalid",
            **_LOOM_COMMITTER,
        }
        sha = self._git("commit-tree", tree, "-p", parent, "-F", "-", input=body.encode(), env=env).stdout.strip()
        self._git("update-ref", "-m", f"loom: {subject}"[:200], "HEAD", sha, parent)
        files, plus, minus = _numstat(self._git("diff-tree", "--numstat", "-r", parent, sha).stdout)
        return Commit(
            sha=sha,
            message=subject,
            agent=agent,
            role=role,
            task=task,
            files=files,
            insertions=plus,
            deletions=minus,
            ts=time.time(),
        )

    def commits(self) -> list[Commit]:
        """loom's commits of this session, oldest first."""
        out = self._git("rev-list", "--reverse", f"{self.base}..{self.branch}").stdout.split()
        return [self._commit(sha) for sha in out]

    def _commit(self, rev: str) -> Commit:
        fmt = "%H%x00%B%x00%ct%x00" + "%x00".join(f"%(trailers:key={k},valueonly,separator=)" for k in TRAILERS)
        show = self._git("show", "-s", f"--format={fmt}", rev).stdout
        sha, message, ts, _session, agent, role, task = (show.split("\x00") + [""] * 7)[:7]
        files, plus, minus = _numstat(self._git("diff-tree", "--no-commit-id", "--numstat", "-r", "--root", sha).stdout)
        subject = message.strip().split("\n\n")[0]
        return Commit(
            sha=sha,
            message=subject,
            agent=agent.strip(),
            role=role.strip(),
            task=task.strip(),
            files=files,
            insertions=plus,
            deletions=minus,
            ts=float(ts or 0),
        )

    # after the run ------------------------------------------------------------------------------

    def diff(self) -> str:
        """The whole session as one unified diff against where it started."""
        return git(self.project, "diff", "--no-color", "--no-ext-diff", f"{self.base}...{self.branch}").stdout

    def changed_files(self) -> list[str]:
        out = git(self.project, "diff", "--name-only", "-z", f"{self.base}...{self.branch}").stdout
        return [p for p in out.split("\x00") if p]

    def merge(self) -> str:
        """Merge the session into the user's branch; returns the merge commit. Refused (nothing changed)
        if the user's HEAD is detached, the touched files are dirty, or the merge would conflict."""
        self.wait_ready()
        self._refuse_while_running("merge")
        current = git(self.project, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
        if not current:
            raise WorkspaceError("your HEAD is detached: check out the branch to merge into, then merge again")
        touched = self.changed_files()
        if not touched:
            raise WorkspaceError(f"session {self.session_id} changed nothing; there is nothing to merge")
        dirty = git(self.project, "status", "--porcelain", "-z", "--", *touched).stdout
        dirty_files = sorted({entry[3:] for entry in dirty.split("\x00") if len(entry) > 3})
        if dirty_files:
            raise WorkspaceError(
                f"your working tree has uncommitted changes to files this session touched ({', '.join(dirty_files[:5])}"
                f"{' ...' if len(dirty_files) > 5 else ''}): commit or stash them, then merge again"
            )
        trial = git(self.project, "merge-tree", "--write-tree", "--name-only", "HEAD", self.branch, check=False)
        if trial.returncode == 1:
            conflicted = [p for p in trial.stdout.split("\n\n")[0].splitlines()[1:] if p]
            raise WorkspaceError(
                f"merging session {self.session_id} into {current} would conflict in {', '.join(conflicted[:5])}: "
                "resolve by hand (git merge " + self.branch + ") or undo the session's conflicting commits"
            )
        if trial.returncode != 0:
            raise GitError(f"git merge-tree failed: {trial.stderr.strip()}")
        count = len(self.commits())
        message = f"loom: merge session {self.session_id} ({count} commit{'s' * (count != 1)})"
        git(self.project, "merge", "--no-ff", "--no-edit", "-m", message, self.branch)
        return git(self.project, "rev-parse", "HEAD").stdout.strip()

    def undo(self, last: int | None = None) -> list[Commit]:
        """Revert loom's own commits of this session (the newest `last` of them, or all), newest first,
        as new commits in the workspace; returns what was reverted."""
        self.wait_ready()
        self._refuse_while_running("undo")
        ours = [c for c in self.commits() if c.agent and not c.message.startswith("Revert ")]
        reverted_shas = set(
            re.findall(r"This reverts commit ([0-9a-f]{40})", self._git("log", f"{self.base}..HEAD").stdout)
        )
        ours = [c for c in ours if c.sha not in reverted_shas]
        if last is not None:
            if last < 1:
                raise WorkspaceError(f"--last takes a number of commits >= 1; got {last}")
            ours = ours[-last:]
        for commit in reversed(ours):
            self.revert(commit.sha)
        return list(reversed(ours))

    def revert(self, sha: str) -> None:
        """Revert one commit of the session as a new commit (by loom-nb)."""
        self.wait_ready()
        env = {**_LOOM_COMMITTER, "GIT_AUTHOR_NAME": "loom-nb", "GIT_AUTHOR_EMAIL": "loom-nb@loom-nb.invalid"}
        try:
            self._git("revert", "--no-edit", sha, env=env)
        except GitError:  # a later commit changed the same lines: never leave conflict markers behind
            self._git("revert", "--abort", check=False)
            raise WorkspaceError(
                f"commit {sha[:10]} cannot be reverted alone (a later commit of the session changed the same "
                f"lines); nothing was changed: undo the whole session (%loom undo) or discard it"
            ) from None

    def show(self, shas: list[str]) -> str:
        """The commits' own diffs, one after another (what a task changed)."""
        if not shas:
            return ""
        return self._git("show", "--no-color", "--no-ext-diff", "--format=commit %H%n%s%n", *shas).stdout

    # bookkeeping --------------------------------------------------------------------------------

    def _write_meta(self, *, live: bool, running: bool = False) -> None:
        data = {
            "running": running,
            "session": self.session_id,
            "base": self.base,
            "user_branch": self.user_branch,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "live": live,
            "created": time.time(),
        }
        if self._meta.is_file():
            data["created"] = json.loads(self._meta.read_text()).get("created", data["created"])
        tmp = self._meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._meta)


def _exclude(root: Path) -> None:
    """Keep .loom/ out of the user's `git status` without touching their tracked files."""
    info = Path(git(root, "rev-parse", "--git-path", "info/exclude").stdout.strip())
    if not info.is_absolute():
        info = root / info
    lines = info.read_text().splitlines() if info.is_file() else []
    if "/.loom/" not in lines:
        info.parent.mkdir(parents=True, exist_ok=True)
        info.write_text("\n".join([*lines, "/.loom/"]) + "\n")


def _alive(pid: object, host: object) -> bool:
    if host != socket.gethostname():
        return True  # another machine's: not ours to judge
    return isinstance(pid, int) and alive(pid)


_LOOM_COMMITTER = {"GIT_COMMITTER_NAME": "loom-nb", "GIT_COMMITTER_EMAIL": "loom-nb@loom-nb.invalid"}


def _numstat(out: str) -> tuple[tuple[str, ...], int, int]:
    files, plus, minus = [], 0, 0
    for line in out.splitlines():
        added, deleted, name = line.split("\t", 2)
        files.append(name)
        plus += int(added) if added.isdigit() else 0
        minus += int(deleted) if deleted.isdigit() else 0
    return tuple(files), plus, minus


def _one_line(value: str) -> str:
    return " ".join(value.split())[:200]


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-") or "agent"
