"""The offline model: no key, no network, deterministic, and real work with the read-only tools.

For the intents of _intents.py ("rename SYMBOL to NEW", "add a test for FUNCTION") it plays every
role of the coding workflow (_offline_roles.py picks the role from the tools offered). Otherwise
it is a keyword researcher, not an LLM. Given a task it works out what the question asks (an
environment variable, a duration, where something is stored, defined or called; see _asks.py),
picks search terms, counts matches per term (content_search), searches the scope for the kind of
line the question asks for, ranks files by how many rare terms they hold, finds the best lines,
reads them (file_read) and answers with one sentence per ask that quotes and cites what it read,
or says plainly that it found nothing. Every answer says it came from the offline model.
All its state is in the conversation, so one instance serves any number of agents.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ._asks import Ask, Line, classify, general_score, line_score, sentence
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
from ._offline_roles import play
from ._pricing import Price

__all__ = ["OfflineModel", "answer_sentences", "choose_terms"]

BANNER = "[offline model: keyword search over the files, no LLM was used]"
NEEDED_TOOLS = ("content_search", "file_search", "file_read")
MAX_TERMS = 5
TOP_FILES = 3
RELEVANT_SHARE = 0.6
READS_PER_ASK = 3
CITED_PER_ASK = {
    "env": 2,
    "duration": 2,
    "constant": 2,
    "stored": 2,
    "defined": 1,
    "callers": 4,
    "uses": 4,
    "raises": 3,
    "general": 3,
}
ANSWER = "Answer: "

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
    identifier: bool = False
    """Written like code (snake_case, CamelCase, dotted, quoted): searched exactly."""


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
            term = Term(text, re.escape(text), f"*{text}*", identifier=True)
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
    asks: list[Ask]


def _read_state(messages: Sequence[Message], terms: list[Term]) -> _State:
    task = next((m.text for m in messages if m.role == "user" and m.text), "")
    calls: dict[str, ToolCallPart] = {}
    results: dict[str, ToolResultPart] = {}
    phase = 0
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            phase += 1
            calls.update((c.id, c) for c in m.tool_calls)
        results.update((r.tool_call_id, r) for r in m.tool_results)
    asks = classify(task, [(t.text, t.pattern, t.identifier) for t in terms])
    return _State(task, calls, results, phase, asks)


def answer_sentences(text: str) -> str | None:
    """The answer sentences of an offline researcher's reply (None for any other model's text)."""
    if not text.startswith(BANNER):
        return None
    lines = [line[len(ANSWER) :] for line in text.splitlines() if line.startswith(ANSWER)]
    return " ".join(lines) if lines else None


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
        available = {t.name for t in tools}
        forced = settings.tool_choice == "none"
        role_parts = play(messages, available, forced=forced)
        if role_parts is not None:  # a specialist of the coding workflow (see _offline_roles.py)
            usage = estimate_usage(messages, system, role_parts)
            stop = "tool_use" if any(isinstance(p, ToolCallPart) for p in role_parts) else "end_turn"
            return Response(parts=role_parts, usage=usage, model=self.name, cost_usd=0.0, stop_reason=stop)
        task = next((m.text for m in messages if m.role == "user" and m.text), "")
        terms = choose_terms(task)
        state = _read_state(messages, terms)
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
            parts = self._count_calls(terms, state.asks)
        elif state.phase == 1:
            ranked = _rank_files(state, terms)
            parts = (
                self._line_calls(ranked, terms, state.asks) if ranked else (TextPart(text=self._answer(state, terms)),)
            )
        elif state.phase == 2:
            calls = self._read_calls(state, terms)
            parts = calls if calls else (TextPart(text=self._answer(state, terms)),)
        else:
            parts = (TextPart(text=self._answer(state, terms)),)
        usage = estimate_usage(messages, system, parts)
        stop = "tool_use" if any(isinstance(p, ToolCallPart) for p in parts) else "end_turn"
        return Response(parts=parts, usage=usage, model=self.name, cost_usd=0.0, stop_reason=stop)

    # phase 0: how often does each term occur, where are files named like it, and where in the
    # scope are lines of the kind the question asks for -----------------------------------------

    def _count_calls(self, terms: list[Term], asks: list[Ask]) -> tuple[ToolCallPart, ...]:
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
        calls += [
            ToolCallPart(
                id=f"offline_ask_{a}",
                name="content_search",
                arguments={
                    "pattern": pattern,
                    "ignore_case": ask.kind in ("env", "duration"),  # constants: UPPER_CASE is the point
                    "output_mode": "content",
                    "max_results": 500,
                },
            )
            for a, ask in enumerate(asks)
            if (pattern := ask.pattern()) is not None
        ]
        return tuple(calls)

    # phase 1: the matching lines of the best files, with their class/def lines for context ------

    def _line_calls(
        self, ranked: list[tuple[str, float]], terms: list[Term], asks: list[Ask]
    ) -> tuple[ToolCallPart, ...]:
        patterns = [t.pattern for t in terms] + [p for a in asks if (p := a.line_pattern()) is not None]
        patterns.append(_SCOPE_LINE.pattern)
        pattern = "|".join(f"(?:{p})" for p in dict.fromkeys(patterns))
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

    # phase 2: read around the best lines of each ask --------------------------------------------

    def _read_calls(self, state: _State, terms: list[Term]) -> tuple[ToolCallPart, ...]:
        calls: dict[tuple[str, int], ToolCallPart] = {}
        for a, picks in enumerate(_candidates(state, terms)):
            for k, line in enumerate(picks[: max(READS_PER_ASK, CITED_PER_ASK[state.asks[a].kind])]):
                if (line.path, line.number) not in calls:
                    calls[(line.path, line.number)] = ToolCallPart(
                        id=f"offline_read_{a}_{k}_{line.number}",
                        name="file_read",
                        arguments={"path": line.path, "offset": max(1, line.number - 3), "limit": 8},
                    )
        return tuple(calls.values())

    # the answer ---------------------------------------------------------------------------------

    def _answer(self, state: _State, terms: list[Term], *, forced: bool = False, tools_missing: bool = False) -> str:
        lines = [BANNER, f"Question: {state.task.strip()}"]
        if tools_missing:
            lines.append(
                "No tools were offered, so nothing was searched: the offline model works only "
                "through file_search, content_search and file_read."
            )
            return "\n".join(lines)
        files = _read_files(state)
        ranked = _rank_files(state, terms) if state.phase >= 1 else []
        rank = {path: k for k, (path, _) in enumerate(ranked)}
        cited: list[Line] = []
        sentences = []
        for a, ask in enumerate(state.asks):
            picks = _final_picks(state, ask, a, files, rank)
            following = {(w.path, w.number): files[w.path].get(w.number + 1, "") for w in picks}
            found = sum(1 for p, n, t in _content_rows(state, f"offline_ask_{a}") if line_score(ask, Line(p, n, t)) > 0)
            sentences.append(sentence(ask, picks, following, found))
            cited += [p for p in picks if p not in cited]
        if forced and not cited:
            sentences = ["Stopped before any line was read: nothing to report yet."]
        lines += [ANSWER + s for s in sentences]
        if cited:
            lines.append("")
            lines.append("Evidence (file:line, read with file_read):")
            for line in cited:
                lines.append(f"- {line.path}:{line.number}: {line.text.strip()[:160]}")
        lines.append("")
        lines.append("Search terms: " + ", ".join(t.text for t in terms))
        if ranked:
            lines.append("Most relevant files: " + ", ".join(f"{path} ({score:.1f})" for path, score in ranked[:5]))
        elif state.phase >= 1:
            lines.append("No file in the scope matched these terms; try other words or a wider scope.")
        if forced:
            lines.append("")
            lines.append("(Stopped before finishing: these are the findings so far.)")
        return "\n".join(lines)


_COUNT_LINE = re.compile(r"^(.+):(\d+)$")
_CONTENT_LINE = re.compile(r"^(.+?):(\d+):(.*)$")
_READ_LINE = re.compile(r"^\s*(\d+)\t(.*)$")
_SCOPE_LINE = re.compile(r"^\s*(async\s+def|def|class)\s")


def _ok_result(state: _State, call_id: str) -> str | None:
    result = state.results.get(call_id)
    return None if result is None or result.is_error else result.content


def _content_rows(state: _State, call_id: str) -> list[tuple[str, int, str]]:
    rows = []
    for row in (_ok_result(state, call_id) or "").splitlines():
        m = _CONTENT_LINE.match(row)
        if m:
            rows.append((m.group(1), int(m.group(2)), m.group(3)))
    return rows


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
            if row.strip() and not row.startswith(("[", "No files match "))
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
            for path in names:  # a file named like a term counts, more when it also holds the terms
                scores[path] += (2 if path in scores or not counts[i] else 1) * idf
    # a file holding the kind of line the question asks for (an environ lookup, the definition)
    # is worth as much as a rare term, when it also holds a term
    for a, ask in enumerate(state.asks):
        if ask.kind in ("env", "defined", "callers", "uses", "raises"):
            hits = {path for path, _, _ in _content_rows(state, f"offline_ask_{a}")}
            for path in hits & set(scores):
                scores[path] += math.log(1 + n / len(hits))
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


_TEST_PATH = re.compile(r"(^|/)tests?(/|_)|_test\.")


def _candidates(state: _State, terms: list[Term]) -> list[list[Line]]:
    """Per ask, the candidate lines best first (from the scope-wide search and the best files)."""
    rank = {path: k for k, (path, _) in enumerate(_rank_files(state, terms))}
    rows = _file_lines(state)
    scopes = _scopes(rows)
    regexes = [re.compile(t.pattern, re.IGNORECASE) for t in terms]
    weights = _term_weights(state, terms)
    out = []
    wants_tests = "test" in state.task.lower()
    for a, ask in enumerate(state.asks):
        pool = dict(rows)
        pool.update(((p, n), t) for p, n, t in _content_rows(state, f"offline_ask_{a}"))
        scored = []
        for (path, number), text in pool.items():
            if not wants_tests and _TEST_PATH.search(path):  # a project's tests are not its answers
                continue
            line = Line(path, number, text, _enclosing(scopes.get(path, []), number))
            if ask.kind == "general":
                score = general_score(path, text, regexes, weights)
            else:
                score = line_score(ask, line)
            if score > 0:
                scored.append((-score, rank.get(path, len(rank)), path, number, line))
        scored.sort(key=lambda t: t[:4])
        out.append(_spread([s[-1] for s in scored]))
    return out


def _file_lines(state: _State) -> dict[tuple[str, int], str]:
    rows: dict[tuple[str, int], str] = {}
    k = 0
    while f"offline_lines_{k}" in state.calls:
        rows.update(((p, n), t) for p, n, t in _content_rows(state, f"offline_lines_{k}"))
        k += 1
    return rows


def _scopes(rows: dict[tuple[str, int], str]) -> dict[str, list[tuple[int, str]]]:
    scopes: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for (path, number), text in sorted(rows.items()):
        if _SCOPE_LINE.match(text):
            scopes[path].append((number, text.strip()))
    return scopes


def _enclosing(scopes: list[tuple[int, str]], number: int) -> str:
    """The class and def lines above a line (its context when it names none of the terms itself)."""
    above = [text for n, text in scopes if n < number]
    klass = next((t for t in reversed(above) if t.startswith("class ")), "")
    func = next((t for t in reversed(above) if not t.startswith("class ")), "")
    return "\n".join(t for t in (klass, func) if t)


def _spread(lines: list[Line]) -> list[Line]:
    """Best first, but not two lines of the same few-line stretch."""
    chosen: list[Line] = []
    for line in lines:
        if all(o.path != line.path or abs(o.number - line.number) >= 3 for o in chosen):
            chosen.append(line)
    return chosen


def _read_files(state: _State) -> dict[str, dict[int, str]]:
    """Every line the reads confirmed, per file."""
    out: dict[str, dict[int, str]] = defaultdict(dict)
    for call_id, call in state.calls.items():
        if call_id.startswith("offline_read_") and (body := _ok_result(state, call_id)) is not None:
            for m in map(_READ_LINE.match, body.splitlines()):
                if m:
                    out[str(call.arguments["path"])][int(m.group(1))] = m.group(2)
    return out


def _final_picks(
    state: _State, ask: Ask, index: int, files: dict[str, dict[int, str]], rank: dict[str, int]
) -> list[Line]:
    """The lines this ask cites, best first. A general ask cites the lines read for it; the others
    choose among every line read, scored again with what the read showed above each (a TOML
    section, the tuple of names before a getenv, a neighbouring constant)."""
    scopes = _scopes(_file_lines(state))
    scored = []
    if ask.kind == "general":
        for call_id, call in state.calls.items():
            parts = call_id.split("_")
            path, number = str(call.arguments.get("path", "")), int(parts[-1]) if parts[-1].isdigit() else 0
            if call_id.startswith("offline_read_") and parts[2] == str(index) and number in files.get(path, {}):
                scored.append((-1.0, int(parts[3]), 0, Line(path, number, files[path][number])))
    else:
        for path, lines in files.items():
            for number, text in lines.items():
                above = [lines[n] for n in range(number - 3, number) if n in lines]
                context = "\n".join(c for c in (_enclosing(scopes.get(path, []), number), *above) if c)
                score = line_score(ask, Line(path, number, text, context))
                if score > 0:
                    scored.append((-score, rank.get(path, len(rank)), number, Line(path, number, text, context)))
    scored.sort(key=lambda t: t[:3])
    # after the best line, only lines nearly as good: a weak second citation is noise, not evidence
    best = -scored[0][0] if scored else 0.0
    return [line for score, *_, line in scored if -score >= 0.8 * best][: CITED_PER_ASK[ask.kind]]
