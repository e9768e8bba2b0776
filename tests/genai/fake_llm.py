"""A fake OpenAI- and Anthropic-compatible model server on loopback, for driving the real
client libraries and their instrumentations with a known workload.

Both APIs answer by the last user message: ``loop`` asks for the tool call
``get_status(job="42")``, ``page N`` for ``list_reports(page=N)``, anything else gets a text
answer ("done"). The n-th call (1-based, both APIs counted together) reports ``100 + n`` input
and 10 output tokens, so the expected totals of a workload are known exactly. ``stream: true``
answers as server-sent events (OpenAI chunks with a final usage chunk when asked for,
Anthropic's message_start … message_stop) with the same counts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_OPENAI = "gpt-4o-mini-2024-07-18"
MODEL_ANTHROPIC = "claude-haiku-4-5-20251001"
OUTPUT_TOKENS = 10
CACHE_READ, CACHE_WRITE = 2000, 500  # per call, when the server is made with cached=True


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks / parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _tool_for(text: str) -> tuple[str, dict[str, Any]] | None:
    text = text.strip()
    if text == "loop":
        return "get_status", {"job": "42"}
    if text.startswith("page"):
        return "list_reports", {"page": int(text.split()[1]) if " " in text else 1}
    return None


def _next_tool(messages: list[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """In an agent's run (OpenAI format, tool results sent back): ``loop`` asks for
    ``get_status`` again until it has asked six times, ``page`` walks pages 1-3; then an answer."""
    asked = sum(1 for m in messages if m.get("role") == "tool")
    first = _text_of(next((m for m in messages if m.get("role") == "user"), {})).strip()
    if first == "loop" and asked < 6:
        return "get_status", {"job": "42"}
    if first == "page" and asked < 3:
        return "list_reports", {"page": asked + 1}
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeLLM  # type: ignore[assignment]

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        n = self.server.next_call()
        messages = body.get("messages") or []
        tool = _tool_for(_text_of(next((m for m in reversed(messages) if m.get("role") == "user"), {})))
        if messages and messages[-1].get("role") == "tool":  # an agent sent its tool's result back
            tool = _next_tool(messages)
        if self.path.rstrip("/").endswith("/chat/completions"):
            self._openai(body, n, tool)
        elif self.path.rstrip("/").endswith("/messages"):
            self._anthropic(body, n, tool)
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    # ------------------------------------------------------------------ OpenAI
    def _openai(self, body: dict[str, Any], n: int, tool: tuple[str, dict[str, Any]] | None) -> None:
        usage: dict[str, Any] = {"prompt_tokens": 100 + n, "completion_tokens": OUTPUT_TOKENS,
                                 "total_tokens": 110 + n}
        if self.server.cached:  # OpenAI counts cached tokens within prompt_tokens
            usage = {"prompt_tokens": 100 + n + CACHE_READ, "completion_tokens": OUTPUT_TOKENS,
                     "total_tokens": 110 + n + CACHE_READ, "prompt_tokens_details": {"cached_tokens": CACHE_READ}}
        rid = f"chatcmpl-{n}"
        if tool:
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{n}", "type": "function",
                 "function": {"name": tool[0], "arguments": json.dumps(tool[1])}}]}
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": "done"}, "stop"
        if not body.get("stream"):
            self._send(200, {"id": rid, "object": "chat.completion", "created": 1_700_000_000, "model": MODEL_OPENAI,
                             "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                             "usage": usage})
            return
        head = {"id": rid, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": MODEL_OPENAI}
        events = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None}]}]
        for piece in ("do", "ne"):
            events.append({**head, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**head, "choices": [], "usage": usage})
        self._sse([("", e) for e in events], done=True)

    # --------------------------------------------------------------- Anthropic
    def _anthropic(self, body: dict[str, Any], n: int, tool: tuple[str, dict[str, Any]] | None) -> None:
        rid = f"msg_{n:04d}"
        if tool:
            block: dict[str, Any] = {"type": "tool_use", "id": f"toolu_{n:04d}", "name": tool[0], "input": tool[1]}
            stop = "tool_use"
        else:
            block, stop = {"type": "text", "text": "done"}, "end_turn"
        usage: dict[str, Any] = {"input_tokens": 100 + n, "output_tokens": OUTPUT_TOKENS}
        if self.server.cached:  # Anthropic counts cache reads and writes apart from input_tokens
            usage.update(cache_read_input_tokens=CACHE_READ, cache_creation_input_tokens=CACHE_WRITE)
        message = {"id": rid, "type": "message", "role": "assistant", "model": MODEL_ANTHROPIC, "content": [block],
                   "stop_reason": stop, "stop_sequence": None, "usage": usage}
        if not body.get("stream"):
            self._send(200, message)
            return
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
        events.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}}))
        for piece in ("do", "ne"):
            events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                   "delta": {"type": "text_delta", "text": piece}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                            "stop_sequence": None},
                                         "usage": {"output_tokens": OUTPUT_TOKENS}}))
        events.append(("message_stop", {"type": "message_stop"}))
        self._sse(events, done=False)

    # ------------------------------------------------------------------ wire
    def _send(self, code: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", "req_fake")
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str, dict[str, Any]]], *, done: bool) -> None:
        chunks = []
        for name, obj in events:
            chunks.append((f"event: {name}\n" if name else "") + f"data: {json.dumps(obj)}\n\n")
        if done:
            chunks.append("data: [DONE]\n\n")
        data = "".join(chunks).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class FakeLLM(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, cached: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cached = cached
        self._lock = threading.Lock()
        self.calls = 0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def next_call(self) -> int:
        with self._lock:
            self.calls += 1
            return self.calls

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
