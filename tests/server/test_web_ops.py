"""The web page's operations over a real store (no browser): series bounded and exact,
waterfall rows in depth-first order with subtree sizes, facets that count what `logs`
matches. (The verdict and the views over them are tested in the browser: test_web.py.)

A store filled through the real pipeline (miner, fold): three days of one line a minute, a
deploy, a burst of errors after it, and request spans on two routes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from runbrief import ops
from runbrief.errors import NotFound, UsageError
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Deploy, LogRecord, Resource, Span
from runbrief.server.web_ops import MAX_POINTS, MAX_ROWS
from runbrief.store.duck import Store

S = 10**9
MIN = 60 * S
DAYS = 3
API = Resource({"service.name": "api"})


def _line(ts: int, body: str, sev: str = "INFO") -> LogRecord:
    num = {"INFO": 9, "WARN": 13, "ERROR": 17}[sev]
    return LogRecord(ts_ns=ts, body=body, resource=API, observed_ns=ts, severity_number=num, severity_text=sev)


def _tree(tid: str, start: int, n: int) -> list[Span]:
    """A request: a root, n sequential queries of one statement (an N+1), then a render span
    with n children: 2n+2 spans."""
    ms = MIN // 60_000
    root = Span(tid, "r" + tid[:15], "GET /cart", start, start + (9 * n + 4) * ms, API, kind="SERVER",
                attributes={"http.route": "/cart"})
    out = [root]
    for i in range(n):
        t = start + (7 * i + 1) * ms  # 6 ms each: 60 ms in all, past the N+1 detector's 50 ms
        out.append(Span(tid, f"q{i:015d}", "SELECT", t, t + 6 * ms, API, parent_span_id=root.span_id, kind="CLIENT",
                        attributes={"db.system": "sqlite", "db.statement": "SELECT * FROM items WHERE id = ?"}))
    t = start + (7 * n + 2) * ms
    render = Span(tid, "render0000000000", "render", t, t + 2 * n * ms, API, parent_span_id=root.span_id)
    out.append(render)
    out += [Span(tid, f"i{i:015d}", f"item {i}", t + 2 * i * ms, t + (2 * i + 1) * ms, API, parent_span_id=render.span_id)
            for i in range(n)]
    return out


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, int]]:
    now = (time.time_ns() // MIN) * MIN
    start = now - DAYS * 24 * 60 * MIN
    store = Store.open(tmp_path_factory.mktemp("webops") / "s")
    pipe = Pipeline(store)
    logs = [_line(start + m * MIN + S, f"tick {m % 3} from worker") for m in range(DAYS * 24 * 60)]
    deploy = now - 30 * MIN
    logs += [_line(deploy + m * MIN + 2 * S, f"payment {m} failed: card declined", "ERROR") for m in range(1, 11)]
    spans = _tree("a" * 32, now - 20 * MIN, 10)
    spans += [Span(f"{k:032x}", f"{k:016x}", "GET /health", now - k * MIN, now - k * MIN + 5 * MIN // 1000, API,
                   kind="SERVER", attributes={"http.route": "/health"}) for k in range(1, 40)]
    pipe.write(Batch(deploys=[Deploy(ts_ns=deploy, service="api", version="2.0")]))
    pipe.write(Batch(logs=sorted(logs, key=lambda r: r.ts_ns), spans=spans))
    yield store, now
    store.close()


def _pattern(store: Store, text: str) -> str:
    return next(p["pattern_id"] for p in ops.run(store, "patterns", {"limit": 50, "since": "5d"})["patterns"]
                if text in p["template"])


def test_pattern_series_is_bounded_and_loses_no_line(seeded: tuple[Store, int]) -> None:
    store, _ = seeded
    pid = _pattern(store, "tick")
    full = ops.run(store, "web_pattern_series", {"id": pid})
    assert full["points"] <= 720 and full["step_s"] == 60 * 6  # 3 days of minutes in 6-minute buckets
    assert sum(full["total"]) == DAYS * 24 * 60 and len(full["t"]) == len(full["total"]) == full["points"]
    assert set(full["total"][:-1]) == {6}  # whole buckets hold six minutes each
    assert all(b - a == full["step_s"] for a, b in zip(full["t"], full["t"][1:], strict=False))
    fine = ops.run(store, "web_pattern_series", {"id": pid, "points": 100_000})
    assert fine["points"] <= MAX_POINTS and sum(fine["total"]) == DAYS * 24 * 60
    assert full["deploys"] and full["deploys"][0]["id"] == "dep_1"
    with pytest.raises(NotFound):
        ops.run(store, "web_pattern_series", {"id": "pat_0000000000000000"})


def test_service_series_counts_requests_errors_and_latency_per_route(seeded: tuple[Store, int]) -> None:
    store, now = seeded
    s = ops.run(store, "web_service_series", {"name": "api", "since": "2h"})
    routes = {r["route"]: r for r in s["routes"]}
    assert set(routes) == {"/cart", "/health"}
    assert sum(routes["/health"]["requests"]) == 39 and sum(routes["/cart"]["requests"]) == 1
    assert s["totals"]["requests"] == 40 and s["totals"]["error_lines"] == 10
    assert sum(s["logs"]["errors"]) == 10
    p95 = [v for v in routes["/health"]["p95_ms"] if v is not None]
    assert p95 and all(abs(v - 300) < 0.01 for v in p95)  # each /health span took 5 min / 1000 = 300 ms
    assert [d["id"] for d in s["deploys"]] == ["dep_1"]
    with pytest.raises(NotFound):
        ops.run(store, "web_service_series", {"name": "nobody"})


def test_trace_rows_are_depth_first_with_subtree_sizes_and_windows(seeded: tuple[Store, int]) -> None:
    store, _ = seeded
    tid = "trc_" + "a" * 32
    whole = ops.run(store, "web_trace", {"id": tid, "limit": MAX_ROWS})
    rows = whole["rows"]
    shown = ops.run(store, "trace_show", {"id": tid, "budget": 1000})["tree"]
    assert whole["total"] == 22 == len(rows) and [r["span_id"] for r in rows] == [r["span_id"] for r in shown]
    assert rows[0]["subtree"] == 21 and rows[0]["parent"] is None
    for r in rows[1:]:
        parent = rows[r["parent"]]
        assert parent["i"] < r["i"] <= parent["i"] + parent["subtree"]  # a subtree is a contiguous range
        assert r["depth"] == parent["depth"] + 1
    assert [r["subtree"] for r in rows if r["depth"] == 1] == [0] * 10 + [10]
    n1 = [r for r in rows if "n_plus_one_db" in r.get("problems", [])]
    assert len(n1) == 10 and all(r["name"] == "SELECT" for r in n1)
    assert any(p["type"] == "n_plus_one_db" and p["count"] == 10 for p in whole["problems"])
    page = ops.run(store, "web_trace", {"id": tid, "offset": 19, "limit": 10})
    assert [r["i"] for r in page["rows"]] == [19, 20, 21] and page["total"] == 22
    assert len(ops.run(store, "web_trace", {"id": tid, "limit": 10**6})["rows"]) == 22  # the limit is capped
    with pytest.raises(UsageError):
        ops.run(store, "web_trace", {"id": "not-a-trace"})


def test_log_facets_count_what_logs_matches(seeded: tuple[Store, int]) -> None:
    store, _ = seeded
    f = ops.run(store, "web_log_facets", {"contains": "payment", "severity": "error"})
    logs = ops.run(store, "logs", {"contains": "payment", "severity": "error", "limit": 1000})["logs"]
    assert f["total"] == len(logs) == 10
    assert [(x["pattern_id"], x["count"]) for x in f["facets"]] == [(logs[0]["pattern_id"], 10)]
    assert ops.run(store, "web_log_facets", {"contains": "no such text"}) == {"total": 0, "facets": []}
    with pytest.raises(UsageError):
        ops.run(store, "web_log_facets", {"severity": "loud"})


def test_web_operations_are_read_only_and_listed() -> None:
    names = [o.name for o in ops.all_operations() if o.name.startswith("web_")]
    assert names == sorted(["web_eval_runs", "web_llm_series", "web_log_facets", "web_pattern_series",
                            "web_service_series", "web_trace", "web_verdict"])
    assert all(ops.get(n).read_only for n in names)
