"""`verify`: did the deploy meant to fix an incident fix it? Each verdict on an exact timeline.

Background and faults are filled as in test_incidents (pattern counts directly, events and
deploys through the real writers); every verdict's evidence must resolve, and the outcome
must land in memory.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from changes_fill import T0, Filler
from test_incidents import FAULT_AT, oom_after_deploy, pool_storm, quiet

from runbrief import ids, ops
from runbrief.cli import main
from runbrief.errors import NotFound
from runbrief.store.duck import Store


def _pool_incident(store: Store, filler: Filler, minutes: int = 10) -> str:
    quiet(filler)
    pool_storm(filler, "checkout", FAULT_AT, minutes=minutes)
    (inc,) = ops.run(store, "incidents", {})
    return inc["id"]


def _resolves(store: Store, out: dict) -> None:
    assert out["evidence"]
    for e in out["evidence"]:
        assert ids.exists(store, e), e


def _fixes(store: Store, inc: str) -> list[dict]:
    return ops.run(store, "incident", {"id": inc, "narrative": False})["fixes"]


def test_storm_that_stops_after_the_deploy_is_fixed_and_remembered(store: Store, filler: Filler) -> None:
    inc = _pool_incident(store, filler)
    dep = filler.deploy("checkout", FAULT_AT + timedelta(minutes=10, seconds=30), "1.4.3")
    out = ops.run(store, "verify", {"incident": inc})
    assert out["verdict"] == "fixed" and out["deploy"] == dep and out["id"] == inc
    assert dep in out["evidence"] and any(e.startswith(("pat_", "log_")) for e in out["evidence"])
    _resolves(store, out)
    (fix,) = _fixes(store, inc)
    assert fix["outcome"] == "worked" and dep in fix["fix"]
    assert ops.run(store, "incident", {"id": inc, "narrative": False})["status"] == "resolved"
    # verifying again records nothing twice
    ops.run(store, "verify", {"incident": inc})
    assert len(_fixes(store, inc)) == 1


def test_storm_that_goes_on_is_not_fixed(store: Store, filler: Filler) -> None:
    inc = _pool_incident(store, filler, minutes=40)
    dep = filler.deploy("checkout", FAULT_AT + timedelta(minutes=10, seconds=30), "1.4.3")
    out = ops.run(store, "verify", {"incident": inc, "deploy": dep})
    assert out["verdict"] == "not_fixed"
    assert any(s["state"] == "not_fixed" and s["after"]["count"] > 0 for s in out["symptoms"])
    _resolves(store, out)
    assert [f["outcome"] for f in _fixes(store, inc)] == ["failed"]


def test_fix_that_adds_a_new_error_regressed(store: Store, filler: Filler) -> None:
    inc = _pool_incident(store, filler)
    at = FAULT_AT + timedelta(minutes=10, seconds=30)
    dep = filler.deploy("checkout", at, "1.4.3")
    pid = filler.pattern("checkout-keyerror", "KeyError: 'cart_id' in checkout handler <*>", "ERROR")
    filler.series("checkout", pid, at + timedelta(minutes=2), 20, 30, errors=True)
    filler.flush()
    out = ops.run(store, "verify", {"incident": inc})
    assert out["verdict"] == "regressed"
    assert [n["pattern_id"] for n in out["new_errors"]] == [pid]
    assert f"pat_{pid}" in out["evidence"] and dep in out["evidence"]
    _resolves(store, out)
    assert [f["outcome"] for f in _fixes(store, inc)] == ["failed"]


def test_fix_with_little_traffic_yet_is_too_early_and_says_how_long(store: Store, filler: Filler) -> None:
    quiet(filler)
    end = T0 + timedelta(hours=4)
    oom_after_deploy(store, filler, end - timedelta(minutes=43))
    (inc,) = ops.run(store, "incidents", {})
    filler.deploy("checkout", end - timedelta(minutes=1), "1.4.3")
    out = ops.run(store, "verify", {"incident": inc["id"]})
    assert out["verdict"] == "too_early", out
    assert out["needed_minutes"] > 1 and "more minute" in out["text"]
    _resolves(store, out)
    assert _fixes(store, inc["id"]) == []  # nothing is known yet, nothing is recorded


def test_incident_without_a_later_deploy_says_what_to_do(store: Store, filler: Filler) -> None:
    inc = _pool_incident(store, filler)
    with pytest.raises(NotFound, match="deploy the fix and mark it"):
        ops.run(store, "verify", {"incident": inc})


def test_deploy_alone_judges_the_incidents_before_it(store: Store, filler: Filler) -> None:
    inc = _pool_incident(store, filler)
    dep = filler.deploy("checkout", FAULT_AT + timedelta(minutes=10, seconds=30), "1.4.3")
    out = ops.run(store, "verify", {"deploy": dep})
    assert out["verdict"] == "fixed" and [i["id"] for i in out["incidents"]] == [inc]


def test_cli_prints_the_verdict_and_json_is_the_op_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "st"
    with Store.open(path) as s:
        f = Filler(s)
        inc = _pool_incident(s, f)
        dep = f.deploy("checkout", FAULT_AT + timedelta(minutes=10, seconds=30), "1.4.3")
    assert main(["verify", "--deploy", dep, "--json", "--store", str(path)]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["verdict"] == "fixed" and out["incidents"][0]["id"] == inc
    assert main(["verify", "--incident", inc, "--store", str(path)]) == 0
    text = capsys.readouterr().out
    assert f"{inc} after {dep}: fixed" in text
    assert main(["verify", "--deploy", "dep_99", "--store", str(path)]) == 1
    assert "runbrief deploy list" in capsys.readouterr().err


def test_serve_job_resolves_a_fixed_incident_and_waits_on_a_young_deploy(store: Store, filler: Filler) -> None:
    from runbrief.analyze import verify as verify_mod
    from runbrief.server import background

    assert "verify" in {j.name for j in background.jobs()}
    quiet(filler)
    end = T0 + timedelta(hours=4)
    oom_after_deploy(store, filler, end - timedelta(minutes=43))
    pool_storm(filler, "payments", FAULT_AT)
    found = {i["service"]: i["id"] for i in ops.run(store, "incidents", {})}
    filler.deploy("payments", FAULT_AT + timedelta(minutes=10, seconds=30), "2.0.1")
    filler.deploy("checkout", end - timedelta(minutes=1), "1.4.3")
    judged = {r["id"]: r["verdict"] for r in verify_mod.auto_verify(store)}
    assert judged == {found["payments"]: "fixed", found["checkout"]: "too_early"}
    status = {i["id"]: i["status"] for i in ops.run(store, "incidents", {"all": True})}
    assert status == {found["payments"]: "resolved", found["checkout"]: "open"}
