"""Budgets end to end: real SDKs (anthropic, litellm) against the fake server, a real DuckDB file.

Every request the server received must be in llm_calls with its real cost, the recorded total must
stay within the cap, and a run that cannot be guarded is refused before anything is recorded.
"""

import asyncio
import json
import threading

import pandas as pd
import pytest
from IPython.core.error import UsageError

from loom_nb.config import ConfigError
from loom_nb.graph import open_graph
from loom_nb.models import get_model, parse_model_string
from loom_nb.models._anthropic import AnthropicModel
from loom_nb.models._litellm import LitellmModel
from loom_nb.swarm import Swarm
from loom_nb.testing import FakeLLMServer, Reply
from tests.shell import loom_shell

KEY = "sk-test-budget-DO-NOT-LEAK"
QUESTIONS = [f"question number {i} about the value of x" for i in range(1, 7)]
PRICES = {  # USD per token, from litellm's map (haiku, gpt-4o) and from .loom.toml (opus)
    "anthropic:claude-haiku-4-5": (1e-6, 5e-6),
    "openai:gpt-4o": (2.5e-6, 10e-6),
    "anthropic:claude-opus-4-1": (15e-6, 75e-6),
}


class SwarmServer(FakeLLMServer):
    """Answers like a lead (plan, then summary) and like researchers (three file reads, then an
    answer), with usage in proportion to the request, and keeps every reply it gave."""

    def __init__(self, *, latency: float = 0.05, output_tokens: int = 1500) -> None:
        super().__init__(handler=self._answer_like_a_swarm)
        self.latency = latency
        self.output_tokens = output_tokens
        self.replies: list[Reply] = []
        self._replies_lock = threading.Lock()
        self.first_request = threading.Event()
        self.three_waiting = threading.Event()
        """Set when a request arrives while two others are unanswered."""

    def _answer_like_a_swarm(self, request) -> Reply:
        self.first_request.set()
        if self.in_flight >= 2:  # this one is not counted yet
            self.three_waiting.set()
        body = request.body
        messages = [m for m in body["messages"] if m.get("role") != "system"]
        input_tokens = len(json.dumps(body)) // 4  # what a tokenizer counts, roughly
        first = messages[0]["content"]
        first = first if isinstance(first, str) else first[0].get("text", "")
        if not body.get("tools"):  # the lead: plan, or the summary
            text = "the summary" if first.startswith("Request:") else "\n".join(QUESTIONS)
            reply = Reply(text=text, input_tokens=input_tokens, output_tokens=50, latency=self.latency)
        elif len(messages) < 7:
            reply = Reply(
                tool_calls=[("file_read", {"path": "a.py"})],
                input_tokens=input_tokens,
                output_tokens=self.output_tokens,
                latency=self.latency,
            )
        else:
            reply = Reply(
                text="x is 1: a.py:1", input_tokens=input_tokens, output_tokens=self.output_tokens, latency=self.latency
            )
        with self._replies_lock:
            self.replies.append(reply)
        return reply


def cost_of(reply: Reply, model: str) -> float:
    inp, out = PRICES[model]
    return reply.input_tokens * inp + reply.output_tokens * out


def recorded_calls(db, session_id):
    return open_graph(db).sql("SELECT * FROM llm_calls WHERE session_id = ? ORDER BY id", [session_id])


def recorded_events(db, session_id, kind):
    events = open_graph(db).sql("SELECT * FROM events WHERE session_id = ? AND kind = ?", [session_id, kind])
    return [json.loads(p) if isinstance(p, str) else p for p in events["payload"]]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    return tmp_path


def build(provider: str, server: FakeLLMServer):
    if provider == "anthropic":
        return AnthropicModel("claude-haiku-4-5", base_url=server.url, api_key=KEY)
    return LitellmModel(parse_model_string("openai/gpt-4o"), base_url=server.openai_base_url, api_key=KEY)


@pytest.mark.parametrize("provider, budget", [("anthropic", 0.10), ("litellm", 0.25)])
async def test_concurrent_agents_stay_within_a_priced_budget_and_every_call_is_recorded(project, provider, budget):
    with SwarmServer() as server:
        model = build(provider, server)
        swarm = Swarm(
            "research x", project=project, model=model, weak=model, max_agents=4, budget_usd=budget, db=project / "g.db"
        )
        try:
            result = await swarm.run()
        finally:
            await model.aclose()
        # the whole plan would cost about twice the budget: the cap, not the plan, ended the run
        assert result.status == "cancelled" and result.error.startswith("budget reached:"), result.error
        assert server.max_in_flight > 1  # agents really called at once
        calls = recorded_calls(project / "g.db", result.session_id)
        # every request the server received is recorded, with its real cost (none lost in flight)
        assert len(calls) == len(server.requests) == len(server.replies) > 4
        assert calls["error"].isna().all() and calls["cost_usd"].notna().all()
        expected = sum(cost_of(r, model.name) for r in server.replies)
        assert calls["cost_usd"].sum() == pytest.approx(expected)
        assert expected <= budget and result.cost_usd == pytest.approx(expected)
        warnings = recorded_events(project / "g.db", result.session_id, "budget_warning")
        assert len(warnings) == 1 and warnings[0]["limit_usd"] == budget and warnings[0]["share"] >= 0.8
        assert swarm.budget_warning is not None and "% of the session budget spent" in swarm.budget_warning.message
        ended = recorded_events(project / "g.db", result.session_id, "session_ended")
        assert ended[0]["status"] == "cancelled" and ended[0]["error"].startswith("budget reached:")


async def test_a_stop_lets_the_calls_in_flight_answer_and_records_them(project):
    with SwarmServer(latency=0.4) as server:
        model = build("anthropic", server)
        swarm = Swarm("research x", project=project, model=model, weak=model, max_agents=4, db=project / "g.db")
        run = asyncio.ensure_future(swarm.run())
        try:
            assert await asyncio.to_thread(server.three_waiting.wait, 20)  # researchers await their answers
            swarm.stop("stop button")
            result = await run
        finally:
            await model.aclose()
    assert result.status == "cancelled" and result.error == "stop button"
    calls = recorded_calls(project / "g.db", result.session_id)
    assert len(calls) == len(server.requests) and calls["error"].isna().all()
    assert calls["cost_usd"].sum() == pytest.approx(sum(cost_of(r, model.name) for r in server.replies))


async def test_a_call_that_outlasts_the_stop_grace_is_charged_at_its_worst_case(project):
    with SwarmServer(latency=60) as server:  # the lead's plan turn never answers in time
        model = build("anthropic", server)
        swarm = Swarm("research x", project=project, model=model, weak=model, budget_usd=1.0, db=project / "g.db")
        run = asyncio.ensure_future(swarm.run())
        try:
            assert await asyncio.to_thread(server.first_request.wait, 20)
            swarm.stop("stop button")
            result = await run
        finally:
            await model.aclose()
    (call,) = recorded_calls(project / "g.db", result.session_id).itertuples()
    assert call.error.startswith("cancelled in flight by a stop; charged at its reserved worst case")
    assert call.cost_usd > 4096 * 5e-6  # all of max_tokens at haiku's output price, and the input
    assert result.cost_usd == pytest.approx(call.cost_usd) == swarm.budget.spent_usd
    assert result.elapsed_s < 30  # the stop waited its grace (5 s), not for the answer


def opus_project(project, monkeypatch, server, *, priced: bool):
    """A project whose model (claude-opus-4-1) litellm's map does not price; .loom.toml may."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    toml = '[model]\ndefault = "anthropic:claude-opus-4-1"\nweak = "anthropic/claude-opus-4-1"\n'
    if priced:
        toml += '\n[prices."anthropic:claude-opus-4-1"]\ninput_per_mtok = 15.0\noutput_per_mtok = 75.0\n'
    (project / ".loom.toml").write_text(toml)
    return project


async def test_a_price_in_loom_toml_is_honoured_and_enforced(project, monkeypatch):
    with SwarmServer() as server:
        opus_project(project, monkeypatch, server, priced=True)
        swarm = Swarm("research x", project=project, max_agents=3, budget_usd=0.9, db=project / "g.db")
        assert swarm.model.price.input == pytest.approx(15e-6) and swarm.weak.price.output == pytest.approx(75e-6)
        try:
            result = await swarm.run()
        finally:
            await swarm.model.aclose()
    assert result.status == "cancelled" and result.error.startswith("budget reached:")
    calls = recorded_calls(project / "g.db", result.session_id)
    assert len(calls) == len(server.requests) and calls["cost_usd"].notna().all()
    expected = sum(cost_of(r, "anthropic:claude-opus-4-1") for r in server.replies)
    assert calls["cost_usd"].sum() == pytest.approx(expected) and expected <= 0.9


async def test_an_unknown_price_with_a_budget_is_refused_before_anything_is_recorded(project, monkeypatch):
    with FakeLLMServer() as server:
        opus_project(project, monkeypatch, server, priced=False)
        with pytest.raises(ConfigError) as info:
            Swarm("research x", project=project, budget_usd=1.0)
        message = str(info.value)
        assert "\n" not in message and "anthropic:claude-opus-4-1 has no known price" in message
        assert '[prices."anthropic:claude-opus-4-1"]' in message and str(project / ".loom.toml") in message
        assert "--token-budget" in message and "token_budget=" in message
        # the magic says the same as a UsageError; nothing is recorded, no request is sent
        with loom_shell(project=project) as (sh, runner):
            with pytest.raises(UsageError, match=r"has no known price.*--token-budget"):
                sh.run_cell_magic("loom", "--budget 1", "research x")
            assert not runner.handles
        assert not (project / ".loom").exists() and server.requests == []


async def test_a_token_budget_guards_a_model_with_no_known_price(project, monkeypatch):
    with SwarmServer(output_tokens=300) as server:
        opus_project(project, monkeypatch, server, priced=False)
        swarm = Swarm("research x", project=project, max_agents=3, token_budget=15_000, db=project / "g.db")
        try:
            result = await swarm.run()
        finally:
            await swarm.model.aclose()
    assert result.status == "cancelled" and "budget of 15,000 tokens" in result.error
    calls = recorded_calls(project / "g.db", result.session_id)
    assert len(calls) == len(server.requests) and calls["cost_usd"].isna().all()  # unknown stays unknown
    used = int((calls["input_tokens"] + calls["output_tokens"]).sum())
    assert used == sum(r.input_tokens + r.output_tokens for r in server.replies) <= 15_000
    assert swarm.budget.spent_tokens == used


def test_the_magic_takes_both_budgets_and_status_and_the_live_view_show_the_warning(project, monkeypatch):
    with loom_shell(project=project) as (sh, _runner):
        with SwarmServer(output_tokens=300) as server:
            opus_project(project, monkeypatch, server, priced=False)
            capped = sh.run_cell_magic("loom", "--token-budget 15000 --max-agents 3", "research x")
        assert capped.swarm.token_budget == 15000 and capped.swarm.budget.spent_tokens <= 15000
        assert capped.status == "cancelled" and "budget of 15,000 tokens" in capped.result.error
        # haiku is priced; 4,000-token answers put the run past 80 % of $0.45 well before a call
        # could no longer fit (its worst case is ~$0.023)
        with SwarmServer(output_tokens=4000) as server:
            monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
            haiku = "anthropic:claude-haiku-4-5"
            handle = sh.run_cell_magic("loom", f"--model {haiku} --weak {haiku} --budget 0.45", "research x")
        assert handle.swarm.budget.spent_usd <= 0.45 and handle.swarm.budget_warning is not None
        status = sh.run_line_magic("loom", "status").set_index("session")
        warning = status.loc[handle.session_id, "budget_warning"]
        assert warning == handle.swarm.budget_warning.message and "% of the session budget spent ($0." in warning
        assert pd.isna(status.loc[capped.session_id, "budget_warning"])
        # the live view's header carries it too, and its bar follows the spent share
        from loom_nb.notebook._view import LiveView

        view = LiveView(handle)
        assert "loom-budget-warning" in view.body.value and warning in view.body.value
        assert view.budget.layout.visibility == "visible" and view.budget.value >= 0.8


def test_model_instances_and_strings_agree_on_the_price_source(project):
    # a string resolves the project's price; an instance keeps its own (nothing rewrites it)
    entries = {"anthropic/claude-opus-4-1": _entry(15.0, 75.0)}
    m = get_model("anthropic:claude-opus-4-1", prices=entries, api_key=KEY, base_url="http://127.0.0.1:1")
    assert m.price.input == pytest.approx(15e-6)
    same = get_model(m, prices={})
    assert same is m


def _entry(inp: float, out: float):
    from loom_nb.config import PriceEntry

    return PriceEntry(input_per_mtok=inp, output_per_mtok=out)
