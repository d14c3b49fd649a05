"""A run whose graph file misbehaves: two runs at once on one file, a damaged file, a read-only .loom/.

Each run is a real Swarm (scripted models) recording to a real DuckDB file.
"""

import asyncio
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from loom_nb.graph import Graph, GraphFileError, GraphStore, load_spool, open_graph
from loom_nb.models import ScriptedModel
from loom_nb.swarm import Swarm, run_sync
from tests.shell import loom_shell


def lead(messages, tools):
    return "the answer" if messages[0].text.startswith("Request:") else "1. where is x?\n2. where is y?"


def swarm(project: Path, db: Path, **kwargs) -> Swarm:
    return Swarm(
        "find x and y", project=project, model=ScriptedModel(lead), weak=ScriptedModel("found"), db=db, **kwargs
    )


@pytest.fixture
def project(tmp_path):
    (tmp_path / "x.py").write_text("x = 1\ny = 2\n")
    return tmp_path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# item 7 ------------------------------------------------------------------------------------------


def test_runs_at_once_on_one_new_file_in_one_process_lose_no_session(project):
    """Four threads start a swarm each on the same new file: all four sessions are recorded, done."""
    for round_ in range(3):
        db = project / f"shared-{round_}.duckdb"
        results: list = [None] * 4
        gate = threading.Barrier(4)

        def run(i: int, db=db, round_=round_, gate=gate, results=results) -> None:
            s = swarm(project, db, session=f"r{round_}-{i}")
            gate.wait()  # start together: the schema is created by whichever gets there first
            try:
                results[i] = run_sync(s)
            except Exception as exc:  # the assertion below shows it
                results[i] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert [getattr(r, "status", r) for r in results] == ["done"] * 4
        sessions = open_graph(db).sessions()
        assert sorted(sessions["id"]) == [f"r{round_}-{i}" for i in range(4)]
        assert set(sessions["status"]) == {"done"} and (sessions["input_tokens"] > 0).all()


# item 8 ------------------------------------------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(20_000))


def _truncated(path: Path) -> None:
    """A real graph file cut short (a copy or a download interrupted): its first 64 KiB."""
    Graph(GraphStore(path), session_id="old").add_node("goal", "recorded before the damage")
    path.write_bytes(path.read_bytes()[: 64 * 1024])


@pytest.mark.parametrize("damage", [_garbage, _truncated], ids=["garbage", "truncated"])
def test_a_damaged_graph_file_fails_the_run_says_what_to_do_and_is_left_untouched(project, damage):
    db = project / ".loom" / "loom.duckdb"
    db.parent.mkdir()
    damage(db)
    before, files = sha(db), sorted(os.listdir(db.parent))
    result = asyncio.run(swarm(project, db).run())
    assert result.status == "failed"
    assert f"the graph file {db} is not a DuckDB database (or is damaged): move it aside or pass --db" in result.error
    assert sha(db) == before and sorted(os.listdir(db.parent)) == files  # not a byte changed, nothing added
    with pytest.raises(GraphFileError, match="is not a DuckDB database"):
        open_graph(db).sessions()
    with loom_shell(db=db) as (sh, runner):
        with pytest.raises(UsageError, match=r"%loom sessions: the graph file .* move it aside or pass --db"):
            sh.run_line_magic("loom", "sessions")
        # the notebook's own run: the handle says failed (not cancelled), with the cause
        handle = runner.submit(swarm(project, db))
        assert handle.wait(timeout=60).status == "failed" and handle.status == "failed"
        assert "is not a DuckDB database" in handle.result.error
    assert sha(db) == before


# item 9 ------------------------------------------------------------------------------------------


def wait_released(db: Path) -> None:
    """The recorder lets go of the file (a checkpoint, which removes the WAL) just after the run returns."""
    wal = db.with_name(db.name + ".wal")
    deadline = time.monotonic() + 30
    while wal.exists():
        assert time.monotonic() < deadline, "the recorder never let go of the file"
        time.sleep(0.01)


@contextlib.contextmanager
def read_only(directory: Path):
    """Make `directory` refuse new files, also for root (the tests run as root, who ignores mode bits):
    the immutable attribute (chattr +i) binds root too. Not root: mode bits do it."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(directory)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        mode = directory.stat().st_mode
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(mode)


def test_a_read_only_loom_dir_fails_the_run_in_bounded_time_and_keeps_every_event(
    project, tmp_path_factory, monkeypatch
):
    db = project / ".loom" / "loom.duckdb"
    first = asyncio.run(swarm(project, db, session="before").run())
    assert first.status == "done"
    wait_released(db)  # so the next write must create the WAL in .loom/
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))  # where the spool goes: $XDG_CACHE_HOME/loom-nb/spool
    spool_dir = cache / "loom-nb" / "spool"
    with read_only(db.parent):
        with pytest.raises(OSError):  # the directory really refuses new files, even to root
            (db.parent / "probe").touch()
        started = time.monotonic()
        result = asyncio.run(swarm(project, db, session="ro").run())
        elapsed = time.monotonic() - started
    assert elapsed < 15, f"the run took {elapsed:.1f} s"  # bounded retries, no hang
    assert result.status == "failed"
    assert f"cannot write the graph file {db}" in result.error and f"make {db.parent} writable" in result.error
    spools = list(spool_dir.glob("*.jsonl"))
    assert len(spools) == 1 and str(spools[0]) in result.error and "load_spool" in result.error
    lines = spools[0].read_text().splitlines()
    assert '"kind": "session_started"' in lines[0] and '"kind": "session_ended"' in lines[-1]
    # nothing silently dropped: the spool loads into a graph file, the session and its calls with it
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "g.duckdb"
    assert load_spool(spools[0], db=elsewhere) == len(lines)
    g = open_graph(elsewhere)
    session = g.sessions().set_index("id").loc["ro"]
    assert session["status"] == "failed" and "cannot write the graph file" in session["error"]
    # every model call of the run is in the spool, and so in the graph it loads into
    calls = sum('"kind": "llm_call"' in line for line in lines)
    assert calls >= 1 and len(g.llm_calls("ro")) == calls and session["input_tokens"] > 0
    assert len(g.events("ro")) == len(lines)
    assert open_graph(db).sessions()["id"].tolist() == ["before"]  # the read-only file is as it was


def test_a_read_only_graph_can_still_be_read(project):
    db = project / ".loom" / "loom.duckdb"
    assert asyncio.run(swarm(project, db, session="kept").run()).status == "done"
    dead = subprocess.Popen(["true"])
    dead.wait()
    with GraphStore(db).connect() as con:  # a session whose process died: recovery would mark it interrupted
        con.execute(
            "INSERT INTO sessions (id, status, writer_pid, writer_host, started_at) "
            "VALUES ('orphan', 'running', ?, ?, now()::TIMESTAMP)",
            [dead.pid, socket.gethostname()],
        )
    wait_released(db)
    with read_only(db.parent):
        sessions = open_graph(db).sessions().set_index("id")  # reads work; recovery waits for a writable file
    assert sessions.loc["kept", "status"] == "done" and sessions.loc["orphan", "status"] == "running"
    assert open_graph(db).sessions().set_index("id").loc["orphan", "status"] == "interrupted"


def test_a_read_only_loom_dir_without_a_graph_file_fails_at_once(project):
    (project / ".loom").mkdir()
    with read_only(project / ".loom"):
        started = time.monotonic()
        result = asyncio.run(swarm(project, None).run())
        elapsed = time.monotonic() - started
    assert result.status == "failed" and elapsed < 5
    db = project / ".loom" / "loom.duckdb"
    assert f"cannot write the graph file {db}" in result.error and "pass --db" in result.error
    assert os.listdir(project / ".loom") == []


def test_load_spool_of_a_missing_file_says_where_to_look(tmp_path):
    with pytest.raises(FileNotFoundError, match="no spool at"):
        load_spool(tmp_path / "nope.jsonl", db=tmp_path / "g.duckdb")


def test_graph_store_on_a_directory_that_cannot_be_made(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the .loom directory should go")
    with pytest.raises(GraphFileError, match="pass --db"):
        GraphStore(blocker / "loom.duckdb").connect().__enter__()
    assert shutil.which("chattr")  # the read-only tests above need it (e2fsprogs)
