from __future__ import annotations

from fastapi import APIRouter, Response

from ...model import Key, Kind, Member, Model, member_key
from ..bodies import MemberBody
from ..schemas import Page
from ..strict_json import StrictJSONRoute
from .common import (
    Actor,
    Ctl,
    GroupName,
    Limit,
    MissingOk,
    Offset,
    SegmentName,
    TenantName,
    VlanNumber,
    delete_object,
    found,
    page,
    put_object,
)

router = APIRouter(
    route_class=StrictJSONRoute, prefix="/v1/tenants/{tenant}/segments/{segment}/members", tags=["members"]
)


@router.get("", response_model=Page[Member])
def list_members(
    tenant: TenantName, segment: SegmentName, ctl: Ctl, limit: Limit = 100, offset: Offset = 0
) -> Page[Member]:
    node = found(ctl.snapshot().intent.tenants.get(tenant), f"tenant {tenant}")
    snode = found(node.segments.get(segment), f"tenant {tenant} segment {segment}")
    members = sorted(snode.members.values(), key=lambda m: (m.interface_group, m.vlan))
    return page(members, limit, offset)


@router.get("/{interface_group}/{vlan}", response_model=Member)
def get_member(
    tenant: TenantName, segment: SegmentName, interface_group: GroupName, vlan: VlanNumber, ctl: Ctl
) -> Model:
    key = Key(Kind.MEMBER, tenant, segment, member_key(interface_group, vlan))
    return found(ctl.snapshot().intent.get(key), str(key))


@router.put("/{interface_group}/{vlan}", response_model=Member, responses={201: {"model": Member}})
def put_member(
    tenant: TenantName,
    segment: SegmentName,
    interface_group: GroupName,
    vlan: VlanNumber,
    body: MemberBody,
    ctl: Ctl,
    actor: Actor,
    response: Response,
) -> Model:
    """`member interface-group G vlan V`: the path names the group and the VLAN."""
    key = Key(Kind.MEMBER, tenant, segment, member_key(interface_group, vlan))
    return put_object(ctl, key, body, actor, response)


@router.delete("/{interface_group}/{vlan}", status_code=204)
def delete_member(
    tenant: TenantName,
    segment: SegmentName,
    interface_group: GroupName,
    vlan: VlanNumber,
    ctl: Ctl,
    actor: Actor,
    missing_ok: MissingOk = False,
) -> Response:
    key = Key(Kind.MEMBER, tenant, segment, member_key(interface_group, vlan))
    return delete_object(ctl, key, actor, missing_ok)
