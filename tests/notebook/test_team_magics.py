"""%%loom_role, %loom roles|tasks|messages|tests and the team's run options, on a real InteractiveShell."""

import subprocess

import pytest
from IPython.core.error import UsageError

from loom_nb.swarm import roles
from tests.shell import loom_shell


@pytest.fixture
def project(tmp_path):
    pkg = tmp_path / "calc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .ops import add_up\n\n__all__ = ['add_up']\n")
    (pkg / "ops.py").write_text("def add_up(a, b):\n    return a + b\n\n\naddress = 'not this'\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ops.py").write_text(
        "from calc import add_up\n\n\ndef test_add():\n    assert add_up(1, 2) == 3\n"
    )
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "s"],
    ):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    return tmp_path


@pytest.fixture
def shell(project, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with loom_shell(project=project) as (sh, _runner):
        yield sh
    roles.reset()  # the process's roles as they were


def test_loom_role_defines_a_role_the_next_run_uses(shell, capsys):
    before = roles.get("reviewer").version
    shell.run_cell_magic(
        "loom_role", "docs-reviewer --extends reviewer --description 'reads the docs' --model weak", "Read docs only."
    )
    role = roles.get("docs-reviewer")
    assert role.system_prompt == "Read docs only." and role.model == "weak" and role.version == 1
    assert role.tools == roles.get("reviewer").tools and roles.get("reviewer").version == before
    assert "role docs-reviewer v1" in capsys.readouterr().out
    shell.run_cell_magic("loom_role", "docs-reviewer --max-iterations 3", "\n")  # a blank body keeps the prompt
    again = roles.get("docs-reviewer")
    assert again.version == 2 and again.max_iterations == 3 and again.system_prompt == "Read docs only."
    table = shell.run_line_magic("loom", "roles")
    row = table.set_index("role").loc["docs-reviewer"]
    assert row["version"] == 2 and row["model"] == "weak"


@pytest.mark.parametrize(
    ("line", "body", "said"),
    [
        ("fixer --extends implementer --tools file_raed", " ", "unknown tool 'file_raed': did you mean 'file_read'"),
        ("fixer --extends implementer --model nosuch:model", " ", "unknown provider 'nosuch'"),
        ("fixer --description 'new'", " ", "needs a system prompt"),
        ("Bad_Name --extends tester", " ", "must be lower-case"),
        ("fixer --extends nobody", " ", "extends 'nobody', which is not a role"),
    ],
)
def test_a_role_that_cannot_work_is_refused_with_the_fix(shell, line, body, said):
    with pytest.raises(UsageError, match=said.replace("(", r"\(").replace(")", r"\)")):
        shell.run_cell_magic("loom_role", line, body)
    assert "fixer" not in roles


def test_the_team_renames_and_the_plan_messages_and_tests_are_tables(shell, project):
    handle = shell.run_cell_magic(
        "loom", "--offline --preset autonomous --max-tasks 6", "Rename add_up to add_numbers everywhere"
    )
    assert handle.status == "done", handle.result.error
    tasks = shell.run_line_magic("loom", "tasks")
    assert tasks["role"].tolist() == ["researcher", "architect", "implementer", "tester", "reviewer"]
    assert set(tasks["status"]) == {"done"} and tasks.attrs["db"].endswith("loom.duckdb")
    tests = shell.run_line_magic("loom", "tests")
    assert tests["passed"].tolist() == [1] and tests["failed"].tolist() == [0]
    messages = shell.run_line_magic("loom", "messages")
    assert list(messages.columns)[:3] and len(messages) == len(handle.messages())
    diff = str(handle.diff())
    assert "+from .ops import add_numbers" in diff and "address = 'not this'" not in diff  # whole names only
    assert (project / "calc" / "ops.py").read_text().startswith("def add_up")  # yours until you merge


def test_run_options_reach_the_swarm(shell):
    with pytest.raises(UsageError, match="--role-budget takes ROLE=USD"):
        shell.run_cell_magic("loom", "--offline --role-budget implementer", "Rename add_up to add_numbers please")
    with pytest.raises(UsageError, match="no role 'nobody'"):
        shell.run_cell_magic("loom", "--offline --role-budget nobody=1", "Rename add_up to add_numbers please")
