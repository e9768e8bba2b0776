"""Sentry SDK payloads as runbrief records: transactions → spans, errors and logs → log records.

Why: many agent-built apps already carry a Sentry SDK, and its transaction events hold the
same span tree OpenTelemetry would (a DB query per ``db`` span, an HTTP call per
``http.client`` span). Pointing the SDK's DSN at runbrief
(``http://<key>@127.0.0.1:4318/<project>``) or ingesting saved events gives runbrief's
trace detectors and incidents that data with no other instrumentation.

What is read (develop.sentry.dev: the envelope format, the event and transaction payloads,
span operations, the log item):

- an **envelope**: a header line, then items, each an item-header line and a payload of
  ``length`` bytes (or up to the next newline); ``transaction``, ``event``, ``log`` and
  ``span`` items are read, the rest (sessions, client reports, attachments, profiles)
  counted as skipped;
- a **transaction**: ``contexts.trace`` is the root span (name = ``transaction``), each
  ``spans[]`` entry a child; ``op`` is kept as ``sentry.op`` (the trace detectors type a
  span by it), the description becomes the span's name and, for DB and cache spans, its
  ``db.query.text``; ``data`` keys are kept, mapped to the semantic conventions where
  Sentry's names differ (``url`` → ``url.full``);
- an **error event**: one log record (level → severity), ``exception.type``/``message``
  and the in-app frames as ``exception.stacktrace`` in the platform's own traceback shape,
  so location hints and suspects read them as they read OpenTelemetry exceptions;
- a **log item** (Sentry Logs): one log record per item, typed attributes unwrapped.

The service is the release's package name (``shop@2.0.0`` → ``shop``, version ``2.0.0``),
else a ``service``/``service.name`` tag, else what the caller names (the file's name, the
project). Times are RFC 3339 strings or seconds since the epoch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from runbrief.ingest.logfiles import IngestStats, _service_from_name
from runbrief.ingest.pipeline import Batch
from runbrief.records import LogRecord, Resource, Span

__all__ = ["SentryReader", "parse_envelope", "sniff", "SentryStream", "open_input", "ITEM_TYPES"]

ITEM_TYPES = ("transaction", "event", "log", "span")
_LEVELS = {"fatal": 21, "critical": 21, "error": 17, "warning": 13, "warn": 13, "info": 9, "log": 9,
           "debug": 5, "trace": 1}
_CLIENT_OP = re.compile(r"^(db|cache|http\.client|http$|fetch|xhr|grpc\.client|rpc\.client|queue\.publish|"
                        r"queue\.submit|topic\.)", re.I)
_SERVER_OP = re.compile(r"^(http\.server|websocket\.server|rpc\.server|grpc\.server|function\.(aws|gcp|azure))", re.I)
_CONSUMER_OP = re.compile(r"^(queue\.(process|task)|celery\.task|rq\.task|arq\.task|huey\.task|topic\.process)", re.I)


def _ns(value: Any) -> int:
    """Nanoseconds since the epoch from an RFC 3339 string or seconds (int/float)."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, (int, float)):
        return int(value * 1e9) if 0 < value < 1e11 else 0
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                return _ns(float(value))
            except ValueError:
                return 0
        if dt.tzinfo is None:

            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000
    return 0


def _hexid(value: Any, width: int) -> str:
    s = str(value or "").replace("-", "").lower()
    return s if len(s) == width and all(c in "0123456789abcdef" for c in s) else ""


def _scalar(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return orjson.dumps(v, default=str).decode()[:4096]


def _tags(raw: Any) -> dict[str, Any]:
    """Sentry tags come as an object or a list of [key, value] pairs."""
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    if isinstance(raw, list):
        return {str(p[0]): p[1] for p in raw if isinstance(p, (list, tuple)) and len(p) == 2}
    return {}


@dataclass
class SentryReader:
    """Turns Sentry payloads into a ``Batch``; one bad item is counted and named, never fatal."""

    default_service: str = "unknown_service"
    override: bool = False  # the caller's service wins over what the payload says
    batch: Batch = field(default_factory=Batch)
    bad: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    _resources: dict[tuple[Any, ...], Resource] = field(default_factory=dict)

    # ------------------------------------------------------------ entry points
    def value(self, obj: Any, envelope: dict[str, Any] | None = None) -> None:
        """A JSON value from a file: an event, a list of events, or a log/span item container."""
        if isinstance(obj, list):
            for x in obj:
                self.value(x, envelope)
            return
        if not isinstance(obj, dict):
            self._bad("value", "not a JSON object")
            return
        try:
            kind = _kind(obj)
            if kind == "transaction":
                self.transaction(obj, envelope or {})
            elif kind == "event":
                self.error_event(obj, envelope or {})
            elif kind == "log":
                self.log_items(obj, envelope or {})
            elif kind == "span":
                self.span_items(obj, envelope or {})
            else:
                self.skipped += 1
        except Exception as exc:  # noqa: BLE001 - one payload's failure, counted and named
            self._bad(str(obj.get("event_id") or "item")[:40], exc)

    def envelope(self, body: bytes) -> None:
        """A whole envelope (what an SDK POSTs to ``/api/<project>/envelope/``)."""
        header, items = parse_envelope(body)
        for item_header, payload in items:
            t = str(item_header.get("type") or "")
            if t not in ITEM_TYPES:
                self.skipped += 1
                continue
            try:
                obj = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                self._bad(f"{t} item", f"not JSON ({exc})")
                continue
            if isinstance(obj, dict):
                obj["__item"] = t  # the item header says what the payload is
            self.value(obj, header)

    # ------------------------------------------------------------ payloads
    def transaction(self, ev: dict[str, Any], env: dict[str, Any]) -> None:
        contexts = ev.get("contexts") if isinstance(ev.get("contexts"), dict) else {}
        trace = contexts.get("trace") if isinstance(contexts.get("trace"), dict) else {}
        raw_spans = ev.get("spans") if isinstance(ev.get("spans"), list) else []
        spans = [s for s in raw_spans if isinstance(s, dict)]
        for _ in range(len(raw_spans) - len(spans)):
            self._bad("span", "not a JSON object")
        trace_id = _hexid(trace.get("trace_id"), 32) or _trace_fallback(ev, env, spans)
        # A stored event (Sentry's own fixtures, an export) may lack contexts.trace: the root
        # is then the span the others hang from.
        root_id = _hexid(trace.get("span_id"), 16) or _root_fallback(spans) or _derived_id(ev, 16)
        res = self._resource(ev, env)
        start, end = _ns(ev.get("start_timestamp")), _ns(ev.get("timestamp"))
        if not start:
            # A stored event cut down to its spans (Sentry's fixtures) still says when it ran:
            # from its first span's start to its last span's end.
            starts = [t for t in (_ns(x.get("start_timestamp")) for x in spans) if t]
            start = min(starts, default=0)
            end = end or max((_ns(x.get("timestamp")) for x in spans), default=0)
        if not start:
            raise ValueError("a transaction needs start_timestamp")
        end = max(end, start)
        op = str(trace.get("op") or "")
        attrs: dict[str, Any] = {"sentry.op": op} if op else {}
        attrs.update(_data(trace.get("data")))
        for k, v in _tags(ev.get("tags")).items():
            attrs.setdefault(k, _scalar(v))
        req = ev.get("request") if isinstance(ev.get("request"), dict) else {}
        if req.get("method"):
            attrs.setdefault("http.request.method", str(req["method"]))
        if req.get("url"):
            attrs.setdefault("url.full", str(req["url"]))
        info = ev.get("transaction_info") if isinstance(ev.get("transaction_info"), dict) else {}
        name = str(ev.get("transaction") or op or "transaction")
        if info.get("source") == "route":
            attrs.setdefault("http.route", name.split(" ", 1)[-1] if " " in name else name)
        if trace.get("origin"):
            attrs["sentry.origin"] = str(trace["origin"])
        sdk = ev.get("sdk") if isinstance(ev.get("sdk"), dict) else {}
        if sdk.get("name"):  # which SDK measured it: a browser's idle time is not a server's
            attrs["sentry.sdk.name"] = str(sdk["name"])
        status = str(trace.get("status") or "")
        self.batch.spans.append(Span(
            trace_id, root_id, name, start, end, res, parent_span_id=_hexid(trace.get("parent_span_id"), 16),
            kind=_kind_of_op(op, root=True), status_code=_status(status), status_message=_status_msg(status),
            attributes=attrs, scope="sentry"))
        for s in spans:
            if _hexid(s.get("span_id"), 16) == root_id:
                continue  # the root itself, listed again among the spans
            try:
                self._child(s, trace_id, root_id, res)
            except Exception as exc:  # noqa: BLE001 - one span's failure; the rest of the tree stays
                self._bad(f"span {str((s or {}).get('span_id') if isinstance(s, dict) else s)[:20]}", exc)

    def _child(self, s: Any, trace_id: str, root_id: str, res: Resource) -> None:
        if not isinstance(s, dict):
            raise ValueError("a span is not a JSON object")
        span_id = _hexid(s.get("span_id"), 16)
        if not span_id:
            raise ValueError("a span needs a 16-hex-digit span_id")
        start = _ns(s.get("start_timestamp"))
        if not start:
            raise ValueError("a span needs start_timestamp")
        end = max(start, _ns(s.get("timestamp")))
        op = str(s.get("op") or "")
        desc = s.get("description")
        desc = str(desc) if desc not in (None, "") else ""
        attrs = _span_attrs(op, desc, s.get("data"))
        for k, v in _tags(s.get("tags")).items():
            attrs.setdefault(k, _scalar(v))
        if s.get("origin"):
            attrs["sentry.origin"] = str(s["origin"])
        status = str(s.get("status") or "")
        parent = _hexid(s.get("parent_span_id"), 16)
        if not parent or parent == span_id:
            parent = root_id
        self.batch.spans.append(Span(
            trace_id, span_id, desc or op or "span", start, end, res,
            parent_span_id=parent, kind=_kind_of_op(op),
            status_code=_status(status), status_message=_status_msg(status), attributes=attrs, scope="sentry"))

    def error_event(self, ev: dict[str, Any], env: dict[str, Any]) -> None:
        res = self._resource(ev, env)
        contexts = ev.get("contexts") if isinstance(ev.get("contexts"), dict) else {}
        trace = contexts.get("trace") if isinstance(contexts.get("trace"), dict) else {}
        ts = _ns(ev.get("timestamp")) or _ns(env.get("sent_at"))
        if not ts:
            raise ValueError("an event needs a timestamp")
        level = str(ev.get("level") or "error").lower()
        attrs: dict[str, Any] = {"sentry.event_id": str(ev.get("event_id") or "")}
        body = _message(ev)
        values = ((ev.get("exception") or {}).get("values") if isinstance(ev.get("exception"), dict)
                  else ev.get("exception")) or []
        if isinstance(values, list) and values and isinstance(values[-1], dict):
            exc = values[-1]  # the last value is the one raised (the others are its causes)
            attrs["exception.type"] = str(exc.get("type") or "")
            attrs["exception.message"] = str(exc.get("value") or "")
            st = _stacktrace(values, str(ev.get("platform") or ""))
            if st:
                attrs["exception.stacktrace"] = st
            if not body:
                body = f"{exc.get('type') or 'Error'}: {exc.get('value') or ''}".rstrip(": ")
        if ev.get("logger"):
            attrs["logger.name"] = str(ev["logger"])
        if ev.get("transaction"):
            attrs["sentry.transaction"] = str(ev["transaction"])
        for k, v in _tags(ev.get("tags")).items():
            attrs.setdefault(k, _scalar(v))
        self.batch.logs.append(LogRecord(
            ts, body or "(empty Sentry event)", res, severity_number=_LEVELS.get(level, 17), severity_text=level.upper(),
            attributes={k: v for k, v in attrs.items() if v not in ("", None)},
            trace_id=_hexid(trace.get("trace_id"), 32), span_id=_hexid(trace.get("span_id"), 16),
            scope=str(ev.get("logger") or ""), source="sentry"))

    def log_items(self, obj: dict[str, Any], env: dict[str, Any]) -> None:
        for it in obj.get("items") or []:
            try:
                if not isinstance(it, dict):
                    raise ValueError("a log item is not a JSON object")
                attrs = _typed(it.get("attributes"))
                ts = _ns(it.get("timestamp"))
                if not ts:
                    raise ValueError("a log item needs a timestamp")
                level = str(it.get("level") or attrs.get("sentry.severity_text") or "info").lower()
                sev = attrs.pop("sentry.severity_number", None)
                res = self._resource({"release": attrs.get("sentry.release"), "environment": attrs.get("sentry.environment"),
                                      "server_name": attrs.get("server.address"), "tags": {}}, env)
                self.batch.logs.append(LogRecord(
                    ts, str(it.get("body") or ""), res,
                    severity_number=int(sev) if isinstance(sev, int) and 0 < sev < 25 else _LEVELS.get(level, 9),
                    severity_text=level.upper(), attributes=attrs,
                    trace_id=_hexid(it.get("trace_id"), 32), span_id=_hexid(it.get("span_id"), 16), source="sentry"))
            except Exception as exc:  # noqa: BLE001 - one item's failure
                self._bad("log item", exc)

    def span_items(self, obj: dict[str, Any], env: dict[str, Any]) -> None:
        """Span streaming (``span`` items, v2): each item a span with typed attributes."""
        for it in obj.get("items") or []:
            try:
                if not isinstance(it, dict):
                    raise ValueError("a span item is not a JSON object")
                attrs = _typed(it.get("attributes"))
                res = self._resource({"release": attrs.get("sentry.release"),
                                      "environment": attrs.get("sentry.environment"), "tags": {}}, env)
                trace_id, span_id = _hexid(it.get("trace_id"), 32), _hexid(it.get("span_id"), 16)
                start = _ns(it.get("start_timestamp"))
                if not (trace_id and span_id and start):
                    raise ValueError("a span item needs trace_id, span_id and start_timestamp")
                op = str(attrs.get("sentry.op") or "")
                name = str(it.get("name") or attrs.get("sentry.description") or op or "span")
                merged = {**_span_attrs(op, name, {}), **attrs}
                status = str(it.get("status") or "")
                self.batch.spans.append(Span(
                    trace_id, span_id, name, start, max(start, _ns(it.get("end_timestamp"))), res,
                    parent_span_id=_hexid(it.get("parent_span_id"), 16),
                    kind=_kind_of_op(op, root=bool(it.get("is_segment"))), status_code=_status(status),
                    status_message=_status_msg(status), attributes=merged, scope="sentry"))
            except Exception as exc:  # noqa: BLE001 - one item's failure
                self._bad("span item", exc)

    # ------------------------------------------------------------ helpers
    def _resource(self, ev: dict[str, Any], env: dict[str, Any]) -> Resource:
        trace_hdr = env.get("trace") if isinstance(env.get("trace"), dict) else {}
        release = str(ev.get("release") or trace_hdr.get("release") or "")
        environment = str(ev.get("environment") or trace_hdr.get("environment") or "")
        tags = _tags(ev.get("tags"))
        service, version = "", release
        if "@" in release:
            service, version = release.split("@", 1)
            service = service.rsplit("/", 1)[-1]  # "npm:@scope/shop@1.0" style package names
        service = str(tags.get("service.name") or tags.get("service") or service or "")
        if self.override or not service:
            service = self.default_service
        sdk = ev.get("sdk") if isinstance(ev.get("sdk"), dict) else (env.get("sdk") or {})
        runtime = ((ev.get("contexts") or {}).get("runtime") or {}) if isinstance(ev.get("contexts"), dict) else {}
        attrs = {"service.name": service, "service.version": version,
                 "deployment.environment.name": environment, "host.name": ev.get("server_name"),
                 "telemetry.sdk.name": sdk.get("name") if isinstance(sdk, dict) else None,
                 "telemetry.sdk.version": sdk.get("version") if isinstance(sdk, dict) else None,
                 "process.runtime.name": runtime.get("name") if isinstance(runtime, dict) else None,
                 "process.runtime.version": runtime.get("version") if isinstance(runtime, dict) else None}
        clean = {k: str(v) for k, v in attrs.items() if v not in (None, "")}
        key = tuple(sorted(clean.items()))
        r = self._resources.get(key)
        if r is None:
            r = self._resources[key] = Resource(clean)
        return r

    def _bad(self, where: str, why: str | BaseException) -> None:
        self.bad += 1
        if len(self.errors) < 20:
            text = why if isinstance(why, str) else f"{type(why).__name__}: {why}"
            self.errors.append(f"{where}: {text[:200]}")


def _trace_fallback(ev: dict[str, Any], env: dict[str, Any], spans: list[dict[str, Any]]) -> str:
    for cand in ((ev.get("_dsc") or {}).get("trace_id") if isinstance(ev.get("_dsc"), dict) else None,
                 (env.get("trace") or {}).get("trace_id") if isinstance(env.get("trace"), dict) else None,
                 *(s.get("trace_id") for s in spans[:3])):
        got = _hexid(cand, 32)
        if got:
            return got
    return _derived_id(ev, 32)


def _root_fallback(spans: list[dict[str, Any]]) -> str:
    """The root's span ID when the event does not say (no ``contexts.trace``).

    The transaction's own span is not in ``spans``: the parent no span carries is it (the
    one named most, if several). Else a span with no parent of its own is the root, listed
    among the spans; else the span ID most spans name as parent.
    """
    ids = {_hexid(s.get("span_id"), 16) for s in spans}
    counts: dict[str, int] = {}
    for s in spans:
        p = _hexid(s.get("parent_span_id"), 16)
        if p:
            counts[p] = counts.get(p, 0) + 1
    missing = {p: n for p, n in counts.items() if p not in ids}
    if missing:
        return max(missing, key=lambda k: missing[k])
    for s in spans:
        sid = _hexid(s.get("span_id"), 16)
        if sid and not _hexid(s.get("parent_span_id"), 16):
            return sid
    return max(counts, key=lambda k: counts[k]) if counts else ""


def _derived_id(ev: dict[str, Any], width: int) -> str:
    """A stable ID for an event that carries none of its own (same event, same ID)."""
    import hashlib

    seed = f"{ev.get('event_id')}|{ev.get('start_timestamp')}|{ev.get('transaction')}"
    return hashlib.blake2b(seed.encode(), digest_size=width // 2).hexdigest()


def _kind(obj: dict[str, Any]) -> str:
    marker = obj.get("__item")
    if marker:
        return str(marker)
    t = obj.get("type")
    spans = obj.get("spans")
    if t == "transaction" or (t is None and isinstance(spans, list) and (
            "start_timestamp" in obj or (spans and isinstance(spans[0], dict) and "start_timestamp" in spans[0]))):
        return "transaction"
    if t in ("event", "error", "default") or (t is None and ("exception" in obj or "message" in obj or
                                                            "logentry" in obj) and "event_id" in obj):
        return "event"
    if isinstance(obj.get("items"), list) and obj["items"] and isinstance(obj["items"][0], dict):
        first = obj["items"][0]
        if "body" in first and "level" in first:
            return "log"
        if "span_id" in first and "start_timestamp" in first:
            return "span"
    return ""


def _kind_of_op(op: str, root: bool = False) -> str:
    if _SERVER_OP.match(op) or (root and not op):
        return "SERVER"
    if _CONSUMER_OP.match(op):
        return "CONSUMER"
    if _CLIENT_OP.match(op):
        return "CLIENT"
    return "INTERNAL"


def _status(status: str) -> str:
    """OpenTelemetry's status for a Sentry span status. ``cancelled`` (the caller gave up:
    a page navigated away, a fetch aborted) is no failure: Sentry's own failure rate counts
    every status but ``ok``, ``cancelled`` and ``unknown``."""
    s = status.lower()
    if not s or s in ("unknown", "unset", "cancelled"):
        return "UNSET"
    return "OK" if s == "ok" else "ERROR"


def _status_msg(status: str) -> str:
    return "" if status.lower() in ("", "ok", "unknown", "unset") else status


def _data(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): _scalar(v) for k, v in raw.items() if v is not None}


def _typed(raw: Any) -> dict[str, Any]:
    """Sentry's typed attributes ``{"k": {"value": v, "type": "string"}}`` as plain values."""
    out: dict[str, Any] = {}
    if isinstance(raw, dict):
        for k, v in raw.items():
            out[str(k)] = _scalar(v.get("value") if isinstance(v, dict) and "value" in v else v)
    return out


def _span_attrs(op: str, desc: str, data: Any) -> dict[str, Any]:
    """A child span's attributes: ``sentry.op``, its ``data``, and the semantic-convention names
    the detectors read where Sentry's differ."""
    attrs: dict[str, Any] = {"sentry.op": op} if op else {}
    attrs.update(_data(data))
    low = op.lower()
    if desc and (low == "db" or low.startswith("db.")) and not low.startswith(("db.connection", "db.redis")):
        # a DB span's description is its statement (a cache op's is a key: not a query)
        attrs.setdefault("db.query.text", desc)
    if low.startswith("http.client") or low in ("http", "fetch", "xhr"):
        method, _, url = desc.partition(" ") if " " in desc else ("", "", desc)
        url = str(attrs.pop("url", "") or url)
        query = attrs.get("http.query")
        if url and query and "?" not in url:
            url = f"{url}?{query}"
        if url:
            attrs.setdefault("url.full", url)
        m = attrs.get("http.method") or attrs.get("http.request.method") or method
        if m:
            attrs.setdefault("http.request.method", str(m).upper())
        if "Encoded Body Size" in attrs:  # older browser SDKs' name for the body's size on the wire
            attrs.setdefault("http.response_content_length", attrs["Encoded Body Size"])
        code = attrs.get("http.response.status_code") or attrs.get("status_code")
        if code is not None:
            attrs["http.response.status_code"] = code
    return attrs


def _message(ev: dict[str, Any]) -> str:
    for key in ("logentry", "message"):
        m = ev.get(key)
        if isinstance(m, dict):
            text = m.get("formatted") or m.get("message")
            if text:
                return str(text)
        elif isinstance(m, str) and m:
            return m
    return ""


def _stacktrace(values: list[Any], platform: str) -> str:
    """The exception chain as the platform's own traceback text (frames innermost last)."""
    out: list[str] = []
    for exc in values:
        if not isinstance(exc, dict):
            continue
        frames = ((exc.get("stacktrace") or {}).get("frames") or []) if isinstance(exc.get("stacktrace"), dict) else []
        typ, val = str(exc.get("type") or "Error"), str(exc.get("value") or "")
        if platform in ("javascript", "node"):
            out.append(f"{typ}: {val}")
            for f in reversed(frames):  # JS prints the innermost frame first
                if isinstance(f, dict):
                    where = f.get("abs_path") or f.get("filename") or "?"
                    out.append(f"    at {f.get('function') or '<anonymous>'} ({where}:{f.get('lineno') or 0}:"
                               f"{f.get('colno') or 0})")
        elif platform == "java":
            out.append(f"{exc.get('module') + '.' if exc.get('module') else ''}{typ}: {val}")
            for f in reversed(frames):
                if isinstance(f, dict):
                    out.append(f"\tat {f.get('module') or ''}.{f.get('function') or '?'}"
                               f"({f.get('filename') or '?'}:{f.get('lineno') or 0})")
        else:
            out.append("Traceback (most recent call last):")
            for f in frames:
                if isinstance(f, dict):
                    where = f.get("abs_path") or f.get("filename") or "?"
                    out.append(f'  File "{where}", line {f.get("lineno") or 0}, in {f.get("function") or "?"}')
                    if f.get("context_line"):
                        out.append(f"    {str(f['context_line']).strip()}")
            out.append(f"{typ}: {val}")
    return "\n".join(out)[:16_384]


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """An envelope's header and its items as (item header, payload bytes)."""
    nl = body.find(b"\n")
    head = body if nl < 0 else body[:nl]
    try:
        header = orjson.loads(head) if head.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the envelope's first line is not a JSON header ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError("the envelope's header is not a JSON object")
    items: list[tuple[dict[str, Any], bytes]] = []
    pos = len(body) if nl < 0 else nl + 1
    while pos < len(body):
        nl = body.find(b"\n", pos)
        line = body[pos:] if nl < 0 else body[pos:nl]
        pos = len(body) if nl < 0 else nl + 1
        if not line.strip():
            continue
        try:
            ih = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"an item header is not JSON ({exc})") from None
        if not isinstance(ih, dict):
            raise ValueError("an item header is not a JSON object")
        length = ih.get("length")
        if isinstance(length, int) and not isinstance(length, bool) and length >= 0:
            payload = body[pos:pos + length]
            pos += length
            if body[pos:pos + 1] == b"\n":
                pos += 1
        else:
            nl = body.find(b"\n", pos)
            payload = body[pos:] if nl < 0 else body[pos:nl]
            pos = len(body) if nl < 0 else nl + 1
        items.append((ih, payload))
    return header, items


def sniff(sample: bytes) -> str | None:
    """``"envelope"`` or ``"events"`` when the sample's start is a Sentry shape, else None."""
    text = sample.lstrip()[:65536]
    first, _, rest = text.partition(b"\n")
    try:
        head = orjson.loads(first)
    except orjson.JSONDecodeError:
        head = None
    if isinstance(head, dict):
        if _kind(head) in ("transaction", "event") and ("event_id" in head or "contexts" in head):
            return "events"
        second = rest.split(b"\n", 1)[0]
        if ({"event_id", "sent_at", "dsn"} & set(head)) and second.strip():
            try:
                ih = orjson.loads(second)
            except orjson.JSONDecodeError:
                return None
            if isinstance(ih, dict) and isinstance(ih.get("type"), str):
                return "envelope"
    # A pretty-printed event or a JSON array of them: told by the fields every event has.
    if text[:1] in (b"{", b"[") and _EVENT_MARKS.search(text[:65536]) and b'"event_id"' in text[:65536]:
        return "events"
    return None


_EVENT_MARKS = re.compile(rb'"(?:spans"\s*:\s*\[|start_timestamp"\s*:|exception"\s*:\s*\{\s*"values")')


class SentryStream:
    """A file of Sentry payloads (envelopes, an event per line, a JSON array of events):
    ``feed(bytes) -> [Batch]``, ``close() -> [Batch]``, as file ingest's other streams."""

    def __init__(self, name: str, mode: str, *, service: str | None = None) -> None:
        self.name = name
        self.mode = mode
        default = service or _service_from_name(name)
        self.reader = SentryReader(default_service=default, override=bool(service))
        self.stats = IngestStats(name=name, format=f"sentry:{mode}", service=default)
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Batch]:
        self._buf += data
        self.stats.bytes += len(data)
        if len(self._buf) > 512 * 1024 * 1024:
            self._buf.clear()
            self.reader._bad("file", "over 512 MiB of Sentry payloads in one file; split it")
        return []

    def close(self) -> list[Batch]:
        data = bytes(self._buf)
        self._buf.clear()
        r = self.reader
        if self.mode == "envelope":
            for chunk in _envelopes(data):
                try:
                    r.envelope(chunk)
                except ValueError as exc:
                    r._bad("envelope", exc)
        else:
            self._values(data)
        self.stats.lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        self.stats.logs = len(r.batch.logs)
        self.stats.events = len(r.batch.spans)  # spans, reported beside the log count
        self.stats.bad_lines = r.bad
        self.stats.skipped_objects = r.skipped
        self.stats.errors.extend(f"{self.name}: {e}" for e in r.errors)
        out, r.batch = r.batch, Batch()
        return [out] if len(out) else []

    def _values(self, data: bytes) -> None:
        try:
            self.reader.value(orjson.loads(data))
            return
        except orjson.JSONDecodeError:
            pass
        # One event per line, or pretty-printed events one after another.
        from runbrief.ingest._decode import BadJson, json_documents

        for value in json_documents(data.decode("utf-8", "replace"), resync=True):
            if isinstance(value, BadJson):
                self.reader._bad(f"line {value.line}", f"not JSON ({value.why})")
            else:
                self.reader.value(value)


def _envelopes(data: bytes) -> list[bytes]:
    """A file may hold several envelopes one after the other: split at each header line."""
    out: list[bytes] = []
    start = 0
    pos = 0
    header_seen = False
    while pos < len(data):
        nl = data.find(b"\n", pos)
        line = data[pos:] if nl < 0 else data[pos:nl]
        nxt = len(data) if nl < 0 else nl + 1
        try:
            obj = orjson.loads(line) if line.strip() else None
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and "type" not in obj and ({"event_id", "sent_at", "dsn"} & set(obj)):
            if header_seen:
                out.append(data[start:pos])
            start, header_seen = pos, True
        elif isinstance(obj, dict) and isinstance(obj.get("length"), int):
            nxt = min(len(data), nxt + obj["length"])  # skip the payload: it may look like anything
        pos = nxt
    if header_seen:
        out.append(data[start:])
    return out


class _Sniff:
    """Holds an input's first bytes until a Sentry shape can be told, then hands them on."""

    def __init__(self, name: str, service: str | None, fallback: Any) -> None:
        self.name, self.service, self._fallback = name, service, fallback
        self._held = bytearray()
        self._inner: Any = None

    @property
    def stats(self) -> IngestStats:
        return self._decide().stats

    def _decide(self) -> Any:
        if self._inner is None:
            mode = sniff(bytes(self._held))
            self._inner = SentryStream(self.name, mode, service=self.service) if mode else self._fallback()
        return self._inner

    def _release(self) -> list[Batch]:
        inner = self._decide()
        held, self._held = bytes(self._held), bytearray()
        return inner.feed(held) if held else []

    def feed(self, data: bytes) -> list[Batch]:
        if self._inner is None:
            self._held += data
            # an envelope's header and first item header are two lines: wait for both
            if len(self._held) < 16384 and self._held.count(b"\n") < 2:
                return []
            return self._release()
        return self._inner.feed(data)

    def close(self) -> list[Batch]:
        out = self._release() if self._inner is None else []
        return out + self._inner.close()


def open_input(name: str, *, service: str | None = None, fmt: str = "auto", **kw: Any) -> Any:
    """File ingest's stream for one input: Sentry payloads when the input is one (or
    ``fmt="sentry"``), else the platforms' and plain log streams (``platforms.open_stream``)."""
    from runbrief.ingest.platforms import open_stream

    if fmt == "sentry":
        return _Sniff(name, service, lambda: SentryStream(name, "events", service=service))
    if fmt != "auto":
        return open_stream(name, service=service, fmt=fmt, **kw)
    return _Sniff(name, service, lambda: open_stream(name, service=service, fmt=fmt, **kw))


