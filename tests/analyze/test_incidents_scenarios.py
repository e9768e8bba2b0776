"""Scenario suite: real logs (loghub-2k) as the quiet background, faults injected on top.

Four services replay four real systems' logs, sampled with replacement hour by hour (so a
rare line can be absent from the baseline and show up "new" later, as in life). Detection
runs the way `runbrief serve` runs it: after every ten minutes of data. Each injected fault
must give exactly one incident whose first claim cites the injected pattern or event, and
a quiet stretch must give none. ``bench/bench_brief.py`` runs the same scenarios larger.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runbrief import ops
from runbrief.analyze import incidents as inc_mod
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Deploy, Event, LogRecord, Resource
from runbrief.store.duck import Store

LOGHUB = Path(__file__).resolve().parents[1] / "data" / "loghub-2k"
SERVICES = {"OpenStack": "nova-api", "HDFS": "datanode", "Spark": "spark-exec", "Linux": "auth-host"}
T0 = datetime(2026, 3, 2, 0, 0)
STEP = timedelta(minutes=10)


def ns(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds() * 1e9)


def corpus() -> dict[str, list[str]]:
    return {svc: [ln for ln in (LOGHUB / ds / f"{ds}_2k.log").read_text(errors="replace").splitlines() if ln.strip()]
            for ds, svc in SERVICES.items()}


# ------------------------------------------------------------------ faults
@dataclass
class Fault:
    name: str
    service: str
    offset: timedelta                       # from the start of the fault hour
    logs: Callable[[datetime, random.Random], list[tuple[datetime, str]]] = lambda at, rng: []
    events: Callable[[datetime], list[Event]] = lambda at: []
    deploy: str | None = None               # version deployed at the fault time
    marker: str = ""                        # text of the injected lines / events (to find their IDs)
    reasons: tuple[str, ...] = ()           # injected event reasons


def _pod(service: str) -> str:
    return f"{service}-6c9f7b8d4-q2w3e"


def _k8s(service: str, at: datetime, reason: str, message: str, every: timedelta, n: int) -> list[Event]:
    return [Event(ns(at + k * every), reason, message, type="Warning", object_kind="Pod", object_name=_pod(service),
                  namespace="prod", service=service) for k in range(n)]


def _oom_events(at: datetime) -> list[Event]:
    out = []
    for k in range(8):
        t = at + timedelta(minutes=2 + 2 * k)
        out += _k8s("spark-exec", t, "OOMKilled", "Container executor exceeded its memory limit (exit code 137)",
                    timedelta(0), 1)
        out += _k8s("spark-exec", t + timedelta(seconds=20), "BackOff", "Back-off restarting failed container "
                    "executor in pod spark-exec-6c9f7b8d4-q2w3e", timedelta(0), 1)
    return out


def _pool_lines(at: datetime, rng: random.Random) -> list[tuple[datetime, str]]:
    out = []
    for i in range(8 * 200):  # eight minutes, 200 per minute
        t = at + timedelta(seconds=i * 0.3)
        out.append((t, f"nova-api.log.1 {t:%Y-%m-%d %H:%M:%S}.{rng.randrange(1000):03d} 25746 ERROR "
                       f"sqlalchemy.pool.impl.QueuePool [req-{rng.randrange(16**8):08x}] QueuePool limit of size 5 "
                       f"overflow 10 reached, connection timed out, timeout {rng.choice([30, 30, 30, 60])}.00"))
    return out


def _exception_lines(at: datetime, rng: random.Random) -> list[tuple[datetime, str]]:
    out = []
    for i in range(40):
        t = at + timedelta(seconds=i * 9)
        out.append((t, f"{t:%y%m%d %H%M%S} {rng.randrange(100, 999)} ERROR dfs.DataNode: "
                       f"java.lang.IllegalStateException: lease recovery failed for blk_{rng.randrange(10**18)} "
                       "at org.apache.hadoop.hdfs.server.datanode.DataNode.recoverBlock(DataNode.java:1543)"))
    return out


def _image_events(at: datetime) -> list[Event]:
    msg = 'Failed to pull image "registry.local/auth-host:3.1.0-rc1": manifest unknown'
    out = []
    for k in range(6):
        t = at + timedelta(minutes=1 + 3 * k)
        out += _k8s("auth-host", t, "ErrImagePull", msg, timedelta(0), 1)
        out += _k8s("auth-host", t + timedelta(seconds=15), "ImagePullBackOff",
                    'Back-off pulling image "registry.local/auth-host:3.1.0-rc1"', timedelta(0), 1)
    return out


FAULTS = [
    Fault("oom_loop_after_deploy", "spark-exec", timedelta(minutes=5), events=_oom_events, deploy="2.4.1",
          reasons=("OOMKilled",)),
    Fault("pool_exhaustion_storm", "nova-api", timedelta(minutes=20), logs=_pool_lines, marker="QueuePool limit"),
    Fault("new_exception_pattern", "datanode", timedelta(minutes=30), logs=_exception_lines,
          marker="lease recovery failed"),
    Fault("bad_image_after_deploy", "auth-host", timedelta(minutes=40), events=_image_events, deploy="3.1.0-rc1",
          reasons=("ErrImagePull", "ImagePullBackOff")),
]


# ------------------------------------------------------------------ the replay
@dataclass
class Replay:
    store: Store
    per_hour: int = 1000
    seed: int = 11
    detect: bool = True
    lines: dict[str, list[str]] = field(default_factory=corpus)
    created: list[tuple[datetime, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.pipeline = Pipeline(self.store)
        self.resources = {svc: Resource({"service.name": svc, "k8s.deployment.name": svc}) for svc in SERVICES.values()}

    def _quiet(self, start: datetime, span: timedelta) -> list[LogRecord]:
        out = []
        n = round(self.per_hour * span / timedelta(hours=1))
        secs = span.total_seconds()
        for svc, lines in self.lines.items():
            for _ in range(n):
                t = start + timedelta(seconds=self.rng.random() * secs)
                out.append(LogRecord(ns(t), self.rng.choice(lines), self.resources[svc], source="file"))
        return out

    def run(self, start: datetime, hours: float, faults: list[Fault] = ()) -> None:  # type: ignore[assignment]
        steps = round(timedelta(hours=hours) / STEP)
        for k in range(steps):
            t0 = start + k * STEP
            batch = Batch(logs=self._quiet(t0, STEP))
            for f in faults:
                at = start + f.offset
                if f.deploy and t0 <= at < t0 + STEP:
                    batch.deploys.append(Deploy(ns(at), f.service, f.deploy, commit=f"{self.rng.randrange(16**7):07x}"))
                batch.logs += [LogRecord(ns(t), body, self.resources[f.service], source="file")
                               for t, body in f.logs(at, random.Random(f.name)) if t0 <= t < t0 + STEP]
                batch.events += [e for e in f.events(at) if ns(t0) <= e.ts_ns < ns(t0 + STEP)]
            batch.logs.sort(key=lambda r: r.ts_ns)
            self.pipeline.write(batch)
            if self.detect:
                out = inc_mod.detect(self.store)
                self.created += [(t0 + STEP, i) for i in out["created"]]


def evidence_of(store: Store, fault: Fault) -> set[str]:
    """The IDs that stand for an injected fault: its pattern(s) and lines, or its events."""
    if fault.marker:
        rows = store.query("SELECT id, pattern_id FROM logs WHERE contains(body, ?)", [fault.marker])
        return {f"log_{r['id']}" for r in rows} | {f"pat_{r['pattern_id']}" for r in rows}
    rows = store.query(f"SELECT id FROM events WHERE reason IN ({', '.join('?' * len(fault.reasons))})",
                       list(fault.reasons))
    return {f"evt_{r['id']}" for r in rows}


def match(store: Store, incidents: list[dict[str, Any]], faults: list[Fault]) -> dict[str, list[str]]:
    """Fault name → incidents whose first claim cites that fault's injected evidence."""
    out: dict[str, list[str]] = {}
    for f in faults:
        ev = evidence_of(store, f)
        out[f.name] = [i["id"] for i in incidents if i["claims"] and set(i["claims"][0]["evidence"]) & ev]
    return out


# ------------------------------------------------------------------ tests
@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = Store.open(tmp_path_factory.mktemp("scenario") / "s")
    replay = Replay(store)
    replay.run(T0, 3)
    quiet_created = list(replay.created)
    replay.run(T0 + timedelta(hours=3), 1, FAULTS)
    incidents = ops.run(store, "incidents", {"limit": 50})
    brief = ops.run(store, "brief", {"budget": 2000})
    yield {"store": store, "replay": replay, "quiet_created": quiet_created, "incidents": incidents, "brief": brief}
    store.close()


def test_quiet_hours_make_no_incident(faulty: dict[str, Any]) -> None:
    assert faulty["quiet_created"] == []


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_each_fault_is_one_incident_citing_what_was_injected(faulty: dict[str, Any], fault: Fault) -> None:
    found = match(faulty["store"], faulty["incidents"], [fault])[fault.name]
    assert len(found) == 1, (fault.name, [(i["id"], i["title"], i["claims"][:1]) for i in faulty["incidents"]])
    inc = next(i for i in faulty["incidents"] if i["id"] == found[0])
    assert inc["service"] == fault.service


def test_no_other_incidents_and_known_causes_named(faulty: dict[str, Any]) -> None:
    incs = faulty["incidents"]
    assert len(incs) == len(FAULTS), [(i["id"], i["title"]) for i in incs]
    causes = {i["service"]: (i["cause"] or {}).get("name") for i in incs}
    assert causes == {"spark-exec": "memory_limit", "nova-api": "pool_exhausted", "datanode": None,
                      "auth-host": "bad_image"}


def test_brief_holds_every_fault_in_under_one_percent_of_the_raw_tokens(faulty: dict[str, Any]) -> None:
    from runbrief import tokens

    brief = faulty["brief"]
    for inc in faulty["incidents"]:
        assert inc["id"] in brief["text"]
    bodies = [r["body"] for r in faulty["store"].query("SELECT body FROM logs WHERE ts >= ?",
                                                          [T0 + timedelta(hours=3)])]
    raw = tokens.count_many(bodies)
    assert brief["tokens"] <= 2000
    assert brief["tokens"] < 0.01 * raw, (brief["tokens"], raw)
