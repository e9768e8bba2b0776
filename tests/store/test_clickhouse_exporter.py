"""The issue's test: a ClickHouse store written in the Collector exporter's schema by a
Collector-shaped writer (the exporter's DDL and INSERT column lists, its conventions: empty
strings for absent values, `Server` / `Error` spellings, nanosecond durations), which
runbrief did not ingest, answers `changes` and `incidents` once its lines are distilled
(store.clickhouse.collector): the same findings as the DuckDB ingest of the same records.
Deploys are not written: both sides infer them from the change of `service.version`."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("sqlglot")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ch_fill import batch  # noqa: E402
from test_clickhouse import COLLECTOR_DDL, LOG_INSERT, SPAN_INSERT  # noqa: E402

from runbrief import ops  # noqa: E402
from runbrief.errors import NotFound  # noqa: E402
from runbrief.ingest.pipeline import Batch, Pipeline  # noqa: E402
from runbrief.records import LogRecord, Span  # noqa: E402
from runbrief.store.clickhouse.chstore import ChStore  # noqa: E402
from runbrief.store.duck import Store  # noqa: E402

WALL = datetime(2026, 3, 3, 12, 0)


def _s(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _map(d: dict[str, Any]) -> str:
    return "map(" + ", ".join(f"{_s(str(k))}, {_s(str(v))}" for k, v in d.items()) + ")"


def _ts(ns: int) -> str:
    return f"fromUnixTimestamp64Nano({ns})"


def _log_row(r: LogRecord) -> str:
    sev = r.severity_text or ""
    return (f"({_ts(r.ts_ns)}, '', '', 0, {_s(sev)}, {r.severity_number}, {_s(r.resource.service)}, {_s(r.body)}, "
            f"'', {_map(r.resource.attributes)}, '', '', '', map(), {_map(r.attributes)})")


def _span_row(s: Span) -> str:
    ev_ts = "[" + ", ".join(_ts(e.ts_ns) for e in s.events) + "]"
    ev_names = "[" + ", ".join(_s(e.name) for e in s.events) + "]"
    ev_attrs = "[" + ", ".join(_map(e.attributes) for e in s.events) + "]"
    return (f"({_ts(s.start_ns)}, {_s(s.trace_id)}, {_s(s.span_id)}, {_s(s.parent_span_id or '')}, '', {_s(s.name)}, "
            f"{_s(s.kind.capitalize())}, {_s(s.resource.service)}, {_map(s.resource.attributes)}, 'http', '1.0', "
            f"{_map(s.attributes)}, {s.end_ns - s.start_ns}, {_s(s.status_code.capitalize())}, '', "
            f"{ev_ts}, {ev_names}, {ev_attrs}, [], [], [], [])")


def _collector_writes(folder: Path, records: Batch) -> None:
    """What a Collector with the clickhouseexporter does: its DDL, then INSERT batches."""
    from chdb import session

    s = session.Session(str(folder))
    try:
        for ddl in COLLECTOR_DDL:
            s.query(ddl)
        for k in range(0, len(records.logs), 1000):
            s.query(LOG_INSERT + ", ".join(_log_row(r) for r in records.logs[k:k + 1000]))
        for k in range(0, len(records.spans), 1000):
            s.query(SPAN_INSERT + ", ".join(_span_row(sp) for sp in records.spans[k:k + 1000]))
    finally:
        s.close()


def _without_log_ids(value: Any) -> Any:
    """Log IDs are each store's own numbering (the DuckDB ingest's, the distiller's): drop them."""
    import re

    if isinstance(value, dict):
        return {k: _without_log_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_log_ids(v) for v in value if not (isinstance(v, str) and re.fullmatch(r"log_-?\d+", v))]
    if isinstance(value, str):
        return re.sub(r"log_-?\d+", "log_N", value)
    return value


def test_a_collector_written_store_answers_changes_and_incidents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbrief.analyze import incidents
    from runbrief.store.clickhouse.collector import distill

    monkeypatch.setattr(incidents, "_utcnow", lambda: WALL)
    full = batch()
    records = Batch(logs=full.logs, spans=full.spans)  # no deploy, no Kubernetes events: a Collector's signals
    _collector_writes(tmp_path / "chdb", records)
    with Store.open(tmp_path / "duck") as duck:
        Pipeline(duck).write(Batch(logs=list(records.logs), spans=list(records.spans)))
        want_changes = ops.run(duck, "changes", {"service": "nova-api", "since_deploy": True})
        want_incidents = ops.run(duck, "incidents", {"all": True})
    with ChStore.open(tmp_path / "chdb") as ch:
        with pytest.raises(NotFound, match="no deploy"):  # not distilled yet: no deploy inferred, no patterns
            ops.run(ch, "changes", {"service": "nova-api", "since_deploy": True})  # type: ignore[arg-type]
        done = distill(ch, lag_s=0)
        assert done["rows_read"] == len(records.logs)
        got_changes = ops.run(ch, "changes", {"service": "nova-api", "since_deploy": True})  # type: ignore[arg-type]
        got_incidents = ops.run(ch, "incidents", {"all": True})  # type: ignore[arg-type]
    assert want_changes["deploy"]["version"] == "2.0"  # inferred from service.version on both
    assert any(i["kind"] == "new" for i in want_changes["items"])
    assert want_changes["deploy"]["environment"] == "prod"  # from the resource, on both
    assert _without_log_ids(got_changes) == _without_log_ids(want_changes)
    assert [i["title"] for i in want_incidents] == ["Connection pool exhausted in nova-api after dep_1"]
    assert _without_log_ids(got_incidents) == _without_log_ids(want_incidents)
