"""Log files to records: push bytes in, get batches of LogRecord/Event out.

``LogStream`` is push-based so the same parser serves a local file, stdin, and a file a CLI
streams to a running server (``POST /api/ingest``). Memory is bounded: lines are parsed as
they come and handed out in batches of ``batch_size`` records; only a multi-line record
(capped) and a Kubernetes JSON document are held whole.

What it recognizes, from a sample of the first lines and then line by line:
- JSON lines (common keys for time, level, message, service, trace/span IDs; Docker's
  ``{"log": ..}`` wrapper) and logfmt; the message becomes the body, the other keys
  attributes;
- plain text with a header (syslog, klog, log4j, Python logging, nginx/Apache, ISO or epoch
  prefixes... via ``runbrief.ingest.formats``): the header's time, level, host, process
  and logger become fields, the rest is the body;
- ``kubectl logs`` output, with ``--timestamps`` and/or ``--prefix`` (``[pod/name/container]``,
  which also names the pod's workload), and the CRI log format of ``/var/log/pods``;
- multi-line records: in a file whose lines have headers, a line without one continues the
  record before it (stack traces); elsewhere indented lines and traceback markers do;
- ``kubectl get events -o json`` documents and ``--watch -o json`` streams (→ Event records);
  any other Kubernetes JSON is refused with a message naming what it is.
Anything else is still stored, as plain text stamped with the ingest time (or the time of
the last timestamped record before it, which keeps a file's order). A time the store cannot
hold (``9999-12-31``, before 1990 or over a year ahead) is counted in ``implausible_times``
and replaced the same way; a line that still breaks a parser is skipped, counted in
``bad_lines`` and named in ``errors`` — one line never ends the file.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from runbrief.errors import IngestError
from runbrief.ingest import formats, kube
from runbrief.ingest._decode import LineDecoder, json_depth
from runbrief.ingest._k8s_owners import naming_owner
from runbrief.ingest._structured import Fields, from_mapping, is_k8s_event, parse_logfmt
from runbrief.ingest._times import parse_iso
from runbrief.ingest.pipeline import Batch
from runbrief.records import Event, LogRecord, Resource, severity_number_for

__all__ = ["LogStream", "IngestStats", "FORMATS", "BATCH_SIZE"]

FORMATS = ("auto", "json", "logfmt", "text", "k8s-events", "sentry")
BATCH_SIZE = 20_000
SNIFF_LINES = 200
SNIFF_BYTES = 512 * 1024
MAX_RECORD_LINES = 1000
MAX_RECORD_CHARS = 256 * 1024
MAX_JSON_DOC_CHARS = 256 * 1024 * 1024
MAX_JSON_DEPTH = 64  # a JSON line nested deeper is stored as text (orjson writes at most 255 levels)
MAX_ERRORS = 20  # reasons kept in the summary; bad_lines counts them all
_YEAR_NS = 365 * 86400 * 10**9
_YEAR_1971_NS = _YEAR_NS
_YEAR_1990_NS = 631_152_000 * 10**9
_DAY_NS = 86400 * 10**9

_KUBECTL_TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) ")
_CRI = re.compile(r"(\d{4}-\d\d-\d\dT\S+) (stdout|stderr) ([PF]) ?")
_KPREFIX = re.compile(r"\[pod/([^/\]\s]+)/([^\]\s]+)\] ")
_CONT_MARKERS = ("Traceback (most recent call last)", "Caused by:", "During handling of the above exception",
                 "The above exception was the direct cause", "goroutine ", "... ", "Exception in thread ")
# A line that starts like a record of its own (a date, a clock, an epoch, a syslog month or
# priority, optionally in a bracket): never glued to the record before it, even when its
# header did not parse (``13:36:42.585 [main] ...`` has a clock but no date to convert).
_NEW_RECORD = re.compile(
    r"""(?x)[\[(]?(?:
        \d{4}[-/.]?\d{1,2}[-/.]?\d{1,2}[T _:-]+\d{1,2}[:.]\d{1,2}
      | \d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b
      | \d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}[ T:,]
      | \d{1,2}:\d{1,2}:\d{1,2}\b
      | 1\d{9}(?:\.\d+)?\b | 1\d{12}\b
      | (?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\ )?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\ +\d{1,2}\b
          [ ,]+(?:\d{4}\ )?\d{1,2}:\d\d
      | \d{1,2}[ -](?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*[ -]\d{2,4}[ :]+\d{1,2}:\d\d
      | <\d{1,3}>
    )"""
)
# A Go stack frame's function line under "goroutine N [running]:" (its file line is indented):
# ``main.main()``, ``net/http.(*conn).serve(0xc000128000)``, ``panic({0x4a5b60, 0xc0000140a0})``,
# ``created by net/http.(*Server).Serve in goroutine 1``.
_GO_FRAME = re.compile(
    r"(?:created by [\w./\-]+(?:\.\(\*?[\w.\-\[\]]+\))?\.[\w.\-\[\]]+|"
    r"(?:[\w./\-]+(?:\.\(\*?[\w.\-\[\],]+\))?\.)?[\w\-\[\],.]+\(.*\)(?: \+0x[0-9a-f]+)?$)"
)
_EXC_LINE = re.compile(r"(?:[A-Za-z_][\w$]*\.)*[A-Z][\w$]*(?:Error|Exception|Exit|Interrupt|Failure)\b(?::|$)")


@dataclass
class IngestStats:
    """What one input gave: counts the CLI and the API report."""

    name: str
    format: str = ""
    service: str = ""
    bytes: int = 0
    lines: int = 0
    logs: int = 0
    events: int = 0
    multiline_records: int = 0
    continuation_lines: int = 0  # lines glued to the record before them
    blank_lines: int = 0
    invalid_utf8_lines: int = 0
    split_lines: int = 0
    nul_lines: int = 0
    skipped_objects: int = 0
    implausible_times: int = 0
    bad_lines: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _kind_of(sample: list[str], rx: re.Pattern[str]) -> bool:
    hits = sum(1 for s in sample if rx.match(s))
    return bool(sample) and hits >= 0.8 * len(sample)


class LogStream:
    """Parse one input incrementally: ``feed(bytes) -> [Batch]`` then ``close() -> [Batch]``."""

    def __init__(
        self,
        name: str = "stdin",
        *,
        service: str | None = None,
        fmt: str = "auto",
        batch_size: int = BATCH_SIZE,
        ref_ns: int | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise IngestError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        self.name = name
        self.fmt = fmt
        self.batch_size = batch_size
        self.ref_ns = ref_ns or time.time_ns()  # year for year-less timestamps (syslog)
        self.service_override = service or None
        default_service = service or _service_from_name(name)
        self.stats = IngestStats(name=name, service=default_service)
        self._decoder = LineDecoder()
        self._resources: dict[tuple[str, ...], Resource] = {}
        self._default_res = self._resource(default_service)
        self._file_attr = {"log.file.name": name} if name != "stdin" else {}
        self._sniff: list[str] | None = []
        self._sniff_bytes = 0
        self._mode = ""  # json | json-doc | text
        self._prefix = ""  # kubectl-ts | cri | ""
        self._kprefix = False
        self._logfmt = fmt == "logfmt"
        self._text_fmt = ""
        self._header_mode = False
        self._logs: list[LogRecord] = []
        self._events: list[Event] = []
        self._pending: LogRecord | None = None
        self._extra: list[str] = []
        self._extra_chars = 0
        self._in_traceback = False
        self._in_goroutine = False
        self._last_ts = 0
        self._cri_partial = ""
        self._doc: list[str] = []
        self._doc_chars = 0
        self._docs_seen = 0
        self._year_off: dict[int, int] = {}
        self._now = time.time_ns()

    # ---------------------------------------------------------------- public
    def feed(self, data: bytes) -> list[Batch]:
        self._now = time.time_ns()
        for line in self._decoder.feed(data):
            self._take(line)
        return self._ready(False)

    def close(self) -> list[Batch]:
        for line in self._decoder.close():
            self._take(line)
        if self._sniff is not None:
            self._decide()
        if self._cri_partial:
            rest, self._cri_partial = self._cri_partial, ""
            self._parse_line(rest, rest, self._last_ts, self._default_res)
        if self._mode == "json-doc":
            self._finish_docs()
        self._flush_pending()
        d = self._decoder
        self.stats.bytes = d.bytes
        self.stats.invalid_utf8_lines = d.invalid_utf8_lines
        self.stats.split_lines = d.split_lines
        self.stats.nul_lines = d.nul_lines
        return self._ready(True)

    # ---------------------------------------------------------------- plumbing
    def _ready(self, final: bool) -> list[Batch]:
        out = []
        while len(self._logs) + len(self._events) >= self.batch_size or (final and (self._logs or self._events)):
            logs, self._logs = self._logs[: self.batch_size], self._logs[self.batch_size :]
            room = self.batch_size - len(logs)
            events, self._events = self._events[:room], self._events[room:]
            self.stats.logs += len(logs)
            self.stats.events += len(events)
            out.append(Batch(logs=logs, events=events))
        self.stats.bytes = self._decoder.bytes
        return out

    def _resource(self, service: str, *extra: tuple[str, str]) -> Resource:
        key = (service, *(f"{k}={v}" for k, v in extra))
        r = self._resources.get(key)
        if r is None:
            attrs = {"service.name": service}
            attrs.update(dict(extra))
            r = self._resources[key] = Resource(attrs)
        return r

    def _take(self, line: str) -> None:
        if self._sniff is not None:
            self._sniff.append(line)
            self._sniff_bytes += len(line)
            if len(self._sniff) >= SNIFF_LINES or self._sniff_bytes >= SNIFF_BYTES:
                self._decide()
            return
        self._line(line)

    # ---------------------------------------------------------------- format detection
    def _decide(self) -> None:
        sample, self._sniff = self._sniff or [], None
        nonblank = [s for s in sample if s.strip()]
        first = nonblank[0].lstrip() if nonblank else ""
        looks_json = first[:1] == "{" or first.rstrip() == "[" or first.startswith(("[{", "[]", '["'))
        if self.fmt == "k8s-events" or (self.fmt in ("auto", "json") and looks_json):
            try:
                obj = orjson.loads(first)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict) and self.fmt != "k8s-events":
                self._mode = "json"
            else:
                self._mode = "json-doc"
        else:
            self._mode = "text"
            body = nonblank
            if _kind_of(nonblank, _CRI):
                self._prefix = "cri"
                body = [_CRI.sub("", s, count=1) for s in nonblank]
            elif _kind_of(nonblank, _KUBECTL_TS):
                self._prefix = "kubectl-ts"
                body = [_KUBECTL_TS.sub("", s, count=1) for s in nonblank]
            if _kind_of(body, _KPREFIX):
                self._kprefix = True
                body = [_KPREFIX.sub("", s, count=1) for s in body]
            if self.fmt == "auto" and body:
                hits = sum(1 for s in body if parse_logfmt(s) is not None)
                self._logfmt = self._logfmt or hits >= 0.5 * len(body)
            texty = [s for s in body if not s.startswith("{") and not (self._logfmt and "=" in s)]
            if texty:
                self._text_fmt = formats.detect_format(texty)
                with_header = sum(1 for s in texty if _has_header(formats.split_header(s, self._text_fmt)))
                # stack-trace lines say nothing about whether records start with a header
                cont = sum(1 for s in texty if s[:1] in " \t" or s.startswith(_CONT_MARKERS) or _EXC_LINE.match(s))
                self._header_mode = with_header > 0 and with_header >= 0.5 * max(1, len(texty) - cont)
        self.stats.format = self._describe_format()
        for line in sample:
            self._line(line)

    def _describe_format(self) -> str:
        if self._mode == "json-doc":
            return "json-doc"
        parts = [p for p in (self._prefix, "kubectl-prefix" if self._kprefix else "") if p]
        if self._mode == "json":
            parts.append("json")
        else:
            if self._logfmt:
                parts.append("logfmt")
            parts.append(f"text:{self._text_fmt}" if self._text_fmt else "text")
        return "+".join(parts)

    # ---------------------------------------------------------------- lines
    def _line(self, line: str) -> None:
        try:
            self._one_line(line)
        except IngestError:
            raise  # a refusal of the whole input (e.g. a Kubernetes object that is no event)
        except Exception as exc:  # noqa: BLE001 - one line's failure, counted and named
            self._bad_line(exc)

    def _bad_line(self, exc: Exception) -> None:
        self.stats.bad_lines += 1
        if self.stats.bad_lines <= MAX_ERRORS:
            self.stats.errors.append(f"{self.name}: line {self.stats.lines} skipped "
                                     f"({type(exc).__name__}: {str(exc)[:160]})")

    def _plausible(self, ts: int) -> int:
        """``ts`` when it can be a record's time, else 0 (counted): a misread header or a
        far-future date must not scatter records over centuries nor overflow a column."""
        if ts and not (_YEAR_1990_NS < ts < self._now + _YEAR_NS):
            self.stats.implausible_times += 1
            return 0
        return ts

    def _one_line(self, line: str) -> None:
        if self._mode == "json-doc":
            self._doc_line(line)
            return
        self.stats.lines += 1
        if not line or line.isspace():
            self.stats.blank_lines += 1
            return
        prefix_ts = 0
        res = self._default_res
        full = line
        if self._prefix:
            m = (_CRI if self._prefix == "cri" else _KUBECTL_TS).match(line)
            if m:
                prefix_ts = self._plausible(parse_iso(m.group(1)))
                rest = line[m.end() :]
                if self._prefix == "cri":
                    if m.group(3) == "P":  # a partial line: the runtime split a long write
                        self._cri_partial += rest
                        return
                    if self._cri_partial:
                        rest, self._cri_partial = self._cri_partial + rest, ""
                line = rest
        if self._kprefix:
            m = _KPREFIX.match(line)
            if m:
                res = self._pod_resource(m.group(1), m.group(2))
                line = line[m.end() :]
        self._parse_line(line, full, prefix_ts, res)

    def _pod_resource(self, pod: str, container: str) -> Resource:
        chain = [("Pod", pod)]
        while (nxt := naming_owner(*chain[-1])) is not None and len(chain) < 4:
            chain.append(nxt)
            if not nxt[0]:
                break
        workload_kind, workload = chain[-1] if len(chain) > 1 else ("", pod)
        extra = [("k8s.pod.name", pod), ("k8s.container.name", container)]
        key = {"Deployment": "k8s.deployment.name", "StatefulSet": "k8s.statefulset.name",
               "ReplicaSet": "k8s.replicaset.name"}.get(workload_kind)
        if key:
            extra.append((key, workload))
        return self._resource(self.service_override or workload, *extra)

    def _parse_line(self, line: str, full: str, prefix_ts: int, res: Resource) -> None:
        c = line[:1]
        if c == "{" and self.fmt != "text":
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict) and json_depth(obj, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
                obj = None  # kept as text: no column holds attributes nested this deep
            if isinstance(obj, dict):
                if kube.is_k8s_object(obj):
                    self._k8s_doc(obj)
                    return
                self._structured(from_mapping(obj, line), prefix_ts, res)
                return
        if self._logfmt and "=" in line:
            f = parse_logfmt(line)
            if f is not None:
                self._structured(f, prefix_ts, res)
                return
        h = formats.split_header(line, self._text_fmt)
        has = _has_header(h)
        if prefix_ts and not has and self._prefix == "kubectl-ts" and full is not line:
            h2 = formats.split_header(full, self._text_fmt)
            if _has_header(h2):
                h, has = h2, True
        if not has and self._pending is not None and self._glues(line):
            self._continue(line)
            return
        ts = h.ts_ns or 0
        if ts and ts < _YEAR_1971_NS:
            ts = self._fix_year(ts)
        ts = self._plausible(ts)
        attrs = dict(self._file_attr)
        if h.host:
            attrs["host"] = h.host
        if h.process:
            attrs["process"] = h.process
        if h.logger:
            attrs["logger"] = h.logger
        self._start(LogRecord(
            ts_ns=ts or prefix_ts or self._last_ts or self._now, body=h.message if has else line,
            resource=res, observed_ns=self._now, severity_number=severity_number_for(h.level) if h.level else 0,
            severity_text=h.level, attributes=attrs, source="file",
        ), ts or prefix_ts)

    def _structured(self, f: Fields, prefix_ts: int, res: Resource) -> None:
        if f.service and not self.service_override:
            res = self._resource(f.service, *((k, v) for k, v in res.attributes.items() if k != "service.name"))
        attrs = f.attributes
        if self._file_attr:
            attrs.update(self._file_attr)
        f.ts_ns = self._plausible(f.ts_ns)
        self._start(LogRecord(
            ts_ns=f.ts_ns or prefix_ts or self._last_ts or self._now, body=f.body, resource=res,
            observed_ns=self._now, severity_number=f.severity_number, severity_text=f.severity_text,
            attributes=attrs, trace_id=f.trace_id, span_id=f.span_id, source="file",
        ), f.ts_ns or prefix_ts)

    def _glues(self, line: str) -> bool:
        """Does a line without a parsed header continue the record before it? A stack-frame
        shape always does; in a file of headed records so does any other line, unless it
        starts like a record of its own (a header of a shape the rules do not name)."""
        if self._continues(line):
            return True
        return self._header_mode and _NEW_RECORD.match(line) is None

    def _continues(self, line: str) -> bool:
        if line[0] in " \t" or line.startswith(_CONT_MARKERS):
            return True
        if self._in_goroutine and _GO_FRAME.match(line):
            return True
        # "java.lang.IllegalStateException: ..." right under an error line starts its stack trace
        pending = self._pending
        return (self._in_traceback or (pending is not None and pending.severity_number >= 13)) and (
            _EXC_LINE.match(line) is not None)

    def _fix_year(self, ts: int) -> int:
        """Year-less headers (syslog) parse as 1970: move them to the input's year."""
        day = ts // _DAY_NS
        off = self._year_off.get(day)
        if off is None:
            base = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)
            ref = datetime.fromtimestamp(self.ref_ns / 1e9, UTC)
            try:
                cand = base.replace(year=ref.year)
            except ValueError:  # 29 February
                cand = base.replace(year=ref.year, day=28)
            if cand > ref + timedelta(days=2):
                cand = cand.replace(year=ref.year - 1, day=min(cand.day, 28) if cand.month == 2 else cand.day)
            off = self._year_off[day] = int((cand - base).total_seconds()) * 10**9
        return ts + off

    # ---------------------------------------------------------------- records
    def _start(self, rec: LogRecord, own_ts: int) -> None:
        self._flush_pending()
        if own_ts:
            self._last_ts = own_ts
        self._pending = rec
        self._in_traceback = rec.body.startswith("Traceback") or "Traceback (most recent call last)" in rec.body[-60:]
        self._in_goroutine = rec.body.startswith("goroutine ")

    def _continue(self, line: str) -> None:
        if len(self._extra) >= MAX_RECORD_LINES or self._extra_chars + len(line) > MAX_RECORD_CHARS:
            self._flush_pending()
            self._start(LogRecord(ts_ns=self._last_ts or self._now, body=line, resource=self._default_res,
                                  observed_ns=self._now, attributes=dict(self._file_attr), source="file"), 0)
            return
        self._extra.append(line)
        self._extra_chars += len(line)
        self.stats.continuation_lines += 1
        if line.startswith("Traceback (most recent call last)"):
            self._in_traceback = True
        elif line.startswith("goroutine "):
            self._in_goroutine = True  # Go frames follow: "main.main()", then its indented file line

    def _flush_pending(self) -> None:
        rec = self._pending
        if rec is None:
            return
        if self._extra:
            rec.body = rec.body + "\n" + "\n".join(self._extra)
            self.stats.multiline_records += 1
            self._extra = []
            self._extra_chars = 0
        self._pending = None
        self._logs.append(rec)

    # ---------------------------------------------------------------- JSON documents
    def _doc_line(self, line: str) -> None:
        self.stats.lines += 1
        if not self._doc and not line.strip():
            return
        self._doc.append(line)
        self._doc_chars += len(line)
        if self._doc_chars > MAX_JSON_DOC_CHARS:
            raise IngestError(f"{self.name}: a JSON document larger than {MAX_JSON_DOC_CHARS >> 20} MiB; "
                              "split it (e.g. `jq -c '.items[]'`) and ingest the JSON lines")
        s = line.rstrip()
        if s in ("}", "]") or (len(self._doc) == 1 and s.endswith(("}", "]"))):
            try:
                obj = orjson.loads("\n".join(self._doc))
            except orjson.JSONDecodeError:
                return  # not the end of the document yet
            self._doc, self._doc_chars = [], 0
            self._document(obj)

    def _finish_docs(self) -> None:
        if not self._doc:
            return
        import json

        text = "\n".join(self._doc)
        self._doc, self._doc_chars = [], 0
        dec = json.JSONDecoder()
        pos = 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                return
            try:
                obj, pos = dec.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                line_no = self.stats.lines - text.count("\n", exc.pos) if exc.pos < len(text) else self.stats.lines
                msg = (f"{self.name}: the JSON document is incomplete or invalid near line {line_no} "
                       f"({exc.msg}); what came before it was kept")
                if not self._docs_seen:
                    raise IngestError(msg) from None
                self.stats.errors.append(msg)
                return
            self._document(obj)

    def _document(self, obj: Any) -> None:
        self._docs_seen += 1
        if kube.is_k8s_object(obj) or self.fmt == "k8s-events":
            self._k8s_doc(obj)
            return
        items = obj if isinstance(obj, list) else [obj]
        for item in items:
            if isinstance(item, dict) and json_depth(item, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
                self.stats.skipped_objects += 1  # no column holds it (orjson writes 255 levels)
            elif isinstance(item, dict):
                self._structured(from_mapping(item, orjson.dumps(item).decode()), 0, self._default_res)
            else:
                self.stats.skipped_objects += 1

    def _k8s_doc(self, obj: Any) -> None:
        strict = self.stats.events == 0 and not self._events and not self._logs and self._pending is None
        events = kube.events_from_document(obj, strict=strict)
        if not events and not (isinstance(obj, dict) and is_k8s_event(obj.get("object") or {})):
            self.stats.skipped_objects += 1
        for ev in events:
            if not ev.ts_ns:
                ev.ts_ns = ev.first_ns = ev.last_ns = self._now
        self._events.extend(events)


def _has_header(h: formats.Header) -> bool:
    return h.ts_ns is not None or bool(h.level)


def _service_from_name(name: str) -> str:
    """A default service name from a file name: ``/var/log/checkout.log.1.gz`` → ``checkout``."""
    if name in ("stdin", "-", ""):
        return "stdin"
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = re.sub(r"(\.(gz|log|txt|json|jsonl|ndjson|out|err|\d+))+$", "", base, flags=re.I)
    base = re.sub(r"[-_.]\d{4}-?\d{2}-?\d{2}.*$", "", base)  # rotated: app-2024-01-01
    return base or "file"
