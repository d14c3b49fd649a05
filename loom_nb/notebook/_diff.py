"""A session's diff, shown: syntax-coloured HTML in a notebook (pygments escapes every character of it),
the raw unified diff as text/plain and through `.text`."""

from __future__ import annotations

from typing import Any

__all__ = ["DiffView"]

MAX_HTML_LINES = 5000
"""Past this the HTML shows the head (the raw text keeps everything)."""


class DiffView:
    """`%loom diff` and `handle.diff()`: displays as coloured HTML; `str(view)` is the raw diff."""

    def __init__(self, text: str, *, title: str = "") -> None:
        self.text = text
        self.title = title

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text or "(no changes)"

    def stats(self) -> tuple[int, int, int]:
        """(files, insertions, deletions) counted from the diff."""
        files = plus = minus = 0
        for line in self.text.splitlines():
            if line.startswith("diff --git "):
                files += 1
            elif line.startswith("+") and not line.startswith("+++ "):
                plus += 1
            elif line.startswith("-") and not line.startswith("--- "):
                minus += 1
        return files, plus, minus

    def _repr_html_(self) -> str:
        import html

        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import DiffLexer

        files, plus, minus = self.stats()
        head = (
            f'<div class="loom-diff-head" style="font:12px sans-serif;margin:2px 0">{html.escape(self.title)} '
            f"{files} file{'s' * (files != 1)}, "
            f'<span style="color:#2e7d32">+{plus}</span> <span style="color:#c62828">-{minus}</span></div>'
        )
        if not self.text:
            return head + "<div><i>no changes</i></div>"
        lines = self.text.splitlines(keepends=True)
        shown = "".join(lines[:MAX_HTML_LINES])
        body = highlight(shown, DiffLexer(), HtmlFormatter(noclasses=True, nowrap=False, style="default"))
        more = (
            f"<div><i>{len(lines) - MAX_HTML_LINES:,} more lines not shown here; str(diff) has them all</i></div>"
            if len(lines) > MAX_HTML_LINES
            else ""
        )
        return head + f'<div class="loom-diff" style="max-height:600px;overflow:auto;font-size:12px">{body}</div>{more}'

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": self.text or "(no changes)", "text/html": self._repr_html_()}
