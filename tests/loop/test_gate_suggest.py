"""`gate suggest`: checks from a service's own baselines that the gate parses, passes today and fails on a regression.

Real spans through the pipeline at wall-clock times (the gate's windows are relative to
now): a web service with two routes and a few failures, and an LLM service whose model
calls carry OpenTelemetry GenAI token counts priced from the default table.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import orjson
import pytest

from runbrief import ops
from runbrief.cli import main
from runbrief.errors import UsageError
from runbrief.evals.config import load
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Resource, Span
from runbrief.store.duck import Store

S = 1_000_000_000


def web(store: Store, minutes_ago: float, n: int, *, slow: float = 1.0, seed: int = 1, base: int = 0) -> None:
    rng = random.Random(seed)
    res = Resource({"service.name": "shop", "service.version": "1.0"})
    now = time.time_ns() - int(minutes_ago * 60 * S)
    spans = []
    for i in range(n):
        t = now + i * S // 10
        route = "/cart" if i % 3 else "/search"
        ms = rng.lognormvariate(3.6 if route == "/cart" else 3.0, 0.25) * slow
        spans.append(Span(f"{base + i:032x}", f"{base + i:016x}", f"GET {route}", t, t + int(ms * 1e6), res,
                          kind="SERVER", status_code="ERROR" if i % 97 == 5 else "OK",
                          attributes={"http.route": route, "http.request.method": "GET"}))
    Pipeline(store).write(Batch(spans=spans))


def llm(store: Store, minutes_ago: float, n: int, base: int = 5_000_000) -> None:
    res = Resource({"service.name": "assistant"})
    now = time.time_ns() - int(minutes_ago * 60 * S)
    spans = []
    for i in range(n):
        t = now + i * S
        tid = f"{base + i:032x}"
        spans.append(Span(tid, f"{base + i:016x}", "POST /ask", t, t + 900_000_000, res, kind="SERVER",
                          attributes={"http.route": "/ask"}))
        spans.append(Span(tid, f"{base + i:012x}0001", "chat gpt-4o", t + 1000, t + 800_000_000, res,
                          parent_span_id=f"{base + i:016x}", kind="CLIENT",
                          attributes={"gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                                      "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o",
                                      "gen_ai.usage.input_tokens": 1000 + 40 * (i % 10),
                                      "gen_ai.usage.output_tokens": 200}))
    Pipeline(store).write(Batch(spans=spans))


def test_suggested_checks_parse_pass_on_the_baseline_and_fail_on_a_regression(store: Store) -> None:
    web(store, 30, 600)
    out = ops.run(store, "gate_suggest", {"service": "shop", "margin": 1.5})
    kinds = [c["kind"] for c in out["checks"]]
    assert kinds.count("latency") == 2 and "error_budget" in kinds and "token_budget" not in kinds
    cart = next(c for c in out["checks"] if c["params"].get("route") == "/cart")
    assert cart["params"]["p95_ms"] >= 1.5 * cart["baseline"]["p95_ms"]
    assert cart["params"]["p95_ms"] <= 1.5 * cart["baseline"]["p95_ms"] * 1.1  # rounded up, not padded
    assert "x 1.5" in cart["comment"] and "x 1.5" in out["toml"]
    cfg = load(out["toml"])  # the gate's own parser
    assert len(cfg.data["gate"]["check"]) == len(out["checks"])
    ok = ops.run(store, "gate", {"config": out["toml"], "service": "shop", "since": "1h"})
    assert ok["status"] == "pass", ok
    web(store, 5, 300, slow=3.0, seed=2, base=1_000_000)  # a deploy made /cart three times slower
    bad = ops.run(store, "gate", {"config": out["toml"], "service": "shop", "since": "4m"})
    failed = [c["name"] for c in bad["checks"] if c["status"] == "fail"]
    assert bad["status"] == "fail" and "/cart p95 within budget" in failed, bad


def test_llm_service_gets_token_and_cost_budgets(store: Store) -> None:
    llm(store, 20, 40)
    out = ops.run(store, "gate_suggest", {"service": "assistant"})
    by = {c["kind"]: c for c in out["checks"]}
    assert by["token_budget"]["params"]["max_per_trace"] >= 1.5 * by["token_budget"]["baseline"]["p95_tokens_per_trace"]
    assert by["cost_budget"]["params"]["max_per_trace"] > 0
    assert ops.run(store, "gate", {"config": out["toml"], "service": "assistant", "since": "1h"})["status"] == "pass"


def test_unknown_service_and_bad_margin_are_usage_errors(store: Store) -> None:
    web(store, 30, 50)
    with pytest.raises(UsageError, match="services with traces: shop"):
        ops.run(store, "gate_suggest", {"service": "cart"})
    with pytest.raises(UsageError, match="margin"):
        ops.run(store, "gate_suggest", {"service": "shop", "margin": 0.5})


def test_cli_prints_toml_ready_to_paste(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "st"
    with Store.open(path) as s:
        web(s, 30, 300)
    assert main(["gate", "suggest", "--service", "shop", "--margin", "2", "--store", str(path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# gate checks suggested") and "[[gate.check]]" in text and "x 2 " in text
    (tmp_path / "runbrief.toml").write_text('[gate]\nsince = "1h"\nservice = "shop"\n\n' + text)
    assert main(["gate", "--config", str(tmp_path / "runbrief.toml"), "--store", str(path)]) == 0
    capsys.readouterr()
    assert main(["gate", "suggest", "--service", "shop", "--json", "--store", str(path)]) == 0
    assert orjson.loads(capsys.readouterr().out)["margin"] == 1.5
