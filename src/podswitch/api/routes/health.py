from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ...controller import metrics
from ...model import unresolved
from .common import Ctl

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(ctl: Ctl) -> dict[str, object]:
    """Liveness and readiness: the store answers and the intent is loaded."""
    head = ctl.store_revision()
    snap = ctl.snapshot()
    return {"status": "ok", "revision": snap.revision, "store_revision": head, "objects": snap.intent.count()}


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def prometheus(ctl: Ctl) -> Response:
    metrics.UNRESOLVED.set(len(unresolved(ctl.snapshot().intent)))
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
