"""What the agents are doing: calls, tokens, cost, latency and errors per model, tool,
agent, conversation and time bucket.

Everything is aggregated in DuckDB over the normalized view (``genai.materialized``), where a
model call recorded by two instrumentations is one row (``duplicate_spans_merged`` counts the
extra spans) and tool calls seen only in a model's output messages are tool rows
(``tool_calls_requested_only``; they have no latency of their own);
Python only shapes the rows. Every row cites a few spans (errors first, then the
slowest) so a number can be checked against the calls behind it.
"""

from __future__ import annotations

from typing import Any

from runbrief.errors import UsageError
from runbrief.evals import genai
from runbrief.evals.prices import PriceTable
from runbrief.evals.scope import Scope
from runbrief.queries import fmt_ts
from runbrief.store.duck import Store

__all__ = ["agents_report", "SECTIONS"]

SECTIONS = ("model", "tool", "agent", "conversation", "time")
EXAMPLES = 5

# Evidence: errored spans first, then the slowest; a list of spn_ IDs. A top-N aggregate, not a
# sorted list of every span cut afterwards: at a million calls the full lists were most of the time.
# The ``spn_`` prefix goes on the five kept, not on every row (a quarter of the aggregate's time).
_EVIDENCE = (f"['spn_' || x for x in arg_max(span_id, (coalesce(error, FALSE), coalesce(duration_ms, -1.0)::DOUBLE,"
             f" span_id), {EXAMPLES})]")
# Even that top-5 over (error, duration, span ID) structs cost 30-60 ms a section at a million rows.
# So each section's own aggregate keeps only numbers (``_CUT``: the errors and the top five
# durations of its errored and other rows), which bound from below the key of every group's fifth
# example; ``_evidence`` then runs the exact top-5 over the few rows at or above the bound (ties
# included, so the lists are the same as over every row).
_DUR = "coalesce(duration_ms, -1.0)::DOUBLE"
# The other rows of a list rank below every duration (a CASE, not FILTER: the ClickHouse rewrite
# of arg_max's n takes no FILTER); a bound at that floor means "every such row".
_FLOOR = -1e300
_TOP = "arg_max(CASE WHEN {c} THEN {d} ELSE {f} END, CASE WHEN {c} THEN {d} ELSE {f} END, {n})"
_CUT = (f"count(*) FILTER (WHERE error) _ne,"
        f" {_TOP.format(c='coalesce(error, FALSE)', d=_DUR, f=_FLOOR, n=EXAMPLES)} _te,"
        f" {_TOP.format(c='NOT coalesce(error, FALSE)', d=_DUR, f=_FLOOR, n=EXAMPLES)} _tn")
_LATENCY = """round(quantile_cont(duration_ms, 0.5), 3) AS p50_ms, round(quantile_cont(duration_ms, 0.95), 3) AS p95_ms,
              round(max(duration_ms), 3) AS max_ms"""
_TOOL_LATENCY = """coalesce(round(quantile_cont(duration_ms, 0.5), 3), 0.0) AS p50_ms,
                   coalesce(round(quantile_cont(duration_ms, 0.95), 3), 0.0) AS p95_ms,
                   coalesce(round(max(duration_ms), 3), 0.0) AS max_ms"""
_ERRORS = "count(*) FILTER (WHERE error) AS errors, round(count(*) FILTER (WHERE error) / count(*), 4) AS error_rate"
_TOKENS = """coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens, coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
             coalesce(sum(total_tokens), 0)::BIGINT AS total_tokens,
             coalesce(sum(cache_read_tokens), 0)::BIGINT AS cache_read_tokens,
             coalesce(sum(cache_write_tokens), 0)::BIGINT AS cache_write_tokens"""
_BUCKETS = [(60, "1 minute"), (300, "5 minutes"), (900, "15 minutes"), (3600, "1 hour"), (21600, "6 hours"),
            (86400, "1 day")]


def _sections(group_by: str | list[str] | None) -> list[str]:
    if not group_by:
        return list(SECTIONS)
    items = group_by.split(",") if isinstance(group_by, str) else list(group_by)
    out = []
    for item in items:
        key = item.strip().lower().rstrip("s")
        key = {"conv": "conversation", "timeline": "time", "over_time": "time"}.get(key, key)
        if key not in SECTIONS:
            raise UsageError(f"group_by {item!r}: use one or more of {', '.join(SECTIONS)}")
        out.append(key)
    return out


def _per_conversation(g: str, kind: str, key: str) -> str:
    """Distinct conversations per ``key`` as a subquery ``(k, n)``: the pairs made distinct first
    (a parallel hash aggregate) instead of ``count(DISTINCT …)`` per group, which took most of
    a section's time at a million rows."""
    return f"""(SELECT k, count(*) n FROM (SELECT DISTINCT {key} k, conversation FROM {g}
                WHERE kind = '{kind}' AND conversation IS NOT NULL) GROUP BY k)"""


def _evidence(q: Any, g: str, rows: list[dict[str, Any]], col: str, key: str, where: str) -> None:
    """Each row's ``span_ids`` (the exact top five by error, duration, span ID of its group
    ``key`` over the rows ``where``), from its ``_CUT`` columns, which are dropped.

    A group's fifth example is an errored row at or above its fifth errored duration when it has
    five errors, else at or above the duration its missing examples need among the other rows;
    the smallest of those over the groups bounds every group's examples, so the top-5 aggregate
    reads only the rows at or above it."""
    inf = float("inf")
    te_min, tn_min = inf, inf
    for r in rows:
        ne = r.pop("_ne") or 0
        te = sorted(r.pop("_te") or [], reverse=True)
        tn = sorted(r.pop("_tn") or [], reverse=True)
        if ne >= EXAMPLES:
            te_min = min(te_min, te[EXAMPLES - 1])
        else:
            te_min = -inf
            need = EXAMPLES - ne
            tn_min = min(tn_min, tn[need - 1] if len(tn) >= need else -inf)
    if not rows:
        return
    cond, args = [], []
    for flag, bound in (("coalesce(error, FALSE)", te_min), ("NOT coalesce(error, FALSE)", tn_min)):
        if bound == inf:  # no group needs such rows
            continue
        if bound <= _FLOOR or bound != bound:  # every such row (or a NaN duration: no bound)
            cond.append(flag)
        else:
            cond.append(f"({flag} AND {_DUR} >= ?)")
            args.append(bound)
    found = {r["k"]: r["span_ids"] for r in q(f"""SELECT {key} k, {_EVIDENCE} span_ids FROM {g}
                                                 WHERE ({where}) AND ({' OR '.join(cond)}) GROUP BY k""", args)}
    for r in rows:
        r["span_ids"] = found.get(r[col], [])


def _cost(v: Any) -> float | None:
    return None if v is None else round(float(v), 6)


def _finish(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        if "cost" in r:
            r["cost"] = _cost(r["cost"])
        if "finish_reasons" in r:
            fr = r["finish_reasons"] or []
            r["finish_reasons"] = {k: v for k, v in fr if k is not None}


def agents_report(store: Store, scope: Scope, prices: PriceTable, group_by: str | list[str] | None = None,
                  limit: int = 50) -> dict[str, Any]:
    sections = _sections(group_by)
    out: dict[str, Any] = {"scope": scope.describe(store)}
    with genai.materialized(store, scope, prices) as (cur, g):
        def q(sql: str, args: list[Any] | None = None) -> list[dict[str, Any]]:
            res = cur.execute(sql, args or [])
            cols = [d[0] for d in res.description]
            return [dict(zip(cols, row, strict=True)) for row in res.fetchall()]

        # The conversation section groups every conversation anyway: it counts them for the totals.
        conversations = ("NULL::BIGINT" if "conversation" in sections else
                         f"(SELECT count(*) FROM (SELECT DISTINCT conversation FROM {g} WHERE conversation IS NOT NULL))")
        totals = q(f"""SELECT count(*) FILTER (WHERE kind = 'model') model_calls,
                              count(*) FILTER (WHERE kind = 'tool') tool_calls,
                              count(*) FILTER (WHERE kind = 'agent') agent_steps,
                              count(*) FILTER (WHERE error) errors,
                              coalesce(sum(input_tokens) FILTER (WHERE kind = 'model'), 0)::BIGINT input_tokens,
                              coalesce(sum(output_tokens) FILTER (WHERE kind = 'model'), 0)::BIGINT output_tokens,
                              coalesce(sum(cache_read_tokens) FILTER (WHERE kind = 'model'), 0)::BIGINT
                                  cache_read_tokens,
                              coalesce(sum(merged_spans - 1) FILTER (WHERE kind = 'model'), 0)::BIGINT
                                  duplicate_spans_merged,
                              count(*) FILTER (WHERE kind = 'tool' AND source = 'requested') tool_calls_requested_only,
                              sum(cost) cost,
                              {conversations} conversations,
                              (SELECT count(*) FROM (SELECT DISTINCT trace_id FROM {g})) traces,
                              min(start_ts) first, max(start_ts) last
                       FROM {g}""")[0]
        first, last = totals.pop("first"), totals.pop("last")
        totals["cost"] = _cost(totals["cost"])
        totals["start"], totals["end"] = fmt_ts(first), fmt_ts(last)
        # One pass per model for both the unpriced models (a model's rows are all priced or all not)
        # and the per-model counts the metrics are compared with.
        per_model = q(f"""SELECT model, count(*) calls, coalesce(sum(input_tokens), 0) input_tokens,
                                 coalesce(sum(output_tokens), 0) output_tokens,
                                 count(*) FILTER (WHERE cost IS NULL) unpriced_calls
                          FROM {g} WHERE kind = 'model' GROUP BY model""")
        unpriced = sorted((r for r in per_model if r["model"] is not None and r["unpriced_calls"]),
                          key=lambda r: -r["unpriced_calls"])
        totals["unpriced_models"] = [r["model"] for r in unpriced]
        out["totals"] = totals
        q_models = {r["model"]: r for r in per_model}

        if "model" in sections:
            rows = _models(q, g, limit)
            out["models"] = rows
        if "tool" in sections:
            # Tool calls seen only in a model's output messages have no duration: the latency is over
            # the timed ones (``timed_calls``), 0 when there are none (the text table formats numbers).
            out["tools"] = q(f"""WITH m AS (
                                   SELECT tool_name AS tool, count(*) calls, {_ERRORS},
                                        round(1 - count(*) FILTER (WHERE error) / count(*), 4) AS success_rate,
                                        count(duration_ms) timed_calls,
                                        count(*) FILTER (WHERE source = 'requested') requested_only,
                                        {_TOOL_LATENCY}, 0 conversations, NULL::VARCHAR[] span_ids, {_CUT}
                                   FROM {g} WHERE kind = 'tool' GROUP BY tool_name)
                                 SELECT m.* REPLACE (coalesce(c.n, 0)::BIGINT AS conversations)
                                 FROM m LEFT JOIN {_per_conversation(g, "tool", "tool_name")} c
                                      ON c.k IS NOT DISTINCT FROM m.tool
                                 ORDER BY calls DESC, tool LIMIT ?""", [limit])
            _evidence(q, g, out["tools"], "tool", "tool_name", "kind = 'tool'")
        if "agent" in sections:
            # Inner calls summed per agent name straight from the join (the sum over an agent's
            # steps of each step's calls is the count of (step, call) pairs): no per-step group.
            out["agents"] = q(f"""
                WITH a AS (SELECT span_id, trace_id, start_ns, end_ns, agent_name, error, duration_ms
                           FROM {g} WHERE kind = 'agent'),
                     i AS (
                        SELECT a.agent_name, count(*) FILTER (WHERE c.kind = 'model') model_calls,
                               count(*) FILTER (WHERE c.kind = 'tool') tool_calls,
                               sum(c.input_tokens) input_tokens, sum(c.output_tokens) output_tokens, sum(c.cost) cost
                        FROM a JOIN {g} c ON c.trace_id = a.trace_id AND c.kind IN ('model', 'tool')
                             AND c.start_ns >= a.start_ns AND c.end_ns <= a.end_ns
                        GROUP BY a.agent_name),
                     m AS (SELECT agent_name AS agent, count(*) steps, {_ERRORS}, {_LATENCY}, {_CUT}
                           FROM a GROUP BY agent_name)
                SELECT m.agent, m.steps, m.errors, m.error_rate, m.p50_ms, m.p95_ms, m.max_ms,
                       coalesce(i.model_calls, 0)::BIGINT model_calls, coalesce(i.tool_calls, 0)::BIGINT tool_calls,
                       coalesce(i.input_tokens, 0)::BIGINT input_tokens,
                       coalesce(i.output_tokens, 0)::BIGINT output_tokens, i.cost,
                       coalesce(c.n, 0)::BIGINT conversations, NULL::VARCHAR[] span_ids, m._ne, m._te, m._tn
                FROM m LEFT JOIN i ON i.agent_name IS NOT DISTINCT FROM m.agent
                       LEFT JOIN {_per_conversation(g, "agent", "agent_name")} c ON c.k IS NOT DISTINCT FROM m.agent
                ORDER BY steps DESC, agent LIMIT ?""", [limit])
            _evidence(q, g, out["agents"], "agent", "agent_name", "kind = 'agent'")
            _finish(out["agents"])
        if "conversation" in sections:
            rows = q(f"""WITH latest AS MATERIALIZED (
                             SELECT conversation, count(conversation) OVER () n FROM {g} GROUP BY conversation
                             ORDER BY min(start_ts) DESC, conversation LIMIT ?)
                         SELECT conversation, min(start_ts) start, round((max(end_ns) - min(start_ns)) / 1e6, 3) duration_ms,
                                count(*) FILTER (WHERE kind = 'model') model_calls,
                                count(*) FILTER (WHERE kind = 'tool') tool_calls,
                                count(*) FILTER (WHERE kind = 'agent') agent_steps,
                                coalesce(sum(input_tokens) FILTER (WHERE kind = 'model'), 0)::BIGINT input_tokens,
                                coalesce(sum(output_tokens) FILTER (WHERE kind = 'model'), 0)::BIGINT output_tokens,
                                sum(cost) cost, count(*) FILTER (WHERE error) errors,
                                list(DISTINCT 'trc_' || trace_id ORDER BY 'trc_' || trace_id)[1:{EXAMPLES}] trace_ids, {_EVIDENCE} span_ids,
                                any_value((SELECT any_value(n) FROM latest)) _n
                         FROM {g}
                         -- the latest conversations first, then their rows: not every conversation's
                         WHERE conversation IN (SELECT conversation FROM latest)
                         GROUP BY conversation ORDER BY start DESC, conversation""", [limit])
            totals["conversations"] = rows[0]["_n"] if rows else 0
            for r in rows:
                del r["_n"]
            for r in rows:
                r["start"] = fmt_ts(r["start"])
            _finish(rows)
            out["conversations"] = rows
        if "time" in sections and first is not None:
            width_s = max(1.0, (last - first).total_seconds()) / 24
            secs, interval = next(((s, iv) for s, iv in _BUCKETS if s >= width_s), _BUCKETS[-1])
            rows = q(f"""SELECT time_bucket(INTERVAL '{interval}', start_ts) bucket,
                                count(*) FILTER (WHERE kind = 'model') model_calls,
                                count(*) FILTER (WHERE kind = 'tool') tool_calls,
                                coalesce(sum(input_tokens) FILTER (WHERE kind = 'model'), 0)::BIGINT input_tokens,
                                coalesce(sum(output_tokens) FILTER (WHERE kind = 'model'), 0)::BIGINT output_tokens,
                                sum(cost) cost, count(*) FILTER (WHERE error) errors,
                                round(quantile_cont(duration_ms, 0.95) FILTER (WHERE kind = 'model'), 3) model_p95_ms,
                                NULL::VARCHAR[] span_ids, {_CUT}
                         FROM {g} GROUP BY bucket ORDER BY bucket""")
            _evidence(q, g, rows, "bucket", f"time_bucket(INTERVAL '{interval}', start_ts)", "TRUE")
            for r in rows:
                r["bucket"] = fmt_ts(r["bucket"])
            _finish(rows)
            out["timeline"] = {"bucket_seconds": secs, "buckets": rows}
    points = _metric_points(store, scope)
    for p in points:  # what the metrics' own token counts cost (agent runs and tool calls have none)
        model_op = p["operation"] in _MODEL_OPS and (p["input_tokens"] or p["output_tokens"])
        p["cost"] = _cost(prices.cost(p["model"], p["input_tokens"], p["output_tokens"])) if model_op else None
    if "model" in sections:
        out["metrics"] = points
    if not scope.conversation:  # metrics carry no conversation: they cannot fill a conversation's totals
        _fill_from_metrics(out["totals"], points, q_models, prices)
    return out


# Operations of model calls; the duration metric also carries agent runs and tool calls.
_MODEL_OPS = frozenset(("chat", "text_completion", "embeddings", "generate_content", "completion", None))


def _fill_from_metrics(totals: dict[str, Any], points: list[dict[str, Any]], by_model: dict[Any, dict[str, Any]],
                       prices: PriceTable) -> None:
    """Model calls, tokens and cost the spans do not show but the GenAI metrics do (spans not
    exported, or sampled): per model, only what the metrics count beyond the spans is added,
    so a call seen by both is counted once. ``totals.from_metrics`` says how much came from them."""
    extra = {"model_calls": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0}
    priced_all = True
    per_model: dict[Any, dict[str, int]] = {}
    for p in points:
        if p["operation"] not in _MODEL_OPS:
            continue
        m = per_model.setdefault(p["model"], {"calls": 0, "input_tokens": 0, "output_tokens": 0})
        m["calls"] += p["operations"] or 0
        m["input_tokens"] += p["input_tokens"] or 0
        m["output_tokens"] += p["output_tokens"] or 0
    for model, m in per_model.items():
        seen = by_model.get(model, {})
        calls = max(0, m["calls"] - (seen.get("calls") or 0))
        inp = max(0, m["input_tokens"] - (seen.get("input_tokens") or 0))
        outp = max(0, m["output_tokens"] - (seen.get("output_tokens") or 0))
        if not (calls or inp or outp):
            continue
        extra["model_calls"] += calls
        extra["input_tokens"] += inp
        extra["output_tokens"] += outp
        cost = prices.cost(model, inp, outp)
        if cost is None:
            priced_all = False
            if model and model not in totals["unpriced_models"]:
                totals["unpriced_models"].append(model)
        else:
            extra["cost"] += cost
    if not any(extra[k] for k in ("model_calls", "input_tokens", "output_tokens")):
        return
    for k in ("model_calls", "input_tokens", "output_tokens"):
        totals[k] += extra[k]
    if extra["cost"] or priced_all:
        totals["cost"] = _cost((totals["cost"] or 0.0) + extra["cost"])
    extra["cost"] = _cost(extra["cost"])
    totals["from_metrics"] = extra


def _models(q: Any, g: str, limit: int) -> list[dict[str, Any]]:
    rows = q(f"""SELECT model, any_value(provider) provider, list(DISTINCT operation ORDER BY operation) operations,
                        count(*) calls, {_TOKENS}, sum(cost) cost, {_LATENCY}, {_ERRORS}, NULL::VARCHAR[] span_ids, {_CUT}
                 FROM {g} WHERE kind = 'model' GROUP BY model
                 ORDER BY cost DESC NULLS LAST, calls DESC, model LIMIT ?""", [limit])
    _evidence(q, g, rows, "model", "model", "kind = 'model'")
    reasons = q(f"""SELECT model, fr, count(*) n FROM (SELECT model, unnest(finish_reasons) fr FROM {g}
                    WHERE kind = 'model' AND finish_reasons IS NOT NULL) GROUP BY ALL ORDER BY n DESC""")
    by_model: dict[Any, dict[str, int]] = {}
    for r in reasons:
        by_model.setdefault(r["model"], {})[r["fr"]] = r["n"]
    for r in rows:
        r["cost"] = _cost(r["cost"])
        r["priced"] = r["cost"] is not None
        r["finish_reasons"] = by_model.get(r["model"], {})
    return rows


def _metric_points(store: Store, scope: Scope) -> list[dict[str, Any]]:
    """Token usage and call durations from the GenAI metrics (for apps that export metrics
    but not spans), per model and operation (the duration metric also times agent runs and
    tool calls, which are not model calls). Delta points add up; a cumulative series counts
    its latest total."""
    start, end, _ = scope._bounds(store)
    where, args = ["name IN ('gen_ai.client.token.usage', 'gen_ai.client.operation.duration')"], []
    if start is not None:
        where.append("ts >= ?")
        args.append(start)
    if end is not None:
        where.append("ts < ?")
        args.append(end)
    if scope.service:
        where.append("service = ?")
        args.append(scope.service)
    rows = store.query(
        f"""WITH p AS (
              SELECT name, temporality, resource_id, attributes, start_ts, sum, count,
                     coalesce(json_extract_string(attributes, '$."gen_ai.response.model"'),
                              json_extract_string(attributes, '$."gen_ai.request.model"')) model,
                     json_extract_string(attributes, '$."gen_ai.token.type"') token_type,
                     json_extract_string(attributes, '$."gen_ai.operation.name"') operation, ts
              FROM metric_points WHERE {' AND '.join(where)}),
            series AS (
              SELECT name, model, operation, token_type,
                     CASE WHEN temporality = 'cumulative' THEN arg_max(sum, ts) ELSE sum(sum) END s,
                     CASE WHEN temporality = 'cumulative' THEN arg_max(count, ts) ELSE sum(count) END c
              FROM p GROUP BY name, model, operation, token_type, temporality, resource_id, attributes::VARCHAR,
                              start_ts)
            SELECT model, operation, sum(s) FILTER (WHERE name = 'gen_ai.client.token.usage' AND token_type = 'input') input_tokens,
                   sum(s) FILTER (WHERE name = 'gen_ai.client.token.usage' AND token_type = 'output') output_tokens,
                   sum(c) FILTER (WHERE name = 'gen_ai.client.operation.duration')::BIGINT operations,
                   sum(s) FILTER (WHERE name = 'gen_ai.client.operation.duration')
                     / nullif(sum(c) FILTER (WHERE name = 'gen_ai.client.operation.duration'), 0) * 1000 mean_ms
            FROM series GROUP BY model, operation ORDER BY model, operation""",
        args,
    )
    for r in rows:
        for k in ("input_tokens", "output_tokens"):
            r[k] = int(r[k]) if r[k] is not None else None
        r["mean_ms"] = round(r["mean_ms"], 3) if r["mean_ms"] is not None else None
    return rows

