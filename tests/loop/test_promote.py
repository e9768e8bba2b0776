"""`promote-check`: what the staging candidate does that production's current version does not.

Two environments of one service written through the real pipeline (resource attributes
``deployment.environment.name`` / the older ``deployment.environment``): production at ten
times staging's volume. A candidate that behaves the same is safe at any volume ratio; one
that logs a new error, fails more requests, is slower on a route or does N+1 queries is not,
and each item cites evidence that resolves.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from runbrief import ids, ops
from runbrief.cli import main
from runbrief.errors import UsageError
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import LogRecord, Resource, Span
from runbrief.store.duck import Store

T0 = datetime(2026, 3, 2, 9, 0)


def ns(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds() * 1e9)


def res(env: str, version: str, old_key: bool = False) -> Resource:
    key = "deployment.environment" if old_key else "deployment.environment.name"
    return Resource({"service.name": "shop", "service.version": version, key: env, "host.name": f"{env}-1"})


def traffic(store: Store, r: Resource, minutes: int, per_min: int, seed: int, *, bug: bool = False,
            slow: bool = False, n_plus_one: bool = False, fail_share: float = 0.0, base: int = 0) -> None:
    """Requests to /cart and /search: a server span per request, its log lines, maybe queries under it."""
    rng = random.Random(seed)
    logs, spans = [], []
    n = 0
    for m in range(minutes):
        for _ in range(per_min):
            n += 1
            t = T0 + timedelta(minutes=m, seconds=rng.random() * 59)
            route = "/cart" if rng.random() < 0.6 else "/search"
            ms = rng.lognormvariate(math_log(40 if route == "/cart" else 25), 0.3)
            if slow and route == "/cart":
                ms *= 2.5
            tid, sid = f"{base + n:032x}", f"{base + n:016x}"
            failed = rng.random() < fail_share
            spans.append(Span(tid, sid, f"GET {route}", ns(t), ns(t) + int(ms * 1e6), r, kind="SERVER",
                              status_code="ERROR" if failed else "OK", attributes={"http.route": route}))
            if n_plus_one and route == "/cart":
                for q in range(8):
                    qs = ns(t) + int(q * ms / 9 * 1e6)
                    spans.append(Span(tid, f"{base + n:010x}{q:06x}", "SELECT items", qs, qs + int(ms / 10 * 1e6), r,
                                      parent_span_id=sid, kind="CLIENT",
                                      attributes={"db.system": "postgresql",
                                                  "db.statement": f"SELECT * FROM items WHERE id = {q + 1}"}))
            logs.append(LogRecord(ns(t), f"GET {route} 200 in {ms:.0f} ms", r, severity_number=9,
                                  severity_text="INFO", trace_id=tid, span_id=sid))
            if rng.random() < 0.02:
                logs.append(LogRecord(ns(t), f"slow cache lookup took {rng.randint(80, 300)} ms", r,
                                      severity_number=13, severity_text="WARN"))
            if bug and route == "/cart" and rng.random() < 0.3:
                logs.append(LogRecord(ns(t), f"KeyError: 'price' computing the total of cart {rng.randint(1, 9999)}",
                                      r, severity_number=17, severity_text="ERROR", trace_id=tid, span_id=sid))
            if failed:
                logs.append(LogRecord(ns(t), f"upstream inventory returned 503 for cart {rng.randint(1, 9999)}",
                                      r, severity_number=17, severity_text="ERROR", trace_id=tid, span_id=sid))
    Pipeline(store).write(Batch(logs=logs, spans=spans))


def math_log(x: float) -> float:
    import math

    return math.log(x)


def setup(store: Store, **candidate: bool | float) -> None:
    traffic(store, res("production", "1.4.0"), 90, 40, seed=1, fail_share=0.01, base=0)
    traffic(store, res("staging", "1.5.0"), 60, 4, seed=2, base=10_000_000,
            fail_share=float(candidate.pop("fail_share", 0.01)), **candidate)  # type: ignore[arg-type]


def _resolves(store: Store, out: dict) -> None:
    for it in out["items"]:
        assert it["evidence"], it
        for e in it["evidence"]:
            assert ids.exists(store, e), e


def test_a_candidate_that_behaves_the_same_is_safe(store: Store) -> None:
    setup(store)
    out = ops.run(store, "promote_check", {"service": "shop"})
    assert out["verdict"] == "safe" and out["items"] == [] and out["exit_code"] == 0, out["items"]
    assert out["candidate"]["version"] == "1.5.0" and out["current"]["version"] == "1.4.0"
    assert 0.05 < out["tested"]["volume_ratio"] < 0.2  # staging is a tenth of production: rates per line


def test_a_new_error_pattern_is_not_safe(store: Store) -> None:
    setup(store, bug=True)
    out = ops.run(store, "promote_check", {"service": "shop", "source": "staging", "target": "production"})
    assert out["verdict"] == "not_safe" and out["exit_code"] == 1
    kinds = {i["kind"] for i in out["items"]}
    assert "new_pattern" in kinds, out["items"]
    new = next(i for i in out["items"] if i["kind"] == "new_pattern")
    assert new["errors"] > 0 and new["evidence"][0].startswith("pat_")
    assert "KeyError" in ops.run(store, "show", {"id": new["evidence"][1]})["body"]
    _resolves(store, out)


def test_slower_route_failed_requests_and_n_plus_one_are_items(store: Store) -> None:
    setup(store, slow=True, n_plus_one=True, fail_share=0.08)
    out = ops.run(store, "promote_check", {"service": "shop"})
    by = {(i["kind"], i.get("route"), i.get("of")) for i in out["items"]}
    assert ("latency", "/cart", None) in by, out["items"]
    assert ("latency", "/search", None) not in by  # only the route that got slower
    assert ("error_share", None, "requests") in by
    assert any(i["kind"] == "trace_problem" and i["route"].endswith("/cart") for i in out["items"]), out["items"]
    _resolves(store, out)


def test_older_attribute_name_and_usage_errors_name_what_is_known(store: Store) -> None:
    traffic(store, res("production", "1.4.0", old_key=True), 30, 10, seed=1)
    traffic(store, res("staging", "1.5.0"), 30, 2, seed=2, base=10_000_000)
    assert ops.run(store, "promote_check", {"service": "shop"})["verdict"] == "safe"
    with pytest.raises(UsageError, match="known: production, staging"):
        ops.run(store, "promote_check", {"service": "shop", "source": "qa"})
    with pytest.raises(UsageError, match="known: shop"):
        ops.run(store, "promote_check", {"service": "cart"})


def test_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "st"
    with Store.open(path) as s:
        setup(s, bug=True)
    args = ["promote-check", "--service", "shop", "--from", "staging", "--to", "production", "--store", str(path)]
    assert main([*args, "--json"]) == 1
    out = orjson.loads(capsys.readouterr().out)
    assert out["verdict"] == "not_safe" and out["items"]
    assert main(args) == 1
    text = capsys.readouterr().out
    assert "NOT safe" in text and "new_pattern" in text
    assert main(["promote-check", "--service", "shop", "--from", "qa", "--store", str(path)]) == 2
    assert "known: production, staging" in capsys.readouterr().err
