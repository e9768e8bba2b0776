"""Bad input on every drain: never a 500; a payload of no platform shape is a 400 naming the
shape; what is accepted is stored."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from starlette.testclient import TestClient

from runbrief.ingest.platforms import PLATFORMS

from ._util import TOKEN

rng = random.Random(20)
GARBAGE: list[bytes] = [
    b"", b"\x00\xff\xfe", b"{", b"[", b"null", b"[null]", b"123", b'"text"', b"[[[[[[[[[[]]]]]]]]]]",
    b'{"records": "x", "requestId": 1}', b'{"records": [{"data": 5}], "requestId": "r"}',
    b'{"records": [{"data": "H4sI"}], "requestId": "r"}', b'{"logEvents": 5, "logGroup": "g"}',
    b'{"logEvents": [null, 5, {"timestamp": "x", "message": {"a": 1}}], "logGroup": "/aws/lambda/f"}',
    b'{"awslogs": {"data": "%%%"}}', b'[{"event_message": null}]', b'[{"event_message": "x", "metadata": 5}]',
    b'{"ScriptName": 5, "Outcome": ["x"], "Logs": 7}', b'{"scriptName": "w", "outcome": "ok", "logs": [5, null]}',
    b'[{"source": "lambda", "projectId": 5, "timestamp": "soon", "message": ["a"]}]',
    b'{"type": "deployment.succeeded", "payload": {"deployment": 5}}',
    b'{"type": "DEPLOY", "deployment": {}, "project": {}}', b'{"message": "m", "timestamp": 1e300, "tags": {"serviceId": 1}}',
    b"5 <1>1", b"99999999 <13>1 x", b"12 <13>1 2020-01-01T00:00:00Z host app web.1 - hi\n" * 3,
    json.dumps({"a": [{"b": [{"c": 1}] * 3}] * 3}).encode(), gzip.compress(b"not json at all"),
    bytes(rng.getrandbits(8) for _ in range(2000)),
]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_garbage_never_breaks_a_drain(token_client: TestClient, platform: str) -> None:
    for body in GARBAGE:
        r = token_client.post(f"/api/drains/{platform}", content=body,
                              headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        assert r.status_code in (200, 400), (platform, body[:60], r.status_code, r.text[:300])
        if r.status_code == 400:
            err = r.json().get("error") or r.json().get("errorMessage")
            assert err and "expected" in err, (platform, body[:60], err)


def test_unknown_platform(token_client: TestClient) -> None:
    r = token_client.post("/api/drains/netlify", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 404 and "heroku" in r.json()["error"]
