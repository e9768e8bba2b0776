"""`runbrief ingest` on the command line: stdin, JSON output, exit codes, messages."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from typer.testing import CliRunner

from runbrief.cli import load_commands

from . import samples
from .conftest import LOGHUB

app = load_commands()


def test_stdin_with_service(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["ingest", "-", "--service", "payments", "--json", "--store", str(tmp_path / "s")],
                           input=samples.PYTHON_TRACEBACK)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["logs"] == 3 and out["files"][0]["name"] == "stdin" and out["files"][0]["service"] == "payments"
    r = CliRunner().invoke(app, ["logs", "--json", "--store", str(tmp_path / "s")])
    assert {row["service"] for row in json.loads(r.output)["logs"]} == {"payments"}


def test_human_summary_and_truncated_gzip_exit_code(tmp_path: Path) -> None:
    data = gzip.compress((LOGHUB / "Proxifier" / "Proxifier_2k.log").read_bytes())
    (tmp_path / "proxy.log.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "app.jsonl").write_text(samples.JSON_LINES)
    r = CliRunner().invoke(app, ["ingest", str(tmp_path / "proxy.log.gz"), str(tmp_path / "app.jsonl"),
                                 "--store", str(tmp_path / "s")])
    assert r.exit_code == 1
    assert "app.jsonl (json): 5 lines → 5 log records" in r.output
    assert "gzip file is truncated" in r.output and "were ingested" in r.output


def test_events_file_and_wrong_kubernetes_json(tmp_path: Path) -> None:
    (tmp_path / "events.json").write_text(samples.kubectl_events_list(samples.CORE_EVENTS))
    (tmp_path / "pods.json").write_text(samples.PODS_LIST)
    r = CliRunner().invoke(app, ["ingest", str(tmp_path / "events.json"), "--store", str(tmp_path / "s")])
    assert r.exit_code == 0 and "8 Kubernetes events" in r.output
    r = CliRunner().invoke(app, ["ingest", str(tmp_path / "pods.json"), "--store", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output  # pods are read for their status (issue 20): healthy, no events
    (tmp_path / "deploy.json").write_text('{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}')
    r = CliRunner().invoke(app, ["ingest", str(tmp_path / "deploy.json"), "--store", str(tmp_path / "s")])
    assert r.exit_code == 1 and "a Deployment (apps/v1), not events" in r.output


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    from runbrief.cli import main

    assert main(["ingest", str(tmp_path / "nope.log"), "--store", str(tmp_path / "s")]) == 2
