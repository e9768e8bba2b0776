"""Route modules mounted by the server app; each exposes ``routes: list[BaseRoute]``.

Each area adds its own line; the app imports them in this order.
"""

from __future__ import annotations

ROUTE_MODULES = [
    "runbrief.server.otlp_http",
    "runbrief.server.api",
    "runbrief.server.web",
    "runbrief.server.mcp_http",
    "runbrief.server.deploys_http",
    "runbrief.server.drains",
    "runbrief.server.sentry_http",
]
