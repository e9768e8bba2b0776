"""Headers made of a run of bracketed fields (Elasticsearch, Logstash, log4j's ``[%d][%p][%c]``).

Real lines: tests/data/logs/elastic (filebeat's Elasticsearch and Logstash module fixtures,
see its README). The header is a class: a run of brackets at the line start, one holding a
time; the level and names are found by what they hold, padded or not, in any order."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbrief.distill.parse import Parser
from runbrief.ingest.formats import split_header

DATA = Path(__file__).resolve().parents[1] / "data" / "logs" / "elastic"


def _lines(name: str) -> list[str]:
    return [ln for ln in (DATA / name).read_text(encoding="utf-8").splitlines() if ln.strip()]


@pytest.mark.parametrize("name", ["elasticsearch.624.log", "es.stdout.log", "logstash-plain.log"])
def test_every_real_line_splits_time_level_and_logger(name: str) -> None:
    for line in _lines(name):
        h = split_header(line)
        assert h.ts_ns is not None, line
        if "][" in line[:40]:  # the Elasticsearch/Logstash layout; es.stdout's build lines have no level
            assert h.level in ("INFO", "WARN", "ERROR", "DEBUG"), line
            assert h.logger and h.logger in line and h.logger == h.logger.strip(), line
            assert not h.message.startswith("[" + h.logger), line
        assert not h.message.startswith("[20"), line


def test_elasticsearch_fields() -> None:
    line = "[2018-05-17T08:20:18,871][INFO ][o.e.c.r.a.DiskThresholdMonitor] [vWNJsZ3] low disk watermark [85%]"
    h = split_header(line)
    assert (h.level, h.logger, h.process, h.message) == ("INFO", "o.e.c.r.a.DiskThresholdMonitor", "vWNJsZ3",
                                                         "low disk watermark [85%]")
    assert h.ts_ns == 1526545218871000000
    # an empty node name, a padded logger, and message brackets after two names stay text
    assert split_header("[2018-05-17T08:19:35,939][INFO ][o.e.n.Node               ] [] initializing ...").message \
        == "initializing ..."
    h = split_header("[2020-01-09T16:28:04,910][INFO ][o.e.x.m.p.l.CppLogMessageHandler] [runTask-0] "
                     "[controller/24076] [Main.cc@110] controller (64 bit)")
    assert h.message == "[controller/24076] [Main.cc@110] controller (64 bit)"
    # Logstash: logger and pipeline back to back
    h = split_header("[2019-11-20T19:04:48,468][ERROR][logstash.outputs.elasticsearch][.monitoring-logstash] "
                     "Encountered a retryable error.")
    assert (h.level, h.logger, h.process, h.message) == ("ERROR", "logstash.outputs.elasticsearch",
                                                         ".monitoring-logstash", "Encountered a retryable error.")


@pytest.mark.parametrize(
    "line",
    [
        "[2024-01-31T23:59:05.123Z][WARN][main] disk almost full on /data",
        "[2024-01-31 23:59:05,123] [WARN] [main] disk almost full on /data",
        "[WARN ][2024-01-31T23:59:05.123+00:00][main              ] disk almost full on /data",
        "[Wed Jan 31 23:59:05 2024] [warn] [main] disk almost full on /data",
        "[1706745545.123][WARNING][main] disk almost full on /data",
    ],
)
def test_bracket_runs_in_any_order_and_padding(line: str) -> None:
    h = split_header(line)
    assert (h.message, h.level, h.process) == ("disk almost full on /data", "WARN", "main")
    assert h.ts_ns is not None and abs(h.ts_ns - 1706745545123000000) < 1_000_000_000


def test_text_brackets_stay_message() -> None:
    # a bracket with blanks is text; a lone name after the time without a level is text
    assert split_header("[Sun Dec 04 04:47:44 2005] [error] [client 1.2.3.4] Directory index forbidden").message \
        == "[client 1.2.3.4] Directory index forbidden"
    assert split_header("[2020-01-09T15:27:55.075866Z] [BUILD] Setting up 1 users").message \
        == "[BUILD] Setting up 1 users"
    assert split_header("[0.000000] Linux version 6.1").message == "[0.000000] Linux version 6.1"


def test_one_event_one_pattern_across_nodes_and_versions() -> None:
    lines = _lines("elasticsearch.624.log") + _lines("es.stdout.log")
    parsed = Parser().parse(lines)
    by_msg: dict[str, set[str]] = {}
    for line, p in zip(lines, parsed, strict=True):
        for event in ("loaded module [", "low disk watermark", "adding template [", "] started"):
            if event in line:
                by_msg.setdefault(event, set()).add(p.pattern_id)
    assert all(len(ids) == 1 for ids in by_msg.values()), by_msg
    templates = {p.template for p in parsed}
    assert not any("INFO" in t or "o.e." in t for t in templates), sorted(templates)[:5]
