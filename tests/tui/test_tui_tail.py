"""`runbrief tail` as a user runs it: a subprocess following a real store (or server) while lines arrive.

Lines are ingested through the library (the store is free between the tail's polls; the
test through a running server is in test_tui_app.py); the tail prints each new line once, with
its pattern ID, marks the pattern that is new since the deploy, escapes what a terminal
would act on, and exits 0 on Ctrl-C (SIGINT).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from runbrief.errors import StoreError
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Deploy, LogRecord, Resource
from runbrief.store.duck import Store

S = 10**9
HOSTILE = "note [bold red]x[/] [link=file:///etc/passwd]y[/link] \x1b]0;pwned\x07 \x1b[2J\x9b31m end"


def _rec(ts: int, body: str, sev: str = "INFO", service: str = "api") -> LogRecord:
    return LogRecord(ts_ns=ts, body=body, resource=Resource({"service.name": service}), observed_ns=ts,
                     severity_number={"INFO": 9, "ERROR": 17}[sev], severity_text=sev)


def _write(path: Path, batch: Batch) -> None:
    """Write through the library, waiting out the moments the tail has the store open."""
    deadline = time.monotonic() + 15
    while True:
        try:
            store = Store.open(path)
            break
        except StoreError:
            assert time.monotonic() < deadline, "the store stayed locked"
            time.sleep(0.02)
    try:
        Pipeline(store).write(batch)
    finally:
        store.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    now = time.time_ns()
    path = tmp_path / "s"
    _write(path, Batch(logs=[_rec(now - (30 - i) * 60 * S, f"user {i} logged in") for i in range(20)]))
    _write(path, Batch(deploys=[Deploy(ts_ns=now - 60 * S, service="api", version="2")]))
    return path


def test_tail_prints_new_lines_as_they_are_ingested_and_marks_new_patterns(store: Path, Tail: Any) -> None:
    tail = Tail("--store", str(store), "--json", "-n", "2")
    try:
        backlog = [json.loads(x) for x in tail.read(2)]
        assert [b["body"] for b in backlog] == ["user 18 logged in", "user 19 logged in"]
        assert not any(b["new_pattern"] for b in backlog)
        time.sleep(0.5)  # a few empty polls
        now = time.time_ns()
        _write(store, Batch(logs=[_rec(now, "user 77 logged in"), _rec(now + 1, "payment 9 failed: card declined", "ERROR")]))
        got = [json.loads(x) for x in tail.read(2)]
        _write(store, Batch(logs=[_rec(now + 2, "user 78 logged in")]))
        got += [json.loads(x) for x in tail.read(1)]
        assert [g["body"] for g in got] == ["user 77 logged in", "payment 9 failed: card declined", "user 78 logged in"]
        assert [g["new_pattern"] for g in got] == [False, True, False]
        assert got[0]["pattern_id"] == backlog[0]["pattern_id"] and got[1]["pattern_id"].startswith("pat_")
        assert [g["id"] for g in got] == sorted({g["id"] for g in got}, key=lambda x: int(x[4:]))
        time.sleep(0.6)
        assert tail.lines.empty()  # each line once, though each poll asks again from two polls back
    finally:
        code = tail.interrupt()
    assert code == 0


def test_tail_text_output_is_escaped_and_names_the_pattern(store: Path, Tail: Any) -> None:
    tail = Tail("--store", str(store), "-n", "1", "--service", "api")
    try:
        assert "user 19 logged in" in tail.read(1)[0].decode()  # it has polled once: what follows is new
        now = time.time_ns()
        _write(store, Batch(logs=[_rec(now, HOSTILE, "ERROR"), _rec(now + 1, "worker up", service="jobs")]))
        line = tail.read(1)[0].decode()
        assert "\x1b" not in line and "\x07" not in line and "\x9b" not in line
        assert "[bold red]x[/] [link=file:///etc/passwd]y[/link] \\x1b]0;pwned\\x07 \\x1b[2J\\x9b31m end" in line
        assert " api ERROR NEW pat_" in line  # the pattern is new since api's deploy
        time.sleep(0.6)
        assert tail.lines.empty()  # the other service's line is not followed
    finally:
        assert tail.interrupt() == 0


def test_tail_skips_and_counts_what_arrives_faster_than_one_poll(store: Path, Tail: Any) -> None:
    """2,500 lines in one commit, 2,000 a poll: the newest 2,000 printed once, 500 counted as skipped."""
    tail = Tail("--store", str(store), "--json", "-n", "1")
    try:
        tail.read(1)
        time.sleep(0.6)  # the cursor's two polls back are then this backlog line
        now = time.time_ns()
        _write(store, Batch(logs=[_rec(now + i, f"item {i} synced") for i in range(2500)]))
        out = [json.loads(x) for x in tail.read(2001)]
        time.sleep(0.8)
        assert tail.lines.empty()
    finally:
        assert tail.interrupt() == 0
    assert out[0] == {"skipped": 500}
    assert [o["body"] for o in out[1:]] == [f"item {i} synced" for i in range(500, 2500)]
