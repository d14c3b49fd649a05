import asyncio
import sys
import sysconfig
from pathlib import Path

import pytest

import loom_nb
from loom_nb.events import EventBus, EventLog
from loom_nb.models import MissingAPIKey, ModelError, ScriptedModel, tool_call
from loom_nb.runtime import ANY, Registry
from loom_nb.tools import ScopeError

STDLIB = Path(sysconfig.get_paths()["stdlib"])


async def test_offline_sub_agent_on_the_standard_library_cites_real_lines():
    findings = await loom_nb.asub_agent(
        "Where does the json encoder handle NaN and allow_nan?", scope="json", project=STDLIB, model="offline"
    )
    assert findings.model == "offline" and findings.cost_usd == 0.0 and not findings.partial
    assert "offline model" in findings.text
    assert len(findings.evidence) >= 3
    for ev in findings.evidence:  # every cited line is really there (paths relative to the project)
        lines = (STDLIB / ev.path).read_text().splitlines()
        assert lines[ev.line - 1] == ev.text
        assert f"{ev.path}:{ev.line}" in findings.text
    assert any("allow_nan" in ev.text for ev in findings.evidence)
    assert any(ev.path == "json/encoder.py" for ev in findings.evidence)


async def test_offline_sub_agent_finds_a_definition_across_the_tree():
    findings = await loom_nb.asub_agent(
        "Where is the TaskGroup class defined?", project=STDLIB, scope="asyncio", model="offline"
    )
    assert any(ev.path == "asyncio/taskgroups.py" and "TaskGroup" in ev.text for ev in findings.evidence)


async def test_scope_outside_the_project_is_an_error(tmp_path):
    (tmp_path / "proj").mkdir()
    with pytest.raises(ScopeError, match="outside the project"):
        await loom_nb.asub_agent("x", scope="..", project=tmp_path / "proj", model="offline")
    with pytest.raises(ScopeError, match="outside the project"):
        await loom_nb.asub_agent("x", scope="/etc", project=tmp_path / "proj", model="offline")
    with pytest.raises(ScopeError, match="not a directory"):
        await loom_nb.asub_agent("x", scope="missing", project=tmp_path / "proj", model="offline")


async def test_weak_model_comes_from_loom_toml_and_a_missing_key_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    (tmp_path / ".loom.toml").write_text('[model]\nweak = "anthropic:claude-haiku-4-5"\n')
    with pytest.raises(MissingAPIKey, match="anthropic:claude-haiku-4-5 needs an API key: set ANTHROPIC_API_KEY"):
        await loom_nb.asub_agent("find things", project=tmp_path)


async def test_only_the_four_read_only_tools_and_at_most_ten_iterations(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    model = ScriptedModel(
        lambda messages, tools: [tool_call("file_read", path="a.py"), tool_call("shell", cmd="echo pwned > a.py")]
    )
    findings = await loom_nb.asub_agent("loop", project=tmp_path, model=model)
    offered = sorted(t.name for t in model.requests[0][1])
    assert offered == ["content_search", "directory_list", "file_read", "file_search"]
    assert findings.partial and findings.iterations == 10 and len(model.requests) == 10
    refused = [r for m in model.requests[1][0] for r in m.tool_results if r.name == "shell"]
    assert refused and refused[0].is_error and "not available" in refused[0].content
    assert (tmp_path / "a.py").read_text() == "x = 1\n"
    with pytest.raises(ValueError, match="1 to 10 iterations"):
        await loom_nb.asub_agent("x", project=tmp_path, model=model, max_iterations=11)


async def test_parallel_sub_agents_respect_max_concurrency_and_register():
    in_flight = 0
    peak = 0
    registry = Registry()
    seen_keys: set = set()

    async def fn(messages, tools):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        seen_keys.update(k for k, _ in registry.select(("sub_agent", ANY, ANY)))
        await asyncio.sleep(0.02)  # simulated model latency, not synchronisation
        in_flight -= 1
        return f"answer to {messages[0].text}"

    tasks = [f"task {i}" for i in range(6)]
    bus = EventBus()
    log = EventLog(bus)
    results = await loom_nb.asub_agents(
        tasks,
        project=STDLIB,
        scope="json",
        model=ScriptedModel(fn),
        max_concurrency=2,
        bus=bus,
        registry=registry,
        session_id="s9",
    )
    assert [f.text for f in results] == [f"answer to task {i}" for i in range(6)]
    assert peak == 2
    assert {k[2] for k in seen_keys} == set(range(6)) and all(k[1] == "s9" for k in seen_keys)
    assert len(registry) == 0  # entries vanished with their processes
    assert {e.agent for e in log.of_kind("agent_spawned")} == {f"sub_agent-{i}" for i in range(1, 7)}


async def test_a_failing_sub_agent_does_not_stop_the_others():
    def fn(messages, tools):
        if "bad" in messages[0].text:
            raise ModelError("openai:x: HTTP 500 after 4 retries", status_code=500, retries=4)
        return "fine"

    results = await loom_nb.asub_agents(
        ["good 1", "bad", "good 2"], project=STDLIB, scope="json", model=ScriptedModel(fn)
    )
    assert [f.text for f in results][0::2] == ["fine", "fine"]
    assert results[1].error and "HTTP 500 after 4 retries" in results[1].error and results[1].partial


def test_sync_form_works_in_scripts_and_explains_itself_inside_a_loop():
    findings = loom_nb.sub_agent("allow_nan", scope="json", project=STDLIB, model="offline")
    assert findings.evidence

    async def inside():
        with pytest.raises(RuntimeError, match=r"await loom_nb\.asub_agent"):
            loom_nb.sub_agent("x", project=STDLIB, model="offline")

    asyncio.run(inside())


def run_cli(*args, env=None):
    import os
    import subprocess

    base = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "loom_nb", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
    )


def test_cli_subagent_prints_findings_with_evidence():
    out = run_cli(
        "subagent",
        "Where does the json encoder handle NaN and allow_nan?",
        "--project",
        str(STDLIB),
        "--scope",
        "json",
        "--model",
        "offline",
    )
    assert out.returncode == 0, out.stderr
    assert "encoder.py:" in out.stdout and "evidence lines verified" in out.stdout


def test_cli_json_output_and_clear_errors(tmp_path):
    import json

    out = run_cli("subagent", "allow_nan", "--project", str(STDLIB), "--scope", "json", "--json")
    assert out.returncode == 0, out.stderr
    (finding,) = json.loads(out.stdout)
    assert finding["model"] == "offline" and finding["evidence"]
    bad = run_cli("subagent", "x", "--project", str(tmp_path), "--scope", "/etc")
    assert bad.returncode == 2 and "outside the project" in bad.stderr and "Traceback" not in bad.stderr
    nokey = run_cli("subagent", "x", "--project", str(tmp_path), "--model", "anthropic:claude-haiku-4-5")
    assert nokey.returncode == 2 and "set ANTHROPIC_API_KEY" in nokey.stderr and "Traceback" not in nokey.stderr


async def test_the_sub_agent_tool_lets_a_lead_delegate():
    from loom_nb.agents import Agent, sub_agent_tool
    from loom_nb.tools import Scope, ToolContext

    bus = EventBus()
    log = EventLog(bus)
    lead_model = ScriptedModel(
        [
            [
                tool_call("sub_agent", task="Where does the json encoder handle allow_nan?", scope="json"),
                tool_call("sub_agent", task="anything", scope="../.."),
            ],
            "summary written",
        ]
    )
    lead = Agent(
        name="lead",
        role="lead",
        model=lead_model,
        tools=[sub_agent_tool],
        bus=bus,
        context=ToolContext(scope=Scope(STDLIB), project=STDLIB, session_id="s42"),
    )
    result = await lead.run("research allow_nan")
    assert result.text == "summary written"
    ok, bad = lead_model.requests[1][0][-1].tool_results
    assert not ok.is_error and "encoder.py:" in ok.content and "cited lines verified" in ok.content
    assert bad.is_error and "outside the project" in bad.content
    spawned = [e for e in log.of_kind("agent_spawned") if e.role == "sub_agent"]
    assert [(e.parent, e.session_id) for e in spawned] == [("lead", "s42")]
