"""What both BCF-compatible APIs share: who asks, the request's JSON, and one request as one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ...controller import Controller, Outcome
from ...controller.operations import apply_operations
from ...model import Intent, Operation
from ..errors import Refused, error
from .auth import Guard
from .paths import BadPath
from .refusal import Refusal

ACTOR_LIMIT = 64
INLINE_PARSE = 256 * 1024  # bytes of JSON parsed on the event loop (a port's body is a few KiB)


def guard(request: Request) -> Guard:
    found: Guard = request.app.state.bcf_guard
    return found


def who(request: Request) -> str:
    """Dependency: the authenticated user (the front door has checked writes already; this checks reads)."""
    return guard(request).who(request.headers)


User = Annotated[str, Depends(who)]


def controller(request: Request) -> Controller:
    ctl: Controller = request.app.state.controller
    ctl.refresh()
    return ctl


Ctl = Annotated[Controller, Depends(controller)]


async def json_body(request: Request, *, required: bool = True) -> Any:
    """The request's JSON (strictly parsed: no NaN, no lone surrogates); None for an empty body when not
    `required`. BCF clients send a body on every verb, `""` or `{}` where it means nothing."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise Refused(422, "this request needs a JSON body", field="body")
        return None
    try:
        if len(raw) > INLINE_PARSE:
            # A full sync of a large fabric is tens of MB: parsed off the event loop, as transactions are.
            return await run_in_threadpool(orjson.loads, raw)
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, f"not valid JSON: {exc}", field="body") from None


def json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Refused(422, f"the body must be a JSON object, not {type(value).__name__}", field="body")
    return value


Plan = Callable[[Intent], list[Operation]]


async def commit(ctl: Controller, plan: Plan, actor: str) -> Outcome:
    """One BCF request as one transaction: `plan` reads the intent the change lands on (under the write lock)
    and says the operations, which apply as one revision or not at all."""

    def change(base: Any) -> Intent:
        return apply_operations(base.intent, plan(base.intent))

    return await run_in_threadpool(ctl.commit, change, actor=actor[:ACTOR_LIMIT], operation="bcf")


def install_errors(app: FastAPI) -> None:
    """The BCF layer's own refusals as the API's JSON errors."""

    async def refusal(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Refusal)
        return error(exc.status, {"message": str(exc), "object": exc.where, "field": exc.field})

    async def path(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BadPath)
        return error(exc.status, {"message": str(exc), "object": None, "field": "path", "position": exc.position})

    app.add_exception_handler(Refusal, refusal)
    app.add_exception_handler(BadPath, path)
