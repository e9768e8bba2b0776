"""The GenAI rows written at ingest (``genai_calls``, schema 0010) against the normalization made
from the spans' attribute JSON at read time (``genai.normalized_sql(source="spans")``, what every
read did before the table existed).

Each scenario of the issue-19 and convention tests (real SDK spans, the conventions' own
examples in tests/data/genai/) is run again here and must give the same rows and the same
``agents`` report from either source; ingested one span per batch in reverse order (so a trace's
conversation ID and a call's second record arrive in later batches), it must still pass its own
assertions. Retention removes the rows with their spans, and a store made before the migration
is backfilled when it is opened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import test_genai_conventions as conv
import test_genai_issue19 as i19
from evals_otel import Recorder, decode_traces, encode_spans  # noqa: F401 - the same encoder as Recorder.write

from runbrief import ops
from runbrief.evals import genai
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.store.duck import Store
from runbrief.store.retention import apply_retention

SCENARIOS: dict[str, Callable[..., None]] = {
    "same_response_id": i19.test_same_response_id_is_one_call_even_across_traces,
    "nested_without_ids": i19.test_nested_framework_and_client_spans_without_ids,
    "semconv_tool_span": lambda store, rec: i19.test_tool_calls_from_otel_output_messages(store, rec, True),
    "semconv_requested": lambda store, rec: i19.test_tool_calls_from_otel_output_messages(store, rec, False),
    "openinference_tools": i19.test_tool_calls_from_openinference_output_messages,
    "client_only_loop": i19.test_loop_seen_with_client_only_instrumentation,
    "missing_arguments": i19.test_missing_arguments_are_unknown_not_identical,
    "names": i19.test_names_finish_reasons_embeddings_and_cache,
    "not_one_call": i19.test_what_is_not_one_call,
    "otel_names": conv.test_otel_genai_current_and_older_names,
    "openinference": conv.test_openinference_spans,
    "openllmetry": conv.test_openllmetry_spans,
    "trace_conversation": conv.test_conversation_falls_back_to_trace_and_time_buckets,
}


class SpanBySpan(Recorder):
    """Writes each finished span in a batch of its own, the last finished first: the parent of a
    call, the span carrying the conversation ID and the second record of a call all come later."""

    def write(self, store: Store) -> int:
        spans = decode_traces(encode_spans(self.exporter.get_finished_spans()).SerializeToString(),
                              "application/x-protobuf").spans
        pipe = Pipeline(store)
        for span in reversed(spans):
            pipe.write(Batch(spans=[span]))
        self.exporter.clear()
        return len(spans)


def _rows(store: Store, source: str) -> list[tuple[Any, ...]]:
    rows = store.cursor().execute(f"SELECT * FROM ({genai.normalized_sql('TRUE', source)})").fetchall()
    return sorted((tuple(tuple(v) if isinstance(v, list) else v for v in r) for r in rows), key=repr)


def _report_from_spans(store: Store) -> dict[str, Any]:
    """The ``agents`` report the read-time path gives: the table's rules stamp made stale, so
    ``genai.source`` reads the spans (as for a store that was not rebuilt yet)."""
    stamp = store.meta_get("genai_calls_rules")
    store.meta_set("genai_calls_rules", "stale")
    try:
        assert genai.source(store) == "spans"
        return ops.run(store, "agents", {})
    finally:
        store.meta_set("genai_calls_rules", stamp or "")


def _assert_agrees(store: Store) -> None:
    assert genai.source(store) == "genai_calls"
    stored = _rows(store, "genai_calls")
    assert stored, "the scenario wrote GenAI spans"
    assert stored == _rows(store, "spans")
    assert ops.run(store, "agents", {}) == _report_from_spans(store)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_stored_rows_agree_with_read_time_normalization(name: str, store: Store, tmp_path: Path) -> None:
    SCENARIOS[name](store, Recorder())
    _assert_agrees(store)


@pytest.mark.parametrize("name", ["same_response_id", "nested_without_ids", "semconv_tool_span", "client_only_loop",
                                  "trace_conversation"])
def test_span_by_span_ingest_gives_the_same_rows(name: str, store: Store) -> None:
    SCENARIOS[name](store, SpanBySpan())  # the scenario's own assertions, over the stored rows
    _assert_agrees(store)


def test_retention_removes_the_rows_with_their_spans(store: Store) -> None:
    i19.test_loop_seen_with_client_only_instrumentation(store, Recorder())
    n = store.scalar("SELECT count(*) FROM genai_calls")
    assert n and n == store.scalar("SELECT count(*) FROM spans WHERE span_id IN (SELECT span_id FROM genai_calls)")
    newest = store.scalar("SELECT max(start_ts) FROM spans")
    apply_retention(store, now=newest + (newest - newest.replace(year=newest.year - 1)))
    assert store.scalar("SELECT count(*) FROM spans") == 0
    assert store.scalar("SELECT count(*) FROM genai_calls") == 0
    assert ops.run(store, "agents", {})["totals"]["model_calls"] == 0


def test_store_made_before_the_migration_is_backfilled(tmp_path: Path) -> None:
    path = tmp_path / "old"
    store = Store.open(path)
    i19.test_same_response_id_is_one_call_even_across_traces(store, Recorder())
    i19.test_loop_seen_with_client_only_instrumentation(store, Recorder())
    before = _rows(store, "genai_calls")
    report = ops.run(store, "agents", {})
    with store.write() as con:  # the store as schema 0009 left it: no table, no stamp
        con.execute("DROP TABLE genai_calls")
        con.execute("DELETE FROM meta WHERE key = 'genai_calls_rules'")
        con.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    store.close()
    store = Store.open(path)
    try:
        assert store.meta_get("schema_version") == "10"
        assert genai.source(store) == "genai_calls"
        assert _rows(store, "genai_calls") == before
        assert ops.run(store, "agents", {}) == report
    finally:
        store.close()


def test_rows_made_by_other_rules_are_rebuilt_at_open(tmp_path: Path) -> None:
    path = tmp_path / "s"
    store = Store.open(path)
    i19.test_what_is_not_one_call(store, Recorder())
    before = _rows(store, "genai_calls")
    with store.write() as con:  # as an older runbrief with other rules would have left it
        con.execute("UPDATE genai_calls SET input_tokens = NULL, conversation = 'x'")
        con.execute("UPDATE meta SET value = 'older' WHERE key = 'genai_calls_rules'")
    store.close()
    store = Store.open(path)
    try:
        assert _rows(store, "genai_calls") == before
    finally:
        store.close()


def test_a_batch_without_genai_spans_adds_no_rows(store: Store) -> None:
    rec = Recorder()
    with rec.span("GET /items", {"http.route": "/items", "http.request.method": "GET"}, at=0, ms=5):
        pass
    rec.write(store)
    assert store.scalar("SELECT count(*) FROM spans") == 1
    assert store.scalar("SELECT count(*) FROM genai_calls") == 0


def test_view_literals_quote_telemetry_text() -> None:
    """Scope values and model names (telemetry text) go into the agents view as literals."""
    sql = genai._inline("SELECT ? AS a, ? AS b, ? AS c", ["it's'); DROP TABLE spans; --", 3, None])
    assert sql == "SELECT 'it''s''); DROP TABLE spans; --' AS a, 3 AS b, NULL AS c"
    with pytest.raises(ValueError):
        genai._inline("SELECT ?", [])
