"""Fast-forward for the demo: each burst of traffic is stamped as one minute of telemetry.

runbrief's baselines are per minute (distill counts every pattern per service per
minute, and "what changed" compares rates over minutes, needing several baseline minutes
before a deploy). A demo that must finish in under a minute cannot wait for real minutes,
so it fast-forwards, the way a replay of recorded traffic would: the traffic driver sends
the requests of one "minute" (a burst of about 20), waits until all have been answered,
then starts the next minute. Each service stamps its spans and logs with

    telemetry time = wall time + (start of that minute in telemetry time - wall time the burst began)

so everything inside one request keeps its real durations and order (a trace is never
torn: no request is in flight when a minute begins), and the minutes line up back to
back, ending just before now. Only the export is shifted; the app, the SDK, the
instrumentations and the server are real and unchanged.

The minute starts are a small JSON file the driver appends to and each service's
exporter reads at export time (``[[wall_ns, telemetry_ns], ...]``).
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["MINUTE_NS", "FastForward", "ClockMap", "ShiftedSpanExporter", "ShiftedLogExporter"]

MINUTE_NS = 60 * 1_000_000_000


class ClockMap:
    """Reads the minute starts and maps a wall time to its telemetry time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._walls: list[int] = []
        self._teles: list[int] = []

    def reload(self) -> None:
        try:
            pairs = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return  # keep the last good map: the writer replaces the file atomically
        self._walls = [int(w) for w, _ in pairs]
        self._teles = [int(t) for _, t in pairs]

    def offset(self, wall_ns: int) -> int:
        """How far to move a record stamped ``wall_ns`` (0 before the first minute is known)."""
        if not self._walls:
            return 0
        j = max(0, bisect.bisect_right(self._walls, wall_ns) - 1)
        return self._teles[j] - self._walls[j]


class FastForward:
    """The driver's side: starts each telemetry minute and records where it began."""

    def __init__(self, path: Path, minutes: int, *, wall: Callable[[], int] = time.time_ns) -> None:
        self.path = path
        self.wall = wall
        now = wall()
        # Minutes run back to back and the last one starts a minute before the current
        # wall-clock minute, so every record is in the past whatever the run's pace.
        self.first_ns = (now // MINUTE_NS - minutes) * MINUTE_NS
        self.pairs: list[tuple[int, int]] = []
        self.path.unlink(missing_ok=True)

    def minute_start(self, index: int) -> int:
        """Telemetry time at which minute ``index`` (0-based) begins."""
        return self.first_ns + index * MINUTE_NS

    def begin_minute(self, index: int) -> int:
        """Start minute ``index`` now; returns its telemetry start time (ns)."""
        tele = self.minute_start(index)
        self.pairs.append((self.wall(), tele))
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.pairs))
        tmp.replace(self.path)
        return tele


class ShiftedSpanExporter(SpanExporter):
    """Moves each span (and its events) by its minute's offset, then exports it unchanged otherwise."""

    def __init__(self, inner: SpanExporter, clock: ClockMap) -> None:
        self.inner = inner
        self.clock = clock

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.clock.reload()
        moved = []
        for s in spans:
            off = self.clock.offset(s.start_time or 0)
            moved.append(ReadableSpan(
                name=s.name, context=s.context, parent=s.parent, resource=s.resource, attributes=s.attributes,
                events=[Event(e.name, e.attributes, (e.timestamp or 0) + off) for e in s.events],
                links=s.links, kind=s.kind, status=s.status,
                start_time=(s.start_time or 0) + off, end_time=(s.end_time or 0) + off,
                instrumentation_scope=s.instrumentation_scope,
            ))
        return self.inner.export(moved)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class ShiftedLogExporter(LogRecordExporter):
    """Moves each log record's timestamps by its minute's offset."""

    def __init__(self, inner: LogRecordExporter, clock: ClockMap) -> None:
        self.inner = inner
        self.clock = clock

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.clock.reload()
        for rec in batch:
            lr = rec.log_record
            stamp = lr.timestamp or lr.observed_timestamp or 0
            off = self.clock.offset(stamp)
            if lr.timestamp:
                lr.timestamp += off
            if lr.observed_timestamp:
                lr.observed_timestamp += off
        return self.inner.export(batch)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)
