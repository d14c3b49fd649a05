"""Untrusted text into HTML and Markdown, as text.

Everything a model, a tool or a scanned file produced is hostile: a prompt-injected file can make a
model answer with `<img src=x onerror=...>` or `[x](javascript:...)`, and JupyterLab runs the markup
of a running session's outputs (nbconvert's HTML export too). So every such text passes through
here on its way into an output: escaped for HTML, fenced for Markdown, never interpreted. The only
markup we add around it are links to files that were checked to exist, built from those paths.

Stdlib only: every layer may use it (it sits beside events.py and config.py).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "CONTAINER_CLASS",
    "code_block",
    "escape",
    "file_href",
    "linked",
    "pre",
    "terminal",
]

CONTAINER_CLASS = "loom-output tex2jax_ignore mathjax_ignore"
"""Class for the element holding untrusted text: besides our own styling, it tells MathJax 2 and 3
(JupyterLab and nbconvert's export typeset math in HTML outputs) to leave `$\\href{javascript:...}$`
alone."""

# Bidi overrides and isolates, zero-width characters and C0/C1 controls (but tab and newline): they
# make text read differently from what it is ("Trojan Source"), so they are shown, not obeyed.
_INVISIBLE = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _visible(text: str) -> str:
    return _INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def terminal(text: object) -> str:
    """Text for a terminal: escape sequences (ESC, CSI, OSC: retitle, clear, fake links), carriage
    returns and direction overrides shown as `<U+001B>` and the like, never obeyed."""
    return _visible(str(text))


def escape(text: object) -> str:
    """Text for HTML element content or a quoted attribute value: markup characters escaped,
    invisible and direction-changing characters made visible."""
    return html.escape(_visible(str(text)), quote=True)


def pre(text: str, links: Mapping[str, str] | None = None, *, style: str = "white-space:pre-wrap") -> str:
    """A block of untrusted text, whitespace kept, inside an element MathJax leaves alone; the
    checked citations in `links` become links (see `linked`)."""
    return f'<pre class="{CONTAINER_CLASS}" style="{escape(style)}">{linked(text, links or {})}</pre>'


def code_block(text: object) -> str:
    """Untrusted text for a Markdown document: a fenced code block, whose content every CommonMark
    renderer shows literally (no HTML, links, images or emphasis). The fence is longer than any run
    of backticks in the text, so the text cannot close it."""
    body = _visible(str(text))
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def file_href(target: str | os.PathLike[str], line: int | None = None, *, base: str | os.PathLike[str]) -> str | None:
    """A relative URL from `base` (the notebook's directory) to a file, for JupyterLab: it opens a
    relative link of an output in its editor and moves to `#line=N` (0-based, RFC 5147). None when
    no relative path exists (another drive). Percent-encoded; escape it again for an attribute."""
    try:
        rel = os.path.relpath(Path(target), Path(base))
    except ValueError:
        return None
    url = quote(Path(rel).as_posix(), safe="/")  # ':' is encoded too, so it never reads as a scheme
    return url + (f"#line={line - 1}" if line is not None and line >= 1 else "")


def linked(text: str, links: Mapping[str, str]) -> str:
    """`text` escaped for HTML, where each occurrence of a key of `links` (a citation such as
    `pkg/mod.py:20`, checked against the files by the caller) becomes a link to its URL. The keys
    are matched as whole tokens, longest first; everything else stays text."""
    if not links:
        return escape(text)
    keys = sorted(links, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w/.-])(?:" + "|".join(re.escape(k) for k in keys) + r")(?!\d)")
    out: list[str] = []
    last = 0
    for m in pattern.finditer(text):
        out.append(escape(text[last : m.start()]))
        out.append(f'<a href="{escape(links[m.group()])}" title="open in the editor">{escape(m.group())}</a>')
        last = m.end()
    out.append(escape(text[last:]))
    return "".join(out)
