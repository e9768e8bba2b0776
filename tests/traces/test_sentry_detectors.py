"""Trace detectors on Sentry transaction events, each class of case with its negative.

The events are hand-written here in the shape Sentry's SDKs send and Sentry stores them
(``spans[]`` with ``op``, ``description``, seconds since the epoch; sometimes no
``contexts.trace``, no ``start_timestamp``), and go the way a user's do: ``SentryReader``
→ ``Pipeline`` into a DuckDB store → the ``trace_summary`` operation. Each case is the
class of event where the detectors once disagreed with Sentry's documented semantics
(bench/sentry_fixtures.py measures that on Sentry's own fixtures).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from runbrief import ops
from runbrief.ingest.pipeline import Pipeline
from runbrief.ingest.sentry import SentryReader
from runbrief.store.duck import Store

T0 = 1_760_000_000.0
_ids = itertools.count(0x100)
_traces = itertools.count(1)


def _sid() -> str:
    return f"{next(_ids):016x}"


def _span(op: str, desc: str, start_ms: float, dur_ms: float, parent: str, **data: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"op": op, "description": desc, "span_id": _sid(), "parent_span_id": parent,
                         "start_timestamp": T0 + start_ms / 1000, "timestamp": T0 + (start_ms + dur_ms) / 1000}
    if data:
        s["data"] = {k.replace("__", "."): v for k, v in data.items()}
    return s


def _event(spans: list[dict[str, Any]], root: str, end_ms: float, *, contexts: bool = True) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": "transaction", "event_id": f"{next(_traces):032x}", "transaction": "GET /x",
                          "platform": "python", "spans": spans, "start_timestamp": T0, "timestamp": T0 + end_ms / 1000}
    if contexts:
        ev["contexts"] = {"trace": {"trace_id": f"{next(_traces):032x}", "span_id": root, "op": "http.server"}}
    return ev


def _problems(tmp_path: Path, ev: dict[str, Any]) -> list[dict[str, Any]]:
    reader = SentryReader(default_service="app")
    reader.value(ev)
    assert reader.bad == 0, reader.errors
    store = Store.open(tmp_path / f"{ev['event_id']}.duckdb")
    try:
        Pipeline(store).write(reader.batch)
        (tid,) = {s.trace_id for s in reader.batch.spans}
        return ops.run(store, "trace_summary", {"id": tid, "budget": 50})["problems"]
    finally:
        store.close()


def _types(ps: list[dict[str, Any]]) -> list[str]:
    return sorted(p["type"] for p in ps)


ROOT = "aaaaaaaaaaaaaaaa"
AUTHOR = "SELECT id, name FROM author WHERE id = %s"
BOOKS = "SELECT id, title, author_id FROM book LIMIT 10"


def _loop(n: int, each: float, desc: str = AUTHOR, op: str = "db", at: float = 20.0) -> list[dict[str, Any]]:
    return [_span(op, desc, at + i * (each + 1), each, ROOT) for i in range(n)]


def test_n_plus_one_after_its_list_query(tmp_path: Path) -> None:
    spans = [_span("db", "connect", 0, 5, ROOT), _span("db", BOOKS, 6, 10, ROOT), *_loop(8, 12)]
    (p,) = _problems(tmp_path, _event(spans, ROOT, 130))
    assert p["type"] == "n_plus_one_db" and p["count"] == 8 and p["source_statement"] == BOOKS.replace("10", "?")
    # the SDK's op for an ORM's queries (db.sql.active_record) is a DB span too
    spans = [_span("db.sql.active_record", BOOKS, 6, 10, ROOT), *_loop(8, 12, op="db.sql.active_record")]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 130))) == ["n_plus_one_db"]


def test_a_connection_span_is_no_query(tmp_path: Path) -> None:
    # Django's "connect" span followed by one unfiltered SELECT: nothing to run in parallel
    spans = [_span("db", "connect", 0, 300, ROOT), _span("db", BOOKS, 301, 300, ROOT)]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 601))) == []
    spans = [_span("db", "pg-pool.connect", i * 20, 19, ROOT) for i in range(8)]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 160))) == []


def test_identical_lookups_after_a_list_query_are_an_n_plus_one(tmp_path: Path) -> None:
    same = AUTHOR.replace("%s", "1")  # every book by the same author: the values inline and equal
    spans = [_span("db", BOOKS, 6, 10, ROOT), *_loop(8, 12, desc=same)]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 130))) == ["n_plus_one_db", "repeated_call"]
    # with no list query before them, the very same call each time is a repeated_call alone
    assert _types(_problems(tmp_path, _event(_loop(8, 12, desc=same, at=0), ROOT, 110))) == ["repeated_call"]


def test_no_n_plus_one_when_the_list_came_from_a_cache(tmp_path: Path) -> None:
    spans = [_span("db.redis.command", "GET books", 6, 10, ROOT), *_loop(8, 12)]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 130))) == []
    # the per-item reads are Redis commands: cache, not queries (the same key each time: a repeated_call)
    spans = [_span("db", BOOKS, 6, 10, ROOT), *_loop(8, 12, desc="GET author:1", op="db.redis.command")]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 130))) == ["repeated_call"]


def test_mongo_commands_with_scrubbed_values_and_mongoose_wrappers(tmp_path: Path) -> None:
    root = ROOT
    users = _span("db", "mongoose.users.findOne", 0, 5, root, db__system="mongoose", db__operation="findOne")
    wrappers = [_span("db", "mongoose.cartoons.findOne", 40 + i * 0.2, 80, root, db__system="mongoose",
                      db__operation="findOne", db__collection__name="cartoons") for i in range(7)]
    finds = [_span("db", '{"characters":"?"}', 50 + i * 0.2, 10 + i * 5, root, db__system="mongodb",
                   db__operation="find", db__statement='{"characters":"?"}') for i in range(7)]
    ps = _problems(tmp_path, _event([users, *wrappers, *finds], root, 125, contexts=False))
    (p,) = ps  # one N+1 over the find commands; the wrappers say nothing, the scrubbed values are not "identical"
    assert p["type"] == "n_plus_one_db" and p["count"] == 7 and p["concurrent"] is True
    assert p["span_ids"] == [f"spn_{s['span_id']}" for s in finds]
    # only wrappers: no query to compare, and not a repeated_call either
    assert _types(_problems(tmp_path, _event([users, *wrappers], root, 125, contexts=False))) == []


def _graphql(n: int, query_ms: float, op: str = "db", desc: str = AUTHOR) -> list[dict[str, Any]]:
    execute = _span("graphql.execute", "execute", 0, 10 + n * (query_ms + 2), ROOT)
    out = [execute]
    for i in range(n):
        at = 1 + i * (query_ms + 2)
        out.append(_span("graphql.resolve", "Book.authors", at, query_ms + 1, execute["span_id"]))
        out.append(_span(op, desc, at + 0.5, query_ms, execute["span_id"]))
    return out


def test_graphql_resolvers_each_with_a_query_are_a_repeated_sequence(tmp_path: Path) -> None:
    ps = _problems(tmp_path, _event(_graphql(12, 20), ROOT, 300))
    assert _types(ps) == ["repeated_sequence"]  # not also an N+1: the resolvers break the run of queries
    assert ps[0]["repeats"] == 12 and ps[0]["period"] == 2
    # the same with Redis commands: no DB query in the sequence
    assert _types(_problems(tmp_path, _event(_graphql(12, 20, op="db.redis", desc="GET key"), ROOT, 300))) == []


def test_sequence_thresholds_use_span_durations(tmp_path: Path) -> None:
    spans = _graphql(12, 20)
    for s in spans:
        if s["op"] == "db":
            s["exclusive_time"] = 20.0
            s["timestamp"] = s["start_timestamp"]  # no duration, whatever exclusive_time says
    assert _types(_problems(tmp_path, _event(spans, ROOT, 300))) == []


def test_an_orm_sequence_in_an_event_without_timestamps_or_trace_context(tmp_path: Path) -> None:
    top = _span("default", "prisma:engine:query", 0, 110, "")
    del top["parent_span_id"]
    spans = [top]
    for i in range(5):
        spans.append(_span("db", "UPDATE users SET name = $1 WHERE id = $2", 1 + i * 21, 20, top["span_id"],
                           db__system="postgresql"))
        spans.append(_span("default", "prisma:engine:serialize", 21.5 + i * 21, 0.2, top["span_id"]))
    ev = _event(spans, ROOT, 110, contexts=False)
    del ev["start_timestamp"], ev["timestamp"], ev["type"]
    ps = _problems(tmp_path, ev)
    assert _types(ps) == ["repeated_sequence"] and ps[0]["repeats"] == 5


def test_interleaved_queries_alone_are_each_an_n_plus_one(tmp_path: Path) -> None:
    spans = []
    for i in range(6):
        spans.append(_span("db", "SELECT price FROM prices WHERE item = %s", i * 22, 10, ROOT))
        spans.append(_span("db", "SELECT rate FROM taxes WHERE item = %s", i * 22 + 11, 10, ROOT))
    assert _types(_problems(tmp_path, _event(spans, ROOT, 135))) == ["n_plus_one_db", "n_plus_one_db"]


def test_no_gap_after_the_roots_last_child(tmp_path: Path) -> None:
    # the transaction ends 1.2 s after its last span (the SDK's idle wait, the response going out)
    spans = [_span("db", BOOKS, 0, 30, ROOT)]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 1230))) == []
    # idle time between two children of the root is still unexplained work
    spans = [_span("db", BOOKS, 0, 30, ROOT), _span("db", BOOKS.replace("10", "20"), 1200, 30, ROOT)]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 1230))) == ["gap"]


def test_a_slow_connection_span_is_not_a_slow_query(tmp_path: Path) -> None:
    conn = _span("db.connection", "", 0, 1500, ROOT)  # the queries run inside the connection span
    spans = [conn, _span("db", BOOKS, 10, 20, conn["span_id"])]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 1500))) == []
    spans = [_span("db", BOOKS, 0, 1500, ROOT)]  # the query itself taking 1.5 s is
    assert _types(_problems(tmp_path, _event(spans, ROOT, 1500))) == ["slow_db"]


def test_no_gap_before_the_roots_first_child(tmp_path: Path) -> None:
    # Rails in development: 1.6 s between the request's arrival and the first query
    spans = [_span("db", BOOKS, 1600, 30, ROOT), _span("view.render", "index", 1631, 5, ROOT)]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 1640))) == []
    # inside a span below the root, the same idle start is unexplained
    ctl = _span("process_action", "BooksController#index", 0, 1640, ROOT)
    spans = [ctl, _span("db", BOOKS, 1600, 30, ctl["span_id"])]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 1640))) == ["gap"]


def _get(url: str, start: float, dur: float, method: str = "GET") -> dict[str, Any]:
    return _span("http.client", f"{method} {url}", start, dur, ROOT, method=method, url=url)


def test_pages_fetched_one_after_another_are_consecutive_http(tmp_path: Path) -> None:
    # a React page load walking ?page=1..4, 600 ms each, between them the page's own spans
    spans = []
    for i in range(4):
        spans.append(_get(f"https://api.example.com/users?page={i + 1}", i * 605, 600))
        spans.append(_span("resource.img", f"/logo{i}.png", i * 605 + 1, 300, ROOT))
    (p,) = _problems(tmp_path, _event(spans, ROOT, 2420))
    assert p["type"] == "consecutive_http" and p["count"] == 4 and p["time_ms"] == 1800.0
    # writes to one endpoint in order (each followed by its INSERT) are not offered as parallel
    spans = []
    for i in range(3):
        spans.append(_get("https://api.example.com/three", i * 260, 200, method="POST"))
        spans.append(_span("db", "INSERT INTO t (a) VALUES ($1)", i * 260 + 201, 1, ROOT))
    assert _types(_problems(tmp_path, _event(spans, ROOT, 780))) == []


def test_a_browser_asset_is_not_a_large_payload(tmp_path: Path) -> None:
    js = _span("resource.script", "/static/js/bundle.js", 0, 500, ROOT, http__response_content_length=527_961)
    assert _types(_problems(tmp_path, _event([js], ROOT, 500))) == []
    api = _span("http.client", "GET https://api.example.com/export", 0, 500, ROOT,
                http__response_content_length=527_961, url="https://api.example.com/export")
    assert _types(_problems(tmp_path, _event([api], ROOT, 500))) == ["large_payload"]


def test_no_gap_in_a_browser_page_load(tmp_path: Path) -> None:
    # a React page load (a stored event: no contexts.trace, so no op on the root): the 600 ms
    # between the document request and the first fetch is the browser parsing and running scripts
    spans = [_span("browser", "request", 0, 140, ROOT), _get("/cities.json", 770, 125)]
    ev = _event(spans, ROOT, 1300, contexts=False)
    ev["sdk"] = {"name": "sentry.javascript.react", "version": "7.19.0"}
    assert _types(_problems(tmp_path, ev)) == []
    ev = _event([_span("browser", "request", 0, 140, ROOT), _get("/cities.json", 770, 125)], ROOT, 1300,
                contexts=False)
    ev["sdk"] = {"name": "sentry.python.django", "version": "2.0.0"}  # a server's idle time is unexplained
    assert _types(_problems(tmp_path, ev)) == ["gap"]


def _three(descs: list[str], each: float) -> list[dict[str, Any]]:
    return [_span("db", d, i * (each + 1), each, ROOT) for i, d in enumerate(descs)]


def test_consecutive_independent_queries_and_the_ones_that_are_not(tmp_path: Path) -> None:
    independent = ["SELECT `customer`.`id` FROM `customers`", "SELECT `order`.`id` FROM `orders`",
                   "SELECT count(*), sleep_ms(120) FROM `products` LIMIT 10"]  # values before FROM are no input
    (p,) = _problems(tmp_path, _event(_three(independent, 400), ROOT, 1203))
    assert p["type"] == "consecutive_db" and len(p["parallelizable_span_ids"]) == 2
    # a value in the JOIN condition came from the code: each may depend on the one before
    joined = [f"SELECT m.* FROM authors a INNER JOIN books b ON a.book_id = b.id AND b.another_id = 'id_{i}' "
              "ORDER BY b.created_at DESC LIMIT 3" for i in range(3)]
    assert _types(_problems(tmp_path, _event(_three(joined, 750), ROOT, 2253))) == []
    # in a GraphQL request each resolver's query takes its parent's result
    ev = _event(_three(independent, 400), ROOT, 1203)
    ev["transaction"] = "POST /graphql"
    assert _types(_problems(tmp_path, ev)) == []


def test_concurrent_fetches_from_a_page_need_ten_calls(tmp_path: Path) -> None:
    def page(n: int, sdk: str) -> dict[str, Any]:
        spans = [_get(f"/{1000 + i}/weather.json", 0.2 * i, 140) for i in range(n)]
        ev = _event(spans, ROOT, 150, contexts=False)
        ev["sdk"] = {"name": sdk}
        return ev
    assert _types(_problems(tmp_path, page(9, "sentry.javascript.react"))) == []  # how a page loads
    assert _types(_problems(tmp_path, page(10, "sentry.javascript.react"))) == ["n_plus_one_http"]
    assert _types(_problems(tmp_path, page(6, "sentry.python"))) == ["n_plus_one_http"]  # a backend fan-out


def test_a_cancelled_request_is_not_a_swallowed_error(tmp_path: Path) -> None:
    tags = _get("/api/tags/?statsPeriod=14d", 0, 300)
    tags["status"] = "cancelled"  # the page moved on and aborted the fetch
    assert _types(_problems(tmp_path, _event([tags], ROOT, 300))) == []
    tags["status"] = "internal_error"
    assert _types(_problems(tmp_path, _event([tags], ROOT, 300))) == ["swallowed_error"]


def test_query_cache_hits_are_no_round_trips(tmp_path: Path) -> None:
    def loop(n: int, each_ms: float) -> dict[str, Any]:
        spans = []
        for i in range(n):  # two lookups per item, as Rails renders a list
            spans.append(_span("db.sql.active_record", 'SELECT "t5".* FROM "t5" WHERE "t5"."c" = $1 LIMIT $2',
                               i * 2 * (each_ms + 0.5), each_ms, ROOT))
            spans.append(_span("db.sql.active_record", 'SELECT "t9".* FROM "t9" WHERE "t9"."c" = $1 LIMIT $2',
                               i * 2 * (each_ms + 0.5) + each_ms + 0.5, each_ms, ROOT))
        return _event(spans, ROOT, n * 2 * (each_ms + 0.5))
    assert _types(_problems(tmp_path, loop(30, 0.03))) == []  # 30 µs each: served by the query cache
    assert _types(_problems(tmp_path, loop(30, 0.2))) == ["n_plus_one_db", "n_plus_one_db"]  # real round trips


def test_no_n_plus_one_after_a_list_query_cut_short(tmp_path: Path) -> None:
    cut = "SELECT b.id, b.title, b.author_id, b.isbn, b.published_at FROM book b JOIN shelf s ON s.id = b.shelf..."
    spans = [_span("db", cut, 6, 10, ROOT), *_loop(8, 12)]
    assert _types(_problems(tmp_path, _event(spans, ROOT, 130))) == []
    spans = [_span("db", BOOKS, 6, 10, ROOT), *_loop(8, 12)]  # the whole list query: an N+1
    assert _types(_problems(tmp_path, _event(spans, ROOT, 130))) == ["n_plus_one_db"]


def test_three_repetitions_of_a_sequence_are_enough(tmp_path: Path) -> None:
    ps = _problems(tmp_path, _event(_graphql(3, 40), ROOT, 140))  # Sentry's MN+1 asks 3 occurrences, 100 ms
    assert _types(ps) == ["repeated_sequence"] and ps[0]["repeats"] == 3
    assert _types(_problems(tmp_path, _event(_graphql(2, 60), ROOT, 140))) == []
    assert _types(_problems(tmp_path, _event(_graphql(3, 30), ROOT, 140))) == []  # 90 ms of DB < 100 ms


def test_a_downloaded_file_is_not_a_large_payload(tmp_path: Path) -> None:
    def call(url: str, **data: Any) -> dict[str, Any]:
        s = _get(url, 0, 500)
        s["data"].update({k.replace("__", "."): v for k, v in data.items()})
        return s
    for url in ("https://cdn.example.com/static/app.3f2a.js", "https://example.com/_next/data/build/page",
                "https://example.com/reports/q3.pdf?dl=1"):
        assert _types(_problems(tmp_path, _event([call(url, http__response_content_length=900_000)], ROOT, 500))) == []
    assert _types(_problems(tmp_path, _event([call("https://api.example.com/export.json",
                                                    http__response_content_length=900_000)], ROOT, 500))) == \
        ["large_payload"]
    # an older browser SDK's "Encoded Body Size" is the same measure
    assert _types(_problems(tmp_path, _event([call("https://api.example.com/items", **{"Encoded Body Size": 900_000})],
                                             ROOT, 500))) == ["large_payload"]


def test_mongo_commands_keep_their_collection_wherever_the_key_is(tmp_path: Path) -> None:
    def find(coll: str, at: float) -> dict[str, Any]:
        q = f'{{"filter":{{"productId":{{"buffer":"?"}}}},"find":"{coll}"}}'  # as Sentry stores it
        return _span("db", q, at, 12, ROOT, db__system="mongodb", db__statement=q)
    # a lookup per product in two collections, interleaved: each collection's loop is its own N+1
    spans = [s for i in range(6) for s in (find("reviews", i * 30), find("ratings", i * 30 + 14))]
    ps = _problems(tmp_path, _event(spans, ROOT, 180))
    assert sorted(p["what"] for p in ps) == [
        'mongodb: {"filter":{"productId":{"buffer":"?"}},"find":"ratings"}',
        'mongodb: {"filter":{"productId":{"buffer":"?"}},"find":"reviews"}']
