"""Before/after a deploy, and between two traces, on the real /cart traces."""

from __future__ import annotations

import pytest

from runbrief import ids, ops
from runbrief.errors import NotFound, UsageError

N1 = "SELECT name, price, sleep_ms(?) FROM products WHERE id = ?"


def test_diff_around_a_deploy_finds_the_new_loop(shop_data, shop_store) -> None:
    r = ops.run(shop_store, "trace_diff", {"route": "/cart", "deploy": "dep_1"})
    assert r["mode"] == "deploy" and r["deploy"]["version"] == "2"
    assert r["traces_before"] == [f"trc_{shop_data.ids['cart_joined']}"]
    assert r["traces_after"] == [f"trc_{shop_data.ids['cart']}"]
    new = {o["what"]: o for o in r["new_spans"]}
    assert new[N1]["per_trace"] == 12 and new[N1]["kind"] == "db"
    assert all(ids.exists(shop_store, s) for s in new[N1]["span_ids"])
    (gone,) = r["gone_spans"]
    assert "JOIN products" in gone["what"]
    (p,) = r["new_problems"]
    assert p["type"] == "n_plus_one_db" and p["trace_id"] == f"trc_{shop_data.ids['cart']}"
    shifts = {k["kind"]: k for k in r["kind_shifts"]}
    assert shifts["db"]["delta_ms"] > 40  # the per-row work moved into 12 queries


def test_diff_two_traces_and_by_time(shop_data, shop_store) -> None:
    a, b = shop_data.ids["cart"], shop_data.ids["cart_joined"]
    r = ops.run(shop_store, "trace_diff", {"a": a, "b": b})
    assert r["mode"] == "traces" and r["new_problems"] == [] and r["resolved_problems"][0]["type"] == "n_plus_one_db"
    from datetime import UTC, datetime

    from runbrief.queries import fmt_ts
    when = fmt_ts(datetime.fromtimestamp(shop_data.deploy_ns / 1e9, UTC).replace(tzinfo=None))
    by_time = ops.run(shop_store, "trace_diff", {"route": "/cart", "deploy": when})
    assert by_time["new_problems"][0]["type"] == "n_plus_one_db"


def test_diff_bad_input(shop_store) -> None:
    with pytest.raises(UsageError, match="two trace IDs"):
        ops.run(shop_store, "trace_diff", {"route": "/cart"})
    with pytest.raises(NotFound, match="no deploy dep_99"):
        ops.run(shop_store, "trace_diff", {"route": "/cart", "deploy": "dep_99"})
    with pytest.raises(NotFound, match="no trace of route '/report' before"):
        ops.run(shop_store, "trace_diff", {"route": "/report", "deploy": "dep_1"})
