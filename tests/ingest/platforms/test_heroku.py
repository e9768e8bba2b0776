"""Heroku: logplex drain bodies and `heroku logs` lines, from files and on /api/drains/heroku."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

from runbrief.ingest.platforms import heroku
from runbrief.store.duck import Store

from ._util import DATA, TOKEN, deploys, ingest, logs, services

H = DATA / "heroku"
SECRET = "heroku-drain-secret-0123456789"
LOGPLEX = {"Content-Type": "application/logplex-1", "Logplex-Msg-Count": "2",
           "Logplex-Drain-Token": "d.73ea7440-270a-435a-a0ea-adf50b4e5f5a", "User-Agent": "Logplex/v72"}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_frames_follow_octet_counts_and_survive_miscounts() -> None:
    body = (H / "devcenter-https-drain.logplex").read_bytes()
    got = list(heroku.frames(body))
    assert len(got) == 2 and got[0].endswith(b"State changed from starting to up")
    assert got[1].endswith(b"-p 24405`")
    # a sender whose counts are off by some bytes: frames still end where the next starts
    wrong = b"89 <45>1 2023-04-10T17:12:02.000-07:00 host heroku web.1 - State changed from down to up\n" * 3
    assert [f.decode()[-2:] for f in heroku.frames(wrong)] == ["up"] * 3


def test_router_h12_from_heroku_logs_file(store: Store) -> None:
    summary = ingest(store, H / "devcenter-h12.log", service="myapp")
    assert summary["files"][0]["format"] == "heroku:text" and summary["logs"] == 5
    rows = logs(store)
    router = next(r for r in rows if "H12" in r["body"])
    a = router["attributes"]
    assert router["severity_text"] == "ERROR" and router["service"] == "myapp"
    assert a["error.type"] == "H12" and a["http.response.status_code"] == 503
    assert a["heroku.router.service_ms"] == 30001 and a["http.server.request.duration"] == pytest.approx(30.001)
    assert a["url.path"] == "/" and a["http.request.method"] == "GET"
    assert router["resource"]["service.instance.id"] == "web.1" and router["resource"]["cloud.provider"] == "heroku"
    app = rows[0]
    assert app["body"].startswith("Processing PostController#list") and app["resource"]["service.instance.id"] == "web.2"
    # -07:00 converted: 21:51:07 PDT is 04:51:07 UTC the next day
    assert str(app["ts"]) == "2010-10-07 04:51:07"


def test_release_is_a_deploy_and_crashes_are_errors(store: Store) -> None:
    ingest(store, H / "release-handwritten.log", service="shop")
    d = deploys(store)
    assert [(x["service"], x["version"], x["commit"], x["source"]) for x in d] == [("shop", "v51", "de63889", "heroku")]
    rows = logs(store)
    levels = {r["body"]: r["severity_text"] for r in rows}
    assert levels["State changed from starting to crashed"] == "ERROR"
    assert levels["Process exited with status 1"] == "ERROR"
    assert levels["Error R14 (Memory quota exceeded)"] == "ERROR"
    assert levels["State changed from up to starting"] == "INFO"
    boot = next(r for r in rows if r["body"] == "boot failed")
    assert boot["severity_text"] == "ERROR" and boot["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert "hunter2" not in str(boot["attributes"])  # redacted before it was stored
    assert "shop" in services(store)


def test_drain_basic_auth(client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (H / "devcenter-https-drain.logplex").read_bytes()
    r = client.post("/api/drains/heroku?app=myapp", content=body, headers=LOGPLEX)
    assert r.status_code == 401 and "RUNBRIEF_HEROKU_DRAIN_SECRET" in r.json()["error"]
    monkeypatch.setenv("RUNBRIEF_HEROKU_DRAIN_SECRET", SECRET)
    r = client.post("/api/drains/heroku?app=myapp", content=body,
                    headers={**LOGPLEX, "Authorization": _basic("runbrief", "wrong-secret")})
    assert r.status_code == 401
    assert not logs(store)
    r = client.post("/api/drains/heroku?app=myapp", content=body,
                    headers={**LOGPLEX, "Authorization": _basic("runbrief", SECRET)})
    assert r.status_code == 200, r.text
    assert r.json()["logs"] == 2 and r.json()["rejected"] == 0
    rows = logs(store)
    assert {r["service"] for r in rows} == {"myapp"}
    assert rows[0]["attributes"]["heroku.drain_token"] == "d.73ea7440-270a-435a-a0ea-adf50b4e5f5a"
    assert rows[0]["resource"]["service.instance.id"] == "web.3"
    assert str(rows[0]["ts"]) == "2012-11-30 06:45:29"
    assert "myapp" in services(store)


def test_drain_bad_frame_does_not_sink_the_batch(client: TestClient, store: Store,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBRIEF_HEROKU_DRAIN_SECRET", SECRET)
    good = (H / "eauc-sample0.logplex").read_bytes()
    body = good + b"\n12 not syslog\n"
    r = client.post("/api/drains/heroku?app=api", content=body,
                    headers={**LOGPLEX, "Authorization": _basic("u", SECRET)})
    assert r.status_code == 200, r.text
    assert r.json()["logs"] == 4 and r.json()["rejected"] == 1 and "syslog" in r.json()["errors"][0]
    assert "Logplex-Msg-Count says 2" in r.json()["errors"][-1]  # 5 frames came
    router = logs(store)[0]
    assert router["attributes"]["http.response.status_code"] == 200
    r = client.post("/api/drains/heroku?app=api", content=b"hello there", headers={
        **LOGPLEX, "Authorization": _basic("u", SECRET)})
    assert r.status_code == 400 and "logplex-1" in r.json()["error"]


def test_drain_on_reachable_server_takes_basic_or_bearer(token_client: TestClient, store: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    body = (H / "devcenter-https-drain.logplex").read_bytes()
    r = token_client.post("/api/drains/heroku?app=a", content=body, headers=LOGPLEX)
    assert r.status_code == 401 and "--token" in r.json()["error"]
    r = token_client.post("/api/drains/heroku?app=a", content=body,
                          headers={**LOGPLEX, "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["logs"] == 2
    monkeypatch.setenv("RUNBRIEF_HEROKU_DRAIN_SECRET", SECRET)
    r = token_client.post("/api/drains/heroku?app=a", content=body,
                          headers={**LOGPLEX, "Authorization": _basic("user", SECRET)})
    assert r.status_code == 200
    # other routes still need the bearer token
    assert token_client.post("/api/deploys", json={"service": "a", "version": "1"},
                             headers={"Authorization": _basic("user", SECRET)}).status_code == 401
