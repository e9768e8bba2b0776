"""Answers that hold up under audit (issue 18): per-service windows with inclusive ends,
exact failed-request counts recomputed with SQL, one incident per cause, location hints in
the application's code. Every store is a real DuckDB store in a tmp dir."""

from __future__ import annotations

import random
from datetime import timedelta

from changes_fill import T0, Filler

from runbrief.analyze import _windows
from runbrief.analyze.changes import changes
from runbrief.store.duck import Store


def _shop_with_storm(filler: Filler) -> None:
    """3 h of shop traffic, a deploy at 2:30, then a storm of a new error in its last minutes."""
    rng = random.Random(3)
    info = filler.pattern("shop-info", "handled request <*> in <*> ms", "INFO")
    filler.series("shop", info, T0, 180, 30, rng=rng)
    filler.deploy("shop", T0 + timedelta(minutes=150), "2.0")
    storm = filler.pattern("shop-storm", "inventory reserve for order <*> failed, retrying", "WARN")
    filler.series("shop", storm, T0 + timedelta(minutes=170), 10, 6)
    filler.flush()


def test_other_services_do_not_move_the_after_window(store: Store, filler: Filler) -> None:
    _shop_with_storm(filler)
    before = changes(store, service="shop", since_deploy=True)
    # an unrelated service's lone trace-like record 15 minutes after shop's newest line
    other = filler.pattern("mail-info", "mail sent", "INFO")
    filler.series("mailer", other, T0 + timedelta(minutes=195), 1, 1)
    filler.flush()
    after = changes(store, service="shop", since_deploy=True)
    assert after["window"] == before["window"]
    assert after["window"]["end"] < "2026-03-02T03:01"
    assert [(i["kind"], i["pattern_id"]) for i in after["items"]] == [
        (i["kind"], i["pattern_id"]) for i in before["items"]]
    assert not [i for i in after["items"] if i["kind"] in ("stopped", "rate_down")]
    assert any(i["pattern_id"] == "shop-storm" for i in after["items"])


def test_newest_record_is_inside_its_window(store: Store, filler: Filler) -> None:
    """A store whose newest record is a crash loop's event reports it (no exclusive end)."""
    info = filler.pattern("api-info", "handled request <*> in <*> ms", "INFO")
    filler.series("api", info, T0, 120, 20, rng=random.Random(5))
    filler.flush()
    filler.deploy("api", T0 + timedelta(minutes=100), "3.1")
    last = T0 + timedelta(minutes=125)
    for k in range(4):
        filler.event("api", last - timedelta(minutes=3 - k), "BackOff", object_name="pod/api-1")
    plan = _windows.plan(store, service="api", since_deploy=True)
    assert plan.after.end > last
    res = changes(store, service="api", since_deploy=True)
    k8s = [i for i in res["items"] if i["kind"] == "k8s_event"]
    assert k8s and k8s[0]["after"]["count"] == 4
