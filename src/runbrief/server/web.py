"""The web page for humans: one static page that reads the same `/api/op/<name>` JSON.

No server-side templating: the page is a view over the API, like the CLI and MCP. Log
text and span attributes are inserted with ``textContent`` only, so untrusted content is
never interpreted as markup.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

__all__ = ["routes"]

_STATIC = resources.files("runbrief.server").joinpath("static")
_TYPES = {".js": "text/javascript", ".css": "text/css"}


async def index(request: Request) -> HTMLResponse:
    return HTMLResponse(_STATIC.joinpath("index.html").read_text(),
                        headers={"Content-Security-Policy": "default-src 'self'; style-src 'self'"})


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    suffix = name[name.rfind("."):] if "." in name else ""
    if "/" in name or suffix not in _TYPES:
        return Response("not found", 404)
    f = _STATIC.joinpath(name)
    if not f.is_file():
        return Response("not found", 404)
    return Response(f.read_text(), media_type=_TYPES[suffix])


routes = [Route("/", index), Route("/static/{name}", asset)]
