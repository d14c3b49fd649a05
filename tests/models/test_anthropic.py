"""The real anthropic SDK against the fake server: every fault survived or reported clearly."""

import time

import pytest

from loom_nb.models import Message, MissingAPIKey, ModelError, ModelSettings, ToolDefinition, get_model
from loom_nb.models._anthropic import AnthropicModel
from loom_nb.testing import FakeLLMServer, Fault, Reply

from .conftest import KEY, assert_no_key_anywhere

TOOLS = [
    ToolDefinition(
        name="file_read",
        description="Read a file",
        parameters={"type": "object", "properties": {"path": {"type": "string"}}},
    )
]
QUICK = ModelSettings(timeout=5)


def model(server: FakeLLMServer, name: str = "claude-haiku-4-5", **kw) -> AnthropicModel:
    m = get_model(f"anthropic:{name}", base_url=server.url, api_key=KEY, **kw)
    server.models.append(m)
    return m  # type: ignore[return-value]


async def test_text_reply_usage_cost_and_prompt_caching(server):
    server.script(
        Reply(text="hello", input_tokens=1000, output_tokens=200, cache_read_tokens=3000, cache_write_tokens=500)
    )
    r = await model(server).request([Message.user("hi")], system="You are terse.", tools=TOOLS, settings=QUICK)
    assert r.text == "hello" and r.retries == 0
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.cache_read_tokens, r.usage.cache_write_tokens) == (
        1000,
        200,
        3000,
        500,
    )
    # haiku 4.5 from litellm's map: $1/M in, $5/M out, $0.10/M cache read, $1.25/M cache write
    assert r.cost_usd == pytest.approx(1000e-6 + 200 * 5e-6 + 3000 * 0.1e-6 + 500 * 1.25e-6)
    body = server.requests[0].body
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["model"] == "claude-haiku-4-5"
    assert_no_key_anywhere(server)


async def test_tool_calls_and_tool_choice_none(server):
    server.script(Reply(tool_calls=[("file_read", {"path": "a.py"}), ("file_read", {"path": "b.py"})]))
    r = await model(server).request(
        [Message.user("read")], tools=TOOLS, settings=ModelSettings(tool_choice="none", timeout=5)
    )
    assert [(c.name, c.arguments) for c in r.tool_calls] == [
        ("file_read", {"path": "a.py"}),
        ("file_read", {"path": "b.py"}),
    ]
    assert r.stop_reason == "tool_use"
    assert server.requests[0].body["tool_choice"] == {"type": "none"}


async def test_rate_limit_retry_after_is_honoured(server):
    server.script(Fault.rate_limit(retry_after=0.3), Reply(text="after"))
    started = time.perf_counter()
    r = await model(server).request([Message.user("hi")], settings=QUICK)
    assert r.text == "after" and r.retries == 1
    assert time.perf_counter() - started >= 0.3
    assert len(server.requests) == 2


async def test_overloaded_server_error_and_dropped_connection_are_retried(server):
    server.script(
        Fault.overloaded(retry_after=0.01),
        Fault.server_error(503, retry_after=0.01),
        Fault.drop(),
        Reply(text="survived"),
    )
    r = await model(server).request([Message.user("hi")], settings=QUICK)
    assert r.text == "survived" and r.retries == 3


async def test_500_without_retry_after_backs_off_exponentially(server):
    server.script(Fault.server_error(500), Reply(text="ok"))
    started = time.perf_counter()
    r = await model(server).request([Message.user("hi")], settings=QUICK)
    assert r.retries == 1
    assert time.perf_counter() - started >= 0.5 * 0.75  # the SDK's first backoff, less its jitter


async def test_slow_response_past_the_timeout_is_retried(server):
    server.script(Fault.slow(3.0), Reply(text="fast now"))
    r = await model(server).request([Message.user("hi")], settings=ModelSettings(timeout=0.3))
    assert r.text == "fast now" and r.retries == 1


async def test_retries_run_out_with_a_clear_error(server):
    from loom_nb.models import RetryPolicy

    server.script(*[Fault.overloaded(retry_after=0.01)] * 3)
    with pytest.raises(ModelError, match=r"HTTP 529 fake server: injected 529 after 2 retries") as info:
        await model(server, retry=RetryPolicy(max_retries=2)).request([Message.user("hi")], settings=QUICK)
    assert info.value.status_code == 529 and info.value.retries == 2
    assert_no_key_anywhere(server, str(info.value))


async def test_auth_error_is_not_retried_and_points_at_the_key(server):
    server.script(Fault.error(401))
    with pytest.raises(ModelError, match=r"HTTP 401.*check ANTHROPIC_API_KEY") as info:
        await model(server).request([Message.user("hi")], settings=QUICK)
    assert len(server.requests) == 1
    assert_no_key_anywhere(server, str(info.value))


async def test_malformed_tool_arguments_become_an_arguments_error(server):
    server.script(Reply(tool_calls=[("file_read", {})], raw_arguments='{"path": "a'))
    r = await model(server).request([Message.user("x")], tools=TOOLS, settings=QUICK)
    (call,) = r.tool_calls
    assert call.arguments == {} and "not a JSON object" in call.arguments_error


async def test_unknown_price_is_none_not_zero(server):
    server.script(Reply(text="pricey"))
    r = await model(server, "claude-opus-4-1").request([Message.user("hi")], settings=QUICK)
    assert r.cost_usd is None


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingAPIKey, match=r"set ANTHROPIC_API_KEY .* offline"):
        get_model("anthropic:claude-haiku-4-5")


def test_repr_never_shows_the_key():
    m = get_model("anthropic:claude-haiku-4-5", api_key=KEY, base_url="http://127.0.0.1:1")
    assert KEY not in repr(m) and KEY not in str(vars(m).get("name"))


async def test_streaming_through_the_real_sdk(server):
    """The server's streaming path, driven by the SDK's own stream helper."""
    import anthropic

    server.script(Reply(text="streamed answer", output_tokens=7), Reply(tool_calls=[("file_read", {"path": "x.py"})]))
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url=server.url, max_retries=0)
    async with client.messages.stream(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(pieces) == "streamed answer" and len(pieces) > 1
    assert final.usage.output_tokens == 7
    async with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=50,
        tools=[{"name": "file_read", "input_schema": {"type": "object"}}],
        messages=[{"role": "user", "content": "hi"}],
    ) as stream:
        final = await stream.get_final_message()
    assert final.content[0].input == {"path": "x.py"}
    assert server.requests[0].stream
    await client.close()


async def test_blocked_outside_loopback_in_tests():
    with pytest.raises(ModelError, match="LOOM_NB_ONLY_LOCAL_MODELS"):
        await get_model("anthropic:claude-haiku-4-5", api_key=KEY).request([Message.user("hi")])


async def test_the_provider_limit_gives_backpressure(server):
    import asyncio

    from loom_nb.models import ProviderLimiter

    server.default = Reply(text="slow ok", latency=0.1)
    m = model(server, limiter=ProviderLimiter(default=2))
    results = await asyncio.gather(*(m.request([Message.user(str(i))], settings=QUICK) for i in range(6)))
    assert [r.text for r in results] == ["slow ok"] * 6
    assert server.max_in_flight == 2
