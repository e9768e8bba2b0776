"""The web page in a real headless Chromium against a real server: it renders the API's
data, and untrusted text stays text."""

from __future__ import annotations

import shutil
import subprocess
import time

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from runbrief.testing import ServerProcess

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")

EVIL = '<img src=x onerror="document.title=1">evil'


def _dump_dom(url: str, tmp_path) -> str:
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'chrome'}", "--virtual-time-budget=8000", "--dump-dom", url]
    return subprocess.run(args, capture_output=True, text=True, timeout=90).stdout


def test_services_view_renders_and_keeps_untrusted_text_inert(server: ServerProcess, tmp_path) -> None:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=[
        Span(trace_id=bytes(range(16)), span_id=bytes(range(8)), name="GET /cart",
             start_time_unix_nano=time.time_ns(), end_time_unix_nano=time.time_ns() + 5_000_000)])])
    rs.resource.attributes.add(key="service.name").value.string_value = EVIL
    r = httpx.post(f"{server.url}/v1/traces", content=ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString(),
                   headers={"content-type": "application/x-protobuf"})
    assert r.status_code == 200
    dom = _dump_dom(f"{server.url}/?view=services", tmp_path)
    assert 'data-loaded="services"' in dom
    assert "&lt;img src=x" in dom  # shown as text …
    assert "<img src=" not in dom  # … never as an element


def test_empty_store_tells_how_to_send_data(server: ServerProcess, tmp_path) -> None:
    dom = _dump_dom(f"{server.url}/?view=services", tmp_path)
    assert "No services yet" in dom
