"""Trace detectors on transactions the real Sentry SDK made (tests/data/sentry/scenarios).

Each envelope is one labelled scenario (tests/data/sentry/make_events.py: the SDK's
SQLAlchemy and stdlib integrations and its span API); runbrief must raise exactly the
labelled problem types, no more — the negatives (a fast loop, cache reads, truncated
statements, a 600 ms query, file reads, an ordinary request) are what each rule must not
fire on. The last test sends the same SDK to a real `runbrief serve` through its DSN.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from runbrief import ops
from runbrief.ingest.pipeline import Pipeline
from runbrief.ingest.sentry import SentryReader
from runbrief.store.duck import Store

DATA = Path(__file__).resolve().parents[1] / "data" / "sentry"
SCEN = DATA / "scenarios"
LABELS: dict[str, list[str]] = json.loads((SCEN / "labels.json").read_text())


def _problems(store: Store, name: str) -> list[str]:
    tid = store.scalar("SELECT trace_id FROM spans WHERE name = ? AND coalesce(parent_span_id, '') = ''",
                       [f"GET /{name}"])
    assert tid, name
    out = ops.run(store, "trace_summary", {"id": f"trc_{tid}"})
    return sorted({p["type"] for p in out.get("problems", [])})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    s = Store.open(tmp_path_factory.mktemp("sentry") / "s")
    for name in LABELS:
        r = SentryReader()
        r.envelope((SCEN / f"{name}.envelope").read_bytes())
        assert r.bad == 0, r.errors
        Pipeline(s).write(r.batch)
    yield s
    s.close()


@pytest.mark.parametrize("name", sorted(LABELS))
def test_each_scenario_raises_exactly_its_labelled_problems(store: Store, name: str) -> None:
    assert _problems(store, name) == sorted(LABELS[name])


def test_the_real_sdk_sends_to_runbrief_through_its_dsn(tmp_path: Path) -> None:
    pytest.importorskip("sentry_sdk")
    pytest.importorskip("sqlalchemy")
    from runbrief.testing import ServerProcess

    key = "k3y-for-this-test-only"
    sp = ServerProcess(tmp_path / "store", grpc=False, jobs=False, env={"RUNBRIEF_SENTRY_KEY": key}).start()
    try:
        dsn = f"http://{key}@127.0.0.1:{sp.http_port}/7"
        r = subprocess.run([sys.executable, str(DATA / "make_events.py"), "--dsn", dsn], capture_output=True,
                           text=True, timeout=120, env={**os.environ, "SENTRY_DEBUG": "0"})
        assert r.returncode == 0, r.stderr[-2000:]
        wrong = httpx.post(f"{sp.url}/api/7/envelope/", content=b'{"event_id":"x"}\n',
                           headers={"Content-Type": "application/x-sentry-envelope",
                                    "X-Sentry-Auth": "Sentry sentry_key=not-the-key, sentry_version=7"})
        assert wrong.status_code == 401 and "RUNBRIEF_SENTRY_KEY" in wrong.json()["detail"]
        page = httpx.post(f"{sp.url}/api/7/envelope/?sentry_key={key}", content=b'{"event_id":"x"}\n',
                          headers={"Content-Type": "text/plain"})
        assert page.status_code == 415  # what a web page could send: refused
        perf = httpx.get(f"{sp.url}/api/op/perf", params={"service": "shop"}).json()
    finally:
        sp.stop()
    found = {(p["route"], p["type"]) for p in perf["problems"]}
    want = {(f"/{name}", t) for name, types in LABELS.items() for t in types}  # the route: source "route"
    assert found == want, perf
    with Store.open(tmp_path / "store", read_only=True) as s:
        assert s.scalar("SELECT count(DISTINCT trace_id) FROM spans WHERE service = 'shop'") == len(LABELS)
