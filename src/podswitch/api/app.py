"""The FastAPI application: `create_app(store, token)`; `podswitch serve` runs it under uvicorn."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from .. import __version__
from ..controller import Controller, metrics
from ..store import Store
from . import errors
from .routes import config, endpoints, health, history, members, routers, segments, switches, tenants, topology
from .schemas import ERROR_RESPONSES

DESCRIPTION = """podswitch makes a leaf-spine POD of Linux switches behave as one big switch.

Reads are open; every write needs `Authorization: Bearer <admin token>`. Errors are JSON
`{"error": {"message", "object", "field", ...}}`. Every accepted write is one new revision in the history
(`X-Podswitch-Revision` header)."""


class _Metrics(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.REQUESTS.labels(method=request.method, route=path, status=str(response.status_code)).inc()
        response.headers.setdefault("Server-Timing", f"app;dur={(time.perf_counter() - started) * 1000:.1f}")
        return response


def create_app(store: Store, admin_token: str) -> FastAPI:
    app = FastAPI(title="podswitch", version=__version__, description=DESCRIPTION, responses=ERROR_RESPONSES)
    app.state.controller = Controller(store)
    app.state.admin_token = admin_token
    errors.install(app)
    app.add_middleware(_Metrics)
    for module in (health, config, history, tenants, segments, members, endpoints, routers, topology, switches):
        app.include_router(module.router)
    return app
