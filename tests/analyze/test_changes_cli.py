"""`runbrief changes` on the command line and over HTTP (`/api/op/changes`), on a real store."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import pytest
import test_changes as tc
from changes_fill import Filler

from runbrief.cli import main
from runbrief.store.duck import Store
from runbrief.testing import ServerProcess


def _make_store(path: Path) -> dict[str, str]:
    with Store.open(path) as s:
        f = Filler(s)
        p = tc._checkout(f, random.Random(11))
        p["dep"] = f.deploy("checkout", tc.DEPLOY_AT, version="v2.4.1")
        f.event("checkout", tc.DEPLOY_AT + timedelta(minutes=4), "OOMKilled", object_name="pod/checkout-7f9-x1")
    return p


def test_cli_json_is_the_op_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _make_store(tmp_path / "st")
    code = main(["changes", "--service", "checkout", "--since-deploy", "--json", "--store", str(tmp_path / "st")])
    assert code == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["deploy"]["evidence_id"] == p["dep"]
    kinds = {i["kind"] for i in out["items"]}
    assert kinds == {"new", "rate_up", "rate_down", "stopped", "error_share", "k8s_event"}
    assert all(i["evidence_id"] for i in out["items"])


def test_cli_human_output_ranked_with_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _make_store(tmp_path / "st")
    code = main(["changes", "-s", "checkout", "--deploy", p["dep"], "--baseline", "3h", "--store", str(tmp_path / "st")])
    assert code == 0
    out = capsys.readouterr().out
    assert f"changes since deploy {p['dep']} v2.4.1" in out
    assert "baseline: 180 min" in out
    lines = [ln for ln in out.splitlines() if ln[:3].strip().rstrip(".").isdigit()]
    assert lines[0].split()[1] == "new" and f"pat_{p['new']}" in lines[0]
    assert any("k8s_event" in ln and "evt_" in ln for ln in lines)
    assert "NullPointerException in CartService.total" in out


def test_cli_errors_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _make_store(tmp_path / "st")
    assert main(["changes", "--deploy", "dep_77", "--store", str(tmp_path / "st")]) == 1
    assert "no deploy with ID dep_77" in capsys.readouterr().err
    assert main(["changes", "--since", "1h", "--since-deploy", "--store", str(tmp_path / "st")]) == 2
    assert "choose one of" in capsys.readouterr().err


def test_http_op_changes(tmp_path: Path) -> None:
    p = _make_store(tmp_path / "served")
    with ServerProcess(tmp_path / "served", grpc=False, jobs=False) as sp:
        got = httpx.get(f"{sp.url}/api/op/changes", params={"service": "checkout", "since_deploy": "true"},
                        timeout=30).json()
        posted = httpx.post(f"{sp.url}/api/op/changes", json={"deploy": p["dep"], "limit": 3}, timeout=30)
        bad = httpx.post(f"{sp.url}/api/op/changes", json={"deploy": "dep_x"}, timeout=30)
    assert got["deploy"]["evidence_id"] == p["dep"] and len(got["items"]) == 6
    assert posted.status_code == 200 and len(posted.json()["items"]) == 3
    assert bad.status_code == 400 and "not a deploy ID" in bad.text
