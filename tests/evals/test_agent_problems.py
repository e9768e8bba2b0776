"""Behaviour detectors on real SDK traces: each problem is found, cited, and a clean
conversation yields none."""

from __future__ import annotations

from evals_otel import Recorder, genai_agent, genai_chat, genai_tool

from runbrief import ids, ops
from runbrief.store.duck import Store


def _problems(store: Store, **params: object) -> list[dict]:
    out = ops.run(store, "agent_problems", params)
    for p in out["problems"]:
        assert p["span_ids"], p
        for sid in p["span_ids"]:
            assert ids.exists(store, sid)
    return out["problems"]


def test_clean_conversation_has_no_problems(store: Store, rec: Recorder) -> None:
    with rec.span("invoke_agent helper", genai_agent("helper", "ok-1"), ms=2000):
        for i, city in enumerate(["Paris", "Oslo", "Lima"]):
            with rec.span("chat", genai_chat("gpt-4o", 500 + 10 * i, 20), at=1 + i * 300, ms=100):
                pass
            with rec.span("execute_tool weather", genai_tool("weather", {"city": city}), at=150 + i * 300, ms=50):
                pass
    rec.write(store)
    assert _problems(store) == []


def test_tool_loop_with_near_same_arguments(store: Store, rec: Recorder) -> None:
    with rec.span("invoke_agent coder", genai_agent("coder", "loop-1"), ms=5000):
        args = ['{"query": "weather in Paris"}', '{"query": "weather in Paris"}', '{"query": "Paris weather"}',
                '{"query":  "weather in paris"}']
        for i, a in enumerate(args):
            with rec.span("execute_tool search", genai_tool("search", a), at=10 + i * 100, ms=20):
                pass
        # Pagination is progress, not a loop.
        for page in range(1, 5):
            with rec.span("execute_tool list_orders", genai_tool("list_orders", {"page": page}), at=600 + page, ms=5):
                pass
    rec.write(store)
    found = _problems(store)
    loops = [p for p in found if p["type"] == "tool_loop"]
    assert len(loops) == 1
    assert loops[0]["details"]["tool"] == "search"
    assert loops[0]["details"]["calls"] == 4 and loops[0]["details"]["identical"] == 2
    assert loops[0]["conversation"] == "loop-1" and len(loops[0]["span_ids"]) == 4


def test_retry_storm_and_swallowed_tool_error(store: Store, rec: Recorder) -> None:
    with rec.span("invoke_agent planner", genai_agent("planner", "retry-1"), ms=10_000):
        for i in range(4):
            err = "rate limited" if i < 3 else None
            attrs = genai_chat("gpt-4o", 100, 0 if err else 50, **({"error.type": "429"} if err else {}))
            with rec.span("chat gpt-4o", attrs, at=10 + i * 500, ms=100, error=err):
                pass
        with rec.span("execute_tool charge_card", genai_tool("charge_card", {"amount": 5}), at=3000, ms=80,
                      error="card declined"):
            pass
        with rec.span("chat gpt-4o", genai_chat("gpt-4o", 150, 40), at=3200, ms=100):
            pass
    rec.write(store)
    found = _problems(store)
    storms = [p for p in found if p["type"] == "retry_storm"]
    assert len(storms) == 1 and storms[0]["details"]["attempts"] == 4 and storms[0]["details"]["failed"] == 3
    assert storms[0]["details"]["error_types"] == ["429"]
    swallowed = [p for p in found if p["type"] == "swallowed_tool_error"]
    assert len(swallowed) == 1 and swallowed[0]["details"]["tool"] == "charge_card"
    assert swallowed[0]["details"]["error_message"] == "card declined"


def test_tool_error_that_fails_the_agent_is_not_swallowed(store: Store, rec: Recorder) -> None:
    with (rec.span("invoke_agent planner", genai_agent("planner", "honest"), ms=1000, error="tool failed"),
          rec.span("execute_tool charge_card", genai_tool("charge_card", {}), at=10, ms=80, error="declined")):
        pass
    rec.write(store)
    assert [p for p in _problems(store) if p["type"] == "swallowed_tool_error"] == []


def test_runaway_token_growth_and_budgets(store: Store, rec: Recorder, tmp_path) -> None:
    with rec.span("invoke_agent writer", genai_agent("writer", "grow-1"), ms=200_000):
        for i in range(6):
            with rec.span("chat", genai_chat("gpt-4o", 1000 * 2 ** i, 100), at=10 + i * 1000, ms=500):
                pass
        with rec.span("execute_tool slow_search", genai_tool("slow_search", {"q": "x"}), at=7000, ms=45_000):
            pass
    rec.write(store)
    found = _problems(store)
    growth = [p for p in found if p["type"] == "token_growth"]
    assert len(growth) == 1 and growth[0]["details"]["factor"] == 32.0
    budgets = {(p["details"]["budget"], p["summary"].split(" ")[0]) for p in found if p["type"] == "step_over_budget"}
    assert ("duration_ms", "agent") in budgets  # 200 s step > 120 s
    assert ("duration_ms", "tool") in budgets  # 45 s tool call > 30 s
    assert ("tokens", "agent") not in budgets  # 63k + 600 tokens < 100k
    cfg = tmp_path / "runbrief.toml"
    cfg.write_text("[agents]\nstep_max_tokens = 10000\ngrowth_factor = 100\n")
    found = _problems(store, config=str(cfg))
    assert not [p for p in found if p["type"] == "token_growth"]
    assert [p for p in found if p["type"] == "step_over_budget" and p["details"]["budget"] == "tokens"]
