"""The real litellm (OpenAI wire format) against the fake server."""

import time

import pytest

from loom_nb.models import Message, MissingAPIKey, ModelError, ModelSettings, RetryPolicy, ToolDefinition, get_model
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
FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)


def model(server: FakeLLMServer, name: str = "openai:gpt-4o", retry: RetryPolicy = FAST_RETRY):
    m = get_model(name, base_url=server.openai_base_url, api_key=KEY, retry=retry)
    server.models.append(m)
    return m


async def test_text_reply_with_usage_and_cost(server):
    server.script(Reply(text="lite", input_tokens=1000, output_tokens=100, cache_read_tokens=400))
    r = await model(server).request([Message.user("hi")], system="sys", tools=TOOLS, settings=QUICK)
    assert r.text == "lite" and r.model == "openai:gpt-4o"
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.cache_read_tokens) == (1000, 100, 400)
    assert r.cost_usd == pytest.approx(1000 * 2.5e-6 + 100 * 10e-6 + 400 * 1.25e-6)
    body = server.requests[0].body
    assert body["messages"][0] == {"role": "system", "content": "sys"}
    assert body["tools"][0]["function"]["name"] == "file_read"
    assert_no_key_anywhere(server)


async def test_conversation_with_tool_results_round_trips(server):
    from loom_nb.models import ToolCallPart, ToolResultPart

    server.script(Reply(text="done"))
    convo = [
        Message.user("read a.py"),
        Message(role="assistant", parts=(ToolCallPart(id="c1", name="file_read", arguments={"path": "a.py"}),)),
        Message(role="user", parts=(ToolResultPart(tool_call_id="c1", name="file_read", content="x = 1"),)),
    ]
    await model(server).request(convo, tools=TOOLS, settings=QUICK)
    sent = server.requests[0].body["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == '{"path": "a.py"}'
    assert sent[2] == {"role": "tool", "tool_call_id": "c1", "content": "x = 1"}


async def test_every_fault_is_survived(server):
    server.script(
        Fault.rate_limit(retry_after=0.2),
        Fault.overloaded(),
        Fault.server_error(500),
        Fault.drop(),
        Reply(tool_calls=[("file_read", {"path": "x"})]),
    )
    started = time.perf_counter()
    r = await model(server).request([Message.user("hi")], tools=TOOLS, settings=QUICK)
    assert r.retries == 4 and r.tool_calls[0].arguments == {"path": "x"}
    assert time.perf_counter() - started >= 0.2  # retry-after honoured


async def test_slow_response_past_the_timeout_is_retried(server):
    server.script(Fault.slow(3.0), Reply(text="quick"))
    r = await model(server).request([Message.user("hi")], settings=ModelSettings(timeout=0.5))
    assert r.text == "quick" and r.retries == 1


async def test_retries_run_out_with_a_clear_error(server):
    server.script(*[Fault.server_error(500)] * 3)
    with pytest.raises(ModelError, match=r"HTTP 500 .* after 2 retries") as info:
        await model(server, retry=RetryPolicy(max_retries=2, initial_delay=0.01)).request(
            [Message.user("hi")], settings=QUICK
        )
    assert len(server.requests) == 3
    assert_no_key_anywhere(server, str(info.value))


async def test_bad_request_is_not_retried(server):
    server.script(Fault.error(400))
    with pytest.raises(ModelError, match="400"):
        await model(server).request([Message.user("hi")], settings=QUICK)
    assert len(server.requests) == 1


async def test_malformed_tool_call_json(server):
    server.script(Reply(tool_calls=[("file_read", {})], raw_arguments='{"path": "a'))
    r = await model(server).request([Message.user("x")], tools=TOOLS, settings=QUICK)
    (call,) = r.tool_calls
    assert call.arguments == {} and "not valid JSON" in call.arguments_error


async def test_unknown_model_price_is_none(server):
    server.script(Reply(text="?"))
    r = await model(server, "openai:no-such-model-xyz").request([Message.user("hi")], settings=QUICK)
    assert r.cost_usd is None


async def test_streaming_through_real_litellm(server):
    from loom_nb.models._litellm import import_litellm

    litellm = import_litellm()
    server.script(Reply(text="a streamed litellm answer"))
    stream = await litellm.acompletion(
        model="openai/gpt-4o",
        api_base=server.openai_base_url,
        api_key=KEY,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
    )
    pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert "".join(pieces) == "a streamed litellm answer"
    assert server.requests[0].stream


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingAPIKey, match="set OPENAI_API_KEY"):
        get_model("openai:gpt-4o")


def test_local_providers_need_no_key():
    m = get_model("ollama:llama3", base_url="http://127.0.0.1:11434")
    assert m.name == "ollama:llama3" and m.price is not None and m.price.input == 0
