"""End to end with a real instrumentation: the ``openai`` client instrumented by
``opentelemetry-instrumentation-openai-v2`` talks to a fake OpenAI-compatible server on
loopback; its spans go through the OTLP encoder and runbrief's decoder into the store.
The workload is known (ten chat calls: a 6x identical tool call, a paginated non-loop of
three, one plain answer), so calls, tokens, cost, tool calls and loops are checked exactly.

Needs the ``genai-e2e`` extra (pinned in pyproject.toml and constraints.txt); skipped without it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from evals_otel import Recorder

from runbrief import ops
from runbrief.evals import behaviour
from runbrief.evals.prices import PriceTable
from runbrief.evals.scope import Scope
from runbrief.store.duck import Store

openai = pytest.importorskip("openai")
openai_v2 = pytest.importorskip("opentelemetry.instrumentation.openai_v2")

MODEL = "gpt-4o-mini-2024-07-18"


class _FakeOpenAI(BaseHTTPRequestHandler):
    """Chat completions: 'loop' asks for get_status(job=42), 'page N' for list_reports(page=N)."""

    count = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        type(self).count += 1
        n = type(self).count
        if text == "loop" or text.startswith("page"):
            name, args = (("get_status", {"job": "42"}) if text == "loop"
                          else ("list_reports", {"page": int(text.split()[1])}))
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]}
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": "done"}, "stop"
        reply = {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1_700_000_000, "model": MODEL,
                 "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                 "usage": {"prompt_tokens": 100 + n, "completion_tokens": 10, "total_tokens": 110 + n}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_openai() -> Iterator[str]:
    _FakeOpenAI.count = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("capture", ["SPAN_ONLY", "NO_CONTENT"])
def test_openai_v2_workload(store: Store, rec: Recorder, fake_openai: str, capture: str,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", capture)
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    instrumentor = openai_v2.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=rec.provider)
    try:
        client = openai.OpenAI(base_url=fake_openai, api_key="test", max_retries=0)
        tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
                 for n in ("get_status", "list_reports")]
        prompts = ["loop"] * 6 + ["page 1", "page 2", "page 3", "thanks"]
        tracer = rec.provider.get_tracer("app")
        with tracer.start_as_current_span("agent run"):
            for p in prompts:
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": p}],
                                               tools=tools)
    finally:
        instrumentor.uninstrument()
    rec.write(store)

    report = ops.run(store, "agents", {})
    t = report["totals"]
    in_tokens = sum(100 + n for n in range(1, 11))
    assert (t["model_calls"], t["input_tokens"], t["output_tokens"]) == (10, in_tokens, 100)
    assert t["cost"] == pytest.approx(PriceTable().cost(MODEL, in_tokens, 100), abs=1e-6)
    problems = behaviour.detect(store, Scope(), behaviour.Thresholds())
    loops = [(p["details"]["tool"], p["details"]["calls"]) for p in problems if p["type"] == "tool_loop"]
    if capture == "SPAN_ONLY":
        assert t["tool_calls"] == 9
        assert {r["tool"]: r["calls"] for r in report["tools"]} == {"get_status": 6, "list_reports": 3}
        assert loops == [("get_status", 6)]
    else:  # no content: the requested calls are not recorded, and nothing is guessed
        assert t["tool_calls"] == 0 and loops == []
