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
