"""Incident detection, diagnosis, identity across runs and memory, on exact timelines.

Pattern counts are filled directly (as distill would) with the ``filler`` fixture; events,
deploys and spans go through the real ingest pipeline.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from changes_fill import T0, Filler

from runbrief import ids, ops
from runbrief.analyze import incidents as inc_mod
from runbrief.errors import NotFound, UsageError
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Event, LogRecord, Resource, Span, SpanEvent
from runbrief.server import background
from runbrief.store import writer
from runbrief.store.duck import Store

BASE_H = 3


def ns(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds() * 1e9)


def quiet(filler: Filler, services: tuple[str, ...] = ("checkout", "frontend"), hours: int = BASE_H + 1,
          seed: int = 7) -> None:
    """Steady background: info lines, a rare warning at a steady rate, a heartbeat."""
    rng = random.Random(seed)
    for svc in services:
        info = filler.pattern(f"{svc}-info", f"{svc} handled request <*> in <*> ms", "INFO")
        warn = filler.pattern(f"{svc}-warn", f"{svc} slow cache lookup took <*> ms", "WARN")
        hb = filler.pattern(f"{svc}-hb", f"{svc} heartbeat ok", "INFO")
        filler.series(svc, info, T0, hours * 60, 40, rng=rng)
        filler.series(svc, warn, T0, hours * 60, 0.3, rng=rng)
        filler.every(svc, hb, T0, hours * 60, 1)
    filler.flush()


def oom_after_deploy(store: Store, filler: Filler, at: datetime) -> str:
    dep = filler.deploy("checkout", at, "1.4.2")
    events = []
    for k in range(6):
        t = at + timedelta(minutes=3 + 2 * k)
        events.append(Event(ns(t), "OOMKilled", "Container checkout was OOMKilled (exit 137)", type="Warning",
                            object_kind="Pod", object_name="checkout-7d9f8b6c5-x2x4z", namespace="shop",
                            service="checkout"))
        events.append(Event(ns(t + timedelta(seconds=5)), "BackOff", "Back-off restarting failed container",
                            type="Warning", object_kind="Pod", object_name="checkout-7d9f8b6c5-x2x4z",
                            namespace="shop", service="checkout"))
    Pipeline(store).write(Batch(events=events))
    return dep


def pool_storm(filler: Filler, service: str, at: datetime, minutes: int = 10) -> str:
    pid = filler.pattern(f"{service}-pool", "sqlalchemy.exc.TimeoutError: QueuePool limit of size <*> overflow <*> "
                                            "reached, connection timed out, timeout <*>", "ERROR")
    filler.series(service, pid, at, minutes, 300, errors=True)
    filler.flush()
    return pid


def error_spans(store: Store, service: str, at: datetime, n: int = 20, trace_base: int = 10_000,
                exc: str = "ValueError", message: str = "bad cart") -> list[str]:
    res = Resource({"service.name": service})
    spans, traces = [], []
    for i in range(n):
        t = ns(at + timedelta(seconds=i))
        tid = f"{trace_base + i:032x}"
        traces.append(tid)
        spans.append(Span(tid, f"{trace_base + i:016x}", "GET /cart", t, t + 30_000_000, res, kind="SERVER",
                          status_code="ERROR", status_message=f"{exc}: {message}",
                          attributes={"code.filepath": "shop/cart.py", "code.lineno": 88,
                                      "code.function": "get_cart"},
                          events=[SpanEvent("exception", t + 1000, {
                              "exception.type": exc, "exception.message": message,
                              "exception.stacktrace": 'Traceback (most recent call last):\n  File "shop/app.py", '
                                                      'line 12, in handle\n  File "shop/cart.py", line 88, in get_cart\n'
                                                      f"{exc}: {message}"})]))
    Pipeline(store).write(Batch(spans=spans))
    return traces


def ok_spans(store: Store, service: str, start: datetime, minutes: int, every_s: int = 30, base: int = 1) -> None:
    res = Resource({"service.name": service})
    spans = []
    for i in range(minutes * 60 // every_s):
        t = ns(start + timedelta(seconds=i * every_s))
        spans.append(Span(f"{base:08x}{i:024x}", f"{base:04x}{i:012x}", "GET /cart", t, t + 5_000_000, res,
                          kind="SERVER", status_code="OK"))
    Pipeline(store).write(Batch(spans=spans))


def all_evidence_resolves(store: Store, inc: dict) -> None:
    for claim in inc["claims"]:
        assert claim["evidence"], claim
        for e in claim["evidence"]:
            assert ids.exists(store, e), (e, claim)


END = T0 + timedelta(hours=BASE_H + 1)
FAULT_AT = T0 + timedelta(hours=BASE_H, minutes=15)


# ------------------------------------------------------------------ detection and diagnosis
def test_quiet_baseline_makes_no_incident(store: Store, filler: Filler) -> None:
    quiet(filler)
    out = inc_mod.detect(store)
    assert out["created"] == []
    assert ops.run(store, "incidents", {}) == []


def test_oom_after_deploy_is_one_incident_with_memory_limit_fix(store: Store, filler: Filler) -> None:
    quiet(filler)
    dep = oom_after_deploy(store, filler, FAULT_AT)
    found = ops.run(store, "incidents", {})
    assert len(found) == 1
    inc = found[0]
    assert inc["id"].startswith("inc_") and inc["service"] == "checkout" and inc["status"] == "open"
    assert inc["cause"]["name"] == "memory_limit"
    assert "checkout" in inc["title"] and "memory" in inc["title"].lower()
    first = inc["claims"][0]
    oom_ids = {r["id"] for r in store.query("SELECT id FROM events WHERE reason = 'OOMKilled'")}
    assert any(e.startswith("evt_") and int(e[4:]) in oom_ids for e in first["evidence"])
    assert any(dep in c["evidence"] for c in inc["claims"] if c["kind"] == "deploy")
    cause = next(c for c in inc["claims"] if c["kind"] == "cause")
    assert "memory limit" in cause["text"] and dep in cause["evidence"]
    assert inc["impact"] > 0 and {"severity", "novelty", "error_volume", "affected_requests"} <= set(inc["impact_parts"])
    assert inc["timeline"][0]["evidence"] == [dep]
    all_evidence_resolves(store, inc)


def test_pool_exhaustion_storm_names_pool_size(store: Store, filler: Filler) -> None:
    quiet(filler)
    pid = pool_storm(filler, "checkout", FAULT_AT)
    (inc,) = ops.run(store, "incidents", {})
    assert inc["cause"]["name"] == "pool_exhausted"
    assert "pool" in inc["title"].lower()
    first = inc["claims"][0]
    example = store.scalar("SELECT min(id) FROM logs WHERE pattern_id = ?", [pid])
    assert f"pat_{pid}" in first["evidence"] or f"log_{example}" in first["evidence"]
    assert "concurrency" in next(c["text"] for c in inc["claims"] if c["kind"] == "cause")
    # the template is quoted (data), never inside a claim's text
    assert any("QueuePool" in q["text"] for q in inc["quotes"])
    assert not any("QueuePool" in c["text"] for c in inc["claims"])
    all_evidence_resolves(store, inc)


def test_new_exception_in_spans_gives_location_hints_not_a_patch(store: Store, filler: Filler) -> None:
    quiet(filler)
    ok_spans(store, "frontend", T0, BASE_H * 60 + 60)
    traces = error_spans(store, "frontend", FAULT_AT)
    (inc,) = ops.run(store, "incidents", {})
    assert inc["service"] == "frontend" and "ValueError" in inc["title"]
    assert inc["claims"][0]["evidence"][0].startswith("spn_")
    cause = next(c for c in inc["claims"] if c["kind"] == "cause")
    assert "shop/cart.py:88 in get_cart" in cause["text"] and "no fix is inferred" in cause["text"]
    assert inc["cause"] is None  # an application-code cause is not a known cause with a fix
    assert inc["impact_parts"]["affected_requests"] == len(traces)
    all_evidence_resolves(store, inc)


def test_symptoms_sharing_traces_are_one_incident_started_by_the_earliest(store: Store, filler: Filler) -> None:
    quiet(filler)
    ok_spans(store, "frontend", T0, BASE_H * 60 + 60)
    pid = pool_storm(filler, "checkout", FAULT_AT, minutes=5)
    # the frontend errors surface 20 minutes later, in the same requests that hit the pool
    traces = error_spans(store, "frontend", FAULT_AT + timedelta(minutes=20), exc="TimeoutError",
                         message="upstream request failed")
    recs = [LogRecord(ns(FAULT_AT + timedelta(seconds=i)), "QueuePool limit reached", Resource(
        {"service.name": "checkout"}), severity_number=17, severity_text="ERROR", trace_id=t, pattern_id=pid)
        for i, t in enumerate(traces)]
    with store.write() as con:
        writer.insert_logs(con, recs, store.next_ids("logs", len(recs)))
    found = ops.run(store, "incidents", {})
    assert len(found) == 1
    assert found[0]["service"] == "checkout"
    assert found[0]["affected_services"] == ["checkout", "frontend"]


def test_unrelated_faults_are_separate_incidents(store: Store, filler: Filler) -> None:
    quiet(filler, services=("checkout", "frontend", "payments"))
    oom_after_deploy(store, filler, FAULT_AT)
    pool_storm(filler, "payments", FAULT_AT + timedelta(minutes=20))
    found = ops.run(store, "incidents", {})
    assert sorted(i["cause"]["name"] for i in found) == ["memory_limit", "pool_exhausted"]
    assert {i["service"] for i in found} == {"checkout", "payments"}


def test_upstream_timeouts_point_at_the_upstream_incident(store: Store, filler: Filler) -> None:
    quiet(filler, services=("checkout", "frontend"))
    pool_storm(filler, "checkout", FAULT_AT, minutes=30)
    pid = filler.pattern("fe-timeout", "request to checkout timed out after <*> ms", "ERROR")
    filler.series("frontend", pid, FAULT_AT + timedelta(minutes=15), 20, 50, errors=True)
    filler.flush()
    found = {i["service"]: i for i in ops.run(store, "incidents", {})}
    assert set(found) == {"checkout", "frontend"}
    fe = found["frontend"]
    assert fe["cause"]["name"] == "upstream_timeout"
    assert fe["cause"]["upstream"] == {"service": "checkout", "incident": found["checkout"]["id"]}
    assert found["checkout"]["id"] in next(c for c in fe["claims"] if c["kind"] == "cause")["evidence"]


# ------------------------------------------------------------------ identity across runs
def test_redetection_updates_the_open_incident(store: Store, filler: Filler) -> None:
    quiet(filler)
    oom_after_deploy(store, filler, FAULT_AT)
    first = inc_mod.detect(store)
    assert len(first["created"]) == 1
    again = inc_mod.detect(store)
    assert again["created"] == [] and again["updated"] == first["created"]
    # more kills later: the same incident grows, no new one
    more = [Event(ns(FAULT_AT + timedelta(minutes=30 + k)), "OOMKilled", "OOMKilled again", type="Warning",
                  object_kind="Pod", object_name="checkout-7d9f8b6c5-abcde", namespace="shop", service="checkout")
            for k in range(3)]
    Pipeline(store).write(Batch(events=more))
    later = inc_mod.detect(store)
    assert later["created"] == [] and later["updated"] == first["created"]
    assert store.scalar("SELECT count(*) FROM incidents") == 1


def test_resolve_memory_and_recurrence_survive_restart(tmp_path) -> None:
    store = Store.open(tmp_path / "mem")
    filler = Filler(store)
    quiet(filler)
    oom_after_deploy(store, filler, FAULT_AT)
    (inc,) = ops.run(store, "incidents", {})
    with pytest.raises(UsageError):
        ops.run(store, "resolve", {"id": inc["id"], "fix": "x", "outcome": "maybe"})
    done = ops.run(store, "resolve", {"id": inc["id"], "fix": "raised memory limit to 512Mi", "commit": "abc123"})
    assert done["status"] == "resolved" and done["fixes"][0]["commit"] == "abc123"
    # the same data again is not a new incident
    assert inc_mod.detect(store)["created"] == []
    # a recurrence an hour later (new pod, same failure) is a new incident that remembers the fix
    later = FAULT_AT + timedelta(hours=1)
    filler.series("checkout", "checkout-info", later - timedelta(minutes=45), 60, 40)
    filler.flush()
    oom_after_deploy(store, filler, later)
    store.close()
    store = Store.open(tmp_path / "mem")
    try:
        found = ops.run(store, "incidents", {})
        assert len(found) == 1 and found[0]["id"] != inc["id"]
        sim = found[0]["similar"][0]
        assert sim["id"] == inc["id"] and sim["similarity"] >= 0.8
        assert sim["fixes"][0]["fix"] == "raised memory limit to 512Mi"
        assert "same causes" in sim["why"] and "event_kinds" in sim["similarity_parts"]
        assert ops.run(store, "similar_incidents", {"id": found[0]["id"]})["similar"][0]["id"] == inc["id"]
        history = ops.run(store, "incidents", {"all": True})
        assert {i["status"] for i in history} == {"open", "resolved"}
    finally:
        store.close()


def test_show_resolves_incident_ids_and_rejects_unknown(store: Store, filler: Filler) -> None:
    quiet(filler)
    oom_after_deploy(store, filler, FAULT_AT)
    (inc,) = ops.run(store, "incidents", {})
    shown = ops.run(store, "show", {"id": inc["id"]})
    assert shown["kind"] == "incident" and shown["title"] == inc["title"]
    for bad in ("inc_999", "inc_x"):
        with pytest.raises(NotFound):
            ops.run(store, "show", {"id": bad})
        with pytest.raises(NotFound):
            ops.run(store, "incident", {"id": bad})


def test_detection_is_registered_as_a_server_job() -> None:
    assert any(j.name == "incidents" for j in background.jobs())
    assert {"incidents", "incident", "detect_incidents", "resolve", "similar_incidents", "brief"} <= {
        o.name for o in ops.all_operations()}
    assert not ops.get("resolve").read_only and not ops.get("detect_incidents").read_only


def test_crash_loop_with_config_error_at_startup_names_the_variable(store: Store, filler: Filler) -> None:
    quiet(filler)
    dep = filler.deploy("checkout", FAULT_AT, "1.5.0")
    pid = filler.pattern("cfg", "FATAL config error: environment variable PAYMENT_API_URL is not set", "FATAL")
    filler.series("checkout", pid, FAULT_AT + timedelta(minutes=1), 10, 1, errors=True)
    filler.flush()
    Pipeline(store).write(Batch(events=[
        Event(ns(FAULT_AT + timedelta(minutes=2 + k)), "BackOff", "Back-off restarting failed container",
              type="Warning", object_kind="Pod", object_name="checkout-7d9f8b6c5-x2x4z", namespace="shop",
              service="checkout") for k in range(5)]))
    (inc,) = ops.run(store, "incidents", {})
    assert inc["cause"]["name"] == "config_at_startup"
    assert "PAYMENT_API_URL" in inc["cause"]["fix"] and dep in inc["cause"]["evidence"]
    first = inc["claims"][0]["evidence"]
    assert f"pat_{pid}" in first or any(e.startswith("log_") for e in first)


def test_permission_denials_after_a_deploy_point_at_the_policy(store: Store, filler: Filler) -> None:
    quiet(filler)
    dep = filler.deploy("checkout", FAULT_AT, "1.6.0")
    pid = filler.pattern("rls", 'ERROR: new row violates row-level security policy for table "orders"', "ERROR")
    filler.series("checkout", pid, FAULT_AT + timedelta(minutes=2), 15, 20, errors=True)
    filler.flush()
    (inc,) = ops.run(store, "incidents", {})
    assert inc["cause"]["name"] == "policy_after_deploy" and dep in inc["cause"]["fix"]
    assert inc["title"].startswith("Permission denials after deploy")


def test_bad_image_after_deploy(store: Store, filler: Filler) -> None:
    quiet(filler)
    dep = filler.deploy("checkout", FAULT_AT, "1.7.0-typo")
    evt = filler.event("checkout", FAULT_AT + timedelta(minutes=1), "ImagePullBackOff",
                       object_name="pod/checkout-7d9f8b6c5-x2x4z")
    (inc,) = ops.run(store, "incidents", {})
    assert inc["cause"]["name"] == "bad_image" and inc["title"].startswith("Bad image tag in checkout")
    assert inc["claims"][0]["evidence"] == [evt] and dep in inc["cause"]["evidence"]


def test_claims_whose_evidence_is_gone_are_not_shown(store: Store, filler: Filler) -> None:
    quiet(filler)
    dep = oom_after_deploy(store, filler, FAULT_AT)
    (inc,) = ops.run(store, "incidents", {})
    with store.write() as con:  # as retention would
        con.execute("DELETE FROM events")
    again = ops.run(store, "incident", {"id": inc["id"]})
    assert again["claims"] and all(c["evidence"] for c in again["claims"])
    assert all(not e.startswith("evt_") for c in again["claims"] for e in c["evidence"])
    assert any(dep in c["evidence"] for c in again["claims"])


def test_incidents_filter_by_service_and_status(store: Store, filler: Filler) -> None:
    quiet(filler, services=("checkout", "frontend", "payments"))
    oom_after_deploy(store, filler, FAULT_AT)
    pool_storm(filler, "payments", FAULT_AT + timedelta(minutes=20))
    assert [i["service"] for i in ops.run(store, "incidents", {"service": "payments"})] == ["payments"]
    assert ops.run(store, "incidents", {"status": "resolved"}) == []
    with pytest.raises(UsageError):
        ops.run(store, "incidents", {"status": "bogus"})


def test_location_hints_are_the_applications_frames_only() -> None:
    from runbrief.analyze.diagnose import _frames

    tb = '''Traceback (most recent call last):
  File "/srv/shop/app/cart.py", line 88, in add_loyalty
    cur.execute("UPDATE loyalty SET points = points + 1")
  File "/srv/shop/.venv/lib/python3.11/site-packages/opentelemetry/instrumentation/dbapi/__init__.py", line 540, in execute
    return query_method(*args, **kwargs)
sqlite3.OperationalError: no such table: loyalty'''
    hints = _frames(tb)
    assert hints == ["/srv/shop/app/cart.py:88 in add_loyalty"]  # the library's frames are context, not hints


def test_error_span_surge_starts_where_the_rate_left_its_baseline(tmp_path) -> None:
    from datetime import datetime, timedelta

    from runbrief.analyze import symptoms
    from runbrief.ingest.pipeline import Batch, Pipeline
    from runbrief.records import Resource, Span
    from runbrief.store.duck import Store

    res = Resource({"service.name": "inventory"})
    t0 = datetime(2026, 11, 20, 10, 0)

    def err(i: int, at: datetime) -> Span:
        ns = int(at.timestamp() * 1e9)
        return Span(trace_id=f"{i:032x}", span_id=f"{i:016x}", name="POST /reserve", start_ns=ns,
                    end_ns=ns + 5_000_000, resource=res, status_code="ERROR", kind="SERVER")

    spans = [err(i + 1, t0 + timedelta(minutes=10 * i)) for i in range(6)]            # baseline hour: 6
    spans += [err(100 + i, t0 + timedelta(minutes=62 + 10 * i)) for i in range(2)]     # window, normal
    burst_at = t0 + timedelta(minutes=95)
    spans += [err(200 + i, burst_at + timedelta(seconds=i)) for i in range(40)]        # the surge
    with Store.open(tmp_path / "s") as store:
        Pipeline(store).write(Batch(spans=spans))
        found = symptoms._span_symptoms(store, t0 + timedelta(hours=1), t0 + timedelta(hours=2))
        (sym,) = found
        assert sym.first == burst_at  # the first surging span starts
        assert sym.count == 40  # failed requests from the onset: the surge's, not the window's
        assert sym.evidence[0] == f"spn_{200:016x}"
