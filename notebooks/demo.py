"""`make demo`: run the quickstart notebook headlessly, then leave its HTML export and the drawn
decision graph in a folder, and say where."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

HERE = Path(__file__).resolve().parent


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parent / "demo-output").resolve()
    out.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(HERE / "01_quickstart.ipynb", as_version=4)
    print("running notebooks/01_quickstart.ipynb (offline unless ANTHROPIC_API_KEY is set) ...", flush=True)
    NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(HERE)}}).execute()
    nbformat.write(nb, out / "01_quickstart.executed.ipynb")
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out / "01_quickstart.html").write_text(html, encoding="utf-8")

    from loom_nb import open_graph

    graph = open_graph(project=HERE / "sample_project")
    session = graph.sessions()["id"].iloc[-1]
    graph.save_html(out / "graph.html", session=session)
    findings = graph.nodes(session=session, node_type="observation")
    print(f"session {session}: {len(findings)} findings, {len(graph.events(session=session))} events recorded")
    print(f"notebook, executed:  {out / '01_quickstart.html'}")
    print(f"decision graph:      {out / 'graph.html'}")
    print(f"(both open offline in any browser; the recorded data is in {graph.store.path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
