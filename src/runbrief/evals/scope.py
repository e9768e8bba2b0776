"""Which spans a question is about: a time window, a service, a deploy, trace IDs, a run.

The agents view, the detectors, ``eval`` and ``gate`` all select spans the same way, so
the selection is declared once. Two forms: ``span_where`` keeps the spans that match
(a per-span window, for rates over time) and ``trace_where`` keeps whole traces that
have at least one matching span (an evaluation scores complete traces, never the half
of a trace that fell inside the window).

A "run" (a test suite's, a CI job's) is named by a resource attribute such as
``test.run.id=abc`` (set with ``OTEL_RESOURCE_ATTRIBUTES``), by a list of trace IDs, or
by "since the latest deploy of a service".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runbrief import ids
from runbrief.errors import NotFound, UsageError
from runbrief.queries import fmt_ts, parse_time
from runbrief.store.duck import Store

__all__ = ["Scope", "parse_resource"]


def parse_resource(items: list[str] | dict[str, Any] | str | None) -> dict[str, str]:
    """``["test.run.id=abc"]`` or ``"k=v,k2=v2"`` → ``{"test.run.id": "abc"}``."""
    if not items:
        return {}
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    if isinstance(items, str):
        items = [p for p in items.split(",") if p]
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"resource filter {item!r} must look like key=value (e.g. test.run.id=abc)")
        out[key.strip()] = value.strip()
    return out


def _norm_trace_id(tid: str) -> str:
    t = tid.strip().lower().removeprefix("trc_")
    if not t or any(c not in "0123456789abcdef" for c in t):
        raise UsageError(f"{tid!r} is not a trace ID; use trc_<32 hex> or the bare hex")
    return t


@dataclass
class Scope:
    since: str | None = None
    until: str | None = None
    service: str | None = None
    trace_ids: list[str] = field(default_factory=list)
    resource: dict[str, str] = field(default_factory=dict)
    deploy: str | None = None  # dep_<n>, or a service name: since its latest deploy
    conversation: str | None = None

    def _bounds(self, store: Store) -> tuple[datetime | None, datetime | None, dict[str, Any]]:
        start, end = parse_time(self.since), parse_time(self.until)
        info: dict[str, Any] = {}
        if self.deploy:
            start_d, dep_id = _deploy_start(store, self.deploy)
            info["deploy"] = dep_id
            start = max(start, start_d) if start else start_d
        return start, end, info

    def describe(self, store: Store) -> dict[str, Any]:
        """The selection as plain data, echoed in results so a reader sees what was scored."""
        start, end, info = self._bounds(store)
        out: dict[str, Any] = {"since": fmt_ts(start), "until": fmt_ts(end)}
        if self.service:
            out["service"] = self.service
        if self.trace_ids:
            out["trace_ids"] = [ids.make("trc", _norm_trace_id(t)) for t in self.trace_ids]
        if self.resource:
            out["resource"] = self.resource
        if self.conversation:
            out["conversation"] = self.conversation
        out.update(info)
        return out

    def span_where(self, store: Store, alias: str = "") -> tuple[str, list[Any]]:
        """A SQL condition (and its parameters) over the ``spans`` table."""
        p = f"{alias}." if alias else ""
        start, end, _ = self._bounds(store)
        where: list[str] = []
        args: list[Any] = []
        if start is not None:
            where.append(f"{p}start_ts >= ?")
            args.append(start)
        if end is not None:
            where.append(f"{p}start_ts < ?")
            args.append(end)
        if self.service:
            where.append(f"{p}service = ?")
            args.append(self.service)
        if self.trace_ids:
            tids = [_norm_trace_id(t) for t in self.trace_ids]
            where.append(f"{p}trace_id IN ({', '.join('?' * len(tids))})")
            args.extend(tids)
        if self.resource:
            conds = []
            for key, value in self.resource.items():
                conds.append("json_extract_string(attributes, ?) = ?")
                args.extend(['$."' + key.replace('"', "") + '"', value])
            where.append(f"{p}resource_id IN (SELECT resource_id FROM resources WHERE {' AND '.join(conds)})")
        return (" AND ".join(where) or "TRUE"), args

    def trace_where(self, store: Store, alias: str = "") -> tuple[str, list[Any]]:
        """Keep whole traces that have at least one span matching the scope."""
        cond, args = self.span_where(store)
        p = f"{alias}." if alias else ""
        if cond == "TRUE":
            return "TRUE", []
        return f"{p}trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE {cond})", args

    def trace_list(self, store: Store, limit: int = 10_000) -> list[str]:
        cond, args = self.span_where(store)
        rows = store.query(
            f"SELECT trace_id, min(start_ns) s FROM spans WHERE {cond} GROUP BY trace_id ORDER BY s LIMIT ?",
            [*args, limit],
        )
        return [r["trace_id"] for r in rows]


def _deploy_start(store: Store, deploy: str) -> tuple[datetime, str]:
    if deploy.startswith("dep_"):
        key = deploy.removeprefix("dep_")
        row = store.query("SELECT id, ts FROM deploys WHERE id = ?", [int(key)]) if key.isdigit() else []
        if not row:
            raise NotFound(f"no deploy {deploy}; list deploys with `runbrief changes` or pass a service name")
    else:
        row = store.query("SELECT id, ts FROM deploys WHERE service = ? ORDER BY ts DESC LIMIT 1", [deploy])
        if not row:
            raise NotFound(f"no deploy recorded for service {deploy!r}; record one with `runbrief deploy mark` or use --since")
    return row[0]["ts"], ids.make("dep", row[0]["id"])
