"""A tiny instrumented program for the trace tests: real SQLite through the OTel sqlite3
instrumentation, real HTTP on loopback through the OTel httpx instrumentation, against a
tiny pricing server that continues the trace (W3C traceparent) as its own service.

Each request handler is written the way the bug it shows is usually written.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SERVER = trace.SpanKind.SERVER


def provider(service: str, exporter: InMemorySpanExporter) -> TracerProvider:
    tp = TracerProvider(resource=Resource.create({"service.name": service, "service.version": "1"}))
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp


class PricingServer:
    """GET /price/<id>?ms=N (sleeps N ms), GET /big?bytes=N, GET /missing (404); traced as `pricing`."""

    def __init__(self, tp: TracerProvider) -> None:
        tracer = tp.get_tracer("pricing")

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                q = parse_qs(url.query)
                route = "/" + url.path.strip("/").split("/")[0]
                route = "/price/{id}" if route == "/price" else route
                ctx = propagate.extract(dict(self.headers))
                with tracer.start_as_current_span(f"GET {route}", context=ctx, kind=SERVER, attributes={
                    "http.request.method": "GET", "http.route": route, "url.path": url.path,
                }) as span:
                    if route == "/missing":
                        body, code = b"{}", 404
                    elif route == "/big":
                        body, code = b"x" * int(q.get("bytes", ["1000"])[0]), 200
                    else:
                        time.sleep(int(q.get("ms", ["0"])[0]) / 1000)
                        body, code = b'{"price": 12.5}', 200
                    span.set_attribute("http.response.status_code", code)
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _body_size(span: Any, request: Any, response: Any) -> None:
    # Record the response size the way a user would, from Content-Length.
    headers = response[1] if isinstance(response, tuple) else response.headers
    for k, v in (headers.raw if hasattr(headers, "raw") else headers):
        if k.lower() == b"content-length":
            span.set_attribute("http.response.body.size", int(v))


class Shop:
    """The program under observation: a shop service with a database and a pricing client."""

    def __init__(self, tp: TracerProvider, pricing_url: str) -> None:
        self.tracer = tp.get_tracer("shop.app")
        raw = sqlite3.connect(":memory:", check_same_thread=False)
        raw.create_function("sleep_ms", 1, lambda ms: time.sleep(ms / 1000) or ms)
        raw.executescript(
            """CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL);
               CREATE TABLE cart_items (id INTEGER PRIMARY KEY, cart_id INTEGER, product_id INTEGER);"""
        )
        raw.executemany("INSERT INTO products VALUES (?, ?, ?)", [(i, f"p{i}", i * 1.5) for i in range(1, 40)])
        raw.executemany("INSERT INTO cart_items (cart_id, product_id) VALUES (?, ?)", [(1, i) for i in range(1, 13)])
        self.db = SQLite3Instrumentor.instrument_connection(raw, tracer_provider=tp)
        self.http = httpx.Client(base_url=pricing_url, timeout=10)
        HTTPXClientInstrumentor.instrument_client(self.http, tracer_provider=tp, response_hook=_body_size)

    def _request(self, method: str, route: str) -> Any:
        return self.tracer.start_as_current_span(f"{method} {route}", kind=SERVER, attributes={
            "http.request.method": method, "http.route": route, "url.path": route})

    def q(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        cur = self.db.cursor()
        cur.execute(sql, params)
        return cur.fetchall()

    # ---- requests -------------------------------------------------------------------
    def cart_n_plus_one(self) -> str:
        """GET /cart: one query per cart line (the N+1), 12 lines × ~5 ms."""
        with self._request("GET", "/cart") as span:
            with self.tracer.start_as_current_span("load_cart", attributes={
                    "code.function": "load_cart", "code.namespace": "shop.cart", "code.filepath": "shop/cart.py"}):
                lines = self.q("SELECT id, product_id FROM cart_items WHERE cart_id = ?", (1,))
                for _, pid in lines:
                    self.q("SELECT name, price, sleep_ms(5) FROM products WHERE id = ?", (pid,))
            return format(span.get_span_context().trace_id, "032x")

    def cart_joined(self) -> str:
        """GET /cart, fixed: one JOIN."""
        with self._request("GET", "/cart") as span:
            with self.tracer.start_as_current_span("load_cart", attributes={"code.function": "load_cart"}):
                self.q("SELECT p.name, p.price, sleep_ms(5) FROM cart_items c JOIN products p ON p.id = c.product_id "
                       "WHERE c.cart_id = ?", (1,))
            return format(span.get_span_context().trace_id, "032x")

    def checkout(self) -> str:
        """POST /checkout: three slow sequential calls to different endpoints, the same price
        fetched three times, a failed audit insert swallowed, and a big catalog download."""
        with self._request("POST", "/checkout") as span:
            self.q("SELECT id, product_id FROM cart_items WHERE cart_id = ?", (1,))
            for path in ("/price/1?ms=110", "/stock?ms=110", "/tax?ms=110"):
                self.http.get(path)
            for _ in range(3):
                self.http.get("/price/7?ms=3")
            with contextlib.suppress(sqlite3.OperationalError):  # the bug: the audit failure is swallowed
                self.q("INSERT INTO audit_log VALUES (?)", ("checkout",))
            self.http.get("/big?bytes=400000")
            return format(span.get_span_context().trace_id, "032x")

    def report(self) -> str:
        """GET /report: a slow query, three independent unfiltered queries in a row, and
        150 ms of uninstrumented work."""
        with self._request("GET", "/report") as span:
            self.q("SELECT sleep_ms(1020), count(*) FROM products WHERE price > ?", (3,))
            time.sleep(0.15)
            for _ in ("a", "b", "c"):
                self.q(f"SELECT sleep_ms(60), count(*), '{_}' FROM products")
            return format(span.get_span_context().trace_id, "032x")

    def quote(self) -> str:
        """GET /quote: one pricing call per item (N+1 over HTTP)."""
        with self._request("GET", "/quote") as span:
            for i in range(1, 7):
                self.http.get(f"/price/{i}?ms=20")
            return format(span.get_span_context().trace_id, "032x")

    def close(self) -> None:
        self.http.close()
