"""JSON request bodies parsed strictly, before FastAPI looks at them.

The standard library's `json.loads` accepts text no client should send and nothing downstream can carry: lone
UTF-16 surrogates (`"\\ud800"`, which UTF-8 cannot encode: pydantic then failed while *reporting* the bad
value, a 500 and a reset connection), `NaN` and `Infinity`. orjson refuses all of them, and is faster. Every
route of the API is a `StrictJSONRoute`: the body is parsed here and FastAPI reuses the result."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
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


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _why(message: str) -> str:
    if "surrogate" in message:
        return f"not valid JSON text: a string has a lone UTF-16 surrogate escape ({message})"
    return f"not valid JSON: {message}"
