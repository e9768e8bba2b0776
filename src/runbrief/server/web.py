"""The web page for humans: one static page that reads the same `/api/op/<name>` JSON.

No server-side templating: the page is a view over the API, like the CLI and MCP. Log
text and span attributes are inserted with ``textContent`` only, so untrusted content is
never interpreted as markup, and the Content-Security-Policy below forbids inline scripts
and styles, ``eval`` and every origin but this one (the charts library is vendored under
``static/vendor``: the page works offline).

Each view has its own path (``/incidents/inc_3``, ``/traces/trc_…``, ``/services/shop``…):
the server answers every such path with the same page, which reads ``location`` and draws
the view, so a link survives a reload and can be shared.
"""

from __future__ import annotations

from importlib import resources

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

__all__ = ["routes", "VIEWS", "CSP"]

_STATIC = resources.files("runbrief.server").joinpath("static")
_TYPES = {".js": "text/javascript", ".css": "text/css"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache"}
# The page's views: a list at /<view>, one object at /<view>/<id> (see static/app.js).
VIEWS = ("brief", "incidents", "changes", "patterns", "traces", "spans", "perf", "services", "deploys", "agents",
         "gate", "logs", "events")


async def index(request: Request) -> HTMLResponse:
    return HTMLResponse(_STATIC.joinpath("index.html").read_text(), headers=_HEADERS)


async def asset(request: Request) -> Response:
    """A file of static/ (subfolders allowed), by a path of plain names only."""
    parts = request.path_params["path"].split("/")
    name = parts[-1]
    suffix = name[name.rfind("."):] if "." in name else ""
    if suffix not in _TYPES or any(not p or p.startswith(".") or "\\" in p for p in parts):
        return Response("not found", 404)
    f = _STATIC
    for p in parts:
        f = f.joinpath(p)
    if not f.is_file():
        return Response("not found", 404)
    return Response(f.read_text(), media_type=_TYPES[suffix],
                    headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})




class _View(Convertor[str]):
    """A path segment naming one of the page's views (so other paths stay 404)."""

    regex = "|".join(VIEWS)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("rbview", _View())
routes = [Route("/", index), Route("/static/{path:path}", asset), Route("/{view:rbview}", index),
          Route("/{view:rbview}/{key}", index)]
