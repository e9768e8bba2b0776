"""``POST /api/<project>/envelope/`` (and the older ``/store/``): Sentry SDKs sending to runbrief.

Set an app's DSN to ``http://<key>@127.0.0.1:4318/<project>`` and its Sentry SDK sends its
transactions, errors and logs here, as it would to Sentry (``runbrief.ingest.sentry`` reads
them). The project number becomes nothing more than a fallback service name
(``sentry-<project>``); the release (``shop@2.0.0``) names the service.

Authentication is what the SDK can send: the DSN's public key, in ``X-Sentry-Auth:
Sentry sentry_key=<key>, …`` or the ``sentry_key`` query parameter, compared in constant
time with ``RUNBRIEF_SENTRY_KEY``. With no ``--token`` (loopback), any key is taken unless
that setting is set; with a token, the key must match it (or the request carry the bearer
token), else 401 naming the setting. The key is a write-only credential: it can add
telemetry, not read it, which is why it is apart from the token. The guard's Host, Origin
and content-type rules still hold, so a web page cannot post here (browser SDKs, which send
``text/plain``, are not taken).

Answers as Sentry's do: 200 with the event ID; 429 with ``Retry-After`` when the write
queue is full (the SDKs back off on 429); 400 naming what is wrong with an envelope; 413 over
the size limit.
"""

from __future__ import annotations

import asyncio
import hmac
import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runbrief import settings
from runbrief.errors import IngestError, Overloaded, RunbriefError
from runbrief.ingest._decode import TooLarge, decompress
from runbrief.server.bodies import read_body
from runbrief.server.guard import bearer_ok

__all__ = ["routes", "sentry_key_of"]

_KEY = re.compile(r"sentry_key\s*=\s*([^,\s]+)")


def sentry_key_of(request: Request) -> str:
    """The DSN key a Sentry SDK sent (``X-Sentry-Auth`` header, else the query string)."""
    m = _KEY.search(request.headers.get("x-sentry-auth", "") or request.headers.get("authorization", ""))
    return m.group(1) if m else request.query_params.get("sentry_key", "")


def _authorized(request: Request) -> str | None:
    """Why the request may not write, or None."""
    token = request.app.state.runbrief.config.token
    want = settings.get("sentry_key")
    got = sentry_key_of(request)
    if token and bearer_ok(request.headers.get("authorization"), token):
        return None
    if want:
        if got and hmac.compare_digest(got.encode("utf-8", "surrogateescape"), want.encode()):
            return None
        return "the DSN key does not match RUNBRIEF_SENTRY_KEY: set the app's DSN to http://<that key>@<host>/<project>"
    if token:
        return ("this server has a --token, so Sentry SDKs need a DSN key: set RUNBRIEF_SENTRY_KEY on the server "
                "and use it as the DSN's public key (http://<key>@<host>/<project>)")
    return None


async def receive(request: Request) -> Response:
    server = request.app.state.runbrief
    why = _authorized(request)
    if why:
        return JSONResponse({"detail": why}, 401)
    cfg = server.config
    try:
        body = await read_body(request, cfg.max_body_bytes)
        encoding = request.headers.get("content-encoding", "")
        inflated = decompress(body, encoding, cfg.max_decompressed_bytes)
        if inflated is None:
            return JSONResponse({"detail": f"unsupported content encoding {encoding!r}; use gzip, deflate or none"}, 415)
    except TooLarge:
        return JSONResponse({"detail": f"the envelope is over the limit ({cfg.max_body_bytes} bytes sent, "
                                       f"{cfg.max_decompressed_bytes} decompressed)"}, 413)
    except IngestError as exc:
        return JSONResponse({"detail": f"cannot decompress the body: {exc}"}, 400)
    from runbrief.ingest.sentry import SentryReader

    project = request.path_params["project"]
    reader = SentryReader(default_service=f"sentry-{project}")
    try:
        if request.url.path.rstrip("/").endswith("/store"):
            import orjson

            reader.value(orjson.loads(inflated))
        else:
            reader.envelope(inflated)
    except ValueError as exc:  # orjson's JSONDecodeError is a ValueError too
        return JSONResponse({"detail": f"not a Sentry envelope: {exc}"}, 400)
    event_id = _event_id(inflated)
    batch = reader.batch
    try:
        if len(batch):
            await server.submit(batch)
    except Overloaded as exc:
        return JSONResponse({"detail": str(exc)}, 429, headers={"Retry-After": str(exc.retry_after)})
    except RunbriefError as exc:
        retry = getattr(exc, "retry_after", None)
        return JSONResponse({"detail": str(exc)}, 429 if exc.http_status == 503 else exc.http_status,
                            headers={"Retry-After": str(retry)} if retry else None)
    await asyncio.sleep(0)
    out: dict[str, object] = {"id": event_id, "spans": len(batch.spans), "logs": len(batch.logs)}
    if reader.bad:
        out["rejected"] = reader.bad
        out["errors"] = reader.errors[:5]
    return JSONResponse(out)


def _event_id(body: bytes) -> str:
    import orjson

    head = body.split(b"\n", 1)[0]
    try:
        obj = orjson.loads(head)
    except orjson.JSONDecodeError:
        return ""
    return str(obj.get("event_id") or "") if isinstance(obj, dict) else ""


routes = [
    Route("/api/{project:int}/envelope/", receive, methods=["POST"]),
    Route("/api/{project:int}/envelope", receive, methods=["POST"]),
    Route("/api/{project:int}/store/", receive, methods=["POST"]),
    Route("/api/{project:int}/store", receive, methods=["POST"]),
]
