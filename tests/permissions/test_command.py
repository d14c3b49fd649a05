"""Splitting a model's shell command into every sub-command it would run."""

import pytest

from loom_nb.permissions import UnclearCommand, split_command


def programs(command: str, *, wrappers: bool = False) -> list[str]:
    return [" ".join(s.argv) for s in split_command(command) if wrappers or not s.wrapper]


@pytest.mark.parametrize(
    ("command", "hidden"),
    [
        ("ls | rm -rf x", "rm -rf x"),
        ("ls && rm -rf x", "rm -rf x"),
        ("ls || rm -rf x", "rm -rf x"),
        ("ls; rm -rf x", "rm -rf x"),
        ("ls & rm -rf x", "rm -rf x"),
        ("ls\nrm -rf x", "rm -rf x"),
        ("echo $(rm -rf x)", "rm -rf x"),
        ("echo `rm -rf x`", "rm -rf x"),
        ('echo "$(rm -rf x)"', "rm -rf x"),
        ("echo ${Y:-$(rm -rf x)}", "rm -rf x"),
        ("X=$(rm -rf x) ls", "rm -rf x"),
        ("diff <(rm -rf x) b", "rm -rf x"),
        ("(rm -rf x)", "rm -rf x"),
        ("{ rm -rf x; }", "rm -rf x"),
        ("! rm -rf x", "rm -rf x"),
        ("if true; then rm -rf x; fi", "rm -rf x"),
        ("for f in a; do rm -rf x; done", "rm -rf x"),
        ("while false; do rm -rf x; done", "rm -rf x"),
        ("bash -c 'rm -rf x'", "rm -rf x"),
        ('sh -c "ls; rm -rf x"', "rm -rf x"),
        ("bash -lc 'rm -rf x'", "rm -rf x"),
        ("/bin/bash -c 'rm -rf x'", "rm -rf x"),
        ("bash -c \"bash -c 'rm -rf x'\"", "rm -rf x"),
        ("eval 'rm -rf x'", "rm -rf x"),
        ("env rm -rf x", "rm -rf x"),
        ("env -i FOO=1 rm -rf x", "rm -rf x"),
        ("env -u HOME rm -rf x", "rm -rf x"),
        ("sudo rm -rf x", "rm -rf x"),
        ("sudo -u root rm -rf x", "rm -rf x"),
        ("xargs rm -rf x", "rm -rf x"),
        ("ls | xargs -n 1 -P 4 rm -rf x", "rm -rf x"),
        ("timeout 5 rm -rf x", "rm -rf x"),
        ("timeout -s KILL 5 rm -rf x", "rm -rf x"),
        ("nice -n 10 rm -rf x", "rm -rf x"),
        ("nohup rm -rf x", "rm -rf x"),
        ("exec rm -rf x", "rm -rf x"),
        ("command rm -rf x", "rm -rf x"),
        ("time rm -rf x", "rm -rf x"),
        ("find . -exec rm -rf x \\;", "rm -rf x"),
        ("FOO=1 rm -rf x", "rm -rf x"),
        ("r\\m -rf x", "rm -rf x"),
        ("'rm' -rf x", "rm -rf x"),
        ('"rm" -rf x', "rm -rf x"),
        ("ls > out $(rm -rf x)", "rm -rf x"),
        ("ls > $(rm -rf x)", "rm -rf x"),
    ],
)
def test_every_sub_command_is_seen(command: str, hidden: str) -> None:
    assert hidden in programs(command)


@pytest.mark.parametrize(
    "command",
    [
        "",
        "   ",
        "ls && (",
        "echo 'unterminated",
        "$CMD -rf x",
        "${CMD} x",
        "$(echo rm) -rf x",
        "bash",
        "curl x | sh",
        "bash -c",
        "f() { rm -rf x; }; f",
        "a\x00b",
        "bash -c " + '"bash -c ' * 10 + "ls",
    ],
)
def test_what_cannot_be_read_statically_is_unclear(command: str) -> None:
    with pytest.raises(UnclearCommand):
        split_command(command)


@pytest.mark.parametrize(
    "command",
    [
        "env -S 'rm -rf x'",
        "env -S'rm -f x' ls",
        "env --split-string='rm x' ls",
        "su -c id",
        "watch -n1 ls",
        "flock lock -c 'rm x'",
        "sudo --weird rm x",
        "echo $HOME",
        "cat *.py",
        "export A=1; ls",
        'echo "$(id)"',
        "cat <<EOF\nx\nEOF",
        "echo {a,b}",
        "echo ~/x",
        "for f in a; do ls; done",
        "x='$(rm -f v)'; echo \"${x@P}\"",
        "echo $((x))",
        "echo a\\*b*",  # the first star escaped, the second a glob
        "echo a\\\\*",  # an escaped backslash, then a glob
    ],
)
def test_what_hands_its_words_to_a_shell_or_expands_them_is_marked_unclear(command: str) -> None:
    subs = split_command(command)
    assert any(s.unclear for s in subs), [(str(s), s.unclear) for s in subs]


def test_plain_commands_are_not_unclear() -> None:
    for command in ("ls -la", "grep -n 'a b' f.py", "echo a\\*b", "ls > out.txt 2>&1", "git diff --stat | head -5"):
        assert not any(s.unclear for s in split_command(command)), command


def test_quotes_are_data_not_commands() -> None:
    assert programs("echo 'no $(rm -rf x)'") == ["echo no $(rm -rf x)"]
    assert programs("grep -n 'a; rm -rf x' f") == ["grep -n a; rm -rf x f"]


def test_wrappers_are_kept_for_deny_rules() -> None:
    subs = split_command("sudo -u root rm x")
    assert [(s.argv[0], s.wrapper) for s in subs] == [("sudo", True), ("rm", False)]


def test_redirect_targets_are_the_files_written() -> None:
    subs = split_command("pytest > out.txt 2>&1; cat < in.txt; ls >> log 2>/dev/null")
    assert [s.redirects for s in subs] == [("out.txt",), (), ("log", "/dev/null")]
