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
    """Liveness, and what the controller can do. Always 200 while the process serves: a database fault
    does not stop it serving reads and agents from its snapshot. `status` is "ok", or "degraded" while the
    database has a fault; `store` then says which (unreachable, full, read-only, failing) and `store_error`
    the message writes get, since `store_since`. `revision` is what this controller serves, `store_revision`
    the database's head (null when it did not answer; the two differ while it catches up with another
    controller)."""
    store = ctl.store_status()
    snap = ctl.snapshot()
    metrics.STORE_UP.set(1 if store.up else 0)
    return {
        "status": "ok" if store.up else "degraded",
        "revision": snap.revision,
        "store_revision": store.head,
        "objects": snap.intent.count(),
        "store": "up" if store.fault is None else store.fault.kind.value,
        "store_error": None if store.fault is None else str(store.fault),
        "store_since": store.since.isoformat(),
    }


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def prometheus(ctl: Ctl) -> Response:
    metrics.UNRESOLVED.set(len(unresolved(ctl.snapshot().intent)))
    metrics.STORE_UP.set(1 if ctl.store_status().up else 0)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
