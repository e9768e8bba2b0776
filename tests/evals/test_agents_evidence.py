"""The examples ``agents`` cites per group (errored spans first, then the slowest, then span ID)
are computed from a lower bound over the groups (``metrics._evidence``) instead of a top-5 over
every row; they must be the lists the full top-5 gives, also where the bound is weakest: a group
with fewer than five errors, one with fewer than five rows, ties on duration at the fifth place,
tool calls with no duration (requested in output messages only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from runbrief import ops
from runbrief.evals import config as cfgmod
from runbrief.evals import genai, metrics
from runbrief.evals.scope import Scope
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Resource, Span
from runbrief.store.duck import Store

MS = 1_000_000


def _store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "s")
    res = Resource({"service.name": "agent"})
    spans: list[Span] = []
    t0 = 1_700_000_000 * 10**9
    n = 0

    def sid() -> str:
        nonlocal n
        n += 1
        return f"{n:016x}"

    # model -> (errors, durations in ms): ties at 50 ms around each group's fifth example
    plan = {"gpt-4o": (7, [50] * 9 + [20, 80]), "gpt-4o-mini": (2, [50] * 6 + [10, 90]), "gemini-2.0-flash": (0, [30, 30, 5])}
    for c in range(6):
        tid, start = f"{c + 1:032x}", t0 + c * 3600 * 10**9 // 2
        root = sid()
        spans.append(Span(tid, root, "invoke_agent coder", start, start + 2000 * MS, res,
                          status_code="ERROR" if c == 1 else "UNSET",
                          attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "coder",
                                      "gen_ai.conversation.id": f"conv-{c}"}))
        for i, (model, (errs, durs)) in enumerate(plan.items()):
            for j, d in enumerate(durs):
                at = start + (i * 20 + j) * MS
                spans.append(Span(tid, sid(), f"chat {model}", at, at + d * MS, res, parent_span_id=root,
                                  status_code="ERROR" if j < errs and c % 2 == 0 else "UNSET",
                                  attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                                              "gen_ai.usage.input_tokens": 100 + j,
                                              "gen_ai.usage.output_tokens": 10}))
        for j, tool in enumerate(["search", "search", "read_file", "search", "run_tests"]):
            at = start + 100 * MS + j * MS
            spans.append(Span(tid, sid(), f"execute_tool {tool}", at, at + (50 if j % 2 else 40) * MS, res,
                              parent_span_id=root, status_code="ERROR" if (c + j) % 4 == 0 else "UNSET",
                              attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool}))
        # a tool call seen only in the model's output messages: no duration of its own
        out = [{"role": "assistant", "parts": [{"type": "tool_call", "id": f"call-{c}", "name": "http_get",
                                                 "arguments": {"url": f"/x/{c}"}}]}]
        at = start + 200 * MS
        spans.append(Span(tid, sid(), "chat gpt-4o", at, at + 50 * MS, res, parent_span_id=root,
                          attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                      "gen_ai.output.messages": orjson.dumps(out).decode()}))
    Pipeline(store).write(Batch(spans=spans))
    return store


def _reference(store: Store, key: str, where: str) -> dict[Any, list[str]]:
    """The full top-5 over every row of each group, as ``agents`` computed it before the bound."""
    with genai.materialized(store, Scope(), cfgmod.load(None).prices) as (cur, g):
        return dict(cur.execute(f"SELECT {key}, {metrics._EVIDENCE} FROM {g} WHERE {where} GROUP BY ALL").fetchall())


def test_examples_are_the_full_top_five(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        rep = ops.run(store, "agents", {})
        sections = [("models", "model", "model", "kind = 'model'"), ("tools", "tool", "tool_name", "kind = 'tool'"),
                    ("agents", "agent", "agent_name", "kind = 'agent'")]
        for section, col, key, where in sections:
            ref = _reference(store, key, where)
            got = {r[col]: r["span_ids"] for r in rep[section]}
            assert got == ref, section
            assert all(len(v) == min(5, r["calls" if "calls" in r else "steps"]) for r in rep[section]
                       for v in [r["span_ids"]])
        assert {r["tool"] for r in rep["tools"]} >= {"search", "http_get"}
        buckets = rep["timeline"]["buckets"]
        interval = f"INTERVAL '{rep['timeline']['bucket_seconds']} seconds'"
        ref = _reference(store, f"time_bucket({interval}, start_ts)", "TRUE")
        assert [b["span_ids"] for b in buckets] == [ref[k] for k in sorted(ref)]
        assert len(buckets) > 1
        # the totals' conversation count comes from the conversation section when it runs
        assert rep["totals"]["conversations"] == 6
        assert ops.run(store, "agents", {"group_by": ["model"]})["totals"] == rep["totals"]
        assert ops.run(store, "agents", {"limit": 2})["totals"] == rep["totals"]
        # the report's lists are not cut from a shorter list: a group with 7 errors cites errors only
        errored = {r["span_id"] for r in genai.calls(store, Scope()) if r["error"]}
        gpt = next(r for r in rep["models"] if r["model"] == "gpt-4o")
        assert all(s.removeprefix("spn_") in errored for s in gpt["span_ids"])
    finally:
        store.close()
