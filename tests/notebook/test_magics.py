"""%loom and %%loom on a real InteractiveShell (the kernel tests drive a real kernel)."""

import subprocess
import sys
import threading

import pytest
from IPython.core.error import UsageError

from loom_nb.notebook._magics import interpolate
from tests.shell import loom_shell


@pytest.fixture
def project(tmp_path):
    (tmp_path / "config.py").write_text("import tomllib\n\n\ndef parse_config(path):\n    return tomllib.load(path)\n")
    (tmp_path / "app.py").write_text("from config import parse_config\n\nsettings = parse_config('a.toml')\n")
    return tmp_path


@pytest.fixture
def shell(project, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with loom_shell(project=project) as (sh, _runner):
        yield sh


def test_load_ext_is_quick_and_light():
    code = (
        "import sys, time; from IPython.core.interactiveshell import InteractiveShell; "
        "sh = InteractiveShell.instance(); sh.run_line_magic('load_ext', 'loom_nb'); "
        "print(sorted(m for m in ('pandas', 'duckdb', 'litellm', 'anthropic', 'ipywidgets') if m in sys.modules)); "
        "print('loom' in sh.magics_manager.magics['cell'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True"


def test_cell_magic_runs_a_foreground_swarm_and_binds_the_handle(shell, project):
    handle = shell.run_cell_magic("loom", "--offline --max-agents 2", "Where is parse_config defined and used?")
    assert handle.status == "done" and "config.py:4" in handle.text
    assert shell.user_ns["_loom"] is handle
    agents = handle.agents()
    assert list(agents.columns) == [
        "name",
        "role",
        "model",
        "status",
        "tool",
        "iterations",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "restarts",
        "tool_calls",
    ]
    assert set(agents["name"]) >= {"lead", "researcher-1"} and set(agents["status"]) == {"done"}
    assert (project / ".loom" / "loom.duckdb").exists()
    assert handle.graph.sessions()["status"].tolist() == ["done"]


def test_line_magic_with_options_out_name_and_interpolation(shell):
    shell.user_ns["fn"] = "parse_config"
    result = shell.run_cell("%loom --offline --out research Where is {fn} used? {{literal}}")
    handle = shell.user_ns["research"]
    assert result.result is handle and handle.swarm.intent == "Where is parse_config used? {literal}"
    cell = shell.run_cell_magic("loom", "--offline", "Where is {fn} used? {{literal}}")
    assert cell.swarm.intent == "Where is parse_config used? {literal}"


def test_interpolation_errors_say_what_to_do():
    with pytest.raises(UsageError, match=r"\{missing\} in the intent names no variable"):
        interpolate("look at {missing}", {})
    with pytest.raises(UsageError, match="unmatched braces"):
        interpolate("a { b", {})


def test_bad_options_and_missing_keys_are_short_usage_errors(shell):
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        shell.run_cell_magic("loom", "--bogus", "find x")
    with pytest.raises(UsageError, match="argument --max-agents: invalid int value"):
        shell.run_cell_magic("loom", "--max-agents many", "find x")
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):
        shell.run_cell_magic("loom", "--model anthropic:claude-sonnet-4-5", "find x")
    with pytest.raises(UsageError, match="needs an intent"):
        shell.run_cell_magic("loom", "--offline", "   ")
    result = shell.run_cell("%loom --bogus find things")  # as a user sees it: no traceback
    assert isinstance(result.error_in_exec, UsageError)


def test_config_traits_sit_between_loom_toml_and_options(shell, project):
    (project / ".loom.toml").write_text('[model]\ndefault = "anthropic:claude-sonnet-4-5"\nweak = "offline"\n')
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):  # .loom.toml alone
        shell.run_cell_magic("loom", "", "find x")
    shell.run_line_magic("config", "LoomMagics.model = 'offline'")  # %config beats .loom.toml
    assert shell.run_cell_magic("loom", "", "Where is parse_config?").swarm.model.name == "offline"
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):  # an option beats %config
        shell.run_cell_magic("loom", "--model anthropic:claude-haiku-4-5", "find x")
    shell.run_line_magic("config", "LoomMagics.model = None")


def test_background_status_stop_and_subcommands(shell, project):
    handle = shell.run_cell_magic("loom", "--offline --background --session bg1", "Where is parse_config?")
    assert handle.session_id == "bg1"
    assert handle.wait(timeout=30).status == "done"
    status = shell.run_line_magic("loom", "status")
    assert status.set_index("session").loc["bg1", "status"] == "done"
    assert "researcher-1" in set(shell.run_line_magic("loom", "agents bg1")["name"])
    assert shell.run_line_magic("loom", "stop bg1") == "session bg1: done"
    with pytest.raises(UsageError, match="no session is running"):
        shell.run_line_magic("loom", "stop")
    assert shell.run_line_magic("loom", "sessions")["id"].tolist() == ["bg1"]
    assert shell.run_line_magic("loom", "graph bg1").nodes >= 3
    costs = shell.run_line_magic("loom", "costs --by role")
    assert set(costs["role"]) == {"lead", "researcher"} or set(costs["role"]) == {"researcher"}
    assert shell.run_line_magic("loom", "sql \"select count(*) as n from sessions where id = 'bg1'\"")["n"][0] == 1
    with pytest.raises(UsageError, match="%loom sql"):
        shell.run_line_magic("loom", 'sql "select * from nowhere"')
    models = shell.run_line_magic("loom", "models")
    assert models["key set"].tolist() == ["✓", "✓"] and models["model"].tolist() == ["offline", "offline"]
    findings = shell.run_line_magic("loom", 'subagent "Where is parse_config?" --model offline')
    assert any(ev.path == "config.py" for ev in findings.evidence)


def test_models_never_shows_a_key(shell, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-value-123")
    shell.run_line_magic("config", "LoomMagics.offline = False")
    table = shell.run_line_magic("loom", "models")
    assert "sk-ant-secret-value-123" not in table.to_string()
    assert table.set_index("use").loc["lead", "key set"] == "✓"


def test_subcommands_follow_the_project_of_the_newest_session(shell, project, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    (other / "x.py").write_text("def parse_config():\n    pass\n")
    shell.run_cell_magic("loom", f"--offline --project {other}", "Where is parse_config?")
    assert shell.run_line_magic("loom", 'sql "select count(*) as n from sessions"')["n"][0] == 1
    assert (other / ".loom" / "loom.duckdb").exists() and not (project / ".loom").exists()


def test_help_and_log(shell, capsys):
    import logging

    from loom_nb.notebook._log import capture_logs

    shell.run_line_magic("loom", "help")
    assert "%loom subagent" in capsys.readouterr().out
    capture_logs()
    logging.getLogger("loom_nb.recorder").warning("writing failed; retrying")
    assert capsys.readouterr().err == ""  # not printed into the running cell...
    shell.run_line_magic("loom", "log")
    assert "writing failed; retrying" in capsys.readouterr().out  # ...but kept


def test_run_sync_where_no_loop_runs(project):
    from loom_nb.swarm import Swarm, run_sync

    result = run_sync(Swarm("Where is parse_config defined?", project=project, model="offline", record=False))
    assert result.status == "done" and "config.py:" in result.text


def test_stop_of_a_background_run_ends_every_agent_with_a_status_and_time(shell, project):
    import threading

    from tests.notebook.test_runner import hanging_swarm

    started = threading.Event()
    swarm = hanging_swarm(project, started, db=project / "stop.duckdb")
    swarm.record = True
    runner = shell.magics_manager.registry["LoomMagics"].runner
    handle = runner.submit(swarm)
    assert started.wait(10)  # the researcher is thinking
    assert shell.run_line_magic("loom", "stop") == f"session {swarm.session_id}: cancelled"
    agents = handle.graph.agents(swarm.session_id).set_index("name")
    assert agents.loc["researcher-1", "status"] == "cancelled"
    assert agents["ended_at"].notna().all() and "thinking" not in set(agents["status"])
    assert handle.agents().set_index("name").loc["researcher-1", "status"] == "cancelled"


def test_one_unknown_word_is_a_usage_error_never_a_run(shell):
    runner = shell.magics_manager.registry["LoomMagics"].runner
    with pytest.raises(UsageError, match="unknown sub-command 'grpah'; did you mean 'graph'"):
        shell.run_line_magic("loom", "grpah")
    with pytest.raises(UsageError, match="unknown sub-command 'sesions'; did you mean 'sessions'"):
        shell.run_line_magic("loom", "--offline sesions")
    with pytest.raises(UsageError, match="one word is too short an intent"):
        shell.run_line_magic("loom", "refactor")
    with pytest.raises(UsageError, match="did you mean 'status'"):
        shell.run_cell_magic("loom", "--offline", "statsu\n")
    assert runner.handles == {}  # nothing started
    assert shell.run_line_magic("loom", "--offline Where is parse_config?").status == "done"  # a few words run


def test_sessions_costs_and_graph_say_which_project_and_take_project(shell, project, tmp_path_factory, capsys):
    other = tmp_path_factory.mktemp("other")
    (other / "x.py").write_text("def parse_config():\n    pass\n")
    first = shell.run_cell_magic("loom", f"--offline --project {project} --session one", "Where is parse_config?")
    shell.run_cell_magic("loom", f"--offline --project {project} --session two", "Where is parse_config used?")
    shell.run_cell_magic("loom", f"--offline --project {other} --session elsewhere", "Where is parse_config?")
    capsys.readouterr()
    sessions = shell.run_line_magic("loom", "sessions")  # follows the newest run: the other project
    assert sessions["id"].tolist() == ["elsewhere"]
    assert capsys.readouterr().out.startswith(f"project {other.resolve()} · graph {other.resolve()}/.loom/loom.duckdb")
    sessions = shell.run_line_magic("loom", f"sessions --project {project}")
    assert sessions["id"].tolist() == ["one", "two"] and sessions.attrs["db"].startswith(str(project.resolve()))
    assert f"project {project.resolve()}" in capsys.readouterr().out
    costs = shell.run_line_magic("loom", f"costs --db {project}/.loom/loom.duckdb --by session")
    assert set(costs["session_id"]) == {"one", "two"}
    newest = shell.run_line_magic("loom", f"graph --project {project}")  # the newest session, not all piled up
    assert "session two (the newest" in capsys.readouterr().out
    assert newest.nodes == shell.run_line_magic("loom", f"graph --project {project} two").nodes
    assert newest.nodes < len(first.graph.nodes())
    with pytest.raises(UsageError, match="no loom graph at"):
        shell.run_line_magic("loom", f"sessions --project {tmp_path_factory.mktemp('empty')}")


def test_approvals_deny_with_a_message_and_approve_all(shell, project):
    from loom_nb.models import ScriptedModel, tool_call
    from loom_nb.permissions import Policy, Rule
    from loom_nb.swarm import Swarm
    from tests.notebook.test_runner import lead_model

    (project / "secrets").mkdir()
    (project / "secrets" / "a.txt").write_text("A\n")
    (project / "secrets" / "b.txt").write_text("B\n")
    runner = shell.magics_manager.registry["LoomMagics"].runner
    policy = Policy(rules=[Rule(action="ask", path="secrets/**")])
    reads = [tool_call("file_read", path="secrets/a.txt"), tool_call("file_read", path="secrets/b.txt")]
    swarm = Swarm(
        "where are the secrets kept",
        project=project,
        model=lead_model(["where are the secrets kept"], "done"),
        weak=ScriptedModel([reads, "read what I could"]),
        policy=policy,
        record=False,
    )
    asked = threading.Event()
    swarm.gate.queue.subscribe(lambda *_: len(swarm.gate.queue.pending()) == 2 and asked.set())
    handle = runner.submit(swarm)
    assert asked.wait(10), "the two reads were never asked"
    pending = shell.run_line_magic("loom", "approvals")
    assert pending["status"].tolist() == ["pending", "pending"] and pending["tool"].tolist() == ["file_read"] * 2
    first, second = pending["id"].tolist()
    said = shell.run_line_magic("loom", f'deny {first} --message "not that one"')
    assert said == f"session {swarm.session_id}: {first} deny"
    assert shell.run_line_magic("loom", "approve all") == f"session {swarm.session_id}: {second} allow"
    result = handle.wait(timeout=20)
    decided = shell.run_line_magic("loom", "approvals").set_index("id")
    assert decided.loc[first, "status"] == "deny" and decided.loc[first, "message"] == "not that one"
    assert decided.loc[second, "status"] == "allow" and decided.loc[second, "by"] == "cell"
    assert result.status == "done"
    with pytest.raises(UsageError, match=r"no pending approval 'a9'.*%loom approvals lists them"):
        shell.run_line_magic("loom", "approve a9")


def test_diff_undo_merge_discard_and_worktrees_of_a_session(shell, tmp_path):
    from loom_nb.notebook._diff import DiffView
    from loom_nb.workspace import Workspace
    from tests.gitrepo import git, git_project
    from tests.workspace.conftest import edit

    repo = git_project(tmp_path / "repo", {"app.py": "x = 1\n"})
    shell.run_line_magic("config", f"LoomMagics.project = {str(repo)!r}")
    ws = Workspace.create(repo, "w1")
    edit(ws, "app.py", "x = 2\n")
    edit(ws, "new.py", "y = 1\n")
    diff = shell.run_line_magic("loom", "diff")  # the newest workspace of the project
    assert isinstance(diff, DiffView) and "+x = 2" in str(diff) and diff.stats() == (2, 2, 1)
    assert shell.run_line_magic("loom", "undo w1 --last 1") == "session w1: reverted 1 commit(s) of loom's"
    table = shell.run_line_magic("loom", "worktrees")
    assert table["session_id"].tolist() == ["w1"] and bool(table["live"].iloc[0])
    (repo / "app.py").write_text("dirty\n")
    with pytest.raises(UsageError, match=r"%loom merge: your working tree has uncommitted changes .*app.py"):
        shell.run_line_magic("loom", "merge w1")
    git(repo, "checkout", "--", "app.py")
    assert shell.run_line_magic("loom", "merge w1").startswith("session w1: merged into your branch as ")
    assert (repo / "app.py").read_text() == "x = 2\n" and not (repo / "new.py").exists()
    assert shell.run_line_magic("loom", "discard w1") == "session w1: worktree and branch loom/w1 removed"
    with pytest.raises(UsageError, match="no loom workspace in"):
        shell.run_line_magic("loom", "diff")


def test_the_preset_comes_from_the_options_over_config_over_loom_toml(shell, project):
    (project / ".loom.toml").write_text('[permissions]\npreset = "strict"\n')
    magics = shell.magics_manager.registry["LoomMagics"]
    assert shell.run_line_magic("loom", "--offline Where is parse_config?").swarm.policy.preset == "strict"
    shell.run_line_magic("config", 'LoomMagics.preset = "balanced"')
    assert shell.run_line_magic("loom", "--offline Where is parse_config?").swarm.policy.preset == "balanced"
    handle = shell.run_line_magic("loom", "--offline --preset autonomous Where is parse_config?")
    assert handle.swarm.policy.preset == "autonomous"
    status = shell.run_line_magic("loom", "status")
    assert status["preset"].tolist() == ["strict", "balanced", "autonomous"]
    assert status["approvals_pending"].tolist() == [0, 0, 0] and status["shell_sandbox"].iloc[0]
    assert status["tasks"].tolist() == ["1/1 done"] * 3 and status["estimate_usd"].tolist() == [0.0] * 3
    magics.preset = None
    with pytest.raises(UsageError, match="invalid choice: 'yolo'"):
        shell.run_line_magic("loom", "--offline --preset yolo Where is parse_config?")
    (project / ".loom.toml").write_text('[permissions]\npreset = "yolo"\n')
    with pytest.raises(UsageError, match=r"unknown preset 'yolo'; use one of strict, balanced, autonomous"):
        shell.run_line_magic("loom", "--offline Where is parse_config?")
