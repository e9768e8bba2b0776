"""Structured log lines (JSON objects, logfmt) to the fields of a LogRecord.

Loggers disagree on key names (``msg``/``message``/``@m``, ``level``/``severity``/
``levelname``, ``time``/``ts``/``@timestamp``), on level encodings (words, pino/bunyan
numbers) and on nesting (ECS ``{"log": {"level": ..}}``, Docker's ``{"log": "<line>"}``).
The common spellings are tried in order; whatever is not recognized stays an attribute, so
nothing in the line is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from runbrief.ingest._times import to_ns
from runbrief.records import severity_number_for

__all__ = ["Fields", "from_mapping", "parse_json_line", "parse_logfmt", "is_k8s_event"]

TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "t", "@t", "datetime", "date", "eventTime",
             "asctime", "Timestamp", "TimeGenerated", "timeMillis", "instant")
LEVEL_KEYS = ("level", "lvl", "severity", "log.level", "levelname", "loglevel", "log_level", "@l",
              "severity_text", "SeverityText", "Level", "levelName", "priority")
MSG_KEYS = ("message", "msg", "@m", "log", "text", "event", "Message", "body", "@mt", "MessageTemplate")
SERVICE_KEYS = ("service.name", "service", "service_name", "serviceName", "app", "application")
TRACE_KEYS = ("trace_id", "traceId", "trace.id", "traceid", "otelTraceID", "TraceId", "traceID",
              "logging.googleapis.com/trace", "dd.trace_id")
SPAN_KEYS = ("span_id", "spanId", "span.id", "spanid", "otelSpanID", "SpanId", "spanID",
             "logging.googleapis.com/spanId", "dd.span_id")
# pino / bunyan numeric levels
_NUMERIC_LEVELS = {10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL"}
# syslog priorities 0-7 (journald PRIORITY)
_SYSLOG_LEVELS = ("EMERG", "ALERT", "CRIT", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG")
_HEX = frozenset("0123456789abcdef")


@dataclass(slots=True)
class Fields:
    body: str
    ts_ns: int = 0
    severity_text: str = ""
    severity_number: int = 0
    service: str = ""
    trace_id: str = ""
    span_id: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


def _level(value: Any) -> tuple[str, int]:
    if isinstance(value, bool) or value is None:
        return "", 0
    if isinstance(value, int | float):
        v = int(value)
        if v in _NUMERIC_LEVELS:
            name = _NUMERIC_LEVELS[v]
            return name, severity_number_for(name)
        if 0 <= v <= 7:
            name = _SYSLOG_LEVELS[v]
            return name, severity_number_for(name)
        return str(value), 0
    text = str(value).strip()
    if text.isdigit():
        return _level(int(text))
    return text, severity_number_for(text)


def _hex_id(value: Any, width: int) -> str:
    if value is None:
        return ""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit() and len(value) <= 20):
        # Datadog-style decimal 64-bit IDs
        try:
            return format(int(value), f"0{width}x")[-width:]
        except ValueError:
            return ""
    s = str(value).strip().lower()
    if s.startswith("projects/") and "/traces/" in s:  # Cloud Logging trace resource name
        s = s.rsplit("/", 1)[-1]
    s = s.replace("-", "")
    if len(s) == width and set(s) <= _HEX:
        return s
    return ""


_ALL_KEYS = frozenset(TIME_KEYS + LEVEL_KEYS + MSG_KEYS + SERVICE_KEYS + TRACE_KEYS + SPAN_KEYS + ("trace", "span"))


def _pop_first(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for k in keys:
        if k in obj:
            v = obj[k]
            if v is not None and v != "":
                return k, v
    return None, None


def _pick(present: set[str], obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    """_pop_first, skipped at C speed when none of the keys is in the record."""
    if present.isdisjoint(keys):
        return None, None
    return _pop_first(obj, keys)


def from_mapping(obj: dict[str, Any], raw: str) -> Fields:
    """Map a decoded structured record to LogRecord fields; the rest become attributes."""
    attrs = dict(obj)
    present = _ALL_KEYS.intersection(attrs)
    # ECS-style nesting: {"log": {"level": ..}}, {"service": {"name": ..}}, {"trace": {"id": ..}}
    nested_level = nested_logger = None
    log_v = attrs.get("log")
    if isinstance(log_v, dict):
        nested_level = log_v.get("level")
        nested_logger = log_v.get("logger")
        attrs.pop("log")
    k, v = _pick(present, attrs, MSG_KEYS)
    body: str
    inner: Fields | None = None
    if k is None:
        body = raw
    else:
        attrs.pop(k)
        if isinstance(v, str):
            body = v.rstrip("\n")
            # Docker json-file wraps the container's own line, which may itself be JSON.
            if k == "log" and body.startswith("{"):
                inner = parse_json_line(body)
        else:
            body = orjson.dumps(v).decode()
    if inner is not None:
        inner.attributes.update({a: b for a, b in attrs.items() if a not in TIME_KEYS})
        if not inner.ts_ns:
            _, tv = _pop_first(attrs, TIME_KEYS)
            inner.ts_ns = to_ns(tv)
        return inner
    out = Fields(body=body)
    k, v = _pick(present, attrs, TIME_KEYS)
    if k is not None:
        ts = to_ns(v)
        if ts:
            out.ts_ns = ts
            attrs.pop(k)
    k, v = _pick(present, attrs, LEVEL_KEYS)
    if k is None and nested_level is not None:
        v = nested_level
    if v is not None:
        out.severity_text, out.severity_number = _level(v)
        if k is not None:
            attrs.pop(k)
    if nested_logger is not None:
        attrs.setdefault("logger", nested_logger)
    k, v = _pick(present, attrs, SERVICE_KEYS)
    if k is not None:
        if isinstance(v, dict):
            name = v.get("name")
            if name:
                out.service = str(name)
                attrs.pop(k)
        elif isinstance(v, str | int):
            out.service = str(v)
            attrs.pop(k)
    for keys, width, slot in ((TRACE_KEYS, 32, "trace_id"), (SPAN_KEYS, 16, "span_id")):
        k, v = _pick(present, attrs, keys)
        if k is not None:
            hid = _hex_id(v, width)
            if hid:
                setattr(out, slot, hid)
                attrs.pop(k)
    for key, width, slot in (("trace", 32, "trace_id"), ("span", 16, "span_id")):
        if key not in present:
            continue
        v = attrs.get(key)
        if isinstance(v, dict) and not getattr(out, slot):
            hid = _hex_id(v.get("id"), width)
            if hid:
                setattr(out, slot, hid)
                attrs.pop(key)
    out.attributes = attrs
    return out


def parse_json_line(line: str) -> Fields | None:
    """A JSON-object line to fields, or None when the line is not one JSON object."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    return from_mapping(obj, line)


def is_k8s_event(obj: dict[str, Any]) -> bool:
    """A core/v1 or events.k8s.io/v1 Event object (as kubectl and the API print it)."""
    return obj.get("kind") == "Event" and ("involvedObject" in obj or "regarding" in obj)


# ---------------------------------------------------------------- logfmt
_LOGFMT_FULL = re.compile(r'\s*(?:[^\s="]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)\s+)*[^\s="]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)\s*')
_LOGFMT_PAIR = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_UNESCAPE = re.compile(r"\\(.)")


def parse_logfmt(line: str) -> Fields | None:
    """A line made only of ``key=value`` pairs (at least two) to fields; None otherwise."""
    if "=" not in line or _LOGFMT_FULL.fullmatch(line) is None:
        return None
    pairs = _LOGFMT_PAIR.findall(line)
    if len(pairs) < 2:
        return None
    obj: dict[str, Any] = {}
    for k, v in pairs:
        if v.startswith('"'):
            v = v[1:-1]
            if "\\" in v:
                v = _UNESCAPE.sub(r"\1", v)
        obj[k] = v
    return from_mapping(obj, line)
