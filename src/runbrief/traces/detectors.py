"""Performance problems in one trace, each with the spans that show it.

Every detector is written from the problem, with thresholds a reader can check (the
defaults follow Sentry's published performance-issue detectors where one exists, and say
where and why they differ). All of them are in ``Thresholds``. bench/sentry_fixtures.py
scores them on Sentry's own labelled detector fixtures (docs/benchmarks.md).

``n_plus_one_db`` — a query per item. The same normalized statement (literals → ?)
    runs under one parent at least 5 times with at least 50 ms in total (Sentry: 5
    spans, 50 ms), or at least 25 times whatever the time: a loop that long is a loop
    even against a local SQLite file, and it will not stay fast against a networked
    database — unless the typical execution took under 0.05 ms: no round trip at all
    (Rails' query cache answers a repeated lookup in 20-50 µs; Sentry reports none of
    them). The executions are consecutive siblings: a run of DB queries, in which
    interleaved statements (``price``, ``tax``, ``price``, ``tax``…) are each detected;
    any other sibling between them (a GraphQL resolver, a serializer, a cache command)
    ends the run, as in Sentry's detector, and the loop is then a ``repeated_sequence``.
    They may overlap (``Promise.all`` over the items, a thread pool): N round trips
    either way; the problem then says ``concurrent``. Only complete queries are
    compared: a statement cut short by the SDK (ending in ``...`` or ``…``) may differ
    in the part that was cut; connection spans (``connect``, ``pg-pool.connect``, a
    ``db.connection`` op) and transaction control (``BEGIN``, ``COMMIT``…) are not
    queries; a Mongo-family span (MongoDB, Mongoose) counts only with its query document
    (``{…}``), since the ORM's wrapper spans carry only an operation name; cache commands
    (Redis, Memcached: category ``cache``) are never DB queries. Connection, transaction-
    control, wrapper and cut-short spans neither join nor end a run. The DB query just
    before the run is its ``source`` (the query that fetched the list); when the sibling
    just before it is a cache read, the list came from the cache and, as Sentry, this is
    no N+1; when that list query was cut short by the SDK, Sentry drops the problem as
    too unsure, and so does this. The very same statement with the same values each
    time is a ``repeated_call`` — and also an N+1 when a list query came just before it
    (every book by the same author). Cost: the time of the repeated spans.
``repeated_sequence`` — the N+1 of a group of spans (Sentry's "MN+1"): a sequence of
    2 to 8 spans (a GraphQL resolver and its query, Prisma's query-serialize) repeated
    back to back at least 3 times in the trace's span order (Sentry's minimum), with at
    least one complete DB query and at least one span that is not a query (a sequence of
    queries alone is each statement's ``n_plus_one_db``), the DB spans at least 100 ms
    in all by their durations (Sentry's 100 ms; ``exclusive_time`` is not used) and at
    least 20 % of the sequence's span time (a mostly-HTTP loop is not a DB problem); a
    trailing part-sequence is not counted. Detected before ``n_plus_one_db``, whose runs
    skip its spans. Cost: the DB time of every repetition.
``n_plus_one_http`` — the same for HTTP client calls (method + normalized URL) among
    consecutive HTTP siblings, at least 5 calls with 100 ms in total, or 25 calls;
    sequential or concurrent. Sentry's N+1 API calls detector asks for 10 concurrent
    calls; a backend loop or fan-out of 5 is already worth a batch endpoint, but a page
    in a browser or app (a transaction from a browser or mobile SDK) fetching in
    parallel is how pages load, and there 10 concurrent calls are asked, as Sentry.
``slow_db`` — one query (a DB span that is a query: not cache, not file, not a
    connection span) of at least 1,000 ms (Sentry's slow DB query default). Cost: its
    duration.
``consecutive_db`` — sibling DB queries in sequence, of which the later ones could run
    alongside the first: SELECTs with no WHERE clause and no value after FROM (bound or
    inline, in a JOIN's condition; a LIMIT or OFFSET is no input), each at least 30 ms;
    running them in parallel would save at least 100 ms and 10 % of the sequence
    (Sentry's criteria). Not in a GraphQL request (route or URL naming ``graphql``),
    where each resolver's query takes its parent's result (Sentry skips them too).
    Cost: the time saved.
``consecutive_http`` — at least 3 sibling HTTP calls in sequence, each at least 100 ms,
    at most 100 ms apart, that together would save at least 200 ms if made in
    parallel; other siblings between them do not break the sequence (Sentry's rule).
    Calls to one endpoint count when they are reads (``GET``/``HEAD``: fetching
    ``?page=1``, ``?page=2``…); writes to one endpoint in order (``POST`` each followed by
    its ``INSERT``) are not offered as parallel. Sentry asks 500 ms / 500 ms / 2000 ms,
    tuned for mobile clients; a backend fan-out is worth fixing well below that.
``repeated_call`` — the very same call (same SQL with the same inline values or bound
    parameters, same GET URL, same cache key) made at least 3 times in one trace, with
    at least 5 ms in total: the result could have been kept. Statements whose values
    are not recorded (placeholders only, or Mongo documents whose values the SDK
    scrubbed to ``"?"``) are never called identical. Cost: the time of every call after
    the first.
``large_payload`` — a request or response body of at least 300 KB
    (``http.response.body.size``, ``http.request.body.size``, the older
    ``http.response_content_length``, ``messaging.message.body.size``; Sentry: 300 KB),
    or a query that returned at least 10,000 rows (``db.response.returned_rows``). Not
    a browser loading an asset (``resource.*`` spans: Sentry's asset detectors' domain),
    nor an HTTP call fetching a file (a path ending in an extension other than ``.json``,
    Next.js's ``/_next/static/`` and ``/_next/data/``, a download content type), as
    Sentry's large-payload detector.
``swallowed_error`` — a span that failed (status ERROR or an ``exception`` event) whose
    parent and every ancestor did not: the failure was caught and never surfaced.
    Grouped by parent. Cost: the failed spans' time.
``gap`` — time inside a span with children during which no child runs, of at least
    100 ms and 10 % of the trace: work nobody instrumented (CPU, a lock, a sleep, a
    library without instrumentation). Only inside a span doing its own work (a server,
    internal or consumer span): a client, DB, cache, messaging or GenAI span waits on
    something remote by definition, so its idle time is an async wait, not unexplained;
    nor a browser or app screen (a ``pageload``, ``navigation``, ``ui.*`` span, or a
    transaction a browser or mobile SDK sent), where idle time is the device rendering
    or waiting for the user. In the trace's root only between two children: its start
    and end are the framework's and the SDK's (routing, a development server reloading,
    the response going out, a Sentry transaction's idle wait for more spans); and not
    between the separate roots of a trace whose root is missing. Cost: the gap.

The kind of a span (DB, cache, file, HTTP client…) comes from its attributes
(``runbrief.traces.sqlnorm.category``: OpenTelemetry semantic conventions, then the
``sentry.op`` a Sentry SDK records), never from its name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from runbrief.traces.sqlnorm import db_text, sql_verb
from runbrief.traces.tree import Node, Trace

__all__ = ["Thresholds", "DEFAULT", "detect", "PROBLEM_TYPES"]

PROBLEM_TYPES = ("n_plus_one_db", "repeated_sequence", "n_plus_one_http", "slow_db", "consecutive_db",
                 "consecutive_http",
                 "repeated_call", "large_payload", "swallowed_error", "gap")
_MS = 1_000_000
_TX_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "START", "END", "PRAGMA"}
_SIZE_KEYS = ("http.response.body.size", "http.request.body.size", "http.response_content_length",
              "http.request_content_length", "http.response_content_length_uncompressed",
              "messaging.message.body.size", "rpc.response.size", "rpc.request.size")


@dataclass(frozen=True)
class Thresholds:
    n1_db_min_count: int = 5
    n1_db_min_total_ms: float = 50.0
    n1_db_any_time_count: int = 25
    n1_db_any_time_min_each_ms: float = 0.05
    n1_http_min_count: int = 5
    n1_http_min_total_ms: float = 100.0
    n1_http_any_time_count: int = 25
    n1_http_device_concurrent_count: int = 10
    seq_min_repeats: int = 3
    seq_max_len: int = 8
    seq_min_db_ms: float = 100.0
    seq_min_db_share: float = 0.2
    slow_db_ms: float = 1000.0
    consec_db_min_saving_ms: float = 100.0
    consec_db_min_ratio: float = 0.1
    consec_db_min_span_ms: float = 30.0
    consec_http_min_count: int = 3
    consec_http_min_span_ms: float = 100.0
    consec_http_max_gap_ms: float = 100.0
    consec_http_min_saving_ms: float = 200.0
    repeated_min_count: int = 3
    repeated_min_total_ms: float = 5.0
    large_payload_bytes: int = 300_000
    large_rows: int = 10_000
    gap_min_ms: float = 100.0
    gap_min_share: float = 0.1


DEFAULT = Thresholds()


def _sid(n: Node) -> str | None:
    return f"spn_{n.span_id}" if n.span_id else None


def _ms(ns: float) -> float:
    return round(ns / _MS, 3)


def _fingerprint(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=6).hexdigest()


def _problem(ptype: str, spans: list[Node], parent: Node | None, cause: str, cost_ns: float,
             what: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": ptype,
        "what": what[:300],
        "cause": cause,
        "time_ms": _ms(cost_ns),
        "count": len(spans),
        "span_ids": [f"spn_{s.span_id}" for s in spans if s.span_id],
        "parent": _sid(parent) if parent is not None else None,
        "parent_name": parent.name if parent is not None else None,
        "fingerprint": _fingerprint(ptype, what, parent.name if parent is not None else ""),
        **extra,
    }


def _sequential_runs(spans: list[Node]) -> list[list[Node]]:
    """Split spans (sorted by start) into runs where each starts after the previous ended."""
    runs: list[list[Node]] = []
    for s in spans:
        if runs and s.start >= runs[-1][-1].end:
            runs[-1].append(s)
        else:
            runs.append([s])
    return runs


_CONNECT_OPS = {"connect", "connection", "pool.connect", "open"}


def comparable_query(n: Node) -> bool:
    """Whether a DB span carries a whole query that can be compared with another.

    A statement cut short by the SDK may differ in the part that was cut; and it must be
    a query at all (``is_query``).
    """
    return is_query(n) and not n.desc.raw.rstrip().endswith(("...", "\u2026"))


def is_query(n: Node) -> bool:
    """Whether a DB span is a query sent to the database (whole or cut short).

    A connection set-up or transaction-control span is no query; a Mongo-family wrapper
    span (an operation name with no query document) says nothing about what was asked.
    """
    d = n.desc
    if d.category != "db":
        return False
    raw = d.raw.rstrip()
    if not raw or (not db_text(n.attrs) and str(n.attrs.get("sentry.op") or "").lower().startswith("db.connection")):
        return False
    op = str(n.attrs.get("db.operation.name") or n.attrs.get("db.operation") or "").lower()
    sop = str(n.attrs.get("sentry.op") or "").lower()
    if op in _CONNECT_OPS or sop.startswith("db.connection"):
        return False
    word = raw.lower()
    if word in _CONNECT_OPS or (" " not in word and word.endswith((".connect", "_connect"))):
        return False  # a connection span named by its description (Django's "connect", "pg-pool.connect")
    if sql_verb(d.template) in _TX_CONTROL:
        return False
    system = str(n.attrs.get("db.system.name") or n.attrs.get("db.system") or "").lower()
    return "mongo" not in system or "{" in raw


def _n1_runs(kids: list[Node]) -> list[tuple[list[Node], Node | None]]:
    """Executions of one thing among consecutive siblings (by start) of one kind, each group
    with the sibling just before its first member.

    A stretch is a run of siblings of one category (DB queries, or HTTP calls); within it
    each statement (or endpoint) is grouped, so interleaved statements (``price``, ``tax``,
    ``price``…) are each found. A sibling of any other kind (a cache command, a resolver or
    other internal span) ends the stretch: a query interleaved with other work is a
    ``repeated_sequence``, as Sentry's N+1 detector stops at a non-DB span. A DB span that
    carries no comparable query (a connection, an ORM wrapper such as Mongoose's, a
    statement cut short) neither joins nor ends a stretch.
    """
    out: list[tuple[list[Node], Node | None]] = []
    groups: dict[str, tuple[list[Node], Node | None]] = {}
    cat_now: str | None = None
    prev: Node | None = None
    cut: Node | None = None  # a statement cut short since ``prev``: then it is the one just before
    for c in kids:
        cat = c.desc.category
        if cat == "db" and not comparable_query(c):
            if is_query(c):
                cut = c
            continue
        if cat != cat_now:
            out.extend(groups.values())
            groups, cat_now = {}, cat
        if cat in ("db", "http_client"):
            g = groups.get(c.desc.template)
            if g is None:
                groups[c.desc.template] = ([c], cut or prev)
            else:
                g[0].append(c)
        prev, cut = c, None
    out.extend(groups.values())
    return out


def _n_plus_one(parent: Node, kids: list[Node], t: Thresholds, out: list[dict[str, Any]],
                claimed: set[int], device: bool = False) -> None:
    for run, before in _n1_runs([c for c in kids if id(c) not in claimed]):
        cat, tmpl = run[0].desc.category, run[0].desc.template
        if cat == "db":
            min_n, min_ms, any_n = t.n1_db_min_count, t.n1_db_min_total_ms, t.n1_db_any_time_count
        else:
            min_n, min_ms, any_n = t.n1_http_min_count, t.n1_http_min_total_ms, t.n1_http_any_time_count
            if device and len(_sequential_runs(run)) > 1:
                min_n = t.n1_http_device_concurrent_count  # a page fetching in parallel (Sentry: 10)
        total = sum(s.duration_ns for s in run)
        if cat == "db" and len(run) >= any_n and total < min_ms * _MS and \
                sorted(s.duration_ns for s in run)[len(run) // 2] < t.n1_db_any_time_min_each_ms * _MS:
            continue  # answered without a round trip (an ORM's query cache): no cost, and none to come
        if not (len(run) >= any_n or (len(run) >= min_n and total >= min_ms * _MS)):
            continue
        source = before if before is not None and before.desc.category == "db" and before.desc.template != tmpl \
            else None
        if cat == "db" and before is not None and before.desc.category == "cache":
            continue  # the list came from a cache read, not a query (Sentry: no N+1 without a DB source)
        if cat == "db" and before is not None and before.desc.category == "db" and not comparable_query(before):
            continue  # the list query was cut short by the SDK: as Sentry, too unsure to call it an N+1
        if run[0].desc.exact_known and len({s.desc.raw for s in run}) == 1 and source is None:
            continue  # the very same call each time, after no list query: a repeated_call, not a loop over items
        claimed.update(id(s) for s in run)
        concurrent = len(_sequential_runs(run)) > 1
        how = "concurrent" if concurrent else "sequential"
        if cat == "db":
            out.append(_problem(
                "n_plus_one_db", run, parent,
                f"{len(run)} {how} executions of one statement under {parent.name!r}: a query per item; "
                "fetch them in one query (IN list or JOIN) or eager-load",
                total, tmpl, concurrent=concurrent, source_span_id=_sid(source) if source else None,
                source_statement=source.desc.template[:300] if source else None))
        else:
            out.append(_problem(
                "n_plus_one_http", run, parent,
                f"{len(run)} {how} calls to one endpoint under {parent.name!r}: a request per item; "
                "use a batch endpoint",
                total, tmpl, concurrent=concurrent))


def _sequences(trace: Trace, t: Thresholds, out: list[dict[str, Any]], claimed: set[int]) -> None:
    """``repeated_sequence``: a group of spans repeated back to back, with DB queries in it."""
    spans = [n for n in trace.walk() if not n.virtual and n.parent is not None]
    if len(spans) < 2 * t.seq_min_repeats:
        return
    tokens = [(n.desc.category, n.desc.template if n.desc.category != "db" or comparable_query(n) else "\x00" + n.span_id)
              for n in spans]
    i, n_tok = 0, len(tokens)
    while i < n_tok:
        found = None
        for period in range(2, t.seq_max_len + 1):
            j = i
            while j + period < n_tok and tokens[j] == tokens[j + period]:
                j += 1
            reps = (j - i + period) // period
            if reps >= t.seq_min_repeats:
                found = (period, reps)
                break
        if found is None:
            i += 1
            continue
        period, reps = found
        block = spans[i:i + period * reps]
        i += period * reps
        if len({tokens[k] for k in range(i - period * reps, i - period * (reps - 1))}) < 2:
            continue  # one span repeated: an n_plus_one, not a sequence
        if any(id(s) in claimed for s in block):
            continue
        db = [s for s in block if s.desc.category == "db" and comparable_query(s)]
        if not db or len(db) == len(block):
            continue  # no query, or only queries: each statement is then an n_plus_one_db of its own
        db_ns = sum(s.duration_ns for s in db)
        all_ns = sum(s.duration_ns for s in block)
        if db_ns < t.seq_min_db_ms * _MS or db_ns < t.seq_min_db_share * all_ns:
            continue
        claimed.update(id(s) for s in block)
        pattern = [s.desc.template for s in block[:period]]
        parent = block[0].parent
        out.append(_problem(
            "repeated_sequence", block, parent if parent is not None and not parent.virtual else None,
            f"a sequence of {period} spans ({', '.join(repr(p[:60]) for p in pattern[:3])}"
            f"{', …' if period > 3 else ''}) repeated {reps} times, with {len(db)} queries: work per item, "
            "each with its own query; batch the lookups (a DataLoader, an IN list, eager loading)",
            db_ns, " ; ".join(p[:80] for p in pattern[:4]), repeats=reps, period=period))


def _consecutive(parent: Node, kids: list[Node], t: Thresholds, out: list[dict[str, Any]],
                 claimed: set[int], graphql: bool = False) -> None:
    # DB: a run of sibling DB spans, broken by an overlap or by any other sibling between them.
    run: list[Node] = []
    runs: list[list[Node]] = []
    for c in kids if not graphql else ():
        query = c.desc.category == "db" and id(c) not in claimed and comparable_query(c)
        if query and (not run or c.start >= run[-1].end):
            run.append(c)
        else:
            if len(run) > 1:
                runs.append(run)
            run = [c] if query else []
    if len(run) > 1:
        runs.append(run)
    for run in runs:
        par = [s for s in run[1:] if _parallelizable_sql(s) and s.duration_ns >= t.consec_db_min_span_ms * _MS]
        if not par:
            continue
        seq_total = run[-1].end - run[0].start
        rest = sum(s.duration_ns for s in run if s not in par)
        saving = sum(s.duration_ns for s in run) - max(rest, max(s.duration_ns for s in par))
        if saving >= t.consec_db_min_saving_ms * _MS and saving >= t.consec_db_min_ratio * seq_total:
            out.append(_problem(
                "consecutive_db", run, parent,
                f"{len(run)} queries run one after another under {parent.name!r}; {len(par)} of them depend on "
                "nothing before them (SELECT, no WHERE, no parameters) and could run in parallel",
                saving, " ; ".join(s.desc.template[:80] for s in run[:4]),
                parallelizable_span_ids=[f"spn_{s.span_id}" for s in par]))
    # HTTP: sequential sibling calls (other siblings ignored), close together, each slow enough.
    calls = [c for c in kids if c.desc.category == "http_client" and id(c) not in claimed]
    seq: list[Node] = []
    for c in [*calls, None]:
        if c is not None and seq and c.start >= seq[-1].end and c.start - seq[-1].end <= t.consec_http_max_gap_ms * _MS \
                and c.duration_ns >= t.consec_http_min_span_ms * _MS:
            seq.append(c)
            continue
        if len(seq) >= t.consec_http_min_count and (len({s.desc.template for s in seq}) > 1 or all(
                s.desc.template.startswith(("GET ", "HEAD ")) for s in seq)):
            saving = sum(s.duration_ns for s in seq) - max(s.duration_ns for s in seq)
            if saving >= t.consec_http_min_saving_ms * _MS:
                out.append(_problem(
                    "consecutive_http", seq, parent,
                    f"{len(seq)} HTTP calls made one after another under {parent.name!r}; if they do not depend on "
                    "each other, make them concurrently",
                    saving, " ; ".join(s.desc.template[:80] for s in seq[:4])))
        seq = [c] if c is not None and c.duration_ns >= t.consec_http_min_span_ms * _MS else []


def _parallelizable_sql(s: Node) -> bool:
    if not comparable_query(s):
        return False
    raw = s.desc.raw
    upper = raw.upper()
    # A value after FROM (a JOIN's ON, a HAVING; inline or bound), other than a LIMIT or
    # OFFSET, is one the code had before it asked: the query may depend on the one before.
    tmpl = s.desc.template
    at = tmpl.upper().find(" FROM ")
    valued = "?" in _LIMITS.sub("", tmpl[at:] if at >= 0 else "")
    return (sql_verb(raw) == "SELECT" and " WHERE " not in f" {' '.join(upper.split())} " and not valued
            and not any(p in raw for p in ("?", "$1", "%s", "%(")) and ":" not in raw.split("FROM", 1)[-1])


_LIMITS = re.compile(r"\b(?:LIMIT|OFFSET|TOP|FETCH FIRST|FETCH NEXT)\s+\?", re.I)


def detect(trace: Trace, t: Thresholds = DEFAULT) -> list[dict[str, Any]]:
    """Every problem found in ``trace``, costliest first."""
    out: list[dict[str, Any]] = []
    claimed: set[int] = set()
    exact: dict[str, list[Node]] = {}
    gap_floor = max(t.gap_min_ms * _MS, t.gap_min_share * trace.duration_ns)
    _sequences(trace, t, out, claimed)  # a repeated group of spans first: its queries are not a plain N+1
    graphql = _is_graphql(trace.root)
    device = str(trace.root.attrs.get("sentry.sdk.name") or "").startswith(_DEVICE_SDKS)
    for node in trace.walk():
        kids = node.children
        if kids:
            _n_plus_one(node, kids, t, out, claimed, device)
            _consecutive(node, kids, t, out, claimed, graphql)
            if _does_own_work(node):
                _gaps(node, gap_floor, out, edges=node is not trace.root)
        if node.virtual:
            continue
        d = node.desc
        if d.category == "db" and node.duration_ns >= t.slow_db_ms * _MS and is_query(node):
            out.append(_problem("slow_db", [node], node.parent,
                                f"one query took {_ms(node.duration_ns)} ms (threshold {t.slow_db_ms:g} ms): "
                                "check its plan and indexes", node.duration_ns, d.template))
        if d.exact_known and d.category in ("db", "cache", "http_client") and sql_verb(d.raw) not in _TX_CONTROL \
                and not d.raw.rstrip().endswith(("...", "\u2026")):
            exact.setdefault(d.raw, []).append(node)
        _payload(node, t, out)
        if node.is_error and node.parent is not None and not node.parent.virtual and not _ancestor_failed(node):
            out.append(_problem("swallowed_error", [node], node.parent,
                                f"{node.name!r} failed ({node.status_message or _exception(node) or 'status ERROR'}) "
                                f"but {node.parent.name!r} and its callers succeeded: the error was caught and "
                                "not reported", node.duration_ns, node.desc.template,
                                error=(node.status_message or _exception(node))[:300]))
    for raw, group in exact.items():
        total = sum(s.duration_ns for s in group)
        if len(group) >= t.repeated_min_count and total >= t.repeated_min_total_ms * _MS:
            first = min(group, key=lambda s: s.start)
            out.append(_problem("repeated_call", sorted(group, key=lambda s: s.start), None,
                                f"the very same call made {len(group)} times in one request; keep the first "
                                "result (memoize or cache it)", total - first.duration_ns, raw))
    _merge_swallowed(out)
    out.sort(key=lambda p: -p["time_ms"])
    return out


# Sentry span operations of browser and mobile UI work (develop.sentry.dev's span operations).
_DEVICE_OPS = ("pageload", "navigation", "ui.", "app.", "browser", "resource.", "mark", "paint")
_DEVICE_SDKS = ("sentry.javascript.browser", "sentry.javascript.react", "sentry.javascript.vue",
                "sentry.javascript.angular", "sentry.javascript.svelte", "sentry.javascript.ember",
                "sentry.javascript.gatsby", "sentry.javascript.solid", "sentry.javascript.capacitor",
                "sentry.cocoa", "sentry.java.android", "sentry.dart")
def _is_graphql(root: Node) -> bool:
    """A GraphQL request: each resolver's query takes its parent's result, whatever its SQL says."""
    where = " ".join(str(x) for x in (root.name, root.route, root.attrs.get("url.full"), root.attrs.get("http.route"),
                                      root.attrs.get("url.path")) if x)
    return "graphql" in where.lower()


_WAITING_CATEGORIES = frozenset({"db", "cache", "http_client", "rpc", "messaging", "genai", "file"})


def _does_own_work(node: Node) -> bool:
    """A span whose idle time is unexplained: it runs code itself (server, internal,
    consumer) rather than waiting on something remote (client, DB, cache, queue)."""
    if node.virtual or node.kind in ("CLIENT", "PRODUCER"):
        return False
    if str(node.attrs.get("sentry.op") or "").startswith(_DEVICE_OPS) or \
            str(node.attrs.get("sentry.sdk.name") or "").startswith(_DEVICE_SDKS):
        return False  # a browser or app screen: idle time is the device rendering, parsing, waiting for the user
    if node.kind == "CONSUMER":
        return True  # processing a message it received: its own work
    return node.desc.category not in _WAITING_CATEGORIES


def _ancestor_failed(node: Node) -> bool:
    p = node.parent
    while p is not None and not p.virtual:
        if p.is_error:
            return True
        p = p.parent
    return False


def _exception(node: Node) -> str:
    for e in node.events:
        if e.get("name") == "exception":
            a = e.get("attributes") or {}
            return f"{a.get('exception.type', '')}: {a.get('exception.message', '')}".strip(": ")
    return ""


def _merge_swallowed(out: list[dict[str, Any]]) -> None:
    """One swallowed_error problem per parent, listing every failed child."""
    merged: dict[str | None, dict[str, Any]] = {}
    keep: list[dict[str, Any]] = []
    for p in out:
        if p["type"] != "swallowed_error":
            keep.append(p)
            continue
        m = merged.get(p["parent"])
        if m is None:
            merged[p["parent"]] = p
            keep.append(p)
        else:
            m["span_ids"] += p["span_ids"]
            m["count"] += 1
            m["time_ms"] = round(m["time_ms"] + p["time_ms"], 3)
            m["cause"] = (f"{m['count']} failed calls under {m['parent_name']!r}, which succeeded: the errors were "
                          "caught and not reported")
    out[:] = keep


_SIZE_SET = frozenset(_SIZE_KEYS) | {"db.response.returned_rows"}


def _payload(node: Node, t: Thresholds, out: list[dict[str, Any]]) -> None:
    a = node.attrs
    if _SIZE_SET.isdisjoint(a):
        return
    if str(a.get("sentry.op") or "").startswith("resource."):
        return  # a browser loading a script, image or stylesheet: an asset, not an API payload
    for key in (() if _is_download(node) else _SIZE_KEYS):
        v = a.get(key)
        if isinstance(v, int | float) and v >= t.large_payload_bytes:
            out.append(_problem("large_payload", [node], node.parent,
                                f"{key} = {int(v):,} bytes (threshold {t.large_payload_bytes:,}): paginate, "
                                "compress or fetch only the fields used", node.duration_ns, node.desc.template,
                                bytes=int(v)))
            return
    rows = a.get("db.response.returned_rows")
    if isinstance(rows, int | float) and rows >= t.large_rows:
        out.append(_problem("large_payload", [node], node.parent,
                            f"the query returned {int(rows):,} rows (threshold {t.large_rows:,}): paginate or "
                            "aggregate in the database", node.duration_ns, node.desc.template, rows=int(rows)))


_FILE_EXT = re.compile(r"\.([A-Za-z0-9]{1,8})/?$")
_DOWNLOAD_TYPES = ("application/octet-stream", "application/pdf", "application/zip", "image/", "video/", "audio/")


def _is_download(node: Node) -> bool:
    """An HTTP call fetching a file (``/app.js``, ``/report.pdf``, Next.js's static and data
    chunks, a download content type), whose size is the file's, as Sentry's large-payload
    detector excludes; ``.json`` is an API's answer."""
    if node.desc.category != "http_client":
        return False
    url = str(node.attrs.get("url.full") or node.attrs.get("http.url") or node.attrs.get("url.path") or "")
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    if "/_next/static/" in path or "/_next/data/" in path:
        return True
    m = _FILE_EXT.search(path)
    if m and m.group(1).lower() != "json":
        return True
    ctype = node.attrs.get("http.response.header.content-type")
    ctype = str(ctype[0] if isinstance(ctype, list) and ctype else ctype or "").lower()
    return ctype.startswith(_DOWNLOAD_TYPES)


def _gaps(node: Node, floor: float, out: list[dict[str, Any]], edges: bool = True) -> None:
    """Idle stretches inside ``node``; with ``edges`` false, only those between two children.

    The root's start and end are the framework's and the SDK's, not the handler's: the
    request arriving before routing and middleware (a development server reloading code),
    the response going out, a Sentry transaction's idle wait for more spans (1 s by default
    in browser SDKs), a framework's teardown.
    """
    cursor, prev = node.cstart, None
    spans = sorted((c for c in node.children if c.cend > c.cstart), key=lambda c: c.cstart)
    for c in [*spans, None]:
        if c is None and not edges:
            break
        start = c.cstart if c is not None else node.cend
        if start - cursor >= floor and start > cursor and (edges or prev is not None):
            between = [x for x in (prev, c) if x is not None]
            where = (f"between {prev.name!r} and {c.name!r}" if prev and c else
                     f"after {prev.name!r}" if prev else f"before {c.name!r}" if c else "")
            out.append(_problem("gap", [node] if node.span_id else between, node,
                                f"{_ms(start - cursor)} ms inside {node.name!r} {where} with no span: uninstrumented "
                                "work (CPU, a lock, a sleep, an uninstrumented library)", start - cursor,
                                f"{node.name} {where}", offset_ms=_ms(cursor - node.cstart),
                                neighbour_span_ids=[f"spn_{x.span_id}" for x in between if x.span_id]))
        if c is not None and c.cend > cursor:
            cursor, prev = c.cend, c
