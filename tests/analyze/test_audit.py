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


DATA = __import__("pathlib").Path(__file__).parent.parent / "data" / "analyze"


def test_location_hints_skip_library_frames_and_keep_whole_names() -> None:
    from runbrief.analyze.diagnose import _code_attrs, _frames

    real = (DATA / "otel_dbapi_sqlite_stacktrace.txt").read_text()
    assert _frames(real) == []  # all frames are OpenTelemetry's, under site-packages: context only
    app = ('Traceback (most recent call last):\n  File "/srv/shop/shop/checkout_service_with_a_long_module_name.py", '
           'line 140, in award_loyalty_points_for_completed_order\n' + real.split("\n", 1)[1])
    hints = _frames(app)
    assert len(hints) == 1 and hints[0].endswith(":140 in award_loyalty_points_for_completed_order"), hints
    for lib in ("/usr/lib/python3.11/json/decoder.py", "/app/node_modules/pg/lib/client.js",
                "/usr/local/lib/python3.12/dist-packages/httpx/_client.py"):
        assert _code_attrs({"code.filepath": lib, "code.lineno": 3, "code.function": "f"}) == []
    assert _code_attrs({"code.filepath": "shop/cart.py", "code.lineno": 88, "code.function": "get_cart"}) == [
        "shop/cart.py:88 in get_cart"]
