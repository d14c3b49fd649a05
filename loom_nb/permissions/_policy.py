"""The permission engine: every tool call is decided before it runs.

Order: deny rules, then ask rules, then allow rules, then the preset; deny always wins. A shell
command is split into every sub-command (see _command.py) and each is checked: one denied
sub-command denies the call, one asked asks, and the call is allowed only when every sub-command is.
Anything unclear (a command that does not parse, a hook that raises, a tool of unknown category) is
never allowed: it is asked. Every Decision carries one line saying which rule decided it.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ._command import SubCommand, UnclearCommand, split_command
from ._rules import ACTIONS, Action, PolicyError, Rule, normalise_path

__all__ = ["CATEGORIES", "PRESETS", "Category", "Decision", "Hook", "Policy"]

Category = Literal["read", "write", "execute", "coordination", "unknown"]
Preset = Literal["strict", "balanced", "autonomous"]

CATEGORIES: dict[str, Category] = {
    "file_read": "read",
    "file_search": "read",
    "content_search": "read",
    "directory_list": "read",
    "decision_query": "read",
    "workspace_diff": "read",
    "file_write": "write",
    "file_edit": "write",
    "file_delete": "write",
    "file_move": "write",
    "shell": "execute",
    "run_tests": "execute",
    "decision_log": "coordination",
    "send_message": "coordination",
    "ask": "coordination",
    "broadcast": "coordination",
    "sub_agent": "coordination",
}
"""Tools loom-nb ships; a tool may also declare its category (Tool.permission) when decided."""

PRESETS: dict[str, dict[Category, Action]] = {
    "strict": {"read": "allow", "coordination": "allow", "write": "ask", "execute": "ask"},
    "balanced": {"read": "allow", "coordination": "allow", "write": "allow", "execute": "ask"},
    "autonomous": {"read": "allow", "coordination": "allow", "write": "allow", "execute": "allow"},
}
"""What each preset does when no rule decides. Writes are only ever inside the run's worktree."""

PATH_ARGUMENTS = ("path", "source", "destination")
DEVICES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})

_B = "builtin"
BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(action="deny", path=".git", match=(".git/config", "sub/.git/HEAD"), not_match=(".gitignore", "src/git.py"),
         tool="file_*", source=_B, reason="git's own files change only through loom's commits"),
    Rule(action="deny", command="sudo", match=("sudo rm x", "ls && sudo -u root id"), not_match=("sudoku",),
         source=_B, reason="no privilege escalation"),
    Rule(action="deny", command="su", match=("su -c id",), not_match=("sum x",), source=_B,
         reason="no privilege escalation"),
    Rule(action="deny", command="doas", source=_B, reason="no privilege escalation"),
    Rule(action="deny", command="git push", match=("git push -f origin main", "bash -c 'git push'"),
         not_match=("git pull", "git status"), source=_B, reason="publishing is the user's call, after merge"),
    Rule(action="ask", path=".loom.toml", tool="file_*", match=(".loom.toml",), not_match=("a/.loom.toml.bak",),
         source=_B, reason="it holds the project's permission rules"),
)  # fmt: skip
"""In every preset (a user's rules come first, so a user's deny or ask still wins over these)."""

READ_ONLY_COMMANDS: dict[str, tuple[str, ...]] = {
    "ls": (), "pwd": (), "cat": (), "head": (), "wc": (), "echo": (), "true": (), "which": (),
    "tail": ("-f", "-F", "--follow", "--retry"),  # would wait forever
    "grep": ("-r", "-R", "--recursive", "--dereference-recursive", "-d", "--directories"),  # what it may read: a path
    "diff": ("-r", "--recursive", "--to-file", "--from-file"),
    "rg": ("--pre", "--search-zip", "-z"),  # --pre runs a program on every file
    # --output writes a file anywhere; --ext-diff and --textconv run configured programs
    "git status": (), "git diff": ("--output", "--ext-diff", "--textconv", "--no-index"),
    "git log": ("--output", "--ext-diff", "--textconv"), "git show": ("--output", "--ext-diff", "--textconv"),
}  # fmt: skip
"""Allowed by the balanced preset without asking (with the project's `[test] command`), unless one of
the options after it turns it into a program that writes files, runs others or never ends. No test
runner is on it by default: a test run executes whatever code the agents wrote (conftest.py), so
only a test command the user named in .loom.toml is allowed without asking."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """What the policy said about one tool call."""

    action: Action
    rule: Rule | None
    """The rule that decided; None when the preset or an unclear input did."""
    explain: str
    """One line: which rule (or preset) decided, and on what."""
    category: Category = "unknown"
    subject: str = ""
    """The sub-command or path that decided it."""
    unclear: bool = False
    """True when the input could not be read; such a call is never allowed without a human."""

    @property
    def allowed(self) -> bool:
        return self.action == "allow"

    def __str__(self) -> str:
        return self.explain


Hook = Callable[[str, Mapping[str, Any], "str | None"], "Decision | Action | None"]
"""`hook(tool, arguments, role)` may decide first (deny/ask/allow) or pass (None). A hook that raises
makes the call unclear (asked), never allowed."""


@dataclass
class _Index:
    """Rules that apply to one (tool, role), by action, commands by first word: decide() reads these."""

    by_action: dict[Action, list[Rule]]
    command_by_word: dict[Action, dict[str | None, list[Rule]]] = field(default_factory=dict)
    tool_rule: dict[Action, Rule | None] = field(default_factory=dict)
    """The first tool-only rule of each action (it decides every call of the tool)."""
    paths: dict[Action, tuple[re.Pattern[str], list[Rule]] | None] = field(default_factory=dict)
    """All path rules of an action as one regex (alternatives in rule order: the first match wins)."""

    def first_path_rule(self, action: Action, path: str) -> Rule | None:
        compiled = self.paths.get(action)
        if compiled is None:
            return None
        m = compiled[0].match(path)
        return None if m is None else compiled[1][int(m.lastgroup[1:])]  # type: ignore[index]


class Policy:
    """`Policy(preset="balanced", rules=[Rule(...)])`, or `Policy.load(project=".")` from .loom.toml;
    then `policy.decide(tool, arguments, role=...) -> Decision`."""

    def __init__(
        self,
        preset: str = "balanced",
        rules: Iterable[Rule | Mapping[str, Any]] = (),
        *,
        role_presets: Mapping[str, str] | None = None,
        test_command: str | None = None,
        root: str | os.PathLike[str] | None = None,
        hooks: Sequence[Hook] = (),
        builtin: bool = True,
    ) -> None:
        self.preset = _check_preset(preset, "preset")
        self.role_presets = {r: _check_preset(p, f"preset for role {r!r}") for r, p in (role_presets or {}).items()}
        user = [r if isinstance(r, Rule) else _rule_from_mapping(r, f"rule {i}") for i, r in enumerate(rules, 1)]
        extra: list[Rule] = []
        self.test_command = test_command
        if test_command:
            extra.append(Rule(action="allow", command=test_command, source="[test] command"))
        extra += [
            Rule(action="allow", command=c, unless=unless, source="balanced preset")
            for c, unless in READ_ONLY_COMMANDS.items()
        ]
        self._balanced_allow = tuple(extra)
        self.rules: tuple[Rule, ...] = (*user, *(BUILTIN_RULES if builtin else ()))
        for rule in self.rules:
            rule.check_examples()
        self.root = Path(root).resolve() if root is not None else None
        self.hooks = tuple(hooks)
        self._index: dict[tuple[str, str | None], _Index] = {}

    def __repr__(self) -> str:
        return f"<Policy {self.preset}, {len(self.rules)} rules>"

    # loading ------------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        project: str | os.PathLike[str] = ".",
        *,
        preset: str | None = None,
        rules: Iterable[Rule | Mapping[str, Any]] = (),
        root: str | os.PathLike[str] | None = None,
        hooks: Sequence[Hook] = (),
    ) -> Policy:
        """The project's `.loom.toml [permissions]`; `preset` and `rules` override it (a run's options)."""
        from ..config import CONFIG_FILE, read_toml

        path = Path(project).expanduser().resolve() / CONFIG_FILE
        data = read_toml(path, PolicyError)
        section = data.get("permissions", {})
        if not isinstance(section, dict):
            raise PolicyError(f'{path}: [permissions] must be a table, like\n[permissions]\npreset = "balanced"')
        unknown = set(section) - {"preset", "rules", "roles"}
        if unknown:
            raise PolicyError(
                f"{path}: [permissions] has unknown key {sorted(unknown)[0]!r}; it takes preset, rules, roles"
            )
        file_rules = section.get("rules", [])
        if not isinstance(file_rules, list):
            raise PolicyError(f"{path}: rules must be [[permissions.rules]] tables")
        role_presets: dict[str, str] = {}
        roles = section.get("roles", {})
        if not isinstance(roles, dict):
            raise PolicyError(f'{path}: [permissions.roles.NAME] tables take preset = "..."')
        for role, table in roles.items():
            if not isinstance(table, dict) or set(table) - {"preset"}:
                raise PolicyError(
                    f'{path}: [permissions.roles.{role}] takes only preset = "strict|balanced|autonomous"'
                )
            if "preset" in table:
                role_presets[role] = table["preset"]
        from ..config import ConfigError, parse_test_table

        try:
            test_command = parse_test_table(path, data.get("test", {})).command
        except ConfigError as exc:
            raise PolicyError(str(exc)) from None
        try:
            parsed = [_rule_from_mapping(r, f"{path.name} rule {i}") for i, r in enumerate(file_rules, 1)]
            return cls(
                preset=preset or section.get("preset", "balanced"),
                rules=[*rules, *parsed],
                role_presets=role_presets,
                test_command=test_command,
                root=root if root is not None else path.parent,
                hooks=hooks,
            )
        except PolicyError as exc:
            raise PolicyError(f"{path}: {exc}") from None

    def with_rule(self, rule: Rule) -> Policy:
        """A copy with one more rule first (what "allow always" / "deny always" adds)."""
        new = Policy.__new__(Policy)
        new.__dict__.update(self.__dict__)
        rule.check_examples()
        new.rules = (rule, *self.rules)
        new._index = {}
        return new

    # deciding -----------------------------------------------------------------------------------

    def preset_for(self, role: str | None) -> str:
        return self.role_presets.get(role, self.preset) if role is not None else self.preset

    def decide(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        role: str | None = None,
        category: Category | None = None,
    ) -> Decision:
        """allow / ask / deny for one call, with the rule that decided; never raises for bad input."""
        arguments = arguments or {}
        cat: Category = category or CATEGORIES.get(tool, "unknown")
        try:
            for hook in self.hooks:
                verdict = hook(tool, arguments, role)
                if verdict is None:
                    continue
                if isinstance(verdict, Decision):
                    return verdict
                if verdict not in ACTIONS:
                    return _unclear(cat, f"hook {_name(hook)} returned {verdict!r}, not allow/ask/deny")
                return Decision(action=verdict, rule=None, explain=f"{verdict}: hook {_name(hook)}", category=cat)
            if tool == "run_tests":
                return self._decide_tests(arguments, role, cat)
            if cat == "execute":
                return self._decide_command(tool, arguments, role, cat)
            paths = [arguments[k] for k in PATH_ARGUMENTS if k in arguments]
            if any(not isinstance(p, str) for p in paths):
                return _unclear(cat, "a path argument is not a string")
            return self._decide_paths(tool, [normalise_path(p) for p in paths], role, cat)
        except Exception as exc:  # a rule or hook that raises is never an allow
            return _unclear(cat, f"{type(exc).__name__} while deciding: {exc}")

    def _rules(self, tool: str, role: str | None) -> _Index:
        key = (tool, role)
        index = self._index.get(key)
        if index is None:
            preset = self.preset_for(role)
            extra = self._balanced_allow if preset == "balanced" else ()
            applicable = [r for r in (*self.rules, *extra) if r.applies_to(tool, role)]
            by_action: dict[Action, list[Rule]] = {a: [r for r in applicable if r.action == a] for a in ACTIONS}
            index = _Index(by_action)
            for action, rules in by_action.items():
                words: dict[str | None, list[Rule]] = {}
                for r in rules:
                    if r.kind == "command":
                        words.setdefault(r.first_word, []).append(r)
                index.command_by_word[action] = words
                index.tool_rule[action] = next((r for r in rules if r.kind == "tool"), None)
                path_rules = [r for r in rules if r.kind == "path"]
                index.paths[action] = (
                    (
                        re.compile("|".join(f"(?P<r{i}>{r.path_regex})" for i, r in enumerate(path_rules))),
                        path_rules,
                    )
                    if path_rules
                    else None
                )
            if len(self._index) > 1024:
                self._index.clear()
            self._index[key] = index
        return index

    def _decide_command(self, tool: str, arguments: Mapping[str, Any], role: str | None, cat: Category) -> Decision:
        command = arguments.get("command")
        try:
            subs = split_command(command)  # type: ignore[arg-type]
        except UnclearCommand as exc:
            return _unclear(cat, f"the command is unclear ({exc})", subject=str(command)[:200])
        index = self._rules(tool, role)
        written = [t for sub in subs for t in sub.redirects if t not in DEVICES]
        # `echo x > .git/config` is a write like file_write's
        redirect = (
            self._decide_paths("file_write", [normalise_path(t) for t in written], role, "write") if written else None
        )
        for action in ("deny", "ask"):  # every deny (a rule, the tool, a redirect) before any ask
            for sub in subs:
                rule = _first_command_rule(index, action, sub)  # type: ignore[arg-type]
                if rule is not None:
                    return _by_rule(rule, cat, str(sub))
            tool_rule = _first_tool_rule(index, action)  # type: ignore[arg-type]
            if tool_rule is not None:
                return _by_rule(tool_rule, cat, tool)
            if redirect is not None and redirect.action == action:
                return redirect
        unclear = next((sub for sub in subs if sub.unclear), None)
        if unclear is not None:
            return _unclear(cat, f"`{unclear}`: {unclear.unclear}", subject=str(unclear))
        for sub in subs:  # what no preset or standing rule may wave through (a human's "always" may)
            risky = _risky(sub, self._inside)
            human = _first_command_rule(index, "allow", sub) if risky else None
            if risky and not (human is not None and human.source.startswith("approval")):
                return Decision(action="ask", rule=None, explain=f"ask: {risky}", category=cat, subject=str(sub))
        preset = self.preset_for(role)
        deciding: list[tuple[Rule, str]] = []
        undecided: SubCommand | None = None
        tool_allow = _first_tool_rule(index, "allow")
        for sub in subs:
            if sub.wrapper:
                continue
            rule = _first_command_rule(index, "allow", sub) or tool_allow
            if rule is None:
                undecided = sub
                break
            deciding.append((rule, str(sub)))
        if undecided is None:
            rule, subject = deciding[0] if deciding else (None, str(command))
            if rule is None:
                return Decision(action="allow", rule=None, explain="allow: only wrappers", category=cat)
            names = "; ".join(dict.fromkeys(r.describe() for r, _ in deciding))
            return Decision(action="allow", rule=rule, explain=f"allow: {names}", category=cat, subject=subject)
        action = PRESETS[preset][cat]
        return Decision(
            action=action,
            rule=None,
            explain=f"{action}: preset {preset} {_verb(action)} commands not allow-listed (`{undecided}`)",
            category=cat,
            subject=str(undecided),
        )

    def _decide_tests(self, arguments: Mapping[str, Any], role: str | None, cat: Category) -> Decision:
        """run_tests is decided as the command it runs: the [test] command (else pytest) with its paths."""
        from ..config import command_for_tests

        paths = arguments.get("paths") or []
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            return _unclear(cat, "run_tests paths are not a list of strings")
        decision = self._decide_command(
            "run_tests", {"command": command_for_tests(self.test_command, paths)}, role, cat
        )
        if decision.action == "ask" and decision.rule is None and not decision.unclear and not self.test_command:
            hint = "the test command was detected, not named: set [test] command in .loom.toml to run it without asking"
            return replace(decision, explain=f"{decision.explain}; {hint}")
        return decision

    def _decide_paths(self, tool: str, paths: list[str], role: str | None, cat: Category) -> Decision:
        for p in paths:
            why = self._refused(p)
            if why:
                return Decision(action="deny", rule=None, explain=f"deny: {why}", category=cat, subject=p)
        rel = [self._relative(p) for p in paths]
        index = self._rules(tool, role)
        for action in ("deny", "ask"):
            for p in rel:
                rule = index.first_path_rule(action, p)  # type: ignore[arg-type]
                if rule is not None:
                    return _by_rule(rule, cat, p)
            rule = index.tool_rule[action]  # type: ignore[index]
            if rule is not None:
                return _by_rule(rule, cat, tool)
        tool_allow = index.tool_rule["allow"]
        chosen: Rule | None = tool_allow
        if rel and tool_allow is None:
            found = [index.first_path_rule("allow", p) for p in rel]
            chosen = found[0] if all(found) else None
        if chosen is not None:
            return _by_rule(chosen, cat, ", ".join(rel) or tool)
        preset = self.preset_for(role)
        action = PRESETS[preset].get(cat, "ask") if cat != "unknown" else "ask"
        what = {"read": "reads", "write": "writes", "coordination": "coordination"}.get(
            cat, f"tools of unknown kind ({tool})"
        )
        return Decision(
            action=action,
            rule=None,
            explain=f"{action}: preset {preset} {_verb(action)} {what}" + (f" ({', '.join(rel)})" if rel else ""),
            category=cat,
            subject=", ".join(rel),
        )

    def _refused(self, p: str) -> str:
        """Why a path is never to be touched, whatever the rules say ("" when it may be)."""
        if any(ord(c) < 32 for c in p):  # never a real file's name: refused, not asked
            return f"the path {p!r} holds a control character"
        if any(part.casefold() == ".git" for part in p.split("/")):
            return f"{p!r} is inside .git (in any letter case); loom commits for the agents"
        if (
            p == ".."
            or p.startswith(("../", "~"))
            or (posixpath.isabs(p) and not self._inside(p))
            or not self._resolves_inside(p)
        ):
            return f"{p!r} is outside the workspace"
        return ""

    def _resolves_inside(self, path: str) -> bool:
        """With a root: the path, symlinks followed, stays inside it (a link leading out is outside).

        The root is resolved already, so only the components below it are looked at, one lstat each,
        until one does not exist (nothing below a missing name can lead out); a symlink among them, or
        anything unusual, gets the full resolution."""
        if self.root is None:
            return True
        parts = path.split("/")
        if not posixpath.isabs(path) and ".." not in parts:
            current = str(self.root)
            for part in parts:
                if part in ("", "."):
                    continue
                current = current + os.sep + part
                try:
                    mode = os.lstat(current).st_mode
                except (FileNotFoundError, NotADirectoryError):
                    return True
                except OSError:
                    break
                if stat.S_ISLNK(mode):
                    break
            else:
                return True
        target = os.path.realpath(os.path.join(self.root, path))
        return target == str(self.root) or target.startswith(str(self.root) + os.sep)

    def _inside(self, path: str) -> bool:
        if self.root is None:
            return False
        return Path(path) == self.root or self.root in Path(path).parents

    def _relative(self, path: str) -> str:
        if posixpath.isabs(path) and self.root is not None:
            return Path(path).relative_to(self.root).as_posix() or "."
        return path


_SAFE_VARIABLES = frozenset(
    {"CI", "TERM", "LANG", "LANGUAGE", "TZ", "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "PYTHONUNBUFFERED",
     "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "PYTHONWARNINGS", "PY_COLORS"}
)  # fmt: skip
"""Variables a command may set and still be allowed; any other (LD_PRELOAD, PATH, GIT_*, XDG_*,
PYTEST_ADDOPTS, pagers, BASH_ENV, ...) can change what a harmless program runs, so it is asked."""


def _risky(sub: SubCommand, inside: Callable[[str], bool]) -> str:
    """Why a sub-command must be asked about whatever rule would allow it: environment variables that
    change what a program runs, or a path outside the workspace among its arguments."""
    bad = [name for name in sub.assigns if name not in _SAFE_VARIABLES and not name.startswith("LC_")]
    if bad:
        return f"`{sub}` runs with {', '.join(bad)} set, which can change what it runs"
    for word in sub.argv[1:]:
        value = word.split("=", 1)[1] if word.startswith("-") and "=" in word else word
        if value.startswith(("/", "~")) or ".." in value.replace("\\", "/").split("/"):
            if value in DEVICES or (value.startswith("/") and ".." not in value.split("/") and inside(value)):
                continue
            return f"`{sub}` names {value!r}, outside the workspace"
    return ""


def _first_command_rule(index: _Index, action: Action, sub: SubCommand) -> Rule | None:
    if action == "allow" and sub.wrapper:
        return None
    words = index.command_by_word.get(action)
    if not words:
        return None
    name = sub.argv[0]
    program = name.rsplit("/", 1)[-1]
    for key in (program, name, None) if program != name else (program, None):
        for rule in words.get(key, ()):
            if rule.matches_argv(sub.argv):
                return rule
    return None


def _first_tool_rule(index: _Index, action: Action) -> Rule | None:
    return index.tool_rule[action]


def _by_rule(rule: Rule, cat: Category, subject: str) -> Decision:
    return Decision(
        action=rule.action,
        rule=rule,
        explain=f"{rule.action}: {rule.describe()} matched `{subject[:120]}`",
        category=cat,
        subject=subject,
    )


def _unclear(cat: Category, why: str, subject: str = "") -> Decision:
    return Decision(
        action="ask", rule=None, explain=f"ask: {why}; never allowed without a human", category=cat, subject=subject,
        unclear=True,
    )  # fmt: skip


def _verb(action: Action) -> str:
    return {"allow": "allows", "ask": "asks for", "deny": "denies"}[action]


def _name(hook: Any) -> str:
    return getattr(hook, "__qualname__", None) or repr(hook)


def _check_preset(preset: Any, what: str) -> str:
    if preset not in PRESETS:
        raise PolicyError(f"unknown {what} {preset!r}; use one of {', '.join(PRESETS)}")
    return preset


_RULE_KEYS = ("action", "tool", "command", "path", "role", "match", "not_match", "reason", "unless")


def _rule_from_mapping(table: Any, where: str) -> Rule:
    if not isinstance(table, Mapping):
        raise PolicyError(f"{where}: a rule is a table (action = ..., command = ... or path = ...); got {table!r}")
    unknown = [k for k in table if k not in _RULE_KEYS]
    if unknown:
        import difflib

        near = difflib.get_close_matches(unknown[0], _RULE_KEYS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else f"; a rule takes {', '.join(_RULE_KEYS)}"
        raise PolicyError(f"{where}: unknown key {unknown[0]!r}{hint}")
    if "action" not in table:
        raise PolicyError(f'{where}: needs action = "allow", "ask" or "deny"')
    values = dict(table)
    for key in ("match", "not_match"):
        if key in values and isinstance(values[key], str):
            values[key] = [values[key]]
    try:
        return Rule(**values, source=where)
    except TypeError as exc:
        raise PolicyError(f"{where}: {exc}") from None
