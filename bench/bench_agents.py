"""Agents and evals: how fast the GenAI view, the detectors and the gate answer.

Builds a store with ``--conversations`` agent conversations (an agent step, model calls,
tool calls, in OpenTelemetry GenAI, OpenInference and OpenLLMetry flavours) mixed with
``--noise`` times as many plain HTTP/DB spans, then times (median of ``--runs``):

- the normalization step (the SQL view, all GenAI rows out) against a baseline measured in
  the same run: a Python pass that loads each span's attribute JSON and looks up the same keys;
- ``agents`` (the whole report, and the per-model section alone);
- ``agent_problems`` (all detectors);
- ``gate`` with five checks over the agent service's traces (a run of ``--conversations`` traces).

    .venv/bin/python bench/bench_agents.py --conversations 5000 --noise 4 --runs 5
    .venv/bin/python bench/bench_agents.py --genai-spans 1000000 --noise 1 --runs 5   # bulk-built store

With ``--store PATH`` the bulk-built store is kept there (built when absent, reused when
present), so one store serves a before/after comparison: build it with the older runbrief
(``PYTHONPATH=<worktree>/src``), copy it once per side, and run this script on each copy with
that side's ``PYTHONPATH``. A store from before schema 0010 is migrated and its GenAI rows
backfilled at the first open; that open is timed and printed. The whole-process figure runs
``python -m runbrief agents --json`` (the same ``PYTHONPATH``) against the store.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from runbrief import ops
from runbrief.evals import genai
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Resource, Span
from runbrief.store.duck import Store

MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "gemini-2.0-flash"]
TOOLS = ["search", "read_file", "write_file", "run_tests", "http_get"]


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _model_attrs(rng: random.Random, flavour: int, model: str, tokens: int) -> dict[str, Any]:
    if flavour == 0:
        return {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": tokens // 8,
                "gen_ai.response.finish_reasons": [rng.choice(["stop", "tool_calls", "length"])]}
    if flavour == 1:
        return {"openinference.span.kind": "LLM", "llm.model_name": model, "llm.token_count.prompt": tokens,
                "llm.token_count.completion": tokens // 8}
    return {"llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": model,
            "gen_ai.usage.prompt_tokens": tokens, "gen_ai.usage.completion_tokens": tokens // 8,
            "gen_ai.completion.0.finish_reason": "stop"}


def build(store: Store, conversations: int, noise: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    res = Resource({"service.name": "agent-bench"})
    web = Resource({"service.name": "web"})
    t0 = time.time_ns() - 3600 * 10**9
    pipe = Pipeline(store)
    spans: list[Span] = []
    total = 0
    for c in range(conversations):
        tid, start = _hex(rng, 32), t0 + c * 500_000_000
        root = _hex(rng, 16)
        flavour = c % 3
        steps = rng.randint(3, 8)
        spans.append(Span(tid, root, "invoke_agent coder", start, start + steps * 400_000_000, res,
                          attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "coder",
                                      "gen_ai.conversation.id": f"conv-{c}"}))
        tokens = rng.randint(500, 3000)
        for s in range(steps):
            at = start + s * 400_000_000
            model = MODELS[(c + s) % len(MODELS)]
            spans.append(Span(tid, _hex(rng, 16), f"chat {model}", at, at + rng.randint(100, 300) * 10**6, res,
                              parent_span_id=root, attributes=_model_attrs(rng, flavour, model, tokens)))
            tokens = int(tokens * (2.2 if c % 50 == 0 else 1.1))
            tool = TOOLS[rng.randrange(len(TOOLS))] if c % 40 else "search"
            args = orjson.dumps({"q": "same" if c % 40 == 0 else f"{tool}-{s}-{c}"}).decode()
            err = rng.random() < 0.03
            spans.append(Span(tid, _hex(rng, 16), f"execute_tool {tool}", at + 310 * 10**6, at + 360 * 10**6, res,
                              parent_span_id=root, status_code="ERROR" if err else "UNSET",
                              attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                                          "gen_ai.tool.call.arguments": args}))
        for n in range(noise * (2 * steps + 1)):
            at = start + n * 1_000_000
            spans.append(Span(_hex(rng, 32), _hex(rng, 16), "GET /api/items", at, at + 5_000_000, web, kind="SERVER",
                              attributes={"http.route": "/api/items", "http.request.method": "GET",
                                          "http.response.status_code": 200, "url.path": f"/api/items/{n}"}))
        if len(spans) >= 50_000:
            pipe.write(Batch(spans=spans))
            total += len(spans)
            spans = []
    if spans:
        pipe.write(Batch(spans=spans))
        total += len(spans)
    return total


def build_bulk(store: Store, genai_spans: int, noise: int, seed: int = 7) -> int:
    """The same workload as ``build`` (an agent step, then model and tool calls per step, a
    third each in OpenTelemetry GenAI, OpenInference and OpenLLMetry form; a loop every 40th
    conversation, a 3% tool error rate) written by DuckDB ``INSERT … SELECT`` over ``range``,
    so a store of a million GenAI spans takes seconds, not the minutes of the ingest path.
    The spans' resources come from one real span of each service written through the pipeline."""
    t0 = time.time_ns() - 3600 * 10**9
    res, web = Resource({"service.name": "agent-bench"}), Resource({"service.name": "web"})
    Pipeline(store).write(Batch(spans=[Span("0" * 31 + "1", "0" * 15 + "1", "warmup", t0, t0 + 1, res),
                                       Span("0" * 31 + "2", "0" * 15 + "2", "warmup", t0, t0 + 1, web)]))
    rid = dict(store.cursor().execute("SELECT service, resource_id FROM spans").fetchall())
    store.cursor().execute("DELETE FROM spans")
    conversations = max(1, genai_spans // 12)  # steps 3..8 (mean 5.5): 1 + 2 * 5.5 = 12 spans each
    cur = store.cursor()
    cur.execute("SELECT setseed(?)", [seed / 100])
    # One row per (conversation, step); the agent span is step -1.
    cur.execute(f"""
        CREATE TEMP TABLE _steps AS
        SELECT c, s, 3 + (hash(c) % 6)::INT AS steps, md5(c::VARCHAR) AS tid,
               {t0} + c::BIGINT * 500000000 AS conv_start
        FROM range({conversations}) r(c), range(-1, 8) q(s) WHERE s < 3 + (hash(c) % 6)::INT""")
    models = ", ".join(f"'{m}'" for m in MODELS)
    tools = ", ".join(f"'{t}'" for t in TOOLS)
    cur.execute(f"""
        INSERT INTO spans
        WITH st AS (
            SELECT *, substr(md5(tid || 'root'), 1, 16) AS root, conv_start + s::BIGINT * 400000000 AS at_ns,
                   ([{models}])[((c + s) % 4) + 1] AS model, ([{tools}])[(hash(c, s) % 5)::INT + 1] AS tool0,
                   (500 + hash(c) % 2500)::BIGINT * pow(CASE WHEN c % 50 = 0 THEN 2.2 ELSE 1.1 END, s)::DOUBLE
                       AS tokens_f,
                   c % 3 AS flavour, random() < 0.03 AS err
            FROM _steps),
        rows AS (
            SELECT tid AS trace_id, root AS span_id, NULL AS parent_span_id, 'agent-bench' AS service,
                   'invoke_agent coder' AS name, conv_start AS s_ns, conv_start + steps::BIGINT * 400000000 AS e_ns,
                   'UNSET' AS status,
                   json_object('gen_ai.operation.name', 'invoke_agent', 'gen_ai.agent.name', 'coder',
                               'gen_ai.conversation.id', 'conv-' || c) AS attrs
            FROM st WHERE s = -1
            UNION ALL
            SELECT tid, substr(md5(tid || 'm' || s), 1, 16), root, 'agent-bench', 'chat ' || model, at_ns,
                   at_ns + (100 + hash(c, s, 1) % 200)::BIGINT * 1000000, 'UNSET',
                   CASE flavour
                     WHEN 0 THEN json_object('gen_ai.operation.name', 'chat', 'gen_ai.provider.name', 'openai',
                        'gen_ai.request.model', model, 'gen_ai.usage.input_tokens', tokens_f::BIGINT,
                        'gen_ai.usage.output_tokens', (tokens_f / 8)::BIGINT,
                        'gen_ai.response.id', 'chatcmpl-' || substr(md5(tid || s), 1, 20),
                        'gen_ai.response.finish_reasons', [(['stop', 'tool_calls', 'length'])[(hash(c, s, 2) % 3)::INT + 1]])
                     WHEN 1 THEN json_object('openinference.span.kind', 'LLM', 'llm.model_name', model,
                        'llm.token_count.prompt', tokens_f::BIGINT, 'llm.token_count.completion', (tokens_f / 8)::BIGINT)
                     ELSE json_object('llm.request.type', 'chat', 'gen_ai.system', 'openai',
                        'gen_ai.request.model', model, 'gen_ai.usage.prompt_tokens', tokens_f::BIGINT,
                        'gen_ai.usage.completion_tokens', (tokens_f / 8)::BIGINT,
                        'gen_ai.completion.0.finish_reason', 'stop')
                   END
            FROM st WHERE s >= 0
            UNION ALL
            SELECT tid, substr(md5(tid || 't' || s), 1, 16), root, 'agent-bench',
                   'execute_tool ' || CASE WHEN c % 40 = 0 THEN 'search' ELSE tool0 END,
                   at_ns + 310000000, at_ns + 360000000, CASE WHEN err THEN 'ERROR' ELSE 'UNSET' END,
                   json_object('gen_ai.operation.name', 'execute_tool', 'gen_ai.tool.name',
                               CASE WHEN c % 40 = 0 THEN 'search' ELSE tool0 END,
                               'gen_ai.tool.call.arguments',
                               to_json({{'q': CASE WHEN c % 40 = 0 THEN 'same' ELSE tool0 || '-' || s || '-' || c END}})::VARCHAR)
            FROM st WHERE s >= 0)
        SELECT trace_id, span_id, parent_span_id, service, name, 'INTERNAL', make_timestamp((s_ns // 1000)::BIGINT),
               s_ns, e_ns, (e_ns - s_ns) / 1e6, status, NULL, NULL, attrs::JSON, NULL, NULL, ?, 'bench'
        FROM rows""", [rid["agent-bench"]])
    if noise:
        cur.execute(f"""
            INSERT INTO spans
            SELECT md5('n' || i::VARCHAR), substr(md5('s' || i::VARCHAR), 1, 16), NULL, 'web', 'GET /api/items',
                   'SERVER', make_timestamp(({t0} + i::BIGINT * 2000000) // 1000), {t0} + i::BIGINT * 2000000,
                   {t0} + i::BIGINT * 2000000 + 5000000, 5.0, 'UNSET', NULL, '/api/items',
                   json_object('http.route', '/api/items', 'http.request.method', 'GET',
                               'http.response.status_code', 200, 'url.path', '/api/items/' || (i % 1000))::JSON,
                   NULL, NULL, ?, 'bench'
            FROM range((SELECT count(*) FROM spans) * {noise}) r(i)""", [rid["web"]])
    cur.execute("DROP TABLE _steps")
    if hasattr(genai, "ensure"):  # these inserts bypass ingest: write the GenAI rows as ingest does (schema 0010)
        cur.execute("DELETE FROM meta WHERE key = 'genai_calls_rules'")
        genai.ensure(store)
    cur.execute("CHECKPOINT")
    return int(store.scalar("SELECT count(*) FROM spans"))


def baseline_python(store: Store) -> int:
    """The normalization step done in Python: load each span's attribute JSON and look up the
    same convention keys (genai.FIELDS) — the per-row pass the SQL view replaces."""
    keys = [k for fkeys in genai.FIELDS.values() for k in fkeys]
    n = 0
    for (attrs,) in store.cursor().execute("SELECT attributes::VARCHAR FROM spans").fetchall():
        a = orjson.loads(attrs) if attrs else {}
        vals = [a.get(k) for k in keys]
        if any(v is not None for v in vals[:8]):
            n += 1
    return n


def normalize_sql(store: Store) -> int:
    # Arrow out, as genai.materialized reads it.
    return store.cursor().cursor().sql(f"SELECT * FROM ({genai.normalized_sql()})").to_arrow_table().num_rows


def timed(fn: Any, runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


GATE = """[gate]
since = "2h"
service = "agent-bench"
[[gate.check]]
assert = 'p95(models().duration) < 1s'
[[gate.check]]
evaluator = "token_budget"
max_per_trace = 1000000
[[gate.check]]
evaluator = "no_loops"
[[gate.check]]
evaluator = "tool_success_rate"
min = 0.5
[[gate.check]]
evaluator = "error_free"
"""


def _process_ms(path: Path, runs: int) -> float:
    """``runbrief agents --json`` as a new process each run (imports, open, answer, JSON out)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "runbrief", "agents", "--store", str(path), "--json"], check=True,
                       stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def bulk(genai_spans: int, noise: int, runs: int, keep: Path | None = None) -> None:
    """``agents`` over a bulk-built store, the whole operation as a caller sees it (no cache
    between runs), and as a whole ``runbrief agents`` process."""
    with tempfile.TemporaryDirectory() as tmp:
        path = keep or Path(tmp) / "s" / "store.duckdb"
        t = time.perf_counter()
        if path.exists():
            store = Store.open(path)  # a store from before schema 0010 is migrated and backfilled here
            print(f"store: reused {path}, opened in {time.perf_counter() - t:.1f} s")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            store = Store.open(path)
            n = build_bulk(store, genai_spans, noise)
            print(f"store: {n} spans built in {time.perf_counter() - t:.1f} s")
        genai_n = store.scalar("SELECT count(*) FROM spans WHERE service = 'agent-bench'")
        total = store.scalar("SELECT count(*) FROM spans")
        print(f"store: {total} spans ({genai_n} GenAI)")
        ms_agents, report = timed(lambda: ops.run(store, "agents", {}), runs)
        t_ = report["totals"]
        assert t_["model_calls"] + t_["tool_calls"] + t_["agent_steps"] == genai_n
        print(f"agents operation (all sections, median of {runs}): {ms_agents:.0f} ms")
        store.close()
        print(f"runbrief agents --json, whole process (median of {runs}): {_process_ms(path, runs):.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=5000)
    ap.add_argument("--noise", type=int, default=4, help="plain spans per GenAI span")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--genai-spans", type=int, default=0,
                    help="bulk-build a store of this many GenAI spans (SQL inserts) and time `agents` only")
    ap.add_argument("--store", type=Path, help="with --genai-spans: keep the store here (reused when present)")
    args = ap.parse_args()
    if args.genai_spans:
        bulk(args.genai_spans, args.noise, args.runs, args.store)
        return
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "s")
        t = time.perf_counter()
        n = build(store, args.conversations, args.noise)
        genai_n = store.scalar("SELECT count(*) FROM spans WHERE service = 'agent-bench'")
        print(f"store: {n} spans ({genai_n} GenAI) in {time.perf_counter() - t:.1f} s")
        ms_base, _ = timed(lambda: baseline_python(store), args.runs)
        ms_norm, rows = timed(lambda: normalize_sql(store), args.runs)
        ms_agents, report = timed(lambda: ops.run(store, "agents", {}), args.runs)
        ms_models, _ = timed(lambda: ops.run(store, "agents", {"group_by": ["model"]}), args.runs)
        assert rows == genai_n and report["totals"]["model_calls"] + report["totals"]["tool_calls"] + \
            report["totals"]["agent_steps"] == genai_n
        ms_problems, problems = timed(lambda: ops.run(store, "agent_problems", {}), args.runs)
        cfg = Path(tmp) / "runbrief.toml"
        cfg.write_text(GATE)
        ms_gate, gate = timed(lambda: ops.run(store, "gate", {"config": str(cfg), "save": False}), args.runs)
        print(f"normalize, baseline (Python: orjson + the same keys, every span): {ms_base:.0f} ms")
        print(f"normalize, SQL view (all {rows} GenAI rows out): {ms_norm:.0f} ms  ({ms_base / ms_norm:.1f}x faster)")
        print(f"agents (all sections): {ms_agents:.0f} ms")
        print(f"agents (models only):  {ms_models:.0f} ms")
        print(f"agent_problems: {ms_problems:.0f} ms  ({problems['counts']})")
        print(f"gate (5 checks, {gate['traces']} traces): {ms_gate:.0f} ms  status={gate['status']}")
        store.close()


if __name__ == "__main__":
    main()
