"""`make demo`: run the tutorials headlessly (the quickstart's research swarm, then the specialist
swarm's rename: plan, research, decisions, edits as commits, an approval answered as a user would, the
tests, the diff, the merge), then leave their HTML exports and the drawn decision graphs in a folder,
and say where."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

HERE = Path(__file__).resolve().parent


def run_notebook(name: str, out: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(HERE / f"{name}.ipynb", as_version=4)
    print(f"running notebooks/{name}.ipynb ...", flush=True)
    NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(HERE)}}).execute()
    nbformat.write(nb, out / f"{name}.executed.ipynb")
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out / f"{name}.html").write_text(html, encoding="utf-8")
    return nb


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parent / "demo-output").resolve()
    out.mkdir(parents=True, exist_ok=True)
    print("(offline unless ANTHROPIC_API_KEY is set; the specialist swarm's tutorial is always offline)")
    run_notebook("01_quickstart", out)

    from loom_nb import open_graph

    graph = open_graph(project=HERE / "sample_project")
    session = graph.sessions()["id"].iloc[-1]
    graph.save_html(out / "graph.html", session=session)
    findings = graph.nodes(session=session, node_type="observation")
    print(f"session {session}: {len(findings)} findings, {len(graph.events(session=session))} events recorded")

    team = run_notebook("02_specialists", out)
    said = _output_of(team, "print(result.text)")
    print(said)
    db = _output_of(team, "print(run.graph.store.path)").strip()
    if db:
        specialists = open_graph(db)
        team_session = specialists.sessions()["id"].iloc[-1]
        specialists.save_html(out / "specialists-graph.html", session=team_session)
        tasks = specialists.tasks(session=team_session)
        commits = specialists.commits(session=team_session)
        tests = specialists.tests(session=team_session)
        print(
            f"session {team_session}: {len(tasks)} tasks ({', '.join(tasks['role'])}), {len(commits)} commits, "
            f"tests: {tests['summary'].iloc[-1] if len(tests) else 'none'}"
        )
    print(f"research swarm, executed:    {out / '01_quickstart.html'}")
    print(f"its decision graph:          {out / 'graph.html'}")
    print(f"specialist swarm, executed:  {out / '02_specialists.html'}")
    if db:
        print(f"its decision graph:          {out / 'specialists-graph.html'}")
    print(f"(all open offline in any browser; the quickstart's recorded data is in {graph.store.path})")
    return 0


def _output_of(nb: nbformat.NotebookNode, source: str) -> str:
    """What the cell whose source is `source` printed (the demo reads the run's answer from it)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.strip() == source:
            return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    return ""


if __name__ == "__main__":
    sys.exit(main())
