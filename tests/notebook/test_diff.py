"""The diff view: coloured HTML that carries model-written lines as text, and the raw diff."""

from loom_nb.notebook._diff import DiffView

HOSTILE = """diff --git a/app.py b/app.py
--- a/app.py
+++ b/app.py
@@ -1,2 +1,2 @@
-x = "<img src=x onerror=alert(1)>"
+x = "</pre><script>alert(2)</script>"
 y = '<a href="javascript:alert(3)">click</a>'
"""


def test_hostile_lines_stay_text() -> None:
    view = DiffView(HOSTILE, title="session <b>s1</b>")
    page = view._repr_html_()
    assert "<script>" not in page and "<img" not in page and "<a href" not in page and "<b>s1" not in page
    assert "&lt;script&gt;" in page and "&lt;img" in page
    assert view.stats() == (1, 1, 1)
    assert str(view) == HOSTILE
    assert view._repr_mimebundle_()["text/plain"] == HOSTILE


def test_an_empty_diff_says_so() -> None:
    assert "no changes" in DiffView("")._repr_html_()
    assert repr(DiffView("")) == "(no changes)"
