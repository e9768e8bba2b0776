"""Each GenAI convention, emitted through the real OpenTelemetry SDK and the OTLP decoder,
lands in one normalized view: model calls, tool calls and agent steps with tokens, cost,
finish reasons and their conversation."""

from __future__ import annotations

import pytest
from evals_otel import Recorder, genai_agent, genai_chat, genai_tool
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from runbrief import ids, ops
from runbrief.evals import genai
from runbrief.evals.prices import PriceTable
from runbrief.evals.scope import Scope
from runbrief.ingest.otlp import decode_metrics
from runbrief.ingest.pipeline import Pipeline
from runbrief.store.duck import Store


def _by(rows: list[dict], key: str) -> dict:
    return {r[key]: r for r in rows}


def test_otel_genai_current_and_older_names(store: Store, rec: Recorder) -> None:
    with rec.span("invoke_agent planner", genai_agent("planner", "conv-1"), at=0, ms=3000):
        with rec.span("chat gpt-4o", genai_chat("gpt-4o", 1200, 300, **{
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.response.finish_reasons": ["tool_calls"]}), at=10, ms=900):
            pass
        with rec.span("execute_tool get_weather", genai_tool("get_weather", {"city": "Paris"},
                                                            **{"gen_ai.tool.call.id": "call_1"}), at=950, ms=120):
            pass
        # Older GenAI names: gen_ai.system and prompt/completion tokens.
        with rec.span("chat gpt-4o-mini", {"gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                                           "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.prompt_tokens": 2000,
                                           "gen_ai.usage.completion_tokens": 100,
                                           "gen_ai.response.finish_reasons": ["stop"]}, at=1100, ms=400):
            pass
        with rec.span("embeddings text-embedding-3-small", {
                "gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": 50}, at=1600, ms=30):
            pass
    with rec.span("GET /health", {"http.route": "/health", "http.request.method": "GET"}, at=5000, ms=2):
        pass  # not GenAI: never in the view
    rec.write(store)

    rows = genai.calls(store, Scope())
    assert len(rows) == 5
    kinds = sorted(r["kind"] for r in rows)
    assert kinds == ["agent", "model", "model", "model", "tool"]
    assert {r["conversation"] for r in rows} == {"conv-1"}
    tool = next(r for r in rows if r["kind"] == "tool")
    assert (tool["tool_name"], tool["tool_call_id"]) == ("get_weather", "call_1")
    assert genai.args_text(tool["tool_args"]) == '{"city":"Paris"}'

    report = ops.run(store, "agents", {})
    models = _by(report["models"], "model")
    m = models["gpt-4o-2024-08-06"]
    assert (m["calls"], m["input_tokens"], m["output_tokens"]) == (1, 1200, 300)
    assert m["cost"] == pytest.approx((1200 * 2.5 + 300 * 10.0) / 1e6)
    assert m["finish_reasons"] == {"tool_calls": 1}
    assert m["p95_ms"] == pytest.approx(900.0)
    older = models["gpt-4o-mini"]
    assert (older["input_tokens"], older["output_tokens"], older["provider"]) == (2000, 100, "openai")
    assert models["text-embedding-3-small"]["operations"] == ["embeddings"]
    assert report["tools"][0]["tool"] == "get_weather" and report["tools"][0]["success_rate"] == 1.0
    agent = report["agents"][0]
    assert (agent["agent"], agent["model_calls"], agent["tool_calls"]) == ("planner", 3, 1)
    assert agent["input_tokens"] == 1200 + 2000 + 50
    conv = report["conversations"][0]
    assert conv["conversation"] == "conv-1" and conv["model_calls"] == 3
    assert report["totals"]["cost"] == pytest.approx(sum(x["cost"] for x in report["models"]), abs=1e-6)
    # Every cited span resolves.
    for row in report["models"] + report["tools"] + report["agents"]:
        for sid in row["span_ids"]:
            assert ids.exists(store, sid)


def test_openinference_spans(store: Store, rec: Recorder) -> None:
    with rec.span("Agent", {"openinference.span.kind": "AGENT", "agent.name": "researcher", "session.id": "s-42"},
                  at=0, ms=2000):
        with rec.span("ChatCompletion", {"openinference.span.kind": "LLM", "llm.model_name": "claude-3-5-sonnet-20241022",
                                         "llm.provider": "anthropic", "llm.token_count.prompt": 800,
                                         "llm.token_count.completion": 120, "llm.token_count.total": 920},
                      at=10, ms=700):
            pass
        with rec.span("search_web", {"openinference.span.kind": "TOOL", "tool.name": "search_web",
                                     "input.value": '{"query": "duckdb"}'}, at=720, ms=300, error="HTTP 500"):
            pass
        with rec.span("chain", {"openinference.span.kind": "CHAIN"}, at=1100, ms=10):
            pass  # a chain is neither a model call, a tool call nor an agent step
    rec.write(store)
    report = ops.run(store, "agents", {})
    m = report["models"][0]
    assert (m["model"], m["provider"], m["input_tokens"], m["output_tokens"], m["total_tokens"]) == \
        ("claude-3-5-sonnet-20241022", "anthropic", 800, 120, 920)
    assert m["cost"] == pytest.approx((800 * 3 + 120 * 15) / 1e6)
    tool = report["tools"][0]
    assert (tool["tool"], tool["errors"], tool["success_rate"]) == ("search_web", 1, 0.0)
    assert report["agents"][0]["agent"] == "researcher"
    assert report["conversations"][0]["conversation"] == "s-42"
    assert report["totals"]["agent_steps"] == 1 and report["totals"]["tool_calls"] == 1


def test_openllmetry_spans(store: Store, rec: Recorder) -> None:
    workflow = {"traceloop.span.kind": "workflow", "traceloop.entity.name": "support"}
    agent = {"traceloop.span.kind": "agent", "traceloop.entity.name": "triage",
             "traceloop.association.properties.session_id": "ticket-9"}
    with rec.span("support.workflow", workflow, at=0, ms=3000), rec.span("triage.agent", agent, at=5, ms=2500):
        with rec.span("openai.chat", {"llm.request.type": "chat", "gen_ai.system": "OpenAI",
                                      "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                                      "gen_ai.usage.prompt_tokens": 400, "gen_ai.usage.completion_tokens": 60,
                                      "llm.usage.total_tokens": 460,
                                      "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "hi",
                                      "gen_ai.completion.0.finish_reason": "length",
                                      "gen_ai.completion.0.content": "…"}, at=10, ms=500):
            pass
        with rec.span("lookup_order.tool", {"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup_order",
                                            "traceloop.entity.input": '{"order": 17}'}, at=600, ms=40):
            pass
    rec.write(store)
    rows = genai.calls(store, Scope())
    # The workflow is a step too (issue 19): traceloop's workflow/task spans are how it marks agent work.
    assert sorted(r["kind"] for r in rows) == ["agent", "agent", "model", "tool"]
    model = next(r for r in rows if r["kind"] == "model")
    assert (model["model"], model["input_tokens"], model["output_tokens"], model["total_tokens"]) == \
        ("gpt-4o-2024-08-06", 400, 60, 460)
    assert model["finish_reasons"] == ["length"]
    assert model["conversation"] == "ticket-9"  # inherited from the agent span of the same trace
    tool = next(r for r in rows if r["kind"] == "tool")
    assert (tool["tool_name"], genai.args_text(tool["tool_args"])) == ("lookup_order", '{"order":17}')
    steps = {r["agent_name"]: r["operation"] for r in rows if r["kind"] == "agent"}
    assert steps == {"triage": "invoke_agent", "support": "workflow"}


def test_conversation_falls_back_to_trace_and_time_buckets(store: Store, rec: Recorder) -> None:
    for i in range(3):
        with (rec.span("run", at=i * 120_000, ms=1000),
              rec.span("chat", genai_chat("gpt-4o-mini", 100 * (i + 1), 10), at=i * 120_000 + 1, ms=200)):
            pass
    rec.write(store)
    report = ops.run(store, "agents", {"group_by": ["conversation", "time"]})
    assert "models" not in report
    convs = report["conversations"]
    assert len(convs) == 3 and all(c["conversation"].startswith("trc_") for c in convs)
    assert all(ids.exists(store, c["conversation"]) for c in convs)
    buckets = report["timeline"]["buckets"]
    assert sum(b["model_calls"] for b in buckets) == 3
    assert sum(b["input_tokens"] for b in buckets) == 600
    only = ops.run(store, "agents", {"conversation": convs[0]["conversation"], "group_by": ["model"]})
    assert only["totals"]["model_calls"] == 1


def test_prices_override_and_unpriced(store: Store, rec: Recorder, tmp_path) -> None:
    with rec.span("chat", genai_chat("llama3.1:8b", 1_000_000, 1_000_000), ms=100):
        pass
    with rec.span("chat", genai_chat("openai/gpt-4o-mini-2024-07-18", 1_000_000, 0), at=200, ms=100):
        pass
    rec.write(store)
    report = ops.run(store, "agents", {})
    by = _by(report["models"], "model")
    assert by["llama3.1:8b"]["cost"] is None and by["llama3.1:8b"]["priced"] is False
    assert report["totals"]["unpriced_models"] == ["llama3.1:8b"]
    assert by["openai/gpt-4o-mini-2024-07-18"]["cost"] == pytest.approx(0.15)
    cfg = tmp_path / "runbrief.toml"
    cfg.write_text('[prices]\n"llama3.1" = [0.1, 0.2]\n"gpt-4o-mini" = { input = 1.0, output = 2.0 }\n')
    report = ops.run(store, "agents", {"config": str(cfg)})
    by = _by(report["models"], "model")
    assert by["llama3.1:8b"]["cost"] == pytest.approx(0.3)
    assert by["openai/gpt-4o-mini-2024-07-18"]["cost"] == pytest.approx(1.0)
    assert PriceTable().lookup("us.anthropic.claude-3-5-haiku-20241022-v1:0")[0] == "claude-3-5-haiku"


def test_genai_metrics_from_the_sdk(store: Store) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource.create({"service.name": "agent-app"}), metric_readers=[reader])
    meter = provider.get_meter("tests")
    tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
    base = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": "openai"}
    for inp, out in ((100, 20), (300, 40)):
        tokens.record(inp, {**base, "gen_ai.token.type": "input"})
        tokens.record(out, {**base, "gen_ai.token.type": "output"})
        duration.record(0.5, base)
    body = encode_metrics(reader.get_metrics_data()).SerializeToString()
    Pipeline(store).write(decode_metrics(body, "application/x-protobuf"))
    report = ops.run(store, "agents", {"group_by": ["model"]})
    m = _by(report["metrics"], "model")["gpt-4o"]
    assert (m["input_tokens"], m["output_tokens"], m["operations"]) == (400, 60, 2)
    assert m["mean_ms"] == pytest.approx(500.0)
