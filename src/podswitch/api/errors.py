"""Every failure becomes JSON `{"error": {"message", "object", "field", ...}}` with a 4xx status. Nothing
the client sends may produce a 5xx; an unexpected exception is logged with its traceback and answered
with a 500 that says so, and the test suite (schemathesis) keeps that count at zero."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import ConfigError
from ..model import IntentError, InUse, NotFound
from .service import RevisionMismatch

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, *, field: str | None = None, object: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "object": object, "field": field, **extra}


def error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _loc(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.body)

    @app.exception_handler(IntentError)
    async def _intent(_: Request, exc: IntentError) -> JSONResponse:
        first = exc.first
        problems = [{"object": p.object, "field": p.field, "message": p.message} for p in exc.problems[:100]]
        return error(
            409 if exc.is_conflict else 422,
            {
                "message": str(first),
                "object": first.object,
                "field": first.field,
                "problems": problems,
                "problem_count": len(exc.problems),
            },
        )

    @app.exception_handler(ConfigError)
    async def _config(_: Request, exc: ConfigError) -> JSONResponse:
        problems = [
            {"line": p.line, "column": p.column, "message": p.message}
            for p in (getattr(exc, "problems", None) or [exc])[:100]
        ]
        return error(
            422,
            {
                "message": str(exc),
                "field": "running-config",
                "object": None,
                "line": exc.line,
                "column": exc.column,
                "problems": problems,
            },
        )

    @app.exception_handler(RevisionMismatch)
    async def _mismatch(_: Request, exc: RevisionMismatch) -> JSONResponse:
        return error(
            412,
            {
                "message": str(exc),
                "object": None,
                "field": "If-Match",
                "expected_revision": exc.expected,
                "revision": exc.current,
            },
            headers={"ETag": f'"{exc.current}"'},
        )

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error(404, {"message": str(exc), "object": exc.object, "field": None})

    @app.exception_handler(InUse)
    async def _in_use(_: Request, exc: InUse) -> JSONResponse:
        return error(
            409, {"message": str(exc), "object": exc.object, "field": None, "referenced_by": exc.referenced_by}
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        problems = [{"field": _loc(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in errors[:100]]
        first = problems[0] if problems else {"field": None, "message": "invalid request"}
        return error(
            422,
            {
                "message": f"{first['field']}: {first['message']}",
                "field": first["field"],
                "object": None,
                "problems": problems,
            },
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(
            exc.status_code,
            {"message": str(exc.detail), "object": None, "field": None},
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(
            500,
            {"message": f"internal error: {type(exc).__name__}; see the controller log", "object": None, "field": None},
        )
