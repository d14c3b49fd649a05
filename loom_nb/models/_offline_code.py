"""What the offline specialists know about Python code: where a name is used as a name (not inside a
longer word, not in prose), the edits that rename it, and a test file for a function.

Pure functions over text the tools returned: nothing here reads a file, runs code or imports the
project. Python files are read with `tokenize` and `ast` (which only parse); other files (README,
docs) change only where they show the name as code: in backticks, called, or after a dot.
"""

from __future__ import annotations

import ast
import functools
import io
import keyword
import re
import tokenize
from dataclasses import dataclass
from pathlib import PurePosixPath

from ._intents import Intent

__all__ = [
    "Edit",
    "Signature",
    "find_signature",
    "module_candidates",
    "read_lines",
    "rename_edits",
    "test_checks",
    "test_source",
]

CLUSTER_GAP = 2
"""Changed lines at most this many lines apart go into one edit (one commit), with the lines between."""
MAX_CONTEXT = 4
"""Lines of context an edit's old text may take on each side to be unique in its file."""
_READ_LINE = re.compile(r"^\s*(\d+)\t(.*)$")
_READ_HEADER = re.compile(r"^(.+) \(lines (\d+)-(\d+) of (\d+)\)$")
_UNREADABLE = ("\ufffd", " …[line truncated]")


@dataclass(frozen=True, slots=True)
class Edit:
    """One file_edit call: exact old text, its replacement, and where it starts."""

    path: str
    old: str
    new: str
    replace_all: bool
    line: int


def read_lines(result: str) -> tuple[dict[int, str], int]:
    """The numbered lines of a file_read result and the file's total line count (0 if not a read)."""
    rows = result.splitlines()
    header = _READ_HEADER.match(rows[0]) if rows else None
    total = int(header.group(4)) if header else 0
    lines: dict[int, str] = {}
    for row in rows[1:]:
        m = _READ_LINE.match(row)
        if m:
            lines[int(m.group(1))] = m.group(2)
    return lines, total


def _code_like(symbol: str) -> re.Pattern[str]:
    """Where prose shows a name as code: `name`, `name(...)`, name(, .name."""
    s = re.escape(symbol)
    return re.compile(rf"(?<=`){s}(?=[`(])|(?<![\w.]){s}(?=\()|(?<=\.){s}\b(?![\w])|(?<![\w`.]){s}(?=`)")


def _named_string(symbol: str) -> re.Pattern[str]:
    return re.compile(rf"^[rRuU]?([\"']){re.escape(symbol)}\1$")


def _word(symbol: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(symbol)}(?![\w])")


def _python_spans(text: str, intent: Intent) -> dict[int, list[tuple[int, int]]] | None:
    """(line -> column spans) of the symbol as a Python name; None when the file does not tokenize."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    owned = _owner_lines(text, intent) if intent.owner else None
    spans: dict[int, list[tuple[int, int]]] = {}
    prose = _code_like(intent.symbol)
    for i, tok in enumerate(tokens):
        (row, col), (erow, _) = tok.start, tok.end
        if tok.type == tokenize.NAME and tok.string == intent.symbol:
            if owned is not None and not _owned(tokens, i, owned, intent):
                continue
            spans.setdefault(row, []).append((col, col + len(tok.string)))
        elif tok.type == tokenize.STRING and owned is None and _named_string(intent.symbol).match(tok.string):
            # "add" as a whole string names it (__all__, getattr, mock.patch targets)
            at = tok.string.index(intent.symbol)
            spans.setdefault(row, []).append((col + at, col + at + len(intent.symbol)))
        elif tok.type in (tokenize.COMMENT, tokenize.STRING) and erow == row and owned is None:
            # a docstring or comment line that shows the name as code (`add`, add(, .add)
            for m in prose.finditer(tok.string):
                spans.setdefault(row, []).append((col + m.start(), col + m.end()))
        elif tok.type == tokenize.STRING and erow > row and owned is None:
            lines = tok.string.split("\n")
            for k, piece in enumerate(lines):
                base = col if k == 0 else 0
                for m in prose.finditer(piece):
                    spans.setdefault(row + k, []).append((base + m.start(), base + m.end()))
    return spans


@dataclass(frozen=True, slots=True)
class _Owned:
    class_lines: tuple[tuple[int, int], ...]
    """(first, last) lines of the owner's class bodies in this file."""
    variables: frozenset[str]
    """Names bound to an instance of the owner in this file (x = Owner(...), x: Owner)."""


def _owner_lines(text: str, intent: Intent) -> _Owned:
    """Where the owner's members are reached in one file. Instances are names bound to `Owner(...)`,
    annotated `Owner`, or bound to a call of a function that returns one; a pytest fixture that returns
    one gives its name to the tests' parameters, so such a function's name counts as an instance too."""
    owner = intent.owner.split(".")[-1]
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # hostile nesting parses to nothing
        return _Owned((), frozenset())
    classes = [
        (n.lineno, n.end_lineno or n.lineno) for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == owner
    ]
    makers = {
        f.name
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        and (
            (f.returns is not None and _names(f.returns, owner))
            or any(isinstance(r, ast.Return) and r.value is not None and _calls(r.value, owner) for r in ast.walk(f))
        )
    }
    variables = set(makers)

    def makes(value: ast.expr | None) -> bool:
        return value is not None and (
            _calls(value, owner) or (isinstance(value, ast.Call) and any(_names(value.func, m) for m in makers))
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and makes(node.value):
            variables.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if _names(node.annotation, owner) or makes(node.value):
                variables.add(node.target.id)
        elif isinstance(node, ast.arg) and node.annotation is not None and _names(node.annotation, owner):
            variables.add(node.arg)
        elif isinstance(node, ast.withitem) and makes(node.context_expr) and isinstance(node.optional_vars, ast.Name):
            variables.add(node.optional_vars.id)
    return _Owned(tuple(classes), frozenset(variables))


def _calls(value: ast.expr, owner: str) -> bool:
    return isinstance(value, ast.Call) and _names(value.func, owner)


def _names(expr: ast.expr, owner: str) -> bool:
    return (isinstance(expr, ast.Name) and expr.id == owner) or (isinstance(expr, ast.Attribute) and expr.attr == owner)


def _owned(tokens: list[tokenize.TokenInfo], i: int, owned: _Owned, intent: Intent) -> bool:
    """Whether the i-th token (the symbol) belongs to the owner: defined in its class, or reached
    through it (Owner.x, self.x / cls.x inside it, x.name where x holds an Owner)."""
    row = tokens[i].start[0]
    inside = any(a <= row <= b for a, b in owned.class_lines)
    prev = [t for t in tokens[max(0, i - 3) : i] if t.type not in (tokenize.NL, tokenize.NEWLINE)]
    if prev and prev[-1].string == "def":
        return inside
    if len(prev) >= 2 and prev[-1].string == ".":
        receiver = prev[-2].string
        if receiver == intent.owner.split(".")[-1] or receiver in owned.variables:
            return True
        return inside and receiver in ("self", "cls")
    return False


def _prose_spans(text: str, intent: Intent) -> dict[int, list[tuple[int, int]]]:
    pattern = _code_like(intent.symbol)
    if intent.owner:  # prose names a method through its owner: `Stock.remove`
        pattern = re.compile(rf"(?<={re.escape(intent.owner.split('.')[-1])}\.){re.escape(intent.symbol)}\b")
    return {
        n: [(m.start(), m.end()) for m in pattern.finditer(line)]
        for n, line in enumerate(text.split("\n"), 1)
        if pattern.search(line)
    }


def rename_edits(path: str, lines: dict[int, str], intent: Intent, *, per_line: bool = False) -> list[Edit]:
    """The file_edit calls that rename the symbol in one file, read whole as `lines`. Lines that the
    read could not show exactly (undecodable, cut) are left alone. `per_line`: one edit per changed
    line (the fallback when a multi-line edit did not match, e.g. in a CRLF file)."""
    return list(_rename_edits(path, tuple(sorted(lines.items())), intent, per_line))


@functools.lru_cache(maxsize=256)
def _rename_edits(path: str, numbered: tuple[tuple[int, str], ...], intent: Intent, per_line: bool) -> tuple[Edit, ...]:
    """Cached: the model sees the same reads again at every turn of a rename (its state is the conversation)."""
    assert intent.new is not None
    lines = dict(numbered)
    numbers = sorted(lines)
    text = "\n".join(lines[n] for n in numbers)
    spans = _python_spans(text, intent) if path.endswith((".py", ".pyi")) else None
    if spans is None:
        spans = _prose_spans(text, intent) if not path.endswith((".py", ".pyi")) else _regex_spans(text, intent)
    changed: dict[int, str] = {}
    for row, cols in spans.items():
        if not 1 <= row <= len(numbers):
            continue
        n = numbers[row - 1]
        line = lines[n]
        if any(mark in line for mark in _UNREADABLE):
            continue
        out, last = [], 0
        for a, b in sorted(set(cols)):
            if line[a:b] != intent.symbol or a < last:
                continue
            out.append(line[last:a] + intent.new)
            last = b
        if out:
            changed[n] = "".join(out) + line[last:]
    groups: list[list[int]] = []
    for n in sorted(changed):
        if groups and not per_line and n - groups[-1][-1] <= CLUSTER_GAP + 1:
            groups[-1].append(n)
        else:
            groups.append([n])
    return tuple(_edits_for(path, lines, changed, groups, widen=not per_line))


def _edits_for(
    path: str, lines: dict[int, str], changed: dict[int, str], groups: list[list[int]], *, widen: bool
) -> list[Edit]:
    """One edit per group, each applied in order to a copy of the file, so that every old text is
    checked against the file as the earlier edits leave it: unique (widened by up to MAX_CONTEXT
    lines of context when `widen`), else replace_all; a group an earlier replace_all already renamed
    is left out. Renaming keeps the line count, so line numbers stay valid throughout."""
    current = dict(lines)
    edits = []
    for group in groups:
        if all(current.get(k) == changed[k] for k in group):
            continue  # an earlier replace_all did it
        lo, hi = group[0], group[-1]
        if any(k not in current for k in range(lo, hi + 1)):
            continue
        whole = "\n".join(current[k] for k in sorted(current))
        spans = [(lo, hi)]
        if widen:
            spans += [s for extra in range(1, MAX_CONTEXT + 1) for s in ((lo - extra, hi), (lo, hi + extra))]
        chosen, replace_all = (lo, hi), True
        for a, b in spans:
            if all(k in current for k in range(a, b + 1)) and whole.count(_join(current, a, b)) == 1:
                chosen, replace_all = (a, b), False
                break
        a, b = chosen
        old = _join(current, a, b)
        new = "\n".join(changed.get(k, current[k]) for k in range(a, b + 1))
        updated = whole.replace(old, new) if replace_all else whole.replace(old, new, 1)
        after = dict(zip(sorted(current), updated.split("\n"), strict=True))
        if any(after[k] not in (current[k], changed.get(k, current[k])) for k in after):
            continue  # replace_all would change text that is not this name (inside a longer line): left alone
        edits.append(Edit(path, old, new, replace_all=replace_all, line=a))
        current = after
    return edits


def _join(current: dict[int, str], a: int, b: int) -> str:
    return "\n".join(current[k] for k in range(a, b + 1))


def _regex_spans(text: str, intent: Intent) -> dict[int, list[tuple[int, int]]]:
    """A Python file that does not tokenize: whole words, outside comments."""
    word = _word(intent.symbol)
    out: dict[int, list[tuple[int, int]]] = {}
    for n, line in enumerate(text.split("\n"), 1):
        code = line.split("#", 1)[0]
        hits = [(m.start(), m.end()) for m in word.finditer(code)]
        if hits:
            out[n] = hits
    return out


@dataclass(frozen=True, slots=True)
class Signature:
    """A function as the offline model read it (parsed, never run)."""

    path: str
    line: int
    name: str
    owner: str
    parameters: tuple[str, ...]
    required: tuple[str, ...]
    """Parameters without a default (self/cls of a method included)."""
    is_async: bool
    decorated: bool
    doctest: bool
    """Its docstring has >>> examples."""
    text: str
    """The def line(s) as written."""


def find_signature(path: str, lines: dict[int, str], intent: Intent) -> Signature | None:
    """The definition of the intent's function in this file (inside the owner's class if it names one)."""
    numbers = sorted(lines)
    text = "\n".join(lines[n] for n in numbers)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # hostile nesting parses to nothing
        return None
    owner = intent.owner.split(".")[-1] if intent.owner else ""
    scopes: list[tuple[str, list[ast.stmt]]] = [("", tree.body)]
    scopes += [(n.name, n.body) for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    for scope, body in scopes:
        if scope != owner:
            continue
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == intent.symbol:
                a = node.args
                positional = [*a.posonlyargs, *a.args]
                names = [p.arg for p in positional] + ([f"*{a.vararg.arg}"] if a.vararg else [])
                names += [p.arg for p in a.kwonlyargs] + ([f"**{a.kwarg.arg}"] if a.kwarg else [])
                required = [p.arg for p in positional[: len(positional) - len(a.defaults)]]
                required += [p.arg for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is None]
                doc = ast.get_docstring(node) or ""
                first = numbers[min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1]
                body_start = node.body[0].lineno if node.body else node.lineno
                shown = "\n".join(_numbers_text(lines, numbers, node.lineno, max(node.lineno, body_start - 1)))
                return Signature(
                    path=path,
                    line=first,
                    name=node.name,
                    owner=scope,
                    parameters=tuple(names),
                    required=tuple(required),
                    is_async=isinstance(node, ast.AsyncFunctionDef),
                    decorated=bool(node.decorator_list),
                    doctest=">>>" in doc,
                    text=shown.strip(),
                )
    return None


def _numbers_text(lines: dict[int, str], numbers: list[int], a: int, b: int) -> list[str]:
    """Lines a..b of a parsed text (1-based in the text) as read from the file."""
    return [lines[numbers[k - 1]] for k in range(a, b + 1) if 0 < k <= len(numbers)]


def module_candidates(path: str, packages: set[str]) -> list[str]:
    """Dotted names a file may be imported as, most likely first: through the packages above it (the
    folders listed in `packages` hold an __init__.py), then its bare stem."""
    p = PurePosixPath(path)
    dirs = list(p.parent.parts)
    k = len(dirs)
    while k > 0 and str(PurePosixPath(*dirs[:k])) in packages:
        k -= 1
    names = dirs[k:] + ([] if p.stem == "__init__" else [p.stem])
    out = [".".join(names)] if names else []
    out.append(p.stem)
    return [m for m in dict.fromkeys(out) if all(x.isidentifier() and not keyword.iskeyword(x) for x in m.split("."))]


def test_source(sig: Signature, module: str, *, banner: str) -> str:
    """A pytest file that checks what the offline model can know about the function without running the
    project's code by itself: its parameters as read, its doctests, and a call when it needs none."""
    fn = sig.name
    target = f"{sig.owner}.{fn}" if sig.owner else fn
    imported = sig.owner or fn
    lines = [
        f'"""Tests for {module}.{target}, written by the offline model of loom-nb from its source.',
        "",
        f"{banner}",
        '"""',
        "",
        "import inspect",
    ]
    if sig.doctest:
        lines.append("import doctest")
    lines += ["", f"from {module} import {imported}", "", ""]
    lines += [
        f"def test_{fn}_parameters_are_as_defined():",
        f"    # as read at {sig.path}:{sig.line}",
        f"    assert list(inspect.signature({target}).parameters) == {[p.lstrip('*') for p in sig.parameters]!r}",
        "",
        "",
        f"def test_{fn}_is_{'a_coroutine_function' if sig.is_async else 'a_plain_function'}():",
        f"    assert inspect.iscoroutinefunction({target}) is {sig.is_async}",
    ]
    if sig.doctest:
        lines += [
            "",
            "",
            f"def test_{fn}_doctests_pass():",
            "    runner = doctest.DocTestRunner()",
            f"    module = inspect.getmodule({target})",
            f"    for test in doctest.DocTestFinder().find({target}, {fn!r}, globs=vars(module).copy()):",
            "        runner.run(test)",
            "    assert runner.summarize(verbose=False).failed == 0",
        ]
    if _callable_bare(sig):
        lines += ["", "", f"def test_{fn}_runs_without_arguments():", f"    {fn}()"]
    return "\n".join(lines) + "\n"


def _callable_bare(sig: Signature) -> bool:
    """A plain module-level function that needs no argument: the test may call it."""
    return not sig.required and not sig.owner and not sig.is_async and not sig.decorated


def test_checks(sig: Signature) -> list[str]:
    """What test_source's file checks, in words."""
    checks = [
        f"its parameters ({', '.join(sig.parameters) or 'none'})",
        f"that it is {'' if sig.is_async else 'not '}async",
    ]
    if sig.doctest:
        checks.append("its doctests")
    if _callable_bare(sig):
        checks.append("that it runs without arguments")
    return checks
