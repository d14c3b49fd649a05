import pytest

from loom_nb.models import Price, RetryPolicy, Usage, cost_usd, lookup_price
from loom_nb.models._retry import Retryable, retry_call


def test_prices_come_from_litellms_map_and_unknown_stays_unknown():
    haiku = lookup_price("anthropic", "claude-haiku-4-5")
    assert haiku == Price(input=1e-06, output=5e-06, cache_read=1e-07, cache_write=1.25e-06)
    assert lookup_price("anthropic", "claude-opus-4-1") is None  # litellm has no entry: not $0
    assert lookup_price("openai", "gpt-does-not-exist") is None
    assert lookup_price("ollama", "llama3").input == 0  # local models really are free
    assert lookup_price("anthropic", "claude-haiku-4-5-20251001") is not None  # dated names resolve


def test_a_paid_provider_listed_at_zero_is_unknown(monkeypatch):
    from loom_nb.models import _pricing

    fake = {"paid/x": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0}}
    monkeypatch.setattr(_pricing, "_price_map", lambda: fake)
    assert _pricing.lookup_price("paid", "x") is None


def test_cost_adds_every_token_kind():
    usage = Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=2000, cache_write_tokens=300)
    assert cost_usd(usage, Price(1e-6, 5e-6, 1e-7, 1.25e-6)) == pytest.approx(1e-3 + 5e-4 + 2e-4 + 3.75e-4)
    assert cost_usd(usage, None) is None


async def test_retry_backs_off_exponentially_with_jitter_and_honours_retry_after():
    delays = []

    async def sleep(d):
        delays.append(d)

    attempts = iter([Retryable(OSError("a")), Retryable(OSError("b")), Retryable(OSError("c"), retry_after=2.5), "ok"])

    async def attempt():
        step = next(attempts)
        if isinstance(step, Exception):
            raise step
        return step

    result, retries = await retry_call(attempt, RetryPolicy(), sleep=sleep, rng=lambda: 1.0)
    assert (result, retries) == ("ok", 3)
    assert delays == [0.5 * 0.75, 1.0 * 0.75, 2.5]


async def test_retry_gives_up_with_the_last_cause():
    async def attempt():
        raise Retryable(ConnectionError("still down"))

    async def sleep(d):
        return None

    with pytest.raises(ConnectionError, match="still down") as info:
        await retry_call(attempt, RetryPolicy(max_retries=2), sleep=sleep)
    assert info.value.retries == 2


def test_retry_after_beyond_the_cap_falls_back_to_backoff():
    policy = RetryPolicy()
    assert policy.delay(0, 600.0, rng=lambda: 0.0) == 0.5
    assert policy.delay(10, None, rng=lambda: 0.0) == 8.0


@pytest.mark.parametrize("many", [False, True])
async def test_sub_agents_honour_the_projects_prices(tmp_path, monkeypatch, many):
    from loom_nb import asub_agent, asub_agents
    from loom_nb.testing import FakeLLMServer, Reply

    (tmp_path / ".loom.toml").write_text(
        '[model]\nweak = "anthropic:claude-opus-4-1"\n\n'
        '[prices."anthropic/claude-opus-4-1"]\ninput_per_mtok = 15\noutput_per_mtok = 75\n'
    )
    with FakeLLMServer(default=Reply(text="nothing here", input_tokens=1000, output_tokens=200)) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        if many:
            (findings,) = await asub_agents(["where is x?"], project=tmp_path)
        else:
            findings = await asub_agent("where is x?", project=tmp_path)
    assert findings.error is None and findings.model == "anthropic:claude-opus-4-1"
    assert findings.cost_usd == pytest.approx(1000 * 15e-6 + 200 * 75e-6)  # not None: the project priced it
