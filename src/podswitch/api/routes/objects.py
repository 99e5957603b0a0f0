"""Everything one orchestrator wrote, for consistency checks: `GET /v1/objects?origination=openstack`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ...model import Kind
from ...model.paths import body_of, digest, path_of
from ..schemas import Page
from ..strict_json import StrictJSONRoute
from .common import Ctl, Limit, Offset, page

router = APIRouter(route_class=StrictJSONRoute, tags=["objects"])


class OwnedObject(BaseModel):
    kind: Kind
    path: str = Field(description="the object's own path under /v1")
    body: dict[str, Any] = Field(description="what PUT on that path takes")
    digest: str = Field(description="hash of the body: compare it with the hash of what you would PUT")


@router.get("/v1/objects", response_model=Page[OwnedObject])
def list_objects(
    ctl: Ctl,
    origination: str = Query(max_length=128, description="e.g. openstack: the objects one orchestrator wrote"),
    kind: Kind | None = Query(None, description="only objects of this kind"),
    with_body: bool = Query(True, description="false: paths and digests only (a cheap consistency check)"),
    limit: Limit = 1000,
    offset: Offset = 0,
) -> Page[OwnedObject]:
    """Every object whose origination is `origination` (a tenant's logical-router counts as its tenant's),
    parents before children, each with the path and body `PUT` takes and a digest of that body. An
    orchestrator lists its own objects and compares digests with what it would write to find and repair drift."""
    intent = ctl.snapshot().intent
    items = [
        OwnedObject(
            kind=key.kind,
            path=path_of(key),
            body=body_of(key, obj) if with_body else {},
            digest=digest(key, obj),
        )
        for key, obj in intent.originated(origination)
        if kind is None or key.kind == kind
    ]
    return page(items, limit, offset)
