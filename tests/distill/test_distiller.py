"""The Distiller in the real ingest path: a real DuckDB store, Pipeline.write, restarts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from runbrief import ids, ops
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import LogRecord, Resource
from runbrief.store.duck import Store

T0 = 1_772_409_600 * 10**9  # 2026-03-02 00:00 UTC
SEC = 10**9


def rec(i: int, body: str, service: str = "checkout", sev: int = 0) -> LogRecord:
    return LogRecord(T0 + i * SEC, body, Resource({"service.name": service}), severity_number=sev)


def storm(n: int, start: int = 0, service: str = "checkout") -> list[LogRecord]:
    return [rec(start + i, f"retrying request {i} to 10.0.0.{i % 250} after {i % 7}ms", service) for i in range(n)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "s")
    yield s
    s.close()


def test_storm_is_one_row_per_minute_with_counts_and_examples(store: Store) -> None:
    Pipeline(store).write(Batch(logs=storm(600)))  # ten minutes, one pattern
    rows = store.query("SELECT * FROM pattern_counts ORDER BY minute")
    assert len(rows) == 10 and {r["count"] for r in rows} == {60}
    assert len({r["pattern_id"] for r in rows}) == 1
    ex = orjson.loads(rows[0]["examples"])
    assert len(ex) == 3
    for e in ex:  # each example's log id is that very line
        assert store.scalar("SELECT body FROM logs WHERE id = ?", [e["log_id"]]) == e["body"]
    pat = store.query("SELECT * FROM patterns")
    assert len(pat) == 1 and pat[0]["count"] == 600
    assert pat[0]["template"] == "retrying request <*> to <*> after <*>"


def test_records_get_pattern_and_inferred_severity_and_shown_params(store: Store) -> None:
    recs = [rec(0, "connection refused by db-1 port 5432"), rec(1, "user 7 logged in", sev=9),
            rec(2, "cache warmed in 12ms")]
    Pipeline(store).write(Batch(logs=recs))
    assert all(len(r.pattern_id) == 16 for r in recs)
    assert recs[0].severity_inferred == "ERROR"
    assert recs[1].severity_inferred == ""  # the source level stands; nothing inferred
    assert recs[2].severity_inferred == "INFO"
    shown = ops.run(store, "logs", {})["logs"][::-1]  # a line opened on its own: values read back from the template
    assert [ops.run(store, "show", {"id": r["id"]})["params"] for r in shown] == [["1", "5432"], ["7"], ["12ms"]]
    assert store.scalar("SELECT errors FROM pattern_counts WHERE pattern_id = ?", [recs[0].pattern_id]) == 1


def test_same_pattern_in_two_services_shares_the_id(store: Store) -> None:
    p = Pipeline(store)
    p.write(Batch(logs=storm(20, service="a") + storm(20, 100, service="b")))
    ids_ = store.query("SELECT DISTINCT pattern_id FROM logs")
    assert len(ids_) == 1
    out = ops.run(store, "patterns", {})
    assert out["patterns"][0]["services"] == ["a", "b"]


def test_evolving_template_aliases_and_repoints_old_rows(store: Store) -> None:
    p = Pipeline(store)
    users = ["alice", "bob", "carol", "dave", "erin"]
    for k, u in enumerate(users):  # one batch per user: the template evolves on the 4th
        p.write(Batch(logs=[rec(k * 10 + i, f"session opened for user {u} by sshd") for i in range(3)]))
    pids = {r["pattern_id"] for r in store.query("SELECT DISTINCT pattern_id FROM logs")}
    assert len(pids) == 1
    (pid,) = pids
    assert store.scalar("SELECT template FROM patterns WHERE pattern_id = ?", [pid]) == \
        "session opened for user <*> by sshd"
    assert store.scalar("SELECT sum(count) FROM pattern_counts WHERE pattern_id = ?", [pid]) == 15
    assert store.scalar("SELECT count FROM patterns WHERE pattern_id = ?", [pid]) == 15
    old = [r["old_id"] for r in store.query("SELECT old_id FROM pattern_aliases WHERE new_id = ?", [pid])]
    assert len(old) >= 2
    # an old ID still resolves, to the new pattern
    assert ids.resolve(store, f"pat_{old[0]}")["pattern_id"] == f"pat_{pid}"
    assert store.scalar("SELECT count(*) FROM patterns") == 1


def test_state_survives_a_restart(tmp_path: Path) -> None:
    s = Store.open(tmp_path / "s")
    Pipeline(s).write(Batch(logs=storm(50)))
    before = s.query("SELECT pattern_id FROM patterns")
    s.close()
    s = Store.open(tmp_path / "s")
    try:
        recs = storm(5, 1000)
        Pipeline(s).write(Batch(logs=recs))
        assert {r.pattern_id for r in recs} == {before[0]["pattern_id"]}
        assert s.scalar("SELECT count(*) FROM patterns") == 1
        assert s.scalar("SELECT count FROM patterns") == 55
    finally:
        s.close()


def test_bad_bodies_are_stored_and_never_crash(store: Store) -> None:
    bodies = ["", " ", "\x00\x00\x00", "a\x00b 12", "\ufffd\ufffd bad utf8", "x" * 1_000_000,
              "".join(chr(c) for c in range(1, 32)), "\ud800 lone surrogate"]
    recs = [rec(i, b) for i, b in enumerate(bodies)]
    Pipeline(store).write(Batch(logs=recs))
    assert store.scalar("SELECT count(*) FROM logs") == len(bodies)
    assert all(r.pattern_id for r in recs)
    long_ex = store.query("SELECT examples FROM pattern_counts")
    assert all(len(e["body"]) <= 2000 for r in long_ex for e in orjson.loads(r["examples"]))


def test_patterns_op_show_and_stats(store: Store) -> None:
    p = Pipeline(store)
    p.write(Batch(logs=storm(100) + [rec(200 + i, "payment failed: card declined") for i in range(30)]))
    out = ops.run(store, "patterns", {"limit": 5})
    assert [x["count"] for x in out["patterns"]] == [100, 30]
    top = out["patterns"][1]
    assert top["pattern_id"].startswith("pat_") and top["severity"] == "ERROR"
    assert top["example"]["log_id"].startswith("log_")
    assert ids.exists(store, top["example"]["log_id"])
    shown = ops.run(store, "show", {"id": top["pattern_id"]})
    assert shown["template"] == "payment failed: card declined" and shown["count"] == 30
    assert shown["services"][0]["service"] == "checkout"
    # drill-down: the logs op finds the pattern's lines by the same ID
    lines = ops.run(store, "logs", {"pattern_id": top["pattern_id"], "limit": 100})["logs"]
    assert len(lines) == 30
    errs = ops.run(store, "patterns", {"severity": "error"})["patterns"]
    assert [x["pattern_id"] for x in errs] == [top["pattern_id"]]
    comp = ops.run(store, "stats", {})["compression"]
    assert comp["raw_lines"] == 130 and comp["patterns"] == 2
    assert comp["raw_bytes"] > comp["distilled_bytes"] > 0


def test_trend_and_window(store: Store) -> None:
    p = Pipeline(store)
    p.write(Batch(logs=[rec(i, "heartbeat ok") for i in range(0, 600, 60)]
                  + [rec(300 + i, "disk almost full on /var/lib/db") for i in range(200)]))
    out = ops.run(store, "patterns", {})["patterns"]
    trend = {x["template"]: x["trend"] for x in out}
    assert trend["disk almost full on <*>"] == "rising"
    assert trend["heartbeat ok"] == "steady"
