"""The FastAPI application: `create_app(store, token)`; `podswitch serve` runs it under uvicorn."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from .. import __version__
from ..controller import Controller, Sync, metrics
from ..controller.duties import Duties, DutySettings
from ..store import Store
from . import bcf, errors, hints
from .admission import Admission
from .limits import App, FrontDoor, Limits, Message, Receive, Scope, Send
from .routes import (
    cluster,
    config,
    endpoints,
    health,
    history,
    members,
    objects,
    routers,
    segments,
    switches,
    tenants,
    topology,
    transactions,
)
from .schemas import ERROR_RESPONSES

log = logging.getLogger(__name__)

DESCRIPTION = """podswitch makes a leaf-spine POD of Linux switches behave as one big switch.

Reads are open; every write needs `Authorization: Bearer <admin token>` (checked before the body is read).
Errors are JSON `{"error": {"message", "object", "field", ...}}`. Every accepted write is one new revision in
the history (`X-Podswitch-Revision` header); `POST /v1/transactions` makes many changes one revision. An
object's `PUT` body leaves out what its path names. A query parameter an operation does not list is refused
(422), not ignored.

This document states every rule of a request that JSON Schema can state. The few it cannot are in the
descriptions: two values of one request compared (a link's two ends differ; a port range's last is not
below its first; a router's interfaces, routes and policy-lists, and a policy-list's rules, are each named
once; a transaction's link put names the link of its path; a tenant's router links only to `system`, and
`system`'s to other tenants), addresses listed once compared as addresses, not as text, and whole numbers
written without a fraction part (10, not 10.0)."""


class _Metrics:
    """Requests by method, route and status; `Server-Timing` on every answer. Pure ASGI (no buffering)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                timing = f"app;dur={(time.perf_counter() - started) * 1000:.1f}".encode()
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"server-timing", timing)]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            metrics.REQUESTS.labels(method=scope["method"], route=path, status=str(status)).inc()


@asynccontextmanager
async def _warm(app: FastAPI) -> AsyncIterator[None]:
    """Compile while the server starts, in the background: after a restart every agent asks at once, and
    the first of them would otherwise start the compile only once its request got through (measured in the
    storm benchmark: seconds later)."""
    ctl: Controller = app.state.controller

    def warm() -> None:
        try:
            ctl.warm()
        except Exception:  # the first request compiles again and answers with the error
            log.exception("compiling the desired state at start failed")

    threading.Thread(target=warm, name="warm-compile", daemon=True).start()
    yield


def create_app(
    store: Store,
    admin_token: str,
    *,
    limits: Limits | None = None,
    admission: Admission | None = None,
    cache_compiles: bool = True,
    sync: Sync | None = None,
    duties: DutySettings | None = None,
    address: str = "",
    bcf_users: Mapping[str, str] | None = None,
) -> FastAPI:
    """The API over a controller on `store`. `admission` bounds what agents may ask at once and `sync` is
    what their documents tell them about syncing (both default from the environment: `admission.py`,
    `hints.py`); `cache_compiles=False` is only for measuring what the compile cache saves. With
    `duties`, the app announces itself as a controller answering at `address` and competes for the
    background duties while it runs (`podswitch serve`). `bcf_users`: who may use the BCF-compatible APIs
    besides admin (default: the file `$PODSWITCH_BCF_USERS`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _warm(app):
            running: Duties | None = app.state.duties
            if running is not None:
                running.start()
            try:
                yield
            finally:
                if running is not None:
                    await run_in_threadpool(running.stop)

    app = FastAPI(
        title="podswitch", version=__version__, description=DESCRIPTION, responses=ERROR_RESPONSES, lifespan=lifespan
    )
    app.state.controller = Controller(store, cache_compiles=cache_compiles, sync=sync or hints.from_env())
    app.state.duties = Duties(app.state.controller, address, duties) if duties is not None else None
    app.state.admission = admission or Admission.from_env()
    app.state.admin_token = admin_token
    errors.install(app)
    # Outermost last: metrics see every answer, the front door's 401/413 included.
    app.add_middleware(
        FrontDoor,
        token=lambda: app.state.admin_token,
        limits=limits or Limits.from_env(),
        methods=lambda path: errors.allowed_methods(app, path),
        others=lambda path, headers: bcf.problem(app, path, headers),
        owns=bcf.owns,
    )
    app.add_middleware(_Metrics)
    for module in (
        health,
        config,
        history,
        transactions,
        objects,
        tenants,
        segments,
        members,
        endpoints,
        routers,
        topology,
        switches,
        cluster,
    ):
        app.include_router(module.router)
        # What a 405's Allow must name, per path: the routes as the OpenAPI document lists them (every route
        # is in it), read from the routes rather than by generating the document on the first write.
        errors.add_methods(app, [(route.path, route.methods) for route in module.router.routes])
    transactions.install_schema(app)
    bcf.install(app, lambda: app.state.admin_token, bcf_users)
    return app
