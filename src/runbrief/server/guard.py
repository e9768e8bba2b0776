"""The door every HTTP request passes first: who may ask, from where, and how to write.

Threats (docs/security.md): a web page the user visits (it can make the browser send
"simple" cross-site requests to 127.0.0.1, or rebind a DNS name to it), other hosts on
the network, and local processes. The guard answers, in order:

1. **Host.** Bound to loopback, the server answers only ``Host: localhost / 127.0.0.1 /
   [::1]``: a rebound DNS name (``evil.example`` → 127.0.0.1) gets 421.
2. **Origin.** A browser request from another origin gets 403 (no CORS is served, so a
   page of ours is the only origin that may call us).
3. **Token.** With ``--token``, every route but ``/api/health`` and the web page's own
   document and assets (no data in them: ``_is_page``) needs ``Authorization:
   Bearer <token>`` (scheme case-insensitive, compared in constant time); the GitHub hook
   authenticates by its HMAC signature instead when ``RUNBRIEF_GITHUB_SECRET`` is set, and
   the platform drains (``/api/drains/``) check their own secrets or the token
   (``runbrief.server.drains``) before reading anything; a Sentry SDK's envelope
   (``/api/<project>/envelope/``) is checked against the DSN key (``RUNBRIEF_SENTRY_KEY``).
4. **Writes.** A POST must carry a JSON, OTLP or binary content type: the three a page may
   send without a CORS preflight (text/plain, form, multipart) or none at all are refused
   with 415, so no page can write through the user's browser. A drain takes the types its
   platform sends (``text/plain`` from Logpush too): it writes only with a secret no page knows. (GET writes nothing:
   ``runbrief.server.api`` refuses GET for an operation that writes.)
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Guard", "bearer_ok", "check_token_strength", "is_loopback", "MIN_TOKEN_LENGTH"]

MIN_TOKEN_LENGTH = 16
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_SIMPLE_TYPES = {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""}
_GITHUB_HOOK = "/api/hooks/github"
_DRAINS = "/api/drains/"
_OPEN = {"/api/health"}
# What Sentry SDKs POST to (``runbrief.server.sentry_http``): authenticated there by the DSN key.
_SENTRY = re.compile(r"^/api/\d{1,20}/(?:envelope|store)/?$")


def is_loopback(host: str) -> bool:
    """Is ``host`` (a name or address, with or without brackets) this machine only?"""
    h = host.strip("[]").lower()
    if h in _LOOPBACK_NAMES or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_token_strength(token: str) -> str | None:
    """Why ``token`` is too weak to guard telemetry, or None when it will do."""
    if token != token.strip() or any(c.isspace() for c in token):
        return "the token holds whitespace; use letters, digits and punctuation only"
    if len(token) < MIN_TOKEN_LENGTH:
        return (f"the token is {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return None


def bearer_ok(header: str | bytes | None, token: str) -> bool:
    """Does an ``Authorization`` value carry ``token``? (RFC 9110: the scheme is case-insensitive.)"""
    if not header or not token:
        return False
    value = header.decode("latin-1") if isinstance(header, bytes) else header
    scheme, _, cred = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(cred.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8"))


def _is_page(path: str) -> bool:
    """The web page's own document and assets: they hold no telemetry (every datum comes from
    ``/api/*``, which needs the token), so a browser tab can load them and then send the token
    it was given (``#token=…``) with its API calls."""
    if path == "/" or path.startswith("/static/"):
        return True
    from runbrief.server.web import VIEWS

    head = path.strip("/").split("/", 1)[0]
    return head in VIEWS and path.count("/") <= 2


def _host_name(value: str) -> str:
    """The host of a ``Host`` header (``[::1]:4318`` → ``::1``)."""
    return urlsplit("//" + value).hostname or ""


class Guard:
    """ASGI middleware applying the checks above to every HTTP request."""

    def __init__(self, app: ASGIApp, token: str | None, bind_host: str) -> None:
        self.app = app
        self.token = token
        self.loopback_only = is_loopback(bind_host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self.problem(scope)
        if problem is not None:
            status, message = problem
            await JSONResponse({"error": message, "type": "Forbidden" if status != 401 else "Unauthorized"},
                               status)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def problem(self, scope: Scope) -> tuple[int, str] | None:
        headers: dict[bytes, bytes] = {}
        for k, v in scope.get("headers") or []:
            headers.setdefault(k, v)
        path: str = scope["path"]
        host = headers.get(b"host", b"").decode("latin-1")
        if self.loopback_only and not is_loopback(_host_name(host)):
            return 421, (f"this server listens on loopback and answers only Host: 127.0.0.1 or localhost, not "
                         f"{host[:100]!r} (a DNS-rebinding guard); connect to http://127.0.0.1:<port>")
        origin = headers.get(b"origin")
        if origin is not None and origin != b"null":
            o = urlsplit(origin.decode("latin-1"))
            if o.netloc.lower() != host.lower():
                return 403, "cross-origin requests are refused: call the API from the same origin or without a browser"
        elif origin == b"null":
            return 403, "requests from an opaque origin (Origin: null) are refused"
        drain = path.startswith(_DRAINS)
        if self.token and path not in _OPEN and not drain and not _SENTRY.match(path) \
                and not (scope["method"] in ("GET", "HEAD") and _is_page(path)):
            signed_hook = path == _GITHUB_HOOK and os.environ.get("RUNBRIEF_GITHUB_SECRET")
            if not signed_hook and not bearer_ok(headers.get(b"authorization"), self.token):
                return 401, "missing or wrong bearer token (send Authorization: Bearer <token>)"
        if scope["method"] == "POST" and not path.startswith("/v1/") and not drain:  # OTLP checks its own types
            ctype = headers.get(b"content-type", b"").decode("latin-1").split(";", 1)[0].strip().lower()
            form_hook = (path == _GITHUB_HOOK and ctype == "application/x-www-form-urlencoded"
                         and os.environ.get("RUNBRIEF_GITHUB_SECRET"))
            if ctype in _SIMPLE_TYPES and not form_hook:
                if path == _GITHUB_HOOK:
                    return 415, ("a GitHub webhook is taken as application/json, or form-encoded only when signed: "
                                 "set RUNBRIEF_GITHUB_SECRET to the webhook's secret")
                return 415, (f"a POST needs Content-Type application/json (OTLP: application/x-protobuf; "
                             f"log streams: application/octet-stream), not {ctype or 'none'!r}: "
                             "the types a web page may send unasked are refused")
        return None
