"""`loom-nb run`: a swarm from the shell, whose asks come to the terminal (a real pty) as a prompt."""

import sys
from pathlib import Path

import pexpect


def project(tmp_path: Path) -> Path:
    (tmp_path / "config.py").write_text("def parse_config(path):\n    return path\n")
    (tmp_path / ".loom.toml").write_text('[[permissions.rules]]\naction = "ask"\npath = "*.py"\n')
    return tmp_path


def spawn(tmp_path: Path, *extra: str) -> pexpect.spawn:
    args = ["-m", "loom_nb", "run", "Where is parse_config defined?", "--project", str(tmp_path), "--model", "offline"]
    return pexpect.spawn(sys.executable, [*args, *extra], encoding="utf-8", timeout=60, dimensions=(50, 200))


def test_asks_come_to_the_terminal_and_are_answered_there(tmp_path: Path) -> None:
    child = spawn(project(tmp_path))
    answered = 0
    while child.expect([r"── approval (a\d+): \S+ \(researcher\) wants \w+", r"\[session \w+ · (\w+)"]) == 0:
        child.expect("answer: ")
        assert "asked by: ask: ask path '*.py'" in child.before
        child.sendline("x")  # not a choice: the choices are shown again
        child.expect(r"\[a\] allow once")
        child.expect("answer: ")
        child.sendline("a")
        answered += 1
    assert child.match.group(1) == "done" and answered >= 1
    assert "config.py:1" in child.before  # the answer, after the reads were allowed
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_without_a_terminal_asks_are_denied_and_said(tmp_path: Path) -> None:
    import subprocess

    args = ["-m", "loom_nb", "run", "Where is parse_config defined?", "--project", str(project(tmp_path))]
    out = subprocess.run([sys.executable, *args, "--model", "offline"], capture_output=True, text=True, timeout=120)
    assert "no terminal to ask on: calls the policy asks about are denied" in out.stderr
    assert "[session" in out.stdout
    auto = subprocess.run(
        [sys.executable, *args, "--model", "offline", "--approve", "auto"], capture_output=True, text=True, timeout=120
    )
    assert auto.returncode == 0 and "config.py:1" in auto.stdout
