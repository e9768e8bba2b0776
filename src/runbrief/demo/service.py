"""Process entry point for one demo service: ``python -m runbrief.demo.service shop ...``.

Telemetry is configured before the app exists, the instrumentations (Starlette, sqlite3,
httpx) wrap the real libraries, and the server listens on a socket bound to a free port
on 127.0.0.1. The port goes to ``--ready-file``. On SIGTERM or SIGINT uvicorn finishes
the requests in flight, then every span and log still queued is flushed before exit.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from pathlib import Path

__all__ = ["main"]


def _write_ready(path: Path, port: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"port": port, "pid": os.getpid()}))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="runbrief.demo.service", description="Run one service of the runbrief demo shop.")
    p.add_argument("service", choices=["shop", "inventory"])
    p.add_argument("--version", required=True, help="service.version to report")
    p.add_argument("--otlp", required=True, help="OTLP/HTTP base URL, e.g. http://127.0.0.1:4318")
    p.add_argument("--db", required=True, type=Path, help="the service's SQLite database")
    p.add_argument("--inventory-url", default="", help="where the shop reaches inventory")
    p.add_argument("--ready-file", required=True, type=Path, help="written with the port once listening")
    p.add_argument("--clock-file", type=Path, default=None, help="the demo's fast-forward minutes (see clock.py)")
    args = p.parse_args(argv)

    # Readiness probes are not traffic (read when the instrumentation is imported).
    os.environ["OTEL_PYTHON_STARLETTE_EXCLUDED_URLS"] = "/health"
    # The stable HTTP and database conventions (http.request.method, db.query.text), as new apps emit.
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "http,database"
    from runbrief.demo.telemetry import setup_telemetry

    shutdown = setup_telemetry(args.service, args.version, args.otlp, args.clock_file)

    # Instrument the libraries before any connection or client exists.
    import uvicorn
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
    from opentelemetry.instrumentation.starlette import StarletteInstrumentor

    SQLite3Instrumentor().instrument()
    HTTPXClientInstrumentor().instrument()

    if args.service == "shop":
        from runbrief.demo.shop import build_shop

        app = build_shop(args.version, args.db, args.inventory_url)
    else:
        from runbrief.demo.inventory import build_inventory

        app = build_inventory(args.version, args.db)
    StarletteInstrumentor.instrument_app(app)

    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every keep-alive request waits ~40 ms on Nagle + delayed ACK (measured).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=5))
    # uvicorn re-raises the signal that stopped it once it returns; these handlers take it,
    # so the flush below runs instead of the process dying with spans queued. A signal that
    # lands before uvicorn installs its own handlers (the ready file is already written)
    # must still stop the server: the handler asks it to exit, which it checks at startup.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: setattr(server, "should_exit", True))
    _write_ready(args.ready_file, sock.getsockname()[1])
    try:
        server.run(sockets=[sock])
    finally:
        close = getattr(app.state, "close", None)
        if callable(close):
            close()
        shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
