from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from ...model import Endpoint, Key, Kind, Model
from ..bodies import EndpointBody
from ..schemas import Page
from ..strict_json import StrictJSONRoute
from .common import (
    Actor,
    Ctl,
    EndpointId,
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

router = APIRouter(route_class=StrictJSONRoute, tags=["endpoints"])
PREFIX = "/v1/tenants/{tenant}/segments/{segment}/endpoints"


class LocatedEndpoint(BaseModel):
    tenant: str
    segment: str
    endpoint: Endpoint


@router.get(PREFIX, response_model=Page[Endpoint])
def list_endpoints(
    tenant: TenantName, segment: SegmentName, ctl: Ctl, limit: Limit = 100, offset: Offset = 0
) -> Page[Endpoint]:
    node = found(ctl.snapshot().intent.tenants.get(tenant), f"tenant {tenant}")
    snode = found(node.segments.get(segment), f"tenant {tenant} segment {segment}")
    return page((snode.endpoints[e] for e in sorted(snode.endpoints)), limit, offset)


@router.post(PREFIX, response_model=Endpoint, status_code=201)
def create_endpoint(
    tenant: TenantName, segment: SegmentName, body: Endpoint, ctl: Ctl, actor: Actor, response: Response
) -> Model:
    return put_object(ctl, Key(Kind.ENDPOINT, tenant, segment, body.id), body, actor, response, create_only=True)


@router.get(PREFIX + "/{endpoint}", response_model=Endpoint)
def get_endpoint(tenant: TenantName, segment: SegmentName, endpoint: EndpointId, ctl: Ctl) -> Model:
    key = Key(Kind.ENDPOINT, tenant, segment, endpoint)
    return found(ctl.snapshot().intent.get(key), str(key))


@router.put(PREFIX + "/{endpoint}", response_model=Endpoint, responses={201: {"model": Endpoint}})
def put_endpoint(
    tenant: TenantName,
    segment: SegmentName,
    endpoint: EndpointId,
    body: EndpointBody,
    ctl: Ctl,
    actor: Actor,
    response: Response,
) -> Model:
    """Create or replace the endpoint. The path names it; its id is unique in the whole fabric."""
    return put_object(ctl, Key(Kind.ENDPOINT, tenant, segment, endpoint), body, actor, response)


@router.delete(PREFIX + "/{endpoint}", status_code=204)
def delete_endpoint(
    tenant: TenantName,
    segment: SegmentName,
    endpoint: EndpointId,
    ctl: Ctl,
    actor: Actor,
    missing_ok: MissingOk = False,
) -> Response:
    return delete_object(ctl, Key(Kind.ENDPOINT, tenant, segment, endpoint), actor, missing_ok)


@router.get("/v1/endpoints", response_model=Page[LocatedEndpoint])
def all_endpoints(
    ctl: Ctl, limit: Limit = 100, offset: Offset = 0, origination: str | None = None, interface_group: str | None = None
) -> Page[LocatedEndpoint]:
    """Every endpoint of the fabric, by id; filter by origination (consistency checks) or attachment."""
    intent = ctl.snapshot().intent
    located = intent.endpoint_locations()
    items = []
    for eid in sorted(located):
        tname, sname = located[eid]
        ep = intent.tenants[tname].segments[sname].endpoints[eid]
        if origination is not None and ep.origination != origination:
            continue
        if interface_group is not None and (
            ep.attachment_point is None or ep.attachment_point.interface_group != interface_group
        ):
            continue
        items.append(LocatedEndpoint(tenant=tname, segment=sname, endpoint=ep))
    return page(items, limit, offset)


@router.get("/v1/endpoints/{endpoint}", response_model=LocatedEndpoint)
def find_endpoint(endpoint: EndpointId, ctl: Ctl) -> LocatedEndpoint:
    hit = found(ctl.snapshot().intent.find_endpoint(endpoint), f"endpoint {endpoint}")
    return LocatedEndpoint(tenant=hit[0], segment=hit[1], endpoint=hit[2])
