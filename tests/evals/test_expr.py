"""The assertion language: its grammar, its errors, and what each form means on real spans."""

from __future__ import annotations

import pytest
from evals_otel import Recorder, genai_chat, genai_tool

from runbrief.evals import evaluators
from runbrief.evals.behaviour import Thresholds
from runbrief.evals.expr import ExprError, evaluate, parse
from runbrief.evals.prices import PriceTable
from runbrief.evals.scope import Scope
from runbrief.store.duck import Store


@pytest.fixture
def data(store: Store, rec: Recorder):
    for i, ms in enumerate((500, 700, 900)):
        with rec.span("startup", at=i * 5000, ms=ms):
            pass
        with rec.span("GET /cart", {"http.route": "/cart", "http.response.status_code": 200 if i else 500},
                      at=i * 5000 + 1000, ms=100 * (i + 1), error="boom" if i == 0 else None):
            pass
    with rec.span("chat", genai_chat("gpt-4o", 1000, 100), at=20_000, ms=400):
        pass
    for ok in (True, True, False):
        with rec.span("execute_tool search", genai_tool("search", {"q": str(ok)}), at=21_000, ms=10,
                      error=None if ok else "timeout"):
            pass
    rec.write(store)
    return evaluators.load_data(store, Scope(since="1h"), PriceTable(), Thresholds())


@pytest.mark.parametrize(("text", "ok"), [
    ('span("startup").duration < 1s', True),
    ('span("startup").duration < 800ms', False),
    ('max(span("startup").duration) == 900', True),
    ('p50(span("startup").duration) == 700ms', True),
    ('p95(route("/cart")) <= 300ms', True),
    ('count(span("startup")) == 3 and count(spans()) == 10', True),
    ('count(route("/cart").where("http.response.status_code", 500)) == 1', True),
    ("errors() == 0", False),
    ("errors() == 2 or false", True),
    ("not errors() == 0", True),
    ("tokens() == 1.1k", True),
    ("cost() < $0.0036 and cost() > $0.0034", True),
    ('tool("search").success_rate >= 0.6', True),
    ('tools().error_rate > 0.5', False),
    ('span("nope").duration < 1s', False),  # nothing matched: never a silent pass
    ('avg(span("startup").duration) / 1000 < 1', True),
    ('-1 < 0', True),
    ('problems("tool_loop") == 0', True),
])
def test_assertions_on_real_spans(data, text: str, ok: bool) -> None:
    out = evaluate(text, data)
    assert out.ok is ok, (text, out)


def test_failures_cite_the_offending_spans(data) -> None:
    out = evaluate('span("startup").duration < 800ms', data)
    assert not out.ok and len(out.evidence) == 1 and out.evidence[0].startswith("spn_")
    assert "1 of 3" in out.detail and "worst 900" in out.detail
    assert next(s for s in data.spans if s["id"] == out.evidence[0])["duration_ms"] == 900
    assert evaluate('span("nope").duration < 1s', data).applicable is False


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty assertion"),
    ('span("x").duration <', "expected"),
    ('span("x").duration < 8 parsecs', "unexpected"),
    ("startup < 800ms", "must be called"),
    ('span("x") < 3', "compare a field"),
    ('span("x").colour < 3', "unknown field"),
    ("frobnicate() == 1", "unknown function"),
    ('span(3).duration < 1', "one quoted pattern"),
    ('count(span("a")) # 3', "cannot read"),
])
def test_malformed_assertions_say_what_is_wrong(data, text: str, message: str) -> None:
    with pytest.raises(ExprError, match=message):
        evaluate(text, data)


def test_parse_is_a_tree_not_python() -> None:
    assert parse('__import__("os").system("x") == 0')[0] == "cmp"  # parsed as data...
    with pytest.raises(ExprError, match="unknown function"):
        evaluate('__import__("os").system("x") == 0', evaluators.EvalData([], [], [], list))  # ...never run
