"""A fake LLM server on 127.0.0.1: the Anthropic Messages API and the OpenAI Chat Completions API,
plain and streaming, scriptable per request, with faults to inject.

It runs its own event loop on a thread, so synchronous clients (litellm's thread pool) and async
ones (the Anthropic SDK) in any loop can reach it. Point the real SDKs at it:

    with FakeLLMServer() as server:
        server.script(Reply(text="hi"), Fault.rate_limit(retry_after=0.05), Reply(text="again"))
        AnthropicModel("claude-haiku-4-5", base_url=server.url, api_key="test")
        LitellmModel(parse_model_string("openai/gpt-4o"), base_url=server.openai_base_url, api_key="test")
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FakeLLMServer", "Fault", "RecordedRequest", "Reply"]

_ids = itertools.count(1)
REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset({"x-api-key", "authorization", "api-key"})


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A successful answer. tool_calls are (name, arguments) pairs."""

    text: str | None = None
    tool_calls: Sequence[tuple[str, dict[str, Any]]] = ()
    input_tokens: int = 10
    output_tokens: int = 5
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    latency: float = 0.0
    """Seconds to wait before answering (a model's think time)."""
    raw_arguments: str | None = None
    """Send this exact string as the first tool call's arguments (malformed JSON, for example)."""


@dataclass(frozen=True, kw_only=True)
class Fault:
    """A failure to inject. Build with the class methods."""

    kind: Literal["status", "slow", "drop"]
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    then: Reply | None = None

    @classmethod
    def rate_limit(cls, retry_after: float | None = 0.05) -> Fault:
        """429 with a retry-after header (seconds; None: no header)."""
        return cls(kind="status", status=429, retry_after=retry_after)

    @classmethod
    def overloaded(cls, retry_after: float | None = None) -> Fault:
        """529, Anthropic's "overloaded"."""
        return cls(kind="status", status=529, retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500, retry_after: float | None = None) -> Fault:
        return cls(kind="status", status=status, retry_after=retry_after)

    @classmethod
    def error(cls, status: int) -> Fault:
        """Any status, for example 401 or 400 (not retryable)."""
        return cls(kind="status", status=status)

    @classmethod
    def slow(cls, seconds: float, then: Reply | None = None) -> Fault:
        """Answer only after `seconds` (past the client's timeout, typically)."""
        return cls(kind="slow", seconds=seconds, then=then)

    @classmethod
    def drop(cls) -> Fault:
        """Send the headers and part of the body, then close the connection."""
        return cls(kind="drop")


Step = Reply | Fault


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """A request the server received. Key headers are redacted: nothing secret is kept."""

    api: Literal["anthropic", "openai"]
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    stream: bool
    received_at: float = field(default_factory=time.time)


class FakeLLMServer:
    """See the module doc. Steps from `script()` are used in order, one per request (both APIs
    share the queue); then `handler(request)` if set; then `default`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        default: Reply | None = None,
        handler: Callable[[RecordedRequest], Step] | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fake server listens on loopback only")
        self.host = host
        self.port = port
        self.default = default or Reply(text="ok")
        self.handler = handler
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        """Requests received and not yet answered."""
        self.max_in_flight = 0
        """The most requests in flight at once (to check a client's backpressure)."""
        self._steps: deque[Step] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    # lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL for the Anthropic SDK (it appends /v1/messages)."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL for OpenAI-style clients and litellm's api_base."""
        return f"{self.url}/v1"

    def start(self) -> FakeLLMServer:
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(asyncio.start_server(self._accept, self.host, self.port))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-llm-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        fut.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(self._handlers)
        await self._server.wait_closed()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # scripting -------------------------------------------------------------------------------

    def script(self, *steps: Step) -> None:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self._steps.extend(steps)

    @property
    def pending(self) -> int:
        """Scripted steps not used yet."""
        with self._lock:
            return len(self._steps)

    def _next_step(self, request: RecordedRequest) -> Step:
        with self._lock:
            self.requests.append(request)
            if self._steps:
                return self._steps.popleft()
        if self.handler is not None:
            return self.handler(request)
        return self.default

    # HTTP ----------------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0"))
                raw = await reader.readexactly(length) if length else b""
                keep = await self._respond(method, path, headers, raw, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._handlers.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        """Write one response; False when the connection must close."""
        route = path.split("?", 1)[0].rstrip("/")
        if method != "POST" or not (route.endswith("/messages") or route.endswith("/chat/completions")):
            await _send(writer, 404, {"error": {"message": f"no route {method} {path}"}})
            return True
        api: Literal["anthropic", "openai"] = "anthropic" if route.endswith("/messages") else "openai"
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            await _send(writer, 400, {"error": {"message": "body is not JSON"}})
            return True
        safe = {k: (REDACTED if k in _SECRET_HEADERS else v) for k, v in headers.items()}
        request = RecordedRequest(api=api, path=route, headers=safe, body=body, stream=bool(body.get("stream")))
        step = self._next_step(request)
        model = str(body.get("model", "fake-model"))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(api, request, model, step, writer)
        finally:
            self.in_flight -= 1

    async def _answer(
        self,
        api: Literal["anthropic", "openai"],
        request: RecordedRequest,
        model: str,
        step: Step,
        writer: asyncio.StreamWriter,
    ) -> bool:

        if isinstance(step, Fault):
            if step.kind == "status":
                extra = {}
                if step.retry_after is not None:
                    extra["retry-after"] = f"{step.retry_after:g}"
                    extra["retry-after-ms"] = f"{step.retry_after * 1000:g}"
                await _send(writer, step.status, _error_body(api, step.status), extra)
                return True
            if step.kind == "slow":
                await asyncio.sleep(step.seconds)
                step_reply = step.then or self.default
                return await self._reply(api, request, model, step_reply, writer)
            # drop: promise a body, send half of it, hang up
            payload = json.dumps(_reply_body(api, model, self.default)).encode()
            head = (
                f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
            ).encode()
            writer.write(head + payload[: len(payload) // 2])
            await writer.drain()
            return False
        return await self._reply(api, request, model, step, writer)

    async def _reply(
        self, api: str, request: RecordedRequest, model: str, reply: Reply, writer: asyncio.StreamWriter
    ) -> bool:
        if reply.latency:
            await asyncio.sleep(reply.latency)
        if not request.stream:
            await _send(writer, 200, _reply_body(api, model, reply))
            return True
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        events = _anthropic_events(model, reply) if api == "anthropic" else _openai_events(model, reply, request)
        for event in events:
            data = event.encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


async def _send(
    writer: asyncio.StreamWriter, status: int, body: dict[str, Any], extra: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    reason = {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
        529: "Overloaded",
    }.get(status, "Error")
    lines = [f"HTTP/1.1 {status} {reason}", "content-type: application/json", f"content-length: {len(payload)}"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
    await writer.drain()


def _error_body(api: str, status: int) -> dict[str, Any]:
    kind = {
        429: "rate_limit_error",
        529: "overloaded_error",
        401: "authentication_error",
        400: "invalid_request_error",
    }.get(status, "api_error")
    message = f"fake server: injected {status}"
    if api == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": str(status)}}


def _arguments(reply: Reply, i: int, args: dict[str, Any]) -> str:
    if i == 0 and reply.raw_arguments is not None:
        return reply.raw_arguments
    return json.dumps(args)


def _reply_body(api: str, model: str, reply: Reply) -> dict[str, Any]:
    n = next(_ids)
    if api == "anthropic":
        content: list[dict[str, Any]] = []
        if reply.text is not None:
            content.append({"type": "text", "text": reply.text})
        for i, (name, args) in enumerate(reply.tool_calls):
            raw = _arguments(reply, i, args)
            try:
                parsed: Any = json.loads(raw)
            except json.JSONDecodeError:
                parsed = raw  # malformed: the block carries a string where an object belongs
            content.append({"type": "tool_use", "id": f"toolu_{n}_{i}", "name": name, "input": parsed})
        return {
            "id": f"msg_{n}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": reply.input_tokens,
                "output_tokens": reply.output_tokens,
                "cache_read_input_tokens": reply.cache_read_tokens,
                "cache_creation_input_tokens": reply.cache_write_tokens,
            },
        }
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{n}_{i}",
                "type": "function",
                "function": {"name": name, "arguments": _arguments(reply, i, args)},
            }
            for i, (name, args) in enumerate(reply.tool_calls)
        ]
    prompt = reply.input_tokens + reply.cache_read_tokens
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": reply.output_tokens,
            "total_tokens": prompt + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.cache_read_tokens},
        },
    }


def _sse(event: str | None, data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def _chunks(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _anthropic_events(model: str, reply: Reply) -> list[str]:
    n = next(_ids)
    out = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_{n}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": reply.input_tokens,
                        "output_tokens": 1,
                        "cache_read_input_tokens": reply.cache_read_tokens,
                        "cache_creation_input_tokens": reply.cache_write_tokens,
                    },
                },
            },
        )
    ]
    index = 0
    if reply.text is not None:
        out.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            )
        )
        for piece in _chunks(reply.text):
            out.append(
                _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}},
                )
            )
        out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for i, (name, args) in enumerate(reply.tool_calls):
        out.append(
            _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "tool_use", "id": f"toolu_{n}_{i}", "name": name, "input": {}},
                },
            )
        )
        for piece in _chunks(_arguments(reply, i, args), 16):
            out.append(
                _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                )
            )
        out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    out.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use" if reply.tool_calls else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": reply.output_tokens},
            },
        )
    )
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return out


def _openai_events(model: str, reply: Reply, request: RecordedRequest) -> list[str]:
    n = next(_ids)
    base = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return _sse(None, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    out = [chunk({"role": "assistant", "content": ""})]
    if reply.text:
        out += [chunk({"content": piece}) for piece in _chunks(reply.text)]
    for i, (name, args) in enumerate(reply.tool_calls):
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": f"call_{n}_{i}",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        for piece in _chunks(_arguments(reply, i, args), 16):
            out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    out.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    if (request.body.get("stream_options") or {}).get("include_usage"):
        prompt = reply.input_tokens + reply.cache_read_tokens
        out.append(
            _sse(
                None,
                {
                    **base,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": reply.output_tokens,
                        "total_tokens": prompt + reply.output_tokens,
                        "prompt_tokens_details": {"cached_tokens": reply.cache_read_tokens},
                    },
                },
            )
        )
    out.append(_sse(None, "[DONE]"))
    return out
