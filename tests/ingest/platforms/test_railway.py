"""Railway: `railway logs --json` files, the drain, project webhooks as deploys."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

from runbrief.store.duck import Store

from ._util import DATA, TOKEN, deploys, ingest, logs, services

R = DATA / "railway"
SECRET = "railway-drain-secret-0123456789ab"
LOGS = R / "railway-logs-json-handwritten.ndjson"


def _check(store: Store, service: str) -> None:
    rows = logs(store)
    assert [r["severity_text"] for r in rows] == ["INFO", "ERROR", "INFO", "INFO"]
    assert {r["service"] for r in rows} == {service}
    first = rows[0]
    assert first["ts_ns"] == 1738404000123456000  # the store keeps microseconds
    assert first["resource"]["service.version"] == "7d1a3c2e-0b4f-4e8a-9c6d-1f2e3a4b5c6d"
    assert first["resource"]["service.instance.id"] == "a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d"
    assert first["resource"]["railway.service.id"] == "4b879f5f-5e42-4804-a67c-2a1ff2475cb3"
    assert "level" not in first["attributes"]
    purchase = rows[2]["attributes"]
    assert purchase["productId"] == 123 and purchase["userId"] == 456 and "sk_live" not in str(purchase)
    assert rows[3]["attributes"]["productId"] == 124  # flattened attributes
    assert service in services(store)


def test_file(store: Store) -> None:
    summary = ingest(store, LOGS, service="api")
    assert summary["files"][0]["format"] == "railway:json" and summary["logs"] == 4
    _check(store, "api")


def test_webhook_file_is_a_deploy(store: Store) -> None:
    ingest(store, R / "webhook-deploy-docs.json")
    assert [(d["service"], d["version"], d["source"]) for d in deploys(store)] == [
        ("[project name]", "[deploy ID]", "railway")]
    assert "[project name]" in services(store)  # known only from its deploy


def test_drain(client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    body = LOGS.read_bytes() + b"[1, 2]\n"
    h = {"Content-Type": "application/x-ndjson"}
    assert client.post("/api/drains/railway?service=api", content=body, headers=h).status_code == 401
    monkeypatch.setenv("RUNBRIEF_RAILWAY_DRAIN_SECRET", SECRET)
    basic = "Basic " + base64.b64encode(f"railway:{SECRET}".encode()).decode()
    assert client.post("/api/drains/railway?service=api", content=body,
                       headers={**h, "Authorization": "Basic " + base64.b64encode(b"u:bad").decode()}).status_code == 401
    r = client.post("/api/drains/railway?service=api", content=body, headers={**h, "Authorization": basic})
    assert r.status_code == 200, r.text
    assert r.json()["logs"] == 4 and r.json()["rejected"] == 2
    _check(store, "api")
    crash = {"type": "DEPLOY", "timestamp": "2025-02-01T11:00:00.000Z", "status": "CRASHED",
             "project": {"id": "p1", "name": "shop"}, "environment": {"id": "e1", "name": "production"},
             "deployment": {"id": "dep-2", "meta": {}}}
    r = client.post("/api/drains/railway", json=crash, headers={"X-Runbrief-Secret": SECRET})
    assert r.status_code == 200 and r.json()["deploys"] == 1 and r.json()["logs"] == 1
    d = deploys(store)[-1]
    assert (d["service"], d["version"]) == ("shop", "dep-2")
    err = logs(store)[-1]
    assert err["severity_text"] == "ERROR" and err["attributes"]["error.type"] == "railway.deployment_crashed"


def test_bearer(token_client: TestClient, store: Store) -> None:
    r = token_client.post("/api/drains/railway?service=api", content=LOGS.read_bytes(),
                          headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["logs"] == 4
