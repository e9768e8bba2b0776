"""End to end: the SDK exports over OTLP/HTTP to a real `runbrief serve`; the ops answer over HTTP."""

from __future__ import annotations

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from trace_shop import PricingServer, Shop

from runbrief.client import call


def test_latest_cart_summary_over_http(server) -> None:
    tp = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    # Batch export, as deployed: a synchronous export inside the request shows up as a gap.
    tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces")))
    pricing = PricingServer(tp)
    shop = Shop(tp, pricing.url)
    try:
        tid = shop.cart_n_plus_one()
    finally:
        shop.close()
        pricing.close()
        tp.shutdown()  # flushes
    r = httpx.get(f"{server.url}/api/op/trace_summary", params={"latest": "true", "route": "/cart"}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["trace_id"] == f"trc_{tid}"
    assert [p["type"] for p in body["problems"]] == ["n_plus_one_db"]
    # the CLI's client finds the server through server.json and gets the same answer
    assert call("trace_summary", {"id": tid}, store=server.store) == body
    missing = httpx.post(f"{server.url}/api/op/trace_show", json={"id": "trc_" + "0" * 32}, timeout=30)
    assert missing.status_code == 404 and "no trace" in missing.text
