"""open_graph on a missing file: the error names options that exist, and create=True works."""

import pytest

from loom_nb.graph import open_graph
from loom_nb.graph._read import GraphNotFound


def test_a_missing_graph_says_what_to_do_with_options_that_exist(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        open_graph(tmp_path / "nope.duckdb")
    assert isinstance(info.value, GraphNotFound) and info.value.path == tmp_path / "nope.duckdb"
    message = str(info.value)
    assert "run a session first" in message and "open_graph(..., create=True)" in message
    assert not (tmp_path / "nope.duckdb").exists()  # a reader leaves nothing behind
    with pytest.raises(GraphNotFound, match=str(tmp_path / "proj" / ".loom" / "loom.duckdb")):
        open_graph(project=tmp_path / "proj")


def test_create_true_starts_an_empty_graph_that_reads_back(tmp_path):
    g = open_graph(tmp_path / "new.duckdb", create=True)
    assert g.sessions().empty
    node = g.add_node("goal", "a goal set by hand")
    assert open_graph(tmp_path / "new.duckdb").nodes()["title"].tolist() == [node.title]
