"""Comparing the real /cart trace with markdown plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbrief import ids, ops
from runbrief.errors import UsageError
from runbrief.traces.plan import parse_budget, parse_plan

PLAN = """# Cart page

The page must render in under 40 ms.

1. Handle `GET /cart` (< 100 ms)
2. Load the cart in `load_cart()` from the `cart_items` table
3. Fetch every product with one query on the `products` table (< 20 ms)
4. Apply discounts with `apply_discounts()`
5. Check the session cache

Notes:

- [ ] Code lives in `shop/cart.py`
- Talk to people about it

```
- not a step: inside a code fence
```
"""


def test_parse_plan_steps_refs_budgets() -> None:
    plan = parse_plan(PLAN)
    assert [s.line for s in plan.steps] == [5, 6, 7, 8, 9, 13, 14]
    assert plan.total_budget_ms == 40 and plan.total_budget_line == 3
    s1, s2, s3, s4, s5, s6, s7 = plan.steps
    assert (s1.refs[0].kind, s1.refs[0].method, s1.refs[0].value, s1.budget_ms) == ("route", "GET", "/cart", 100)
    assert [(r.kind, r.value) for r in s2.refs] == [("function", "load_cart"), ("table", "cart_items")]
    assert s3.budget_ms == 20 and s5.kinds == ["cache"] and not s5.refs
    assert s1.ordered and not s6.ordered and s6.refs[0].kind == "file" and s6.text.startswith("Code lives")
    assert not s7.refs and not s7.kinds
    assert parse_budget("within 1.5 s") == 1500 and parse_budget("≤ 30ms") == 30 and parse_budget("fast") is None


def test_compare_reports_missing_budget_and_unverifiable(shop_data, shop_store) -> None:
    r = ops.run(shop_store, "trace_compare", {"id": shop_data.ids["cart"], "plan": PLAN})
    assert [s["line"] for s in r["steps"]] == [5, 6, 7, 13]
    assert [(m["line"], m["weak"]) for m in r["missing"]] == [(8, False), (9, True)]
    assert r["missing"][0]["looked_for"] == ["function apply_discounts"]
    assert [u["line"] for u in r["unverifiable"]] == [14]
    over = {b["line"]: b for b in r["budget_violations"]}
    assert set(over) == {3, 7}
    assert over[7]["budget_ms"] == 20 and over[7]["actual_ms"] > 55 and over[7]["spans_matched"] == 12
    assert over[3]["step"] == "(whole trace)" and over[3]["actual_ms"] == r["duration_ms"]
    assert r["order_violations"] == [] and r["unexpected"] == []
    for item in r["steps"] + r["budget_violations"]:
        for eid in item["span_ids"]:
            assert ids.exists(shop_store, eid)
    step2 = next(s for s in r["steps"] if s["line"] == 6)
    assert step2["spans_matched"] == 2  # load_cart and the cart_items query


def test_compare_order_and_unexpected(shop_data, shop_store) -> None:
    plan = "1. Read each product from `products`\n2. Then read the lines from `cart_items`\n"
    r = ops.run(shop_store, "trace_compare", {"id": shop_data.ids["cart"], "plan": plan})
    (o,) = r["order_violations"]
    assert o["line"] == 2 and o["expected_after"]["line"] == 1
    cart_items_span, products_span = o["span_ids"]
    assert "cart_items" in ids.resolve(shop_store, cart_items_span)["attributes"]["db.statement"]
    assert "products" in ids.resolve(shop_store, products_span)["attributes"]["db.statement"]
    plan = "- Read each product from the `products` table\n"
    (u,) = ops.run(shop_store, "trace_compare", {"id": shop_data.ids["cart"], "plan": plan})["unexpected"]
    assert u["what"] == "SELECT id, product_id FROM cart_items WHERE cart_id = ?" and u["count"] == 1
    # a span the plan never mentions, with its own subtree, is one unexpected unit
    plan = "1. Handle `/checkout`\n"
    r = ops.run(shop_store, "trace_compare", {"id": shop_data.ids["checkout"], "plan": plan})
    groups = {(u["kind"], u["count"]) for u in r["unexpected"]}
    # the remote server spans come with the calls, not as groups of their own
    assert all(u["service"] == "shop" for u in r["unexpected"])
    assert ("http_client", 1) in groups and ("db", 1) in groups
    assert sum(u["count"] for u in r["unexpected"]) == 9  # 1 query, 1 failed insert, 7 calls


def test_plan_from_file_and_bad_plans(shop_data, shop_store, tmp_path: Path) -> None:
    f = tmp_path / "plan.md"
    f.write_text(PLAN)
    r = ops.run(shop_store, "trace_compare", {"id": shop_data.ids["cart"], "plan": str(f)})
    assert len(r["missing"]) == 2
    with pytest.raises(UsageError, match=r"the plan has no steps\. A step is a markdown list item"):
        ops.run(shop_store, "trace_compare", {"id": shop_data.ids["cart"], "plan": "# Plan\n\nJust prose.\n"})
    with pytest.raises(UsageError, match="no plan file at"):
        ops.run(shop_store, "trace_compare", {"id": shop_data.ids["cart"], "plan": str(tmp_path / "nope.md")})


def test_promised_counts_are_checked_against_the_spans() -> None:
    from runbrief.traces.plan import parse_count

    assert parse_count("Load the lines from the `cart_items` table in one query") == (1, "query", "one query")
    assert parse_count("Call `pricing.quote()` once for the whole cart") == (1, "call", "once")
    assert parse_count("fetch prices with at most 3 requests (< 200 ms)")[:2] == (3, "call")
    assert parse_count("no more than two HTTP calls")[:2] == (2, "call")
    assert parse_count("Never call the `payments` service")[:2] == (0, "call")
    # budgets, articles and backticked names are not counts
    for text in ("at most 50 ms", "Load a cart", "Save the order and a receipt", "Read `one_query_cache`"):
        assert parse_count(text) is None, text


def test_a_step_promising_one_query_reports_the_loop(shop_data, shop_store) -> None:
    plan = ("1. Handle `GET /cart`\n"
            "2. Fetch every product with one query on the `products` table\n"
            "3. Load the cart in `load_cart()` in a single query\n"
            "- Never call the `payments` service\n")
    r = ops.run(shop_store, "trace_compare", {"id": shop_data.ids["cart"], "plan": plan})
    c, inside = r["count_violations"]
    assert c["line"] == 2 and c["limit"] == 1 and c["unit"] == "query" and c["actual"] == 12
    assert len(c["span_ids"]) == 10 and all(ids.exists(shop_store, e) for e in c["span_ids"])
    # load_cart() runs the cart_items query and, inside it, the 12 product queries
    assert inside["line"] == 3 and inside["actual"] == 13
    counts = {x["line"]: x["actual"] for x in r["counts"]}
    assert counts == {2: 12, 3: 13, 4: 0}  # nothing called payments
    assert [m["line"] for m in r["missing"]] == []  # a "never" step that matched nothing is kept
    assert "2 over their promised count" in r["headline"]
