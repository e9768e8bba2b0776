"""``changes`` on exact timelines written straight into pattern_counts (real DuckDB)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from changes_fill import T0, Filler

from runbrief import ids, ops
from runbrief.analyze.changes import changes
from runbrief.errors import NotFound, UsageError
from runbrief.store.duck import Store

BASE = 6 * 60     # minutes of history before the deploy
AFTER = 60        # minutes after it
DEPLOY_AT = T0 + timedelta(minutes=BASE, seconds=30)


def _checkout(f: Filler, rng: random.Random) -> dict[str, str]:
    p = {
        "steady": f.pattern("aa01", "GET /cart <*> ms"),
        "beat": f.pattern("aa02", "heartbeat ok"),
        "up": f.pattern("aa03", "retrying payment call attempt <*>", "WARN"),
        "down": f.pattern("aa04", "cache hit for <*>"),
        "new": f.pattern("aa05", "NullPointerException in CartService.total", "ERROR"),
        "rare": f.pattern("aa06", "config reloaded"),
    }
    total = BASE + AFTER
    f.series("checkout", p["steady"], T0, total, 5.0, rng=rng)
    f.every("checkout", p["beat"], T0, BASE, 2)
    f.series("checkout", p["up"], T0, total, lambda m: 1.0 if m < BASE else 8.0, rng=rng)
    f.series("checkout", p["down"], T0, total, lambda m: 20.0 if m < BASE else 2.0, rng=rng)
    f.series("checkout", p["new"], T0 + timedelta(minutes=BASE + 1), AFTER - 1, 3.0, errors=True, rng=rng)
    f.series("checkout", p["rare"], T0 + timedelta(minutes=100), 1, 1)
    # Another service whose normal is ten times checkout's for the same pattern: it must not
    # leak into checkout's baseline, and with no deploy of its own it shows nothing here.
    f.series("payments", p["steady"], T0, total, 50.0, rng=rng)
    f.flush()
    return p


@pytest.fixture
def shop(store: Store, filler: Filler) -> dict[str, str]:
    p = _checkout(filler, random.Random(7))
    p["dep"] = filler.deploy("checkout", DEPLOY_AT)
    p["crash"] = filler.event("checkout", DEPLOY_AT + timedelta(minutes=5), "BackOff", object_name="pod/checkout-7f9-x1")
    filler.event("checkout", DEPLOY_AT + timedelta(minutes=1), "Pulled", "Normal", object_name="pod/checkout-7f9-x1")
    filler.event("payments", DEPLOY_AT + timedelta(minutes=3), "Unhealthy", object_name="pod/payments-1")
    return p


def _by_pattern(result: dict) -> dict[str, dict]:
    return {i["pattern_id"]: i for i in result["items"] if "pattern_id" in i}


def test_finds_every_kind_since_deploy(store: Store, shop: dict[str, str]) -> None:
    r = changes(store, service="checkout", since_deploy=True)
    assert r["deploy"]["evidence_id"] == shop["dep"]
    assert r["window"]["mode"] == "deploy"
    got = _by_pattern(r)
    assert got[shop["new"]]["kind"] == "new"
    assert got[shop["up"]]["kind"] == "rate_up"
    assert got[shop["down"]]["kind"] == "rate_down"
    assert got[shop["beat"]]["kind"] == "stopped"
    assert shop["steady"] not in got and shop["rare"] not in got
    kinds = [i["kind"] for i in r["items"]]
    assert "error_share" in kinds and "k8s_event" in kinds
    share = next(i for i in r["items"] if i["kind"] == "error_share")
    assert share["evidence_id"] == ids.make("pat", shop["new"])
    assert share["after"]["share"] > share["before"]["share"]
    ev = next(i for i in r["items"] if i["kind"] == "k8s_event")
    assert ev["evidence_id"] == shop["crash"] and ev["reason"] == "BackOff"
    assert r["summary"]["routine_k8s_events"] == 1          # the Normal "Pulled" is left out
    assert all(i["service"] == "checkout" for i in r["items"])  # payments' Unhealthy is not checkout's
    # ranked by impact: the new error storm first; scores never increase down the list
    assert r["items"][0]["pattern_id"] == shop["new"]
    scores = [i["score"] for i in r["items"]]
    assert scores == sorted(scores, reverse=True)


def test_item_fields_and_evidence_resolve(store: Store, shop: dict[str, str]) -> None:
    r = changes(store, service="checkout", deploy=shop["dep"])
    up = _by_pattern(r)[shop["up"]]
    assert up["template"] == "retrying payment call attempt <*>"
    assert up["example"]["id"].startswith("log_") and up["example"]["body"]
    assert up["before"]["minutes"] == pytest.approx(BASE, abs=1)
    assert up["after"]["per_min"] == pytest.approx(8.0, rel=0.25)
    assert up["before"]["per_min"] == pytest.approx(1.0, rel=0.25)
    assert 5 < up["ratio"] < 12 and up["p_value"] < 1e-6
    new = _by_pattern(r)[shop["new"]]
    assert new["before"]["count"] == 0 and new["first_seen"] >= r["window"]["start"]
    for item in r["items"]:
        assert item["evidence_id"] in item["evidence_ids"]
        for eid in item["evidence_ids"]:
            prefix, _ = ids.parse(eid)
            if prefix == "pat" and prefix not in ids._RESOLVERS:
                continue  # the pattern resolver belongs to distill
            assert ids.resolve(store, eid)["id"] == eid
        if "example" in item and item["example"]:
            assert ids.resolve(store, item["example"]["id"])["body"] == item["example"]["body"]


def test_one_service_normal_is_not_anothers(store: Store, shop: dict[str, str], filler: Filler) -> None:
    # payments' own deploy: its steady pattern (50/min) did not change, so nothing is reported,
    # even though checkout runs the same pattern at 5/min.
    filler.deploy("payments", DEPLOY_AT + timedelta(minutes=2))
    r = changes(store, service="payments", since_deploy=True)
    assert [i for i in r["items"] if i["kind"] != "k8s_event"] == []
    assert [i["reason"] for i in r["items"]] == ["Unhealthy"]


def test_since_compares_window_before_and_same_hours_on_earlier_days(store: Store, filler: Filler) -> None:
    rng = random.Random(3)
    pid = filler.pattern("bb01", "order <*> shipped")
    spike = filler.pattern("bb02", "inventory sync lag <*> s", "WARN")
    days = 3 * 24 * 60
    filler.series("orders", pid, T0, days, 4.0, rng=rng)
    filler.series("orders", spike, T0, days, lambda m: 12.0 if m >= days - 60 else 1.5, rng=rng)
    filler.flush()
    now = T0 + timedelta(minutes=days)
    r = changes(store, service="orders", since="1h", now=now)
    assert r["window"]["mode"] == "since" and r["deploy"] is None
    assert r["window"]["minutes"] == pytest.approx(60, abs=0.1)
    assert r["baseline"]["seasonal_days"] == [1, 2]
    assert r["baseline"]["minutes"] == pytest.approx(180, abs=0.1)
    got = _by_pattern(r)
    assert got[spike]["kind"] == "rate_up" and pid not in got
    # ISO time, and an explicit baseline length (no seasonal overlap with a 24h window)
    r2 = changes(store, service="orders", since=(now - timedelta(hours=1)).isoformat(), baseline="24h", now=now)
    assert r2["baseline"]["minutes"] == pytest.approx(24 * 60 + 60, abs=0.1)
    assert _by_pattern(r2)[spike]["kind"] == "rate_up"


def test_noise_and_bursts_do_not_rank(store: Store, filler: Filler) -> None:
    """Same process before and after, many patterns, several seeds: no pattern change reported."""
    false_items = 0
    for seed in range(4):
        rng = random.Random(seed)
        svc = f"noisy{seed}"
        for k in range(25):
            pid = filler.pattern(f"cc{seed}{k:02d}", f"event {k} <*>")
            filler.series(svc, pid, T0, BASE + AFTER, rng.choice([0.05, 0.3, 1.0, 4.0, 20.0]), rng=rng)
        # a bursty pattern: quiet, with storms of ~200 lines in random minutes (also after the split)
        burst = filler.pattern(f"cd{seed}", "connection reset by peer")
        storms = {rng.randrange(BASE + AFTER) for _ in range(16)} | {BASE + 20}
        filler.series(svc, burst, T0, BASE + AFTER, lambda m, s=storms: 200.0 if m in s else 0.2, rng=rng)
        filler.flush()
        filler.deploy(svc, DEPLOY_AT)
        r = changes(store, service=svc, since_deploy=True)
        false_items += sum(1 for i in r["items"] if i["kind"] != "new")
        assert r["summary"]["patterns_compared"] >= 20
    assert false_items <= 1


def test_bad_parameters(store: Store, shop: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="choose one of"):
        changes(store, service="checkout", since="1h", deploy=shop["dep"])
    with pytest.raises(NotFound, match="no deploy with ID dep_999"):
        changes(store, deploy="dep_999")
    with pytest.raises(UsageError, match="not a deploy ID"):
        changes(store, deploy="pat_1")
    with pytest.raises(NotFound, match="deploy mark"):
        changes(store, service="nobody", since_deploy=True)
    with pytest.raises(UsageError, match="payments"):
        changes(store, service="payments", deploy=shop["dep"])
    with pytest.raises(UsageError, match="duration"):
        changes(store, service="checkout", deploy=shop["dep"], baseline="yesterday")


def test_registered_operation_and_limit(store: Store, shop: dict[str, str]) -> None:
    op = ops.get("changes")
    assert list(op.params()) == ["service", "since_deploy", "since", "deploy", "baseline", "limit"]
    r = ops.run(store, "changes", {"service": "checkout", "since_deploy": "true", "limit": "2"}, coerce=True)
    assert len(r["items"]) == 2 and r["summary"]["truncated"] and r["summary"]["total"] > 2


def test_no_history_before_split(store: Store, filler: Filler) -> None:
    pid = filler.pattern("dd01", "started")
    filler.series("fresh", pid, T0, 30, 2.0)
    filler.flush()
    dep = filler.deploy("fresh", T0 - timedelta(minutes=1))
    r = changes(store, deploy=dep)
    assert r["items"] == [] and r["baseline"]["minutes"] == 0
    assert any("no data before the split" in n for n in r["notes"])


def test_new_means_new_to_this_service(store: Store, filler: Filler) -> None:
    """A pattern other services logged before is still new here; one this service logged long
    before the baseline is not new (it returned)."""
    base = filler.pattern("ee01", "request served")
    shared = filler.pattern("ee02", "retry budget exhausted for <*>", "WARN")
    back = filler.pattern("ee03", "nightly compaction started")
    old = T0 - timedelta(days=3)
    filler.series("billing", base, old, 3 * 24 * 60 + BASE + AFTER, 3.0)
    filler.series("ledger", shared, old, 60, 2.0)                     # elsewhere, days ago
    filler.series("billing", back, old, 30, 2.0)                      # here, days ago
    filler.series("billing", shared, DEPLOY_AT + timedelta(minutes=1), AFTER - 2, 2.0)
    filler.series("billing", back, DEPLOY_AT + timedelta(minutes=1), AFTER - 2, 2.0)
    filler.flush()
    filler.deploy("billing", DEPLOY_AT)
    got = _by_pattern(changes(store, service="billing", since_deploy=True))
    assert got[shared]["kind"] == "new" and got[shared]["first_seen"] > DEPLOY_AT.isoformat()
    assert got[back]["kind"] == "rate_up" and "seen before it" in got[back]["summary"]
    assert got[back]["first_seen"].startswith(old.date().isoformat())
    assert base not in got


def test_baseline_operation(store: Store, shop: dict[str, str]) -> None:
    r = ops.run(store, "baseline", {"service": "checkout", "window": "6h"})
    pats = {p["pattern_id"]: p for p in r["patterns"]}
    assert pats[shop["steady"]]["per_min"] == pytest.approx(5.0, rel=0.15)
    assert 1.5 < pats[shop["steady"]]["std_per_min"] < 3.0           # Poisson(5): sd ~2.2
    assert pats[shop["steady"]]["presence"] > 0.95
    [svc] = r["services"]
    assert svc["service"] == "checkout" and 0 < svc["error_share"] < 0.1
    everyone = ops.run(store, "baseline", {"window": "6h"})
    assert {s["service"] for s in everyone["services"]} == {"checkout", "payments"}
    payments_steady = next(p for p in everyone["patterns"] if p["service"] == "payments")
    assert payments_steady["per_min"] == pytest.approx(50.0, rel=0.1)   # its own normal, not checkout's
