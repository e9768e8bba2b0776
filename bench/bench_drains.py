#!/usr/bin/env python3
"""Platform drains against OTLP/HTTP: records/s through a real `runbrief serve`, same records.

The same Loghub lines (10 services, batches of BENCH_BATCH records) are sent, in the same
run, as OTLP/HTTP protobuf to ``/v1/logs`` and as each platform's drain body to
``/api/drains/<platform>`` (Vercel NDJSON signed with HMAC-SHA1, Heroku logplex frames with
Basic auth, a Firehose request of gzipped CloudWatch subscriptions), from several
connections, each waiting for its acknowledgement (committed) before the next send. Each
transport gets a fresh server and store. The issue's bar: a drain sustains at least half
the OTLP/HTTP rate.

    .venv/bin/python bench/bench_drains.py [--records 100000] [--conns 4]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import hmac
import json
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from runbrief.testing import ServerProcess

LOGHUB = Path(__file__).resolve().parents[1] / "tests" / "data" / "loghub-2k"
BATCH = 2000
SECRET = "bench-drain-secret-0123456789abcdef"
T0 = time.time_ns() - 3600 * 10**9


def _lines() -> list[str]:
    out: list[str] = []
    for f in sorted(LOGHUB.glob("*/*_2k.log")):
        out.extend(f.read_text(errors="replace").splitlines())
    return out


def batches(n: int) -> list[tuple[str, list[tuple[int, str]]]]:
    rng = random.Random(7)
    lines = _lines()
    return [(f"svc-{b % 10:02d}", [(T0 + (b * BATCH + i) * 1_000_000, rng.choice(lines)) for i in range(BATCH)])
            for b in range(n // BATCH)]


def otlp_body(svc: str, recs: list[tuple[int, str]]) -> tuple[str, bytes, dict[str, str]]:
    req = ExportLogsServiceRequest()
    rl = ResourceLogs(scope_logs=[ScopeLogs()])
    rl.resource.attributes.add(key="service.name").value.string_value = svc
    for ts, line in recs:
        lr = LogRecord(time_unix_nano=ts, severity_number=9)
        lr.body.string_value = line
        rl.scope_logs[0].log_records.append(lr)
    req.resource_logs.append(rl)
    return "/v1/logs", req.SerializeToString(), {"content-type": "application/x-protobuf"}


def vercel_body(svc: str, recs: list[tuple[int, str]]) -> tuple[str, bytes, dict[str, str]]:
    body = b"\n".join(json.dumps({"id": str(ts), "deploymentId": "dpl_bench", "source": "lambda", "level": "info",
                                  "timestamp": ts // 10**6, "projectId": f"prj_{svc}", "projectName": svc,
                                  "message": line}).encode() for ts, line in recs)
    sig = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    return "/api/drains/vercel", body, {"content-type": "application/x-ndjson", "x-vercel-signature": sig}


def heroku_body(svc: str, recs: list[tuple[int, str]]) -> tuple[str, bytes, dict[str, str]]:
    frames = []
    for ts, line in recs:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts / 1e9)) + f".{ts // 1000 % 10**6:06d}+00:00"
        msg = f"<190>1 {stamp} host app web.1 - {line}\n".encode()
        frames.append(str(len(msg)).encode() + b" " + msg)
    auth = "Basic " + base64.b64encode(f"runbrief:{SECRET}".encode()).decode()
    return (f"/api/drains/heroku?app={svc}", b"".join(frames),
            {"content-type": "application/logplex-1", "authorization": auth, "logplex-msg-count": str(len(recs))})


def aws_body(svc: str, recs: list[tuple[int, str]]) -> tuple[str, bytes, dict[str, str]]:
    sub = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": f"/aws/lambda/{svc}",
           "logStream": "2024/05/09/[$LATEST]abc", "subscriptionFilters": ["bench"],
           "logEvents": [{"id": str(ts), "timestamp": ts // 10**6, "message": line} for ts, line in recs]}
    data = base64.b64encode(gzip.compress(json.dumps(sub).encode(), 1)).decode()
    body = json.dumps({"requestId": "bench", "timestamp": int(time.time() * 1000), "records": [{"data": data}]})
    return "/api/drains/aws", body.encode(), {"content-type": "application/json", "x-amz-firehose-access-key": SECRET}


def run(make, data: list[tuple[str, list[tuple[int, str]]]], conns: int) -> float:  # type: ignore[no-untyped-def]
    bodies = [make(svc, recs) for svc, recs in data]
    env = {f"RUNBRIEF_{p}_DRAIN_SECRET": SECRET for p in ("HEROKU", "VERCEL", "AWS")}
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(Path(tmp) / "s", jobs=False, grpc=False, env=env) as sp:
        with httpx.Client(timeout=60) as warm:  # the workers start on the first request
            path, body, headers = bodies[0]
            assert warm.post(sp.url + path, content=body, headers=headers).status_code == 200
        chunks = [bodies[1 + i::conns] for i in range(conns)]

        def send(chunk: list[tuple[str, bytes, dict[str, str]]]) -> None:
            with httpx.Client(timeout=120) as c:
                for path, body, headers in chunk:
                    r = c.post(sp.url + path, content=body, headers=headers)
                    assert r.status_code == 200, (path, r.status_code, r.text[:200])

        t = time.perf_counter()
        with ThreadPoolExecutor(conns) as ex:
            list(ex.map(send, chunks))
        return (len(bodies) - 1) * BATCH / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--conns", type=int, default=4)
    args = ap.parse_args()
    data = batches(args.records + BATCH)
    otlp_rate = run(otlp_body, data, args.conns)
    out = {"records": args.records, "conns": args.conns, "otlp_http": round(otlp_rate)}
    for name, make in (("vercel", vercel_body), ("heroku", heroku_body), ("aws_firehose", aws_body)):
        rate = run(make, data, args.conns)
        out[name] = round(rate)
        out[f"{name}_vs_otlp"] = round(rate / otlp_rate, 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
