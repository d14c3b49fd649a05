"""The CLI prints what models and scanned files wrote as text: a terminal never obeys their escape
sequences (retitle, clear the screen, colour, reverse the text)."""

from tests.agents.test_sub_agent import run_cli

INJECTED = "\x1b]0;pwned\x07\x1b[2J settings loaded \x1b[31mred\x1b[0m\u202eevil"


def test_escape_sequences_from_a_scanned_file_are_shown_not_obeyed(tmp_path):
    (tmp_path / "settings.py").write_text(f"def load_settings(path):  # {INJECTED}\n    return path\n")
    out = run_cli("subagent", "Where are the settings loaded?", "--project", str(tmp_path), "--model", "offline", "-v")
    assert out.returncode == 0, out.stderr
    assert "settings.py:1:" in out.stdout  # the injected line was cited...
    assert "<U+001B>]0;pwned<U+0007><U+001B>[2J settings loaded <U+001B>[31mred<U+001B>[0m<U+202E>evil" in out.stdout
    assert not any(c in out.stdout + out.stderr for c in "\x1b\x07\u202e")  # ...as text


def test_the_plan_and_task_progress_show_escape_sequences_as_text(capsys) -> None:
    """`loom-nb run` prints the plan and each task's end on stderr: titles, summaries and errors were
    written by models, so a retitle, a clear screen or a direction override is shown, never obeyed."""
    from loom_nb._cli import _progress
    from loom_nb.events import PlanMade, PlannedTask, TaskStatus

    hostile = "\x1b]0;owned\x07\x1b[2J\u202eevil"
    _progress(
        PlanMade(session_id="s", agent="lead", tasks=(PlannedTask(id="t1", role="tester", prompt="p", title=hostile),))
    )
    _progress(TaskStatus(session_id="s", agent="tester-1", task="t1", role="tester", status="done", summary=hostile))
    _progress(TaskStatus(session_id="s", agent="tester-1", task="t1", role="tester", status="failed", error=hostile))
    err = capsys.readouterr().err
    assert err.count("evil") == 3 and err.count("<U+001B>") == 6
    assert not any(c in err for c in "\x1b\x07\u202e")
