import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from loom_nb.events import AgentSpawned, AgentStatus, EventBus, LLMCall, SessionEnded, SessionStarted, ToolCallEvent
from loom_nb.graph import Graph, GraphStore, Recorder, open_graph

ROOT = Path(__file__).resolve().parents[2]


def writer(db: Path, session: str, count: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.graph.writer_process", str(db), session, str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_events_map_to_their_tables(store):
    bus = EventBus()
    with Recorder(store).attach(bus) as rec:
        bus.emit(
            SessionStarted(
                session_id="s1",
                agent="",
                intent="find the bug",
                title="bug hunt",
                models=("anthropic:claude-haiku-4-5",),
                project="/p",
            )
        )
        bus.emit(AgentSpawned(session_id="s1", agent="researcher-1", role="researcher", model="m", parent="lead"))
        bus.emit(AgentStatus(session_id="s1", agent="researcher-1", status="crashed", reason="boom"))
        bus.emit(
            AgentSpawned(
                session_id="s1", agent="researcher-1", role="researcher", model="m", parent="lead", restart=True
            )
        )
        bus.emit(
            LLMCall(
                session_id="s1",
                agent="researcher-1",
                model="m",
                input_tokens=100,
                output_tokens=10,
                cache_read_tokens=50,
                cost_usd=0.002,
                latency_s=0.5,
                retries=1,
            )
        )
        bus.emit(LLMCall(session_id="s1", agent="researcher-1", model="x:unpriced", input_tokens=7, cost_usd=None))
        bus.emit(
            ToolCallEvent(
                session_id="s1",
                agent="researcher-1",
                tool="file_read",
                call_id="c1",
                args_summary="path='a.py'",
                duration_s=0.01,
                outcome="error",
                error="missing",
            )
        )
        bus.emit(AgentStatus(session_id="s1", agent="researcher-1", status="done"))
        bus.emit(SessionEnded(session_id="s1", agent="", status="done"))
        assert rec.flush() == 9
    g = Graph(store)
    s = g.sessions().iloc[0]
    assert (s["status"], s["intent"], s["title"], s["models"]) == (
        "done",
        "find the bug",
        "bug hunt",
        ["anthropic:claude-haiku-4-5"],
    )
    assert (s["input_tokens"], s["output_tokens"], s["cache_read_tokens"], s["unpriced_calls"]) == (107, 10, 50, 1)
    assert s["cost_usd"] == pytest.approx(0.002) and s["writer_pid"] == os.getpid()
    a = g.agents("s1").iloc[0]
    assert (a["name"], a["role"], a["parent"], a["status"], a["restarts"]) == (
        "researcher-1",
        "researcher",
        "lead",
        "done",
        1,
    )
    assert g.llm_calls()["cost_usd"].isna().tolist() == [False, True]
    assert g.tool_calls()[["tool", "outcome", "error"]].values.tolist() == [["file_read", "error", "missing"]]
    assert len(g.events("s1")) == 9 and g.events(kind="agent_status")["payload"].iloc[0]["reason"] == "boom"


def test_events_are_written_in_batches_not_one_by_one(store):
    flushes = []
    bus = EventBus()
    with Recorder(store, flush_interval=0.05, on_flush=flushes.append).attach(bus) as rec:
        for i in range(20_000):
            bus.emit(
                ToolCallEvent(
                    session_id="s", agent="a", tool="t", call_id=str(i), args_summary="", duration_s=0.0, outcome="ok"
                )
            )
        assert rec.flush() == 20_000
    assert len(flushes) <= 5 and flushes[-1] == 20_000
    assert Graph(store).sql("SELECT count(*) AS n FROM tool_calls")["n"].iloc[0] == 20_000


def test_a_session_without_a_start_event_is_closed_with_the_recorder(store):
    bus = EventBus()
    with Recorder(store).attach(bus):
        bus.emit(AgentStatus(session_id="bare", agent="sub_agent-1", status="thinking"))
    assert Graph(store).sessions()[["id", "status"]].values.tolist() == [["bare", "done"]]


def test_a_busy_file_delays_the_writer_but_loses_nothing(store, tmp_path):
    with store.connect():
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); "
            "sys.stdin.read(); c.close()",
            str(store.path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    bus = EventBus()
    rec = Recorder(GraphStore(store.path, lock_timeout=0.2), flush_interval=0.02).attach(bus)
    for i in range(100):
        bus.emit(
            ToolCallEvent(
                session_id="s", agent="a", tool="t", call_id=str(i), args_summary="", duration_s=0.0, outcome="ok"
            )
        )
    with pytest.raises(TimeoutError):
        rec.flush(timeout=0.5)  # every attempt meets the held lock
    assert rec.written == 0
    holder.stdin.close()
    holder.wait(timeout=30)
    assert rec.flush(timeout=30) == 100
    rec.close()
    assert Graph(store).sql("SELECT count(*) AS n FROM tool_calls")["n"].iloc[0] == 100


def test_sigkill_mid_swarm_loses_at_most_the_open_batch(tmp_path):
    db = tmp_path / "crash.duckdb"
    proc = writer(db, "doomed", 0)
    committed = 0
    for line in proc.stdout:
        committed = int(line.split()[1])
        if committed >= 5000:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    g = open_graph(db)
    session = g.sessions().iloc[0]
    assert session["status"] == "interrupted" and session["ended_at"] >= session["started_at"]
    events = g.sql("SELECT count(*) AS n FROM events")["n"].iloc[0]
    assert events >= committed  # everything reported committed is there
    # batches are atomic: the typed tables match the raw stream exactly
    counts = g.sql("""SELECT (SELECT count(*) FROM llm_calls) AS llm, (SELECT count(*) FROM tool_calls) AS tools,
                             (SELECT count(*) FROM events WHERE kind = 'llm_call') AS ev_llm,
                             (SELECT count(*) FROM events WHERE kind = 'tool_call') AS ev_tools""").iloc[0]
    assert (counts["llm"], counts["tools"]) == (counts["ev_llm"], counts["ev_tools"])
    con = duckdb.connect(str(db))  # the file is intact for any client
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == events
    con.close()


def test_a_reader_and_a_writer_in_two_processes(tmp_path):
    db = tmp_path / "shared.duckdb"
    GraphStore(db).connect().__enter__().close()  # create the file so the reader can open it
    proc = writer(db, "live", 30_000)
    reader = open_graph(db, lock_timeout=30)
    seen: list[int] = []
    while proc.poll() is None and len(seen) < 10_000:
        n = reader.sql("SELECT count(*) AS n FROM events")["n"].iloc[0]
        seen.append(int(n))
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0
    done = int(out.strip().splitlines()[-1].split()[1])
    assert done == 30_001
    assert seen == sorted(seen) and len(seen) >= 2  # never went backwards, never crashed
    assert reader.sql("SELECT count(*) AS n FROM events")["n"].iloc[0] == done  # the writer lost nothing
    assert reader.sessions()["status"].tolist() == ["done"]


def test_recording_a_session_imports_neither_pandas_nor_pyarrow(tmp_path):
    """The write path's memory floor is DuckDB's: pandas and pyarrow (~100 MB together) stay out of it."""
    code = (
        "import sys\n"
        "from loom_nb.events import AgentStatus, EventBus, LLMCall, SessionEnded, SessionStarted, ToolCallEvent\n"
        "from loom_nb.graph import GraphStore, Recorder\n"
        "bus = EventBus()\n"
        f"rec = Recorder(GraphStore({str(tmp_path / 'g.duckdb')!r})).attach(bus)\n"
        "bus.emit(SessionStarted(session_id='s', agent='', intent='x', models=('m',)))\n"
        "for i in range(2000):\n"
        "    bus.emit(AgentStatus(session_id='s', agent=f'a{i % 9}', status='thinking', iteration=i))\n"
        "    bus.emit(LLMCall(session_id='s', agent=f'a{i % 9}', model='m', input_tokens=3, cost_usd=0.5))\n"
        "    bus.emit(ToolCallEvent(session_id='s', agent='a', tool='t', call_id=str(i), args_summary='',\n"
        "                           duration_s=0.0, outcome='ok'))\n"
        "bus.emit(SessionEnded(session_id='s', agent='', status='done'))\n"
        "rec.close()\n"
        "print(rec.written, 'pandas' in sys.modules, 'pyarrow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.stdout.split() == ["6002", "False", "False"], out.stderr
    s = open_graph(tmp_path / "g.duckdb").sessions().iloc[0]
    assert (s["status"], s["input_tokens"], s["cost_usd"]) == ("done", 6000, 1000.0)


def test_close_writes_what_is_pending_without_waiting_for_a_tick(store):
    bus = EventBus()
    rec = Recorder(store, flush_interval=30.0, idle_release=30.0).attach(bus)
    bus.emit(SessionStarted(session_id="s", agent="", intent="x"))
    for i in range(500):
        bus.emit(AgentStatus(session_id="s", agent=f"a{i % 5}", status="thinking", iteration=i))
    bus.emit(SessionEnded(session_id="s", agent="", status="done"))
    started = time.monotonic()
    rec.close()
    assert time.monotonic() - started < 5  # not the 30 s tick, nor the 30 s idle timer
    g = Graph(store)
    assert g.sessions()["status"].tolist() == ["done"] and len(g.events("s")) == 502


def test_non_finite_numbers_from_a_model_are_stored_as_null(store):
    bus = EventBus()
    with Recorder(store).attach(bus):
        bus.emit(LLMCall(session_id="s", agent="a", model="m", latency_s=float("nan"), cost_usd=float("inf")))
    calls = Graph(store).llm_calls()
    assert calls["latency_s"].isna().all() and calls["cost_usd"].isna().all()
    s = Graph(store).sessions().iloc[0]
    assert (s["cost_usd"], s["unpriced_calls"]) == (0.0, 1)  # unknown, and counted as such
