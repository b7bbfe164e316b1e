"""A real OpenAI-compatible chat server on loopback, for testing `ChatOpenAI` end to end.

    with stub_openai_server([tool_reply("lookup", {"key": "lr"}), "ok", {"x": 1}]) as stub:
        brain = make_brain("llm", model_name="stub", api_key="sk-test", base_url=stub.base_url)
        ...
        stub.requests[0]["tools"]        # every request body, parsed, in order

or the `stub_openai` fixture (import it into a conftest or test module), then
`stub_openai.script(...)` / `stub_openai.responder = fn`.

`POST /v1/chat/completions` answers non-streaming and streaming (SSE `chat.completion.chunk`s,
then `data: [DONE]`; usage in a last chunk when `stream_options.include_usage`). A reply is a
`StubReply`, a `str` (text content), a `dict` / pydantic model (its JSON as content: a
json_schema answer), or comes from `responder(request_json)`, which takes precedence when set.
With nothing scripted the server answers 400 (not retried by the SDK), so a test fails fast.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import BaseModel


@dataclass
class StubReply:
    """One chat completion: text and/or tool calls, the usage it reports, or an HTTP error."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {"name", "args", "id"}
    usage: tuple[int, int] = (12, 8)  # (prompt_tokens, completion_tokens)
    status: int = 200  # not 200: an OpenAI-style error body with `content` as its message


def tool_reply(name: str, args: dict[str, Any], call_id: str | None = None) -> StubReply:
    """A completion that calls one tool (finish_reason "tool_calls")."""
    return StubReply(tool_calls=[{"name": name, "args": args, "id": call_id or f"call_{name}"}])


def error_reply(status: int, message: str) -> StubReply:
    """An HTTP error (use 4xx: the SDK retries 5xx and 429 with backoff, which is slow)."""
    return StubReply(content=message, status=status)


def as_reply(value: StubReply | str | dict[str, Any] | BaseModel) -> StubReply:
    """Normalise a scripted value: str -> text, dict / model -> JSON content."""
    if isinstance(value, StubReply):
        return value
    if isinstance(value, str):
        return StubReply(content=value)
    if isinstance(value, BaseModel):
        return StubReply(content=value.model_dump_json())
    if isinstance(value, dict):
        return StubReply(content=json.dumps(value))
    raise TypeError(f"stub_openai: cannot reply with {type(value).__name__}")


class StubOpenAI:
    """The server's state: the script, the optional responder and every request body."""

    def __init__(self, replies: list[Any] | None = None) -> None:
        self.replies: list[Any] = list(replies or [])
        self.responder: Callable[[dict[str, Any]], Any] | None = None
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.base_url = f"{self.url}/v1"  # what ChatOpenAI / make_brain take as base_url

    def script(self, *replies: Any) -> StubOpenAI:
        """Queue more replies (answered in order)."""
        with self._lock:
            self.replies.extend(replies)
        return self

    def next_reply(self, body: dict[str, Any]) -> StubReply:
        with self._lock:
            self.requests.append(body)
            if self.responder is not None:
                return as_reply(self.responder(body))
            if not self.replies:
                n = len(self.requests)
                return error_reply(400, f"stub_openai: no scripted reply left for request #{n}")
            return as_reply(self.replies.pop(0))

    def start(self) -> StubOpenAI:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def stub_openai_server(replies: list[Any] | None = None) -> Iterator[StubOpenAI]:
    """A running stub for the `with` block."""
    stub = StubOpenAI(replies).start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def stub_openai() -> Iterator[StubOpenAI]:
    """A running stub with an empty script; `stub_openai.script(...)` fills it."""
    with stub_openai_server() as stub:
        yield stub


def _handler_for(stub: StubOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send_json(404, _error(f"stub_openai: no route {self.path}"))
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            reply = stub.next_reply(body)
            if reply.status != 200:
                return self._send_json(reply.status, _error(reply.content or "error"))
            if body.get("stream"):
                include_usage = (body.get("stream_options") or {}).get("include_usage", False)
                return self._send_sse(_chunks(body, reply, include_usage))
            return self._send_json(200, _completion(body, reply))

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_sse(self, chunks: list[dict[str, Any]]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


def _usage(reply: StubReply) -> dict[str, int]:
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _openai_calls(reply: StubReply) -> list[dict[str, Any]]:
    return [
        {
            "id": call.get("id") or f"call_{i}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["args"])},
        }
        for i, call in enumerate(reply.tool_calls)
    ]


def _envelope(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": kind,
        "created": int(time.time()),
        "model": body.get("model", "stub"),
    }


def _completion(body: dict[str, Any], reply: StubReply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = _openai_calls(reply)
    finish = "tool_calls" if reply.tool_calls else "stop"
    choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    return {**_envelope(body, "chat.completion"), "choices": [choice], "usage": _usage(reply)}


def _chunks(body: dict[str, Any], reply: StubReply, include_usage: bool) -> list[dict[str, Any]]:
    """The stream: role, the content in two pieces, each tool call's arguments in two pieces,
    the finish reason, then (when asked) a usage-only chunk, as OpenAI sends them."""
    head = _envelope(body, "chat.completion.chunk")
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    text = reply.content or ""
    if text:
        half = len(text) // 2
        deltas += [{"content": text[:half]}, {"content": text[half:]}]
    for i, call in enumerate(_openai_calls(reply)):
        args = call["function"]["arguments"]
        half = len(args) // 2
        first = {**call, "function": {"name": call["function"]["name"], "arguments": args[:half]}}
        deltas.append({"tool_calls": [{"index": i, **first}]})
        deltas.append({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]})
    chunks = [
        {**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
    ]
    finish = "tool_calls" if reply.tool_calls else "stop"
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if include_usage:
        chunks.append({**head, "choices": [], "usage": _usage(reply)})
    return chunks
