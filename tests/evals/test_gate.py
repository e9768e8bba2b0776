"""The gate end to end through the CLI: a real budget violation fails it (exit 1, JUnit XML
with evidence), the fixed program passes it (exit 0), and bad configs or evaluators are
reported precisely (exit 2) while the other checks still run."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from evals_otel import Recorder, genai_agent, genai_chat, genai_tool

from runbrief import ids, ops
from runbrief.cli import main
from runbrief.store.duck import Store

CONFIG = """\
[prices]
"house-model" = [1.0, 4.0]

[gate]
since = "1h"

[[gate.check]]
name = "startup is fast"
assert = 'span("startup").duration < 800ms'

[[gate.check]]
evaluator = "token_budget"
max_per_trace = 20000

[[gate.check]]
evaluator = "cost_budget"
max_total = 0.03

[[gate.check]]
evaluator = "no_loops"

[[gate.check]]
evaluator = "error_free"
"""


def agent_program(rec: Recorder, run_id: str, *, trim_history: bool, startup_ms: float) -> None:
    """A small agent: each step sends the conversation so far to the model. Without trimming
    the prompt grows with every step, which is the budget violation the gate must catch."""
    history = 800
    with rec.span("startup", at=0, ms=startup_ms):
        pass
    with rec.span("invoke_agent support", genai_agent("support", f"{run_id}-conv"), at=startup_ms, ms=9000):
        for step in range(6):
            prompt = min(history, 2000) if trim_history else history
            with rec.span("chat house-model", genai_chat("house-model", prompt, 300),
                          at=startup_ms + 10 + step * 1000, ms=400):
                pass
            with rec.span("execute_tool kb_search", genai_tool("kb_search", {"q": f"topic {step}"}),
                          at=startup_ms + 500 + step * 1000, ms=60):
                pass
            history += 300 + 900 * (step + 1)  # answer + tool result appended to the history


def _recorder(run_id: str) -> Recorder:
    return Recorder("support-bot", **{"test.run.id": run_id})


def _gate(tmp_path: Path, store: Path, *args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["gate", "--store", str(store), *args])
    return code, out.getvalue(), err.getvalue()


def test_gate_fails_on_budget_violation_then_passes_once_fixed(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    cfg = tmp_path / "runbrief.toml"
    cfg.write_text(CONFIG)
    s = Store.open(store_dir)
    rec = _recorder("run-1")
    agent_program(rec, "run-1", trim_history=False, startup_ms=1200)
    rec.write(s)
    s.close()

    junit = tmp_path / "out" / "gate.xml"
    code, out, _ = _gate(tmp_path, store_dir, "--config", str(cfg), "--resource", "test.run.id=run-1",
                         "--junit", str(junit), "--json")
    result = json.loads(out)
    assert code == 1 and result["status"] == "fail" and result["exit_code"] == 1
    by = {c["name"]: c for c in result["checks"]}
    assert by["startup is fast"]["status"] == "fail"
    assert "worst 1200" in by["startup is fast"]["detail"]
    assert by["token_budget"]["status"] == "fail"
    assert by["token_budget"]["evidence"][0].startswith("trc_")
    assert by["no_loops"]["status"] == "pass" and by["error_free"]["status"] == "pass"
    with Store.open(store_dir) as s:
        for c in result["checks"]:
            for e in c["evidence"]:
                assert ids.exists(s, e), e
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "5" and suite.get("failures") == "3"
    failure = suite.find("testcase[@name='startup is fast']/failure")
    assert failure is not None and "spn_" in failure.text

    # The fix: trim the history and start faster. A new run, gated on its own ID.
    with Store.open(store_dir) as s:
        rec = _recorder("run-2")
        agent_program(rec, "run-2", trim_history=True, startup_ms=600)
        rec.write(s)
    code, out, _ = _gate(tmp_path, store_dir, "--config", str(cfg), "--resource", "test.run.id=run-2")
    assert code == 0, out
    assert "gate PASS" in out
    with Store.open(store_dir) as s:
        runs = s.query("SELECT status FROM eval_runs WHERE kind = 'gate' ORDER BY ts")
        assert [r["status"] for r in runs] == ["fail", "pass"]


@pytest.mark.parametrize(("text", "line", "key"), [
    ('[gate]\nsince = "1h"\n[[gate.check]]\nevaluator = "latency"\nroute = "/cart"\np95_ms = "fast"\n', 6,
     "gate.check[0].p95_ms"),
    ('[gate]\n[[gate.check]]\nassert = "errors() == 0"\n[[gate.check]]\nevaluator = "latency"\nroute = "/x"\n'
     'p95ms = 3\n', 7, "gate.check[1].p95ms"),
    ('[gate]\nsince = 1h\n', 2, "since"),
    ('[prices]\n"gpt-4o" = "cheap"\n[gate]\n[[gate.check]]\nevaluator = "error_free"\n', 2, "prices.gpt-4o"),
    ('[gate]\n[[gate.check]]\nassert = "span(\\"x\\").duration <"\n', 3, "gate.check[0].assert"),
])
def test_malformed_config_names_file_line_and_key(tmp_path: Path, text: str, line: int, key: str) -> None:
    cfg = tmp_path / "runbrief.toml"
    cfg.write_text(text)
    Store.open(tmp_path / "store").close()
    code, out, err = _gate(tmp_path, tmp_path / "store", "--config", str(cfg))
    assert code == 2, out + err
    assert f"{cfg}:{line}" in err and key.split(".")[-1] in err, err


def test_unknown_and_broken_evaluators_do_not_stop_the_others(tmp_path: Path, store: Store, rec: Recorder) -> None:
    agent_program(rec, "r", trim_history=True, startup_ms=100)
    rec.write(store)
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "mine.py").write_text(
        "def polite(ctx):\n    return {'passed': len(ctx.calls) > 0, 'score': 0.9, 'detail': 'fine',\n"
        "            'evidence': [c['id'] for c in ctx.calls[:1]]}\n"
        "def broken(ctx):\n    return 1 / 0\n")
    (tmp_path / "syntaxerr.py").write_text("def f(:\n")
    cfg = tmp_path / "runbrief.toml"
    cfg.write_text('[gate]\nsince = "1h"\n'
                   '[[gate.check]]\nevaluator = "no_such_evaluator"\n'
                   '[[gate.check]]\nevaluator = "checks/mine.py:broken"\n'
                   '[[gate.check]]\nevaluator = "syntaxerr.py:f"\n'
                   '[[gate.check]]\nevaluator = "checks/mine.py:polite"\n'
                   '[[gate.check]]\nevaluator = "error_free"\n')
    result = ops.run(store, "gate", {"config": str(cfg)})
    status = {c["name"]: c["status"] for c in result["checks"]}
    assert status == {"no_such_evaluator": "error", "checks/mine.py:broken": "error", "syntaxerr.py:f": "error",
                      "checks/mine.py:polite": "pass", "error_free": "pass"}
    errors = {c["name"]: c["error"] for c in result["checks"]}
    assert "unknown evaluator 'no_such_evaluator'" in errors["no_such_evaluator"]
    assert "ZeroDivisionError" in errors["checks/mine.py:broken"] and "mine.py:5" in errors["checks/mine.py:broken"]
    assert "SyntaxError" in errors["syntaxerr.py:f"]
    assert result["exit_code"] == 2 and result["status"] == "error"


def test_custom_evaluators_from_module_and_entry_point(tmp_path: Path, store: Store, rec: Recorder,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    agent_program(rec, "r", trim_history=True, startup_ms=100)
    rec.write(store)
    (tmp_path / "proj_evals").mkdir()
    (tmp_path / "proj_evals" / "__init__.py").write_text(
        "def tool_calls(ctx):\n    return float(sum(c['kind'] == 'tool' for c in ctx.calls))\n")
    # A real installed distribution's entry point: a .dist-info on sys.path.
    site = tmp_path / "site"
    dist = site / "acme_evals-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-evals\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[runbrief.evaluators]\nacme_short = acme_evals_mod:short\n")
    (site / "acme_evals_mod.py").write_text("def short(ctx):\n    return all(t['duration_ms'] < 100 for t in ctx.traces)\n")
    monkeypatch.syspath_prepend(str(site))
    cfg = tmp_path / "runbrief.toml"
    cfg.write_text('[gate]\nsince = "1h"\n[[gate.check]]\nevaluator = "proj_evals:tool_calls"\nmin = 6\nmax = 6\n'
                   '[[gate.check]]\nevaluator = "acme_short"\n')
    result = ops.run(store, "gate", {"config": str(cfg)})
    by = {c["name"]: c for c in result["checks"]}
    assert by["proj_evals:tool_calls"]["status"] == "pass" and by["proj_evals:tool_calls"]["score"] == 6.0
    assert by["acme_short"]["status"] == "fail"  # the agent run is 9 s long
    assert "proj_evals" not in sys.modules or str(tmp_path) not in sys.path


def test_eval_scores_each_trace_and_stores_them(store: Store, rec: Recorder) -> None:
    for i, ms in enumerate((300, 1500)):
        with rec.span("startup", at=i * 10_000, ms=ms):
            pass
        with rec.span("chat", genai_chat("gpt-4o", 100, 10), at=i * 10_000 + ms, ms=50):
            pass
    rec.write(store)
    result = ops.run(store, "eval", {"since": "1h", "assertions": ['span("startup").duration < 800ms'],
                                     "evaluators": ["error_free", "token_budget:max_per_trace=1000"]})
    assert result["status"] == "fail" and result["traces"] == 4
    startup = next(c for c in result["checks"] if c["evaluator"] == "assert")
    # Two of the four traces have no startup span: nothing to judge there, they are skipped.
    assert (startup["traces_passed"], startup["traces_failed"], startup["traces_skipped"]) == (1, 1, 2)
    failing = [s for s in result["scores"] if s["evaluator"] == "assert" and s["status"] == "fail"]
    tid = next(s["trace_id"] for s in failing if "worst 1500" in s["detail"])
    stored = ops.run(store, "eval_scores", {"trace_id": tid})["scores"]
    assert {(s["name"], s["status"]) for s in stored if s["trace_id"] == tid} == {
        ('span("startup").duration < 800ms', "fail"), ("error_free", "pass"),
        ("token_budget:max_per_trace=1000", "pass")}


def test_plan_adherence_uses_the_trace_comparison(tmp_path: Path, store: Store, rec: Recorder) -> None:
    with rec.span("GET /profile", {"http.route": "/profile", "http.request.method": "GET"}, ms=120,
                  kind=__import__("opentelemetry.trace").trace.SpanKind.SERVER):
        with rec.span("load_user", {"code.function": "load_user"}, at=5, ms=30):
            pass
        with rec.span("render_profile", {"code.function": "render_profile"}, at=40, ms=20):
            pass
    rec.write(store)
    plan = tmp_path / "plan.md"
    plan.write_text("# Profile\n\n1. Handle `GET /profile`\n2. Call `load_user`\n3. Call `render_profile`\n"
                    "4. Write an audit row with `write_audit`\n")
    result = ops.run(store, "eval", {"since": "1h", "plan": str(plan)})
    check = result["checks"][0]
    assert check["evaluator"] == "plan_adherence" and check["status"] == "fail", check
    assert "1 missing" in result["scores"][0]["detail"] and "write_audit" in result["scores"][0]["detail"]
    plan.write_text("# Profile\n\n1. Handle `GET /profile`\n2. Call `load_user`\n3. Call `render_profile`\n")
    result = ops.run(store, "eval", {"since": "1h", "plan": str(plan)})
    assert result["checks"][0]["status"] == "pass", result["checks"][0]
