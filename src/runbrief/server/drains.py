"""``POST /api/drains/<platform>``: logs pushed by the platforms, authenticated as each can.

A platform cannot send runbrief's ``Authorization: Bearer`` token (Heroku puts
credentials in the drain URL, Vercel signs the body, Firehose sends an access-key
header), so each drain checks its own secret, from the environment
(``RUNBRIEF_<PLATFORM>_DRAIN_SECRET``, ``runbrief.settings``) or the server's
``runbrief.toml`` (``[drains.<platform>] secret = "…"``), in constant time:

- heroku: HTTP Basic (``https://user:SECRET@host/api/drains/heroku?app=NAME``), the password;
- vercel: ``x-vercel-signature``, HMAC-SHA1 of the body with the drain's secret;
  ``RUNBRIEF_VERCEL_VERIFY`` is echoed as ``x-vercel-verify`` on every answer;
- aws (Firehose HTTP endpoint): ``X-Amz-Firehose-Access-Key``; answers carry the
  ``requestId`` and ``timestamp`` Firehose requires;
- cloudflare, railway, supabase: ``X-Runbrief-Secret`` (a header the sender adds,
  e.g. Logpush's ``header_X-Runbrief-Secret=`` URL parameter) or HTTP Basic.

Every drain also takes the server's own ``--token`` as a Bearer token, and
``Authorization: Bearer <drain secret>``. A drain whose secret is not set, with no valid
bearer token, is refused (401) with the setting to set: nothing unauthenticated writes.
The guard's Host and Origin checks still apply; the content types the platforms send
(``application/logplex-1``, JSON, NDJSON, Logpush's ``text/plain``) pass it because the
secret, which a web page cannot know, is checked before the body is read (Vercel's signature
after it is read within the size limit, and before it is parsed).

A payload that is not the platform's shape is a 400 naming what was expected; one bad
record in a batch is counted (``rejected``) and named, the rest is stored.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runbrief import settings
from runbrief.errors import IngestError, Overloaded, RunbriefError
from runbrief.ingest._decode import TooLarge, decompress
from runbrief.ingest.pipeline import Batch
from runbrief.ingest.platforms import PLATFORMS, module
from runbrief.ingest.platforms._common import Ctx, Out
from runbrief.server.bodies import read_body
from runbrief.server.guard import bearer_ok

__all__ = ["routes", "secret_env", "authenticate", "configured"]


def secret_env(platform: str) -> str:
    return settings.SETTINGS[f"{platform}_drain_secret"].env


_TOML: dict[str, Any] = {"key": None, "drains": {}}


def _toml_drains() -> dict[str, Any]:
    """``[drains.<platform>]`` of the server's own ./runbrief.toml (re-read when it changes;
    never a file a request names)."""
    import tomllib

    from runbrief.evals.config import find_default

    path = find_default()
    if path is None:
        return {}
    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if _TOML["key"] != key:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            drains = data.get("drains") if isinstance(data.get("drains"), dict) else {}
            _TOML.update(key=key, drains=drains)
    except (OSError, ValueError):
        return {}
    return _TOML["drains"]


def configured(platform: str, name: str = "secret") -> str:
    """A drain's setting: the environment (``RUNBRIEF_<PLATFORM>_DRAIN_SECRET``,
    ``RUNBRIEF_VERCEL_VERIFY``) first, else ``[drains.<platform>] secret``/``verify`` in
    runbrief.toml."""
    env = settings.get(f"{platform}_drain_secret" if name == "secret" else f"{platform}_{name}")
    if env:
        return str(env)
    table = _toml_drains().get(platform)
    value = table.get(name) if isinstance(table, dict) else None
    return value if isinstance(value, str) else ""


def _eq(given: str | None, secret: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode("utf-8", "surrogateescape"), secret.encode())


def _basic_password(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, cred = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(cred.strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return password or user


def authenticate(platform: str, headers: Any, body: bytes, token: str | None) -> tuple[int, str] | None:
    """None when the request may write to this drain, else (status, reason)."""
    auth = headers.get("authorization")
    if token and bearer_ok(auth, token):
        return None
    secret = configured(platform)
    if not secret:
        also = " or send the server's --token as a Bearer token" if token else ""
        return 401, (f"the {platform} drain has no secret configured: set {secret_env(platform)} on the server "
                     f"(or [drains.{platform}] secret in its runbrief.toml){also}; see docs/platforms.md")
    if platform == "vercel":
        sig = headers.get("x-vercel-signature")
        want = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        if _eq(sig, want) or bearer_ok(auth, secret):
            return None
        return 401, f"x-vercel-signature is missing or is not the HMAC-SHA1 of the body with {secret_env(platform)}"
    if platform == "aws":
        if _eq(headers.get("x-amz-firehose-access-key"), secret) or bearer_ok(auth, secret):
            return None
        return 401, f"X-Amz-Firehose-Access-Key is missing or does not match {secret_env(platform)}"
    if _eq(_basic_password(auth), secret) or _eq(headers.get("x-runbrief-secret"), secret) or bearer_ok(auth, secret):
        return None
    how = ("HTTP Basic credentials (https://user:SECRET@host/...)" if platform == "heroku"
           else "X-Runbrief-Secret or HTTP Basic credentials")
    return 401, f"{how} missing or not matching {secret_env(platform)}"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data, default=str), status, headers=headers, media_type="application/json")


def _answer(platform: str, request: Request, body: Any, status: int, extra: dict[str, str],
            out: Out | None = None) -> Response:
    """The answer the platform expects (Firehose: requestId, timestamp, errorMessage)."""
    if platform == "aws":
        rid = request.headers.get("x-amz-firehose-request-id") or (out.state.get("firehose.request_id", "")
                                                                     if out is not None else "")
        # Firehose reads exactly these keys; what was stored goes in headers.
        fire: dict[str, Any] = {"requestId": rid, "timestamp": int(time.time() * 1000)}
        if status >= 400:
            fire["errorMessage"] = body.get("error", "") if isinstance(body, dict) else str(body)
        elif isinstance(body, dict):
            extra = {**extra, "x-runbrief-logs": str(body.get("logs", 0)),
                     "x-runbrief-rejected": str(body.get("rejected", 0))}
        return _json(fire, status, extra)
    return _json(body, status, extra)


async def drain(request: Request) -> Response:
    platform = request.path_params["platform"]
    extra: dict[str, str] = {}
    verify = configured("vercel", "verify") if platform == "vercel" else ""
    if verify:
        extra["x-vercel-verify"] = verify
    if platform not in PLATFORMS:
        return _json({"error": f"no drain for {platform!r}; drains: {', '.join(PLATFORMS)}"}, 404)
    server = request.app.state.runbrief
    cfg = server.config
    # Only Vercel's signature needs the body; every other drain is refused before it is read.
    problem = None if platform == "vercel" else authenticate(platform, request.headers, b"", cfg.token)
    if problem is not None:
        return _answer(platform, request, {"error": problem[1], "type": "Unauthorized"}, problem[0], extra)
    try:
        raw = await read_body(request, cfg.max_body_bytes)
    except TooLarge as exc:
        return _answer(platform, request, {"error": str(exc)}, 413, extra)
    problem = authenticate(platform, request.headers, raw, cfg.token) if platform == "vercel" else None
    if problem is not None:
        return _answer(platform, request, {"error": problem[1], "type": "Unauthorized"}, problem[0], extra)
    try:
        body = decompress(raw, request.headers.get("content-encoding", ""), cfg.max_decompressed_bytes)
        if body is None:
            raise IngestError(f"unsupported Content-Encoding {request.headers.get('content-encoding')!r}; "
                              "send gzip, deflate, zstd or none")
        if body[:2] == b"\x1f\x8b":  # gzipped without saying so (some Logpush and drain senders)
            body = decompress(body, "gzip", cfg.max_decompressed_bytes) or b""
        q = request.query_params
        named = q.get("service") or q.get("app") or ""
        out = Out(Ctx(service=named or platform, override=bool(q.get("service"))))
        if q.get("app"):
            out.ctx.service = q["app"]
        mod = module(platform)
        headers = {k.lower(): v for k, v in request.headers.items()}
        await asyncio.to_thread(mod.from_drain, body, out, headers)
        if out.state.get("ack") or (not body.strip() and platform == "vercel"):
            # a platform's check of a new destination (Logpush's test object, Vercel's empty test)
            return _answer(platform, request, {"logs": 0, "deploys": 0, "rejected": 0, "errors": [],
                                               "note": str(out.state.get("ack") or "a test delivery")}, 200, extra, out)
        if not out.logs and not out.deploys and (out.bad or body.strip()):
            raise IngestError(f"not a {platform} drain payload: expected {mod.EXPECTED}"
                              + (f" ({out.errors[0]})" if out.errors else ""))
        counts = await _submit(server, Batch(logs=out.logs, deploys=out.deploys))
        result = {"logs": counts.get("logs", 0), "deploys": counts.get("deploys", 0), "rejected": out.bad,
                  "errors": out.errors}
        return _answer(platform, request, result, 200, extra, out)
    except TooLarge as exc:
        return _answer(platform, request, {"error": str(exc)}, 413, extra)
    except RunbriefError as exc:
        resp = _answer(platform, request, {"error": str(exc), "type": type(exc).__name__}, exc.http_status, extra)
        if isinstance(exc, Overloaded):
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp


async def _submit(server: Any, batch: Batch) -> dict[str, int]:
    return await server.submit(batch)


async def verify(request: Request) -> Response:
    """Vercel checks a new drain's URL by asking for it: the answer carries ``x-vercel-verify``
    (it writes nothing; other drains take POST only)."""
    if request.path_params["platform"] != "vercel":
        return _json({"error": "a drain takes POST"}, 405, {"Allow": "POST"})
    value = configured("vercel", "verify")
    if not value:
        return _json({"error": "set RUNBRIEF_VERCEL_VERIFY to the value Vercel shows when you add the drain"}, 404)
    return _json({"ok": True}, 200, {"x-vercel-verify": value})


routes = [Route("/api/drains/{platform}", drain, methods=["POST"]),
          Route("/api/drains/{platform}", verify, methods=["GET"])]
