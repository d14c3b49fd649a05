"""What a question asks, for the offline model: the kind of evidence that answers it, how to find
and rank that evidence, and the one sentence that states what was found.

A question may ask several things ("Where are sessions saved, and when do they expire?"): each
ask gets its own evidence and its own sentence. Sentences quote the code and cite it; they never
claim more than the cited lines say.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Ask", "Line", "classify", "general_score", "line_score", "sentence"]

Kind = Literal["env", "duration", "constant", "stored", "defined", "callers", "uses", "raises", "general"]

_CUES: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    ("env", re.compile(r"\benv(?:ironment)?\b|\bgetenv\b|\benviron\b")),
    (
        "duration",
        re.compile(
            r"\bhow long\b|\bwhen\b[^?.;]*\b(?:expir\w*|time ?outs?|retr\w*|rotat\w*|refresh\w*|evict\w*)"
            r"|\bexpir\w*|\btime ?outs?\b|\bttl\b|\blifetime\b|\bduration\b|\bmax[ _-]?age\b|\binterval\b"
        ),
    ),
    (
        "constant",
        re.compile(
            r"\bdefaults?\b|\bhow (?:many|much|big|large)\b|\bmaximum\b|\bminimum\b"
            r"|\bwhat (?:is|are) the (?:value|number|size|port|name)s?\b|\bconstants?\b"
        ),
    ),
    ("stored", re.compile(r"\b(?:stored|saved|persist(?:ed|s)?|kept|written|cached|storage)\b")),
    ("raises", re.compile(r"\b(?:errors?|exceptions?|raise[sd]?|raising|throws?|fails?|failures?)\b")),
    ("defined", re.compile(r"\bdefin(?:ed|es|ition)\b|\bdeclared\b")),
    ("callers", re.compile(r"\bwho calls\b|\bcallers?\b|\bcalled\b|\binvoked\b")),
    ("uses", re.compile(r"\bwho uses\b|\bused\b|\busages?\b|\breferenced\b")),
)

# Words that say what kind of answer is wanted, not what it is about.
_CUE_WORDS = frozenset(
    """environment environ variable variables env var vars getenv stored saved persisted persist kept
    written cached storage expire expires expired expiry expiration timeout timeouts ttl lifetime duration
    interval long callers caller called usage usages invoked declared default used uses referenced error errors
    exception exceptions raise raises raised raising throw throws fail fails failure failures report reports
    reported defaults maximum minimum constant constants many much""".split()
)

# The search for duration lines is coarse (ripgrep has no look-around); scoring is strict.
_TIME_SEARCH = (
    r"ttl|time_?out|lifetime|expir\w*|max_?age|duration|interval|delay|retry\w*|backoff|seconds?|minutes?"
    r"|hours?|days?|weeks?|timedelta|_secs?\b|_ms\b|_mins?\b|msecs?|millis\w*"
)
_WORDS = "ttl time_?out lifetime expir\\w* max_?age duration interval delay retry\\w* backoff seconds? minutes? hours?"
_WORDS += " days? weeks? timedelta secs? ms mins? msecs? millis\\w*"
# A time word counts as a word of its own or a part of a snake_case/camelCase name ("weekdayname" is not).
_TIME = re.compile(
    r"(?<![a-z])(?i:" + "|".join(_WORDS.split()) + r")(?![a-z])"
    r"|(?<=[a-z])(?:" + "|".join(w[0].upper() + w[1:] for w in _WORDS.split()) + r")(?![a-z])"
)
_NUMBER = re.compile(r"(?<![\w.\[{\\])(\d+(?:\.\d+)?)(?![\w.\]}])")
_CONSTANT = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(?::[^=]+)?=\s*(\d+(?:\.\d+)?)\s*(?:#.*)?$")
_KEYWORD_VALUE = re.compile(r"\b([A-Za-z_]\w*)\s*=\s*(\d+(?:\.\d+)?)\b")
_UNITS = (
    ("ms", "milliseconds"),
    ("msec", "milliseconds"),
    ("msecs", "milliseconds"),
    ("millis", "milliseconds"),
    ("milliseconds", "milliseconds"),
    ("s", "seconds"),
    ("sec", "seconds"),
    ("secs", "seconds"),
    ("seconds", "seconds"),
    ("min", "minutes"),
    ("mins", "minutes"),
    ("minutes", "minutes"),
    ("h", "hours"),
    ("hours", "hours"),
    ("days", "days"),
    ("weeks", "weeks"),
)
# module constants (UPPER_CASE = ...) and names set to a literal number or string
_CONSTANT_SEARCH = r"^\s*[A-Z][A-Z0-9_]+\s*=|\b\w+\s*=\s*(?:[0-9]|['\"])"
_RAISE = r"\braise\s+[A-Za-z_]|\bthrow\s+new\s|\bpanic!\("
_ENV_LOOKUP = r"\benviron\b|getenv|\bENV\[|process\.env"
_ENV_NAME = re.compile(r"""["']([A-Z][A-Z0-9_]{2,})["']|\benviron\[\s*["']([A-Za-z_]\w*)""")
_STORE = re.compile(
    r"\]\s*=[^=]|\.execute\(|\binsert\s+into\b|\.write\(|\.dump\(|\.save\(|\.put\(|\.set\(|setdefault\("
    r"|=\s*(?:\{\}|\[\]|\w*(?:dict|list|set|deque)\w*\()|:\s*dict\[|=\s*\{\s*$",
    re.IGNORECASE,
)
_NOT_STORED = re.compile(r"\b(?:sys\.)?std(?:out|err)\.write\(|\bprint\(")
_DEFINITION = re.compile(r"^\s*(?:async\s+def|def|class|function|fn|func|struct|interface)\s+(\w+)")
_HEADER = re.compile(r"^\s*(?:\[[^\]]+\]\s*$|(?:async\s+def|def|class)\s)")
_DOCSTRING = re.compile(r"""^\s*[rRbBuU]?(?:\"\"\"|''')(.+?)(?:\"\"\"|''')?\s*$""")


@dataclass(frozen=True, slots=True)
class Ask:
    """One thing a question asks."""

    kind: Kind
    subject: tuple[str, ...]
    """Regexes of what it is about (the question's terms without the words that name the kind)."""
    target: str = ""
    """For defined/callers: the identifier asked about."""

    def pattern(self) -> str | None:
        """A regex (Rust and Python syntax) that finds candidate lines anywhere in the scope."""
        if self.kind == "env":
            return _ENV_LOOKUP
        if self.kind == "duration":
            return _TIME_SEARCH
        if self.kind == "constant":
            return _CONSTANT_SEARCH
        if self.kind == "defined" and self.target:
            name = re.escape(self.target)
            keyword = r"(async\s+def|def|class|function|fn|func|struct|interface|type)"
            return rf"^\s*{keyword}\s+{name}\b|^\s*{name}\s*(:[^=]*)?=[^=]"
        if self.kind == "callers" and self.target:
            return rf"\b{re.escape(self.target)}\s*\("
        if self.kind == "uses" and self.target:
            return rf"\b{re.escape(self.target)}\b"
        if self.kind == "raises":
            return _RAISE
        return None

    def line_pattern(self) -> str | None:
        """The regex for candidate lines inside the best files."""
        return _STORE.pattern if self.kind == "stored" else self.pattern()


@dataclass(frozen=True, slots=True)
class Line:
    """A candidate line with what surrounds it (the enclosing class/def, the lines just above)."""

    path: str
    number: int
    text: str
    context: str = ""


def classify(question: str, terms: Sequence[tuple[str, str, bool]]) -> list[Ask]:
    """The asks of a question, in the order the question makes them. `terms` are (text, pattern,
    identifier) as the term chooser found them."""
    q = question.lower()
    found: list[tuple[int, Kind]] = []
    for kind, cue in _CUES:
        m = cue.search(q)
        if m:  # ordered by where the cue ends: "where is X defined, and where is it used"
            found.append((m.end(), kind))
    kinds = [k for _, k in sorted(found)] or ["general"]
    if "duration" in kinds and "constant" in kinds:  # "the default timeout": one ask, the more precise one
        kinds.remove("constant")
    subject = tuple(
        (r"(?<![a-z0-9])" + p[2:]) if p.startswith(r"\b") else p
        for text, p, _ in terms
        if text.lower() not in _CUE_WORDS
    )
    identifiers = [text.split(".")[-1] for text, _, ident in terms if ident and text.lower() not in _CUE_WORDS]
    plain = [text for text, _, _ in terms if text.lower() not in _CUE_WORDS]
    target = (identifiers or plain or [""])[0]
    return [Ask(kind=k, subject=subject, target=target) for k in dict.fromkeys(kinds)]


def _subject_hits(ask: Ask, text: str) -> int:
    return sum(1 for p in ask.subject if re.search(p, text, re.IGNORECASE))


def line_score(ask: Ask, line: Line) -> float:
    """How well a line answers the ask: the kind of line it is, then how much of the subject it names
    (in the line itself, or in its path and enclosing class/def)."""
    text = line.text
    near = _subject_hits(ask, text)
    # of the lines around, only headers say what a line belongs to: its class/def, a [section]
    enclosing = _subject_hits(ask, "\n".join(c for c in line.context.splitlines() if _HEADER.match(c)))
    around = _subject_hits(ask, line.path)
    subject = 1.5 * near + min(enclosing, 2) + 0.5 * min(around, 2)
    comment = text.lstrip().startswith(("#", "//", "*", '"""', "'''", "--"))
    if comment and ask.kind in ("callers", "uses"):
        return 0.0
    return (0.5 if comment else 1.0) * _kind_score(ask, line, near, around, subject)


def _kind_score(ask: Ask, line: Line, near: int, around: int, subject: float) -> float:
    text = line.text
    if ask.kind == "env":
        if not re.search(_ENV_LOOKUP, text):
            return 0.0
        named = bool(_ENV_NAME.search(text) or _ENV_NAME.search(line.context))
        return 2 + 2 * named + subject
    if ask.kind == "duration":
        if not _TIME.search(text) and not _TIME.search(line.context.splitlines()[-1] if line.context else ""):
            return 0.0
        literal = _literal(text) is not None
        constant = bool(_CONSTANT.match(text))
        timed = 0.5 if re.search(r"time\(\)\s*\+", text) else 0
        return (1 + 3 * literal + 2 * constant + timed) * (1 + subject)
    if ask.kind == "constant":
        upper = re.match(r"\s*([A-Z][A-Z0-9_]+)\s*=[^=]", text)
        literal = re.search(r"=\s*(?:-?\d|['\"])", text)
        if not (upper or literal):
            return 0.0
        return (1 + 2 * bool(upper) + 2 * bool(literal)) * (1 + subject)
    if ask.kind == "stored":
        if not _STORE.search(text) or _DEFINITION.match(text) or _NOT_STORED.search(text):
            return 0.0
        writes = re.search(
            r"\]\s*=[^=]|\b(?:insert|update|replace|upsert)\b|\.write\(|\.dump\(|\.save\(|\.put\(", text, re.I
        )
        reads_only = re.search(r"\bselect\b", text, re.IGNORECASE) and not writes
        score = 1 + 2 * near + 0.5 * min(around, 2) + (1.5 if writes else 0)
        return score * (0.3 if reads_only else 1.0)
    if ask.kind == "defined":
        return (6 if _defines(text, ask.target) else 2 * bool(_DEFINITION.match(text))) + subject
    if ask.kind == "raises":
        return 2 + 1.5 * subject if re.search(_RAISE, text) else 0.0
    if ask.kind == "uses":
        name = re.escape(ask.target)
        if not re.search(rf"\b{name}\b", text) or _defines(text, ask.target):
            return 0.0
        return (3 if re.search(rf"\b{name}\s*\(", text) else 2) + near  # every use counts, wherever it is
    if ask.kind == "callers":
        name = re.escape(ask.target)
        if not re.search(rf"\b{name}\s*\(", text) or _DEFINITION.match(text):
            return 0.0
        # a call as a statement, an assignment or a return beats a mention in prose (a docstring)
        statement = re.match(rf"\s*(?:return\s+|await\s+|[\w.\[\], ]+=\s*)?[\w.]*\b{name}\s*\(", text)
        return 2 + near + (1 if statement else 0)
    return 0.0  # general asks are ranked by how rare their terms are (the offline model does that)


def general_score(path: str, text: str, regexes: list[re.Pattern[str]], weights: list[float]) -> float:
    """Rare terms in the line (and, less, in its path); a definition is what a "how does X" question wants,
    and prose (README, docs) describes the code rather than shows it."""
    hits = sum(w for r, w in zip(regexes, weights, strict=True) if r.search(text))
    hits += 0.5 * sum(w for r, w in zip(regexes, weights, strict=True) if r.search(path))  # config.py for "config"
    if not hits:
        return 0.0
    definition = 3 if re.match(r"\s*(async\s+def|def|class|function|fn|func|struct|interface)\b", text) else 0
    prose = 0.6 if re.search(r"\.(md|rst|txt|adoc)$|(^|/)README", path, re.IGNORECASE) else 1.0
    return (hits * 2 + definition) * prose


def _defines(text: str, name: str) -> bool:
    m = _DEFINITION.match(text)
    return bool(m and m.group(1) == name) or bool(re.match(rf"\s*{re.escape(name)}\s*(?::[^=]*)?=[^=]", text))


def _literal(text: str) -> str | None:
    """A number in the line that is not an index or part of a name (0 and 1 say little)."""
    code = text.split("#", 1)[0]
    for m in _NUMBER.finditer(code):
        if m.group(1) not in ("0", "1"):
            return m.group(1)
    m = _CONSTANT.match(text) or _KEYWORD_VALUE.search(code)
    return m.group(2) if m and _TIME.search(m.group(1)) else None


def _unit(name: str) -> str | None:
    words = re.split(r"_|(?<=[a-z])(?=[A-Z])", name)
    last = words[-1].lower() if words else ""
    return next((unit for suffix, unit in _UNITS if last == suffix), None)


def _value_phrase(text: str) -> str:
    """ "30 minutes" when the code names the unit of a constant ("lifetime_minutes = 30"); else ""."""
    m = _CONSTANT.match(text) or _KEYWORD_VALUE.search(text.split("#", 1)[0])
    if m:
        unit = _unit(m.group(1).split(".")[-1])
        if unit:
            return f"{m.group(2)} {unit}"
    m = re.search(r"timedelta\(\s*(\w+)\s*=\s*(\d+(?:\.\d+)?)", text)
    return f"{m.group(2)} {m.group(1)}" if m else ""


def _quote(text: str, limit: int = 110) -> str:
    code = " ".join(text.strip().split())
    code = code if len(code) <= limit else code[: limit - 1] + "…"
    return "`" + code.replace("`", "'") + "`"


def _cite(line: Line) -> str:
    return f"{_quote(line.text)} ({line.path}:{line.number})"


def _env_names(line: Line) -> list[str]:
    names: list[str] = []
    for text in (line.text, *reversed(line.context.splitlines()[-2:])):
        for m in _ENV_NAME.finditer(text):
            names.append(m.group(1) or m.group(2))
        if names:
            break
    return list(dict.fromkeys(names))


def sentence(
    ask: Ask, picks: Sequence[Line], following: dict[tuple[str, int], str] | None = None, found: int = 0
) -> str:
    """One sentence that states what the picked lines show for this ask, or says plainly that
    nothing was found. `following` maps a picked line to the line after it (for a docstring);
    `found` is how many such lines the search saw (a list of callers says when it is not all)."""
    following = following or {}
    more = f" ({len(picks)} of the {found} found)" if found > len(picks) else ""
    if not picks:
        return {
            "env": "No environment variable is read (os.environ, getenv) in the files that match.",
            "duration": "No duration, timeout or expiry constant was found near these terms.",
            "constant": "No constant or default value was found near these terms.",
            "stored": "No line that stores or writes it was found.",
            "defined": f"No definition of {ask.target} was found.",
            "callers": f"No call of {ask.target}(...) was found.",
            "uses": f"No use of {ask.target} outside its definition was found.",
            "raises": "No raise statement was found near these terms.",
            "general": "Nothing in the files matched these terms well.",
        }[ask.kind]
    first = picks[0]
    if ask.kind == "env":
        parts = []
        for line in picks:
            names = _env_names(line)
            label = ", ".join(names) if names else "a variable whose name is computed"
            parts.append(f"{label} at {line.path}:{line.number}: {_quote(line.text)}")
        head = "Environment variable" + ("s read: " if len(picks) > 1 else " read: ")
        return head + "; ".join(parts) + "."
    if ask.kind == "duration":
        parts = []
        for line in picks:
            value = _value_phrase(line.text)
            parts.append(f"{_quote(line.text)} ({line.path}:{line.number}{': ' + value if value else ''})")
        return "Time limits in the code: " + "; ".join(parts) + "."
    if ask.kind == "constant":
        return "Set in the code: " + "; ".join(_cite(line) for line in picks) + "."
    if ask.kind == "stored":
        kind = _storage_kind(picks)
        return f"Stored{' ' + kind if kind else ''}: " + "; ".join(_cite(line) for line in picks) + "."
    if ask.kind == "defined":
        if not _defines(first.text, ask.target):
            return f"No definition of {ask.target} was found; the closest line is {_cite(first)}."
        doc = following.get((first.path, first.number), "")
        m = _DOCSTRING.match(doc)
        said = f', documented as "{m.group(1).strip()[:120]}"' if m else ""
        return f"{ask.target} is defined at {first.path}:{first.number}: {_quote(first.text)}{said}."
    if ask.kind == "raises":
        names = [m.group(1) for line in picks if (m := re.search(r"\braise\s+([\w.]+)", line.text))]
        head = f"It raises {', '.join(dict.fromkeys(names))}" if names else "Errors are raised"
        return f"{head}: " + "; ".join(_cite(line) for line in picks) + "."
    if ask.kind == "uses":
        uses = ", ".join(f"{line.path}:{line.number} ({_quote(line.text, 70)})" for line in picks)
        return f"{ask.target} is used at {uses}{more}."
    if ask.kind == "callers":
        calls = ", ".join(f"{line.path}:{line.number} ({_quote(line.text, 70)})" for line in picks)
        return f"{ask.target} is called at {calls}{more}."
    doc = following.get((first.path, first.number), "")
    m = _DOCSTRING.match(doc) if _DEFINITION.match(first.text) else None
    said = f', documented as "{m.group(1).strip()[:120]}"' if m else ""
    rest = f"; see also {', '.join(_cite(line) for line in picks[1:])}" if picks[1:] else ""
    return f"Best match: {_cite(first)}{said}{rest}."


def _storage_kind(picks: Sequence[Line]) -> str:
    text = "\n".join(line.text for line in picks)
    if re.search(r"execute\(|insert\s+into|sqlite|cursor", text, re.IGNORECASE):
        return "in a SQL database"
    if re.search(r"\.write\(|\.dump\(|open\(", text):
        return "in a file"
    if re.search(r"\]\s*=[^=]|setdefault\(|=\s*(?:\{\}|\w*dict\w*\()|:\s*dict\[", text, re.IGNORECASE):
        return "in memory, in a dict"
    return ""
