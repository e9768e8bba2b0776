"""Logs from the platforms agent-built apps run on, in the shapes those platforms send.

One module per platform (``heroku``, ``vercel``, ``aws``, ``cloudflare``, ``railway``,
``supabase``), each reading its platform's envelope into ``LogRecord``/``Deploy`` records
(service from the platform's app/project/function/script name, instance, severity, time,
trace IDs, OTel ``cloud.*``/``faas.*`` attributes). Each module has:

- ``sniff(lines)`` and/or ``sniff_value(obj)``: is a file's sample this platform's shape?
- ``from_line(line, out)`` (text shapes) and/or ``from_value(obj, out)`` (JSON shapes);
- ``from_drain(body, out, headers)``: the body the platform POSTs to ``/api/drains/<name>``
  (``runbrief.server.drains`` authenticates and answers as the platform expects).

``open_stream`` is what file ingest calls instead of ``LogStream``: it holds the first
bytes of an input, asks every platform, and streams the input either through the
platform's reader or, as before, through ``LogStream``. A record that breaks a reader is
counted and named (``bad_lines``) and the rest of the payload goes on.
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any

import orjson

from runbrief.ingest._decode import LineDecoder
from runbrief.ingest.logfiles import BATCH_SIZE, IngestStats, LogStream, _service_from_name
from runbrief.ingest.pipeline import Batch
from runbrief.ingest.platforms._common import Ctx, Out

__all__ = ["PLATFORMS", "module", "detect", "open_stream", "PlatformStream"]

PLATFORMS = ("heroku", "vercel", "aws", "cloudflare", "railway", "supabase")
SNIFF_BYTES = 64 * 1024
MAX_DOC_CHARS = 256 * 1024 * 1024


def module(name: str) -> ModuleType:
    if name not in PLATFORMS:
        raise KeyError(name)
    return importlib.import_module(f"runbrief.ingest.platforms.{name}")


def _first_value(text: str) -> tuple[Any, bool]:
    """The sample's first JSON value, and whether it is only the first object inside a
    document longer than the sample (then the platforms judge that object and the prefix)."""
    s = text.lstrip()
    if s[:1] not in ("{", "["):
        return None, False
    line = s.split("\n", 1)[0]
    try:
        return orjson.loads(line), False  # NDJSON, or a one-line document
    except orjson.JSONDecodeError:
        pass
    try:
        return json.JSONDecoder().raw_decode(s)[0], False
    except json.JSONDecodeError:
        # A document longer than the sample: judge by its first complete inner object.
        start = s.find("{", 1)
        while 0 < start <= 4096:
            try:
                return json.JSONDecoder().raw_decode(s, start)[0], True
            except json.JSONDecodeError:
                start = s.find("{", start + 1)
    return None, False


def detect(sample: str) -> tuple[str, str] | None:
    """(platform, "json"|"text") when the sample is one platform's shape, else None.

    Never raises: a sniffer that trips on an odd input means "not this platform"."""
    try:
        return _detect(sample)
    except Exception:  # noqa: BLE001 - detection must not end an ingest
        return None


def _detect(sample: str) -> tuple[str, str] | None:
    value, inner = _first_value(sample)
    if value is not None:
        for name in PLATFORMS:
            m = module(name)
            if hasattr(m, "sniff_value") and m.sniff_value(value):
                return name, "json"
            if inner and hasattr(m, "sniff_partial") and m.sniff_partial(value, sample[:512]):
                return name, "json"
        return None
    lines = [s for s in sample.splitlines()[:200] if s.strip()]
    if len(sample) >= SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the sample's last line may be cut
    for name in PLATFORMS:
        m = module(name)
        if hasattr(m, "sniff") and m.sniff(lines):
            return name, "text"
    return None


class PlatformStream:
    """One input read by a platform's reader: ``feed(bytes) -> [Batch]``, ``close() -> [Batch]``."""

    def __init__(self, name: str, platform: str, mode: str, *, service: str | None = None,
                 batch_size: int = BATCH_SIZE) -> None:
        self.name = name
        self.platform = module(platform)
        self.mode = mode
        self.batch_size = batch_size
        default = service or _service_from_name(name)
        self.ctx = Ctx(service=default, override=bool(service),
                       extra={"log.file.name": name} if name != "stdin" else {})
        self.out = Out(self.ctx)
        self.stats = IngestStats(name=name, format=f"{platform}:{mode}", service=default)
        self._decoder = LineDecoder()
        self._doc: list[str] = []
        self._doc_chars = 0
        self._reported = 0

    def feed(self, data: bytes) -> list[Batch]:
        for line in self._decoder.feed(data):
            self._line(line)
        return self._ready(False)

    def close(self) -> list[Batch]:
        for line in self._decoder.close():
            self._line(line)
        if self._doc:
            self._finish_doc()
        d = self._decoder
        self.stats.invalid_utf8_lines, self.stats.split_lines = d.invalid_utf8_lines, d.split_lines
        return self._ready(True)

    def _ready(self, final: bool) -> list[Batch]:
        out = self.out
        batches = []
        while len(out.logs) >= self.batch_size or (final and (out.logs or out.deploys)):
            logs, out.logs = out.logs[: self.batch_size], out.logs[self.batch_size:]
            deploys, out.deploys = out.deploys, []
            self.stats.logs += len(logs)
            batches.append(Batch(logs=logs, deploys=deploys))
        self.stats.bytes = self._decoder.bytes
        self.stats.bad_lines = out.bad
        self.stats.implausible_times = out.implausible_times
        if len(out.errors) > self._reported:
            self.stats.errors.extend(f"{self.name}: {e}" for e in out.errors[self._reported:])
            self._reported = len(out.errors)
        return batches

    def _line(self, line: str) -> None:
        self.stats.lines += 1
        if self.mode == "text":
            if not line.strip():
                self.stats.blank_lines += 1
                return
            try:
                if not self.platform.from_line(line, self.out):
                    self._plain(line)
            except Exception as exc:  # noqa: BLE001 - one line's failure, counted and named
                self.out.bad_record(f"line {self.stats.lines}", exc)
            return
        if not self._doc:
            s = line.strip()
            if not s:
                return
            if s[:1] in "{[" and s[-1:] in "}]":
                try:
                    value = orjson.loads(s)
                except orjson.JSONDecodeError:
                    value = None
                if value is not None:
                    self._value(value)
                    return
        self._doc.append(line)
        self._doc_chars += len(line)
        if self._doc_chars > MAX_DOC_CHARS:
            self.out.bad_record("document", f"a JSON document over {MAX_DOC_CHARS >> 20} MiB; split it")
            self._doc, self._doc_chars = [], 0
            return
        if line.rstrip() in ("}", "]"):
            try:
                value = orjson.loads("\n".join(self._doc))
            except orjson.JSONDecodeError:
                return
            self._doc, self._doc_chars = [], 0
            self._value(value)

    def _finish_doc(self) -> None:
        from runbrief.ingest._decode import BadJson, json_documents

        text = "\n".join(self._doc)
        self._doc, self._doc_chars = [], 0
        try:
            for value in json_documents(text):
                self._value(value)
        except BadJson as exc:
            self.out.bad_record("document", f"incomplete or invalid JSON ({exc.why}); what came before was kept")

    def _value(self, value: Any) -> None:
        try:
            self.platform.from_value(value, self.out)
        except Exception as exc:  # noqa: BLE001 - one document's failure, counted and named
            self.out.bad_record("document", exc)

    def _plain(self, line: str) -> None:
        """A line of no platform shape inside a platform's file: kept as it is."""
        from runbrief.ingest.platforms._common import inner_message

        body, level, attrs, trace, span = inner_message(line)
        last = self.out.logs[-1].ts_ns if self.out.logs else 0
        self.out.log(last, body, self.out.resource(self.out.service(None), {}), attrs=attrs, level=level,
                     trace_id=trace, span_id=span, source="file")


class _Sniffing:
    """Holds an input's first bytes until a platform can be told, then hands them on."""

    def __init__(self, name: str, service: str | None, fmt: str, ref_ns: int | None, batch_size: int) -> None:
        self._args = (name, service, fmt, ref_ns, batch_size)
        self._held: list[bytes] = []
        self._size = 0
        self._inner: LogStream | PlatformStream | None = None

    @property
    def stats(self) -> IngestStats:
        return self._decide().stats

    def _decide(self) -> LogStream | PlatformStream:
        if self._inner is None:
            name, service, fmt, ref_ns, batch_size = self._args
            data = b"".join(self._held)
            self._held = [data]  # handed on by the next feed or close
            found = detect(data[:SNIFF_BYTES].decode("utf-8", "replace"))
            if found:
                self._inner = PlatformStream(name, found[0], found[1], service=service, batch_size=batch_size)
            else:
                self._inner = LogStream(name, service=service, fmt=fmt, ref_ns=ref_ns, batch_size=batch_size)
        return self._inner

    def _held_batches(self, inner: LogStream | PlatformStream) -> list[Batch]:
        held, self._held = b"".join(self._held), []
        return inner.feed(held) if held else []

    def feed(self, data: bytes) -> list[Batch]:
        if self._inner is None:
            self._held.append(data)
            self._size += len(data)
            if self._size < SNIFF_BYTES:
                return []
            return self._held_batches(self._decide())
        return self._held_batches(self._inner) + self._inner.feed(data)

    def close(self) -> list[Batch]:
        inner = self._decide()
        return self._held_batches(inner) + inner.close()


def open_stream(name: str = "stdin", *, service: str | None = None, fmt: str = "auto",
                ref_ns: int | None = None, batch_size: int = BATCH_SIZE) -> Any:
    """A stream for one input: a platform's reader when ``fmt`` is auto and the input is a
    platform's shape, else ``LogStream`` (same ``feed``/``close``/``stats``)."""
    if fmt != "auto":
        return LogStream(name, service=service, fmt=fmt, ref_ns=ref_ns, batch_size=batch_size)
    LogStream(name, service=service, fmt=fmt, ref_ns=ref_ns)  # the same argument checks, now
    return _Sniffing(name, service, fmt, ref_ns, batch_size)
