"""The MCP server over streamable HTTP at ``/mcp`` inside `runbrief serve`.

The same tools, resources and prompts as `runbrief mcp` (stdio), but the operations run
on the store this server already holds, in a worker thread, exactly as ``/api/op`` runs
them. The SDK's session manager needs a task group that lives as long as the app, so it is
started by the app's lifespan: ``build_app`` enters ``lifespan(server)`` of every route
module that has one; until it has run, ``/mcp`` answers 503 saying so.

Safety: the server binds loopback unless a token is set (checked for every route,
``/mcp`` included, by the app's middleware). On loopback the SDK's DNS-rebinding guard is
on too: a ``Host``/``Origin`` other than 127.0.0.1, localhost or [::1] is refused, so a web
page cannot drive the agent tools through the user's browser. Writes can be switched off
with ``RUNBRIEF_MCP_READ_ONLY=1``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from runbrief.server.app import RunbriefServer

__all__ = ["routes", "lifespan"]

PATH = "/mcp"

# The running session manager of each RunbriefServer (weak: tests build many servers).
_MANAGERS: weakref.WeakKeyDictionary[Any, StreamableHTTPSessionManager] = weakref.WeakKeyDictionary()


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _security(host: str) -> TransportSecuritySettings | None:
    if not _is_loopback(host):
        return None  # a non-loopback bind is token-protected by the app
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


@contextlib.asynccontextmanager
async def lifespan(server: RunbriefServer) -> AsyncIterator[None]:
    """Build the MCP server over ``server.store`` and run its session manager for the app's life."""
    from runbrief.agent.server import build_server, read_only_from_env, store_runner, warm_up

    mcp = build_server(store_runner(server.store), read_only=read_only_from_env())
    host = getattr(getattr(server, "config", None), "host", "127.0.0.1")
    # Built for its session manager, which the documented mounting pattern runs in the host
    # app's lifespan; requests then go straight to that manager (see _Endpoint).
    mcp.streamable_http_app(streamable_http_path=PATH, transport_security=_security(host), host=host)
    manager = mcp.session_manager
    warm_up()
    async with manager.run():
        _MANAGERS[server] = manager
        try:
            yield
        finally:
            _MANAGERS.pop(server, None)


class _Endpoint:
    """ASGI endpoint for ``/mcp``: hands the request to this app's session manager."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope.get("app")
        server = getattr(getattr(app, "state", None), "runbrief", None)
        manager = _MANAGERS.get(server) if server is not None else None
        if manager is None:
            resp = JSONResponse(
                {"error": "the MCP endpoint is not running in this server (its lifespan hook was not "
                          "started); use `runbrief mcp` over stdio meanwhile"},
                503,
            )
            await resp(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)


routes = [Route(PATH, endpoint=_Endpoint(), methods=["GET", "POST", "DELETE"])]
