"""Against a real `runbrief serve` (ingest worker processes): a drain POST and a platform file
streamed by `runbrief ingest` to the server; and services known only from events are listed."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx

from runbrief.ingest._file_sources import ingest_remote
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.queries import services as list_services
from runbrief.records import Event
from runbrief.store.duck import Store
from runbrief.testing import ServerProcess

from ._util import DATA

SECRET = "heroku-drain-secret-served-0123"


def test_drain_and_streamed_file_on_a_real_server(tmp_path: Path) -> None:
    env = {"RUNBRIEF_HEROKU_DRAIN_SECRET": SECRET}
    with ServerProcess(tmp_path / "served", jobs=False, grpc=False, env=env) as sp:
        body = (DATA / "heroku" / "devcenter-https-drain.logplex").read_bytes()
        auth = "Basic " + base64.b64encode(f"runbrief:{SECRET}".encode()).decode()
        r = httpx.post(f"{sp.url}/api/drains/heroku?app=myapp", content=body, timeout=30,
                       headers={"Content-Type": "application/logplex-1", "Authorization": auth,
                                "Logplex-Msg-Count": "2"})
        assert r.status_code == 200, r.text
        assert r.json()["logs"] == 2
        # `runbrief ingest FILE` while a server owns the store: the server detects the platform too
        summary = ingest_remote(sp.url, None, [str(DATA / "vercel" / "docs-format.json")])
        assert summary["logs"] == 2 and summary["files"][0]["format"] == "vercel:json"
        r = httpx.post(f"{sp.url}/api/op/services", json={}, timeout=30)
        names = {s["service"] for s in r.json()["services"]}
        assert {"myapp", "my-app"} <= names


def test_services_known_only_from_events(store: Store) -> None:
    Pipeline(store).write(Batch(events=[Event(ts_ns=1_700_000_000 * 10**9, reason="OOMKilled", type="Warning",
                                              object_kind="Pod", object_name="api-7d9f-abcde", service="api")]))
    assert "api" in {s["service"] for s in list_services(store)["services"]}
