"""The store: schema stamped and migrated, newer stores refused, Arrow writes, retention."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from runbrief.errors import StoreError
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Deploy, Event, MetricPoint, Resource, Span
from runbrief.store.duck import SCHEMA_VERSION, Store, resolve_store_path
from runbrief.store.retention import apply_retention

RES = Resource({"service.name": "api", "service.version": "2"})


def _spans(n: int, start_ns: int) -> list[Span]:
    return [Span(trace_id=f"{i:032x}", span_id=f"{i + 1:016x}", name="GET /x", start_ns=start_ns + i,
                 end_ns=start_ns + i + 2_000_000, resource=RES, attributes={"http.route": "/x"}) for i in range(n)]


def test_new_store_is_stamped_and_reopens(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a") as s:
        assert int(s.meta_get("schema_version")) == SCHEMA_VERSION
    with Store.open(tmp_path / "a") as s:
        assert int(s.meta_get("schema_version")) == SCHEMA_VERSION


def test_store_from_newer_runbrief_is_refused_naming_the_path(tmp_path: Path) -> None:
    with Store.open(tmp_path / "b") as s:
        s.meta_set("schema_version", str(SCHEMA_VERSION + 5))
    with pytest.raises(StoreError, match=str(resolve_store_path(tmp_path / "b"))):
        Store.open(tmp_path / "b")


def test_a_schema_7_store_with_unfolded_counts_migrates_without_losing_them(tmp_path: Path) -> None:
    """Schema 8 drops logs.params; schema 9 folds rows left in pattern_counts_pending (as
    a crash under load left them) and drops that table for logs_unfolded."""
    Store.open(tmp_path / "s").close()
    db = tmp_path / "s" / "runbrief.duckdb"
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE logs ADD COLUMN params JSON")
    con.execute("DROP TABLE logs_unfolded")
    con.execute("""CREATE TABLE pattern_counts_pending (service VARCHAR NOT NULL, pattern_id VARCHAR NOT NULL,
        minute TIMESTAMP NOT NULL, count BIGINT NOT NULL, errors BIGINT NOT NULL DEFAULT 0, first_ts TIMESTAMP,
        last_ts TIMESTAMP, examples JSON)""")
    con.execute("""INSERT INTO pattern_counts VALUES ('api', 'p1', '2026-01-01 10:00', 2, 0, '2026-01-01 10:00:01',
        '2026-01-01 10:00:02', '[{"log_id": 1, "body": "a"}, {"log_id": 2, "body": "b"}]')""")
    con.execute("""INSERT INTO pattern_counts_pending VALUES
        ('api', 'p1', '2026-01-01 10:00', 3, 1, '2026-01-01 10:00:00', '2026-01-01 10:00:05',
         '[{"log_id": 7, "body": "c"}, {"log_id": 5, "body": "d"}]'),
        ('api', 'p0', '2026-01-01 10:01', 1, 0, '2026-01-01 10:01:00', '2026-01-01 10:01:00',
         '[{"log_id": 9, "body": "e"}]')""")
    con.execute("INSERT INTO pattern_aliases VALUES ('p0', 'p1')")
    con.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    con.close()
    with Store.open(tmp_path / "s") as s:
        assert s.scalar("SELECT value FROM meta WHERE key = 'schema_version'") == str(SCHEMA_VERSION)
        assert "params" not in {r["column_name"] for r in s.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'logs'")}
        assert not s.query("SELECT * FROM information_schema.tables WHERE table_name = 'pattern_counts_pending'")
        rows = s.query("SELECT minute, count, errors, first_ts, examples FROM pattern_counts ORDER BY minute")
        assert [(r["count"], r["errors"]) for r in rows] == [(5, 1), (1, 0)]  # p0's row went to p1
        assert rows[0]["first_ts"] == datetime(2026, 1, 1, 10, 0, 0)
        assert [e["log_id"] for e in json.loads(rows[0]["examples"])] == [1, 2, 5]
        assert s.scalar("SELECT count FROM patterns WHERE pattern_id = 'p1'") == 4


def test_store_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_store_path(tmp_path / "x") == (tmp_path / "x" / "runbrief.duckdb").resolve()
    assert resolve_store_path(tmp_path / "y.duckdb") == (tmp_path / "y.duckdb").resolve()
    monkeypatch.setenv("RUNBRIEF_STORE", str(tmp_path / "env"))
    assert resolve_store_path(None) == (tmp_path / "env" / "runbrief.duckdb").resolve()


def test_pipeline_writes_every_record_type_in_one_transaction(store: Store) -> None:
    now = time.time_ns()
    batch = Batch(
        spans=_spans(1000, now),
        metrics=[MetricPoint(name="m", type="histogram", ts_ns=now, resource=RES, count=3, sum=6.0,
                             buckets={"bounds": [1, 5], "counts": [1, 1, 1]})],
        events=[Event(ts_ns=now, reason="OOMKilled", type="Warning", object_kind="Pod", object_name="api-1")],
        deploys=[Deploy(ts_ns=now, service="api", version="2")],
    )
    assert Pipeline(store).write(batch) == {"logs": 0, "spans": 1000, "metric_points": 1, "events": 1, "deploys": 1}
    assert store.scalar("SELECT count(*) FROM spans WHERE route = '/x'") == 1000
    assert store.scalar("SELECT version FROM resources WHERE service = 'api'") == "2"
    assert store.scalar("SELECT id FROM events") == 1 and store.scalar("SELECT id FROM deploys") == 1
    # IDs continue after a reopen.
    path = store.path
    store.close()
    with Store.open(path) as s2:
        Pipeline(s2).write(Batch(deploys=[Deploy(ts_ns=now, service="api", version="3")]))
        assert s2.scalar("SELECT max(id) FROM deploys") == 2


def test_a_bad_record_is_rejected_alone(store: Store) -> None:
    """One record that cannot be stored costs only itself: the rest of its batch is committed."""
    bad = _spans(10, time.time_ns())
    bad[5].start_ns = "not a time"  # type: ignore[assignment]
    out = Pipeline(store).write(Batch(spans=bad, deploys=[Deploy(ts_ns=time.time_ns(), service="api", version="9")]))
    assert out.get("rejected") == 1, out
    assert store.scalar("SELECT count(*) FROM spans") == 9
    assert store.scalar("SELECT count(*) FROM deploys") == 1


def test_retention_by_age_keeps_deploys(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime(2026, 11, 21, 12, 0)
    old = int((now - timedelta(days=10)).timestamp() * 1e9)
    new = int((now - timedelta(hours=1)).timestamp() * 1e9)
    spans = _spans(50, old) + [Span(trace_id=f"{i:032x}", span_id=f"{i + 9000:016x}", name="n", start_ns=new,
                                    end_ns=new + 1, resource=RES) for i in range(20)]
    Pipeline(store).write(Batch(spans=spans, deploys=[Deploy(ts_ns=old, service="api", version="1")]))
    monkeypatch.setenv("RUNBRIEF_RETENTION_DAYS", "7")
    out = apply_retention(store, now=now)
    assert out["deleted"] == {"spans": 50}
    assert store.scalar("SELECT count(*) FROM spans") == 20
    assert store.scalar("SELECT count(*) FROM deploys") == 1


def test_retention_by_size_drops_oldest_first(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime(2026, 11, 21, 12, 0)
    for day in range(5, 0, -1):
        ts = int((now - timedelta(days=day)).timestamp() * 1e9)
        Pipeline(store).write(Batch(spans=[Span(trace_id=f"{day:08x}{i:024x}", span_id=f"{i:016x}", name="x" * 200,
                                                start_ns=ts + i, end_ns=ts + i + 5, resource=RES,
                                                attributes={"payload": "y" * 500, "i": i}) for i in range(20_000)]))
    monkeypatch.setenv("RUNBRIEF_RETENTION_DAYS", "0")
    monkeypatch.setenv("RUNBRIEF_MAX_STORE_MB", "1")
    out = apply_retention(store, now=now)
    assert out["deleted"].get("spans", 0) > 0
    # The oldest day went first; if anything is left, it is the newest data.
    assert store.scalar("SELECT count(*) FROM spans WHERE start_ts < ?", [now - timedelta(days=4, hours=12)]) == 0
    left = store.scalar("SELECT count(*) FROM spans")
    if left:
        assert store.scalar("SELECT count(*) FROM spans WHERE start_ts > ?", [now - timedelta(days=1, hours=12)]) > 0


def test_retention_counts_back_from_the_newest_record_so_imported_history_stays(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    year_ago = datetime(2025, 11, 1, 12, 0)
    ts = int(year_ago.timestamp() * 1e9)
    Pipeline(store).write(Batch(spans=_spans(10, ts)))
    old = int((year_ago - timedelta(days=30)).timestamp() * 1e9)
    Pipeline(store).write(Batch(spans=[Span(trace_id="f" * 32, span_id="e" * 16, name="old", start_ns=old,
                                            end_ns=old + 1, resource=RES)]))
    monkeypatch.setenv("RUNBRIEF_RETENTION_DAYS", "7")
    out = apply_retention(store)  # wall clock: a year later
    assert out["deleted"] == {"spans": 1}
    assert store.scalar("SELECT count(*) FROM spans") == 10


OPENSTACK = Path(__file__).parents[1] / "data" / "loghub-2k" / "OpenStack" / "OpenStack_2k.log"


def test_each_kind_counts_back_from_its_own_newest_record(store: Store, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    """Live spans flow while a 2017 log file is imported: the logs stay (no newer log arrived)."""
    from runbrief.ingest._file_sources import ingest_local
    from runbrief.store.retention import preview, warnings

    monkeypatch.setenv("RUNBRIEF_RETENTION_DAYS", "7")
    Pipeline(store).write(Batch(spans=_spans(5, time.time_ns())))
    out = ingest_local(store, [str(OPENSTACK)], service="nova")
    assert out["logs"] == 2000 and out["warnings"] == []
    assert apply_retention(store)["deleted"] == {}
    assert store.scalar("SELECT count(*) FROM logs") == 2000
    # A log line from today arrives: the 2017 lines are now outside the window, and ingest says so.
    today = tmp_path / "today.log"
    today.write_text(datetime.now().strftime("%Y-%m-%d %H:%M:%S.000") + " 1 INFO nova.api boot ok\n")
    out = ingest_local(store, [str(today)], service="nova")
    (note,) = out["warnings"]
    assert "2000 log lines" in note and "RUNBRIEF_RETENTION_DAYS=" in note
    keep = preview(store)["keep_days"]
    assert f"RUNBRIEF_RETENTION_DAYS={keep}" in warnings(preview(store))[0]
    # the advice holds: with that many days nothing goes; with the default, they go
    monkeypatch.setenv("RUNBRIEF_RETENTION_DAYS", str(keep))
    assert preview(store)["would_delete"] == {} and apply_retention(store)["deleted"] == {}
    monkeypatch.setenv("RUNBRIEF_RETENTION_DAYS", "7")
    deleted = apply_retention(store)["deleted"]
    assert deleted["logs"] == 2000 and deleted["pattern_counts"] > 0  # 2017's counts are past 90 days too
    assert store.scalar("SELECT count(*) FROM spans") == 5 and store.scalar("SELECT count(*) FROM logs") == 1


def test_events_have_their_own_window(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBRIEF_RETENTION_DAYS", "7")
    now = time.time_ns()
    month = 30 * 86400 * 10**9
    Pipeline(store).write(Batch(spans=_spans(3, now), events=[
        Event(ts_ns=now - month - i * 10**9, reason="BackOff", message="Back-off restarting failed container",
              type="Warning", object_kind="Pod", object_name=f"api-{i}") for i in range(4)]))
    assert apply_retention(store)["deleted"] == {}  # the newest event is a month old: its window starts there
    assert store.scalar("SELECT count(*) FROM events") == 4


def test_a_held_store_names_the_process_that_holds_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "held" / "runbrief.duckdb"
    Store.open(db).close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ok', flush=True); time.sleep(60)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(StoreError, match=rf"process {holder.pid} \(.*python.*\).*kill {holder.pid}"):
            Store.open(db)
    finally:
        holder.kill()
        holder.wait()
