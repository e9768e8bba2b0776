"""Stable pattern IDs (issue 17, item 4): the same events give the same IDs across a day
and a month boundary, after a restart (miner state saved and loaded), on another host and
after the log's timestamp format changes.

The events are the real messages (ground-truth Content) of the eight Loghub samples in
tests/data/logs/loghub-more, rendered behind real header formats with a clock that runs
from Jan 31 23:50 into Feb 1."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runbrief.distill.miner import Miner
from runbrief.distill.parse import Parser

DATA = Path(__file__).resolve().parents[1] / "data" / "logs" / "loghub-more"
START = datetime(2024, 1, 31, 23, 50, 0, 123000, tzinfo=UTC)


def _messages() -> list[str]:
    out: list[str] = []
    per: list[list[str]] = []
    for f in sorted(DATA.glob("*_structured_corrected.csv")):
        with open(f, encoding="utf-8", newline="") as fh:
            per.append([r["Content"] for r in csv.DictReader(fh)])
    for i in range(max(len(p) for p in per)):  # interleaved, as one collector sees them
        out.extend(p[i] for p in per if i < len(p))
    return out


MESSAGES = _messages()
Render = Callable[[int, datetime, str], str]


def syslog(host: str) -> Render:
    return lambda i, t, m: f"{t:%b} {t.day:2d} {t:%H:%M:%S} {host} app[{1000 + i % 7}]: {m}"


def iso(host: str) -> Render:
    return lambda i, t, m: f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z {host} app[{1000 + i % 7}]: {m}"


def logback(i: int, t: datetime, m: str) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} INFO  [worker-{i % 4}] com.example.App - {m}"


def brackets(i: int, t: datetime, m: str) -> str:
    return f"[{t:%Y-%m-%dT%H:%M:%S},{t.microsecond // 1000:03d}][INFO ][c.e.App   ] [node-{i % 3}] {m}"


def _render(fmt: Render, start: datetime = START, fmt2: Render | None = None) -> list[str]:
    """The stream; ``fmt2`` takes over halfway (a new logging config after a deploy)."""
    half = len(MESSAGES) // 2
    return [
        (fmt2 if fmt2 is not None and i >= half else fmt)(i, start + timedelta(seconds=i * 0.37), m)
        for i, m in enumerate(MESSAGES)
    ]


def _ids(lines: list[str], parser: Parser | None = None) -> list[str]:
    return [p.pattern_id for p in (parser or Parser()).parse(lines, params=False)]


@pytest.fixture(scope="module")
def baseline() -> list[str]:
    # the bare messages: what every rendering must group as
    ids = _ids(MESSAGES, Parser(headers=False))
    assert len(set(ids)) > 150
    return ids


def _same(ids: list[str], base: list[str]) -> None:
    bad = [(MESSAGES[i], a, b) for i, (a, b) in enumerate(zip(ids, base, strict=True)) if a != b]
    assert not bad, (len(bad), bad[:3])


def test_day_and_month_boundary(baseline: list[str]) -> None:
    lines = _render(syslog("host-a"))
    assert lines[0].startswith("Jan 31 23:50") and lines[-1].startswith("Feb  1 00:")
    _same(_ids(lines), baseline)


@pytest.mark.parametrize("fmt", [syslog("db-07.prod.example.com"), iso("host-a"), logback, brackets])
def test_other_host_and_other_formats(fmt: Render, baseline: list[str]) -> None:
    _same(_ids(_render(fmt)), baseline)


@pytest.mark.parametrize(("fmt", "fmt2"), [(syslog("host-a"), iso("host-a")), (logback, brackets), (iso("h"), logback)])
def test_timestamp_format_changes_mid_stream(fmt: Render, fmt2: Render, baseline: list[str]) -> None:
    _same(_ids(_render(fmt, fmt2=fmt2)), baseline)


def test_restart_keeps_ids(baseline: list[str]) -> None:
    lines = _render(syslog("host-a"))
    half = len(lines) // 2
    p1 = Parser()
    first = _ids(lines[:half], p1)
    state = json.loads(json.dumps(p1.miner.dump()))  # as stored: JSON
    p2 = Parser(Miner.load(state))
    second = _ids(lines[half:], p2)
    aliases = p2.miner.aliases
    # an ID reported before the restart is the same, or an alias of the ID it became
    _same([aliases.get(x, x) for x in first] + second, baseline)
    # and a process that never restarted gives the same IDs for the second half
    p3 = Parser()
    _ids(lines[:half], p3)
    assert _ids(lines[half:], p3) == second
