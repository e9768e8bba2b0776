"""Prepare and commit: group commits of batches prepared apart, in a real DuckDB store."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from runbrief.distill.distiller import Distiller
from runbrief.ingest import pipeline
from runbrief.ingest.pipeline import Batch, Preparer, commit, unfolded
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


LOGHUB = Path(__file__).resolve().parents[1] / "data" / "loghub-2k"


def _loghub_batches(n_batches: int, size: int) -> list[Batch]:
    """Real lines from three systems, as batches from three services, one minute apart."""
    lines = []
    for system in ("HDFS", "OpenStack", "Linux"):
        lines.extend((LOGHUB / system / f"{system}_2k.log").read_text(errors="replace").splitlines()[:600])
    out = []
    for b in range(n_batches):
        chunk = [lines[(b * size + i) * 7 % len(lines)] for i in range(size)]
        out.append(Batch(logs=_logs(("hdfs", "nova", "sshd")[b % 3], chunk, start=b * 20)))
    return out


def _derived(store: Store) -> tuple[list[tuple], list[tuple]]:
    counts = store.query("""SELECT service, pattern_id, minute, count, errors, first_ts, last_ts, examples
                            FROM pattern_counts ORDER BY ALL""")
    pats = store.query("SELECT pattern_id, template, first_seen, last_seen, count FROM patterns ORDER BY ALL")
    return ([tuple(r.values()) for r in counts], [tuple(r.values()) for r in pats])


@pytest.fixture
def no_timed_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deferred commits fold only when told (or on an alias), whatever the clock says."""
    monkeypatch.setattr(pipeline, "FOLD_S", 10**9)


@pytest.mark.usefixtures("no_timed_fold")
def test_deferred_commits_fold_to_the_same_derived_rows(tmp_path: Path) -> None:
    """Under load the writer notes stored log IDs in logs_unfolded and counts them
    later. After the fold, counts, examples and pattern stats are exactly those of
    committing each group with its fold."""
    batches = _loghub_batches(12, 150)
    with Store.open(tmp_path / "now") as now, Store.open(tmp_path / "later") as later:
        for store, defer in ((now, False), (later, True)):
            prep = Preparer(Distiller())
            for i in range(0, len(batches), 2):
                group = [prep.prepare(b, store.next_ids("logs", len(b.logs))) for b in batches[i:i + 2]]
                commit(store, group, defer=defer)
        assert later.scalar("SELECT count(*) FROM logs_unfolded") > 0
        assert now.scalar("SELECT count(*) FROM logs_unfolded") == 0
        assert unfolded(later)
        commit(later, [])  # the fold on its own, as the idle writer runs it
        assert not unfolded(later)
        assert later.scalar("SELECT count(*) FROM logs_unfolded") == 0
        assert _derived(later) == _derived(now)
        assert now.scalar("SELECT sum(count) FROM pattern_counts") == 12 * 150


@pytest.mark.usefixtures("no_timed_fold")
def test_rows_a_crashed_writer_left_pending_are_folded_by_the_next(tmp_path: Path) -> None:
    """Unfolded notes are durable with their logs: a writer that stopped before its
    fold (a crash) leaves them, and the next writer of the store folds them first."""
    lines = [r.body for r in _loghub_batches(1, 100)[0].logs]
    prep = Preparer(Distiller())
    store = Store.open(tmp_path / "s")
    commit(store, [prep.prepare(Batch(logs=_logs("hdfs", lines)), store.next_ids("logs", 100))])
    for k in (1, 2):  # the same lines again: no template changes, nothing forces a fold
        batch = Batch(logs=_logs("hdfs", lines, start=100 * k))
        commit(store, [prep.prepare(batch, store.next_ids("logs", 100))], defer=True)
    assert store.scalar("SELECT count(*) FROM logs_unfolded") > 0
    store._con.close()  # gone without a fold or a checkpoint, as after SIGKILL  # noqa: SLF001
    with Store.open(tmp_path / "s") as again:
        assert again.scalar("SELECT count(*) FROM logs_unfolded") > 0
        commit(again, [prep.prepare(Batch(logs=_logs("hdfs", lines, start=300)), again.next_ids("logs", 100))])
        assert again.scalar("SELECT count(*) FROM logs_unfolded") == 0
        assert again.scalar("SELECT sum(count) FROM pattern_counts") == 400 == again.scalar("SELECT count(*) FROM logs")
        assert again.scalar("SELECT sum(count) FROM patterns") == 400
        per_pattern = again.query("""SELECT l.pattern_id, count(*) n, sum(c.count) / count(*) c FROM logs l
            JOIN (SELECT pattern_id, sum(count) count FROM pattern_counts GROUP BY 1) c USING (pattern_id)
            GROUP BY 1 HAVING n <> c""")
        assert per_pattern == []


@pytest.mark.usefixtures("no_timed_fold")
def test_an_alias_during_deferred_commits_repoints_pending_rows(tmp_path: Path) -> None:
    """Lines counted after an alias under an ID that a later batch retires end up under its
    successor: an alias makes that commit fold."""
    prep = Preparer(Distiller())
    with Store.open(tmp_path / "s") as store:
        def one(batch: Batch) -> None:
            commit(store, [prep.prepare(batch, store.next_ids("logs", len(batch.logs)))], defer=True)

        commit(store, [])  # a writer's first commit folds (what a crash left); this one has nothing
        one(Batch(logs=_logs("a", ["session opened for user alice by sshd"] * 3)))
        assert store.scalar("SELECT count(*) FROM logs_unfolded") == 1
        for k, u in enumerate(["bob", "carol", "dave", "erin", "frank"]):
            one(Batch(logs=_logs("a", [f"session opened for user {u} by sshd"], start=10 + k)))
        assert store.scalar("SELECT count(*) FROM pattern_aliases") >= 1
        commit(store, [])
        rows = store.query("SELECT pattern_id, sum(count) n FROM pattern_counts GROUP BY 1")
        assert len(rows) == 1 and rows[0]["n"] == 8
        assert store.scalar("SELECT template FROM patterns WHERE pattern_id = ?", [rows[0]["pattern_id"]]) == \
            "session opened for user <*> by sshd"
        assert store.scalar("SELECT count FROM patterns WHERE pattern_id = ?", [rows[0]["pattern_id"]]) == 8
