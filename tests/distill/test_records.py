"""Record splitting of raw files (issue 17): a line whose header did not parse continues the
record before it only when it is shaped like a continuation (indentation, ``at ...``,
``Caused by:``, ``... N more``, an exception line under an error); a line that starts like
a record of its own (a date, a clock, an epoch) is a record, even in a file of headed lines.

Real inputs: the sixteen Loghub-2k raw logs in tests/data (every line is one record, so
2,000 / 300 lines must stay 2,000 / 300 records), and the same lines re-rendered behind
headers whose time does not convert, which used to be glued into their neighbours."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbrief.ingest.logfiles import LogStream

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = sorted((DATA / "loghub-2k").glob("*/*_2k.log")) + sorted((DATA / "logs" / "loghub-more").glob("*_300.log"))


def _records(name: str, data: bytes) -> tuple[list[str], LogStream]:
    s = LogStream(name)
    bodies = [r.body for b in s.feed(data) + s.close() for r in b.logs]
    return bodies, s


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_loghub_lines_stay_one_record_each(path: Path) -> None:
    data = path.read_bytes()
    lines = [ln for ln in data.decode("utf-8", "replace").split("\n") if ln.strip()]
    bodies, s = _records(path.name, data)
    assert len(bodies) == len(lines)
    assert s.stats.continuation_lines == 0


def test_clock_only_headers_are_records_not_continuations() -> None:
    # Zookeeper's real lines (a headed file), then the same messages behind Go's
    # log.Ltime clock ("15:04:05 msg"): a clock with no date gives no time to convert, so
    # the header "fails", but the line starts a record
    zk = (DATA / "logs" / "loghub-more" / "Zookeeper_300.log").read_text("utf-8").splitlines()[:40]
    clocked = [f"19:04:{i % 60:02d} {ln.split(' - ', 2)[-1]}" for i, ln in enumerate(zk[:10])]
    bodies, s = _records("zk.log", "\n".join(zk + clocked).encode())
    assert len(bodies) == 50
    assert s.stats.continuation_lines == 0


def test_stack_traces_still_glue() -> None:
    # a Java trace under a real Hadoop line (the trace's shape is the JVM's)
    head = (DATA / "logs" / "loghub-more" / "Hadoop_300.log").read_text("utf-8").splitlines()[:3]
    trace = [
        "java.net.ConnectException: Connection refused",
        "\tat sun.nio.ch.SocketChannelImpl.checkConnect(Native Method)",
        "\tat org.apache.hadoop.net.SocketIOWithTimeout.connect(SocketIOWithTimeout.java:206)",
        "Caused by: java.io.IOException: Broken pipe",
        "\t... 12 more",
        "}",
    ]
    bodies, s = _records("hadoop.log", "\n".join([head[0], *trace, *head[1:]]).encode())
    assert len(bodies) == 3
    assert bodies[0].endswith("\n}") and "Caused by:" in bodies[0]
    assert s.stats.continuation_lines == len(trace)


def test_go_panic_is_one_record() -> None:
    # the shape the Go runtime prints (runtime/traceback.go): "panic:", a blank line,
    # "goroutine N [state]:", then per frame a function line and an indented file line
    text = (
        "starting server on :8080\n"
        "panic: runtime error: index out of range [5] with length 3\n"
        "\n"
        "goroutine 1 [running]:\n"
        "main.lookup(...)\n"
        "\t/home/user/app/main.go:12\n"
        "net/http.(*conn).serve(0xc000128000, {0x6f5a38, 0xc0000a2180})\n"
        "\t/usr/local/go/src/net/http/server.go:2009 +0x5f4\n"
        "created by net/http.(*Server).Serve in goroutine 1\n"
        "\t/usr/local/go/src/net/http/server.go:3086 +0x5cb\n"
        "exit status 2\n"
    )
    bodies, s = _records("go.log", text.encode())
    assert bodies[0] == "starting server on :8080"
    assert bodies[1].startswith("panic: runtime error") and bodies[1].endswith("server.go:3086 +0x5cb")
    assert bodies[2:] == ["exit status 2"]
    assert s.stats.continuation_lines == 7


def test_go_frame_shape_needs_a_goroutine_header() -> None:
    # after a Python traceback, a line shaped like a call is not taken for a Go frame
    text = ("Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n"
            "ValueError: bad\nconnect(db) failed\n")
    bodies, _ = _records("py.log", text.encode())
    assert bodies[-1] == "connect(db) failed"
