"""Finding traces and showing one as a bounded tree with its logs."""

from __future__ import annotations

import pytest

from runbrief import ops
from runbrief.errors import NotFound, UsageError


def _ids(result: dict) -> list[str]:
    return [t["trace_id"].removeprefix("trc_") for t in result["traces"]]


def test_find_filters_latest_first(shop_data, shop_store) -> None:
    ids = shop_data.ids
    everything = ops.run(shop_store, "traces", {})
    assert _ids(everything) == [ids[k] for k in ("quote", "report", "checkout", "cart", "cart_joined")]
    cart = ops.run(shop_store, "traces", {"route": "/cart"})
    assert _ids(cart) == [ids["cart"], ids["cart_joined"]]
    first = cart["traces"][0]
    assert first["root"] == "GET /cart" and first["route"] == "/cart" and first["service"] == "shop"
    assert first["spans"] == 15 and first["errors"] == 0 and first["duration_ms"] > 50
    assert _ids(ops.run(shop_store, "traces", {"status": "error"})) == [ids["checkout"]]
    assert ids["checkout"] not in _ids(ops.run(shop_store, "traces", {"status": "ok"}))
    assert _ids(ops.run(shop_store, "traces", {"min_duration_ms": 500})) == [ids["report"]]
    assert set(_ids(ops.run(shop_store, "traces", {"service": "pricing"}))) == {ids["checkout"], ids["quote"]}
    assert _ids(ops.run(shop_store, "traces", {"name": "load_cart"})) == [ids["cart"], ids["cart_joined"]]
    assert _ids(ops.run(shop_store, "traces", {"attribute": "http.response.body.size=400000"})) == [ids["checkout"]]
    assert _ids(ops.run(shop_store, "traces", {"route": "GET /report"})) == [ids["report"]]
    assert _ids(ops.run(shop_store, "traces", {"since": "10m"}))[0] == ids["quote"]
    assert ops.run(shop_store, "traces", {"until": "2000-01-01"})["traces"] == []
    limited = ops.run(shop_store, "traces", {"limit": 2})
    assert len(limited["traces"]) == 2 and limited["truncated"]
    with pytest.raises(UsageError, match="key=value"):
        ops.run(shop_store, "traces", {"attribute": "nokey"})
    with pytest.raises(UsageError, match="'error' or 'ok'"):
        ops.run(shop_store, "traces", {"status": "bad"})


def test_show_tree_with_self_time_attributes_and_logs(shop_data, shop_store) -> None:
    r = ops.run(shop_store, "trace_show", {"id": "trc_" + shop_data.ids["cart"]})
    tree = r["tree"]
    assert r["omitted"] == {"spans": 0, "logs": 0} and len(tree) == 15
    root, load = tree[0], tree[1]
    assert root["depth"] == 0 and root["attributes"]["http.route"] == "/cart" and root["critical"]
    assert load["depth"] == 1 and load["name"] == "load_cart"
    assert load["attributes"]["code.function"] == "load_cart" and load["attributes"]["code.filepath"] == "shop/cart.py"
    assert load["span_id"] == f"spn_{shop_data.load_cart_span}"
    assert [lg["body"] for lg in load["logs"]] == ["loading cart 1 with 12 lines"]
    assert load["logs"][0]["id"].startswith("log_")
    assert [lg["body"] for lg in r["trace_logs"]] == ["cart ready"]  # no span ID: the trace's own
    queries = tree[2:]
    assert all(q["depth"] == 2 and q["kind"] == "db" and "db.statement" in q["attributes"] for q in queries)
    assert load["self_ms"] == pytest.approx(load["duration_ms"] - sum(q["duration_ms"] for q in queries), abs=0.05)
    offsets = [q["offset_ms"] for q in queries]
    assert offsets == sorted(offsets)


def test_show_is_bounded_and_keeps_errors_and_the_critical_path(shop_data, shop_store) -> None:
    r = ops.run(shop_store, "trace_show", {"id": shop_data.ids["checkout"], "budget": 4})
    assert len(r["tree"]) == 4 and r["omitted"]["spans"] == r["spans"] - 4
    names = [row["name"] for row in r["tree"]]
    assert names[0] == "POST /checkout"
    failed = [row for row in r["tree"] if row["status"] == "ERROR"]
    assert failed and failed[0]["exceptions"][0]["message"] == "no such table: audit_log"
    assert r["tree"][0]["hidden_children"] >= 1
    # the slowest leg of the critical path survives the cut
    assert any(row["critical"] and row["service"] == "pricing" for row in r["tree"])


def test_unknown_trace_is_a_clear_not_found(shop_store) -> None:
    with pytest.raises(NotFound, match=r"no trace trc_f+ in .*runbrief traces"):
        ops.run(shop_store, "trace_show", {"id": "f" * 32})
