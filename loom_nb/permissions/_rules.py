"""Rules: allow / ask / deny a tool call by tool, command prefix or path glob, with the example
inputs each must and must not match (checked when the policy loads, so a broken rule is an error
then, not a surprise in the middle of a run)."""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Literal

from ._command import UnclearCommand, split_command

__all__ = ["Action", "PolicyError", "Rule"]

Action = Literal["allow", "ask", "deny"]
ACTIONS: tuple[Action, ...] = ("allow", "ask", "deny")


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the rule and the fix."""


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One line of a policy."""

    action: Action
    tool: str | None = None
    """A tool name or glob (`file_*`); None: any tool the rule's command or path applies to."""
    command: str | None = None
    """A command prefix, compared word by word (`git push` matches `git push -f origin`; `*` is any
    one word). Applies to every sub-command of a shell call."""
    path: str | None = None
    """A gitignore-style glob relative to the workspace (`src/**/*.py`, `.env`, `secrets/`)."""
    role: str | None = None
    """Only for agents of this role."""
    unless: tuple[str, ...] = ()
    """A command rule does not match when any later word starts with one of these (`--output`,
    `-c`): the options that turn a harmless program into one that writes files or runs others."""
    match: tuple[str, ...] = ()
    """Examples the rule must match (commands, paths, or tool names for a tool-only rule)."""
    not_match: tuple[str, ...] = ()
    """Examples it must not match."""
    source: str = "python"
    """Where it was written (`builtin`, `.loom.toml rule 3`, `python`, `approval`)."""
    reason: str = ""
    """Why it exists, shown with every decision it makes."""
    _prefix: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _path_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _tool_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise PolicyError(f"{self.where()}: action must be allow, ask or deny; got {self.action!r}")
        if self.command is not None and self.path is not None:
            raise PolicyError(f"{self.where()}: a rule takes a command or a path, not both; split it in two")
        if self.command is None and self.path is None and self.tool is None:
            raise PolicyError(f"{self.where()}: a rule needs a tool, a command or a path to match")
        for name in ("tool", "command", "path", "role", "reason"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise PolicyError(f"{self.where()}: {name} must be a string; got {value!r}")
        for name in ("match", "not_match", "unless"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise PolicyError(f"{self.where()}: {name} must be a list of strings; got {value!r}")
            object.__setattr__(self, name, tuple(value))
        prefix: tuple[str, ...] = ()
        if self.command is not None:
            try:
                prefix = tuple(shlex.split(self.command))
            except ValueError as exc:
                raise PolicyError(f"{self.where()}: command {self.command!r} does not split into words ({exc})")
            if not prefix:
                raise PolicyError(f"{self.where()}: command is empty; write the prefix to match, like 'git push'")
        object.__setattr__(self, "_prefix", prefix)
        path_re = None
        if self.path is not None:
            if not self.path.strip():
                raise PolicyError(f"{self.where()}: path is empty; write a glob like 'src/**/*.py'")
            path_re = _glob_regex(self.path)
        object.__setattr__(self, "_path_re", path_re)
        tool_re = None
        if self.tool is not None:
            tool_re = re.compile(fnmatch.translate(self.tool))
        object.__setattr__(self, "_tool_re", tool_re)

    # what it applies to ---------------------------------------------------------------------

    @property
    def kind(self) -> Literal["command", "path", "tool"]:
        return "command" if self.command is not None else ("path" if self.path is not None else "tool")

    @property
    def first_word(self) -> str | None:
        """The command's program (None for `*` and for rules without a command): the index key."""
        if not self._prefix or self._prefix[0] == "*":
            return None
        return self._prefix[0]

    def applies_to(self, tool: str, role: str | None) -> bool:
        if self.role is not None and self.role != role:
            return False
        if self._tool_re is not None:
            return self._tool_re.match(tool) is not None
        return True

    def matches_argv(self, argv: tuple[str, ...]) -> bool:
        prefix = self._prefix
        if len(argv) < len(prefix):
            return False
        for i, want in enumerate(prefix):
            got = argv[i]
            if i == 0:
                got = got.rsplit("/", 1)[-1] if "/" not in want else got
            if want != "*" and want != got:
                return False
        if self.unless:
            return not any(word.startswith(self.unless) for word in argv[1:])
        return True

    @property
    def path_regex(self) -> str:
        assert self._path_re is not None
        return self._path_re.pattern

    def matches_path(self, path: str) -> bool:
        assert self._path_re is not None
        return self._path_re.match(path) is not None

    def matches_example(self, example: str) -> bool:
        """Whether an example (a command, a path or a tool name, by the rule's kind) matches."""
        if self.kind == "command":
            try:
                subs = split_command(example)
            except UnclearCommand as exc:
                raise PolicyError(f"{self.where()}: example {example!r} is not a readable command ({exc})")
            return any(self.matches_argv(s.argv) for s in subs if self.action != "allow" or not s.wrapper)
        if self.kind == "path":
            return self.matches_path(normalise_path(example))
        return self.applies_to(example, self.role)

    def check_examples(self) -> None:
        for example in self.match:
            if not self.matches_example(example):
                raise PolicyError(f"{self.where()}: its example {example!r} (in match) does not match it; fix the rule")
        for example in self.not_match:
            if self.matches_example(example):
                raise PolicyError(f"{self.where()}: its example {example!r} (in not_match) matches it; fix the rule")

    # how it reads -----------------------------------------------------------------------------

    def where(self) -> str:
        return f"rule [{self.source}]"

    def describe(self) -> str:
        what = (
            f"command {self.command!r}"
            if self.command is not None
            else (f"path {self.path!r}" if self.path is not None else f"tool {self.tool!r}")
        )
        if self.tool is not None and self.kind != "tool":
            what += f" in {self.tool}"
        if self.role is not None:
            what += f" for role {self.role}"
        return f"{self.action} {what} [{self.source}]" + (f" ({self.reason})" if self.reason else "")


def normalise_path(path: str) -> str:
    """A workspace-relative POSIX path; `..` that climbs out of the workspace stays visible."""
    p = path.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return posixpath.normpath(p) if p else "."


def _glob_regex(glob: str) -> re.Pattern[str]:
    """A gitignore-style glob as a regex (pathspec's translation, the one .gitignore files use)."""
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

    try:
        regex, include = GitIgnoreSpecPattern.pattern_to_regex(glob)
    except Exception as exc:
        raise PolicyError(f"path glob {glob!r} is not valid ({exc})")
    if regex is None or not include:
        raise PolicyError(f"path glob {glob!r} matches nothing (negations and comments are not rules)")
    return re.compile(regex.replace("(?P<ps_d>/)", "/"))
