"""Helpers for the changes tests: fill ``pattern_counts``/``patterns`` (and a few real log,
deploy and event rows) directly, as distill and ingest would, so baselines and ``changes``
can be tested on exact, known timelines."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
import pyarrow as pa

from runbrief.records import Deploy, Event
from runbrief.store import writer
from runbrief.store.duck import Store

T0 = datetime(2026, 3, 2, 0, 0)  # a Monday, midnight UTC; timelines are laid out from here


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw (Knuth for small means, a rounded normal for large ones)."""
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


@dataclass
class Filler:
    """Accumulates per-minute counts and writes them in one Arrow insert."""

    store: Store
    rows: list[tuple[str, str, datetime, int, int]] = field(default_factory=list)
    templates: dict[str, tuple[str, str]] = field(default_factory=dict)
    _log_ids: dict[tuple[str, str], int] = field(default_factory=dict)

    def pattern(self, pid: str, template: str, severity: str = "INFO") -> str:
        self.templates[pid] = (template, severity)
        return pid

    def series(self, service: str, pid: str, start: datetime, minutes: int,
               rate: float | Callable[[int], float], *, errors: bool = False,
               rng: random.Random | None = None) -> None:
        """Minute counts from ``start`` for ``minutes``: exact ``rate`` or Poisson(rate) with ``rng``."""
        for m in range(minutes):
            lam = rate(m) if callable(rate) else rate
            n = poisson(rng, lam) if rng else int(round(lam))
            if n:
                self.rows.append((service, pid, start + timedelta(minutes=m), n, n if errors else 0))

    def every(self, service: str, pid: str, start: datetime, minutes: int, period: int) -> None:
        """One line every ``period`` minutes (a heartbeat)."""
        for m in range(0, minutes, period):
            self.rows.append((service, pid, start + timedelta(minutes=m), 1, 0))

    def flush(self) -> None:
        merged: dict[tuple[str, str, datetime], list[int]] = {}
        for s, p, m, n, e in self.rows:
            acc = merged.setdefault((s, p, m), [0, 0])
            acc[0] += n
            acc[1] += e
        keys = sorted(merged)
        log_rows = []
        for s, p in sorted({(s, p) for s, p, _ in keys}):
            if (s, p) not in self._log_ids:
                self._log_ids[(s, p)] = self.store.next_ids("logs", 1)
                first = min(m for s2, p2, m in keys if (s2, p2) == (s, p))
                log_rows.append((self._log_ids[(s, p)], first, s, p))
        examples = [orjson.dumps([{"log_id": self._log_ids[(s, p)], "body": self._body(p)}]).decode()
                    for s, p, _ in keys]
        tbl = pa.table({
            "service": [k[0] for k in keys], "pattern_id": [k[1] for k in keys],
            "minute": pa.array([k[2] for k in keys], pa.timestamp("us")),
            "count": pa.array([merged[k][0] for k in keys], pa.int64()),
            "errors": pa.array([merged[k][1] for k in keys], pa.int64()),
            "first_ts": pa.array([k[2] + timedelta(seconds=1) for k in keys], pa.timestamp("us")),
            "last_ts": pa.array([k[2] + timedelta(seconds=59) for k in keys], pa.timestamp("us")),
            "examples": examples,
        })
        pats = pa.table({"pattern_id": list(self.templates),
                         "template": [t for t, _ in self.templates.values()],
                         "severity": [s for _, s in self.templates.values()]})
        logs = pa.table({"id": pa.array([r[0] for r in log_rows], pa.int64()),
                         "ts": pa.array([r[1] for r in log_rows], pa.timestamp("us")),
                         "service": [r[2] for r in log_rows], "pattern_id": [r[3] for r in log_rows],
                         "body": [self._body(r[3]) for r in log_rows]})
        with self.store.write() as con:
            con.register("_pc", tbl)
            con.register("_pt", pats)
            con.register("_lg", logs)
            con.execute("""INSERT INTO pattern_counts SELECT service, pattern_id, minute, count, errors,
                           first_ts, last_ts, examples::JSON FROM _pc
                           ON CONFLICT DO UPDATE SET count = pattern_counts.count + excluded.count,
                           errors = pattern_counts.errors + excluded.errors""")
            con.execute("""INSERT OR REPLACE INTO patterns (pattern_id, template, severity)
                           SELECT pattern_id, template, severity FROM _pt""")
            # first sighting anywhere, as distill keeps it
            con.execute("""UPDATE patterns SET first_seen = f.t FROM
                           (SELECT pattern_id, min(first_ts) t FROM pattern_counts GROUP BY ALL) f
                           WHERE patterns.pattern_id = f.pattern_id""")
            con.execute("INSERT INTO logs (id, ts, service, body, pattern_id) SELECT id, ts, service, body, pattern_id FROM _lg")
            for name in ("_pc", "_pt", "_lg"):
                con.unregister(name)
        self.rows.clear()

    def _body(self, pid: str) -> str:
        return self.templates.get(pid, (pid, ""))[0].replace("<*>", "42")

    def deploy(self, service: str, at: datetime, version: str = "v2") -> str:
        first = self.store.next_ids("deploys", 1)
        with self.store.write() as con:
            writer.insert_deploys(con, [Deploy(ts_ns=_ns(at), service=service, version=version)], first)
        return f"dep_{first}"

    def event(self, service: str, at: datetime, reason: str, type_: str = "Warning",
              object_name: str = "pod/x", count: int = 1) -> str:
        first = self.store.next_ids("events", 1)
        kind, _, name = object_name.partition("/")
        ev = Event(ts_ns=_ns(at), reason=reason, type=type_, object_kind=kind.capitalize(), object_name=name,
                   namespace="shop", service=service, count=count, message=f"{reason} for {name}")
        with self.store.write() as con:
            writer.insert_events(con, [ev], first)
        return f"evt_{first}"


def _ns(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds() * 1e9)
