"""Prepare and commit: group commits of batches prepared apart, in a real DuckDB store."""

from __future__ import annotations

from pathlib import Path

import orjson

from runbrief.distill.distiller import Distiller
from runbrief.ingest.pipeline import Batch, Preparer, commit
from runbrief.records import LogRecord, Resource, Span
from runbrief.store.duck import Store

T0 = 1_772_409_600 * 10**9


def _logs(service: str, bodies: list[str], start: int = 0) -> list[LogRecord]:
    res = Resource({"service.name": service})
    return [LogRecord(T0 + (start + i) * 10**9, b, res, severity_number=9) for i, b in enumerate(bodies)]


def test_batches_prepared_apart_commit_as_one_group(tmp_path: Path) -> None:
    prep = Preparer(Distiller())
    res = Resource({"service.name": "api"})
    plain = Span("a" * 32, "b" * 16, "GET /", T0, T0 + 10**6, res)  # no status message, no route
    rich = Span("c" * 32, "d" * 16, "GET /x", T0, T0 + 10**6, res, status_code="ERROR", status_message="boom",
                attributes={"http.route": "/x"})
    group = [
        prep.prepare(Batch(logs=_logs("api", ["user 1 logged in", "user 2 logged in"]), spans=[plain]), 1),
        prep.prepare(Batch(logs=_logs("api", ["user 3 logged in", "disk full"], start=10), spans=[rich]), 3),
        prep.prepare(Batch(logs=_logs("web", ["user 4 logged in"], start=20)), 5),
    ]
    with Store.open(tmp_path / "s") as store:
        counts = commit(store, group)
        assert counts["logs"] == 5 and counts["spans"] == 2
        assert store.scalar("SELECT count(*) FROM spans WHERE status_message = 'boom' AND route = '/x'") == 1
        # every example a count row cites is the log line it says it is
        for row in store.query("SELECT service, pattern_id, count, examples FROM pattern_counts"):
            for ex in orjson.loads(row["examples"]):
                line = store.query("SELECT service, pattern_id, body FROM logs WHERE id = ?", [ex["log_id"]])[0]
                assert (line["service"], line["pattern_id"], line["body"]) == (
                    row["service"], row["pattern_id"], ex["body"])
        login = store.query("SELECT pattern_id, count FROM patterns WHERE template = 'user <*> logged in'")
        assert login and login[0]["count"] == 4
        assert store.scalar("SELECT sum(count) FROM pattern_counts WHERE pattern_id = ?", [login[0]["pattern_id"]]) == 4


def test_an_id_another_miner_retired_is_repointed_at_commit(tmp_path: Path) -> None:
    """Two miners (two ingest workers) see one template; one generalizes it and retires the
    old ID. Rows the other still files under the old ID land under the new one, and its
    stale template does not overwrite the pattern's."""
    a, b = Preparer(Distiller(state_key="miner:0/2")), Preparer(Distiller(state_key="miner:1/2"))
    with Store.open(tmp_path / "s") as store:
        def commit_one(prep: Preparer, batch: Batch) -> None:
            commit(store, [prep.prepare(batch, store.next_ids("logs", len(batch.logs)))])

        commit_one(a, Batch(logs=_logs("a", ["session opened for user alice by sshd"] * 3)))
        commit_one(b, Batch(logs=_logs("b", ["session opened for user alice by sshd"] * 3)))
        users = ["bob", "carol", "dave", "erin", "frank"]
        for k, u in enumerate(users):  # miner a sees the user vary and generalizes
            commit_one(a, Batch(logs=_logs("a", [f"session opened for user {u} by sshd"], start=10 + k)))
        assert store.scalar("SELECT count(*) FROM pattern_aliases") >= 1
        commit_one(b, Batch(logs=_logs("b", ["session opened for user alice by sshd"] * 2, start=50)))
        ids = {r["pattern_id"] for r in store.query("SELECT DISTINCT pattern_id FROM logs")}
        assert len(ids) == 1, ids
        (pid,) = ids
        assert store.scalar("SELECT template FROM patterns WHERE pattern_id = ?", [pid]) == \
            "session opened for user <*> by sshd"
        assert store.scalar("SELECT count FROM patterns WHERE pattern_id = ?", [pid]) == 13
        assert store.scalar("SELECT sum(count) FROM pattern_counts WHERE pattern_id = ?", [pid]) == 13
        assert store.scalar("SELECT count(*) FROM pattern_counts WHERE pattern_id <> ?", [pid]) == 0
        keys = {r["key"] for r in store.query("SELECT key FROM miner_state")}
        assert {"miner:0/2", "miner:1/2"} <= keys


def test_examples_fill_to_three_and_stay_when_the_writer_skips_them(tmp_path: Path) -> None:
    pipe_store = Store.open(tmp_path / "s")
    try:
        from runbrief.ingest.pipeline import Pipeline, forget_written

        pipe = Pipeline(pipe_store)
        pipe.write(Batch(logs=_logs("api", ["disk full"])))  # one example
        pipe.write(Batch(logs=_logs("api", ["disk full"] * 4, start=1)))  # topped up to three
        pipe.write(Batch(logs=_logs("api", ["disk full"] * 4, start=5)))  # known full: sent without
        row = pipe_store.query("SELECT count, examples FROM pattern_counts")[0]
        examples = orjson.loads(row["examples"])
        assert row["count"] == 9 and len(examples) == 3
        assert [e["log_id"] for e in examples] == sorted(e["log_id"] for e in examples)
        # retention deletes the minute; a late line for it must bring its example again
        with pipe_store.write() as con:
            con.execute("DELETE FROM pattern_counts")
            forget_written(pipe_store)
        pipe.write(Batch(logs=_logs("api", ["disk full"], start=20)))
        assert orjson.loads(pipe_store.scalar("SELECT examples FROM pattern_counts"))
    finally:
        pipe_store.close()
