"""A bad deploy whose failure shows only in the platform's own signal makes one incident citing it.

Each timeline is written as the platform writes it (a `heroku logs` file, a CloudWatch
subscription, a Supabase export), read through `runbrief ingest`'s detection, and judged by
the incident detector: a steady baseline for three hours, the deploy, then the failure.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from runbrief import ids, ops
from runbrief.analyze import incidents as inc_mod
from runbrief.store.duck import Store

from ._util import ingest

T0 = datetime(2026, 3, 2, 0, 0)
DEPLOY_AT = T0 + timedelta(hours=3, minutes=10)
NOW = T0 + timedelta(hours=3, minutes=30)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"


def _ms(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1)).total_seconds() * 1000)


def _minutes(start: datetime, end: datetime, per_minute: int, rng: random.Random) -> list[datetime]:
    out = []
    t = start
    while t < end:
        out.extend(t + timedelta(seconds=rng.random() * 60) for _ in range(per_minute))
        t += timedelta(minutes=1)
    return sorted(out)


def _one_incident_citing(store: Store, cited: set[str]) -> dict:
    inc_mod.detect(store, now=NOW)
    found = ops.run(store, "incidents", {})
    assert len(found) == 1, [i["title"] for i in found]
    inc = found[0]
    evidence = {e for c in inc["claims"] for e in c["evidence"]}
    for e in evidence:
        assert ids.exists(store, e), e
    text = " ".join(json.dumps(ids.resolve(store, e), default=str) for e in sorted(evidence)
                    if e.startswith(("log_", "pat_")))
    assert any(c in text for c in cited), (text[:500], inc["title"])
    return inc


def test_heroku_h12_surge_after_a_release(store: Store, tmp_path: Path) -> None:
    rng = random.Random(1)
    lines = []
    for t in _minutes(T0, NOW, 20, rng):
        svc = rng.randint(20, 90)
        lines.append((t, f"heroku[router]: at=info method=GET path=\"/products/{rng.randint(1, 500)}\" "
                         f"host=shop.herokuapp.com request_id={rng.getrandbits(64):016x} fwd=\"10.0.0.{rng.randint(1, 254)}\" "
                         f"dyno=web.{rng.randint(1, 3)} connect=1ms service={svc}ms status=200 bytes=1742 protocol=https"))
    lines.append((DEPLOY_AT - timedelta(seconds=5), "heroku[api]: Deploy 9f3c2ab by dev@example.com"))
    lines.append((DEPLOY_AT, "heroku[api]: Release v52 created by dev@example.com"))
    for t in _minutes(DEPLOY_AT + timedelta(minutes=2), NOW, 30, rng):
        lines.append((t, f"heroku[router]: at=error code=H12 desc=\"Request timeout\" method=GET "
                         f"path=\"/products/{rng.randint(1, 500)}\" host=shop.herokuapp.com "
                         f"request_id={rng.getrandbits(64):016x} fwd=\"10.0.0.{rng.randint(1, 254)}\" "
                         f"dyno=web.{rng.randint(1, 3)} connect=0ms service=30000ms status=503 bytes=0 protocol=https"))
    f = tmp_path / "shop.log"
    f.write_text("".join(f"{_iso(t)} {m}\n" for t, m in sorted(lines)))
    assert ingest(store, f)["files"][0]["format"] == "heroku:text"
    inc = _one_incident_citing(store, {"H12"})
    assert inc["service"] == "shop"
    dep = store.query("SELECT id FROM deploys WHERE version = 'v52'")
    assert dep and any(f"dep_{dep[0]['id']}" in c["evidence"] for c in inc["claims"])


def test_lambda_init_crash_after_a_new_version(store: Store, tmp_path: Path) -> None:
    rng = random.Random(2)
    events = []
    for t in _minutes(T0, DEPLOY_AT, 10, rng):
        rid = f"{rng.getrandbits(32):08x}-1111-4222-8333-{rng.getrandbits(48):012x}"
        d = rng.uniform(20, 80)
        events += [(t, f"START RequestId: {rid} Version: 7\n"),
                   (t + timedelta(milliseconds=d + 1), f"END RequestId: {rid}\n"),
                   (t + timedelta(milliseconds=d + 2), f"REPORT RequestId: {rid}\tDuration: {d:.2f} ms\t"
                                                        f"Billed Duration: {int(d) + 1} ms\tMemory Size: 128 MB\t"
                                                        "Max Memory Used: 70 MB\t\n")]
    for t in _minutes(DEPLOY_AT + timedelta(minutes=1), NOW, 10, rng):
        events += [(t, "[ERROR] Runtime.ImportModuleError: Unable to import module 'lambda_function': "
                       "No module named 'requests'\nTraceback (most recent call last):\n"),
                   (t + timedelta(seconds=1), "INIT_REPORT Init Duration: 1003.43 ms\tPhase: init\tStatus: error\t"
                                              "Error Type: Runtime.ImportModuleError\n")]
    subs = []
    for version, chunk in (("7", [e for e in events if e[0] < DEPLOY_AT]), ("8", [e for e in events if e[0] >= DEPLOY_AT])):
        subs.append({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/orders",
                     "logStream": f"2026/03/02/[{version}]0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                     "subscriptionFilters": ["runbrief"],
                     "logEvents": [{"id": str(i), "timestamp": _ms(t), "message": m} for i, (t, m) in enumerate(sorted(chunk))]})
    f = tmp_path / "orders.json"
    f.write_text("\n".join(json.dumps(s) for s in subs))
    assert ingest(store, f)["files"][0]["format"] == "aws:json"
    inc = _one_incident_citing(store, {"ImportModuleError", "INIT_REPORT"})
    assert inc["service"] == "orders"


def test_supabase_rls_denial_storm(store: Store, tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = []
    for t in _minutes(T0, NOW, 15, rng):
        rows.append({"id": str(rng.getrandbits(64)), "timestamp": _ms(t) * 1000,
                     "event_message": f"connection authorized: user=authenticator database=postgres "
                                      f"application_name=PostgREST 12.2.{rng.randint(0, 9)}",
                     "metadata": [{"parsed": [{"error_severity": "LOG", "sql_state_code": "00000",
                                               "user_name": "authenticator"}], "project": "shopref"}]})
    for t in _minutes(DEPLOY_AT + timedelta(minutes=2), NOW, 25, rng):
        rows.append({"id": str(rng.getrandbits(64)), "timestamp": _ms(t) * 1000,
                     "event_message": 'new row violates row-level security policy for table "orders"',
                     "metadata": [{"parsed": [{"error_severity": "ERROR", "sql_state_code": "42501",
                                               "user_name": "authenticated"}], "project": "shopref"}]})
    f = tmp_path / "postgres-logs.json"
    f.write_text(json.dumps(sorted(rows, key=lambda r: r["timestamp"])))
    assert ingest(store, f)["files"][0]["format"] == "supabase:json"
    inc = _one_incident_citing(store, {"row-level security"})
    assert inc["service"] == "shopref"
