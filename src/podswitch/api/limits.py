"""The API's front door, before any route runs: the token of a write is checked before its body is read,
and bodies are bounded in size.

A request that changes the fabric without a valid token is answered 401/403 from its headers alone: its body
is never read, let alone decoded (a 100 MB body of garbage costs the controller nothing). A write with a
method the path does not have is answered 405 (or 404 for no such path) by the router, token or not: that
answer does not depend on who asks, and the router gives it without reading the body either. A body larger
than its route's limit is refused with 413 as soon as the limit is crossed (or at once, from
Content-Length). Pure ASGI: the body streams through untouched and is never buffered here."""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from .errors import Refused, error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MIB = 1024 * 1024

# Defaults: an object is a few KiB; the running-config and a transaction of the sized-for fabric (100,000
# endpoints, ~25 MB of text, ~35 MB of operations) fit with room to spare.
OBJECT_BODY_ENV = "PODSWITCH_MAX_BODY"
BULK_BODY_ENV = "PODSWITCH_MAX_BULK_BODY"
DEFAULT_OBJECT_BODY = 1 * MIB
DEFAULT_BULK_BODY = 256 * MIB
BULK_PATHS = ("/v1/running-config", "/v1/transactions", "/networkService/v2.0/topology")


@dataclass(frozen=True)
class Limits:
    """Largest request bodies accepted (bytes): `bulk` for the running-config and transactions, `object`
    for everything else."""

    object: int = DEFAULT_OBJECT_BODY
    bulk: int = DEFAULT_BULK_BODY

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            object=int(os.environ.get(OBJECT_BODY_ENV) or DEFAULT_OBJECT_BODY),
            bulk=int(os.environ.get(BULK_BODY_ENV) or DEFAULT_BULK_BODY),
        )

    def of(self, path: str) -> int:
        return self.bulk if path in BULK_PATHS else self.object


def token_problem(authorization: str | None, expected: str) -> Refused | None:
    """Why a write's Authorization header is not the admin token, or None when it is."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return Refused(
            401,
            "this request changes the fabric and needs 'Authorization: Bearer <token>' (the admin token, "
            "PODSWITCH_ADMIN_TOKEN)",
            field="Authorization",
        )
    if not hmac.compare_digest(credentials.strip().encode(), expected.encode()):
        return Refused(403, "the bearer token is not the admin token", field="Authorization")
    return None


class FrontDoor:
    """ASGI middleware: authenticate writes from their headers, then bound their bodies."""

    def __init__(
        self,
        app: App,
        token: Callable[[], str],
        limits: Limits,
        methods: Callable[[str], Collection[str]],
        others: Callable[[str, Mapping[str, str]], Refused | None] | None = None,
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        """`others(path, headers)` checks the writes of paths that `owns` says have credentials of their own
        (the BCF-compatible APIs); every other write needs the admin token."""
        self.app = app
        self.token = token
        self.limits = limits
        self.methods = methods  # the methods a path has (none: no such path)
        self.others = others
        self.owns = owns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in self.methods(scope["path"]):
            await self.app(scope, receive, send)  # 404 or 405 from the router, which reads no body
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.others is not None and self.owns is not None and self.owns(scope["path"]):
            problem = self.others(scope["path"], headers)
        else:
            problem = token_problem(headers.get("authorization"), self.token())
        if problem is None:
            limit = self.limits.of(scope["path"])
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                problem = _too_large(limit)
        if problem is not None:
            response = error(problem.status, problem.body, {"Connection": "close"})
            await response(scope, receive, send)
            return
        await self.app(scope, _bounded(receive, self.limits.of(scope["path"])), send)


def _too_large(limit: int) -> Refused:
    return Refused(
        413,
        f"request body larger than {limit} bytes (the limit of this route; see {OBJECT_BODY_ENV} and {BULK_BODY_ENV})",
        field="body",
    )


def _bounded(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                # An HTTPException: FastAPI lets it through its body parsing untouched.
                raise HTTPException(413, _too_large(limit).body["message"])
        return message

    return bounded


async def read_body(request: Request) -> bytes:
    """The whole body (bounded by the front door)."""
    return await request.body()
