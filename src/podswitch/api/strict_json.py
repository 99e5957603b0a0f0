"""JSON request bodies parsed strictly, before FastAPI looks at them.

The standard library's `json.loads` accepts text no client should send and nothing downstream can carry: lone
UTF-16 surrogates (`"\\ud800"`, which UTF-8 cannot encode: pydantic then failed while *reporting* the bad
value, a 500 and a reset connection), `NaN` and `Infinity`. orjson refuses all of them, and is faster. Every
route of the API is a `StrictJSONRoute`: the body is parsed here and FastAPI reuses the result.

A query parameter the route does not take is refused (422, naming it) rather than ignored: a misspelt
`?dry-run=true` on `PUT /v1/running-config` would otherwise replace all intent instead of planning it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = _query_names(self.dependant)

        async def strict(request: Request) -> Response:
            unknown = [name for name in request.query_params if name not in known]
            if unknown:
                takes = f"it takes {', '.join(sorted(known))}" if known else "it takes none"
                raise RequestValidationError(
                    [
                        {
                            "type": "query_unknown",
                            "loc": ("query", unknown[0]),
                            "msg": f"{request.method} {self.path} has no query parameter '{unknown[0][:40]}'; {takes}",
                            "input": None,
                        }
                    ]
                )
            if _is_json(request.headers.get("content-type")):
                body = await request.body()
                if body:
                    try:
                        request._json = orjson.loads(body)  # FastAPI's request.json() returns this
                    except orjson.JSONDecodeError as exc:
                        raise RequestValidationError(
                            [{"type": "json_invalid", "loc": ("body",), "msg": _why(str(exc)), "input": None}]
                        ) from None
            return await handler(request)

        return strict


def _query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route takes, its dependencies' included."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _why(message: str) -> str:
    if "surrogate" in message:
        return f"not valid JSON text: a string has a lone UTF-16 surrogate escape ({message})"
    return f"not valid JSON: {message}"
