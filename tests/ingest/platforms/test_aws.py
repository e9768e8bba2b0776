"""AWS: CloudWatch Logs subscriptions (files, Lambda's awslogs event, Firehose HTTP endpoint
requests with the access key), `aws logs` output, Lambda START/END/REPORT and failure lines."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from starlette.testclient import TestClient

from runbrief.store.duck import Store

from ._util import DATA, TOKEN, ingest, logs, services

A = DATA / "aws"
KEY = "firehose-access-key-0123456789abcdef"
RID = "ed4acda5-034f-9f42-bba1-f29aea6d7d8f"


def _firehose(*payloads: bytes) -> bytes:
    return json.dumps({"requestId": RID, "timestamp": 1578090901599,
                       "records": [{"data": base64.b64encode(p).decode()} for p in payloads]}).encode()


def _headers(key: str | None = KEY) -> dict[str, str]:
    h = {"Content-Type": "application/json", "X-Amz-Firehose-Protocol-Version": "1.0",
         "X-Amz-Firehose-Request-Id": RID,
         "X-Amz-Firehose-Source-Arn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/runbrief"}
    if key:
        h["X-Amz-Firehose-Access-Key"] = key
    return h


def test_subscription_from_the_lambda_docs(store: Store) -> None:
    summary = ingest(store, A / "subscription-decoded-lambda-docs.json")
    assert summary["files"][0]["format"] == "aws:json" and summary["logs"] == 1
    (r,) = logs(store)
    assert r["service"] == "echo-nodejs" and r["ts_ns"] == 1552518348220 * 10**6
    a = r["attributes"]
    assert a["faas.invocation_id"] == "6234bffe-149a-b642-81ff-2e8e376d8aff"
    assert (a["aws.lambda.duration_ms"], a["aws.lambda.billed_duration_ms"], a["aws.lambda.memory_size_mb"],
            a["aws.lambda.max_memory_used_mb"]) == (46.84, 47.0, 192.0, 72.0)
    res = r["resource"]
    assert res["faas.name"] == "echo-nodejs" and res["cloud.provider"] == "aws" and res["cloud.account.id"] == "123456789012"
    assert res["cloud.platform"] == "aws_lambda" and res["service.instance.id"].endswith("94fa867e5374431291a7fc14e2f56ae7")
    assert "service.version" not in res  # $LATEST says nothing about a deploy
    assert "echo-nodejs" in services(store)


def test_awslogs_event_base64_gzip(store: Store) -> None:
    ingest(store, A / "awslogs-event-aws-lambda-go.json")
    rows = logs(store)
    assert [(r["service"], r["severity_text"], r["body"]) for r in rows] == [
        ("testLogGroup", "ERROR", "[ERROR] First test message"), ("testLogGroup", "ERROR", "[ERROR] Second test message")]
    assert rows[1]["ts_ns"] == 1440442987001 * 10**6


@pytest.mark.parametrize(("name", "n"), [("filter-log-events-aws-cli.json", 2), ("get-log-events-aws-cli.json", 3)])
def test_aws_logs_cli_output(store: Store, name: str, n: int) -> None:
    summary = ingest(store, A / name, service="demo")
    assert summary["logs"] == n
    rows = logs(store)
    assert {r["service"] for r in rows} == {"demo"} and rows[0]["body"] in ("Test MESSAGE1", "Example Event 1")
    assert rows[0]["ts_ns"] in (1712567843827 * 10**6, 1433190184356 * 10**6)
    if n == 2:
        assert rows[1]["resource"]["cloud.platform"] == "aws_lambda"  # a Lambda stream name


def test_lambda_text_lines(store: Store) -> None:
    summary = ingest(store, A / "lambda-python-docs.log", service="my-function")
    assert summary["files"][0]["format"] == "aws:text" and summary["logs"] == 9
    rows = logs(store)
    rid = "8f507cfc-xmpl-4697-b07a-ac58fc914c95"
    assert all(r["attributes"].get("faas.invocation_id") == rid for r in rows[:8])
    report = rows[7]["attributes"]
    assert report["aws.lambda.init_duration_ms"] == 130.49 and report["faas.coldstart"] is True
    assert report["aws.lambda.billed_duration_ms"] == 16.0


def test_lambda_failures_are_errors(store: Store) -> None:
    summary = ingest(store, A / "handwritten-lambda-failures.json")
    assert summary["logs"] == 10 and summary["bad_lines"] == 1
    rows = logs(store)
    types = {r["attributes"].get("error.type") for r in rows if r["severity_text"] == "ERROR"}
    assert types == {"Runtime.ImportModuleError", "lambda.init_error", None, "lambda.timeout", "lambda.runtime_exited"}
    report = next(r for r in rows if r["body"].startswith("REPORT"))
    assert report["attributes"]["aws.lambda.status"] == "timeout" and report["severity_text"] == "ERROR"
    structured = next(r for r in rows if r["body"] == "payment provider refused")
    assert structured["attributes"]["faas.invocation_id"] == "5f2b9c1e-8a4d-4c3b-9e1f-0a1b2c3d4e5f"
    assert "correct-horse-battery" not in json.dumps(structured["attributes"])
    assert structured["resource"]["service.version"] == "7"  # a published version: deploys are seen
    platform = next(r for r in rows if r["body"].startswith("platform.report"))
    assert platform["attributes"]["aws.lambda.duration_ms"] == 12.5 and platform["severity_text"] == "INFO"


def test_firehose_endpoint(client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = (A / "handwritten-lambda-failures.json").read_bytes()
    body = _firehose(gzip.compress(sub), (A / "subscription-decoded-lambda-docs.json").read_bytes())
    r = client.post("/api/drains/aws", content=body, headers=_headers())
    assert r.status_code == 401 and r.json()["requestId"] == RID and "RUNBRIEF_AWS_DRAIN_SECRET" in r.json()["errorMessage"]
    monkeypatch.setenv("RUNBRIEF_AWS_DRAIN_SECRET", KEY)
    r = client.post("/api/drains/aws", content=body, headers=_headers("wrong-key"))
    assert r.status_code == 401 and "X-Amz-Firehose-Access-Key" in r.json()["errorMessage"]
    assert not logs(store)
    r = client.post("/api/drains/aws", content=body, headers=_headers())
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == {"requestId", "timestamp"}  # exactly what Firehose reads
    assert out["requestId"] == RID and isinstance(out["timestamp"], int)
    assert r.headers["x-runbrief-logs"] == "11" and r.headers["x-runbrief-rejected"] == "1"
    assert services(store) >= {"orders", "echo-nodejs"}
    # gzip body (Firehose's Content-Encoding option) and a record that is not base64
    bad = json.dumps({"requestId": RID, "timestamp": 1, "records": [{"data": "!!!"}, {"data": base64.b64encode(
        b"plain message line").decode()}]}).encode()
    r = client.post("/api/drains/aws?service=edge", content=gzip.compress(bad),
                    headers={**_headers(), "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["x-runbrief-logs"] == "1" and r.headers["x-runbrief-rejected"] == "1"
    assert logs(store)[-1]["service"] == "edge"
    r = client.post("/api/drains/aws", content=b'{"hello": 1}', headers=_headers())
    assert r.status_code == 400 and "Firehose" in r.json()["errorMessage"] and r.json()["requestId"] == RID


def test_firehose_bearer(token_client: TestClient, store: Store) -> None:
    body = _firehose(gzip.compress((A / "subscription-decoded-lambda-docs.json").read_bytes()))
    assert token_client.post("/api/drains/aws", content=body, headers=_headers()).status_code == 401
    r = token_client.post("/api/drains/aws", content=body, headers={**_headers(None), "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.headers["x-runbrief-logs"] == "1"
