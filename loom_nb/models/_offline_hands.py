"""The offline implementer: renames a name with one edit (one commit) per turn, or writes a test
file for a function, through file_edit / file_write only."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import PurePosixPath

from ._intents import Intent
from ._offline_code import Edit, find_signature, module_candidates, rename_edits, test_checks, test_source
from ._offline_state import (
    TEST_NAME,
    Calls,
    Conversation,
    Done,
    call,
    cid,
    content_rows,
    file_rows,
    read_whole,
    word_pattern,
)

__all__ = ["MAX_FILES", "implement", "rename_round"]

MAX_FILES = 40
"""Files one rename reads and edits at most; more are reported, not touched."""


def rename_round(conv: Conversation, intent: Intent, prefix: str, *, per_line: bool) -> Calls | Done:
    """Find the files that use the symbol, read them, and edit them one edit per turn."""
    find = f"{prefix}find"
    if not conv.done(cid(find)):
        pattern = word_pattern(intent.symbol)
        return (call(find, "content_search", pattern=pattern, output_mode="files_with_matches", max_results=2000),)
    files = file_rows(conv.ok(cid(find)))
    if not files:
        return Done(summary=f"No whole-word use of `{intent.symbol}` was found: nothing was renamed.")
    skipped = files[MAX_FILES:]
    read = read_whole(conv, prefix, files[:MAX_FILES])
    if isinstance(read, tuple):
        return read
    edits: list[Edit] = []
    for path in files[:MAX_FILES]:
        edits += rename_edits(path, read[path], intent, per_line=per_line)
    changed, failed = [], []
    for k, edit in enumerate(edits):
        key = f"{prefix}edit_{k}"
        if not conv.done(cid(key)):
            return (call(key, "file_edit", path=edit.path, old=edit.old, new=edit.new, replace_all=edit.replace_all),)
        if conv.ok(cid(key)) is not None:
            changed.append(edit.path)
        else:
            failed.append(f"{edit.path}:{edit.line}: {(conv.error(cid(key)) or '').splitlines()[0][:160]}")
    if not edits:
        return Done(
            summary=f"`{intent.symbol}` appears in {len(files)} file(s), but never as the name `{intent.qualified}`"
            + (f" (defined in class {intent.owner} or reached through it)" if intent.owner else "")
            + ": nothing was renamed."
        )
    changed = list(dict.fromkeys(changed))
    lines = [
        f"Renamed `{intent.qualified}` to `{intent.new}`: {len(edits) - len(failed)} edit(s) in {len(changed)} file(s)."
    ]
    lines += [f"- {path}" for path in changed]
    if failed:
        lines.append("Edits that failed: " + "; ".join(failed))
    if skipped:
        lines.append(f"Not touched (more than {MAX_FILES} files): " + ", ".join(skipped[:10]))
    return Done(summary="\n".join(lines), files_changed=tuple(changed), open_questions=tuple(failed))


def implement(conv: Conversation, intent: Intent, tools: set[str]) -> Calls | Done:
    """Rename (a second, line-by-line pass when a multi-line edit did not match), or write the test."""
    if intent.kind == "add_test":
        if "file_write" not in tools:
            return Done(summary="I was not offered file_write, so I could not write the test.")
        return _write_test(conv, intent)
    if "file_edit" not in tools or "content_search" not in tools or "file_read" not in tools:
        return Done(summary="I need content_search, file_read and file_edit to rename; one is not offered.")
    first = rename_round(conv, intent, "r1_", per_line=False)
    if isinstance(first, tuple) or not first.open_questions:
        return first
    second = rename_round(conv, intent, "r2_", per_line=True)  # a multi-line edit did not match: line by line
    if isinstance(second, tuple):
        return second
    files = tuple(dict.fromkeys([*first.files_changed, *second.files_changed]))
    return Done(
        summary=f"{first.summary}\nSecond pass, line by line:\n{second.summary}",
        files_changed=files,
        open_questions=second.open_questions,
    )


def _imported_from(imports: str, name: str, candidates: list[str]) -> str:
    """The module the project's tests import the name (or its module) from, when one of them does: a
    package that re-exports it (from inventory import Stock) counts."""
    for m in re.finditer(r"^\s*from\s+([\w.]+)\s+import\s+\(?([^)\n]*)", imports, re.M):
        source, names = m.group(1), re.findall(r"\w+", m.group(2))
        if name in names and any(c == source or c.startswith(source + ".") for c in candidates):
            return source
    for c in candidates:
        if re.search(rf"^\s*(?:from|import)\s+{re.escape(c)}\b", imports, re.M):
            return c
    return ""


def _write_test(conv: Conversation, intent: Intent) -> Calls | Done:
    if not conv.done(cid("t_def")):
        pattern = rf"^\s*(async\s+)?def\s+{re.escape(intent.symbol)}\b"
        return (
            call("t_def", "content_search", pattern=pattern, output_mode="files_with_matches", max_results=200),
            call("t_tests", "file_search", pattern="**/*test*.py", max_results=500),
            call("t_pkgs", "file_search", pattern="**/__init__.py", max_results=2000),
            call("t_imports", "content_search", pattern=_from_import(intent), glob="*.py", max_results=200),
        )
    sources = [p for p in file_rows(conv.ok(cid("t_def"))) if p.endswith(".py") and not TEST_NAME.search(p)][:5]
    tests = [p for p in file_rows(conv.ok(cid("t_tests"))) if TEST_NAME.search(p)]
    if not sources:
        return Done(
            summary=f"No definition of `{intent.qualified}` was found (def {intent.symbol}); no test was written.",
            open_questions=(f"Where is `{intent.qualified}` defined?",),
        )
    read = read_whole(conv, "t_", sources)
    if isinstance(read, tuple):
        return read
    sig = next((s for p in sources if (s := find_signature(p, read[p], intent)) is not None), None)
    if sig is None:
        return Done(
            summary=f"`{intent.qualified}` is not defined at module level"
            + (f" in class {intent.owner}" if intent.owner else "")
            + " in "
            + ", ".join(sources)
            + "; no test was written.",
            open_questions=(f"Which `{intent.symbol}` is meant?",),
        )
    packages = {str(PurePosixPath(p).parent) for p in file_rows(conv.ok(cid("t_pkgs")))}
    candidates = module_candidates(sig.path, packages)
    rows = content_rows(conv.ok(cid("t_imports")))  # how the project's tests import it, else its code
    in_tests = "\n".join(t for p, _, t in rows if TEST_NAME.search(p))
    module = (
        _imported_from(in_tests, sig.owner or sig.name, candidates)
        or _imported_from("\n".join(t for _, _, t in rows), sig.owner or sig.name, candidates)
        or candidates[0]
    )
    importing = sorted(p for p, _, _ in rows if TEST_NAME.search(p))  # the tests that already import it
    folder = (
        str(PurePosixPath(importing[0]).parent)
        if importing
        else Counter(str(PurePosixPath(t).parent) for t in tests).most_common(1)[0][0]
        if tests
        else "tests"
    )
    folder = "" if folder == "." else folder
    suffix_style = bool(tests) and all(t.endswith("_test.py") for t in tests)
    stem = f"{intent.owner.lower()}_{intent.symbol}" if intent.owner else intent.symbol
    if not conv.done(cid("t_free")):  # never overwrite a file: list what is there under that name
        pattern = f"{stem}*_test.py" if suffix_style else f"test_{stem}*.py"
        return (call("t_free", "file_search", pattern=pattern, path=folder or ".", max_results=1000),)
    taken = {PurePosixPath(p).name for p in file_rows(conv.ok(cid("t_free")))}
    for n in range(1, 1000):
        tag = "" if n == 1 else f"_{n}"
        name = f"{stem}{tag}_test.py" if suffix_style else f"test_{stem}{tag}.py"
        if name not in taken:
            break
    path = f"{folder}/{name}" if folder else name
    if not conv.done(cid("t_write")):
        content = test_source(sig, module, banner="Written by the offline model of loom-nb (rules, not an LLM).")
        return (call("t_write", "file_write", path=path, content=content),)
    error = conv.error(cid("t_write"))
    if error:
        return Done(summary=f"Writing {path} failed: {error.splitlines()[0][:200]}", open_questions=(error[:200],))
    return Done(
        summary=(
            f"Wrote {path} for `{intent.qualified}` (defined at {sig.path}:{sig.line}: "
            f"`{sig.text.splitlines()[0][:100]}`): it imports `{sig.owner or sig.name}` from `{module}` and checks "
            + "; ".join(test_checks(sig))
            + "."
        ),
        files_changed=(path,),
    )


def _from_import(intent: Intent) -> str:
    name = re.escape((intent.owner or intent.symbol).split(".")[-1])
    return rf"^\s*from\s+[\w.]+\s+import\s.*\b{name}\b"
