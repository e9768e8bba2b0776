"""What every platform reader shares: the output of one payload, resources, inner messages.

A platform wraps the program's own line in its envelope (a syslog frame, a CloudWatch
event, a Vercel drain object). The envelope gives the time, the service and the
instance; the line itself may still be JSON or start with a level word, so
``inner_message`` reads it with the same rules as a log file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from runbrief.ingest import formats
from runbrief.ingest._structured import parse_json_line
from runbrief.ingest._times import to_ns
from runbrief.records import Deploy, LogRecord, Resource, severity_number_for

__all__ = ["Ctx", "Out", "inner_message", "set_level", "epoch_ns", "MAX_ERRORS", "clean", "json_values"]

MAX_ERRORS = 20
_YEAR_NS = 365 * 86400 * 10**9
_YEAR_1990_NS = 631_152_000 * 10**9


@dataclass
class Ctx:
    """Where a payload came from: the service to use when the payload names none."""

    service: str = ""
    now_ns: int = field(default_factory=time.time_ns)
    override: bool = False  # the caller named the service (--service, ?service=): it wins
    extra: dict[str, Any] = field(default_factory=dict)  # attributes every record gets (log.file.name)


@dataclass
class Out:
    """The records read from one payload, and what could not be read (counted, named)."""

    ctx: Ctx
    logs: list[LogRecord] = field(default_factory=list)
    deploys: list[Deploy] = field(default_factory=list)
    bad: int = 0
    errors: list[str] = field(default_factory=list)
    implausible_times: int = 0
    state: dict[str, Any] = field(default_factory=dict)  # carried between records (a commit before its release)
    _resources: dict[tuple[Any, ...], Resource] = field(default_factory=dict)

    def bad_record(self, where: str, why: str | BaseException) -> None:
        """One record that could not be read: counted, the first few named; the rest goes on."""
        self.bad += 1
        if len(self.errors) < MAX_ERRORS:
            text = why if isinstance(why, str) else f"{type(why).__name__}: {why}"
            self.errors.append(f"{where}: {text[:200]}")

    def service(self, named: str | None) -> str:
        if self.ctx.override or not named:
            return self.ctx.service or "unknown_service"
        return str(named)

    def resource(self, service: str, attrs: dict[str, Any]) -> Resource:
        clean_attrs = {k: v for k, v in attrs.items() if v not in (None, "")}
        key = (service, *sorted((k, str(v)) for k, v in clean_attrs.items()))
        r = self._resources.get(key)
        if r is None:
            r = self._resources[key] = Resource({"service.name": service, **clean_attrs})
        return r

    def time(self, ts: int) -> int:
        """``ts`` when plausible, else the ingest time (counted)."""
        if ts and _YEAR_1990_NS < ts < self.ctx.now_ns + _YEAR_NS:
            return ts
        if ts:
            self.implausible_times += 1
        return self.ctx.now_ns

    def log(self, ts_ns: int, body: str, resource: Resource, *, attrs: dict[str, Any] | None = None,
            level: str = "", trace_id: str = "", span_id: str = "", source: str = "") -> LogRecord:
        a = {**self.ctx.extra, **{k: v for k, v in (attrs or {}).items() if v is not None}}
        rec = LogRecord(ts_ns=self.time(ts_ns), body=body, resource=resource, observed_ns=self.ctx.now_ns,
                        attributes=a, trace_id=trace_id, span_id=span_id, source=source or "platform")
        if level:
            set_level(rec, level)
        self.logs.append(rec)
        return rec


def epoch_ns(value: Any) -> int:
    """An epoch time in s, ms, µs or ns to ns, exactly for integers (``to_ns`` goes
    through a float, which moves a millisecond time by up to a microsecond)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        for limit, scale in ((10**11, 10**9), (10**14, 10**6), (10**17, 10**3), (10**20, 1)):
            if value < limit:
                return value * scale
        return 0
    if isinstance(value, str) and value.isdigit():
        return epoch_ns(int(value))
    return to_ns(value)


def set_level(rec: LogRecord, level: str) -> None:
    """Set a record's severity from a level word (any common spelling); unknown words are kept as text."""
    word = formats.level_of(level) or level.strip().upper()
    rec.severity_text = word
    rec.severity_number = severity_number_for(word)


def clean(text: Any) -> str:
    """A message as text, without the trailing newline platforms keep."""
    if text is None:
        return ""
    if not isinstance(text, str):
        import orjson

        return orjson.dumps(text).decode()
    return text.rstrip("\r\n")


def inner_message(text: str) -> tuple[str, str, dict[str, Any], str, str]:
    """The program's own line inside a platform envelope: (body, level, attributes, trace, span).

    A JSON line gives its message, level and keys; a line with a log header gives its
    level (the envelope's time wins)."""
    s = text.strip()
    if s.startswith("{") and s.endswith("}"):
        f = parse_json_line(s)
        if f is not None:
            return f.body, f.severity_text, f.attributes, f.trace_id, f.span_id
    h = formats.split_header(text, ts=False)
    return text, h.level, {}, "", ""


def json_values(body: bytes, out: Out, take: Any) -> None:
    """A drain body that is one JSON document, or NDJSON (one value a line): each value to
    ``take(value, out)``; a line that is not JSON is counted and named, the rest goes on."""
    text = body.strip()
    if not text:
        return
    try:
        take(orjson.loads(text), out)
        return
    except orjson.JSONDecodeError:
        pass
    for n, line in enumerate(text.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            out.bad_record(f"line {n}", f"not JSON ({exc})")
            continue
        take(value, out)
