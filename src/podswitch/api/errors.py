"""Every failure becomes JSON `{"error": {"message", "object", "field", ...}}` with a 4xx status. Nothing
the client sends may produce a 5xx; an unexpected exception is logged with its traceback and answered
with a 500 that says so, and the test suite (schemathesis) keeps that count at zero. A fault of the database
(`StoreUnavailable`: stopped, unreachable, read-only, full) is no bug: 503 (507 when it is full) with
`Retry-After` and a message that says what is wrong, on whichever route needed the database.

Error bodies echo what the client sent (a bad name, a bad address). JSON text may carry anything, lone
UTF-16 surrogates included, which UTF-8 cannot encode: every string of an error body is made encodable
before it is sent, so a bad value can never turn a 4xx into a 500 and a reset connection."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import ConfigError
from ..controller import FORMAT_HEADER, OperationError, RevisionMismatch, StoreUnavailable, Unserved
from ..model import IntentError, InUse, NotFound

log = logging.getLogger(__name__)


class Refused(Exception):
    def __init__(
        self, status: int, message: str, *, field: str | None = None, object: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "object": object, "field": field, **extra}
        self.headers: dict[str, str] | None = None


def encodable(value: Any) -> Any:
    """`value` with every string made encodable as UTF-8 (lone surrogates become `\\udXXX` escapes)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(v) for v in value]
    return value


def error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": encodable(body)}, status_code=status, headers=headers)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    if len(loc) == 2 and loc[0] == "header":
        return "-".join(part.capitalize() for part in str(loc[1]).split("-"))  # as HTTP spells it: If-Match
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


# What a value that fails its schema pattern should have looked like, by field: a regex is no message.
_EXPECTED = {
    "If-Match": "If-Match must be one revision as an ETag, e.g. '\"42\"' (or '*')",
}


def _message(field: str, error: Mapping[str, Any]) -> str:
    if error.get("type") == "string_pattern_mismatch":
        expected = _EXPECTED.get(field)
        if expected is not None:
            return f"{expected}, not '{str(error.get('input', ''))[:40]}'"
        return f"'{str(error.get('input', ''))[:80]}' is not a valid {field.rpartition('.')[2] or 'value'}"
    return str(error.get("msg", "invalid"))


Answer = tuple[int, dict[str, Any], dict[str, str] | None]


def _api(exc: Refused) -> Answer:
    return exc.status, exc.body, exc.headers


def _intent(exc: IntentError) -> Answer:
    first = exc.first
    problems = [{"object": p.object, "field": p.field, "message": p.message} for p in exc.problems[:100]]
    body = {
        "message": str(first),
        "object": first.object,
        "field": first.field,
        "problems": problems,
        "problem_count": len(exc.problems),
    }
    return 409 if exc.is_conflict else 422, body, None


def _config(exc: ConfigError) -> Answer:
    problems = [{"line": p.line, "column": p.column, "message": p.message} for p in exc.problems[:100]]
    body = {
        "message": str(exc),
        "field": "running-config",
        "object": None,
        "line": exc.line,
        "column": exc.column,
        "problems": problems,
    }
    return 422, body, None


def _mismatch(exc: RevisionMismatch) -> Answer:
    body = {
        "message": str(exc),
        "object": None,
        "field": "If-Match",
        "expected_revision": exc.expected,
        "revision": exc.current,
    }
    return 412, body, {"ETag": f'"{exc.current}"'}


def _unserved(exc: Unserved) -> Answer:
    """406 Not Acceptable: the desired state exists, but not in a format the agent reads. The agent reports
    the message (it says to upgrade the agent) in its status and keeps its switch as last programmed."""
    body = {
        "message": str(exc),
        "object": None,
        "field": FORMAT_HEADER,
        "asked": exc.asked,
        "formats": list(range(exc.oldest, exc.newest + 1)),
    }
    return 406, body, None


def _not_found(exc: NotFound) -> Answer:
    return 404, {"message": str(exc), "object": exc.object, "field": None}, None


def _in_use(exc: InUse) -> Answer:
    return 409, {"message": str(exc), "object": exc.object, "field": None, "referenced_by": exc.referenced_by}, None


def _validation(exc: ValidationError) -> Answer:
    """A model refused a value the request carried (an object assembled from a path and a body)."""
    errs = exc.errors(include_url=False)
    problems = [{"field": _loc(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in errs[:100]]
    first = problems[0] if problems else {"field": None, "message": "invalid"}
    body = {"message": f"{first['field']}: {first['message']}", "field": first["field"], "object": None}
    return 422, {**body, "problems": problems}, None


def _store(exc: StoreUnavailable) -> Answer:
    body = {"message": str(exc), "object": None, "field": None, "database": exc.kind.value}
    return exc.status, body, {"Retry-After": str(exc.retry_after)}


def _operation(exc: OperationError) -> Answer:
    """The inner error's answer, naming the operation: `operation` is its index in the transaction."""
    status, body, headers = answer(exc.error)
    if exc.index is not None:
        body = {**body, "operation": exc.index, "message": f"operation {exc.index}: {body['message']}"}
    else:
        body = {**body, "operation": None}
    return status, body, headers


_ANSWERS: dict[type[Exception], Callable[[Any], Answer]] = {
    Refused: _api,
    IntentError: _intent,
    ConfigError: _config,
    RevisionMismatch: _mismatch,
    Unserved: _unserved,
    NotFound: _not_found,
    InUse: _in_use,
    OperationError: _operation,
    ValidationError: _validation,
    StoreUnavailable: _store,
}


def answer(exc: Exception) -> Answer:
    for kind in type(exc).__mro__:
        handler = _ANSWERS.get(kind)  # type: ignore[call-overload]
        if handler is not None:
            return handler(exc)
    raise TypeError(f"no answer for {type(exc).__name__}")


def add_methods(app: FastAPI, routes: Iterable[tuple[str, Collection[str]]]) -> None:
    """Record the methods of some path templates (`/v1/tenants/{tenant}`) for `allowed_methods`."""
    table: list[tuple[re.Pattern[str], set[str]]] = app.state._state.setdefault("allowed_methods", [])
    for template, verbs in routes:
        regex = re.sub(r"\\\{[^/]+?:path\\\}", ".*", re.escape(template))  # {name:path}: the rest
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", regex)
        table.append((re.compile(f"^{regex}$"), {m.upper() for m in verbs}))


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the API has for this path (what a 405's Allow must say); none for a path it does not
    have."""
    table: list[tuple[re.Pattern[str], set[str]]] = app.state._state.get("allowed_methods", [])
    methods: set[str] = set()
    for compiled, verbs in table:
        if compiled.match(path):
            methods |= verbs
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install(app: FastAPI) -> None:
    async def _known(_: Request, exc: Exception) -> JSONResponse:
        status, body, headers = answer(exc)
        return error(status, body, headers)

    for kind in _ANSWERS:
        app.add_exception_handler(kind, _known)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        problems = []
        for e in errors[:100]:
            field = _loc(e.get("loc", ()))
            problems.append({"field": field, "message": _message(field, e)})
        first = problems[0] if problems else {"field": None, "message": "invalid request"}
        body = {"message": f"{first['field']}: {first['message']}", "field": first["field"], "object": None}
        return error(422, {**body, "problems": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        message = str(exc.detail)
        if exc.status_code == 405:
            # Each method of a path is its own route, and Starlette names only the first one's methods.
            allowed = allowed_methods(app, request.url.path) or sorted(headers.get("Allow", "").split(", "))
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"
        return error(exc.status_code, {"message": message, "object": None, "field": None}, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(
            500,
            {"message": f"internal error: {type(exc).__name__}; see the controller log", "object": None, "field": None},
        )
