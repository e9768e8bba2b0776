"""Issue 19, item 6: a matrix of real instrumentations, each driving the same known workload
through the real client library against a fake OpenAI-/Anthropic-compatible server on loopback
(tests/genai/fake_llm.py), exported over OTLP/HTTP to a real ``runbrief serve``.

Every combination must give exactly: 11 model calls, 1166 input and 110 output tokens, their
cost from the price table, 9 requested tool calls (6 ``get_status``, 3 ``list_reports``), the
loop on ``get_status`` and no loop on the paginated ``list_reports``, in one conversation.
The anthropic SDK records its own spans whenever a global tracer provider is set, so the two
anthropic instrumentations double-record every call: each must still count once.

Instrumentors patch globally, so each combination runs in its own process (tests/genai/drive.py),
all at once to keep the matrix fast. Needs the ``genai-matrix`` and ``genai-e2e`` extras; a
combination whose packages are not installed is skipped, naming them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runbrief.client import call
from runbrief.evals.prices import PriceTable
from runbrief.testing import ServerProcess

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from fake_llm import MODEL_ANTHROPIC, MODEL_OPENAI, OUTPUT_TOKENS, FakeLLM  # noqa: E402

# combination -> (modules it needs, the model the fake server answers as, spans per call)
MATRIX: dict[str, tuple[tuple[str, ...], str, int]] = {
    "openai-v2": (("openai", "opentelemetry.instrumentation.openai_v2"), MODEL_OPENAI, 1),
    "openinference-openai": (("openai", "openinference.instrumentation.openai"), MODEL_OPENAI, 1),
    "traceloop-openai": (("openai", "opentelemetry.instrumentation.openai"), MODEL_OPENAI, 1),
    "anthropic-sdk": (("anthropic",), MODEL_ANTHROPIC, 1),
    "openinference-anthropic": (("anthropic", "openinference.instrumentation.anthropic"), MODEL_ANTHROPIC, 2),
    "traceloop-anthropic": (("anthropic", "opentelemetry.instrumentation.anthropic"), MODEL_ANTHROPIC, 2),
}
CALLS = 11
IN_TOKENS = sum(100 + n for n in range(1, CALLS + 1))  # 1166


def _missing(mods: tuple[str, ...]) -> list[str]:
    out = []
    for m in mods:
        try:
            if importlib.util.find_spec(m) is None:
                out.append(m)
        except ModuleNotFoundError:
            out.append(m)
    return out


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One server; every installed combination driven at once, each against its own fake model
    server (so each one's call count, and with it its token counts, starts at 1)."""
    store = tmp_path_factory.mktemp("matrix") / "store"
    runnable = [c for c, (mods, _, _) in MATRIX.items() if not _missing(mods)]
    with ServerProcess(store, grpc=False, jobs=False) as sp:
        fakes = {c: FakeLLM().__enter__() for c in runnable}
        try:
            procs = {c: subprocess.Popen([sys.executable, str(HERE / "drive.py"), c, fakes[c].url, sp.url],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for c in runnable}
            results = {}
            for c, p in procs.items():
                out, err = p.communicate(timeout=120)
                results[c] = {"rc": p.returncode, "stderr": err, "calls": fakes[c].calls}
        finally:
            for f in fakes.values():
                f.__exit__()
        yield {"store": store, "results": results}


def _agents(store: Path, service: str) -> dict[str, Any]:
    """The report once the server has committed all the combination's spans."""
    deadline = time.monotonic() + 15
    while True:
        report = call("agents", {"service": service}, store=store)
        if report["totals"]["model_calls"] >= CALLS or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


@pytest.mark.parametrize("combination", list(MATRIX))
def test_instrumentation(matrix: dict[str, Any], combination: str) -> None:
    mods, model, spans_per_call = MATRIX[combination]
    if missing := _missing(mods):
        pytest.skip(f"{combination}: not installed: {', '.join(missing)} (pip install -e '.[genai-matrix]')")
    run = matrix["results"][combination]
    assert run["rc"] == 0, run["stderr"][-3000:]
    assert run["calls"] == CALLS  # the workload reached the fake server

    report = _agents(matrix["store"], combination)
    t = report["totals"]
    assert (t["model_calls"], t["input_tokens"], t["output_tokens"]) == (CALLS, IN_TOKENS, CALLS * OUTPUT_TOKENS), t
    assert t["duplicate_spans_merged"] == CALLS * (spans_per_call - 1)
    assert t["cost"] == round(PriceTable().cost(model, IN_TOKENS, CALLS * OUTPUT_TOKENS), 6)  # reported to 1e-6 USD
    assert [m["model"] for m in report["models"]] == [model]
    assert t["conversations"] == 1 and t["traces"] == 1  # the streamed call is not a root of its own
    assert {r["tool"]: r["calls"] for r in report["tools"]} == {"get_status": 6, "list_reports": 3}
    finish = report["models"][0]["finish_reasons"]
    assert sum(finish.values()) >= CALLS - 1 and len(finish) == 2, finish  # tool-call and stop reasons

    problems = call("agent_problems", {"service": combination}, store=matrix["store"])["problems"]
    loops = [(p["details"]["tool"], p["details"]["calls"]) for p in problems if p["type"] == "tool_loop"]
    assert loops == [("get_status", 6)]  # and no false loop on the three pages
