"""The HTTP API: every operation at ``/api/op/<name>``, plus health and the op list.

POST takes the parameters as a JSON object; GET takes them as query parameters (coerced
to the operation's annotated types). Errors map once, here, to a status and a message.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runbrief import ops
from runbrief.errors import RunbriefError, UsageError
from runbrief.server.app import health

__all__ = ["routes", "alias_routes", "json_response"]


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=str), status,
                    media_type="application/json")


async def run_op(request: Request) -> Response:
    name = request.path_params["name"]
    server = request.app.state.runbrief
    try:
        if request.method == "POST":
            raw = await request.body()
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
        # Ops are synchronous library calls (DuckDB releases the GIL): run them off the loop.
        result = await asyncio.to_thread(ops.run, server.store, op.name, params, coerce=coerce)
    except RunbriefError as exc:
        return json_response({"error": str(exc), "type": type(exc).__name__}, exc.http_status)
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
