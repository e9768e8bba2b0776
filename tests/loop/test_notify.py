"""Notifications: real HTTP receivers on loopback, a real store, the real config parser.

An incident opens and a fix is verified (the exact timelines of test_verify); each
[[notify]] target gets one Slack Block Kit message or one generic JSON message per event,
never twice (the outbox is in the store and survives reopening it), retried with backoff
when the receiver fails, held back by the rate limit; the webhook URL's secret never
reaches the log. `runbrief serve` delivers from its background loop.
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from changes_fill import Filler
from test_incidents import FAULT_AT, pool_storm, quiet

from runbrief import ids, ops
from runbrief.evals.config import ConfigError
from runbrief.notify import outbox
from runbrief.notify.config import load_targets, redact_url
from runbrief.store.duck import Store

SECRET = "XXsecretTOKENxx"


class Receiver:
    """An HTTP server in a thread that records each POST and fails the first ``fail`` of each path."""

    def __init__(self, fail: int = 0) -> None:
        self.got: list[tuple[str, Any]] = []
        self.tries: dict[str, int] = {}
        self.fail = fail
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0]
                outer.tries[path] = outer.tries.get(path, 0) + 1
                if outer.tries[path] <= outer.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                outer.got.append((path, json.loads(body)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def config(tmp: Path, url: str, extra: str = "") -> Path:
    p = tmp / "runbrief.toml"
    p.write_text(f'''# team notifications
[[notify]]
kind = "slack"
url = "{url}/services/T0001/B0002/{SECRET}"
backoff_s = 0.01
web_url = "https://runbrief.example.com"
{extra}
[[notify]]
kind = "webhook"
url = "{url}/hook?key={SECRET}"
events = ["opened", "fixed"]
backoff_s = 0.01
{extra}''')
    return p


def incident_then_fixed(store: Store, filler: Filler) -> tuple[str, str]:
    quiet(filler)
    pool_storm(filler, "checkout", FAULT_AT, minutes=10)
    (inc,) = ops.run(store, "incidents", {})
    dep = filler.deploy("checkout", FAULT_AT + timedelta(minutes=10, seconds=30), "1.4.3")
    assert ops.run(store, "verify", {"incident": inc["id"]})["verdict"] == "fixed"
    return inc["id"], dep


def test_opened_and_fixed_reach_slack_and_the_webhook_once(store: Store, filler: Filler, receiver: Receiver,
                                                           tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    inc, dep = incident_then_fixed(store, filler)
    targets = load_targets(config(tmp_path, receiver.url))
    caplog.set_level(logging.INFO, logger="runbrief.notify")
    assert outbox.run(store, targets)["sent"] == 4
    by = {(path, body.get("event") or body["blocks"][0]["text"]["text"].split(":")[0]): body
          for path, body in receiver.got}
    assert set(by) == {(f"/services/T0001/B0002/{SECRET}", "Incident opened"),
                       (f"/services/T0001/B0002/{SECRET}", "Verified fixed"), ("/hook", "opened"), ("/hook", "fixed")}
    slack = by[(f"/services/T0001/B0002/{SECRET}", "Verified fixed")]
    assert [b["type"] for b in slack["blocks"]][:2] == ["header", "section"]
    assert slack["blocks"][-1]["elements"][0]["url"] == f"https://runbrief.example.com/incidents/{inc}"
    text = json.dumps(slack)
    assert inc in text and dep in text and "fixed" in slack["blocks"][1]["text"]["text"]
    hook = by[("/hook", "opened")]
    assert hook["incident"]["id"] == inc and hook["claims"] and hook["link"].endswith(f"/incidents/{inc}")
    for e in hook["evidence"]:
        assert ids.exists(store, e), e
    assert by[("/hook", "fixed")]["verify"] == {"verdict": "fixed", "deploy": dep,
                                                 "text": "every symptom's rate fell significantly after the deploy"}
    # the same incident and event are not sent twice, within a process or after reopening the store
    assert outbox.run(store, targets) == {"queued": 0, "sent": 0, "failed": 0, "waiting": 0}
    assert len(receiver.got) == 4
    assert SECRET not in caplog.text and "sent" in caplog.text


def test_dedup_survives_reopening_the_store(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "st"
    with Store.open(path) as s:
        incident_then_fixed(s, Filler(s))
        targets = load_targets(config(tmp_path, receiver.url))
        outbox.run(s, targets)
    with Store.open(path) as s:
        assert outbox.run(s, targets)["queued"] == 0
        assert {e["state"] for e in outbox.entries(s)} == {"sent"}
    assert len(receiver.got) == 4


def test_a_receiver_failing_twice_gets_it_on_the_third_try(store: Store, filler: Filler, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    quiet(filler)
    pool_storm(filler, "checkout", FAULT_AT, minutes=10)
    ops.run(store, "incidents", {})
    flaky = Receiver(fail=2)
    try:
        (slack, _) = load_targets(config(tmp_path, flaky.url))
        t0 = time.monotonic()
        caplog.set_level(logging.INFO, logger="runbrief.notify")
        assert outbox.run(store, [slack])["sent"] == 1
        assert time.monotonic() - t0 >= 0.01 + 0.02  # backoff 0.01 s, then 0.02 s
        assert flaky.tries[f"/services/T0001/B0002/{SECRET}"] == 3 and len(flaky.got) == 1
        (entry,) = outbox.entries(store)
        assert entry["state"] == "sent" and entry["attempts"] == 3
        assert caplog.text.count("failed (HTTP 500)") == 2 and SECRET not in caplog.text
        assert "http://127.0.0.1" in caplog.text and "/services/***" in caplog.text
    finally:
        flaky.close()


def test_a_dead_receiver_is_retried_later_then_given_up(store: Store, filler: Filler, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    quiet(filler)
    pool_storm(filler, "checkout", FAULT_AT, minutes=10)
    ops.run(store, "incidents", {})
    dead = Receiver(fail=100)
    try:
        (slack, _) = load_targets(config(tmp_path, dead.url, "max_attempts = 3\n"))
        slow = type(slack)(**{**slack.__dict__, "backoff_s": 5.0})  # the next wait is past this pass
        assert outbox.run(store, [slow])["waiting"] == 1
        (entry,) = outbox.entries(store)
        assert entry["state"] == "pending" and entry["attempts"] == 1 and entry["next_at"] > time.time() + 4
        monkeypatch.setattr(outbox, "_now", lambda: time.time() + 10)
        outbox.run(store, [slack])  # ten seconds later, with short waits: tries until max_attempts
        (entry,) = outbox.entries(store)
        assert entry["state"] == "failed" and entry["attempts"] == 3 and entry["error"] == "HTTP 500"
    finally:
        dead.close()


def test_rate_limit_holds_the_rest_for_later(store: Store, filler: Filler, receiver: Receiver, tmp_path: Path) -> None:
    incident_then_fixed(store, filler)
    (slack, _) = load_targets(config(tmp_path, receiver.url, "max_per_minute = 1\n"))
    assert outbox.run(store, [slack]) == {"queued": 2, "sent": 1, "failed": 0, "waiting": 1}
    assert len(receiver.got) == 1
    assert sorted(e["state"] for e in outbox.entries(store)) == ["pending", "sent"]


@pytest.mark.parametrize(("text", "where"), [
    ('[[notify]]\nkind = "slack"\nurl = "ftp://x/y"\n', ":3: notify[0].url: expected an http(s) URL"),
    ('[[notify]]\nkind = "email"\nurl = "https://x/y"\n', ":2: notify[0].kind: expected one of slack, webhook"),
    ('[[notify]]\nkind = "webhook"\nurl = "https://x/y"\n\n[[notify]]\nkind = "slack"\nurl = "https://x/z"\n'
     'evnts = ["fixed"]\n', ":8: notify[1].evnts: unknown key"),
    ('[[notify]]\nkind = "webhook"\nurl = "https://x/y"\nevents = ["closed"]\n', ":4: notify[0].events: expected"),
    ('[[notify]]\nkind = "webhook"\nurl = "https://x/y"\nmax_per_minute = 0\n', ":4: notify[0].max_per_minute"),
    ('[[notify]]\nkind = "webhook"\nurl = https://x\n', ":3: key 'url': invalid TOML"),
])
def test_config_errors_name_the_file_the_line_and_the_key(tmp_path: Path, text: str, where: str) -> None:
    p = tmp_path / "runbrief.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_targets(p)
    assert str(err.value).startswith(str(p.resolve()) + where) or (str(p) + where) in str(err.value), str(err.value)


def test_redact_url_keeps_only_scheme_host_and_first_segment() -> None:
    assert redact_url(f"https://hooks.slack.com/services/T0/B0/{SECRET}") == "https://hooks.slack.com/services/***"
    assert SECRET not in redact_url(f"https://user:{SECRET}@example.com/hook?k={SECRET}")


def test_slack_text_from_telemetry_cannot_ping_or_link() -> None:
    from runbrief.notify.messages import slack

    ev = {"event": "opened", "key": "k", "evidence": ["pat_1"], "link": "http://127.0.0.1:4318/incidents/inc_1",
          "incident": {"id": "inc_1", "title": "t", "service": "s", "status": "open"},
          "claims": [{"text": "<!channel> see <https://evil.example|here> & password=hunter2", "evidence": ["pat_1"]}]}
    body = json.dumps(slack(ev))
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body and "<https://evil" not in body
    assert "hunter2" not in body


def test_serve_delivers_from_its_background_loop(tmp_path: Path, receiver: Receiver) -> None:
    from runbrief.testing import ServerProcess

    path = tmp_path / "served"
    with Store.open(path) as s:
        quiet(Filler(s))
        pool_storm(Filler(s), "checkout", FAULT_AT, minutes=10)
        (inc,) = ops.run(s, "incidents", {})
    cfg = config(tmp_path, receiver.url)
    env = {"RUNBRIEF_NOTIFY_CONFIG": str(cfg), "RUNBRIEF_NOTIFY_INTERVAL": "0.2"}
    with ServerProcess(path, grpc=False, jobs=True, env=env):
        deadline = time.monotonic() + 20
        while len(receiver.got) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert sorted(p for p, _ in receiver.got) == ["/hook", f"/services/T0001/B0002/{SECRET}"]
    assert all(inc["id"] in json.dumps(b) for _, b in receiver.got)


def test_notify_check_lists_targets_redacted_and_names_a_bad_key(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from runbrief.cli import main

    cfg = config(tmp_path, "https://hooks.slack.com")
    assert main(["notify", "check", "--config", str(cfg), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [t["kind"] for t in out["targets"]] == ["slack", "webhook"]
    assert SECRET not in json.dumps(out) and out["targets"][0]["url"] == "https://hooks.slack.com/services/***"
    cfg.write_text('[[notify]]\nkind = "slack"\nurl = "hooks.slack.com/x"\n')
    assert main(["notify", "check", "--config", str(cfg)]) == 2
    assert f"{cfg.resolve()}:3: notify[0].url: expected an http(s) URL" in capsys.readouterr().err
