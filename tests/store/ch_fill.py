"""A small store for the ClickHouse operation suite: real Loghub lines from three services over
three hours as the background, a deploy of nova-api followed by a connection-pool error storm
and failing requests (a parent span and its failing database call), and OOMKilled / BackOff
events on spark-exec. Enough for every operation to find something: incidents, changes,
traces, perf, patterns."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from runbrief.ingest.pipeline import Batch
from runbrief.records import Deploy, Event, LogRecord, Resource, Span, SpanEvent

LOGHUB = Path(__file__).resolve().parents[1] / "data" / "loghub-2k"
T0 = datetime(2026, 3, 2, 0, 0)
DEPLOY_AT = T0 + timedelta(minutes=150)
SERVICES = {"OpenStack": "nova-api", "HDFS": "datanode", "Spark": "spark-exec"}
POOL = "ERROR sqlalchemy.pool QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout {}"


def ns(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds() * 1e9)


NUMBER = {"ERROR": 17, "WARN": 13, "INFO": 9}  # OTLP SeverityNumber, as a Collector's parser sets it


def _level(line: str) -> str:
    return "ERROR" if " ERROR " in line else ("WARN" if " WARN" in line else "INFO")


def _assistant() -> list[Span]:
    """An agent service: every 20 minutes a request whose spans are the OpenTelemetry GenAI
    conventions' own tool-call example (tests/data/genai), for agents and agent_problems."""
    import json

    example = json.loads((LOGHUB.parent / "genai" / "semconv_tool_call_spans.json").read_text())["spans"]
    res = Resource({"service.name": "assistant", "service.version": "0.3.1", "deployment.environment.name": "prod"})
    out = []
    for n, minute in enumerate(range(5, 180, 20)):
        t, tid = ns(T0 + timedelta(minutes=minute, seconds=7)), f"a5{n:030x}"
        root = f"a5{n:014x}"
        out.append(Span(trace_id=tid, span_id=root, name="POST /ask", start_ns=t, end_ns=t + 3_000_000_000,
                        resource=res, kind="SERVER", status_code="OK", attributes={"http.route": "/ask"}))
        for i, sp in enumerate(example):
            attrs = dict(sp["attributes"])
            attrs.setdefault("gen_ai.operation.name", "chat")
            start = t + 10_000_000 + i * 1_000_000_000
            out.append(Span(trace_id=tid, span_id=f"a6{n:010x}{i:04x}", parent_span_id=root, name=sp["name"],
                            start_ns=start, end_ns=start + 500_000_000 + n * 1_000_000, resource=res,
                            kind="CLIENT" if attrs["gen_ai.operation.name"] == "chat" else "INTERNAL",
                            status_code="UNSET", attributes=attrs))
    return out


def batch() -> Batch:
    rng = random.Random(5)
    corpus = {svc: [ln for ln in (LOGHUB / ds / f"{ds}_2k.log").read_text(errors="replace").splitlines() if ln.strip()]
              for ds, svc in SERVICES.items()}
    logs, spans, events = [], [], []
    for k, svc in enumerate(SERVICES.values()):
        for minute in range(180):
            ver = "2.0" if (svc == "nova-api" and minute >= 150) else "1.0"
            res = Resource({"service.name": svc, "service.version": ver, "deployment.environment.name": "prod"})
            for j in range(6):
                line = rng.choice(corpus[svc])
                logs.append(LogRecord(ts_ns=ns(T0 + timedelta(minutes=minute, seconds=j * 10 + k)), body=line,
                                      resource=res, severity_text=_level(line), severity_number=NUMBER[_level(line)],
                                      attributes={"line": str(j)} if j % 2 else {}))
            broken = svc == "nova-api" and minute >= 152
            if broken:
                for j in range(30):
                    logs.append(LogRecord(ts_ns=ns(T0 + timedelta(minutes=minute, seconds=j * 2)),
                                          body=POOL.format(30 + j % 3), resource=res, severity_text="ERROR",
                                          severity_number=17))
            for j in range(2):
                t = T0 + timedelta(minutes=minute, seconds=j * 30 + 3)
                err = broken and j == 0
                tid, sid = f"{k:04x}{minute:06x}{j:022x}", f"{k:02x}{minute:06x}{j:08x}"
                dur = 30_000_000 * (8 if err else 1)
                spans.append(Span(trace_id=tid, span_id=sid, name=f"GET /{svc}/items", start_ns=ns(t),
                                  end_ns=ns(t) + dur, resource=res, kind="SERVER",
                                  status_code="ERROR" if err else "OK",
                                  attributes={"http.route": f"/{svc}/items", "http.request.method": "GET"},
                                  events=[SpanEvent(name="exception", ts_ns=ns(t) + 5, attributes={
                                      "exception.type": "TimeoutError", "exception.message": "QueuePool limit"})]
                                  if err else []))
                spans.append(Span(trace_id=tid, span_id=f"{sid[:-1]}f", parent_span_id=sid, name="SELECT items",
                                  start_ns=ns(t) + 1000, end_ns=ns(t) + dur - 1000, resource=res, kind="CLIENT",
                                  status_code="ERROR" if err else "UNSET",
                                  attributes={"db.system": "postgresql",
                                              "db.statement": "SELECT * FROM items WHERE id = ?"}))
    pod = "spark-exec-6c9f7b8d4-q2w3e"
    for m in range(8):
        t = T0 + timedelta(minutes=160 + 2 * m)
        events.append(Event(ns(t), "OOMKilled", "Container executor exceeded its memory limit (exit code 137)",
                            type="Warning", object_kind="Pod", object_name=pod, namespace="prod", service="spark-exec"))
        events.append(Event(ns(t + timedelta(seconds=20)), "BackOff",
                            f"Back-off restarting failed container executor in pod {pod}", type="Warning",
                            object_kind="Pod", object_name=pod, namespace="prod", service="spark-exec"))
    spans += _assistant()
    deploys = [Deploy(ts_ns=ns(DEPLOY_AT), service="nova-api", version="2.0", commit="9f1c2ab", environment="prod")]
    return Batch(logs=logs, spans=spans, events=events, deploys=deploys)
