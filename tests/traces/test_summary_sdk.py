"""Summaries and detectors on traces from the real instrumented shop (tests/traces/trace_shop.py)."""

from __future__ import annotations

from typing import Any

import pytest

from runbrief import ids, ops
from runbrief.errors import NotFound, UsageError
from runbrief.store.duck import Store


def _summary(store: Store, tid: str, **kw: Any) -> dict[str, Any]:
    return ops.run(store, "trace_summary", {"id": tid, **kw})


def _one(result: dict[str, Any], ptype: str) -> dict[str, Any]:
    found = [p for p in result["problems"] if p["type"] == ptype]
    assert len(found) == 1, (ptype, [p["type"] for p in result["problems"]])
    return found[0]


def _span(store: Store, eid: str) -> dict[str, Any]:
    return ids.resolve(store, eid)


def test_n_plus_one_db_names_the_loop_its_source_and_parent(shop_data, shop_store) -> None:
    r = _summary(shop_store, shop_data.ids["cart"])
    p = _one(r, "n_plus_one_db")
    assert p["count"] == 12 and len(p["span_ids"]) == 10 and p["span_ids_omitted"] == 2
    assert p["what"] == "SELECT name, price, sleep_ms(?) FROM products WHERE id = ?"
    for eid in p["span_ids"]:
        assert _span(shop_store, eid)["attributes"]["db.statement"].startswith("SELECT name, price")
    assert _span(shop_store, p["parent"])["name"] == "load_cart"
    assert "cart_items" in _span(shop_store, p["source_span_id"])["attributes"]["db.statement"]
    assert p["time_ms"] >= 60
    # No other detector fires on the loop: the statements hide their values behind "?".
    assert [q["type"] for q in r["problems"]] == ["n_plus_one_db"]
    assert r["time_by_kind"][0]["kind"] == "db"


def test_time_by_kind_tiles_the_trace_and_the_critical_path_resolves(shop_data, shop_store) -> None:
    for tid in shop_data.ids.values():
        r = _summary(shop_store, tid, budget=50)
        assert sum(k["ms"] for k in r["time_by_kind"]) == pytest.approx(r["duration_ms"], abs=0.01)
        assert sum(s["ms"] for s in r["time_by_service"]) == pytest.approx(r["duration_ms"], abs=0.01)
        offsets = [c["offset_ms"] for c in r["critical_path"]]
        assert offsets == sorted(offsets)
        assert sum(c["on_path_ms"] for c in r["critical_path"]) == pytest.approx(r["duration_ms"], abs=0.01)
        for c in r["critical_path"]:
            assert ids.exists(shop_store, c["span_id"])


def test_checkout_finds_sequential_calls_repeats_payload_and_swallowed_error(shop_data, shop_store) -> None:
    r = _summary(shop_store, shop_data.ids["checkout"])
    assert {p["type"] for p in r["problems"]} == {"consecutive_http", "repeated_call", "large_payload",
                                                  "swallowed_error"}
    seq = _one(r, "consecutive_http")
    attrs = [_span(shop_store, s)["attributes"] for s in seq["span_ids"]]
    paths = [(a.get("url.full") or a["http.url"]).split("/", 3)[3] for a in attrs]
    assert paths == ["price/1?ms=110", "stock?ms=110", "tax?ms=110"]
    assert seq["time_ms"] >= 220  # two of the three 110 ms calls could overlap the third
    rep = _one(r, "repeated_call")
    assert rep["count"] == 3 and rep["what"].endswith("/price/7?ms=3")
    big = _one(r, "large_payload")
    assert big["bytes"] == 400_000
    swallowed = _one(r, "swallowed_error")
    failed = _span(shop_store, swallowed["span_ids"][0])
    assert failed["status"] == "ERROR" and "audit_log" in failed["attributes"]["db.statement"]
    assert _span(shop_store, swallowed["parent"])["name"] == "POST /checkout"
    assert r["errors"][0]["exceptions"][0]["type"] == "sqlite3.OperationalError"
    assert r["integrity"] == []  # a pricing span ending just after its client span is not "broken"
    assert {s["service"] for s in r["time_by_service"]} == {"shop", "pricing"}


def test_report_finds_slow_query_parallelizable_queries_and_a_gap(shop_data, shop_store) -> None:
    r = _summary(shop_store, shop_data.ids["report"])
    assert {p["type"] for p in r["problems"]} == {"slow_db", "consecutive_db", "gap"}
    slow = _one(r, "slow_db")
    assert slow["time_ms"] >= 1000 and "sleep_ms(1020)" in _span(shop_store, slow["span_ids"][0])["attributes"]["db.statement"]
    cons = _one(r, "consecutive_db")
    assert len(cons["parallelizable_span_ids"]) == 3 and cons["time_ms"] >= 100
    gap = _one(r, "gap")
    assert 145 <= gap["time_ms"] <= 400
    assert _span(shop_store, gap["span_ids"][0])["name"] == "GET /report"
    assert gap["neighbour_span_ids"][0] == slow["span_ids"][0]


def test_quote_finds_n_plus_one_http(shop_data, shop_store) -> None:
    p = _one(_summary(shop_store, shop_data.ids["quote"]), "n_plus_one_http")
    assert p["count"] == 6 and p["concurrent"] is False
    assert p["what"].startswith("GET 127.0.0.1:") and p["what"].endswith("/price/*?ms=?")


def test_fixed_cart_has_no_problem_and_budget_bounds_lists(shop_data, shop_store) -> None:
    assert _summary(shop_store, shop_data.ids["cart_joined"])["problems"] == []
    r = _summary(shop_store, shop_data.ids["cart"], budget=3)
    assert len(r["critical_path"]) == 3 and r["omitted"]["critical_path_spans"] == 12
    assert len(r["slowest_spans"]) == 3


def test_latest_by_route_and_errors(shop_data, shop_store) -> None:
    r = ops.run(shop_store, "trace_summary", {"latest": True, "route": "/cart"})
    assert r["trace_id"] == f"trc_{shop_data.ids['cart']}"
    assert ops.run(shop_store, "trace_summary", {"route": "/price/{id}", "service": "pricing"})["root"]["name"] \
        in ("GET /quote", "GET /cart", "POST /checkout")  # a pricing span's trace: rooted at the shop
    with pytest.raises(NotFound, match="no trace for route '/nowhere'"):
        ops.run(shop_store, "trace_summary", {"latest": True, "route": "/nowhere"})
    with pytest.raises(NotFound, match="no trace trc_0+1 in"):
        ops.run(shop_store, "trace_summary", {"id": "trc_" + "0" * 31 + "1"})
    with pytest.raises(UsageError, match="not a trace ID"):
        ops.run(shop_store, "trace_summary", {"id": "log_12"})
    with pytest.raises(UsageError, match="latest=true"):
        ops.run(shop_store, "trace_summary", {})


def test_perf_aggregates_by_route_and_type(shop_data, shop_store) -> None:
    r = ops.run(shop_store, "perf", {})
    assert r["traces_examined"] == 5
    by = {(p["route"], p["type"]): p for p in r["problems"]}
    cart = by[("/cart", "n_plus_one_db")]
    assert cart["traces_affected"] == 1 and cart["traces_examined"] == 2 and cart["frequency"] == 0.5
    assert cart["examples"][0]["latest_trace_id"] == f"trc_{shop_data.ids['cart']}"
    assert ("/checkout", "swallowed_error") in by and ("/report", "gap") in by
    totals = [p["total_time_ms"] for p in r["problems"]]
    assert totals == sorted(totals, reverse=True)
    only = ops.run(shop_store, "perf", {"route": "/cart"})
    assert {p["route"] for p in only["problems"]} == {"/cart"}
