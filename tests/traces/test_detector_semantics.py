"""Detector semantics, one labelled case per rule and the negative case each rule exists for.

The cases follow the shapes real SDKs send (OpenTelemetry's semantic conventions, and the
``sentry.op`` a Sentry SDK records): Mongo query documents and Mongoose wrapper spans,
Redis commands, statements cut short with ``...``, connection spans, GraphQL resolvers
each with their own query, file I/O, and client spans waiting on a remote peer.
"""

from __future__ import annotations

import itertools

from builders import db, span, tid

from runbrief.traces.detectors import detect
from runbrief.traces.sqlnorm import category
from runbrief.traces.tree import Node, build

_n = itertools.count(5000)


def _detect(root, *kids) -> list[dict]:
    """Problems of ``root`` with ``kids``, the root fitted to its children (no gap around them)."""
    ends = [k.end_ns for k in kids if k.parent_span_id == root.span_id]
    if ends:
        root.start_ns, root.end_ns = min(k.start_ns for k in kids), max(ends)
    spans = [root, *kids]
    nodes = [Node(s.span_id, s.parent_span_id, s.service, s.name, s.kind, s.start_ns, s.end_ns, s.status_code,
                  s.status_message, "", s.attributes, []) for s in spans]
    return detect(build("t", nodes))


def _types(problems: list[dict]) -> list[str]:
    return sorted(p["type"] for p in problems)


def _root(t: str, end: float):
    return span(t, "GET /x", 0, end, kind="SERVER")


def test_truncated_statements_are_not_compared() -> None:
    t = tid(next(_n))
    root = _root(t, 200)
    cut = "SELECT a.id, a.name, a.email, a.created_at FROM accounts a JOIN plans p ON p.id = a.plan_id WHERE a..."
    kids = [db(t, root.span_id, cut, 1 + i * 20, 19) for i in range(8)]
    assert _types(_detect(root, *kids)) == []
    whole = "SELECT a.id FROM accounts a WHERE a.id = $1"  # the same loop, whole statements: found
    kids = [db(t, root.span_id, whole, 1 + i * 20, 19) for i in range(8)]
    assert _types(_detect(root, *kids)) == ["n_plus_one_db"]


def test_cache_commands_are_not_db_queries() -> None:
    t = tid(next(_n))
    root = _root(t, 200)
    kids = [span(t, "GET", 1 + i * 20, 20 + i * 20, root.span_id, kind="CLIENT", db__system="redis",
                 db__statement=f"GET user:{i}") for i in range(8)]
    assert category("CLIENT", kids[0].attributes) == "cache"
    assert "n_plus_one_db" not in _types(_detect(root, *kids))
    sentry = [span(t, f"GET session:{i}", 1 + i * 20, 20 + i * 20, root.span_id, sentry__op="db.redis")
              for i in range(8)]  # Sentry's op for a Redis command
    assert category("INTERNAL", sentry[0].attributes) == "cache"
    assert "n_plus_one_db" not in _types(_detect(root, *sentry))


def test_mongo_queries_counted_by_query_document_not_wrapper_spans() -> None:
    t = tid(next(_n))
    root = _root(t, 200)
    # Mongo driver spans, concurrent (Promise.all over the items): a round trip per item.
    finds = [span(t, "find", 10 + i, 60 + i, root.span_id, kind="CLIENT", db__system="mongodb",
                  db__operation="find", db__collection__name="reviews",
                  db__statement=f'{{"find":"reviews","filter":{{"productId":"{i:04d}"}}}}') for i in range(6)]
    (p,) = _detect(root, *finds)
    assert p["type"] == "n_plus_one_db" and p["concurrent"] is True and p["count"] == 6
    # Mongoose's wrapper spans carry only an operation name: no query to compare.
    wrappers = [span(t, "mongoose.cartoons.findOne", 10 + i * 30, 38 + i * 30, root.span_id, kind="CLIENT",
                     db__system="mongoose", db__operation="findOne", db__collection__name="cartoons")
                for i in range(6)]
    assert _types(_detect(root, *wrappers)) == []


def test_connection_spans_are_not_queries() -> None:
    t = tid(next(_n))
    root = _root(t, 200)
    kids = [span(t, "pg-pool.connect", 1 + i * 20, 20 + i * 20, root.span_id, kind="CLIENT",
                 db__system="postgresql", db__operation="connect") for i in range(8)]
    assert _types(_detect(root, *kids)) == []


def test_sentry_op_types_spans_without_semantic_conventions() -> None:
    t = tid(next(_n))
    root = _root(t, 200)
    loop = [span(t, "SELECT * FROM books_author WHERE id = %s", 1 + i * 20, 20 + i * 20, root.span_id,
                 sentry__op="db") for i in range(8)]
    (p,) = _detect(root, *loop)
    assert p["type"] == "n_plus_one_db" and p["what"] == "SELECT * FROM books_author WHERE id = ?"
    assert category("INTERNAL", {"sentry.op": "http.client"}) == "http_client"
    assert category("INTERNAL", {"sentry.op": "file.read"}) == "file"


def test_file_io_is_not_a_slow_query() -> None:
    t = tid(next(_n))
    root = _root(t, 1300)
    read = span(t, "/data/big.csv", 1, 1250, root.span_id, sentry__op="file.read", file__path="/data/big.csv")
    assert _types(_detect(root, read)) == []
    read = span(t, "read big.csv", 1, 1250, root.span_id, file__path="/data/big.csv")
    assert category(read.kind, read.attributes) == "file"
    assert _types(_detect(root, read)) == []


def _resolvers(t: str, parent: str, n: int, db_ms: float, other_ms: float, *, start: float = 1.0,
               system: str = "postgresql", sql: str = "SELECT id, name FROM authors WHERE book_id = $1"):
    out, at = [], start
    for _ in range(n):
        res = span(t, "graphql.resolve Book.author", at, at + other_ms + db_ms + 1, parent)
        q = span(t, sql.split()[0], at + other_ms, at + other_ms + db_ms, res.span_id, kind="CLIENT",
                 db__system=system, db__statement=sql)
        out += [res, q]
        at += other_ms + db_ms + 2
    return out


def test_repeated_sequence_graphql_resolvers() -> None:
    t = tid(next(_n))
    root = _root(t, 400)
    kids = _resolvers(t, root.span_id, 12, 20, 2)
    (p,) = _detect(root, *kids)
    assert p["type"] == "repeated_sequence" and p["repeats"] == 12 and p["period"] == 2
    assert p["count"] == 24 and p["time_ms"] == 240.0  # the DB time of every repetition


def test_repeated_sequence_negatives() -> None:
    t = tid(next(_n))
    root = _root(t, 2000)
    assert _types(_detect(root, *_resolvers(t, root.span_id, 2, 80, 2))) == []  # 2 < 3 repetitions
    assert _types(_detect(root, *_resolvers(t, root.span_id, 12, 5, 2))) == []  # 60 ms of DB < 100 ms
    # mostly not DB: each repetition waits 150 ms on an HTTP call for 15 ms of query
    kids = []
    for i in range(8):
        at = 1 + i * 170
        res = span(t, "graphql.resolve Book.reviews", at, at + 168, root.span_id)
        kids += [res, span(t, "GET", at, at + 150, res.span_id, kind="CLIENT", http__request__method="GET",
                           url__full=f"http://reviews/books/{i}"),
                 db(t, res.span_id, "SELECT id FROM ratings WHERE book_id = $1", at + 151, 15)]
    assert "repeated_sequence" not in _types(_detect(root, *kids))
    # Redis under each resolver: cache, not a query
    redis = _resolvers(t, root.span_id, 12, 20, 2, system="redis", sql="GET author:1")
    assert "repeated_sequence" not in _types(_detect(root, *redis))


def test_repeated_sequence_does_not_take_a_trailing_part() -> None:
    t = tid(next(_n))
    root = _root(t, 400)
    kids = _resolvers(t, root.span_id, 7, 20, 2)
    extra = span(t, "graphql.resolve Book.author", 169, 179, root.span_id)  # a resolver with no query after it
    (p,) = _detect(root, *kids, extra)
    assert p["repeats"] == 7 and f"spn_{extra.span_id}" not in p["span_ids"]


def test_no_gap_inside_a_span_that_waits_on_a_remote_peer() -> None:
    t = tid(next(_n))
    root = _root(t, 1000)
    call = span(t, "POST", 0, 1000, root.span_id, kind="CLIENT", http__request__method="POST",
                url__full="http://pay/charge")
    send = span(t, "http send", 0, 10, call.span_id)
    recv = span(t, "http receive", 900, 1000, call.span_id)  # the wait between them is the peer's work
    assert _types(_detect(root, call, send, recv)) == []
    work = span(t, "render", 0, 1000, root.span_id)
    a, b = span(t, "a", 0, 10, work.span_id), span(t, "b", 900, 1000, work.span_id)
    assert _types(_detect(root, work, a, b)) == ["gap"]
