"""Detector thresholds, at and around their documented boundaries (hand-built spans)."""

from __future__ import annotations

import itertools

from builders import db, span, tid

from runbrief.traces.detectors import detect
from runbrief.traces.tree import Node, build

_n = itertools.count(1000)


def _trace(*spans) -> list[dict]:
    nodes = [Node(s.span_id, s.parent_span_id, s.service, s.name, s.kind, s.start_ns, s.end_ns, s.status_code,
                  s.status_message, "", s.attributes, [{"name": e.name, "attributes": e.attributes} for e in s.events])
             for s in spans]
    return detect(build("t", nodes))


def _types(problems: list[dict]) -> list[str]:
    return sorted(p["type"] for p in problems)


def _loop(n: int, each_ms: float, sql: str = "SELECT * FROM items WHERE id = $1", step: float | None = None,
          **kw) -> list:
    t = tid(next(_n))
    step = each_ms + 0.1 if step is None else step
    root = span(t, "GET /x", 0, 2 + (n - 1) * step + each_ms, kind="SERVER")  # no gap around the loop
    return [root, *[db(t, root.span_id, sql, 1 + i * step, each_ms, **kw) for i in range(n)]]


def test_n_plus_one_db_thresholds() -> None:
    assert _types(_trace(*_loop(4, 20))) == []  # 4 < 5 repeats
    assert _types(_trace(*_loop(5, 10))) == ["n_plus_one_db"]  # 5 repeats, 50 ms
    assert _types(_trace(*_loop(5, 9))) == []  # 45 ms < 50 ms
    assert _types(_trace(*_loop(25, 0.1))) == ["n_plus_one_db"]  # 25 repeats, whatever the time
    assert _types(_trace(*_loop(24, 0.1))) == []
    # overlapping (Promise.all over the items): still a round trip per item
    (p,) = _trace(*_loop(30, 20, step=1))
    assert p["type"] == "n_plus_one_db" and p["concurrent"] is True and "concurrent" in p["cause"]
    assert _types(_trace(*_loop(30, 5, sql="BEGIN"))) == []  # transaction control is not a query


def test_n_plus_one_source_and_literals_normalized() -> None:
    t = tid(next(_n))
    root = span(t, "GET /cart", 0, 80, kind="SERVER")
    src = db(t, root.span_id, "SELECT id FROM cart_items WHERE cart_id = 9", 1, 2)
    loop = [db(t, root.span_id, f"SELECT * FROM products WHERE id = {i}", 5 + i * 12, 11) for i in range(6)]
    (p,) = _trace(root, src, *loop)
    assert p["type"] == "n_plus_one_db" and p["count"] == 6 and p["what"] == "SELECT * FROM products WHERE id = ?"
    assert p["source_span_id"] == f"spn_{src.span_id}" and p["parent"] == f"spn_{root.span_id}"


def test_identical_calls_are_repeated_calls_not_a_loop() -> None:
    ps = _trace(*_loop(6, 10, sql="SELECT * FROM settings WHERE id = 1"))
    assert _types(ps) == ["repeated_call"]
    assert ps[0]["count"] == 6 and ps[0]["time_ms"] == 50.0  # every call after the first
    assert _types(_trace(*_loop(3, 2, sql="SELECT * FROM settings WHERE id = 1"))) == ["repeated_call"]
    assert _types(_trace(*_loop(3, 1, sql="SELECT * FROM settings WHERE id = 1"))) == []  # 3 ms < 5 ms
    # values hidden behind placeholders: never "identical"
    assert _types(_trace(*_loop(3, 5, sql="SELECT * FROM settings WHERE id = ?"))) == []


def test_slow_db_boundary() -> None:
    assert _types(_trace(*_loop(1, 999.9))) == []
    assert _types(_trace(*_loop(1, 1000))) == ["slow_db"]


def test_swallowed_error_only_when_nothing_above_failed() -> None:
    t = tid(next(_n))
    root = span(t, "POST /pay", 0, 100, kind="SERVER")
    a = span(t, "charge", 10, 20, root.span_id, status="ERROR")
    b = span(t, "retry", 30, 40, root.span_id, error="card declined")  # an exception event alone counts
    (p,) = _trace(root, a, b)
    assert p["type"] == "swallowed_error" and p["count"] == 2 and p["parent"] == f"spn_{root.span_id}"
    t = tid(next(_n))
    root = span(t, "POST /pay", 0, 100, kind="SERVER", status="ERROR")
    mid = span(t, "service", 5, 90, root.span_id)
    assert _trace(root, mid, span(t, "charge", 10, 20, mid.span_id, status="ERROR")) == []  # it surfaced


def test_large_payload_and_rows() -> None:
    t = tid(next(_n))
    root = span(t, "GET /x", 0, 100, kind="SERVER")
    ok = span(t, "GET", 1, 5, root.span_id, kind="CLIENT", http__request__method="GET", url__full="http://a/1",
              http__response__body__size=299_999)
    big = span(t, "GET", 6, 9, root.span_id, kind="CLIENT", http__request__method="GET", url__full="http://a/2",
               http__response__body__size=300_000)
    rows = db(t, root.span_id, "SELECT * FROM events", 10, 2, db__response__returned_rows=10_000)
    ps = _trace(root, ok, big, rows)
    assert _types(ps) == ["large_payload", "large_payload"]
    assert {p["span_ids"][0] for p in ps} == {f"spn_{big.span_id}", f"spn_{rows.span_id}"}


def _http(t: str, parent: str, path: str, start: float, dur: float):
    return span(t, "GET", start, start + dur, parent, kind="CLIENT", http__request__method="GET",
                url__full=f"http://svc{path}")


def test_consecutive_http_thresholds() -> None:
    t = tid(next(_n))
    root = span(t, "GET /x", 0, 480, kind="SERVER")
    calls = [_http(t, root.span_id, p, 10 + i * 160, 150) for i, p in enumerate(("/a", "/b", "/c"))]
    (p,) = _trace(root, *calls)
    assert p["type"] == "consecutive_http" and p["time_ms"] == 300.0
    t = tid(next(_n))
    root = span(t, "GET /x", 0, 800, kind="SERVER")
    far = [_http(t, root.span_id, p, 10 + i * 300, 150) for i, p in enumerate(("/a", "/b", "/c"))]
    assert _types(_trace(root, *far)) == ["gap", "gap"]  # 150 ms apart > 100 ms: not back to back
    t = tid(next(_n))
    root = span(t, "GET /x", 0, 400, kind="SERVER")
    fast = [_http(t, root.span_id, p, 10 + i * 100, 90) for i, p in enumerate(("/a", "/b", "/c", "/d"))]
    assert _trace(root, *fast) == []  # each under 100 ms


def test_gap_threshold_scales_with_the_trace() -> None:
    t = tid(next(_n))
    root = span(t, "GET /x", 0, 2000, kind="SERVER")
    kids = [span(t, "a", 0, 900, root.span_id), span(t, "b", 1050, 2000, root.span_id)]
    assert _trace(root, *kids) == []  # 150 ms < 10 % of 2 s
    kids = [span(t, "a", 0, 700, root.span_id), span(t, "b", 1000, 2000, root.span_id)]
    (p,) = _trace(root, *kids)
    assert p["type"] == "gap" and p["time_ms"] == 300.0 and p["offset_ms"] == 700.0
