"""Traces from a real instrumented program, encoded as OTLP and ingested like any other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from trace_shop import PricingServer, Shop, provider

from runbrief.ingest.otlp import decode_traces
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Deploy, LogRecord, Resource
from runbrief.store import writer
from runbrief.store.duck import Store


def ingest_spans(store: Store, exporter: InMemorySpanExporter) -> None:
    """The exporter's spans → OTLP protobuf → the lead's decoder → the pipeline."""
    body = encode_spans(exporter.get_finished_spans()).SerializeToString()
    Pipeline(store).write(decode_traces(body, "application/x-protobuf"))
    exporter.clear()


def write_logs(store: Store, logs: list[LogRecord]) -> None:
    with store.write() as con:
        writer.insert_logs(con, logs, store.next_ids("logs", len(logs)))


@dataclass
class ShopData:
    path: Path
    ids: dict[str, str] = field(default_factory=dict)
    deploy_ns: int = 0
    load_cart_span: str = ""


@pytest.fixture(scope="session")
def shop_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopData]:
    """One store holding one trace of each scenario, the /cart fix and regression split by a deploy."""
    exporter = InMemorySpanExporter()
    pricing = PricingServer(provider("pricing", exporter))
    shop = Shop(provider("shop", exporter), pricing.url)
    data = ShopData(tmp_path_factory.mktemp("traces") / "store")
    store = Store.open(data.path)
    try:
        data.ids["cart_joined"] = shop.cart_joined()
        ingest_spans(store, exporter)
        time.sleep(0.01)
        data.deploy_ns = time.time_ns()
        Pipeline(store).write(Batch(deploys=[Deploy(ts_ns=data.deploy_ns, service="shop", version="2")]))
        time.sleep(0.01)
        data.ids["cart"] = shop.cart_n_plus_one()
        spans = exporter.get_finished_spans()
        load_cart = next(s for s in spans if s.name == "load_cart")
        data.load_cart_span = format(load_cart.context.span_id, "016x")
        ingest_spans(store, exporter)
        write_logs(store, [
            LogRecord(ts_ns=load_cart.start_time + 1000, body="loading cart 1 with 12 lines", severity_text="INFO",
                      severity_number=9, resource=Resource({"service.name": "shop"}), trace_id=data.ids["cart"],
                      span_id=data.load_cart_span),
            LogRecord(ts_ns=load_cart.end_time, body="cart ready", severity_text="INFO", severity_number=9,
                      resource=Resource({"service.name": "shop"}), trace_id=data.ids["cart"]),
        ])
        for name in ("checkout", "report", "quote"):
            data.ids[name] = getattr(shop, name)()
            ingest_spans(store, exporter)
    finally:
        shop.close()
        pricing.close()
        store.close()
    yield data


@pytest.fixture
def shop_store(shop_data: ShopData) -> Iterator[Store]:
    s = Store.open(shop_data.path)
    yield s
    s.close()
