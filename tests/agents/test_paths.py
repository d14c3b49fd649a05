"""Citations name files relative to the project root, where users open them from (issue 8 item 10):
in findings, answers, the CLI, the graph, and as links in notebook outputs."""

import sys

import pytest

import loom_nb
from loom_nb.graph import open_graph
from loom_nb.models import ScriptedModel
from loom_nb.swarm import Swarm
from tests.agents.test_sub_agent import STDLIB, run_cli
from tests.swarm.test_swarm import lead_model

ANSWER = (
    "The decoder is at decoder.py:2 (see also lib/decoder.py:1 and ./decoder.py:3). "
    "Not checked: other.py:1, ../other.py:1, missing.py:3, decoder.py:99."
)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "decoder.py").write_text("import re\ndef decode(s):\n    return s\n")
    (root / "other.py").write_text("outside the scope\n")
    return root


async def test_findings_cite_paths_relative_to_the_project(project):
    findings = await loom_nb.asub_agent("where?", scope="lib", project=project, model=ScriptedModel([ANSWER]))
    assert [(ev.path, ev.line) for ev in findings.evidence] == [
        ("lib/decoder.py", 2),
        ("lib/decoder.py", 1),
        ("lib/decoder.py", 3),
    ]
    assert findings.evidence[0].text == "def decode(s):" and str(findings.evidence[0]).startswith("lib/decoder.py:2:")
    assert findings.text == (
        "The decoder is at lib/decoder.py:2 (see also lib/decoder.py:1 and lib/decoder.py:3). "
        "Not checked: other.py:1, ../other.py:1, missing.py:3, decoder.py:99."
    )
    assert findings.project == str(project)


async def test_swarm_answer_and_graph_cite_project_paths(project, tmp_path):
    lead = lead_model(["where is decode defined?"], "the summary")
    swarm = Swarm(
        "where is decode?",
        project=project,
        scope="lib",
        model=lead,
        weak=ScriptedModel([ANSWER]),
        db=tmp_path / "g.duckdb",
    )
    result = await swarm.run()
    assert result.status == "done", result.error
    synthesis_request = lead.requests[-1][0][0].text  # the lead reads the findings with project paths
    assert "lib/decoder.py:2" in synthesis_request and " decoder.py:2" not in synthesis_request
    nodes = open_graph(tmp_path / "g.duckdb").nodes(session=result.session_id, node_type="observation")
    (title,) = nodes["title"].tolist()
    assert title == "lib/decoder.py:2: def decode(s):"
    assert "lib/decoder.py:1" in nodes["description"].iloc[0]


async def test_offline_answer_cites_project_paths():
    result = await Swarm(
        "Where is the TaskGroup class defined?", project=STDLIB, scope="asyncio", model="offline", record=False
    ).run()
    assert result.status == "done" and "asyncio/taskgroups.py:" in result.text


def test_cli_prints_project_paths():
    out = run_cli("subagent", "Where does the encoder handle allow_nan?", "--project", str(STDLIB), "--scope", "json")
    assert out.returncode == 0, out.stderr
    assert "json/encoder.py:" in out.stdout
    assert all(not line.startswith("encoder.py:") for line in out.stdout.splitlines())


async def test_notebook_links_open_the_cited_line(project, tmp_path, monkeypatch):
    notebook_dir = tmp_path / "notebooks"
    notebook_dir.mkdir()
    monkeypatch.chdir(notebook_dir)  # a kernel runs in the notebook's directory
    findings = await loom_nb.asub_agent("where?", scope="lib", project=project, model=ScriptedModel([ANSWER]))
    assert findings.links() == {
        "lib/decoder.py:2": "../proj/lib/decoder.py#line=1",
        "lib/decoder.py:1": "../proj/lib/decoder.py#line=0",
        "lib/decoder.py:3": "../proj/lib/decoder.py#line=2",
    }
    page = findings._repr_html_()
    assert '<a href="../proj/lib/decoder.py#line=1" title="open in the editor">lib/decoder.py:2</a>' in page
    assert page.count("<a ") == 3  # unchecked citations stay text


def test_odd_file_names_become_quoted_urls(tmp_path):
    from loom_nb._safe import file_href, linked

    odd = tmp_path / 'a "b" <c>#?&.py'
    assert file_href(odd, 3, base=tmp_path) == "a%20%22b%22%20%3Cc%3E%23%3F%26.py#line=2"
    assert file_href(tmp_path / "x:y.py", None, base=tmp_path) == "x%3Ay.py"  # never read as a scheme
    html = linked("see x.py:1 and x.py:10", {"x.py:1": 'u"><script>'})
    assert html == 'see <a href="u&quot;&gt;&lt;script&gt;" title="open in the editor">x.py:1</a> and x.py:10'
    assert sys.platform != "win32" or file_href("D:/a.py", None, base="C:/") is None
