"""Normalized records: what every source (OTLP, log files, kubectl, CI hooks) becomes.

Ingest turns each source into these few shapes so that distill, the store and the
analyses never care where a record came from. Times are integer nanoseconds since the
Unix epoch (UTC) as in OTLP; IDs are lowercase hex strings as in OTLP/JSON. Attribute
maps are plain JSON-able dicts (OTLP AnyValue arrays/maps become lists/dicts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "Resource",
    "ResourceSeen",
    "LogRecord",
    "SpanEvent",
    "SpanLink",
    "Span",
    "MetricPoint",
    "Event",
    "Deploy",
    "SEVERITY_NAMES",
    "severity_name",
    "severity_number_for",
    "severities_at_least",
]

# OTLP SeverityNumber ranges (logs data model): 1-4 TRACE, 5-8 DEBUG, 9-12 INFO,
# 13-16 WARN, 17-20 ERROR, 21-24 FATAL.
SEVERITY_NAMES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_LEVEL_ALIASES = {
    "TRACE": 1, "FINEST": 1, "FINER": 2, "FINE": 5, "DEBUG": 5, "DBG": 5, "VERBOSE": 5,
    "CONFIG": 7, "INFO": 9, "INFORMATION": 9, "NOTICE": 10, "I": 9, "D": 5, "W": 13, "E": 17, "F": 21,
    "WARN": 13, "WARNING": 13, "ERROR": 17, "ERR": 17, "SEVERE": 17, "CRITICAL": 21, "CRIT": 21,
    "FATAL": 21, "ALERT": 22, "EMERG": 23, "EMERGENCY": 23, "PANIC": 21,
}


def severity_name(number: int) -> str:
    """The OTLP short name for a severity number ("" when unset)."""
    if not number or number < 1:
        return ""
    return SEVERITY_NAMES[min((number - 1) // 4, 5)]


def severity_number_for(text: str | None) -> int:
    """Map a level word (any common spelling) to an OTLP severity number, 0 if unknown."""
    if not text:
        return 0
    return _LEVEL_ALIASES.get(text.strip().upper(), 0)


def severities_at_least(text: str) -> tuple[str, ...]:
    """The level names at or above ``text`` (``warn`` → WARN, ERROR, FATAL), for filters.

    Raises ValueError naming the accepted levels for an unknown word.
    """
    number = severity_number_for(text)
    if not number:
        raise ValueError(f"unknown severity {text!r}; use one of {', '.join(SEVERITY_NAMES)}")
    return SEVERITY_NAMES[(number - 1) // 4 :]


def _stable_hash(data: Any) -> str:
    return hashlib.blake2b(orjson.dumps(data, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()


@dataclass(slots=True, frozen=True)
class Resource:
    """The entity that produced telemetry (OTel resource attributes).

    Kept as the raw attribute map; the accessors implement the semantic-convention
    fallbacks (deployment.environment.name superseded deployment.environment).
    """

    attributes: dict[str, Any] = field(default_factory=dict)
    _fp: list[str] = field(default_factory=list, compare=False, repr=False)

    @property
    def service(self) -> str:
        name = self.attributes.get("service.name")
        if name:
            return str(name)
        # Kubernetes-only sources: fall back to the workload name, as the collector's
        # k8sattributes processor users usually expect.
        for key in ("k8s.deployment.name", "k8s.statefulset.name", "k8s.daemonset.name", "k8s.job.name"):
            if self.attributes.get(key):
                return str(self.attributes[key])
        return "unknown_service"

    @property
    def version(self) -> str | None:
        v = self.attributes.get("service.version")
        return str(v) if v is not None else None

    @property
    def environment(self) -> str | None:
        v = self.attributes.get("deployment.environment.name") or self.attributes.get("deployment.environment")
        return str(v) if v is not None else None

    @property
    def fingerprint(self) -> str:
        """Stable ID of this exact attribute set (resources repeat in every batch).

        Computed once per object: every record of a batch shares its Resource.
        """
        if not self._fp:
            self._fp.append(_stable_hash(self.attributes))
        return self._fp[0]


@dataclass(slots=True)
class ResourceSeen:
    """A resource and the span of record times it produced in one batch."""

    resource: Resource
    first_ns: int
    last_ns: int


@dataclass(slots=True)
class LogRecord:
    ts_ns: int
    body: str
    resource: Resource
    observed_ns: int = 0
    severity_number: int = 0
    severity_text: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    trace_id: str = ""
    span_id: str = ""
    scope: str = ""
    source: str = "otlp"
    # Filled by distill.
    pattern_id: str = ""
    severity_inferred: str = ""

    @property
    def service(self) -> str:
        return self.resource.service


@dataclass(slots=True)
class SpanEvent:
    name: str
    ts_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SpanLink:
    trace_id: str
    span_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES = ("UNSET", "OK", "ERROR")


@dataclass(slots=True)
class Span:
    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    resource: Resource
    parent_span_id: str = ""
    kind: str = "INTERNAL"
    status_code: str = "UNSET"
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    links: list[SpanLink] = field(default_factory=list)
    scope: str = ""

    @property
    def service(self) -> str:
        return self.resource.service

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


METRIC_TYPES = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


@dataclass(slots=True)
class MetricPoint:
    name: str
    type: str  # one of METRIC_TYPES
    ts_ns: int
    resource: Resource
    start_ns: int = 0
    unit: str = ""
    description: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    value: float | None = None  # gauge / sum
    is_monotonic: bool | None = None
    temporality: str = ""  # "delta" | "cumulative" | ""
    count: int | None = None  # histogram / exp histogram / summary
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    # histogram: {"bounds": [...], "counts": [...]}; exponential: {"scale", "zero_count",
    # "positive": {"offset", "counts"}, "negative": {...}}; summary: {"quantiles": [[q, v], ...]}
    buckets: dict[str, Any] | None = None
    scope: str = ""

    @property
    def service(self) -> str:
        return self.resource.service


@dataclass(slots=True)
class Event:
    """A platform event (a Kubernetes Event, or any other orchestrator's)."""

    ts_ns: int
    reason: str
    message: str = ""
    type: str = "Normal"  # Normal | Warning
    kind: str = "k8s"
    object_kind: str = ""  # Pod, ReplicaSet, Deployment, Node...
    object_name: str = ""
    namespace: str = ""
    service: str = ""  # filled by correlation when known
    count: int = 1
    first_ns: int = 0
    last_ns: int = 0
    source: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Deploy:
    ts_ns: int
    service: str
    version: str
    commit: str = ""
    environment: str = ""
    source: str = "cli"  # cli | api | github | inferred
    attributes: dict[str, Any] = field(default_factory=dict)
