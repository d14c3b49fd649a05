"""The offline model: no key, no network, deterministic, and real work with the read-only tools.

It is a keyword researcher, not an LLM. Given a task it picks search terms, counts matches per
term (content_search), looks for matching file names (file_search), ranks files by how many
rare terms they hold, finds the best lines in the top files, reads them (file_read) and answers
with findings and file:line evidence. Every answer says it came from the offline model.
All its state is in the conversation, so one instance serves any number of agents.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ._base import Model
from ._messages import (
    Message,
    ModelSettings,
    Response,
    TextPart,
    ToolCallPart,
    ToolDefinition,
    ToolResultPart,
    estimate_usage,
)
from ._pricing import Price

__all__ = ["OfflineModel", "choose_terms"]

BANNER = "[offline model: keyword search over the files, no LLM was used]"
NEEDED_TOOLS = ("content_search", "file_search", "file_read")
MAX_TERMS = 5
TOP_FILES = 3
RELEVANT_SHARE = 0.6
LINES_PER_FILE = 2

_STOPWORDS = frozenset(
    """
a about above after again all also an and any are as at be because been before being below between
both but by can could did do does doing done down during each either else every few find for from
further get gets got had has have having here how i if in into is it its itself just know let like
look looks made make makes many may me might more most much must my need needs no nor not now of
off on once only or other our out over own please same see should show shows so some such tell than
that the their them then there these they this those through to too under until up us use used
uses using very want was way we were what when where whether which while who whom why will with
within without would yes you your code codebase file files function functions method methods class
classes module modules implement implemented implementation implements handle handled handles
handling work works working defined define defines definition project repo repository called call
calls thing things part parts somewhere anything everything something research researcher
question questions answer explain describe summarise summarize overview list happen happens
""".split()
)

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_QUOTED = re.compile(r"[\"'`]([^\"'`\n]{2,60})[\"'`]")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "ed", "es", "er", "s")


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    """As written in the task."""
    pattern: str
    """The regex searched for (case-insensitive)."""
    glob: str
    """The file-name glob searched for."""


def _stem(word: str) -> str:
    lower = word.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix) and len(lower) - len(suffix) >= 4:
            return lower[: -len(suffix)]
    return lower


def choose_terms(task: str, limit: int = MAX_TERMS) -> list[Term]:
    """Search terms from a task: quoted text first, then identifiers, then rarer plain words."""
    scored: dict[str, tuple[float, int, Term]] = {}

    def add(text: str, score: float, position: int, exact: bool) -> None:
        key = text.lower()
        if key in scored and scored[key][0] >= score:
            return
        if exact:
            term = Term(text, re.escape(text), f"*{text}*")
        else:
            stem = _stem(text)
            term = Term(text, r"\b" + re.escape(stem), f"*{stem}*")
        scored[key] = (score, position, term)

    for m in _QUOTED.finditer(task):
        add(m.group(1).strip(), 10.0, m.start(), exact=True)
    for m in _WORD.finditer(task):
        word = m.group(0)
        parts = word.split(".")
        if len(parts) > 1:  # json.dumps -> also "dumps"
            add(word, 6.0, m.start(), exact=True)
            add(parts[-1], 4.0, m.start(), exact=True)
            continue
        if word.lower() in _STOPWORDS or len(word) < 3:
            continue
        identifier = (
            "_" in word
            or any(c.isdigit() for c in word)
            or (any(c.isupper() for c in word[1:]) and any(c.islower() for c in word))
            or word.isupper()
        )
        if identifier:
            add(word, 5.0, m.start(), exact=True)
        else:
            add(word, 1.0 + min(len(word), 12) / 6, m.start(), exact=False)
    ranked = sorted(scored.values(), key=lambda t: (-t[0], t[1]))
    return [t for _, _, t in ranked[:limit]]


@dataclass(slots=True)
class _State:
    task: str
    calls: dict[str, ToolCallPart]
    results: dict[str, ToolResultPart]
    phase: int


def _read_state(messages: Sequence[Message]) -> _State:
    task = next((m.text for m in messages if m.role == "user" and m.text), "")
    calls: dict[str, ToolCallPart] = {}
    results: dict[str, ToolResultPart] = {}
    phase = 0
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            phase += 1
            calls.update((c.id, c) for c in m.tool_calls)
        results.update((r.tool_call_id, r) for r in m.tool_results)
    return _State(task, calls, results, phase)


class OfflineModel(Model):
    """`offline`: the model every demo, notebook and test uses when no key is configured."""

    provider = "offline"
    price = Price(0.0, 0.0)

    def __init__(self, variant: str = "") -> None:
        self.name = f"offline:{variant}" if variant else "offline"

    async def request(
        self,
        messages: Sequence[Message],
        *,
        system: str = "",
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings = ModelSettings(),
    ) -> Response:
        state = _read_state(messages)
        available = {t.name for t in tools}
        terms = choose_terms(state.task)
        may_call = settings.tool_choice != "none" and all(t in available for t in NEEDED_TOOLS)
        parts: tuple[TextPart | ToolCallPart, ...]
        if not may_call:
            parts = (TextPart(text=self._answer(state, terms, forced=True, tools_missing=not available)),)
        elif not terms:
            parts = (
                TextPart(
                    text=f"{BANNER}\nI found no search terms in the task {state.task!r}: "
                    "name a function, a file, or words that appear in the code."
                ),
            )
        elif state.phase == 0:
            parts = self._count_calls(terms)
        elif state.phase == 1:
            ranked = _rank_files(state, terms)
            parts = self._line_calls(ranked, terms) if ranked else (TextPart(text=self._answer(state, terms)),)
        elif state.phase == 2:
            calls = self._read_calls(state, terms)
            parts = calls if calls else (TextPart(text=self._answer(state, terms)),)
        else:
            parts = (TextPart(text=self._answer(state, terms)),)
        usage = estimate_usage(messages, system, parts)
        stop = "tool_use" if any(isinstance(p, ToolCallPart) for p in parts) else "end_turn"
        return Response(parts=parts, usage=usage, model=self.name, cost_usd=0.0, stop_reason=stop)

    # phase 0: how often does each term occur, and where are files named like it -------------

    def _count_calls(self, terms: list[Term]) -> tuple[ToolCallPart, ...]:
        calls = [
            ToolCallPart(
                id=f"offline_count_{i}",
                name="content_search",
                arguments={"pattern": t.pattern, "ignore_case": True, "output_mode": "count", "max_results": 2000},
            )
            for i, t in enumerate(terms)
        ]
        calls += [
            ToolCallPart(id=f"offline_names_{i}", name="file_search", arguments={"pattern": t.glob, "max_results": 200})
            for i, t in enumerate(terms)
        ]
        return tuple(calls)

    # phase 1: the matching lines of the best files ---------------------------------------------

    def _line_calls(self, ranked: list[tuple[str, float]], terms: list[Term]) -> tuple[ToolCallPart, ...]:
        pattern = "|".join(f"(?:{t.pattern})" for t in terms)
        return tuple(
            ToolCallPart(
                id=f"offline_lines_{k}",
                name="content_search",
                arguments={
                    "pattern": pattern,
                    "path": path,
                    "ignore_case": True,
                    "output_mode": "content",
                    "max_results": 500,
                },
            )
            for k, (path, score) in enumerate(ranked[:TOP_FILES])
            # the top two always (counts alone cannot tell a definition from its callers); after them,
            # files far behind the best one add noise, not evidence
            if k < 2 or score >= RELEVANT_SHARE * ranked[0][1]
        )

    # phase 2: read around the best lines --------------------------------------------------------

    def _read_calls(self, state: _State, terms: list[Term]) -> tuple[ToolCallPart, ...]:
        picks = _best_lines(state, terms)
        return tuple(
            ToolCallPart(
                id=f"offline_read_{k}_{line}",
                name="file_read",
                arguments={"path": path, "offset": max(1, line - 3), "limit": 8},
            )
            for k, (path, line, _) in enumerate(picks)
        )

    # the answer ---------------------------------------------------------------------------------

    def _answer(self, state: _State, terms: list[Term], *, forced: bool = False, tools_missing: bool = False) -> str:
        lines = [BANNER, f"Findings for: {state.task.strip()}"]
        if tools_missing:
            lines.append(
                "No tools were offered, so nothing was searched: the offline model works only "
                "through file_search, content_search and file_read."
            )
            return "\n".join(lines)
        lines.append("Search terms: " + ", ".join(t.text for t in terms))
        ranked = _rank_files(state, terms) if state.phase >= 1 else []
        evidence = _read_evidence(state)
        if evidence:
            lines.append("")
            lines.append("Evidence (file:line, read with file_read):")
            for path, line, text in evidence:
                lines.append(f"- {path}:{line}: {text.strip()[:160]}")
        if ranked:
            lines.append("")
            lines.append("Most relevant files (by rare search terms they contain):")
            for path, score in ranked[:8]:
                lines.append(f"- {path} (score {score:.1f})")
        if not evidence and not ranked:
            lines.append("")
            lines.append("No file in the scope matched these terms; try other words or a wider scope.")
        if forced:
            lines.append("")
            lines.append("(Stopped before finishing: these are the findings so far.)")
        return "\n".join(lines)


_COUNT_LINE = re.compile(r"^(.+):(\d+)$")
_CONTENT_LINE = re.compile(r"^(.+?):(\d+):(.*)$")
_READ_LINE = re.compile(r"^\s*(\d+)\t(.*)$")


def _ok_result(state: _State, call_id: str) -> str | None:
    result = state.results.get(call_id)
    return None if result is None or result.is_error else result.content


def _rank_files(state: _State, terms: list[Term]) -> list[tuple[str, float]]:
    counts: list[dict[str, int]] = []
    for i in range(len(terms)):
        per_file: dict[str, int] = {}
        for row in (_ok_result(state, f"offline_count_{i}") or "").splitlines():
            m = _COUNT_LINE.match(row)
            if m:
                per_file[m.group(1)] = int(m.group(2))
        counts.append(per_file)
    named: list[set[str]] = [
        {
            row.strip()
            for row in (_ok_result(state, f"offline_names_{i}") or "").splitlines()
            if row.strip() and not row.startswith("[")
        }
        for i in range(len(terms))
    ]
    universe = set().union(*counts, *named) if counts else set()
    if not universe:
        return []
    n = len(universe)
    scores: dict[str, float] = defaultdict(float)
    for per_file in counts:
        if not per_file:
            continue
        idf = math.log(1 + n / len(per_file))
        for path, c in per_file.items():
            scores[path] += idf * (1 + math.log(c))
    for i, names in enumerate(named):
        if names:
            idf = math.log(1 + n / len(names))
            for path in names:
                if path in scores or not counts[i]:
                    scores[path] += 2 * idf
    wants_tests = "test" in state.task.lower()
    ranked = []
    for path, score in scores.items():
        if not wants_tests and re.search(r"(^|/)tests?(/|_)|_test\.", path):
            score *= 0.5
        ranked.append((path, score))
    ranked.sort(key=lambda t: (-t[1], t[0]))
    return ranked


def _term_weights(state: _State, terms: list[Term]) -> list[float]:
    """Rarer terms weigh more: log(1 + files / files containing the term)."""
    per_term = [
        sum(1 for row in (_ok_result(state, f"offline_count_{i}") or "").splitlines() if _COUNT_LINE.match(row))
        for i in range(len(terms))
    ]
    total = max(sum(per_term), 1)
    return [math.log(1 + total / n) if n else 0.0 for n in per_term]


def _best_lines(state: _State, terms: list[Term]) -> list[tuple[str, int, str]]:
    regexes = [re.compile(t.pattern, re.IGNORECASE) for t in terms]
    weights = _term_weights(state, terms)
    picks: list[tuple[str, int, str]] = []
    k = 0
    while f"offline_lines_{k}" in state.calls:
        rows = []
        for row in (_ok_result(state, f"offline_lines_{k}") or "").splitlines():
            m = _CONTENT_LINE.match(row)
            if not m:
                continue
            path, line, text = m.group(1), int(m.group(2)), m.group(3)
            hits = sum(w for r, w in zip(regexes, weights, strict=True) if r.search(text))
            definition = 1 if re.match(r"\s*(async\s+def|def|class|function|fn|func|struct|interface)\b", text) else 0
            rows.append((hits * 2 + definition, -line, path, line, text))
        rows.sort(reverse=True)
        chosen: list[tuple[str, int, str]] = []
        for _, _, path, line, text in rows:
            if all(abs(line - other) >= 10 for _, other, _ in chosen):
                chosen.append((path, line, text))
            if len(chosen) == LINES_PER_FILE:
                break
        picks.extend(chosen)
        k += 1
    return picks


def _read_evidence(state: _State) -> list[tuple[str, int, str]]:
    """The lines the reads confirmed: the centre line of each read window."""
    out = []
    for call_id, call in state.calls.items():
        if not call_id.startswith("offline_read_"):
            continue
        body = _ok_result(state, call_id)
        if body is None:
            continue
        target = int(call_id.rsplit("_", 1)[1])
        for row in body.splitlines():
            m = _READ_LINE.match(row)
            if m and int(m.group(1)) == target:
                out.append((str(call.arguments["path"]), target, m.group(2)))
                break
    return out
