"""A shell command a model wrote, split into every command it would run.

Allow-lists are bypassed through `$()`, backticks, `bash -c`, chaining and wrappers (`env`, `sudo`,
`xargs`, `timeout`, ...). So the command is parsed with tree-sitter's bash grammar (the parser
openai/codex trusts for the same job) and walked: every pipeline stage, list member, subshell,
command substitution, process substitution and the string a `bash -c` or `eval` runs becomes a
sub-command of its own, and wrappers are seen through. Whatever cannot be read statically (a parse
error, a command name built from a variable, a here-document feeding a shell) makes the command
*unclear*, which a policy never allows without asking.
"""

from __future__ import annotations

import functools
import re
import shlex
import threading
from dataclasses import dataclass, field, replace

__all__ = ["SubCommand", "UnclearCommand", "split_command"]

MAX_DEPTH = 8
"""Nesting of `bash -c` / `eval` / substitutions we follow before calling a command unclear."""


class UnclearCommand(ValueError):
    """The command cannot be read statically; the message says why."""


@dataclass(frozen=True, slots=True)
class SubCommand:
    """One command the shell would run."""

    argv: tuple[str, ...]
    """Its words, quotes removed; a word with an expansion keeps its `$...` text."""
    wrapper: bool = False
    """True for `env`, `sudo`, `xargs`, `bash -c`, ...: it runs another sub-command of this list.
    Deny and ask rules apply to it; it needs no allow rule of its own."""
    redirects: tuple[str, ...] = ()
    """Files it writes through `>`, `>>`, `&>`, `>|` (checked like a write tool's paths)."""
    unclear: str = ""
    """Why what it runs cannot be read statically (an expansion, a glob, a wrapper that hands its
    arguments to a shell): deny and ask rules still apply to it, nothing allows it without a human."""
    assigns: tuple[str, ...] = ()
    """Environment variables set for it (`LD_PRELOAD=x ls`, `env GIT_PAGER=x git log`): some change
    what a harmless program runs."""

    text: str = field(default="", compare=False)
    """The sub-command as a shell would read it (shlex-quoted), for explanations."""

    def __str__(self) -> str:
        if not self.text:  # made once, when first shown (most sub-commands never are)
            object.__setattr__(self, "text", shlex.join(self.argv))
        return self.text


_parser_lock = threading.Lock()


@functools.cache
def _parser() -> object:
    import tree_sitter
    import tree_sitter_bash

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))


@functools.lru_cache(maxsize=4096)
def split_command(command: str) -> tuple[SubCommand, ...]:
    """Every sub-command of `command`, outermost first; UnclearCommand if it cannot be read."""
    if not isinstance(command, str):
        raise UnclearCommand(f"a command must be a string, not {type(command).__name__}")
    if "\x00" in command:
        raise UnclearCommand("the command contains a NUL byte")
    if not command.strip():
        raise UnclearCommand("the command is empty")
    out: list[SubCommand] = []
    _split(command, out, 0)
    if not out:
        raise UnclearCommand("the command runs nothing")
    return tuple(out)


def _split(command: str, out: list[SubCommand], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise UnclearCommand(f"nested more than {MAX_DEPTH} levels deep")
    source = command.encode()
    parser = _parser()
    with _parser_lock:  # a Parser is not safe to share between threads
        tree = parser.parse(source)  # type: ignore[attr-defined]
    root = tree.root_node
    if root.has_error:
        raise UnclearCommand("it does not parse as a shell command")
    first = len(out)
    _Walker(source, out, depth).visit(root)
    reason = _not_plain(root, source) if _MAYBE_NOT_PLAIN.search(command) else ""
    if reason:  # what this source runs cannot all be read: none of it may be allowed without a human
        out[first:] = [sub if sub.unclear else replace(sub, unclear=reason) for sub in out[first:]]


# What a plain command is made of: words, quotes, lists, pipes and redirects to literal files. Anything
# else (expansions, substitutions, arithmetic, globs, declarations, loops, functions, here-documents)
# can run or touch what no static reading sees: such a command is asked, never allowed by a rule.
_PLAIN_NODES = frozenset(
    {
        "program", "list", "pipeline", "command", "command_name", "word", "raw_string", "string",
        "string_content", "number", "concatenation", "file_redirect", "redirected_statement",
        "variable_assignment", "variable_name", "file_descriptor", "comment", "negated_command",
        "&&", "||", ";", "|", "|&", "&", '"', "'", "=", ">", ">>", "<", "&>", "&>>", ">&", "<&", ">|", "!",
    }
)  # fmt: skip
_MAYBE_NOT_PLAIN = re.compile(
    r"[$`(){}\[\]*?~<\n\\]|(?:^|[;&|!]\s*)(?:for|while|until|if|case|select|function|coproc|declare|typeset|export"
    r"|local|readonly|unset|let)\b"
)
"""Text without any of these is plain without walking its tree (the walk decides when one appears)."""
_WORD_SPECIALS = re.compile(r"[*?\[\]{}$`~]")


def _not_plain(node: object, source: bytes) -> str:
    """ "" when the command is plain; else what is not (for the explanation)."""
    kind = node.type  # type: ignore[attr-defined]
    if kind not in _PLAIN_NODES:
        return f"it uses {kind.replace('_', ' ')}"
    if kind == "word":
        text = source[node.start_byte : node.end_byte].decode()  # type: ignore[attr-defined]
        stripped = text.replace("\\\\", "")  # an escaped backslash escapes nothing after it
        if any(not _escaped(stripped, m.start()) for m in _WORD_SPECIALS.finditer(stripped)):
            return f"the word {text!r} is expanded when it runs"
    if kind == "file_redirect":
        ops = [c.type for c in node.children]  # type: ignore[attr-defined]
        if "<<" in ops or "<<<" in ops:
            return "it feeds a here-document"
    for child in node.children:  # type: ignore[attr-defined]
        reason = _not_plain(child, source)
        if reason:
            return reason
    return ""


def _escaped(text: str, index: int) -> bool:
    slashes = 0
    while index - slashes - 1 >= 0 and text[index - slashes - 1] == "\\":
        slashes += 1
    return slashes % 2 == 1


class _Walker:
    def __init__(self, source: bytes, out: list[SubCommand], depth: int) -> None:
        self.source = source
        self.out = out
        self.depth = depth

    def text(self, node: object) -> str:
        return self.source[node.start_byte : node.end_byte].decode()  # type: ignore[attr-defined]

    def visit(self, node: object) -> None:
        kind = node.type  # type: ignore[attr-defined]
        if kind == "command":
            self.command(node, ())
        elif kind == "redirected_statement":
            self.redirected(node)
        elif kind == "function_definition":  # runs nothing until called, and the call's name hides its body
            raise UnclearCommand("it defines a shell function")
        else:  # lists, pipelines, substitutions, loops, assignments (`X=$(cmd)` still runs cmd), ...
            self.children(node)

    def children(self, node: object) -> None:
        for child in node.children:  # type: ignore[attr-defined]
            self.visit(child)

    def redirected(self, node: object) -> None:
        targets: list[str] = []
        body = None
        for child in node.children:  # type: ignore[attr-defined]
            if child.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                targets += self.redirect(child)
            elif body is None:
                body = child
        if body is not None and body.type == "command":
            self.command(body, tuple(targets))
        elif body is not None:
            self.visit(body)
            if targets:  # `(a; b) > f`: the file is written all the same
                self.out.append(SubCommand(("(group)",), wrapper=True, redirects=tuple(targets)))

    def redirect(self, node: object) -> list[str]:
        """Files a redirect writes (`>`, `>>`, `&>`, `>|`); substitutions inside it still run."""
        written: list[str] = []
        operator = ""
        for part in node.children:  # type: ignore[attr-defined]
            if part.type in (">", ">>", "&>", "&>>", ">|", "<", ">&", "<&", "<<", "<<-", "<<<", "<>"):
                operator = part.type
            elif part.type in ("word", "string", "raw_string", "concatenation", "number"):
                value = self.word(part)
                if operator in (">", ">>", "&>", "&>>", ">|", "<>") or (operator == ">&" and not value.isdigit()):
                    written.append(value)
            elif part.type != "file_descriptor":
                self.visit(part)
        return written

    def word(self, node: object) -> str:
        """A word's value with quotes removed; substitutions inside it are visited as sub-commands."""
        kind = node.type  # type: ignore[attr-defined]
        if kind in ("command_substitution", "process_substitution"):
            self.visit(node)
            return self.text(node)
        if kind == "raw_string":
            return self.text(node)[1:-1]
        if kind in ("word", "number"):
            text = self.text(node)
            return text.replace("\\", "") if "\\" in text else text
        parts: list[str] = []
        for child in node.children:  # type: ignore[attr-defined]
            ckind = child.type
            if ckind in ("command_substitution", "process_substitution"):
                self.visit(child)
                parts.append(self.text(child))
            elif ckind in ('"', "'"):
                continue
            elif ckind == "string_content":
                parts.append(self.text(child))
            elif ckind in ("string", "raw_string", "word", "number", "concatenation", "ansi_c_string"):
                parts.append(self.word(child))
            else:  # expansions and the like keep their text
                for sub in _walk(child):
                    if sub.type in ("command_substitution", "process_substitution"):
                        self.visit(sub)
                parts.append(self.text(child))
        if not node.children:  # type: ignore[attr-defined]
            return self.text(node)
        return "".join(parts)

    def command(self, node: object, redirects: tuple[str, ...]) -> None:
        argv: list[str] = []
        assigns: list[str] = []
        dynamic_name = False
        for child in node.children:  # type: ignore[attr-defined]
            kind = child.type
            if kind == "variable_assignment":
                assigns += [self.text(c) for c in child.children if c.type == "variable_name"]
                self.children(child)  # FOO=$(cmd) runs cmd
            elif kind == "command_name":
                (name,) = child.children
                if name.type not in ("word", "string", "raw_string", "concatenation") or _has_expansion(name):
                    dynamic_name = True
                argv.append(self.word(name))
            elif kind in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
                redirects += tuple(self.redirect(child))
            else:
                argv.append(self.word(child))
        if not argv:
            return  # only assignments
        if dynamic_name:
            raise UnclearCommand(f"the command name {argv[0]!r} is computed when it runs")
        self.add(tuple(argv), redirects, tuple(assigns))

    def add(self, argv: tuple[str, ...], redirects: tuple[str, ...] = (), assigns: tuple[str, ...] = ()) -> None:
        inner = _unwrap(argv)
        if inner is None:
            self.out.append(SubCommand(argv, redirects=redirects, assigns=assigns))
            return
        kind, rest = inner
        if kind == "opaque":
            self.out.append(SubCommand(argv, redirects=redirects, assigns=assigns, unclear=rest[0]))
            return
        self.out.append(SubCommand(argv, wrapper=True, redirects=redirects, assigns=assigns))
        if kind == "script":
            first = len(self.out)
            _split(rest[0], self.out, self.depth + 1)
            if assigns:  # BASH_ENV=x bash -c '...': the variables reach every command of the script
                self.out[first:] = [replace(sub, assigns=assigns + sub.assigns) for sub in self.out[first:]]
        elif rest:
            # env X=1 cmd, sudo X=1 cmd: the variables reach the inner command
            passed = tuple(
                w.split("=", 1)[0] for w in argv[1 : len(argv) - len(rest)] if "=" in w and not w.startswith("-")
            )
            self.add(rest, (), assigns + passed)


def _walk(node: object):  # type: ignore[no-untyped-def]
    yield node
    for child in node.children:  # type: ignore[attr-defined]
        yield from _walk(child)


def _has_expansion(node: object) -> bool:
    return any(
        n.type
        in ("simple_expansion", "expansion", "command_substitution", "process_substitution", "arithmetic_expansion")
        for n in _walk(node)
    )


# Wrappers: programs that run another program given in their arguments. For each, the options it
# may take before that program: (those with a separate value, those without). Any other option
# makes the command unclear: a value-taking option we do not know would hide the real program
# (`exec -a ls rm ...` runs rm).
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish", "busybox"})
_WRAPPERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "nohup": (frozenset(), frozenset()),
    "time": (frozenset({"-f", "--format", "-o", "--output"}), frozenset({"-p", "-v", "--verbose", "-a", "--append"})),
    "exec": (frozenset({"-a"}), frozenset({"-c", "-l"})),
    "command": (frozenset(), frozenset({"-p"})),
    "builtin": (frozenset(), frozenset()),
    "setsid": (frozenset(), frozenset({"-c", "--ctty", "-f", "--fork", "-w", "--wait"})),
    "chroot": (frozenset({"--userspec", "--groups"}), frozenset({"--skip-chdir"})),
    "env": (
        frozenset({"-u", "--unset", "-C", "--chdir"}), frozenset({"-i", "--ignore-environment", "-0", "--null", "-v"})
    ),
    "sudo": (
        frozenset({"-u", "--user", "-g", "--group", "-C", "-D", "--chdir", "-h", "--host", "-p", "--prompt", "-r",
                   "-t", "-U", "-T"}),
        frozenset({"-E", "-H", "-n", "-k", "-K", "-b", "-S", "-A", "-P", "-i", "-s", "--preserve-env", "-l"}),
    ),
    "doas": (frozenset({"-u", "-C"}), frozenset({"-n", "-s"})),
    # -i and -l (GNU) take a value only when attached (-i{}), so they are flags here
    "xargs": (
        frozenset({"-I", "-n", "-P", "-d", "-E", "-L", "-s", "-a", "--arg-file", "--delimiter", "--max-args",
                   "--max-procs", "--max-lines", "--max-chars", "--eof"}),
        frozenset({"-0", "--null", "-r", "--no-run-if-empty", "-t", "--verbose", "-x", "--exit", "-p",
                   "--interactive", "-i", "-l", "-e", "--open-tty", "-o"}),
    ),
    "nice": (frozenset({"-n", "--adjustment"}), frozenset()),
    "ionice": (frozenset({"-c", "-n", "-p", "--class", "--classdata"}), frozenset({"-t"})),
    "timeout": (
        frozenset({"-s", "--signal", "-k", "--kill-after"}), frozenset({"--preserve-status", "--foreground", "-v"})
    ),
    "stdbuf": (frozenset({"-i", "-o", "-e"}), frozenset()),
}  # fmt: skip


def _unwrap(argv: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    """("script", (text,)) or ("argv", inner argv) when argv runs something else; None otherwise."""
    name = argv[0].rsplit("/", 1)[-1]
    args = argv[1:]
    if name in _SHELLS:
        for i, arg in enumerate(args):
            if arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]:
                if i + 1 >= len(args):
                    raise UnclearCommand(f"{name} {arg} without a command string")
                return "script", (args[i + 1],)
            if not arg.startswith("-"):
                break
        if not args or all(a.startswith("-") for a in args):
            raise UnclearCommand(f"{name} would read commands from its input")
        return None  # `bash script.sh`: the script is the command's business (and its argument)
    if name == "eval":
        return ("script", (" ".join(args),)) if args else None
    if name in ("watch", "flock", "su", "runuser", "script", "unbuffer", "parallel", "ssh"):
        # they hand (part of) their arguments to a shell: deny rules still see them, nothing allows them
        return "opaque", (f"{name} runs its arguments through a shell",)
    if name == "find":
        for i, arg in enumerate(args):
            if arg in ("-exec", "-execdir", "-ok", "-okdir"):
                end = next((j for j in range(i + 1, len(args)) if args[j] in (";", "+")), len(args))
                inner = args[i + 1 : end]
                return ("argv", inner) if inner else None
        return None
    options = _WRAPPERS.get(name)
    if options is None:
        return None
    takes, flags = options
    rest = list(args)
    while rest:
        head = rest[0]
        if head == "--":
            rest.pop(0)
            break
        if name in ("env", "sudo") and "=" in head and not head.startswith("-"):
            rest.pop(0)  # VAR=value: passed to the command (the caller records it)
            continue
        if name == "timeout" and not head.startswith("-"):
            rest.pop(0)  # the duration
            if name == "timeout":
                name = "timeout-done"
            continue
        if not head.startswith("-") or head == "-":
            if name == "env" and head == "-":
                rest.pop(0)
                continue
            break
        option = head.split("=", 1)[0]
        if option in takes:
            rest.pop(0)
            if "=" not in head and len(head) == len(option):
                if not rest:
                    return "opaque", (f"{argv[0]} {head} lacks its value",)
                rest.pop(0)
        elif option in flags or (len(option) > 2 and not option.startswith("--") and option[:2] in takes):
            rest.pop(0)  # a flag, or a short option with its value attached (-n10, -uroot)
        else:
            return "opaque", (f"{argv[0]} {head}: an option loom cannot read statically",)
    if name in ("env", "sudo") and any(a.startswith(("-S", "--split-string")) for a in args):
        return "opaque", (f"{name} -S splits a string into a command",)
    if not rest:
        if name == "xargs":
            return "argv", ("echo",)  # xargs with no command runs echo
        return None
    return "argv", tuple(rest)
