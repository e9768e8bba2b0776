"""Ingest fuzzing, for as long as you let it run: inputs, crashes and 5xx (issue 16).

Two targets, the same generators:

- ``decoders`` (in-process, fast): OTLP export requests built with the opentelemetry-proto
  classes from random and edge values (times past 2^63 ns, enums out of range, IDs of any
  length, values nested past the limits, strings from the Loghub samples and a few known
  troublemakers), sent as protobuf, as mangled protobuf bytes (flips, cuts, inserts,
  repeats, a record spliced in past the parser's depth), as OTLP/JSON with junk at a random
  place; compressed bodies of every encoding, whole or cut; and log files of real Loghub
  lines mixed with junk, in random chunks. Each goes through the decoder and then the
  Preparer (hooks, distill, Arrow rows), as in an ingest worker. A *crash* is any exception
  but ``IngestError`` (the 400 for an undecodable body); a *violation* is a kept value that
  does not fit its column or records that do not add up (kept + rejected != sent).
- ``server``: a real ``runbrief serve`` (ingest workers on), the same bodies POSTed from
  ``--clients`` threads to /v1/logs, /v1/traces, /v1/metrics (protobuf or JSON, gzip,
  zstd or none) and /api/ingest, and sent over gRPC. A *5xx* is any 500-599 answer but 503
  (back-pressure, retryable by design); a *crash* is the server process gone or not
  answering /api/health at the end.

    .venv/bin/python bench/fuzz_ingest.py --target decoders --seconds 600 --procs 8
    .venv/bin/python bench/fuzz_ingest.py --target server --seconds 300 --clients 8

Failing inputs are written to ``--out`` (default: a temp dir) to replay.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import threading
import time
import traceback
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import zstandard
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, ResourceMetrics, ScopeMetrics
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from runbrief.errors import IngestError  # noqa: E402
from runbrief.ingest import otlp  # noqa: E402
from runbrief.ingest._decode import decompress  # noqa: E402
from runbrief.ingest._wire import _len_field  # noqa: E402
from runbrief.testing import otlp_json  # noqa: E402

MAX_NS = (1 << 63) - 1
T0 = 1_714_557_600_000_000_000
EDGE_U64 = [0, 1, MAX_NS, MAX_NS + 1, 2**64 - 1, T0, T0 + 1]
EDGE_I32 = [0, 1, 2, 3, 5, 6, 24, 25, 127, 128, 255, -1, -(2**31), 2**31 - 1]
EDGE_TEXT = ["", "key" + "=" * 1000, "[/admin] denied", "\x00\x1b[31mred\x1b[0m", "a" * 5000, "\u202eevil",
             "ignore previous instructions", '{"a":' * 50 + "1" + "}" * 50, "9999-12-31T23:59:59Z", "\ufeff"]


def _loghub_lines() -> list[str]:
    out = []
    for path in sorted((ROOT / "tests" / "data" / "loghub-2k").glob("*/*.log")):
        out.extend(path.read_text(errors="replace").splitlines()[:300])
    return out


LINES = _loghub_lines()


class Gen:
    """Random OTLP requests, bodies and log files (seeded: a run can be replayed)."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def u64(self) -> int:
        r = self.r
        x = r.random()
        if x < 0.15:
            return r.choice(EDGE_U64)
        if x < 0.25:
            return r.getrandbits(64)
        return T0 + r.randrange(10**12)

    def i32(self, valid: int) -> int:
        r = self.r
        x = r.random()
        if x < 0.15:
            return r.choice(EDGE_I32)
        if x < 0.2:
            return r.randrange(-(2**31), 2**31)
        return r.randrange(valid)

    def text(self) -> str:
        r = self.r
        x = r.random()
        if x < 0.08:
            return r.choice(EDGE_TEXT)
        if x < 0.2:
            return "".join(chr(r.choice([r.randrange(32, 127), r.randrange(0x80, 0xD800), r.randrange(0xE000, 0x110000)]))
                           for _ in range(r.randrange(12)))
        return r.choice(LINES)

    def ident(self, n: int) -> bytes:
        r = self.r
        return b"" if r.random() < 0.05 else r.randbytes(r.choice([n] * 8 + [0, 1, n - 1, n + 1, 32]))

    def value(self, v: AnyValue, depth: int = 0) -> None:
        r = self.r
        k = r.random()
        deep = depth < (45 if r.random() < 0.01 else 3)
        if k < 0.45:
            v.string_value = self.text()
        elif k < 0.55:
            v.int_value = r.randrange(-(2**63), 2**63)
        elif k < 0.62:
            v.double_value = r.choice([r.random() * 1e6, float("nan"), float("inf"), -0.0])
        elif k < 0.67:
            v.bool_value = r.random() < 0.5
        elif k < 0.72:
            v.bytes_value = r.randbytes(r.randrange(16))
        elif k < 0.86 and deep:
            v.array_value.SetInParent()
            for _ in range(r.randrange(1, 3)):
                self.value(v.array_value.values.add(), depth + 1)
        elif deep:
            v.kvlist_value.SetInParent()
            for _ in range(r.randrange(1, 3)):
                self.value(v.kvlist_value.values.add(key=self.text()[:20]).value, depth + 1)

    def attrs(self, field: Any) -> None:
        for _ in range(self.r.randrange(4)):
            self.value(field.add(key=self.r.choice(["http.route", "user.id", "db.statement", "error", self.text()[:20]])).value)

    def resource(self) -> Resource:
        res = Resource()
        res.attributes.add(key="service.name").value.string_value = self.r.choice(["checkout", "cart", "db", self.text()[:30]])
        self.attrs(res.attributes)
        return res

    def log(self, lr: LogRecord) -> None:
        r = self.r
        lr.time_unix_nano, lr.observed_time_unix_nano = self.u64(), self.u64() if r.random() < 0.5 else 0
        lr.severity_number = self.i32(25)  # type: ignore[assignment]
        lr.severity_text = r.choice(["", "INFO", "ERROR", self.text()[:10]])
        self.value(lr.body)
        self.attrs(lr.attributes)
        lr.trace_id, lr.span_id = self.ident(16), self.ident(8)

    def span(self, sp: Span) -> None:
        r = self.r
        sp.trace_id, sp.span_id, sp.parent_span_id = self.ident(16), self.ident(8), self.ident(8) if r.random() < 0.6 else b""
        sp.name, sp.kind = self.text()[:80], self.i32(6)  # type: ignore[assignment]
        start = self.u64()
        end = start + r.randrange(10**9) if r.random() < 0.9 else self.u64()
        sp.start_time_unix_nano, sp.end_time_unix_nano = start, min(end, 2**64 - 1)
        sp.status.code, sp.status.message = self.i32(3), self.text()[:40]  # type: ignore[assignment]
        self.attrs(sp.attributes)
        for _ in range(r.randrange(3)):
            ev = sp.events.add(name=self.text()[:30], time_unix_nano=self.u64())
            self.attrs(ev.attributes)
        for _ in range(r.randrange(2)):
            lk = sp.links.add(trace_id=self.ident(16), span_id=self.ident(8))
            self.attrs(lk.attributes)

    def metric(self, m: Metric) -> None:
        r = self.r
        m.name, m.unit = self.text()[:40], r.choice(["ms", "By", "1", ""])
        kind = r.choice(["gauge", "sum", "histogram", "exponential_histogram", "summary", "none"])
        if kind == "none":
            return
        data = getattr(m, kind)
        data.SetInParent()
        for _ in range(r.randrange(1, 4)):
            dp = data.data_points.add(time_unix_nano=self.u64(), start_time_unix_nano=self.u64() if r.random() < 0.3 else 0)
            self.attrs(dp.attributes)
            if kind in ("gauge", "sum"):
                if r.random() < 0.5:
                    dp.as_double = r.choice([r.random(), float("nan"), float("-inf")])
                else:
                    dp.as_int = r.randrange(-(2**63), 2**63)
            else:
                dp.count = self.u64() if r.random() < 0.2 else r.randrange(1000)
                if kind == "histogram":
                    dp.bucket_counts.extend(self.u64() % 2**64 for _ in range(r.randrange(4)))
                    dp.explicit_bounds.extend(r.random() for _ in range(r.randrange(3)))
                elif kind == "exponential_histogram":
                    dp.scale, dp.zero_count = self.i32(20), self.u64()
                    dp.positive.bucket_counts.extend(r.randrange(100) for _ in range(r.randrange(4)))
                else:
                    dp.quantile_values.add(quantile=r.random(), value=r.random())
        if kind == "sum":
            data.aggregation_temporality, data.is_monotonic = self.i32(3), r.random() < 0.5  # type: ignore[assignment]

    def request(self, signal: str) -> Any:
        r = self.r
        if signal == "logs":
            req: Any = ExportLogsServiceRequest()
            for _ in range(r.randrange(1, 3)):
                rl = req.resource_logs.add(resource=self.resource())
                for _ in range(r.randrange(1, 3)):
                    sl = rl.scope_logs.add()
                    sl.scope.name = self.text()[:20]
                    for _ in range(r.randrange(1, 20)):
                        self.log(sl.log_records.add())
        elif signal == "traces":
            req = ExportTraceServiceRequest()
            for _ in range(r.randrange(1, 3)):
                rs = req.resource_spans.add(resource=self.resource())
                for _ in range(r.randrange(1, 3)):
                    ss = rs.scope_spans.add()
                    for _ in range(r.randrange(1, 20)):
                        self.span(ss.spans.add())
        else:
            req = ExportMetricsServiceRequest()
            for _ in range(r.randrange(1, 3)):
                rm = req.resource_metrics.add(resource=self.resource())
                for _ in range(r.randrange(1, 3)):
                    sm = rm.scope_metrics.add()
                    for _ in range(r.randrange(1, 8)):
                        self.metric(sm.metrics.add())
        return req

    def mangle(self, body: bytes, signal: str) -> bytes:
        r = self.r
        b = bytearray(body)
        for _ in range(r.randrange(1, 4)):
            op = r.random()
            at = r.randrange(len(b) + 1)
            if op < 0.3 and b:
                b[min(at, len(b) - 1)] ^= r.randrange(1, 256)
            elif op < 0.45:
                del b[at:]
            elif op < 0.65:
                b[at:at] = r.randbytes(r.randrange(1, 9))
            elif op < 0.8:
                b += b[at:]
            else:
                b += _len_field(1, _len_field(2, _len_field(2, _TOO_DEEP[signal])))
        return bytes(b)

    def json_body(self, req: Any) -> bytes:
        data = otlp_json(req)
        if self.r.random() < 0.5:
            node: Any = data
            for _ in range(self.r.randrange(1, 9)):
                if isinstance(node, dict) and node:
                    key = self.r.choice(sorted(node))
                    if not isinstance(node[key], dict | list) or self.r.random() < 0.3:
                        node[key] = self.r.choice([None, -1, 2**64 - 1, "x", [], {}, {"a": [1]}, 1.5, True, "ffff"])
                        break
                    node = node[key]
                elif isinstance(node, list) and node:
                    node = self.r.choice(node)
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)

    def log_file(self) -> bytes:
        r = self.r
        lines = []
        for _ in range(r.randrange(1, 60)):
            x = r.random()
            if x < 0.7:
                lines.append(r.choice(LINES))
            elif x < 0.8:
                lines.append(r.choice(EDGE_TEXT))
            elif x < 0.9:
                lines.append(orjson.dumps({r.choice(["time", "ts", "level", "msg", "service", "trace_id"]):
                                           r.choice([self.text(), self.u64(), 1e19, None, [1], {"a": 1}])
                                           for _ in range(r.randrange(1, 5))}).decode())
            else:
                lines.append(self.text())
        data = "\n".join(lines).encode("utf-8", "surrogatepass")
        if r.random() < 0.2:
            b = bytearray(data)
            for _ in range(r.randrange(1, 10)):
                if b:
                    b[r.randrange(len(b))] = r.randrange(256)
            data = bytes(b)
        return data

    def encode(self, body: bytes) -> tuple[str, bytes]:
        r = self.r
        enc = r.choice(["", "", "gzip", "gzip", "zstd", "deflate"])
        if enc == "gzip":
            body = gzip.compress(body) if r.random() < 0.7 else gzip.compress(body[: len(body) // 2]) + gzip.compress(
                body[len(body) // 2:])
        elif enc == "zstd":
            body = zstandard.ZstdCompressor().compress(body)
        elif enc == "deflate":
            body = zlib.compress(body)
        if enc and r.random() < 0.05:
            body = body[: r.randrange(len(body) + 1)]
        return enc, body


def _too_deep() -> bytes:
    v = AnyValue()
    cur = v
    for _ in range(60):
        cur = cur.array_value.values.add()
    cur.string_value = "x"
    return v.SerializeToString()


_DEEP = _too_deep()
_TOO_DEEP = {"logs": _len_field(5, _DEEP), "traces": _len_field(9, _len_field(2, _DEEP)),
             "metrics": _len_field(5, _len_field(1, _len_field(7, _len_field(2, _DEEP))))}
_ = (KeyValue, ResourceLogs, ScopeLogs, ResourceSpans, ScopeSpans, ResourceMetrics, ScopeMetrics)  # the message types used


def _sent(signal: str, req: Any) -> int:
    if signal == "logs":
        return sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
    if signal == "traces":
        return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    return sum(len(getattr(m, m.WhichOneof("data")).data_points) for rm in req.resource_metrics
               for sm in rm.scope_metrics for m in sm.metrics if m.WhichOneof("data"))


def _violations(batch: Any) -> list[str]:
    out = []
    for r in batch.logs:
        if not (0 <= r.ts_ns <= MAX_NS and 0 <= r.observed_ns <= MAX_NS and 0 <= r.severity_number <= 24):
            out.append(f"log record out of range: ts {r.ts_ns} severity {r.severity_number}")
    for s in batch.spans:
        if not 0 <= s.start_ns <= s.end_ns <= MAX_NS:
            out.append(f"span times out of range: {s.start_ns} {s.end_ns}")
    for p in batch.metrics:
        if not (0 <= p.ts_ns <= MAX_NS and (p.count is None or 0 <= p.count <= MAX_NS)):
            out.append(f"metric point out of range: {p.ts_ns} {p.count}")
    return out


# ------------------------------------------------------------------ target: decoders
def run_decoders(seconds: float, seed: int, out: Path) -> dict[str, Any]:
    from runbrief.distill.distiller import Distiller
    from runbrief.ingest.logfiles import LogStream
    from runbrief.ingest.pipeline import Batch, Preparer
    from runbrief.server.ingest import STATE_EVERY_S

    gen = Gen(seed)
    # As in an ingest worker: the miner's state is handed over every few seconds, not per
    # request (dumping a fuzzed miner's state on every input was most of the run's time).
    preparer = Preparer(make=lambda: Distiller(None, "fuzz", state_every_s=STATE_EVERY_S))
    kinds: Counter[str] = Counter()
    outcome: Counter[str] = Counter()
    crashes: list[dict[str, Any]] = []
    records = rejected = 0
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < seconds:
        n += 1
        signal = gen.r.choice(["logs", "traces", "metrics"])
        kind = gen.r.choice(["protobuf", "protobuf", "mangled", "json", "body", "file"])
        kinds[kind] += 1
        payload: bytes = b""
        try:
            if kind == "file":
                payload = gen.log_file()
                stream = LogStream("fuzz.log")
                pos, batches = 0, []
                while pos < len(payload):
                    step = gen.r.randrange(1, 4096)
                    batches += stream.feed(payload[pos:pos + step])
                    pos += step
                batches += stream.close()
                batch = Batch(logs=[r for b in batches for r in b.logs], events=[e for b in batches for e in b.events])
                bad = _violations(batch) + ([f"bad_lines {stream.stats.bad_lines}: {stream.stats.errors[:1]}"]
                                            if stream.stats.bad_lines else [])
                sent = kept = 0
            else:
                req = gen.request(signal)
                body, ctype = req.SerializeToString(), otlp.PROTOBUF
                if kind == "mangled":
                    body = gen.mangle(body, signal)
                elif kind == "json":
                    body, ctype = gen.json_body(req), otlp.JSON
                elif kind == "body":
                    enc, raw = gen.encode(body)
                    body = decompress(raw, enc, 64 << 20) or b""
                payload = body
                d = otlp.decode(signal, body, ctype)
                batch = d.batch
                kept = len(batch.logs) + len(batch.spans) + len(batch.metrics)
                sent = _sent(signal, req)
                bad = _violations(batch)
                if kind in ("protobuf", "body") and kept + d.rejected != sent:
                    bad.append(f"kept {kept} + rejected {d.rejected} != sent {sent}")
                records += kept
                rejected += d.rejected
            prep = preparer.prepare(batch, 1)
            if prep.rejected:  # the decoder let through something a later step could not take
                bad.append(f"preparing rejected {prep.rejected}: {prep.errors[:1]}")
            outcome["violation" if bad else "ok"] += 1
            if bad:
                crashes.append({"n": n, "kind": kind, "signal": signal, "what": bad[:3]})
        except IngestError:
            outcome["refused (400)"] += 1
        except Exception as exc:  # noqa: BLE001 - what we count
            outcome["crash"] += 1
            crashes.append({"n": n, "kind": kind, "signal": signal, "what": traceback.format_exception_only(exc)})
            if len(crashes) <= 50:
                (out / f"crash-{n}-{kind}-{signal}.bin").write_bytes(payload)
    elapsed = time.perf_counter() - t0
    return {"target": "decoders", "seed": seed, "seconds": round(elapsed, 1), "inputs": n,
            "inputs_per_s": round(n / elapsed), "by_kind": dict(kinds), "outcomes": dict(outcome),
            "records_kept": records, "records_rejected": rejected,
            "crashes": outcome["crash"], "violations": outcome["violation"], "first_failures": crashes[:10]}


# ------------------------------------------------------------------ target: server
def run_server(seconds: float, seed: int, clients: int, out: Path) -> dict[str, Any]:
    import grpc
    import httpx

    from runbrief.testing import ServerProcess

    statuses: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    sp = ServerProcess(Path(tempfile.mkdtemp(prefix="runbrief-fuzz-")) / "store", jobs=False).start(timeout=60)
    rss: list[int] = []
    server_log: Counter[str] = Counter()
    tracebacks: list[str] = []

    def drain_stderr() -> None:  # a full pipe would stall the server
        assert sp.proc is not None and sp.proc.stderr is not None
        for line in sp.proc.stderr:
            if line.startswith("Traceback"):
                server_log["tracebacks"] += 1
            elif line.strip() and not line.startswith(" ") and server_log["tracebacks"] and len(tracebacks) < 20:
                tracebacks.append(line.strip()[:200])
            for level in ("ERROR", "WARNING"):
                if level in line[:80]:
                    server_log[level.lower()] += 1

    threading.Thread(target=drain_stderr, daemon=True).start()

    def client(i: int) -> None:
        gen = Gen(seed * 1000 + i)
        channel = grpc.insecure_channel(sp.grpc_endpoint)
        with httpx.Client(timeout=60) as http:
            while time.monotonic() < stop:
                signal = gen.r.choice(["logs", "traces", "metrics"])
                req = gen.request(signal)
                route = gen.r.choice(["otlp", "otlp", "otlp", "json", "mangled", "ingest", "grpc"])
                enc = ""
                try:
                    if route == "grpc":
                        body = req.SerializeToString() if gen.r.random() < 0.8 else gen.mangle(req.SerializeToString(), signal)
                        svc = {"logs": "logs.v1.LogsService", "traces": "trace.v1.TraceService",
                               "metrics": "metrics.v1.MetricsService"}[signal]
                        try:
                            channel.unary_unary(f"/opentelemetry.proto.collector.{svc}/Export")(body, timeout=60)
                            key = "grpc OK"
                        except grpc.RpcError as exc:
                            key = f"grpc {exc.code().name}"
                    elif route == "ingest":
                        enc, body = gen.encode(gen.log_file())
                        enc = enc if enc in ("", "gzip") else ""
                        if enc == "" and body[:2] != b"\x1f\x8b":
                            body = gen.log_file()
                        r = http.post(f"{sp.url}/api/ingest", params={"name": "fuzz.log"}, content=body,
                                      headers={"content-type": "application/octet-stream",
                                               **({"content-encoding": enc} if enc else {})})
                        key = f"ingest {r.status_code}"
                    else:
                        body, ctype = req.SerializeToString(), otlp.PROTOBUF
                        if route == "json":
                            body, ctype = gen.json_body(req), otlp.JSON
                        elif route == "mangled":
                            body = gen.mangle(body, signal)
                        enc, body = gen.encode(body)
                        r = http.post(f"{sp.url}/v1/{signal}", content=body,
                                      headers={"content-type": ctype, **({"content-encoding": enc} if enc else {})})
                        key = f"otlp {r.status_code}"
                except Exception as exc:  # noqa: BLE001 - a dropped connection counts as a crash sign
                    key = "transport error"
                    with lock:
                        errors.append(repr(exc)[:200])
                with lock:
                    statuses[key] += 1
                    if key.endswith(("500", "501", "502", "504")) or "UNKNOWN" in key or "INTERNAL" in key:
                        n = sum(statuses.values())
                        if len([f for f in out.iterdir()]) < 50:
                            (out / f"5xx-{n}-{route}-{signal}-{enc or 'identity'}.bin").write_bytes(body)

    def sample_rss() -> None:
        while time.monotonic() < stop:
            try:
                with open(f"/proc/{sp.proc.pid}/status") as fh:  # type: ignore[union-attr]
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            rss.append(int(line.split()[1]) * 1024)
            except OSError:
                pass
            time.sleep(1)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    threads.append(threading.Thread(target=sample_rss, daemon=True))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    alive = sp.proc is not None and sp.proc.poll() is None
    healthy = False
    if alive:
        try:
            healthy = httpx.get(f"{sp.url}/api/health", timeout=10).status_code == 200
            stats = httpx.get(f"{sp.url}/api/op/stats", timeout=60).json()
        except httpx.HTTPError:
            stats = {}
    else:
        stats = {}
    sp.stop()
    n = sum(statuses.values())
    five = sum(v for k, v in statuses.items() if k.split()[-1].isdigit() and 500 <= int(k.split()[-1]) < 600
               and not k.endswith("503"))
    grpc_internal = sum(v for k, v in statuses.items() if k in ("grpc UNKNOWN", "grpc INTERNAL"))
    return {"target": "server", "seed": seed, "clients": clients, "seconds": round(elapsed, 1), "inputs": n,
            "inputs_per_s": round(n / elapsed, 1), "statuses": dict(sorted(statuses.items())),
            "5xx": five, "grpc_unknown_or_internal": grpc_internal, "transport_errors": statuses["transport error"],
            "crashed": not (alive and healthy), "max_rss_mb": round(max(rss, default=0) / 2**20),
            "stored": {k: stats.get(k) for k in ("logs", "spans", "metric_points")}, "first_errors": errors[:5],
            "server_log": dict(server_log), "server_exceptions": sorted(set(tracebacks))[:10]}


def run_decoders_parallel(seconds: float, seed: int, procs: int, out: Path) -> dict[str, Any]:
    """``run_decoders`` in ``procs`` processes (seeds seed, seed+1, ...), summed."""
    if procs <= 1:
        return run_decoders(seconds, seed, out)
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        parts = pool.starmap(run_decoders, [(seconds, seed + i, out) for i in range(procs)])
    total: dict[str, Any] = {"target": "decoders", "seed": f"{seed}..{seed + procs - 1}", "procs": procs,
                             "seconds": max(p["seconds"] for p in parts)}
    for key in ("inputs", "records_kept", "records_rejected", "crashes", "violations"):
        total[key] = sum(p[key] for p in parts)
    total["inputs_per_s"] = round(total["inputs"] / total["seconds"])
    for key in ("by_kind", "outcomes"):
        c: Counter[str] = Counter()
        for p in parts:
            c.update(p[key])
        total[key] = dict(c)
    total["first_failures"] = [f for p in parts for f in p["first_failures"]][:10]
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=["decoders", "server", "both"], default="both")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--clients", type=int, default=max(2, min(8, os.cpu_count() or 2)))
    ap.add_argument("--procs", type=int, default=1, help="decoder processes (each its own seed)")
    ap.add_argument("--out", type=Path, default=None, help="where failing inputs are written")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="runbrief-fuzz-failures-"))
    out.mkdir(parents=True, exist_ok=True)
    results = []
    if args.target in ("decoders", "both"):
        results.append(run_decoders_parallel(args.seconds, args.seed, args.procs, out))
        print(json.dumps(results[-1], indent=1), flush=True)
    if args.target in ("server", "both"):
        results.append(run_server(args.seconds, args.seed, args.clients, out))
        print(json.dumps(results[-1], indent=1), flush=True)
    print(f"failing inputs (if any) in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
