"""The operation suite on both stores: every registered read operation, on a DuckDB store
and on its copy in chdb, must return the same JSON; the writing ones (incident detection,
`resolve`, `verify`) write through the ClickHouse store's write path and read back the same.

The case list comes from the ops registry: an operation added later runs here with no
parameters (or fails, naming the parameters it needs, until a case is added below), so a
new operation is compared on chdb without anyone remembering to. The ops that do not run
on chdb yet are `address.UNSUPPORTED`, each with its reason, and are checked to be refused.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("sqlglot")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ch_fill import batch  # noqa: E402

from runbrief import ops  # noqa: E402
from runbrief.errors import RunbriefError, UsageError  # noqa: E402
from runbrief.ingest.pipeline import Pipeline  # noqa: E402
from runbrief.store.clickhouse import address  # noqa: E402
from runbrief.store.clickhouse.chstore import ChStore  # noqa: E402
from runbrief.store.clickhouse.copy import copy_store  # noqa: E402
from runbrief.store.duck import Store  # noqa: E402

WALL = datetime(2026, 3, 3, 12, 0)  # the wall clock both stores' writes see (detected_at, resolved_at)


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:  # noqa: ANN401 - datetime's own signature
        return WALL.replace(tzinfo=tz) if tz is not None else WALL


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, ChStore]]:
    """A DuckDB store filled through the ingest pipeline and its chdb copy, made before any
    incident was detected: each store detects its own (chdb through its write path)."""
    from runbrief.analyze import incidents, memory, narrative

    base = tmp_path_factory.mktemp("chops")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(incidents, "_utcnow", lambda: WALL)
        mp.setattr(memory, "datetime", _FrozenDatetime)
        mp.setattr(narrative, "datetime", _FrozenDatetime)
        duck = Store.open(base / "duck")
        Pipeline(duck).write(batch())
        ch = ChStore.open(base / "chdb")
        copied = copy_store(duck, ch)
        assert copied["otel_logs"] == 4080 and copied["otel_traces"] == 2160 + 36 and copied["events"] == 16
        assert copied["genai_calls"] == 27  # nine requests, three GenAI spans each
        try:
            yield duck, ch
        finally:
            ch.close()
            duck.close()


def _same(pair: tuple[Store, ChStore], op: str, params: dict[str, Any]) -> Any:
    duck, ch = pair
    a = ops.run(duck, op, dict(params))
    b = ops.run(ch, op, dict(params))  # type: ignore[arg-type]
    assert a == b, (op, params)
    return a


def _facts(duck: Store) -> dict[str, str]:
    return {"trace": duck.scalar("SELECT trace_id FROM spans WHERE status_code = 'ERROR' ORDER BY trace_id LIMIT 1"),
            "ok_trace": duck.scalar("SELECT trace_id FROM spans WHERE status_code = 'OK' ORDER BY trace_id LIMIT 1"),
            "pattern": duck.scalar("SELECT pattern_id FROM patterns ORDER BY count DESC, pattern_id LIMIT 1"),
            "log": f"log_{duck.scalar('SELECT min(id) FROM logs')}"}


# Parameter sets per operation ({name} is filled from the store's facts); an operation
# missing here runs with no parameters.
CASES: dict[str, list[dict[str, Any]]] = {
    "incidents": [{}, {"all": True}, {"service": "spark-exec"}],
    "incident": [{"id": "inc_1", "narrative": False}, {"id": "inc_2"}],
    "similar_incidents": [{"id": "inc_1"}, {"id": "inc_2"}],
    "suspects": [{"id": "inc_1"}],
    "brief": [{}, {"service": "nova-api"}, {"budget": 600}],
    "changes": [{"service": "nova-api", "since_deploy": True}, {"deploy": "dep_1"}, {"service": "datanode"}],
    "show": [{"id": "inc_1"}, {"id": "dep_1"}, {"id": "{log}"}, {"id": "pat_{pattern}"}, {"id": "trc_{trace}"}],
    "logs": [{"limit": 30}, {"service": "nova-api", "severity": "error", "limit": 20}, {"contains": "QueuePool"}],
    "traces": [{}, {"status": "error"}, {"service": "nova-api", "min_duration_ms": 100}],
    "trace_show": [{"id": "{trace}"}, {"id": "{ok_trace}"}],
    "trace_summary": [{"id": "{trace}"}, {"latest": True, "service": "nova-api"}],
    "trace_diff": [{"a": "{ok_trace}", "b": "{trace}"}, {"route": "/nova-api/items", "deploy": "dep_1"}],
    "trace_compare": [{"id": "{trace}", "plan": "1. Handle `GET /nova-api/items` (< 100 ms)\n2. `SELECT items`"}],
    "perf": [{}, {"service": "nova-api"}],
    "patterns": [{}, {"service": "nova-api", "severity": "error"}],
    "events": [{}, {"service": "spark-exec", "warnings_only": True}],
    "baseline": [{}, {"service": "nova-api"}],
    "promote_check": [{"service": "nova-api", "source": "prod", "target": "prod"}],
    "gate_suggest": [{"service": "nova-api"}],
    "eval_scores": [{"trace_id": "{trace}"}],
    "web_pattern_series": [{"id": "{pattern}"}],
    "web_service_series": [{"name": "nova-api"}],
    "web_trace": [{"id": "{trace}"}],
    "web_verdict": [{"id": "inc_1"}],
}


def _read_cases() -> list[Any]:
    out = []
    for op in ops.all_operations():
        if not op.read_only:
            continue
        marks = [pytest.mark.skip(reason=address.UNSUPPORTED[op.name])] if op.name in address.UNSUPPORTED else []
        for i, params in enumerate(CASES.get(op.name, [{}])):
            out.append(pytest.param(op.name, params, id=f"{op.name}-{i}", marks=marks))
    return out


@pytest.mark.parametrize(("op", "params"), _read_cases())
def test_read_op_same_on_both(pair: tuple[Store, ChStore], op: str, params: dict[str, Any]) -> None:
    facts = _facts(pair[0])
    filled = {k: v.format(**facts) if isinstance(v, str) else v for k, v in params.items()}
    duck, ch = pair
    try:
        want = ops.run(duck, op, dict(filled))
    except RunbriefError as exc:  # an answer that is an error (no such trace...) must be the same error
        with pytest.raises(type(exc)) as other:
            ops.run(ch, op, dict(filled))  # type: ignore[arg-type]
        assert str(other.value).replace(str(ch.path), "STORE") == str(exc).replace(str(duck.path), "STORE")
        return
    got = ops.run(ch, op, dict(filled))  # type: ignore[arg-type]
    if op == "stats":  # where each store is, its size and its own schema's version differ by nature
        for k in ("store_path", "store_bytes", "schema_version"):
            assert got.pop(k) and want.pop(k)
    assert got == want


def test_the_suite_finds_what_was_injected(pair: tuple[Store, ChStore]) -> None:
    """The comparison above is only worth something if the answers hold findings."""
    out = _same(pair, "incidents", {"all": True})
    titles = {i["id"]: i["title"] for i in out}
    assert "Connection pool exhausted in nova-api after dep_1" in titles.values(), titles
    assert any("memory" in t.lower() for t in titles.values()), titles
    changes = _same(pair, "changes", {"service": "nova-api", "since_deploy": True})
    assert {i["kind"] for i in changes["items"]} >= {"new"}


def test_unsupported_ops_are_refused_and_every_name_is_an_op(tmp_path: Path) -> None:
    names = {o.name for o in ops.all_operations()}
    assert set(address.UNSUPPORTED) <= names
    for name in address.UNSUPPORTED:
        with pytest.raises(UsageError, match="does not run on a ClickHouse store yet"):
            address.run_op(f"chdb:{tmp_path}", name, {})


def test_writing_ops_same_on_both(pair: tuple[Store, ChStore]) -> None:
    """Writes go through ChStore.write (an UPDATE of an incident becomes a newer row version)
    and read back merged: resolve, then the incident list, a deploy mark and a verify."""
    _same(pair, "detect_incidents", {})
    resolved = _same(pair, "resolve", {"id": "inc_1", "fix": "rolled back to 1.0", "commit": "9f1c2ab"})
    assert resolved["status"] == "resolved" and resolved["fixes"][0]["fix"] == "rolled back to 1.0"
    listed = _same(pair, "incidents", {"all": True})
    assert [i["status"] for i in listed if i["id"] == "inc_1"] == ["resolved"]  # one row per incident, the newest
    assert pair[1].scalar("SELECT count(*) FROM incidents WHERE id = 1") == 1
    with pytest.raises(RunbriefError, match="no deploy of spark-exec"):  # the same refusal on both
        ops.run(pair[1], "verify", {"incident": "inc_2"})  # type: ignore[arg-type]
    with pytest.raises(RunbriefError, match="no deploy of spark-exec"):
        ops.run(pair[0], "verify", {"incident": "inc_2"})
    # the fix deployed (through the ingest pipeline), then verified: too early, no data after it
    marked = _same(pair, "deploy_mark", {"service": "spark-exec", "version": "1.1", "at": "2026-03-02T02:59:00Z"})
    assert marked["id"] == "dep_2"
    verdict = _same(pair, "verify", {"incident": "inc_2"})
    assert verdict["deploy"] == "dep_2" and verdict["verdict"], verdict
    _same(pair, "similar_incidents", {"id": "inc_2"})


def test_evaluations_same_on_both(pair: tuple[Store, ChStore], tmp_path: Path) -> None:
    """eval and gate score the same traces the same way and store their runs and scores
    (INSERT ... SELECT from a registered Arrow table: 360 rows, read from a spilled Parquet file)."""
    gate = tmp_path / "runbrief.toml"
    gate.write_text('[[gate.check]]\nevaluator = "error_free"\n')
    runs = []
    for op, params in (("eval", {"service": "nova-api", "evaluators": ["error_free"]}),
                       ("gate", {"config": str(gate), "service": "nova-api"})):
        a, b = ops.run(pair[0], op, dict(params)), ops.run(pair[1], op, dict(params))  # type: ignore[arg-type]
        runs.append((a["run_id"], b["run_id"]))
        for k in ("run_id", "elapsed_ms"):  # a random ID and a wall-clock time per run
            a.pop(k), b.pop(k)
        assert a == b and a["traces"] == 360 and a["checks"][0]["status"] == "fail", op
    for ra, rb in runs:
        sa = ops.run(pair[0], "eval_scores", {"run_id": ra, "limit": 1000})
        sb = ops.run(pair[1], "eval_scores", {"run_id": rb, "limit": 1000})  # type: ignore[arg-type]
        assert len(sa["scores"]) == len(sb["scores"]) >= 1  # eval: one per trace and its verdict; gate: its verdict
    assert len(ops.run(pair[1], "eval_scores", {"run_id": runs[0][1], "limit": 1000})["scores"]) > 300  # type: ignore[arg-type]


# Constructs the overrides rewrite, each read on both stores from the same tables: the
# rows must be equal (a rewrite that changed the meaning would show here first).
SQL_CASES = [
    # first(x ORDER BY a DESC, b) [FILTER]: the winner by a mixed-direction key; NULL when nothing matches
    """SELECT service, first(span_id ORDER BY duration_ms DESC, span_id) top,
              first(name ORDER BY start_ns) FILTER (WHERE status_code = 'ERROR') first_error
       FROM spans GROUP BY service ORDER BY service""",
    # WITH ... AS MATERIALIZED
    """WITH e AS MATERIALIZED (SELECT service, count(*) n FROM spans GROUP BY service) SELECT * FROM e ORDER BY 1""",
    # quantile_cont interpolates as DuckDB's
    """SELECT service, quantile_cont(duration_ms, 0.5) p50, quantile_cont(duration_ms, 0.95) p95
       FROM spans GROUP BY service ORDER BY service""",
    # a correlated NOT EXISTS on the same relation
    """WITH e0 AS (SELECT trace_id, span_id, parent_span_id FROM spans WHERE status_code = 'ERROR')
       SELECT count(*) n FROM e0 WHERE NOT EXISTS (SELECT 1 FROM e0 p WHERE p.trace_id = e0.trace_id
                                                   AND p.span_id = e0.parent_span_id)""",
    # a JSON list column cast to a list; HAVING sum(n) over an alias named n
    """SELECT service, sum(n)::BIGINT n FROM (SELECT service, count(*) n FROM spans GROUP BY service, name)
       GROUP BY service HAVING sum(n) > 10 ORDER BY service""",
    """SELECT id FROM incidents WHERE list_contains(CAST(affected_services AS VARCHAR[]), 'spark-exec') ORDER BY id""",
    "SELECT epoch_ns(max(ts)) t FROM deploys",
    # bool_or / bool_and; a named struct read by field; len() of a list column
    """SELECT service, bool_or(status_code = 'ERROR') e, bool_and(duration_ms > 0) p FROM spans
       GROUP BY service ORDER BY service""",
    """SELECT s.n, s.svc FROM (SELECT {'n': count(*), 'svc': service} s FROM spans GROUP BY service) ORDER BY s.svc""",
    "SELECT span_id, len(finish_reasons) n FROM genai_calls WHERE kind = 'model' ORDER BY span_id",
    # UNION ALL BY NAME over a CTE listed in another order
    """WITH m AS (SELECT service, count(*) n FROM spans GROUP BY service)
       SELECT * FROM (SELECT n, service FROM m UNION ALL BY NAME SELECT * FROM m) ORDER BY service, n""",
    # a correlated NOT IN, and a join selecting two columns of one name
    """SELECT count(*) n FROM spans s WHERE s.parent_span_id IS NOT NULL AND s.parent_span_id NOT IN
       (SELECT p.span_id FROM spans p WHERE p.trace_id = s.trace_id AND p.status_code = 'ERROR')""",
    """SELECT count(*) n FROM (SELECT a.span_id, b.span_id FROM spans a JOIN spans b ON a.span_id = b.parent_span_id)""",
]


@pytest.mark.parametrize("sql", SQL_CASES, ids=range(len(SQL_CASES)))
def test_rewritten_sql_reads_the_same(pair: tuple[Store, ChStore], sql: str) -> None:
    duck, ch = pair
    ops.run(duck, "incidents", {})  # detected on both: the incidents table has rows
    ops.run(ch, "incidents", {})  # type: ignore[arg-type]
    want = duck.query(sql)
    assert want
    assert ch.query(sql) == want


def test_temporary_views_on_a_private_cursor(pair: tuple[Store, ChStore]) -> None:
    """evals.genai's pattern: CREATE TEMP TABLE / VIEW on cursor().cursor(), read by name, closed."""
    got = []
    for store in pair:
        cur = store.cursor().cursor()
        try:
            cur.execute("CREATE TEMP TABLE _t_err AS SELECT trace_id, service FROM spans WHERE status_code = ?",
                        ["ERROR"])
            cur.execute("CREATE TEMP VIEW _t_view AS SELECT service, count(*) n FROM _t_err GROUP BY service")
            got.append(cur.execute("SELECT * FROM _t_view ORDER BY service").fetchall())
        finally:
            cur.close()
    assert got[0] and got[0] == got[1]
    with pytest.raises(RunbriefError):  # private to the closed cursor
        pair[1].query("SELECT * FROM _t_view")
