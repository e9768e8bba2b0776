"""Cloudflare Workers: wrangler tail JSON and Logpush trace events, files and the drain."""

from __future__ import annotations

import gzip

import pytest
from starlette.testclient import TestClient

from runbrief.store.duck import Store

from ._util import DATA, TOKEN, ingest, logs, services

C = DATA / "cloudflare"
SECRET = "cloudflare-logpush-secret-0123456"
LOGPUSH = C / "logpush-workers-trace-events-handwritten.ndjson"


def test_wrangler_tail_file(store: Store) -> None:
    summary = ingest(store, C / "wrangler-tail-captures.json")
    assert summary["files"][0]["format"] == "cloudflare:json" and summary["logs"] == 4
    ws, ws_inv, exc, inv = logs(store)
    assert ws["service"] == "creative-agent" and ws["severity_text"] == "INFO"
    assert ws["ts_ns"] == 1773391598637 * 10**6 and ws["body"].startswith("WS closed")
    assert ws["resource"]["service.version"] == "b09935b0-4d5b-401f-8065-99e487bcf23c"
    assert ws["resource"]["service.instance.id"].startswith("128551638c7c")
    assert exc["severity_text"] == "ERROR" and exc["body"].startswith("Error: Worker exceeded CPU time limit.")
    assert exc["attributes"]["error.type"] == "Error"
    assert inv["severity_text"] == "ERROR" and inv["attributes"]["error.type"] == "cloudflare.exception"
    assert inv["attributes"]["http.response.status_code"] == 503
    assert inv["attributes"]["cloudflare.ray_id"] == "9e6e557c4953f25f"
    assert "identityId" not in inv["body"] and inv["attributes"]["url.full"].endswith("game-113e0b8273e45851d105b1b25b0700943e36")
    assert services(store) >= {"creative-agent", "pages-worker--11205377-production"}


def _check_logpush(store: Store) -> None:
    rows = logs(store)
    assert len(rows) == 7
    by_body = {r["body"]: r for r in rows}
    assert by_body["retrying payment"]["severity_text"] == "WARN"
    failed = by_body['checkout failed {"cart":"c_9","status":500}']
    assert failed["severity_text"] == "ERROR" and failed["ts_ns"] == 1725870050039 * 10**6
    cron = next(r for r in rows if r["service"] == "orders-cron")
    assert cron["attributes"]["error.type"] == "cloudflare.exceededCpu" and cron["severity_text"] == "ERROR"
    assert not any("sk_live" in r["body"] or "sk_live" in str(r["attributes"]) for r in rows)


def test_logpush_file_with_a_broken_line(store: Store) -> None:
    summary = ingest(store, LOGPUSH)
    assert summary["bad_lines"] == 1
    _check_logpush(store)


def test_logpush_drain(client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    body = gzip.compress(LOGPUSH.read_bytes())
    # Logpush sends text/plain unless told otherwise; the drain takes it (its secret guards it),
    # and gzip it recognizes even when no Content-Encoding says so
    h = {"Content-Type": "text/plain; charset=utf-8"}
    r = client.post("/api/drains/cloudflare", content=body, headers=h)
    assert r.status_code == 401 and "RUNBRIEF_CLOUDFLARE_DRAIN_SECRET" in r.json()["error"]
    monkeypatch.setenv("RUNBRIEF_CLOUDFLARE_DRAIN_SECRET", SECRET)
    assert client.post("/api/drains/cloudflare", content=body,
                       headers={**h, "X-Runbrief-Secret": "nope"}).status_code == 401
    r = client.post("/api/drains/cloudflare", content=body, headers={**h, "X-Runbrief-Secret": SECRET})
    assert r.status_code == 200, r.text
    assert r.json()["logs"] == 7 and r.json()["rejected"] == 1
    _check_logpush(store)
    r = client.post("/api/drains/cloudflare", content=b'{"content":"tests"}',
                    headers={"Content-Type": "application/json", "X-Runbrief-Secret": SECRET})
    assert r.status_code == 200 and r.json()["logs"] == 0
    r = client.post("/api/drains/cloudflare", content=b'{"ClientIP":"1.2.3.4"}',
                    headers={"Content-Type": "application/json", "X-Runbrief-Secret": SECRET})
    assert r.status_code == 400 and "Workers Trace Events" in r.json()["error"]


def test_logpush_bearer(token_client: TestClient, store: Store) -> None:
    body = LOGPUSH.read_bytes()
    h = {"Content-Type": "application/json"}
    assert token_client.post("/api/drains/cloudflare", content=body, headers=h).status_code == 401
    r = token_client.post("/api/drains/cloudflare", content=body, headers={**h, "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["logs"] == 7
