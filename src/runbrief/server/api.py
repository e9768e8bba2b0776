"""The HTTP API: every operation at ``/api/op/<name>``, plus health and the op list.

POST takes the parameters as a JSON object; GET takes them as query parameters (coerced
to the operation's annotated types). Errors map once, here, to a status and a message.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runbrief import ops, trust
from runbrief.errors import RunbriefError, UsageError
from runbrief.server.app import health
from runbrief.server.bodies import read_body

__all__ = ["routes", "alias_routes", "json_response"]


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=str), status,
                    media_type="application/json")


class MethodNotAllowed(UsageError):
    http_status = 405


def _run_op(store: Any, name: str, params: dict[str, Any], coerce: bool, local: bool) -> Any:
    """Run as the local user (the secret of server.json came with it) or as a remote caller."""
    if local:
        return ops.run(store, name, params, coerce=coerce)
    with trust.remote("the HTTP API"):
        return ops.run(store, name, params, coerce=coerce)


async def run_op(request: Request) -> Response:
    name = request.path_params["name"]
    server = request.app.state.runbrief
    try:
        if request.method == "POST":
            raw = await read_body(request, server.config.max_body_bytes)  # 413 past the limit
            try:
                params = orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError as exc:
                raise UsageError(f"the request body is not JSON: {exc}") from None
            if not isinstance(params, dict):
                raise UsageError("the request body must be a JSON object of parameters")
            coerce = False
        else:
            params = dict(request.query_params)
            coerce = True
        op = ops.get(name)
        # Ops are synchronous library calls (DuckDB releases the GIL): run them off the loop,
        # as a remote caller's: it names no file to read and no code to run (runbrief.trust).
        if request.method == "GET" and not op.read_only:
            raise MethodNotAllowed(f"{op.name} writes: call it with POST and a JSON object of parameters")
        local = hmac.compare_digest(request.headers.get(trust.LOCAL_HEADER, "").encode(), server.local_secret.encode())
        result = await asyncio.to_thread(_run_op, server.store, op.name, params, coerce, local)
    except RunbriefError as exc:
        resp = json_response({"error": str(exc), "type": type(exc).__name__}, exc.http_status)
        if getattr(exc, "retry_after", None):
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except TypeError as exc:  # a parameter of the wrong type reached the function
        return json_response({"error": f"{name}: {exc}", "type": "UsageError"}, 400)
    return json_response(result)


async def list_ops(request: Request) -> JSONResponse:
    return JSONResponse({"operations": [
        {"name": o.name, "read_only": o.read_only, "summary": o.summary, "params": list(o.params())}
        for o in ops.all_operations()
    ]})


routes = [
    Route("/api/health", health, methods=["GET"]),
    Route("/api/ops", list_ops, methods=["GET"]),
    Route("/api/op/{name}", run_op, methods=["GET", "POST"]),
]

alias_routes = [Route("/api/{name}", run_op, methods=["GET", "POST"])]
