"""Issue 19: cached input tokens are priced at their own rates everywhere a cost is shown —
the evaluators and the gate must agree with ``runbrief agents`` to the cent, for each
convention's names (OpenTelemetry GenAI, OpenInference, OpenLLMetry/traceloop).

The span shapes are those each instrumentation records for a call with a prompt-cache hit:
input tokens include the cached ones (the GenAI conventions' rule; the instrumentations add
Anthropic's separate cache counts into the prompt total), and the cache counts beside them."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from evals_otel import Recorder

from runbrief import ops
from runbrief.cli import main
from runbrief.evals.prices import PriceTable
from runbrief.store.duck import Store

# (span name, attributes, model, input, output, cache read, cache write)
CALLS = [
    ("chat claude-sonnet-4-5", {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.response.model": "claude-sonnet-4-5-20250929",
        "gen_ai.response.id": "msg_01", "gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 200,
        "gen_ai.usage.cache_read.input_tokens": 3000, "gen_ai.usage.cache_creation.input_tokens": 1000},
     "claude-sonnet-4-5-20250929", 5000, 200, 3000, 1000),
    ("Messages", {
        "openinference.span.kind": "LLM", "llm.provider": "anthropic", "llm.system": "anthropic",
        "llm.model_name": "claude-haiku-4-5-20251001", "llm.token_count.prompt": 4000,
        "llm.token_count.completion": 100, "llm.token_count.total": 4100,
        "llm.token_count.prompt_details.cache_read": 2000, "llm.token_count.prompt_details.cache_write": 1000},
     "claude-haiku-4-5-20251001", 4000, 100, 2000, 1000),
    ("ChatCompletion", {
        "openinference.span.kind": "LLM", "llm.provider": "openai", "llm.system": "openai",
        "llm.model_name": "gpt-4o-2024-08-06", "llm.token_count.prompt": 2000, "llm.token_count.completion": 100,
        "llm.token_count.total": 2100, "llm.token_count.prompt_details.cache_read": 1500},
     "gpt-4o-2024-08-06", 2000, 100, 1500, 0),
    ("openai.chat", {
        "llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4.1",
        "gen_ai.response.model": "gpt-4.1-2025-04-14", "gen_ai.usage.prompt_tokens": 8000,
        "gen_ai.usage.completion_tokens": 500, "llm.usage.total_tokens": 8500,
        "gen_ai.usage.cache_read_input_tokens": 6000},
     "gpt-4.1-2025-04-14", 8000, 500, 6000, 0),
    ("anthropic.chat", {
        "llm.request.type": "chat", "gen_ai.system": "Anthropic", "gen_ai.request.model": "claude-3-5-haiku-20241022",
        "gen_ai.response.model": "claude-3-5-haiku-20241022", "gen_ai.usage.prompt_tokens": 3000,
        "gen_ai.usage.completion_tokens": 300, "llm.usage.total_tokens": 3300,
        "gen_ai.usage.cache_read_input_tokens": 1000, "gen_ai.usage.cache_creation_input_tokens": 1500},
     "claude-3-5-haiku-20241022", 3000, 300, 1000, 1500),
]

# Published prices (USD per 1M): fresh input, cache read, cache write, output.
EXPECTED = {
    "claude-sonnet-4-5-20250929": (1000 * 3.0 + 3000 * 0.3 + 1000 * 3.75 + 200 * 15.0) / 1e6,
    "claude-haiku-4-5-20251001": (1000 * 1.0 + 2000 * 0.1 + 1000 * 1.25 + 100 * 5.0) / 1e6,
    "gpt-4o-2024-08-06": (500 * 2.5 + 1500 * 1.25 + 100 * 10.0) / 1e6,
    "gpt-4.1-2025-04-14": (2000 * 2.0 + 6000 * 0.5 + 500 * 8.0) / 1e6,
    "claude-3-5-haiku-20241022": (500 * 0.8 + 1000 * 0.08 + 1500 * 1.0 + 300 * 4.0) / 1e6,
}
CACHED_TOTAL = sum(EXPECTED.values())
# What the calls would cost if every input token were billed at the input price.
UNCACHED_TOTAL = sum(PriceTable().cost(m, i, o) for _, _, m, i, o, _, _ in CALLS)


def _record(store: Store) -> None:
    rec = Recorder()
    with rec.span("agent run", at=0, ms=20_000):
        for n, (name, attrs, *_rest) in enumerate(CALLS):
            with rec.span(name, attrs, at=100 + n * 2000, ms=1500):
                pass
    rec.write(store)


def test_agents_prices_cache_tokens_per_convention(store: Store) -> None:
    _record(store)
    report = ops.run(store, "agents", {})
    models = {m["model"]: m for m in report["models"]}
    for _, _, model, inp, out, read, write in CALLS:
        m = models[model]
        assert (m["input_tokens"], m["output_tokens"], m["cache_read_tokens"], m["cache_write_tokens"]) == (
            inp, out, read, write), model
        assert m["cost"] == pytest.approx(EXPECTED[model], abs=1e-9), model
    assert report["totals"]["cost"] == pytest.approx(CACHED_TOTAL, abs=1e-6)
    assert UNCACHED_TOTAL - CACHED_TOTAL > 0.005  # the budgets below tell the two apart


def test_evaluators_and_gate_cost_agree_with_agents(store: Store, tmp_path: Path) -> None:
    _record(store)
    agents_cost = ops.run(store, "agents", {})["totals"]["cost"]
    result = ops.run(store, "eval", {"since": "1h", "evaluators": ["cost_budget:max_total=1"], "save": False})
    check = result["checks"][0]
    assert check["score"] == pytest.approx(agents_cost, abs=1e-6)
    assert check["score"] == pytest.approx(CACHED_TOTAL, abs=1e-9)
    # The per-trace cost the expressions read (traces().cost) is the cached price too.
    between = round((CACHED_TOTAL + UNCACHED_TOTAL) / 2, 6)
    per_trace = ops.run(store, "eval", {"since": "1h", "save": False,
                                        "assertions": [f"traces().cost <= {between}", f"cost() <= {between}"]})
    assert per_trace["status"] == "pass", per_trace["checks"]
    below = ops.run(store, "eval", {"since": "1h", "save": False, "assertions": [f"cost() <= {CACHED_TOTAL * 0.99}"]})
    assert below["status"] == "fail"


@pytest.mark.parametrize(("budget", "code"), [((CACHED_TOTAL + UNCACHED_TOTAL) / 2, 0), (CACHED_TOTAL * 0.98, 1)])
def test_gate_budget_uses_cache_prices(tmp_path: Path, budget: float, code: int) -> None:
    """Through the CLI: a budget between the cached and the uncached cost passes, one just under
    the cached cost fails — so a gate and ``runbrief agents`` never disagree about a run."""
    db = tmp_path / "store"
    s = Store.open(db)
    _record(s)
    s.close()
    cfg = tmp_path / "runbrief.toml"
    cfg.write_text(f'[gate]\nsince = "1h"\n\n[[gate.check]]\nevaluator = "cost_budget"\nmax_total = {budget:.6f}\n')
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["gate", "--store", str(db), "--config", str(cfg)])
    assert rc == code, out.getvalue()
