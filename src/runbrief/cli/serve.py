"""`runbrief serve`: own the store, receive OTLP, answer the API and MCP."""


import gc
import ipaddress
import logging
import os
import signal
import socket
import sys
from typing import Annotated

import typer

from runbrief.cli import app
from runbrief.cli._common import StoreOpt
from runbrief.client import clear_address, write_address
from runbrief.errors import UsageError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it
    # each keep-alive request waits ~40 ms on Nagle + delayed ACK (measured: 16 ms -> 55-65 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --http-port, or 0") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@app.command()
def serve(
    store: StoreOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind; non-loopback needs --token.")] = "127.0.0.1",
    http_port: Annotated[int, typer.Option("--http-port", help="OTLP/HTTP, API, MCP and web port (0 = any free).")] = 4318,
    grpc_port: Annotated[int, typer.Option("--grpc-port", help="OTLP/gRPC port (0 = any free, -1 = off).")] = 4317,
    token: Annotated[str | None, typer.Option("--token", envvar="RUNBRIEF_TOKEN",
                                              help="Require 'Authorization: Bearer TOKEN' on every request.")] = None,
    no_jobs: Annotated[bool, typer.Option("--no-jobs", help="Do not run background detection and retention.")] = False,
    log_level: Annotated[str, typer.Option("--log-level")] = "warning",
    ingest_workers: Annotated[int | None, typer.Option(
        "--ingest-workers", help="Processes that decode, redact and distill incoming telemetry "
        "(default: one per core; 0 = all in the server process).")] = None,
) -> None:
    """Run the server: OTLP receiver (HTTP 4318, gRPC 4317), API, MCP and web page."""
    if not _is_loopback(host) and not token:
        raise UsageError(f"refusing to listen on {host} without a token: pass --token or set RUNBRIEF_TOKEN "
                         "(anyone who reaches the port could read and write your telemetry)")
    # The server's stack is imported here, not at module top: every other command starts without it.
    import uvicorn

    from runbrief.server.guard import check_token_strength

    if token is not None and (weak := check_token_strength(token)):
        raise UsageError(f"--token / RUNBRIEF_TOKEN: {weak}")

    from runbrief.server.app import RunbriefServer, ServerConfig, build_app
    from runbrief.server.otlp_grpc import start_grpc
    from runbrief.store.duck import Store

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sock = _bind(host, http_port)
    db = Store.open(store)
    config = ServerConfig(host=host, http_port=sock.getsockname()[1], grpc_port=grpc_port, token=token,
                          jobs=not no_jobs, ingest_workers=ingest_workers)
    server = RunbriefServer(db, config)
    grpc_server = None
    if grpc_port >= 0:
        try:
            grpc_server, config.grpc_port = start_grpc(server.ingestor, host, grpc_port, token=token)
        except (OSError, RuntimeError) as exc:
            server.close()
            db.close()
            raise UsageError(f"cannot listen for OTLP/gRPC on {host}:{grpc_port} ({exc}); "
                             "pick another --grpc-port, 0, or -1 to turn it off") from None
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{config.http_port}"
    write_address(db.path, url, token, server.local_secret)
    server.start_jobs()
    app = build_app(server)
    # What is alive now (modules, the app, the store) lives as long as the server: keep it
    # out of the cyclic GC's full collections, which the writer's allocations trigger.
    gc.freeze()
    uv = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False,
                                       timeout_graceful_shutdown=5))
    print(f"runbrief serving {db.path}", flush=True)
    if db.lost:
        print(f"warning: {db.lost}", file=sys.stderr, flush=True)
    print(f"  OTLP/HTTP, API, MCP, web: {url}  (http_port={config.http_port})", flush=True)
    if grpc_server is not None:
        print(f"  OTLP/gRPC: {url_host}:{config.grpc_port}  (grpc_port={config.grpc_port})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: setattr(uv, "should_exit", True))
    try:
        uv.run(sockets=[sock])
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=2).wait()
        server.close()
        clear_address(db.path)
        db.close()
        if os.environ.get("RUNBRIEF_DEBUG"):
            print("runbrief server stopped", file=sys.stderr)
