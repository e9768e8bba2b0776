"""Vercel: drain JSON and NDJSON, signatures, the verify header, deployment webhooks."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from runbrief.store.duck import Store

from ._util import DATA, TOKEN, deploys, ingest, logs, services

V = DATA / "vercel"
SECRET = "vercel-drain-secret-abcdefghij"


def _sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def _check_docs_rows(store: Store) -> None:
    rows = logs(store)
    assert [r["body"] for r in rows] == ["Build completed successfully", "API request processed"]
    assert {r["service"] for r in rows} == {"my-app"}  # projectName, not the file's name
    build, lam = rows
    assert build["ts_ns"] == 1573817187330 * 10**6 and build["severity_text"] == "INFO"
    assert build["attributes"]["vercel.source"] == "build"
    assert build["resource"]["service.version"] == "dpl_233NRGRjVZX1caZrXWtz5g1TAksD"
    assert build["resource"]["cloud.provider"] == "vercel"
    assert lam["trace_id"] == "1b02cd14bb8642fd092bc23f54c7ffcd" and lam["span_id"] == "f24e8631bd11faa7"
    a = lam["attributes"]
    assert a["http.response.status_code"] == 200 and a["vercel.request_id"] == "643af4e3-975a-4cc7-9e7a-1eda11539d90"
    assert a["http.request.method"] == "GET" and a["cloud.region"] == "sfo1"
    assert lam["resource"]["faas.name"] == "api/index.js"
    assert lam["resource"]["deployment.environment.name"] == "production"
    assert "my-app" in services(store)


@pytest.mark.parametrize("name", ["docs-format.ndjson", "docs-format.json"])
def test_file(store: Store, name: str) -> None:
    summary = ingest(store, V / name)
    assert summary["files"][0]["format"] == "vercel:json" and summary["logs"] == 2
    _check_docs_rows(store)


def test_crash_and_request_records_and_bad_item(store: Store) -> None:
    summary = ingest(store, V / "handwritten-crash-and-deploy.json")
    assert summary["logs"] == 2 and summary["bad_lines"] == 1 and "not a Vercel log object" in summary["errors"][0]
    crash, static = logs(store)
    assert crash["severity_text"] == "ERROR" and crash["attributes"]["error.type"] == "vercel.no_response"
    assert "s3cretpassw0rd" not in crash["body"]  # redacted
    assert static["body"] == "GET /index.html 200" and static["attributes"]["vercel.cache"] == "HIT"
    assert {r["service"] for r in (crash, static)} == {"shop"}


def test_drain_signature(client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (V / "docs-format.json").read_bytes()
    r = client.post("/api/drains/vercel", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and "RUNBRIEF_VERCEL_DRAIN_SECRET" in r.json()["error"]
    monkeypatch.setenv("RUNBRIEF_VERCEL_DRAIN_SECRET", SECRET)
    monkeypatch.setenv("RUNBRIEF_VERCEL_VERIFY", "verify-token-from-vercel")
    r = client.post("/api/drains/vercel", content=body,
                    headers={"Content-Type": "application/json", "x-vercel-signature": _sign(body, "wrong")})
    assert r.status_code == 401 and "x-vercel-signature" in r.json()["error"]
    assert r.headers["x-vercel-verify"] == "verify-token-from-vercel"
    r = client.post("/api/drains/vercel", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    assert not logs(store)
    r = client.post("/api/drains/vercel", content=body,
                    headers={"Content-Type": "application/json", "x-vercel-signature": _sign(body)})
    assert r.status_code == 200, r.text
    assert r.json()["logs"] == 2 and r.headers["x-vercel-verify"] == "verify-token-from-vercel"
    _check_docs_rows(store)


def test_drain_ndjson_and_webhook(client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBRIEF_VERCEL_DRAIN_SECRET", SECRET)
    body = (V / "docs-format.ndjson").read_bytes() + b"{broken\n"
    r = client.post("/api/drains/vercel", content=body,
                    headers={"Content-Type": "application/x-ndjson", "x-vercel-signature": _sign(body)})
    assert r.status_code == 200 and r.json()["logs"] == 2 and r.json()["rejected"] == 1
    hook = (V / "webhook-deployment-succeeded.json").read_bytes()
    r = client.post("/api/drains/vercel", content=hook,
                    headers={"Content-Type": "application/json", "x-vercel-signature": _sign(hook)})
    assert r.status_code == 200 and r.json()["deploys"] == 1
    assert [(d["service"], d["version"], d["commit"], d["source"]) for d in deploys(store)] == [
        ("my-app", "dpl_abc123", "abc123", "vercel")]
    bad = b'{"hello": "world"}'
    r = client.post("/api/drains/vercel", content=bad,
                    headers={"Content-Type": "application/json", "x-vercel-signature": _sign(bad)})
    assert r.status_code == 400 and "Vercel log objects" in r.json()["error"]


def test_bearer_token_on_reachable_server(token_client: TestClient, store: Store) -> None:
    body = (V / "docs-format.json").read_bytes()
    r = token_client.post("/api/drains/vercel", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    r = token_client.post("/api/drains/vercel", content=body,
                          headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["logs"] == 2


def test_verify_get(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assert client.get("/api/drains/vercel").status_code == 404
    monkeypatch.setenv("RUNBRIEF_VERCEL_VERIFY", "abc123verify")
    r = client.get("/api/drains/vercel")
    assert r.status_code == 200 and r.headers["x-vercel-verify"] == "abc123verify"
    assert client.get("/api/drains/heroku").status_code == 405


def test_secret_from_runbrief_toml(client: TestClient, store: Store, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runbrief.toml").write_text(f'[drains.vercel]\nsecret = "{SECRET}"\nverify = "from-toml"\n')
    body = (V / "docs-format.json").read_bytes()
    r = client.post("/api/drains/vercel", content=body,
                    headers={"Content-Type": "application/json", "x-vercel-signature": _sign(body)})
    assert r.status_code == 200 and r.json()["logs"] == 2 and r.headers["x-vercel-verify"] == "from-toml"
    monkeypatch.setenv("RUNBRIEF_VERCEL_DRAIN_SECRET", "the-environment-wins-0123456789")
    r = client.post("/api/drains/vercel", content=body,
                    headers={"Content-Type": "application/json", "x-vercel-signature": _sign(body)})
    assert r.status_code == 401
