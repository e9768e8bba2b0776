"""Labelled transactions made by the real Sentry SDK (sentry-sdk, MIT), for the trace detectors.

Each scenario is one transaction with a known problem, or with none: the SDK's own
SQLAlchemy integration over SQLite (a ``sleep_ms`` SQL function makes a query take real
time), its stdlib integration for HTTP calls to a local server, and its span API for cache
and file operations. ``LABELS`` says which runbrief problem types each one must raise.

    python tests/data/sentry/make_events.py --out tests/data/sentry/scenarios   # regenerate the files
    python tests/data/sentry/make_events.py --dsn http://key@127.0.0.1:4318/7   # send to a runbrief serve

With ``--out``, a local capture server stands in for Sentry and each envelope is written as the
SDK sent it (gzip removed), one file per scenario.
"""

from __future__ import annotations

import argparse
import contextvars
import gzip
import http.server
import json
import sqlite3
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# scenario -> the problem types runbrief must report for it (exactly)
LABELS: dict[str, list[str]] = {
    "n1-db": ["n_plus_one_db"],
    "n1-db-fast": [],  # the same loop, 8 queries well under 50 ms in all: not worth a problem
    "cache-loop": [],  # cache reads in a loop are not DB queries
    "truncated-queries": [],  # descriptions cut by the SDK cannot be compared
    "slow-db": ["slow_db"],
    "db-under-threshold": [],  # 600 ms: slow, but under the documented 1 s
    "parallel-http": ["n_plus_one_http"],
    "consecutive-db": ["consecutive_db"],
    "file-io": [],
    "plain": [],
}


class _Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        ms = int(self.path.rsplit("ms=", 1)[-1]) if "ms=" in self.path else 5
        time.sleep(ms / 1000)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Capture(http.server.BaseHTTPRequestHandler):
    got: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        _Capture.got.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _engine():  # noqa: ANN202
    from sqlalchemy import create_engine, event, text

    eng = create_engine("sqlite://")

    @event.listens_for(eng, "connect")
    def _fns(dbapi_con: sqlite3.Connection, _record: object) -> None:
        dbapi_con.create_function("sleep_ms", 1, lambda ms: time.sleep(ms / 1000) or ms)

    with eng.begin() as c:
        c.execute(text("create table customers(id integer primary key, name text)"))
        c.execute(text("create table orders(id integer primary key, customer_id integer, total real)"))
        c.execute(text("create table products(id integer primary key, title text)"))
        c.execute(text("create table stock(product_id integer, qty integer)"))
        for i in range(1, 9):
            c.execute(text("insert into customers values (:i, :n)"), {"i": i, "n": f"c{i}"})
            c.execute(text("insert into orders values (:i, :i, 10.0)"), {"i": i})
            c.execute(text("insert into products values (:i, :t)"), {"i": i, "t": f"p{i}"})
    return eng


def run(dsn: str) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration
    from sqlalchemy import text

    sentry_sdk.init(dsn=dsn, traces_sample_rate=1.0, release="shop@2.0.0", environment="prod",
                    server_name="web-1", integrations=[SqlalchemyIntegration()], default_integrations=True)
    eng = _engine()
    slow = _serve(_Slow)
    base = f"http://127.0.0.1:{slow.server_port}"

    def tx(name: str):  # noqa: ANN202
        return sentry_sdk.start_transaction(op="http.server", name=f"GET /{name}", source="route")

    with eng.connect() as c:
        with tx("n1-db"):
            ids = [r[0] for r in c.execute(text("select id, customer_id from orders")).fetchall()]
            for i in ids:
                c.execute(text("select name, sleep_ms(8) from customers where id = :i"), {"i": i}).fetchall()
        with tx("n1-db-fast"):
            ids = [r[0] for r in c.execute(text("select id, customer_id from orders")).fetchall()]
            for i in ids:
                c.execute(text("select name from customers where id = :i"), {"i": i}).fetchall()
        with tx("cache-loop"):
            for i in range(1, 9):
                with sentry_sdk.start_span(op="cache.get", name=f"product:{i}") as sp:
                    sp.set_data("cache.key", [f"product:{i}"])
                    sp.set_data("cache.hit", True)
                    time.sleep(0.01)
        with tx("truncated-queries"):
            for i in range(1, 9):
                with sentry_sdk.start_span(op="db", name=f"SELECT o.id, o.total, c.name FROM orders o JOIN customers c "
                                                        f"ON c.id = o.customer_id WHERE o.id IN ({i}, ..."):
                    time.sleep(0.01)
        with tx("slow-db"):
            c.execute(text("select count(*), sleep_ms(1100) from orders")).fetchall()
        with tx("db-under-threshold"):
            c.execute(text("select count(*), sleep_ms(600) from orders")).fetchall()
        with tx("consecutive-db"):
            c.execute(text("select count(*), sleep_ms(120) from customers")).fetchall()
            c.execute(text("select count(*), sleep_ms(120) from products")).fetchall()
            c.execute(text("select count(*), sleep_ms(120) from stock")).fetchall()
        with tx("plain"):
            c.execute(text("select id, name from customers where id = 1")).fetchall()
            urllib.request.urlopen(f"{base}/profile?ms=20").read()
            time.sleep(0.03)
            c.execute(text("select id, total from orders where customer_id = 1")).fetchall()
    with tx("parallel-http"):
        def get(i: int) -> None:
            urllib.request.urlopen(f"{base}/items/{i}?ms=60").read()

        with ThreadPoolExecutor(6) as ex:
            futs = [ex.submit(contextvars.copy_context().run, get, i) for i in range(1, 7)]
            for f in futs:
                f.result()
    with tx("file-io"):
        for name in ("config.yaml", "routes.yaml", "flags.json"):
            with sentry_sdk.start_span(op="file.read", name=f"read {name}") as sp:
                sp.set_data("file.path", f"/app/etc/{name}")
                time.sleep(0.04)
    sentry_sdk.flush(10)
    slow.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.dsn:
        run(args.dsn)
        return
    cap = _serve(_Capture)
    run(f"http://publickey@127.0.0.1:{cap.server_port}/7")
    args.out.mkdir(parents=True, exist_ok=True)
    for body in _Capture.got:
        lines = body.split(b"\n")
        item = json.loads(lines[1]) if len(lines) > 1 else {}
        if item.get("type") != "transaction":
            continue
        name = json.loads(lines[2])["transaction"].removeprefix("GET /")
        (args.out / f"{name}.envelope").write_bytes(body)
    (args.out / "labels.json").write_text(json.dumps(LABELS, indent=1) + "\n")
    cap.shutdown()


if __name__ == "__main__":
    main()
