import pytest

from loom_nb.graph import Graph, GraphStore


@pytest.fixture
def store(tmp_path):
    return GraphStore(tmp_path / "loom.duckdb")


@pytest.fixture
def graph(store):
    return Graph(store, session_id="s1", agent_name="lead")
