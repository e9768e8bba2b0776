"""One view of LLM and agent spans, whichever convention emitted them.

Three conventions are common in the wild and they name the same facts differently:

==================  ================================  ===========================  ============================
fact                OpenTelemetry GenAI               OpenInference (Arize)        OpenLLMetry (Traceloop)
==================  ================================  ===========================  ============================
what the span is    gen_ai.operation.name             openinference.span.kind      traceloop.span.kind,
                                                                                   llm.request.type
provider            gen_ai.provider.name/gen_ai.system llm.provider / llm.system    gen_ai.system
model               gen_ai.request/response.model      llm.model_name               gen_ai.request/response.model
tokens              gen_ai.usage.input/output_tokens   llm.token_count.prompt/      gen_ai.usage.prompt/completion
                    (older prompt/completion_tokens)   completion/total             _tokens, llm.usage.*
finish reason       gen_ai.response.finish_reasons     llm.finish_reason            gen_ai.completion.N.finish_reason
                    (anthropic.message.stop_reason)
cache tokens        gen_ai.usage.cache_read/           llm.token_count.prompt_      gen_ai.usage.cache_read/
                    cache_creation.input_tokens        details.cache_read/write     creation_input_tokens
                    (anthropic SDK: cache_write.…)
embedding model     gen_ai.request.model               embedding.model_name         gen_ai.request.model
requested tools     gen_ai.output.messages (JSON       llm.output_messages.N.       gen_ai.completion.N.
                    parts of type tool_call)           message.tool_calls.N.        tool_calls.N.{name,
                                                       tool_call.{id,function.*}    arguments,id}
tool                gen_ai.tool.name, .call.id,        tool.name, tool_call.id,     traceloop.entity.name/input
                    .call.arguments                    input.value
agent               gen_ai.agent.name                  agent.name                   traceloop.entity.name
                                                                                    (agent/workflow/task spans)
conversation        gen_ai.conversation.id             session.id                   traceloop.association.
                                                                                    properties.session_id
==================  ================================  ===========================  ============================

Normalizing happens on read, in one SQL statement: the attribute JSON is parsed once per
span (``json_extract`` with a list of paths) and a cheap text prefilter skips the
spans that carry none of these prefixes, so a store full of HTTP and DB spans costs
little. Each row is a ``model`` call, a ``tool`` call or an ``agent`` step, with the
conversation it belongs to: the conversation ID when the span (or another span of its
trace) carries one, else the trace itself (``trc_<id>``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import duckdb
import orjson

from runbrief.evals.prices import PriceTable
from runbrief.evals.scope import Scope
from runbrief.store.duck import Store

__all__ = ["FIELDS", "COLUMNS", "STORED", "normalized_sql", "span_rows_sql", "fill", "fill_batch", "ensure", "source",
           "calls", "materialized", "args_text", "KINDS"]

KINDS = ("model", "tool", "agent")
log = logging.getLogger(__name__)

# Normalized field -> the attribute keys that carry it, first match wins.
FIELDS: dict[str, tuple[str, ...]] = {
    "op": ("gen_ai.operation.name",),
    "oi_kind": ("openinference.span.kind",),
    "tl_kind": ("traceloop.span.kind",),
    "request_type": ("llm.request.type",),
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "request_model": ("gen_ai.request.model", "llm.request.model", "llm.model_name", "embedding.model_name"),
    "response_model": ("gen_ai.response.model", "llm.response.model"),
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
                     "llm.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                      "llm.token_count.completion", "llm.usage.completion_tokens"),
    "total_tokens": ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total"),
    "cache_read_tokens": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                          "llm.token_count.prompt_details.cache_read", "llm.usage.cache_read_input_tokens"),
    "cache_write_tokens": ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens",
                           "gen_ai.usage.cache_creation_input_tokens",
                           "llm.token_count.prompt_details.cache_write", "llm.usage.cache_creation_input_tokens"),
    "finish_reasons": ("gen_ai.response.finish_reasons", "gen_ai.completion.0.finish_reason",
                       "llm.response.finish_reason", "llm.finish_reason", "anthropic.message.stop_reason"),
    "response_id": ("gen_ai.response.id", "llm.response.id"),
    "output_messages": ("gen_ai.output.messages",),
    "tool_name": ("gen_ai.tool.name", "tool.name"),
    "tool_call_id": ("gen_ai.tool.call.id", "tool_call.id"),
    "tool_args": ("gen_ai.tool.call.arguments", "tool.arguments", "input.value", "traceloop.entity.input"),
    "agent_name": ("gen_ai.agent.name", "agent.name"),
    "entity_name": ("traceloop.entity.name",),
    "conversation": ("gen_ai.conversation.id", "session.id", "traceloop.association.properties.session_id",
                     "traceloop.association.properties.conversation_id"),
    "error_type": ("error.type",),
}

_PREFIXES = ("gen_ai.", "openinference.span.kind", "traceloop.span.kind", "llm.", "tool.name", "embedding.model_name")


def _path(key: str) -> str:
    return '$."' + key + '"'


def _extract_clause() -> tuple[str, dict[str, str]]:
    """One json_extract over every key; returns the SQL and field -> text expression."""
    keys: list[str] = []
    for fkeys in FIELDS.values():
        keys.extend(k for k in fkeys if k not in keys)
    idx = {k: i + 1 for i, k in enumerate(keys)}
    paths = ", ".join("'" + _path(k) + "'" for k in keys)
    exprs = {}
    for name, fkeys in FIELDS.items():
        parts = [f"j[{idx[k]}]" for k in fkeys]
        expr = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
        exprs[name] = f"({expr})->>'$'"
    # json_extract (JSON values, unquoted afterwards) measured 2.5x faster than
    # json_extract_string over the same list of paths (DuckDB 2.0).
    return f"json_extract(s.attributes, [{paths}])", exprs


_EXTRACT, _EX = _extract_clause()
# Taken whole from the kept span of a merged model call (they describe one span).
_KEEPER = frozenset(("trace_id", "span_id", "parent_span_id", "service", "name", "start_ts", "start_ns", "end_ns",
                     "duration_ms", "status_code", "status_message", "kind", "operation", "source"))
_PREFILTER = " OR ".join(f"contains(s.attributes::VARCHAR, '{p}')" for p in _PREFIXES)

_KIND = """CASE
    WHEN op IN ('chat', 'text_completion', 'embeddings', 'generate_content', 'completion') THEN 'model'
    WHEN op = 'execute_tool' THEN 'tool'
    WHEN op IN ('invoke_agent', 'create_agent') THEN 'agent'
    WHEN oi_kind IN ('LLM', 'EMBEDDING', 'RERANKER') THEN 'model'
    WHEN oi_kind = 'TOOL' THEN 'tool'
    WHEN oi_kind = 'AGENT' THEN 'agent'
    WHEN lower(tl_kind) = 'tool' THEN 'tool'
    WHEN lower(tl_kind) IN ('agent', 'workflow', 'task') THEN 'agent'
    WHEN tl_kind IS NULL AND oi_kind IS NULL AND (request_type IS NOT NULL OR request_model IS NOT NULL
         OR response_model IS NOT NULL OR input_tokens IS NOT NULL) THEN 'model'
END"""

_OPERATION = """coalesce(op,
    CASE oi_kind WHEN 'LLM' THEN 'chat' WHEN 'EMBEDDING' THEN 'embeddings' WHEN 'RERANKER' THEN 'rerank'
                 WHEN 'TOOL' THEN 'execute_tool' WHEN 'AGENT' THEN 'invoke_agent' END,
    CASE lower(tl_kind) WHEN 'tool' THEN 'execute_tool' WHEN 'agent' THEN 'invoke_agent'
                        WHEN 'workflow' THEN 'workflow' WHEN 'task' THEN 'task' END,
    CASE request_type WHEN 'completion' THEN 'text_completion' WHEN 'embedding' THEN 'embeddings'
                      WHEN 'chat' THEN 'chat' WHEN 'rerank' THEN 'rerank' END,
    'chat')"""


# Columns of a normalized row, in output order.
COLUMNS = ("trace_id", "span_id", "parent_span_id", "service", "name", "start_ts", "start_ns", "end_ns",
           "duration_ms", "status_code", "status_message", "kind", "operation", "provider", "request_model",
           "response_model", "model", "input_tokens", "output_tokens", "total_tokens", "cache_read_tokens",
           "cache_write_tokens", "finish_reasons", "response_id", "tool_name", "tool_call_id", "tool_args",
           "agent_name", "conversation", "error", "error_type", "source", "merged_spans")

# Flattened tool-call keys in output messages: OpenLLMetry ``gen_ai.completion.0.tool_calls.1.name`` and
# OpenInference ``llm.output_messages.0.message.tool_calls.1.tool_call.function.name``.
_FLAT_TOOL_KEY = (r"^(?:gen_ai\.completion|llm\.output_messages)\.(\d+)\.(?:message\.)?tool_calls\.(\d+)\."
                  r"(?:tool_call\.)?(?:function\.)?(name|arguments|id)$")

# How much a span of a model call says (per span, stored): the one kept when two instrumentations recorded the same call.
_RICHNESS = """((input_tokens IS NOT NULL)::INT + (output_tokens IS NOT NULL)::INT + (finish_reasons IS NOT NULL)::INT
    + (response_model IS NOT NULL)::INT + (provider IS NOT NULL)::INT + (response_id IS NOT NULL)::INT
    + (cache_read_tokens IS NOT NULL)::INT + (output_messages IS NOT NULL OR tc_attrs IS NOT NULL)::INT)"""
# (A conversation ID of its own or its trace's adds 2 at read: ``normalized_sql``'s ``_rich``.)


# Instrumentation scopes of the providers' own SDKs. When two spans of one call disagree about
# token counts, the SDK's wins: it reads its own wire protocol (traceloop's anthropic
# instrumentation adds message_start's output count to message_delta's cumulative one on streams).
_SDK_SCOPES = ("com.anthropic.sdk.python",)
_TOKEN_COLS = frozenset(("input_tokens", "output_tokens", "total_tokens", "cache_read_tokens", "cache_write_tokens"))


def _merge_agg(col: str) -> str:
    """How a merged model call takes ``col`` from the spans that recorded it."""
    order = "_rich DESC, start_ns, duration_ms DESC, span_id"
    if col in _TOKEN_COLS:
        order = "sdk DESC, " + order
    if col in _KEEPER:
        return f"first({col} ORDER BY {order})"
    if col == "conversation":  # an explicit conversation ID wins over a trace's fallback
        return f"first(conversation ORDER BY starts_with(conversation, 'trc_'), {order})"
    if col == "model":  # the merged spans' models contain one another: the dated snapshot is the most exact
        return "arg_max(model, (length(model), model)) FILTER (WHERE model IS NOT NULL)"
    if col == "error":
        return "bool_or(error)"
    if col == "merged_spans":
        return "count(*)"
    return f"first({col} ORDER BY {order}) FILTER (WHERE {col} IS NOT NULL)"


# Stored per-span columns of ``genai_calls`` (schema 0010), in table order.
STORED = ("trace_id", "span_id", "parent_span_id", "service", "name", "start_ts", "start_ns", "end_ns",
          "duration_ms", "status_code", "status_message", "resource_id", "kind", "operation", "provider",
          "request_model", "response_model", "model", "input_tokens", "output_tokens", "total_tokens",
          "cache_read_tokens", "cache_write_tokens", "finish_reasons", "response_id", "tool_name", "tool_call_id",
          "tool_args", "agent_name", "conversation", "span_conversation", "error", "error_type", "sdk", "scope",
          "family", "richness", "dup", "req_json", "req_flat")


def span_rows_sql(source: str = "spans", span_where: str = "TRUE") -> str:
    """A SELECT of the per-span rows stored in ``genai_calls`` (``STORED`` columns), one per
    GenAI span of ``source`` (the spans table, or a batch of spans being ingested, as ``s``).

    Everything here depends on the span alone: the fields read through the conventions' names,
    typed; what the span is; how much it says; the tool calls its output messages request.
    ``span_conversation`` is the span's own conversation ID; ``conversation`` (the trace's) and
    ``dup`` need the other spans and are set by ``fill``.
    """
    ex = _EX
    raw_cols = ",\n        ".join(f"{expr} AS {name}" for name, expr in ex.items())
    return f"""
WITH _raw AS MATERIALIZED (
    SELECT s.trace_id, s.span_id, s.parent_span_id, s.service, s.name, s.start_ts, s.start_ns, s.end_ns,
           s.duration_ms, s.status_code, s.status_message, s.resource_id, j, tc_attrs,
           coalesce(s.scope IN ({", ".join(f"'{x}'" for x in _SDK_SCOPES)}), FALSE) AS sdk, s.scope
    FROM (SELECT *, {_EXTRACT} AS j,
                 CASE WHEN contains(s.attributes::VARCHAR, 'tool_calls.') THEN s.attributes::VARCHAR END AS tc_attrs
          FROM {source} s WHERE ({span_where}) AND ({_PREFILTER})) s
), _fields AS (
    SELECT * EXCLUDE (j),
        {raw_cols}
    FROM _raw
), _typed AS (
    SELECT *, {_KIND} AS kind FROM _fields
), _rows AS MATERIALIZED (
SELECT trace_id, span_id, parent_span_id, service, name, start_ts, start_ns, end_ns, duration_ms,
       status_code, status_message, resource_id, kind,
       {_OPERATION} AS operation,
       provider,
       request_model,
       response_model,
       CASE WHEN kind = 'model' THEN coalesce(response_model, request_model) END AS model,
       TRY_CAST(input_tokens AS BIGINT) AS input_tokens,
       TRY_CAST(output_tokens AS BIGINT) AS output_tokens,
       coalesce(TRY_CAST(total_tokens AS BIGINT),
                TRY_CAST(input_tokens AS BIGINT) + TRY_CAST(output_tokens AS BIGINT),
                TRY_CAST(input_tokens AS BIGINT), TRY_CAST(output_tokens AS BIGINT)) AS total_tokens,
       TRY_CAST(cache_read_tokens AS BIGINT) AS cache_read_tokens,
       TRY_CAST(cache_write_tokens AS BIGINT) AS cache_write_tokens,
       CASE WHEN finish_reasons IS NULL THEN NULL
            WHEN starts_with(finish_reasons, '[') THEN TRY_CAST(finish_reasons AS JSON)::VARCHAR[]
            ELSE [finish_reasons] END AS finish_reasons,
       CASE WHEN kind = 'model' THEN response_id END AS response_id,
       CASE WHEN kind = 'tool' THEN coalesce(tool_name, entity_name, regexp_extract(name, '^execute_tool (.+)$', 1))
       END AS tool_name,
       tool_call_id,
       CASE WHEN kind = 'tool' THEN tool_args END AS tool_args,
       CASE WHEN kind = 'agent' THEN coalesce(agent_name, entity_name,
            nullif(regexp_extract(name, '^(?:invoke_agent|create_agent) (.+)$', 1), ''), name)
            ELSE agent_name END AS agent_name,
       conversation,
       (status_code = 'ERROR' OR error_type IS NOT NULL) AS error,
       error_type,
       sdk, scope,
       CASE WHEN oi_kind IS NOT NULL THEN 'openinference' WHEN tl_kind IS NOT NULL OR request_type IS NOT NULL
            THEN 'openllmetry' ELSE 'otel' END AS family,
       CASE WHEN kind = 'model' THEN output_messages END AS output_messages,
       CASE WHEN kind = 'model' THEN tc_attrs END AS tc_attrs
FROM _typed
WHERE kind IS NOT NULL
), _flat AS (
    SELECT trace_id, span_id, list({{'ord': ord, 'tname': tname, 'targs': targs, 'tid': tid}} ORDER BY ord) AS req
    FROM (SELECT trace_id, span_id, (p.m::INT) * 1000 + p.i::INT AS ord,
                 max(v) FILTER (WHERE p.f = 'name') AS tname, max(v) FILTER (WHERE p.f = 'arguments') AS targs,
                 max(v) FILTER (WHERE p.f = 'id') AS tid
          FROM (SELECT trace_id, span_id, regexp_extract(k, '{_FLAT_TOOL_KEY}', ['m', 'i', 'f']) AS p,
                       json_extract_string(tc_attrs, '$."' || k || '"') AS v
                FROM (SELECT trace_id, span_id, tc_attrs, unnest(json_keys(tc_attrs)) AS k FROM _rows
                      WHERE tc_attrs IS NOT NULL)
                WHERE regexp_matches(k, '{_FLAT_TOOL_KEY}'))
          GROUP BY trace_id, span_id, p.m, p.i)
    GROUP BY trace_id, span_id
)
SELECT r.* EXCLUDE (output_messages, tc_attrs, conversation),
       NULL::VARCHAR AS conversation, r.conversation AS span_conversation,
       {_RICHNESS} AS richness, FALSE AS dup,
       CASE WHEN output_messages IS NOT NULL THEN coalesce(CASE WHEN json_valid(output_messages) THEN
            [{{'ord': i, 'tname': t->>'name',
              'targs': CASE WHEN json_type(t->'arguments') = 'VARCHAR' THEN t->>'arguments'
                            ELSE (t->'arguments')::VARCHAR END,
              'tid': t->>'id'}}
             for t, i in [p for p in json_extract(output_messages, '$[*].parts[*]') if p->>'type' = 'tool_call']]
            END, []) END AS req_json,
       CASE WHEN tc_attrs IS NOT NULL THEN coalesce(f.req, []) END AS req_flat
FROM _rows r LEFT JOIN _flat f ON f.trace_id = r.trace_id AND f.span_id = r.span_id
"""


def _g_cols(prefix: str = "") -> str:
    """``COLUMNS`` of a stored row as it is (one span, one row)."""
    return ", ".join({"source": "'span' AS source", "merged_spans": "1::BIGINT AS merged_spans"}.get(c, prefix + c)
                     for c in COLUMNS)


def normalized_sql(span_where: str = "TRUE", source: str = "genai_calls", *, part: str = "all") -> str:
    """A SELECT yielding one normalized row per GenAI call matching ``span_where`` (over ``s``).

    Reads the per-span rows of ``genai_calls`` (or, with ``source="spans"``, makes them from the
    spans' attribute JSON on the fly: the reference the stored table is tested against, and the
    path taken when the table is not current). Two steps past the per-span rows, over the spans
    ``fill`` marked as candidates (``dup``) only: (1) a model call recorded by two
    instrumentations (the same response ID, or an SDK span nested in or beside a framework span
    with the same token counts, overlapping in time) becomes one row, each field taken from the
    richest span that has it; (2) tool calls the model requested in its output messages become
    ``tool`` rows (``source = 'requested'``) unless a tool span of the same call (call ID, else
    name) exists, so client-only instrumentation still shows tool calls and loops.

    ``part="extra"`` yields only the rows that are not a stored row as it is (merged calls, the
    candidates left apart, requested tool calls): usually few, so ``materialized`` copies those
    and reads the rest straight from the table.
    """
    if source == "spans":  # what ``fill`` stores, made here: every model span a candidate
        g = f"""_g AS MATERIALIZED (
    SELECT * REPLACE (coalesce(span_conversation, max(span_conversation) OVER (PARTITION BY trace_id),
                               'trc_' || trace_id) AS conversation, kind = 'model' AS dup)
    FROM ({span_rows_sql('spans', span_where)}))"""
    else:
        # Not materialized: each use reads only its columns (and rows: kinds, ``dup``) of the table.
        g = f"_g AS NOT MATERIALIZED (SELECT * FROM {source} s WHERE {span_where})"
    agg_cols = ",\n       ".join(f"{_merge_agg(c)} AS {c}" for c in (*COLUMNS, "req_json", "req_flat"))
    out_cols = ", ".join(COLUMNS)
    return f"""
WITH {g}, _m AS MATERIALIZED (
    SELECT *, 'span' AS source, 1::BIGINT AS merged_spans,
           richness + 2 * (NOT starts_with(conversation, 'trc_'))::INT AS _rich
    FROM _g WHERE kind = 'model' AND dup
), _links AS (
    -- The same response ID, overlapping in time (a server that answers every call with one
    -- constant ID must not fold sequential calls into one).
    SELECT a.span_id, b.span_id AS other FROM _m a JOIN _m b
        ON a.response_id = b.response_id AND a.span_id <> b.span_id
    WHERE a.start_ns <= b.end_ns AND b.start_ns <= a.end_ns
      AND (a.input_tokens IS NULL OR b.input_tokens IS NULL OR a.input_tokens = b.input_tokens)
    UNION
    -- No ID to go by: the same tokens and model, overlapping, one nested in the other, or siblings
    -- recorded by two different conventions or instrumentation scopes (OpenInference's LangChain
    -- span beside its OpenAI span; two parallel calls of one client are siblings of one scope).
    SELECT a.span_id, b.span_id FROM _m a JOIN _m b
        ON a.trace_id = b.trace_id AND a.input_tokens = b.input_tokens AND a.span_id <> b.span_id
       AND a.output_tokens IS NOT DISTINCT FROM b.output_tokens
    WHERE (a.response_id IS NULL OR b.response_id IS NULL OR a.response_id = b.response_id)
      AND (b.span_id = a.parent_span_id OR a.span_id = b.parent_span_id
           OR (a.parent_span_id IS NOT DISTINCT FROM b.parent_span_id
               AND (a.family <> b.family OR a.scope <> b.scope)))
      AND a.start_ns <= b.end_ns AND b.start_ns <= a.end_ns
      AND (a.model IS NULL OR b.model IS NULL OR contains(lower(a.model), lower(b.model))
           OR contains(lower(b.model), lower(a.model)))
), _groups AS (
    SELECT span_id, least(span_id, min(other)) AS grp FROM _links GROUP BY span_id
), _merged AS (
    SELECT {agg_cols}
    FROM _m JOIN _groups USING (span_id) GROUP BY grp
), _calls AS MATERIALIZED (
    SELECT {out_cols}, req_json, req_flat FROM _m WHERE span_id NOT IN (SELECT span_id FROM _groups)
    UNION ALL BY NAME SELECT * FROM _merged
), _req AS (
    -- The output messages' tool calls when they name any, else the flattened keys'.
    SELECT * EXCLUDE (r), r.ord AS ord, r.tname AS tname, r.targs AS targs, r.tid AS tid
    FROM (SELECT * EXCLUDE (req_json, req_flat),
                 unnest(CASE WHEN len(req_json) > 0 THEN req_json ELSE req_flat END) AS r
          FROM (SELECT * FROM _calls
                UNION ALL SELECT {_g_cols()}, req_json, req_flat FROM _g WHERE kind = 'model' AND NOT dup)
          WHERE len(req_json) > 0 OR len(req_flat) > 0)
    WHERE r.tname IS NOT NULL
), _spans_tools AS (  -- only the conversations with requested calls: often none
    SELECT conversation, tool_name, tool_call_id FROM _g
    WHERE kind = 'tool' AND conversation IN (SELECT conversation FROM _req)
), _req_open AS (
    SELECT *, row_number() OVER (PARTITION BY conversation, tname ORDER BY end_ns, ord) AS rn FROM _req r
    WHERE NOT (tid IS NOT NULL AND EXISTS (SELECT 1 FROM _spans_tools t
                                          WHERE t.conversation = r.conversation AND t.tool_call_id = r.tid))
), _requested AS (
    SELECT trace_id, span_id, span_id AS parent_span_id, service, name, start_ts, end_ns AS start_ns, end_ns,
           NULL::DOUBLE AS duration_ms, NULL::VARCHAR AS status_code, NULL::VARCHAR AS status_message,
           'tool' AS kind, 'execute_tool' AS operation, provider, NULL::VARCHAR AS request_model,
           NULL::VARCHAR AS response_model, NULL::VARCHAR AS model, NULL::BIGINT AS input_tokens,
           NULL::BIGINT AS output_tokens, NULL::BIGINT AS total_tokens, NULL::BIGINT AS cache_read_tokens,
           NULL::BIGINT AS cache_write_tokens, NULL::VARCHAR[] AS finish_reasons, NULL::VARCHAR AS response_id,
           tname AS tool_name, tid AS tool_call_id, targs AS tool_args, agent_name, conversation, FALSE AS error,
           NULL::VARCHAR AS error_type, 'requested' AS source, 1::BIGINT AS merged_spans
    FROM _req_open r
    WHERE rn > (SELECT count(*) FROM _spans_tools t WHERE t.conversation = r.conversation
                AND t.tool_name = r.tname AND (t.tool_call_id IS NULL OR t.tool_call_id NOT IN
                    (SELECT tid FROM _req q WHERE q.tid IS NOT NULL AND q.conversation = r.conversation)))
)
{"" if part == "extra" else f"SELECT {_g_cols()} FROM _g WHERE NOT (kind = 'model' AND dup) UNION ALL"}
SELECT {out_cols} FROM _calls
UNION ALL SELECT {out_cols} FROM _requested
"""


# The per-span rules, stamped in meta beside the table they filled: a runbrief whose rules
# differ rebuilds the table from spans at its first writable open (``ensure``).
# ``_FILL`` counts changes to ``fill``'s cross-span updates (not in the hashed text).
_FILL = 1
RULES = hashlib.sha256(f"{_FILL}:{span_rows_sql('_src')}".encode()).hexdigest()[:16]
_RULES_KEY = "genai_calls_rules"


def fill(con: Any, source: str) -> int:
    """Add the per-span rows of ``source`` (a batch of spans being inserted, by name; or all of
    ``spans``) to ``genai_calls``, in the caller's transaction, and bring the two cross-span
    columns of the traces it touched up to date: ``conversation`` (a span's own ID, else the
    greatest its trace carries, as a later span may bring one) and ``dup`` (candidates for
    ``normalized_sql``'s merge, a superset of the spans it links). Returns the rows added.

    The keys are looked up by a semi-join on the batch's few traces and response IDs: one scan
    of two columns, not a parse; a batch without GenAI spans costs only the text prefilter."""
    new = "_rb_genai_new"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {new} AS {span_rows_sql(source)}")
    return _settle(con, new)


def fill_batch(con: Any, batch: Any) -> int:
    """``fill`` for a batch of spans being inserted (an Arrow table in the ``spans`` columns).

    The attribute JSON is read on a connection of its own, outside the write transaction: a
    span the rules cannot read must not cost the spans their commit (DuckDB aborts the whole
    transaction on an error). Then the table's rules stamp is removed in the transaction, so
    reads take the spans (``source``) until the next writable open rebuilds the table."""
    cur = con.cursor()
    try:
        cur.register("_rb_genai_batch", batch)
        rows = cur.sql(span_rows_sql("_rb_genai_batch")).to_arrow_table()
    except duckdb.Error:
        log.exception("GenAI rows of a span batch could not be made; agents reads spans until a rebuild")
        con.execute("DELETE FROM meta WHERE key = ?", [_RULES_KEY])
        return 0
    finally:
        cur.close()
    if not rows.num_rows:
        return 0
    new = "_rb_genai_new"
    con.register("_rb_genai_rows", rows)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {new} AS SELECT * FROM _rb_genai_rows")
    finally:
        con.unregister("_rb_genai_rows")
    return _settle(con, new)


def _settle(con: Any, new: str) -> int:
    """Insert the per-span rows in temp table ``new`` and update the cross-span columns."""
    try:
        n = int(con.execute(f"SELECT count(*) FROM {new}").fetchone()[0])
        if not n:
            return 0
        con.execute(f"INSERT INTO genai_calls BY NAME SELECT * FROM {new}")
        con.execute(f"""
            UPDATE genai_calls g SET conversation = coalesce(g.span_conversation, t.c)
            FROM (SELECT trace_id, coalesce(max(span_conversation), 'trc_' || trace_id) AS c FROM genai_calls
                  WHERE trace_id IN (SELECT DISTINCT trace_id FROM {new}) GROUP BY trace_id) t
            WHERE g.trace_id = t.trace_id AND g.conversation IS DISTINCT FROM coalesce(g.span_conversation, t.c)""")
        con.execute(f"""
            UPDATE genai_calls g SET dup = TRUE
            FROM (SELECT response_id FROM genai_calls
                  WHERE kind = 'model' AND response_id IN (SELECT response_id FROM {new} WHERE kind = 'model')
                  GROUP BY response_id HAVING count(*) > 1) k
            WHERE g.kind = 'model' AND g.response_id = k.response_id AND NOT g.dup""")
        con.execute(f"""
            UPDATE genai_calls g SET dup = TRUE
            FROM (SELECT trace_id, input_tokens FROM genai_calls
                  WHERE kind = 'model' AND input_tokens IS NOT NULL
                    AND trace_id IN (SELECT trace_id FROM {new} WHERE kind = 'model' AND input_tokens IS NOT NULL)
                  GROUP BY trace_id, input_tokens HAVING count(*) > 1) k
            WHERE g.kind = 'model' AND g.trace_id = k.trace_id AND g.input_tokens = k.input_tokens AND NOT g.dup""")
        return n
    finally:
        con.execute(f"DROP TABLE IF EXISTS {new}")


def ensure(store: Store) -> bool:
    """Rebuild ``genai_calls`` from spans when it was filled by other rules (or never: a store
    made before schema 0010). Returns whether it rebuilt. Runs at a writable open."""
    if store.meta_get(_RULES_KEY) == RULES:
        return False
    try:
        with store.write() as con:
            con.execute("DELETE FROM genai_calls")
            fill(con, "spans")
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [_RULES_KEY, RULES])
    except duckdb.Error:  # the store still opens: reads take the spans (``source``)
        log.exception("genai_calls could not be rebuilt from spans; agents reads spans")
        return False
    return True


def source(store: Store) -> str:
    """Where normalized rows come from: the stored table when it follows these rules, else the
    spans' attribute JSON (a read-only open of a store not yet rebuilt, a ClickHouse store)."""
    try:
        return "genai_calls" if store.meta_get(_RULES_KEY) == RULES else "spans"
    except Exception:  # noqa: BLE001 - a store without meta or the key reads from spans
        return "spans"


def calls(store: Store, scope: Scope, *, kinds: tuple[str, ...] = KINDS, limit: int = 200_000) -> list[dict[str, Any]]:
    """Normalized GenAI rows in ``scope``, in time order (for the detectors and evaluators)."""
    where, args = scope.span_where(store, "s")
    sql = f"SELECT * FROM ({normalized_sql(where, source(store))}) WHERE kind IN ({', '.join('?' * len(kinds))})"
    args = [*args, *kinds]
    if scope.conversation:
        sql += " AND conversation = ?"
        args.append(scope.conversation)
    rows = store.query(sql + " ORDER BY start_ns, span_id LIMIT ?", [*args, limit])
    return rows


def _unwrap(value: Any) -> Any:
    """traceloop records a decorated function's input as ``{"args": [...], "kwargs": {...}}``;
    the wrapper words would make every call look alike, so compare what is inside."""
    if isinstance(value, dict) and value and set(value) <= {"args", "kwargs"}:
        args, kwargs = value.get("args") or [], value.get("kwargs") or {}
        if isinstance(args, list) and isinstance(kwargs, dict):
            if not args:
                return kwargs
            return {**{f"_{i}": a for i, a in enumerate(args)}, **kwargs}
    return value


def args_text(raw: str | None) -> str:
    """Tool arguments as canonical text (JSON with sorted keys when it parses, wrappers removed)
    for comparison; "" when the arguments were not captured (unknown, not empty)."""
    if not raw:
        return ""
    try:
        return orjson.dumps(_unwrap(orjson.loads(raw)), option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONDecodeError:
        return " ".join(raw.split())


_seq = iter(range(1, 1 << 62))


def _cost_sql(prices: PriceTable, models: list[str]) -> str:
    """The cost of a row in dollars, cached input tokens at their own rates; NULL for a model
    not in the price table. Prices per model as CASE expressions over the few models in scope:
    a join with a table of prices cost every aggregate a hash join over every row."""
    hits = [(m, hit[1]) for m in models if (hit := prices.lookup(m)) is not None]
    if not hits:
        return "NULL::DOUBLE"

    def price(attr: str) -> str:
        whens = " ".join(f"WHEN {_literal(m)} THEN {_literal(float(getattr(p, attr)))}::DOUBLE" for m, p in hits)
        return f"(CASE g.model {whens} END)"

    return f"""((greatest(0, coalesce(g.input_tokens, 0) - coalesce(g.cache_read_tokens, 0)
                    - coalesce(g.cache_write_tokens, 0)) * {price('input')}
              + coalesce(g.cache_read_tokens, 0) * {price('read')}
              + coalesce(g.cache_write_tokens, 0) * {price('write')}
              + coalesce(g.output_tokens, 0) * {price('output')}) / 1e6)"""


def _literal(v: Any) -> str:
    """A query parameter as SQL text (scope values: times, service names, trace IDs, prices)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, datetime):
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    return "'" + str(v).replace("'", "''") + "'"


def _inline(sql: str, args: list[Any]) -> str:
    """``sql`` with each ``?`` replaced by its argument as a literal, for a view (no parameters).
    The statements here hold no ``?`` but their placeholders: values always come as arguments."""
    parts = sql.split("?")
    if len(parts) != len(args) + 1:
        raise ValueError(f"{len(parts) - 1} placeholders for {len(args)} arguments")
    return "".join(p + (_literal(a) if i < len(args) else "") for i, (p, a) in
                   enumerate(zip(parts, [*args, None], strict=True)))


@contextmanager
def materialized(store: Store, scope: Scope, prices: PriceTable) -> Iterator[tuple[Any, str]]:
    """The normalized rows in ``scope`` (with ``cost``) as a view on a private cursor, so several
    aggregates read them by one name. A view, not a copy: over ``genai_calls`` each aggregate
    reads only the columns it needs (copying a million rows out to Arrow was most of the time)."""
    where, args = scope.span_where(store, "s")
    src = source(store)
    # A private cursor: the thread's shared one may hold an unfinished result (DuckDB then
    # refuses new work on it), and the registered views stay out of everyone else's way.
    cur = store.cursor().cursor()
    try:
        name = f"_rb_genai_{next(_seq)}"
        raw, extra = name + "_raw", name + "_extra"
        conv = " AND conversation = ?" if scope.conversation else ""
        cargs = [scope.conversation] if scope.conversation else []
        if src == "genai_calls":
            # Rows that are not a stored row as it is come only from merge candidates and model
            # calls naming tool calls: usually none, and then the merge is not planned over the
            # table at all (it cost a tenth of ``agents`` at a million rows even with nothing to merge).
            any_extra = cur.execute(f"""SELECT EXISTS (SELECT 1 FROM genai_calls s WHERE ({where}) AND kind = 'model'
                                        AND (dup OR len(req_json) > 0 OR len(req_flat) > 0))""", args).fetchone()[0]
            if any_extra:
                cur.execute(f"CREATE TEMP TABLE {extra} AS SELECT * FROM ({normalized_sql(where, src, part='extra')}) "
                            f"WHERE TRUE{conv}", [*args, *cargs])
            # A view takes no parameters: the scope's values go in as literals (``_inline``).
            cur.execute(_inline(f"""CREATE TEMP VIEW {raw} AS
                SELECT {_g_cols()} FROM genai_calls s WHERE ({where}) AND NOT (kind = 'model' AND dup){conv}
                {f"UNION ALL SELECT * FROM {extra}" if any_extra else ""}""", [*args, *cargs]))
        else:  # parsed from the spans: copied once, not parsed again by every aggregate
            cur.register(raw, cur.sql(f"SELECT * FROM ({normalized_sql(where, src)}) WHERE TRUE{conv}",
                                      params=[*args, *cargs]).to_arrow_table())
        models = [r[0] for r in cur.execute(f"SELECT DISTINCT model FROM {raw} WHERE model IS NOT NULL").fetchall()]
        cur.execute(f"CREATE TEMP VIEW {name} AS SELECT g.*, {_cost_sql(prices, models)} AS cost FROM {raw} g")
        yield cur, name
    finally:
        cur.close()
