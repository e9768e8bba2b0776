"""Supabase: Logs Explorer exports and copied rows, the drain; RLS denials as a signal."""

from __future__ import annotations

import gzip
import json

import pytest
from starlette.testclient import TestClient

from runbrief.store.duck import Store

from ._util import DATA, TOKEN, ingest, logs, services

S = DATA / "supabase"
SECRET = "supabase-drain-secret-0123456789"
EXPORT = S / "logs-export-handwritten.json"


def test_copied_rows(store: Store) -> None:
    summary = ingest(store, S / "explorer-copied-rows.json", service="shop-db")
    assert summary["files"][0]["format"] == "supabase:json" and summary["logs"] == 2
    rls, denied = logs(store)
    assert rls["attributes"]["error.type"] == "postgres.rls_denied" and rls["severity_text"] == "ERROR"
    assert rls["attributes"]["db.user"] == "supabase_storage_admin"
    assert denied["attributes"]["error.type"] == "postgres.permission_denied"
    assert str(denied["ts"]) == "2025-12-26 11:37:02"
    assert services(store) == {"shop-db"}


def _check_export(store: Store, service: str) -> None:
    rows = logs(store)
    assert len(rows) == 6 and {r["service"] for r in rows} == {service}
    conn, rls, dup, api, auth, fn = rows
    assert conn["severity_text"] == "INFO" and conn["ts_ns"] == 1735214222000000 * 1000
    assert rls["attributes"]["error.type"] == "postgres.rls_denied"
    assert rls["attributes"]["db.query.text"].startswith("insert into orders")
    assert dup["attributes"]["error.type"] == "postgres.23505"
    assert api["severity_text"] == "ERROR" and api["attributes"]["http.response.status_code"] == 500
    assert api["attributes"]["url.path"] == "/rest/v1/orders"
    assert auth["body"] == "invalid JWT" and auth["severity_text"] == "ERROR"
    assert fn["resource"]["faas.name"] == "send-receipt" and fn["attributes"]["error.type"] == "supabase.UncaughtException"
    assert not any("eyJhbGci" in json.dumps(r["attributes"]) + r["body"] for r in rows)


def test_export_file(store: Store) -> None:
    summary = ingest(store, EXPORT)
    assert summary["bad_lines"] == 1 and "event_message" in summary["errors"][0]
    _check_export(store, "abcdefghijklmnopqrst")  # the project ref


def test_drain(client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    body = gzip.compress(EXPORT.read_bytes())
    h = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    r = client.post("/api/drains/supabase", content=body, headers=h)
    assert r.status_code == 401 and "RUNBRIEF_SUPABASE_DRAIN_SECRET" in r.json()["error"]
    monkeypatch.setenv("RUNBRIEF_SUPABASE_DRAIN_SECRET", SECRET)
    assert client.post("/api/drains/supabase", content=body, headers={**h, "X-Runbrief-Secret": "x"}).status_code == 401
    r = client.post("/api/drains/supabase?service=shop", content=body, headers={**h, "X-Runbrief-Secret": SECRET})
    assert r.status_code == 200, r.text
    assert r.json()["logs"] == 6 and r.json()["rejected"] == 1
    _check_export(store, "shop")
    r = client.post("/api/drains/supabase", content=b'[{"msg": "x"}]', headers={**h, "Content-Encoding": "identity",
                                                                             "X-Runbrief-Secret": SECRET})
    assert r.status_code == 400 and "event_message" in r.json()["error"]


def test_bearer(token_client: TestClient, store: Store) -> None:
    r = token_client.post("/api/drains/supabase", content=EXPORT.read_bytes(),
                          headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["logs"] == 6
