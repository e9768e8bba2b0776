"""The `top` and `tail` operations over a real store: counts per minute, markers since the deploy, cursors.

A store filled through the real pipeline (miner, fold) with an hour of steady lines, a
deploy, then a new error pattern and a surge of an old one: what `runbrief top` and
`runbrief tail` read every second must say exactly that.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runbrief import ops
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Deploy, LogRecord, Resource
from runbrief.store.duck import Store
from runbrief.tui.feed import surged

S = 10**9
MIN = 60 * S


def _line(ts: int, body: str, sev: str = "INFO", service: str = "api") -> LogRecord:
    num = {"INFO": 9, "WARN": 13, "ERROR": 17}[sev]
    return LogRecord(ts_ns=ts, body=body, resource=Resource({"service.name": service}), observed_ns=ts,
                     severity_number=num, severity_text=sev)


@pytest.fixture
def seeded(tmp_path: Path) -> Store:
    now = (time.time_ns() // MIN) * MIN
    deploy = now - 10 * MIN
    store = Store.open(tmp_path / "s")
    pipe = Pipeline(store)
    logs = []
    for m in range(50, 0, -1):  # one line a minute of each steady pattern, 50 minutes back
        t = now - m * MIN + 5 * S
        logs.append(_line(t, f"user {m} logged in from 10.0.0.{m}"))
        logs.append(_line(t + S, f"cache miss for key k{m}", "WARN"))
    for m in range(10, 0, -1):  # after the deploy: a new error and the cache misses x6
        t = now - m * MIN + 10 * S
        logs.append(_line(t, f"payment {m} failed: card declined"[:40], "ERROR"))
        logs += [_line(t + i * S, f"cache miss for key z{m}{i}", "WARN") for i in range(1, 6)]
    logs.append(_line(now - 2 * MIN, "worker 3 started", service="jobs"))
    pipe.write(Batch(deploys=[Deploy(ts_ns=deploy, service="api", version="2.0")]))
    pipe.write(Batch(logs=sorted(logs, key=lambda r: r.ts_ns)))
    yield store
    store.close()


def test_top_counts_minutes_and_marks_new_and_surged_patterns(seeded: Store) -> None:
    r = ops.run(seeded, "top", {"service": "api"})
    by = {p["template"]: p for p in r["patterns"]}
    login = next(p for t, p in by.items() if t.startswith("user"))
    cache = next(p for t, p in by.items() if t.startswith("cache miss"))
    pay = next(p for t, p in by.items() if t.startswith("payment"))
    assert r["deploy"]["id"] == "dep_1" and r["services"] == ["api"] and not r["idle"]
    assert login["count"] == 50 and sum(login["series"]) == 50 and len(login["series"]) == 60
    assert login["series"][-1] == 0 and login["series"][-2] == 1  # the current minute has no line yet
    assert not login["new"] and not login["surged"]
    assert cache["count"] == 100 and cache["surged"] and not cache["new"]
    assert pay["new"] and pay["severity"] == "ERROR" and pay["errors"] == 10
    assert r["lines"] == 160 and r["errors"] == 10
    assert sum(r["severity"]["warn"]) == 100 and sum(r["severity"]["error"]) == 10
    assert [p["count"] for p in r["patterns"]] == sorted((p["count"] for p in r["patterns"]), reverse=True)
    everyone = ops.run(seeded, "top", {})
    assert everyone["services"] == ["api", "jobs"] and everyone["lines"] == 161
    assert len(ops.run(seeded, "top", {"limit": 1})["patterns"]) == 2  # the top one, and the new one


def test_tail_follows_a_log_id_and_marks_new_patterns(seeded: Store) -> None:
    first = ops.run(seeded, "tail", {"limit": 3})
    assert [x["body"][:10] for x in first["lines"]] == ["cache miss"] * 3  # the latest lines, oldest first
    assert first["last_id"] == first["lines"][-1]["id"]
    empty = ops.run(seeded, "tail", {"after": first["last_id"]})
    assert empty == {"lines": [], "last_id": first["last_id"], "skipped": 0}
    back = int(first["last_id"].removeprefix("log_")) - 20
    r = ops.run(seeded, "tail", {"after": f"log_{back}", "limit": 5, "service": "api"})
    after = seeded.scalar("SELECT count(*) FROM logs WHERE id > ? AND service = 'api'", [back])
    assert after >= 15 and r["skipped"] == after - 5 and len(r["lines"]) == 5
    assert r["last_id"] == first["last_id"]  # the newest five: the ones skipped are the older ones
    assert [int(x["id"][4:]) for x in r["lines"]] == sorted(int(x["id"][4:]) for x in r["lines"])
    news = {x["body"].startswith("payment"): x["new_pattern"] for x in ops.run(seeded, "tail", {"limit": 40})["lines"]}
    assert news == {True: True, False: False}
    assert ops.run(seeded, "tail", {"limit": 0}) == {"lines": [], "last_id": first["last_id"], "skipped": 0}


def test_surged_needs_a_before_rate_and_volume() -> None:
    assert surged(1.0, 3.0, 30) and not surged(1.0, 2.9, 30) and not surged(0.0, 9.0, 90) and not surged(1, 9, 4)
