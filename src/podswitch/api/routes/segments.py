from __future__ import annotations

from fastapi import APIRouter, Response

from ...model import Key, Kind, Model, Segment
from ..bodies import SegmentBody
from ..schemas import Page
from ..strict_json import StrictJSONRoute
from .common import (
    Actor,
    Ctl,
    Limit,
    MissingOk,
    Offset,
    SegmentName,
    TenantName,
    delete_object,
    found,
    page,
    put_object,
)

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/tenants/{tenant}/segments", tags=["segments"])


@router.get("", response_model=Page[Segment])
def list_segments(tenant: TenantName, ctl: Ctl, limit: Limit = 100, offset: Offset = 0) -> Page[Segment]:
    node = found(ctl.snapshot().intent.tenants.get(tenant), f"tenant {tenant}")
    return page((node.segments[s].segment for s in sorted(node.segments)), limit, offset)


@router.post("", response_model=Segment, status_code=201)
def create_segment(tenant: TenantName, body: Segment, ctl: Ctl, actor: Actor, response: Response) -> Model:
    return put_object(ctl, Key(Kind.SEGMENT, tenant, body.name), body, actor, response, create_only=True)


@router.get("/{segment}", response_model=Segment)
def get_segment(tenant: TenantName, segment: SegmentName, ctl: Ctl) -> Model:
    key = Key(Kind.SEGMENT, tenant, segment)
    return found(ctl.snapshot().intent.get(key), str(key))


@router.put("/{segment}", response_model=Segment, responses={201: {"model": Segment}})
def put_segment(
    tenant: TenantName,
    segment: SegmentName,
    body: SegmentBody,
    ctl: Ctl,
    actor: Actor,
    response: Response,
) -> Model:
    """Create or replace the segment; its members and endpoints are kept. The path names it."""
    return put_object(ctl, Key(Kind.SEGMENT, tenant, segment), body, actor, response)


@router.delete("/{segment}", status_code=204)
def delete_segment(
    tenant: TenantName, segment: SegmentName, ctl: Ctl, actor: Actor, missing_ok: MissingOk = False
) -> Response:
    """Deletes the segment with its members and endpoints; refused while the tenant's router has an
    interface on it or a policy rule names it."""
    return delete_object(ctl, Key(Kind.SEGMENT, tenant, segment), actor, missing_ok)
