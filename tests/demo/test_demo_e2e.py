"""`runbrief demo` end to end: the real CLI in a subprocess, a real server, the real shop.

One run (module fixture, ~20 s) is checked from every side: each regression the deploy
injected is found and cited with evidence IDs, and every cited ID resolves through the
`show` operation; nothing is left running. An answer whose operation (or the log miner
it needs) is not in this build yet is skipped with the reason, never passed vacuously.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from typing import Any

import pytest

from runbrief import ops
from runbrief.client import pid_alive
from runbrief.demo.evidence import collect_ids
from runbrief.demo.scenario import has_op
from runbrief.errors import NotFound
from runbrief.store.duck import Store

HAS_DISTILL = importlib.util.find_spec("runbrief.distill.distiller") is not None
needs_changes = pytest.mark.skipif(not has_op("changes") or not HAS_DISTILL,
                                   reason="`changes` or the log miner (runbrief.distill.distiller) is not in this build yet")
needs_incidents = pytest.mark.skipif(not has_op("incidents") or not HAS_DISTILL,
                                     reason="`incidents` or the log miner is not in this build yet")
needs_summary = pytest.mark.skipif(not has_op("trace_summary"), reason="`trace_summary` is not in this build yet")
needs_perf = pytest.mark.skipif(not has_op("perf"), reason="`perf` is not in this build yet")


@pytest.fixture(scope="module")
def run(demo_run: dict[str, Any]) -> dict[str, Any]:
    return demo_run  # the suite's one demo run (tests/conftest.py)


@pytest.fixture(scope="module")
def opened(run: dict[str, Any]) -> Iterator[Store]:
    """The demo's store, opened here once its server has stopped (so `show` runs in this process)."""
    s = Store.open(run["_store"])
    yield s
    s.close()


def show(store: Store, eid: str) -> dict[str, Any]:
    return ops.run(store, "show", {"id": eid})


def _items(result: dict[str, Any], text: str, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    return [i for i in result["items"] if i["kind"] in kinds
            and (text in (i.get("template") or "") or text in ((i.get("example") or {}).get("body") or ""))]


def test_traffic_ran_on_both_versions_and_nothing_is_left_running(run: dict[str, Any]) -> None:
    t = run["traffic"]
    assert t["baseline"]["failures"] == 0 and t["after_deploy"]["failures"] == 0
    assert t["baseline"]["minutes"] == 60 and t["after_deploy"]["minutes"] == 10
    assert t["baseline"]["requests"] >= 600 and t["after_deploy"]["requests"] >= 100
    # the swallowed error keeps checkout answering 200: only telemetry can tell
    assert t["after_deploy"]["by_route"].get("POST /checkout 200", 0) >= 10
    assert set(run["processes"]) == {"runbrief-serve", "inventory-1.4.2", "shop-1.0.0", "shop-2.0.0", "shop-2.0.1",
                                     "inventory-1.4.2-after-fix"}
    assert not [n for n, pid in run["processes"].items() if pid_alive(pid)]
    assert run["server"]["kept"] is False
    assert run["deploy"]["evidence_id"].startswith("dep_")


def test_every_cited_evidence_id_resolves(run: dict[str, Any], opened: Store) -> None:
    cited = collect_ids(run["results"])
    assert cited, "the demo's answers cite no evidence at all"
    bad = {}
    for eid in sorted(cited):
        try:
            show(opened, eid)
        except NotFound as exc:
            bad[eid] = str(exc)
    assert not bad


@needs_summary
def test_n_plus_one_on_cart_is_a_trace_problem_with_span_ids(run: dict[str, Any], opened: Store) -> None:
    summary = run["results"]["trace_summary"]
    assert summary["root"]["route"] == "/cart"
    n1 = [p for p in summary["problems"] if p["type"] == "n_plus_one_db"]
    assert n1, summary["problems"]
    assert n1[0]["count"] == 30  # the largest cart, one lookup per item
    for sid in n1[0]["span_ids"]:
        span = show(opened, sid)
        assert span["service"] == "shop"
        attrs = span["attributes"]
        assert "COLLATE NOCASE" in (attrs.get("db.query.text") or attrs.get("db.statement") or "")
        assert span["trace_id"] == summary["trace_id"]


@needs_changes
def test_swallowed_error_is_a_new_error_pattern_since_the_deploy(run: dict[str, Any], opened: Store) -> None:
    changes = run["results"]["changes"]
    deploy = show(opened, changes["deploy"]["evidence_id"])  # the marked deploy, or one inferred at the same change
    assert deploy["service"] == "shop" and deploy["version"] == "2.0.0"
    hits = _items(changes, "loyalty update failed", ("new",))
    assert hits, [i.get("template") for i in changes["items"]]
    item = hits[0]
    pattern = show(opened, item["evidence_id"])
    assert "loyalty update failed" in str(pattern)
    example = item["example"]
    line = show(opened, example["id"])
    assert line["service"] == "shop" and line["body"] == "loyalty update failed"
    assert (line["severity"] or line["severity_inferred"]).upper().startswith("ERROR")


@needs_changes
def test_retry_storm_is_a_new_pattern_in_shop_and_a_surge_in_inventory(run: dict[str, Any], opened: Store) -> None:
    shop = _items(run["results"]["changes"], "retrying (attempt", ("new", "rate_up"))
    assert shop, [i.get("template") for i in run["results"]["changes"]["items"]]
    assert show(opened, shop[0]["evidence_id"])["kind"] == "pattern"
    inventory = _items(run["results"]["changes_inventory"], "locked by the", ("rate_up", "new"))
    assert inventory, [i.get("template") for i in run["results"]["changes_inventory"]["items"]]
    surge = inventory[0]
    assert surge["after"]["per_min"] > 3 * surge["before"]["per_min"]  # windows differ in length
    for eid in surge["evidence_ids"]:
        show(opened, eid)


@needs_perf
def test_swallowed_error_and_retry_storm_show_in_checkout_traces(run: dict[str, Any], opened: Store) -> None:
    problems = {(p["route"], p["type"]): p for p in run["results"]["perf"]["problems"]}
    swallowed = problems.get(("/checkout", "swallowed_error"))
    assert swallowed, sorted(problems)
    loyalty = [e for e in swallowed["examples"] if "loyalty_points" in e["what"]]
    assert loyalty, swallowed["examples"]
    span = show(opened, loyalty[0]["span_ids"][0])
    assert span["status"] == "ERROR" and "no such table" in (span["status_message"] or "")
    storm = problems.get(("/checkout", "n_plus_one_http"))
    assert storm, sorted(problems)
    calls = [show(opened, s) for s in storm["examples"][0]["span_ids"]]
    assert all("/reserve" in json.dumps(c["attributes"]) for c in calls)


@needs_incidents
def test_incidents_cite_the_regressions(run: dict[str, Any], opened: Store) -> None:
    incidents = run["results"]["incidents"]
    assert incidents
    found = {f["key"]: f for f in run["findings"]}
    by_incident = [f for f in found.values() if any(h["answer"] == "incidents" for h in f["by"])]
    assert by_incident, [i["title"] for i in incidents]
    for inc in incidents:
        assert inc["claims"] and all(c["evidence"] for c in inc["claims"])
        show(opened, inc["id"])


def test_findings_name_every_regression(run: dict[str, Any]) -> None:
    rows = {r["key"]: r for r in run["findings"]}
    assert set(rows) == {"n_plus_one", "swallowed_error", "retry_storm"}
    if has_op("trace_summary"):
        assert rows["n_plus_one"]["found"] and rows["n_plus_one"]["evidence"]
    if has_op("perf") or (has_op("changes") and HAS_DISTILL):
        assert rows["swallowed_error"]["found"] and rows["retry_storm"]["found"]


@needs_incidents
def test_the_fix_deploy_is_verified_fixed_and_memory_records_it(run: dict[str, Any], opened: Store) -> None:
    """The demo closes the loop: shop 2.0.1 reverts the regressions, `verify` says fixed, memory says worked."""
    loop = run["loop"]
    assert loop["deploy"]["version"] == "2.0.1" and loop["traffic"]["failures"] == 0
    verdict = loop["verify"]
    judged = {i["id"]: i for i in verdict["incidents"]}
    shop = [i for i in run["results"]["incidents"] if i["service"] == "shop"]
    assert shop and {i["id"] for i in shop} <= set(judged)
    for inc in shop:
        assert judged[inc["id"]]["verdict"] == "fixed", judged[inc["id"]]
        assert judged[inc["id"]]["deploy"] == loop["deploy"]["evidence_id"]
        for e in judged[inc["id"]]["evidence"]:
            show(opened, e)
    memory = {m["id"]: m for m in loop["memory"]}
    for inc in shop:
        assert memory[inc["id"]]["status"] == "resolved"
        assert [f["outcome"] for f in memory[inc["id"]]["fixes"]] == ["worked"]
        assert loop["deploy"]["evidence_id"] in memory[inc["id"]]["fixes"][0]["fix"]

