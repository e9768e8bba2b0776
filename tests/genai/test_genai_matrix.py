"""Issue 19, item 6: a matrix of real instrumentations, each driving the same known workload
through the real client library against a fake OpenAI-/Anthropic-compatible server on loopback
(tests/genai/fake_llm.py), exported over OTLP/HTTP to a real ``runbrief serve``.

Every combination must give exactly: its model calls (11 for the client workload; 13 for
pydantic-ai's agent runs, which send tool results back), ``100 + n`` fresh input and 10 output
tokens for the n-th call plus a prompt-cache hit on every call (2000 tokens read; Anthropic also
writes 500), their cost from the price table with cache prices, 9 tool calls (6 ``get_status``, 3
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runbrief.client import call
from runbrief.evals.prices import PriceTable
from runbrief.testing import ServerProcess

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from fake_llm import CACHE_READ, CACHE_WRITE, MODEL_ANTHROPIC, MODEL_OPENAI, OUTPUT_TOKENS, FakeLLM  # noqa: E402


@dataclass(frozen=True)
class Combo:
    needs: tuple[str, ...]  # modules it imports
    model: str  # what the fake server answers as
    spans_per_call: int = 1  # instrumentations recording each model call
    calls: int = 11
    conversations: int = 1
    agent_steps: int = 0
    requested_only: int = 9  # tool calls seen only in output messages (no tool span)
    loop: bool = True  # False: arguments not captured, so a loop cannot be told from pages
    install: str = "pip install -e '.[genai-e2e,genai-matrix]'"
    cache_read: int = CACHE_READ  # cached input tokens per call the instrumentation records
    cache_write: int = 0  # tokens written to the cache per call (Anthropic reports them)
    conversation: str | None = None  # the conversation ID the app set (else the trace is the conversation)


OPENAI, V2 = ("openai",), ("openai", "opentelemetry.instrumentation.openai_v2", "opentelemetry.util.genai")
MATRIX: dict[str, Combo] = {
    # opentelemetry-instrumentation-openai-v2 2.4b0 records no cached tokens for chat completions:
    # they are billed as fresh input (an over-estimate runbrief cannot correct).
    "openai-v2": Combo(V2, MODEL_OPENAI, cache_read=0),
    # An agent built on opentelemetry-util-genai runs the requested tools: tool spans with call IDs,
    # each linked to the request in the output messages (9 tool calls, not 18).
    # GenAI client metrics exported beside the spans: they must not count the calls again.
    "openai-v2-metrics": Combo(V2, MODEL_OPENAI, cache_read=0),
    "openai-v2-agent": Combo(V2, MODEL_OPENAI, agent_steps=1, requested_only=0, cache_read=0,
                             conversation="conv-agent-1"),
    # Content capture off: tool spans without arguments; unknown arguments are not a loop.
    "openai-v2-no-content": Combo(V2, MODEL_OPENAI, agent_steps=1, requested_only=0, loop=False, cache_read=0),
    "openinference-openai": Combo((*OPENAI, "openinference.instrumentation.openai"), MODEL_OPENAI),
    "traceloop-openai": Combo((*OPENAI, "opentelemetry.instrumentation.openai"), MODEL_OPENAI),
    "anthropic-sdk": Combo(("anthropic",), MODEL_ANTHROPIC, cache_write=CACHE_WRITE),
    "openinference-anthropic": Combo(("anthropic", "openinference.instrumentation.anthropic"), MODEL_ANTHROPIC, 2,
                                     cache_write=CACHE_WRITE),
    "traceloop-anthropic": Combo(("anthropic", "opentelemetry.instrumentation.anthropic"), MODEL_ANTHROPIC, 2,
                                 cache_write=CACHE_WRITE),
    # LangChain's LLM span beside the OpenAI client's (siblings: LangChain's span is not the current one).
    "openinference-langchain": Combo(("langchain_openai", "openinference.instrumentation.langchain",
                                      "openinference.instrumentation.openai"), MODEL_OPENAI, 2),
    # Four agent runs (each its own conversation) that run their tools: 7 + 4 + 1 + 1 model calls.
    "pydantic-ai": Combo(("pydantic_ai",), MODEL_OPENAI, calls=13, conversations=4, agent_steps=4, requested_only=0),
    # Decorators: @workflow and @agent steps, @tool functions that run the requested tools (no call IDs:
    # linked to the requests by name and count; arguments from traceloop.entity.input, unwrapped), the
    # session association property as the conversation. Only its openai instrumentation, no network.
    "traceloop-sdk": Combo(("traceloop.sdk",), MODEL_OPENAI, agent_steps=2, requested_only=0,
                           conversation="tl-session-1"),
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
    runnable = [c for c, combo in MATRIX.items() if not _missing(combo.needs)]
    if not _missing(V2):
        runnable.append(METRICS_ONLY)
    with ServerProcess(store, grpc=False, jobs=False) as sp:
        fakes = {c: FakeLLM(cached=True).__enter__() for c in runnable}
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
    last = None
    while True:
        report = call("agents", {"service": service}, store=store)
        t = report["totals"]
        seen = (t["model_calls"], t["tool_calls"], t["agent_steps"])
        # all model calls in, and nothing more arriving (an acknowledged batch may still be committing)
        if (t["model_calls"] >= calls and seen == last) or time.monotonic() > deadline:
            return report
        last = seen
        time.sleep(0.3)


@pytest.mark.parametrize("combination", list(MATRIX))
def test_instrumentation(matrix: dict[str, Any], combination: str) -> None:
    c = MATRIX[combination]
    if missing := _missing(c.needs):
        pytest.skip(f"{combination}: not installed: {', '.join(missing)} ({c.install})")
    run = matrix["results"][combination]
    assert run["rc"] == 0, run["stderr"][-3000:]
    assert run["calls"] == c.calls  # the workload reached the fake server
    # Input tokens include the cached ones (the instrumentations add Anthropic's separate counts in).
    cached = CACHE_READ + (CACHE_WRITE if c.model == MODEL_ANTHROPIC else 0)
    in_tokens = sum(100 + n + cached for n in range(1, c.calls + 1))
    out_tokens = c.calls * OUTPUT_TOKENS
    read, write = c.calls * c.cache_read, c.calls * c.cache_write

    report = _agents(matrix["store"], combination, c.calls)
    t = report["totals"]
    assert (t["model_calls"], t["input_tokens"], t["output_tokens"]) == (c.calls, in_tokens, out_tokens), t
    assert t["duplicate_spans_merged"] == c.calls * (c.spans_per_call - 1)
    assert [m["model"] for m in report["models"]] == [c.model]
    model = report["models"][0]
    assert (model["cache_read_tokens"], model["cache_write_tokens"]) == (read, write)
    # cached input at the cache prices; reported to 1e-6 USD
    assert t["cost"] == round(PriceTable().cost(c.model, in_tokens, out_tokens, read, write), 6)
    assert t["traces"] == 1  # the streamed call is not a root of its own
    assert "from_metrics" not in t  # every call has its span: metrics (where exported) add nothing
    assert (t["conversations"], t["agent_steps"]) == (c.conversations, c.agent_steps)
    if c.conversation:
        assert [r["conversation"] for r in report["conversations"]] == [c.conversation]
    assert {r["tool"]: r["calls"] for r in report["tools"]} == {"get_status": 6, "list_reports": 3}
    assert t["tool_calls_requested_only"] == c.requested_only
    finish = model["finish_reasons"]
    assert sum(finish.values()) >= c.calls - 1 and len(finish) == 2, finish  # tool-call and stop reasons

    problems = call("agent_problems", {"service": combination}, store=matrix["store"])["problems"]
    loops = [(p["details"]["tool"], p["details"]["calls"]) for p in problems if p["type"] == "tool_loop"]
    assert loops == ([("get_status", 6)] if c.loop else [])  # and never a false loop on the three pages


METRICS_ONLY = "openai-v2-metrics-only"


def test_metrics_only(matrix: dict[str, Any]) -> None:
    """openai-v2's GenAI metrics with every span sampled away: calls, tokens and cost come from
    ``gen_ai.client.token.usage`` / ``operation.duration``; the metrics carry no cache type, so
    the cost is at the input price, and no tool calls or loops can be seen."""
    if _missing(V2):
        pytest.skip(f"not installed: {', '.join(_missing(V2))} (pip install -e '.[genai-e2e]')")
    run = matrix["results"][METRICS_ONLY]
    assert run["rc"] == 0, run["stderr"][-3000:]
    calls = 11
    in_tokens = sum(100 + n + CACHE_READ for n in range(1, calls + 1))
    report = _agents(matrix["store"], METRICS_ONLY, calls)
    t = report["totals"]
    assert (t["model_calls"], t["input_tokens"], t["output_tokens"]) == (calls, in_tokens, calls * OUTPUT_TOKENS), t
    assert t["from_metrics"]["model_calls"] == calls and t["traces"] == 0 and t["tool_calls"] == 0
    assert t["cost"] == round(PriceTable().cost(MODEL_OPENAI, in_tokens, calls * OUTPUT_TOKENS), 6)
    assert {(m["model"], m["operation"]): m["operations"] for m in report["metrics"]} == {(MODEL_OPENAI, "chat"): calls}
