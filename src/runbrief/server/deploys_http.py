"""HTTP routes for deploys, GitHub webhooks and streamed file ingest.

- ``POST /api/deploys`` — JSON ``{service, version, commit?, environment?, at?}`` → the
  deploy's evidence ID.
- ``POST /api/hooks/github`` — ``deployment_status`` and ``workflow_run`` webhooks as
  GitHub sends them (JSON or form-encoded ``payload=``). With ``RUNBRIEF_GITHUB_SECRET``
  set, ``X-Hub-Signature-256`` must match (401 otherwise); a malformed payload is a 400
  naming the field; events that mark no deploy (org- and app-level ones included) get
  202 with the reason; a redelivery or a deployment already recorded answers 200 with
  the deploy it made (``duplicate: true``), so retries are safe.
- ``POST /api/ingest`` — a log file's bytes streamed (chunked; ``Content-Encoding: gzip``
  accepted), parsed as they arrive (a platform's shape by its reader, else ``LogStream``). Query: ``name``, ``service``,
  ``format``, ``ref_ns``.

Bodies are read within the server's ``max_body_bytes`` (413 past it); a gzip upload to
``/api/ingest`` is inflated as it streams, every member, and may grow to at most
``max_decompressed_bytes`` plus ``INGEST_RATIO`` times what was sent (413 past it: real
logs shrink 5-30x, a bomb 1000x).

Every write goes through the server's write queue (``state.runbrief.submit``), so it is
serialized with OTLP ingest and durable when answered.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from runbrief import ids
from runbrief.errors import IngestError, Overloaded, RunbriefError, UsageError
from runbrief.ingest._decode import Gunzip, TooLarge
from runbrief.ingest.deploys import (
    deploy_from_github,
    find_deploy_id,
    find_github_duplicate,
    make_deploy,
    verify_signature,
)
from runbrief.ingest.pipeline import Batch
from runbrief.ingest.sentry import open_input as open_stream
from runbrief.server.bodies import read_body

__all__ = ["routes"]

_FEED_BYTES = 1 << 20
INGEST_RATIO = 100  # inflated bytes a compressed byte of /api/ingest may give, past the base limit


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=str), status,
                    media_type="application/json")


def _error(exc: RunbriefError) -> Response:
    resp = _json({"error": str(exc), "type": type(exc).__name__}, exc.http_status)
    if isinstance(exc, Overloaded):
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


async def _submit(server: Any, batch: Batch) -> dict[str, int]:
    """Submit, waiting out a full queue: a streamed upload is back-pressured, not refused."""
    for _ in range(6000):
        try:
            return await server.submit(batch)
        except Overloaded:
            await asyncio.sleep(0.05)
    raise Overloaded("the write queue stayed full for 5 minutes; retry later", retry_after=30)


async def _record_deploy(request: Request, deploy: Any) -> dict[str, Any]:
    server = request.app.state.runbrief
    await _submit(server, Batch(deploys=[deploy]))
    eid = await asyncio.to_thread(find_deploy_id, server.store, deploy)
    obj = await asyncio.to_thread(ids.resolve, server.store, eid)
    return {"id": eid, "deploy": obj}


async def post_deploy(request: Request) -> Response:
    try:
        raw = await read_body(request, request.app.state.runbrief.config.max_body_bytes)
        try:
            data = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError('send a JSON object: {"service": "checkout", "version": "1.4.2", '
                             '"commit": "…", "environment": "prod", "at": "2024-05-01T10:00:00Z"}')
        unknown = sorted(set(data) - {"service", "version", "commit", "environment", "at", "ts", "attributes"})
        if unknown:
            raise UsageError(f"unknown field(s) {', '.join(unknown)}; accepted: service, version, commit, "
                             "environment, at, attributes")
        attrs = data.get("attributes")
        if attrs is not None and not isinstance(attrs, dict):
            raise UsageError("attributes must be a JSON object")
        d = make_deploy(data.get("service"), data.get("version"), commit=data.get("commit"),
                        environment=data.get("environment"), at=data.get("at") or data.get("ts"),
                        source="api", attributes=attrs)
        return _json(await _record_deploy(request, d), 201)
    except RunbriefError as exc:
        return _error(exc)


async def github_hook(request: Request) -> Response:
    try:
        body = await read_body(request, request.app.state.runbrief.config.max_body_bytes)
    except TooLarge as exc:
        return _error(exc)
    secret = os.environ.get("RUNBRIEF_GITHUB_SECRET")
    if secret and not verify_signature(secret, body, request.headers.get("x-hub-signature-256")):
        return _json({"error": "X-Hub-Signature-256 is missing or does not match the configured secret "
                               "(RUNBRIEF_GITHUB_SECRET)"}, 401)
    event = request.headers.get("x-github-event", "")
    if not event:
        return _json({"error": "missing the X-GitHub-Event header; is this a GitHub webhook?"}, 400)
    if event == "ping":
        return _json({"ok": True, "event": "ping"})
    try:
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = parse_qs(body.decode("utf-8", "replace"))
            if "payload" not in form:
                raise IngestError("malformed form-encoded webhook: no payload field")
            raw: bytes | str = form["payload"][0]
        else:
            raw = body
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"malformed {event} payload: not JSON ({exc})") from None
        result = deploy_from_github(event, payload, dict(request.query_params))
        if isinstance(result, str):
            return _json({"ignored": result, "event": event}, 202)
        delivery = request.headers.get("x-github-delivery", "").strip()[:200]
        if delivery:
            result.attributes["github.delivery"] = delivery
        server = request.app.state.runbrief
        # check-then-write under one lock: two deliveries of one deployment racing make one deploy
        lock = getattr(server, "_github_hook_lock", None)
        if lock is None:
            lock = server._github_hook_lock = asyncio.Lock()
        async with lock:
            dup = await asyncio.to_thread(find_github_duplicate, server.store, result, delivery)
            if dup is not None:
                obj = await asyncio.to_thread(ids.resolve, server.store, dup)
                return _json({"id": dup, "deploy": obj, "duplicate": True}, 200)
            return _json(await _record_deploy(request, result), 201)
    except RunbriefError as exc:
        return _error(exc)


async def ingest_stream(request: Request) -> Response:
    server = request.app.state.runbrief
    q = request.query_params
    try:
        ref = q.get("ref_ns")
        stream = open_stream(q.get("name") or "stdin", service=q.get("service") or None,
                           fmt=q.get("format") or "auto", ref_ns=int(ref) if ref and ref.isdigit() else None)
    except (RunbriefError, ValueError) as exc:
        return _error(exc if isinstance(exc, RunbriefError) else UsageError(str(exc)))
    cfg = server.config
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        return _error(UsageError(f"unsupported content encoding {encoding!r}; send gzip or none"))
    gz = Gunzip(cfg.max_decompressed_bytes) if encoding in ("gzip", "x-gzip") else None
    sent = 0
    pending: list[bytes] = []
    size = 0

    async def feed(data: bytes) -> None:
        for b in await asyncio.to_thread(stream.feed, data):
            await _submit(server, b)

    try:
        async for chunk in request.stream():
            if gz is not None:
                sent += len(chunk)
                gz.limit = cfg.max_decompressed_bytes + INGEST_RATIO * sent
            try:
                for piece in gz.feed(chunk) if gz is not None else (chunk,):  # 1 MiB at a time
                    pending.append(piece)
                    size += len(piece)
                    if size >= _FEED_BYTES:
                        data, pending, size = b"".join(pending), [], 0
                        await feed(data)
            except zlib.error as exc:
                stream.stats.errors.append(f"the gzip body is corrupt ({exc}); what came before was kept")
                break
        else:
            if gz is not None and not gz.complete:
                stream.stats.errors.append("the gzip body is truncated; what came before the cut was kept")
        if pending:
            await feed(b"".join(pending))
        for b in await asyncio.to_thread(stream.close):
            await _submit(server, b)
    except ClientDisconnect:
        # the sender went away: keep every complete line it sent (nobody reads the answer)
        for b in await asyncio.to_thread(stream.close):
            await _submit(server, b)
        return Response(status_code=499)
    except TooLarge:
        # What came before the cut is stored; the sender is told the rest was refused.
        for b in await asyncio.to_thread(stream.close):
            await _submit(server, b)
        return _json({**stream.stats.as_dict(), "error": (
            f"the gzip body inflates past {gz.limit if gz else 0} bytes ({sent} sent); a compression bomb "
            "is refused — the lines before the cut were stored; send the file uncompressed if it is real"),
            "type": "TooLarge"}, 413)
    except RunbriefError as exc:
        if not (stream.stats.logs or stream.stats.events):
            return _error(exc)
        stream.stats.errors.append(str(exc))
    return _json(stream.stats.as_dict())


routes = [
    Route("/api/deploys", post_deploy, methods=["POST"]),
    Route("/api/hooks/github", github_hook, methods=["POST"]),
    Route("/api/ingest", ingest_stream, methods=["POST"]),
]
