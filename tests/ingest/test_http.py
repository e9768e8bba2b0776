"""HTTP: POST /api/deploys, GitHub webhooks (real HMAC), POST /api/ingest; in process over
ASGI and against a real `runbrief serve` on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from runbrief.cli import load_commands
from runbrief.ingest._file_sources import ingest_remote
from runbrief.server.app import RunbriefServer, ServerConfig, build_app
from runbrief.store.duck import Store
from runbrief.testing import ServerProcess

from . import samples
from .conftest import LOGHUB

cli_app = load_commands()

SECRET = "It's a Secret to Everybody"


OCTETS = {"Content-Type": "application/octet-stream"}
JSON = {"Content-Type": "application/json"}


def _sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    server = RunbriefServer(store, ServerConfig(jobs=False))
    try:
        with TestClient(build_app(server), base_url="http://127.0.0.1") as c:
            yield c
    finally:
        server.close()


def test_post_deploy(client: TestClient, store: Store) -> None:
    r = client.post("/api/deploys", json={"service": "checkout", "version": "1.4.2", "commit": samples.SHA,
                                          "environment": "prod", "at": "2024-05-01T10:00:00Z"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == "dep_1" and body["deploy"]["source"] == "api" and body["deploy"]["version"] == "1.4.2"
    assert client.post("/api/deploys", content=b"{not json", headers=JSON).status_code == 400
    r = client.post("/api/deploys", json={"service": "checkout"})
    assert r.status_code == 400 and "version" in r.json()["error"]
    r = client.post("/api/deploys", json={"service": "a", "version": "1", "sha": "x"})
    assert r.status_code == 400 and "sha" in r.json()["error"]


def _hook(client: TestClient, event: str, payload: object, *, secret: str | None = SECRET,
          query: str = "") -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
               "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/044aadd"}
    if secret:
        headers["X-Hub-Signature-256"] = _sign(body, secret)
    return client.post(f"/api/hooks/github{query}", content=body, headers=headers)


def test_github_deployment_status_signed(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBRIEF_GITHUB_SECRET", SECRET)
    r = _hook(client, "deployment_status", samples.DEPLOYMENT_STATUS)
    assert r.status_code == 201, r.text
    d = r.json()["deploy"]
    assert (d["service"], d["version"], d["commit"], d["environment"], d["source"]) == (
        "checkout", "v1.4.2", samples.SHA, "production", "github")
    assert d["ts"] == "2024-05-01T10:00:00.000Z" and d["attributes"]["github.repository"] == "acme/shop-checkout"
    # bad signature, missing signature: 401 and nothing stored
    assert _hook(client, "deployment_status", samples.DEPLOYMENT_STATUS, secret="wrong").status_code == 401
    assert _hook(client, "deployment_status", samples.DEPLOYMENT_STATUS, secret=None).status_code == 401
    # malformed: 400 naming what is missing
    broken = {k: v for k, v in samples.DEPLOYMENT_STATUS.items() if k != "deployment"}
    r = _hook(client, "deployment_status", broken)
    assert r.status_code == 400 and "deployment" in r.json()["error"]
    body = b"{truncated"
    r = client.post("/api/hooks/github", content=body,
                    headers={"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": _sign(body), **JSON})
    assert r.status_code == 400 and "not JSON" in r.json()["error"]
    # not a success yet: acknowledged, ignored with the reason
    pending = json.loads(json.dumps(samples.DEPLOYMENT_STATUS))
    pending["deployment_status"]["state"] = "in_progress"
    r = _hook(client, "deployment_status", pending)
    assert r.status_code == 202 and "in_progress" in r.json()["ignored"]
    assert _hook(client, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1}).status_code == 200
    assert client.post("/api/op/deploys", json={}).json()["deploys"][0]["source"] == "github"
    assert len(client.post("/api/op/deploys", json={}).json()["deploys"]) == 1


def test_github_workflow_run_and_form_encoding(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNBRIEF_GITHUB_SECRET", raising=False)
    r = _hook(client, "workflow_run", samples.WORKFLOW_RUN, secret=None, query="?environment=prod")
    assert r.status_code == 201, r.text
    d = r.json()["deploy"]
    assert (d["service"], d["version"], d["commit"], d["environment"]) == (
        "shop-checkout", samples.SHA[:7], samples.SHA, "prod")
    assert d["attributes"]["github.workflow"] == "Deploy to production"
    ci = json.loads(json.dumps(samples.WORKFLOW_RUN))
    ci["workflow_run"]["name"] = ci["workflow"]["name"] = "CI"
    ci["workflow_run"]["path"] = ".github/workflows/ci.yml"
    r = _hook(client, "workflow_run", ci, secret=None)
    assert r.status_code == 202 and "does not match" in r.json()["ignored"]
    running = dict(samples.WORKFLOW_RUN, action="in_progress")
    assert _hook(client, "workflow_run", running, secret=None).status_code == 202
    # GitHub's "application/x-www-form-urlencoded" content type: payload=<json>. A web page
    # can send a form too, so it is taken only signed (a secret configured), never bare.
    form = urlencode({"payload": json.dumps(samples.DEPLOYMENT_STATUS)})
    form_headers = {"X-GitHub-Event": "deployment_status", "Content-Type": "application/x-www-form-urlencoded"}
    r = client.post("/api/hooks/github?service=cart", content=form, headers=form_headers)
    assert r.status_code == 415 and "secret" in r.json()["error"]
    monkeypatch.setenv("RUNBRIEF_GITHUB_SECRET", SECRET)
    r = client.post("/api/hooks/github?service=cart", content=form,
                    headers={**form_headers, "X-Hub-Signature-256": _sign(form.encode())})
    assert r.status_code == 201 and r.json()["deploy"]["service"] == "cart"
    monkeypatch.delenv("RUNBRIEF_GITHUB_SECRET")
    assert _hook(client, "push", {"ref": "refs/heads/main", "repository": {"name": "x"}},
                 secret=None).status_code == 202


def test_ingest_stream_in_process(client: TestClient, store: Store) -> None:
    raw = (LOGHUB / "HDFS" / "HDFS_2k.log").read_bytes()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(raw), 65536):
            yield raw[i : i + 65536]

    r = client.post("/api/ingest?name=hdfs.log&service=hdfs", content=chunks(), headers=OCTETS)
    assert r.status_code == 200, r.text
    assert r.json()["logs"] == 2000 and r.json()["format"].startswith("text")
    r = client.post("/api/ingest?name=spark.log", content=gzip.compress((LOGHUB / "Spark" / "Spark_2k.log").read_bytes()),
                    headers={**OCTETS, "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json()["logs"] == 2000 and r.json()["service"] == "spark"
    assert store.query("SELECT service, count(*) n FROM logs GROUP BY ALL ORDER BY 1") == [
        {"service": "hdfs", "n": 2000}, {"service": "spark", "n": 2000}]
    # pods are read for their status (issue 20); a Deployment is no events and says so
    r = client.post("/api/ingest?name=pods.json", content=samples.PODS_LIST.encode(), headers=OCTETS)
    assert r.status_code == 200 and r.json()["errors"] == []
    deployment = b'{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "checkout"}}'
    r = client.post("/api/ingest?name=deploy.json", content=deployment, headers=OCTETS)
    assert r.status_code == 400 and "a Deployment" in r.json()["error"]
    assert client.post("/api/ingest?format=yaml", content=b"x", headers=OCTETS).status_code == 400


def test_real_server_cli_and_hooks(tmp_path: Path) -> None:
    env = {"RUNBRIEF_GITHUB_SECRET": SECRET}
    with ServerProcess(tmp_path / "served", jobs=False, grpc=False, env=env) as sp:
        store_arg = str(tmp_path / "served")
        runner = CliRunner()
        # the CLI finds the server through the store folder and asks it
        r = runner.invoke(cli_app, ["deploy", "mark", "--service", "ledger", "--version", "3.1.0",
                                    "--store", store_arg])
        assert r.exit_code == 0, r.output
        assert r.stdout.strip() == "dep_1"  # stdout: the answer alone (the page link goes to stderr)
        events = tmp_path / "events.json"
        events.write_text(samples.kubectl_events_list(samples.CORE_EVENTS))
        result = ingest_remote(sp.url, None, [str(events)])
        assert result["events"] == len(samples.CORE_EVENTS) and result["errors"] == []
        # `runbrief ingest FILE` streams to the server that holds the store
        (tmp_path / "hdfs.log.gz").write_bytes(gzip.compress((LOGHUB / "HDFS" / "HDFS_2k.log").read_bytes()))
        r = runner.invoke(cli_app, ["ingest", str(tmp_path / "hdfs.log.gz"), "--json", "--store", store_arg])
        assert r.exit_code == 0, r.output
        out = json.loads(r.output)
        assert out["logs"] == 2000 and out["via"] == sp.url
        r = runner.invoke(cli_app, ["logs", "--service", "hdfs", "--contains", "blk_38865049064139660", "--json",
                                    "--store", store_arg])
        hits = json.loads(r.output)["logs"]
        assert any(h["body"] == "PacketResponder 1 for block blk_38865049064139660 terminating" for h in hits)
        assert all(h["pattern_id"] for h in hits)  # distilled on the server
        body = json.dumps(samples.DEPLOYMENT_STATUS).encode()
        hdrs = {"X-GitHub-Event": "deployment_status", "Content-Type": "application/json"}
        bad = httpx.post(f"{sp.url}/api/hooks/github", content=body,
                         headers={**hdrs, "X-Hub-Signature-256": _sign(body, "nope")})
        assert bad.status_code == 401
        ok = httpx.post(f"{sp.url}/api/hooks/github", content=body,
                        headers={**hdrs, "X-Hub-Signature-256": _sign(body)})
        assert ok.status_code == 201 and ok.json()["id"] == "dep_2"
        r = runner.invoke(cli_app, ["stats", "--json", "--store", store_arg])
        stats = json.loads(r.output)
        assert stats["deploys"] == 2 and stats["events"] == len(samples.CORE_EVENTS) and stats["logs"] == 2000
