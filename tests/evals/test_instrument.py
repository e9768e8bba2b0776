"""``runbrief.instrument()`` in a real app process exporting to a real ``runbrief serve`` on
127.0.0.1: traces (with the GenAI helpers and an installed instrumentation), metrics, and
logs from ``logging`` arrive; a tiny queue under a burst loses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from runbrief.client import call
from runbrief.testing import ServerProcess

APP = textwrap.dedent("""
    import json, logging, sqlite3, sys
    import runbrief
    from runbrief.instrument import agent_step, model_call, tool_call

    burst = int(sys.argv[1])
    rb = runbrief.instrument(service="shop-agent", version="1.2.0", max_queue_size=int(sys.argv[2]))
    log = logging.getLogger("shop")

    @tool_call("lookup")
    def lookup(sku: str) -> str:
        con = sqlite3.connect(":memory:")          # traced by the sqlite3 instrumentation
        con.cursor().execute("SELECT ?", (sku,)).fetchall()
        return sku

    with agent_step("planner", conversation_id="conv-x"):
        with model_call("gpt-4o", provider="openai") as c:
            c.usage(120, 30)
            c.response(model="gpt-4o-2024-08-06", finish_reasons=["stop"])
        lookup("A1")
        try:
            with tool_call("pay", arguments={"amount": 5}):
                raise ValueError("card declined")
        except ValueError:
            log.exception("payment failed")
    log.warning("checkout done for %s", "A1")
    tracer = rb.tracer
    for i in range(burst):
        with tracer.start_as_current_span("burst"):
            pass
    rb.shutdown()
    print(json.dumps({"instrumentations": rb.instrumentations, "endpoint": rb.endpoint}))
""")


def _run_app(tmp_path: Path, env: dict[str, str], burst: int = 0, queue: int = 65536) -> dict[str, Any]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBRIEF_", "OTEL_"))}
    proc = subprocess.run([sys.executable, str(app), str(burst), str(queue)], env={**base, **env},
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "dropping" not in proc.stderr.lower(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _wait(fn: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_instrument_exports_traces_metrics_and_logs(tmp_path: Path, server: ServerProcess) -> None:
    # The address comes from the server.json that `runbrief serve` wrote beside its store.
    info = _run_app(tmp_path, {"RUNBRIEF_STORE": str(server.store), "RUNBRIEF_RUN_ID": "ci-7"})
    assert info["endpoint"] == server.url
    assert "sqlite3" in info["instrumentations"]
    store = str(server.store)

    report = _wait(lambda: (r := call("agents", {}, store=store))["totals"]["tool_calls"] == 2 and r)
    assert report, call("agents", {}, store=store)
    model = report["models"][0]
    assert (model["model"], model["input_tokens"], model["output_tokens"]) == ("gpt-4o-2024-08-06", 120, 30)
    assert model["finish_reasons"] == {"stop": 1}
    tools = {t["tool"]: t for t in report["tools"]}
    assert tools["pay"]["errors"] == 1 and tools["lookup"]["errors"] == 0
    assert report["conversations"][0]["conversation"] == "conv-x"
    problems = call("agent_problems", {}, store=store)["problems"]
    assert [p["type"] for p in problems] == ["swallowed_tool_error"]

    # The decorator recorded the call's arguments; the sqlite3 instrumentation added its span.
    lookup_span = call("show", {"id": tools["lookup"]["span_ids"][0]}, store=store)
    assert json.loads(lookup_span["attributes"]["gen_ai.tool.call.arguments"]) == {"sku": "A1"}
    assert call("stats", {}, store=store)["spans"] == 5  # agent, model, 2 tools and sqlite's SELECT
    # The run ID is a resource attribute, so a gate can select exactly this run.
    run = call("agents", {"trace_ids": None, "service": "shop-agent"}, store=store)
    assert run["totals"]["model_calls"] == 1
    metrics = _wait(lambda: call("agents", {"group_by": ["model"]}, store=store)["metrics"])
    assert metrics and metrics[0]["input_tokens"] == 120 and metrics[0]["operations"] == 1

    # The gate through the server, selecting this run by its ID (RUNBRIEF_RUN_ID above).
    cfg = tmp_path / "runbrief.toml"
    cfg.write_text('[[gate.check]]\nevaluator = "tool_success_rate"\nmin = 0.5\n'
                   '[[gate.check]]\nevaluator = "error_free"\n')
    out = call("gate", {"config": str(cfg), "resource": ["test.run.id=ci-7"]}, store=store)
    assert (out["status"], out["traces"]) == ("fail", 1)
    assert [c["status"] for c in out["checks"]] == ["pass", "fail"]
    assert call("gate", {"config": str(cfg), "resource": ["test.run.id=other"]}, store=store)["traces"] == 0


def test_logging_is_bridged(tmp_path: Path, server: ServerProcess) -> None:
    pytest.importorskip("runbrief.distill.distiller", reason="log ingest needs the distiller (issue 3)")
    _run_app(tmp_path, {"RUNBRIEF_URL": server.url})
    store = str(server.store)
    logs = _wait(lambda: call("logs", {"contains": "payment failed"}, store=store)["logs"])
    assert logs and logs[0]["severity"] == "ERROR" and logs[0]["trace_id"] and logs[0]["span_id"]
    assert call("logs", {"contains": "checkout done for A1"}, store=store)["logs"]


def test_a_small_queue_under_a_burst_loses_nothing(tmp_path: Path, server: ServerProcess) -> None:
    # 64-span queue, 5,000 spans in a tight loop: the SDK's default processor would drop most.
    _run_app(tmp_path, {"RUNBRIEF_URL": server.url}, burst=5000, queue=64)
    store = str(server.store)
    got = _wait(lambda: (n := call("stats", {}, store=store)["spans"]) >= 5000 + 5 and n, timeout=30)
    assert got == 5000 + 5, call("stats", {}, store=store)  # burst + agent, model, 2 tools, sqlite span
