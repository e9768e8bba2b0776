"""Deploys: marked (op, CLI), listed, inferred from service.version changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from runbrief import ops
from runbrief.cli import load_commands
from runbrief.errors import UsageError
from runbrief.ingest.deploys import parse_at
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import LogRecord, Resource, Span
from runbrief.store.duck import Store

app = load_commands()

S = 10**9
T0 = 1714557600 * S  # 2024-05-01T10:00:00Z


def test_mark_returns_a_resolvable_id_and_unknown_service_appears(store: Store) -> None:
    out = ops.run(store, "deploy_mark", {"service": "ledger", "version": "2.0.1", "commit": "abc1234",
                                         "environment": "prod", "at": "2024-05-01T10:00:00Z"})
    assert out["id"].startswith("dep_")
    shown = ops.run(store, "show", {"id": out["id"]})
    assert (shown["service"], shown["version"], shown["commit"], shown["environment"], shown["source"]) == (
        "ledger", "2.0.1", "abc1234", "prod", "cli")
    assert shown["ts"] == "2024-05-01T10:00:00.000Z"
    services = ops.run(store, "services", {})["services"]
    assert [s["service"] for s in services] == ["ledger"] and services[0]["deploys"] == 1


def test_mark_validates(store: Store) -> None:
    with pytest.raises(UsageError, match="needs a version"):
        ops.run(store, "deploy_mark", {"service": "x", "version": " "})
    with pytest.raises(UsageError, match="neither a duration"):
        ops.run(store, "deploy_mark", {"service": "x", "version": "1", "at": "yesterday-ish"})


def test_list_filters_and_orders(store: Store) -> None:
    for svc, ver, at in (("a", "1", "2024-05-01T10:00:00Z"), ("b", "7", "2024-05-01T11:00:00Z"),
                         ("a", "2", "2024-05-01T12:00:00Z")):
        ops.run(store, "deploy_mark", {"service": svc, "version": ver, "at": at})
    got = ops.run(store, "deploys", {"service": "a"})["deploys"]
    assert [d["version"] for d in got] == ["2", "1"]
    assert len(ops.run(store, "deploys", {})["deploys"]) == 3


def test_parse_at_relative_and_epoch() -> None:
    import time

    assert abs(parse_at("10m") - (time.time_ns() - 600 * S)) < 5 * S
    assert parse_at(1714557600) == T0
    assert parse_at("1714557600000") == T0


def _logs(service: str, version: str, t: int, n: int = 3) -> Batch:
    res = Resource({"service.name": service, "service.version": version, "deployment.environment.name": "prod"})
    return Batch(logs=[LogRecord(ts_ns=t + i * S, body=f"tick {i}", resource=res) for i in range(n)])


def test_deploy_inferred_when_service_version_changes(store: Store) -> None:
    pipe = Pipeline(store)
    pipe.write(_logs("cart", "1.0.0", T0))
    assert store.scalar("SELECT count(*) FROM deploys") == 0  # first sight of a service is no deploy
    pipe.write(_logs("cart", "1.1.0", T0 + 600 * S))
    # rolling update: old and new pods interleave; the old version coming back is no deploy
    pipe.write(_logs("cart", "1.0.0", T0 + 610 * S))
    pipe.write(_logs("cart", "1.1.0", T0 + 620 * S))
    rows = store.query("SELECT * FROM deploys")
    assert len(rows) == 1
    d = rows[0]
    assert (d["service"], d["version"], d["source"], d["environment"]) == ("cart", "1.1.0", "inferred", "prod")
    assert str(d["ts"]) == "2024-05-01 10:10:00"
    assert '"previous_version":"1.0.0"' in d["attributes"]
    # a rollback: 1.0.0 back after being quiet for an hour
    pipe.write(_logs("cart", "1.0.0", T0 + 4 * 3600 * S))
    rows = store.query("SELECT version, attributes FROM deploys ORDER BY id")
    assert [r["version"] for r in rows] == ["1.1.0", "1.0.0"] and '"rollback":true' in rows[1]["attributes"]


def test_marked_deploy_is_not_inferred_again_and_state_survives_reopen(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    Pipeline(store).write(_logs("api", "5", T0))
    ops.run(store, "deploy_mark", {"service": "api", "version": "6", "at": "2024-05-01T10:05:00Z"})
    res = Resource({"service.name": "api", "service.version": "6"})
    Pipeline(store).write(Batch(spans=[Span(trace_id="a" * 32, span_id="b" * 16, name="GET /", start_ns=T0 + 400 * S,
                                            end_ns=T0 + 401 * S, resource=res)]))
    assert [r["source"] for r in store.query("SELECT source FROM deploys")] == ["cli"]
    store.close()
    # a new process rebuilds the known versions from the store, then infers from spans
    store = Store.open(tmp_path / "s")
    try:
        for v, (trace, t) in {"6": ("c", 500), "7": ("d", 900)}.items():
            r = Resource({"service.name": "api", "service.version": v})
            Pipeline(store).write(Batch(spans=[Span(trace_id=trace * 32, span_id="e" * 16, name="GET /",
                                                    start_ns=T0 + t * S, end_ns=T0 + t * S + S, resource=r)]))
        rows = store.query("SELECT version, source FROM deploys ORDER BY id")
        assert rows == [{"version": "6", "source": "cli"}, {"version": "7", "source": "inferred"}]
    finally:
        store.close()


def test_cli_deploy_mark_prints_the_id(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["deploy", "mark", "--service", "checkout", "--version", "1.4.2", "--commit", "9f2c1e0",
                            "--at", "2024-05-01T10:00:00Z", "--store", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "dep_1"
    r = runner.invoke(app, ["deploy", "list", "--json", "--store", str(tmp_path / "s")])
    assert r.exit_code == 0 and '"version": "1.4.2"' in r.output
    r = runner.invoke(app, ["deploy", "mark", "--service", "checkout", "--store", str(tmp_path / "s")])
    assert r.exit_code == 2  # --version is required


def test_a_marked_deploy_explains_the_version_change_it_caused(store: Store) -> None:
    """CI marks "v2.0.0" while the service reports "2.0.0": one deploy, not two."""
    pipe = Pipeline(store)
    pipe.write(_logs("search", "1.9.0", T0))
    ops.run(store, "deploy_mark", {"service": "search", "version": "v2.0.0", "at": "2024-05-01T10:20:00Z"})
    pipe.write(_logs("search", "2.0.0", T0 + 22 * 60 * S))
    assert [r["source"] for r in store.query("SELECT source FROM deploys")] == ["cli"]
    # the next change, with no mark, is inferred
    pipe.write(_logs("search", "2.0.1", T0 + 3 * 3600 * S))
    rows = store.query("SELECT version, source FROM deploys ORDER BY id")
    assert rows == [{"version": "v2.0.0", "source": "cli"}, {"version": "2.0.1", "source": "inferred"}]


# ---------------------------------------------------------------- GitHub webhooks, real payloads
GITHUB = Path(__file__).resolve().parents[1] / "data" / "github"  # octokit/webhooks payload-examples (MIT)
HOOK_SECRET = "It's a Secret to Everybody"


def _gh(name: str) -> dict:
    import json

    return json.loads((GITHUB / name).read_text())


@pytest.fixture
def hook(store: Store, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """POST a signed webhook to an in-process server, as GitHub's Hookshot sends it."""
    import hashlib
    import hmac
    import json

    from starlette.testclient import TestClient

    from runbrief.server.app import RunbriefServer, ServerConfig, build_app

    monkeypatch.setenv("RUNBRIEF_GITHUB_SECRET", HOOK_SECRET)
    server = RunbriefServer(store, ServerConfig(jobs=False))
    counter = iter(range(10**6))

    def send(event: str, payload: object, delivery: str | None = None, query: str = ""):  # type: ignore[no-untyped-def]
        body = json.dumps(payload).encode()
        sig = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or f"d-{next(counter)}",
                   "X-Hub-Signature-256": sig, "Content-Type": "application/json"}
        return client.post(f"/api/hooks/github{query}", content=body, headers=headers)

    try:
        with TestClient(build_app(server), base_url="http://127.0.0.1") as client:
            yield send
    finally:
        server.close()


def test_every_real_payload_example_is_answered_without_a_server_error(hook, store: Store) -> None:  # type: ignore[no-untyped-def]
    answers = {}
    for f in sorted(GITHUB.glob("*.json")):
        event = f.name.split("__")[1]
        r = hook(event, _gh(f.name))
        assert r.status_code < 500, (f.name, r.text)
        answers[f.name] = r.status_code
    # org- and app-level events carry no repository: acknowledged and ignored, never a 400
    for name in ("installation__created", "membership__added", "organization__member_added", "team__created"):
        r = hook(name.split("__")[0], _gh(f"api.github.com__{name}.payload.json"))
        assert r.status_code == 202 and "does not mark deploys" in r.json()["ignored"], r.text
    assert answers["api.github.com__deployment_status__payload.json"] == 201
    assert answers["ghes-34__deployment_status__payload.json"] == 201
    # the example workflow is "test.yml": not a deploy workflow
    assert answers["api.github.com__workflow_run__completed.payload.json"] == 202
    rows = store.query("SELECT service, version, commit FROM deploys ORDER BY id")
    assert rows == [{"service": "Hello-World", "version": "f95f852", "commit": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"},
                    {"service": "Hello-World", "version": "78a9609", "commit": "78a96099c3f442d7f6e8d1a7d07090091993e65a"}]


def test_a_redelivery_or_the_same_deployment_twice_makes_one_deploy(hook, store: Store) -> None:  # type: ignore[no-untyped-def]
    import json

    p = _gh("api.github.com__deployment_status__payload.json")
    first = hook("deployment_status", p, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert first.status_code == 201, first.text
    again = hook("deployment_status", p, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")  # "Redeliver"
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["id"] == first.json()["id"]
    # the same deployment through a second hook (new delivery ID, a later status update)
    later = json.loads(json.dumps(p))
    later["deployment_status"]["updated_at"] = "2019-05-15T15:30:00Z"
    assert hook("deployment_status", later).json()["id"] == first.json()["id"]
    # the same commit to the same environment, seen as a workflow run: still one deploy
    run = _gh("api.github.com__workflow_run__completed.payload.json")
    run["workflow_run"]["head_sha"] = p["deployment"]["sha"]
    r = hook("workflow_run", run, query="?workflows=*test*&environment=production&service=Hello-World")
    assert r.status_code == 200 and r.json()["duplicate"], r.text
    assert store.scalar("SELECT count(*) FROM deploys") == 1
    # a new deployment of another commit is a new deploy; going back to the first one is too
    other = json.loads(json.dumps(p))
    other["deployment"].update(id=2, sha="0" * 40)
    assert hook("deployment_status", other).status_code == 201
    back = json.loads(json.dumps(p))
    back["deployment"]["id"] = 3
    assert hook("deployment_status", back).status_code == 201
    assert store.scalar("SELECT count(*) FROM deploys") == 3


@pytest.mark.parametrize(("path", "value", "field"), [
    (("deployment", "payload"), {"service": 123}, "deployment.payload.service"),
    (("deployment", "payload"), {"version": ["1"]}, "deployment.payload.version"),
    (("deployment", "payload"), [1, 2], "deployment.payload"),
    (("deployment", "sha"), {"x": 1}, "deployment.sha"),
    (("deployment_status", "environment"), 7, "deployment_status.environment"),
    (("deployment_status", "state"), ["success"], "deployment_status.state"),
    (("deployment",), "oops", "deployment_status.deployment"),
    (("repository",), [], "deployment_status.repository"),
    (("repository", "name"), {"n": 1}, "repository.name"),
])
def test_wrong_types_are_a_400_naming_the_field(hook, path, value, field) -> None:  # type: ignore[no-untyped-def]
    p = _gh("api.github.com__deployment_status__payload.json")
    target = p
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    r = hook("deployment_status", p)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"], r.json()


def test_a_ref_is_the_version_only_when_it_is_a_tag(hook) -> None:  # type: ignore[no-untyped-def]
    from runbrief.ingest.deploys import version_from_ref

    assert version_from_ref("refs/tags/release-7") == "release-7"
    assert version_from_ref("v1.4.2") == "v1.4.2" and version_from_ref("2024.05.1") == "2024.05.1"
    for branch in ("feature/JIRA-123-login", "refs/heads/v2", "hotfix-2", "master", "main", "release/1.2"):
        assert version_from_ref(branch) == "", branch
    p = _gh("api.github.com__deployment_status__payload.json")
    p["deployment"]["ref"] = "feature/JIRA-123-login"
    assert hook("deployment_status", p).json()["deploy"]["version"] == "f95f852"
    p["deployment"].update(ref="refs/tags/v3.0.0", id=99, sha="1" * 40)
    assert hook("deployment_status", p).json()["deploy"]["version"] == "v3.0.0"
    # GitHub also sends the deployment payload as a JSON string
    p["deployment"].update(payload='{"service": "web", "version": "9"}', id=100, sha="2" * 40)
    d = hook("deployment_status", p).json()["deploy"]
    assert (d["service"], d["version"]) == ("web", "9")


def test_the_documented_set_up_works_on_a_reachable_server_with_a_token(store: Store,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/github-actions.md: --host 0.0.0.0 --token T plus RUNBRIEF_GITHUB_SECRET; GitHub sends no bearer."""
    import hashlib
    import hmac
    import json

    from starlette.testclient import TestClient

    from runbrief.server.app import RunbriefServer, ServerConfig, build_app

    token = "t0k3n-" + "x" * 26
    server = RunbriefServer(store, ServerConfig(jobs=False, token=token, host="0.0.0.0"))
    body = json.dumps(_gh("api.github.com__deployment_status__payload.json")).encode()
    headers = {"X-GitHub-Event": "deployment_status", "X-GitHub-Delivery": "a1", "Content-Type": "application/json",
               "Host": "runbrief.internal:4318"}
    sig = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    try:
        with TestClient(build_app(server), base_url="http://runbrief.internal:4318") as c:
            monkeypatch.delenv("RUNBRIEF_GITHUB_SECRET", raising=False)
            assert c.post("/api/hooks/github", content=body, headers={**headers, "X-Hub-Signature-256": sig}
                          ).status_code == 401  # no secret configured: the bearer token is wanted
            monkeypatch.setenv("RUNBRIEF_GITHUB_SECRET", HOOK_SECRET)
            assert c.post("/api/hooks/github", content=body, headers=headers).status_code == 401  # unsigned
            bad = "sha256=" + "0" * 64
            assert c.post("/api/hooks/github", content=body, headers={**headers, "X-Hub-Signature-256": bad}
                          ).status_code == 401
            r = c.post("/api/hooks/github", content=body, headers={**headers, "X-Hub-Signature-256": sig})
            assert r.status_code == 201, r.text
            # the signature opens the hook only: every other route still wants the bearer token
            assert c.post("/api/deploys", json={"service": "a", "version": "1"}, headers={"Host": headers["Host"],
                          "X-Hub-Signature-256": sig}).status_code == 401
    finally:
        server.close()
