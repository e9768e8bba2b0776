"""Issue 19, item 6: a matrix of real instrumentations, each driving the same known workload
through the real client library against a fake OpenAI-/Anthropic-compatible server on loopback
(tests/genai/fake_llm.py), exported over OTLP/HTTP to a real ``runbrief serve``.

Every combination must give exactly: its model calls (11 for the client workload; 13 for
pydantic-ai's agent runs, which send tool results back), ``100 + n`` input and 10 output tokens
for the n-th call, their cost from the price table, 9 tool calls (6 ``get_status``, 3
``list_reports``: requested in output messages, or run as tool spans), the loop on ``get_status``
and no loop on the paginated ``list_reports``, in its conversations.
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

# combination -> (modules it needs, the model the fake server answers as, spans per call,
#                 model calls, conversations, agent steps)
MATRIX: dict[str, tuple[tuple[str, ...], str, int, int, int, int]] = {
    "openai-v2": (("openai", "opentelemetry.instrumentation.openai_v2"), MODEL_OPENAI, 1, 11, 1, 0),
    "openinference-openai": (("openai", "openinference.instrumentation.openai"), MODEL_OPENAI, 1, 11, 1, 0),
    "traceloop-openai": (("openai", "opentelemetry.instrumentation.openai"), MODEL_OPENAI, 1, 11, 1, 0),
    "anthropic-sdk": (("anthropic",), MODEL_ANTHROPIC, 1, 11, 1, 0),
    "openinference-anthropic": (("anthropic", "openinference.instrumentation.anthropic"), MODEL_ANTHROPIC, 2, 11,
                                1, 0),
    "traceloop-anthropic": (("anthropic", "opentelemetry.instrumentation.anthropic"), MODEL_ANTHROPIC, 2, 11, 1, 0),
    # LangChain's LLM span beside the OpenAI client's (siblings: LangChain's span is not the current one).
    "openinference-langchain": (("langchain_openai", "openinference.instrumentation.langchain",
                                 "openinference.instrumentation.openai"), MODEL_OPENAI, 2, 11, 1, 0),
    # Four agent runs (each its own conversation) that run their tools: 7 + 4 + 1 + 1 model calls.
    "pydantic-ai": (("pydantic_ai",), MODEL_OPENAI, 1, 13, 4, 4),
}


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
    runnable = [c for c, (mods, *_) in MATRIX.items() if not _missing(mods)]
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


def _agents(store: Path, service: str, calls: int) -> dict[str, Any]:
    """The report once the server has committed all the combination's spans."""
    deadline = time.monotonic() + 15
    while True:
        report = call("agents", {"service": service}, store=store)
        if report["totals"]["model_calls"] >= calls or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


@pytest.mark.parametrize("combination", list(MATRIX))
def test_instrumentation(matrix: dict[str, Any], combination: str) -> None:
    mods, model, spans_per_call, calls, conversations, agent_steps = MATRIX[combination]
    in_tokens = sum(100 + n for n in range(1, calls + 1))
    if missing := _missing(mods):
        pytest.skip(f"{combination}: not installed: {', '.join(missing)} (pip install -e '.[genai-matrix]')")
    run = matrix["results"][combination]
    assert run["rc"] == 0, run["stderr"][-3000:]
    assert run["calls"] == calls  # the workload reached the fake server

    report = _agents(matrix["store"], combination, calls)
    t = report["totals"]
    assert (t["model_calls"], t["input_tokens"], t["output_tokens"]) == (calls, in_tokens, calls * OUTPUT_TOKENS), t
    assert t["duplicate_spans_merged"] == calls * (spans_per_call - 1)
    assert t["cost"] == round(PriceTable().cost(model, in_tokens, calls * OUTPUT_TOKENS), 6)  # reported to 1e-6 USD
    assert [m["model"] for m in report["models"]] == [model]
    assert t["traces"] == 1  # the streamed call is not a root of its own
    assert (t["conversations"], t["agent_steps"]) == (conversations, agent_steps)
    assert {r["tool"]: r["calls"] for r in report["tools"]} == {"get_status": 6, "list_reports": 3}
    finish = report["models"][0]["finish_reasons"]
    assert sum(finish.values()) >= calls - 1 and len(finish) == 2, finish  # tool-call and stop reasons

    problems = call("agent_problems", {"service": combination}, store=matrix["store"])["problems"]
    loops = [(p["details"]["tool"], p["details"]["calls"]) for p in problems if p["type"] == "tool_loop"]
    assert loops == [("get_status", 6)]  # and no false loop on the three pages
