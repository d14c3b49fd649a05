import duckdb
import pytest

from loom_nb.graph import MIGRATIONS, GraphStore, Migration, SchemaTooNew, default_path, open_graph


def test_default_path_is_one_file_per_project(tmp_path):
    assert default_path(tmp_path) == tmp_path.resolve() / ".loom" / "loom.duckdb"


def test_schema_is_created_with_its_version(store):
    with store.connect() as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    assert {
        "decision_nodes",
        "decision_edges",
        "sessions",
        "agents",
        "llm_calls",
        "tool_calls",
        "events",
        "task_dependencies",
        "schema_version",
    } <= tables
    assert version == MIGRATIONS[-1].version


def test_a_file_from_an_older_version_opens_in_a_newer_one(tmp_path, graph):
    node = graph.add_node("goal", "written by version 1")

    def v2(con):
        con.execute("ALTER TABLE decision_nodes ADD COLUMN priority INTEGER DEFAULT 3")

    nxt = MIGRATIONS[-1].version + 1
    newer = GraphStore(graph.store.path, migrations=(*MIGRATIONS, Migration(nxt, "node priority", v2)))
    with newer.connect() as con:
        row = con.execute("SELECT title, priority FROM decision_nodes WHERE id = ?", [node.id]).fetchone()
        versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]
    assert row == ("written by version 1", 3) and versions == list(range(1, nxt + 1))


def test_a_failed_migration_changes_nothing(graph):
    graph.add_node("goal", "keep me")

    def broken(con):
        con.execute("ALTER TABLE decision_nodes ADD COLUMN half_done INTEGER")
        raise RuntimeError("migration bug")

    newer = GraphStore(
        graph.store.path, migrations=(*MIGRATIONS, Migration(MIGRATIONS[-1].version + 1, "broken", broken))
    )
    with pytest.raises(RuntimeError, match="migration bug"):
        with newer.connect():
            pass
    con = duckdb.connect(str(graph.store.path))
    cols = {r[0] for r in con.execute("DESCRIBE decision_nodes").fetchall()}
    version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    con.close()
    assert "half_done" not in cols and version == MIGRATIONS[-1].version


def test_a_file_from_a_newer_version_gets_a_clear_error(graph):
    with graph.store.connect() as con:
        con.execute("INSERT INTO schema_version VALUES (99, 'future', now()::TIMESTAMP)")
    with pytest.raises(SchemaTooNew, match=r"schema version 99.*upgrade loom-nb"):
        with GraphStore(graph.store.path).connect():
            pass


def test_open_graph_of_a_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no loom graph at .*run a session first"):
        open_graph(project=tmp_path)


def test_a_version_1_file_gains_the_sessions_error_column(tmp_path):
    db = tmp_path / "v1.duckdb"
    with GraphStore(db, migrations=MIGRATIONS[:1]).connect() as con:  # as loom-nb with schema 1 wrote it
        con.execute(
            "INSERT INTO sessions (id, status, started_at, ended_at) VALUES ('old', 'failed', now()::TIMESTAMP, NULL)"
        )
    sessions = open_graph(db).sessions()
    assert sessions[["id", "status"]].values.tolist() == [["old", "failed"]]
    assert "error" in sessions.columns and sessions["error"].isna().all()  # nothing recorded, nothing invented
