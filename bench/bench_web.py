"""The web page's render time for big data, measured in the real browser (issue 22).

Targets: a 5,000-span trace's waterfall and a week of per-minute rates render in under a
second. "Render" is the page's own `performance.now()` from a view's start (before its
first API call) to two animation frames after its DOM and charts are built (the view's
``data-render-ms``), opened by a fresh navigation each run: the operations' time on the
server, the JSON, building the DOM and drawing the uPlot canvases all count.

    .venv/bin/python bench/bench_web.py [--runs 7] [--spans 5000,20000] [--weeks 1,4]

Data: traces of N spans (a 10-ary tree, posted as OTLP protobuf to a real `runbrief serve`),
and W weeks of one log line a minute (ingested from a file by `runbrief ingest` before the
server starts). Needs Debian's chromium and playwright (the dev extra).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from playwright.sync_api import Page, sync_playwright

from runbrief.testing import ServerProcess

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def trace_body(tid: str, n: int) -> bytes:
    t0 = time.time_ns() - 3_600_000_000_000

    def sid(i: int) -> bytes:
        return (i + 1).to_bytes(8, "big")

    spans = [Span(trace_id=bytes.fromhex(tid), span_id=sid(i), parent_span_id=sid((i - 1) // 10) if i else b"",
                  name=f"SELECT {i % 7}" if i % 3 else f"handler {i}", start_time_unix_nano=t0 + i * 1_000_000,
                  end_time_unix_nano=t0 + (2 * n - i) * 1_000_000) for i in range(n)]
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    rs.resource.attributes.add(key="service.name").value.string_value = f"svc{n}"
    return ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString()


def render_ms(page: Page, url: str) -> tuple[int, dict[str, str]]:
    page.goto(url)
    page.wait_for_selector("#view[data-loaded]", timeout=60000)
    deadline = time.monotonic() + 30
    while not page.evaluate("[...document.querySelectorAll('figure.chart')].every(f => f.dataset.ready)"):
        if time.monotonic() > deadline:
            raise TimeoutError(url)
        time.sleep(0.02)
    info = page.evaluate("""() => ({rows: String(document.querySelectorAll('.wf-row').length),
        points: [...document.querySelectorAll('figure.chart')].map(f => f.dataset.points).join('/')})""")
    return int(page.locator("#view").get_attribute("data-render-ms")), info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--spans", default="5000,20000")
    ap.add_argument("--weeks", default="1,4")
    a = ap.parse_args()
    chromium = shutil.which("chromium")
    if not chromium:
        sys.exit("Debian's chromium is needed (apt-get install chromium)")
    root = Path(tempfile.mkdtemp(prefix="bench-web-"))
    store = root / "store"
    weeks = [int(w) for w in a.weeks.split(",") if w]
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    for w in weeks:
        minutes = w * 7 * 24 * 60
        start = end - timedelta(minutes=minutes)
        f = root / f"weeks{w}.log"
        f.write_text("".join(f"{(start + timedelta(minutes=m)).isoformat()} INFO tick {w} from worker {m % 5}\n"
                             for m in range(minutes)))
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "runbrief", "ingest", str(f), "--service", f"weeks{w}", "--store", str(store)],
                       check=True, capture_output=True)
        print(f"ingested {minutes} lines ({w} week(s)) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    rows = []
    with ServerProcess(store, jobs=False, grpc=False) as sp:
        traces = {}
        for n in [int(x) for x in a.spans.split(",") if x]:
            tid = f"{n:032x}"
            r = httpx.post(f"{sp.url}/v1/traces", content=trace_body(tid, n), headers={"content-type": "application/x-protobuf"},
                           timeout=120)
            r.raise_for_status()
            traces[n] = tid
        pats = {w: next(p["pattern_id"] for p in httpx.get(f"{sp.url}/api/op/patterns", params={"service": f"weeks{w}"}).json()["patterns"])
                for w in weeks}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            cases = [(f"waterfall, {n:,} spans", f"/traces/trc_{tid}") for n, tid in traces.items()]
            cases += [(f"pattern rate, {w} week(s) of minutes", f"/patterns/{pats[w]}") for w in weeks]
            cases += [(f"service page, {w} week(s) of minutes", f"/services/weeks{w}") for w in weeks]
            for label, path in cases:
                times, info = [], {}
                for _ in range(a.runs + 1):
                    ms, info = render_ms(page, sp.url + path)
                    times.append(ms)
                # the first open builds the trace's rows on the server (then cached per trace)
                rows.append((label, times[0], statistics.median(times[1:]), max(times[1:]), info))
            browser.close()
    print(f"| view | first open ms | median ms (next {a.runs}) | max ms | rows in the DOM | chart points |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for label, first, med, mx, info in rows:
        print(f"| {label} | {first} | {med:.0f} | {mx} | {info['rows']} | {info['points'] or '-'} |")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
