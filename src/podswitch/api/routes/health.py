from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ...controller import Controller, metrics
from ...model import unresolved
from ..strict_json import StrictJSONRoute
from .common import Ctl

router = APIRouter(route_class=StrictJSONRoute, tags=["health"])


def _current(request: Request) -> Controller:
    """The controller as it is: health never waits for a catch-up."""
    ctl: Controller = request.app.state.controller
    return ctl


@router.get("/healthz")
def healthz(ctl: Annotated[Controller, Depends(_current)]) -> dict[str, object]:
    """Liveness and readiness: the store answers and the intent is loaded. `revision` is what this
    controller serves, `store_revision` the store's head (they differ while it catches up with another
    controller)."""
    head = ctl.store_revision()
    snap = ctl.snapshot()
    return {"status": "ok", "revision": snap.revision, "store_revision": head, "objects": snap.intent.count()}


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def prometheus(ctl: Ctl) -> Response:
    metrics.UNRESOLVED.set(len(unresolved(ctl.snapshot().intent)))
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
