from __future__ import annotations

from fastapi import APIRouter, Path, Response

from ...model import Key, Kind, Member, member_key
from ..schemas import Page
from .common import Actor, Ctl, Limit, MissingOk, Offset, delete_object, found, page, put_object, same_name

router = APIRouter(prefix="/v1/tenants/{tenant}/segments/{segment}/members", tags=["members"])
VlanPath = Path(ge=1, le=4094, description="VLAN tag on the interface-group's ports")


@router.get("", response_model=Page[Member])
def list_members(tenant: str, segment: str, ctl: Ctl, limit: Limit = 100, offset: Offset = 0) -> Page[Member]:
    node = found(ctl.snapshot().intent.tenants.get(tenant), f"tenant {tenant}")
    snode = found(node.segments.get(segment), f"tenant {tenant} segment {segment}")
    members = sorted(snode.members.values(), key=lambda m: (m.interface_group, m.vlan))
    return page(members, limit, offset)


@router.get("/{interface_group}/{vlan}", response_model=Member)
def get_member(tenant: str, segment: str, interface_group: str, ctl: Ctl, vlan: int = VlanPath) -> Member:
    key = Key(Kind.MEMBER, tenant, segment, member_key(interface_group, vlan))
    return found(ctl.snapshot().intent.get(key), str(key))


@router.put("/{interface_group}/{vlan}", response_model=Member, responses={201: {"model": Member}})
def put_member(
    tenant: str,
    segment: str,
    interface_group: str,
    body: Member,
    ctl: Ctl,
    actor: Actor,
    response: Response,
    vlan: int = VlanPath,
) -> Member:
    same_name(interface_group, body.interface_group, "interface_group")
    same_name(vlan, body.vlan, "vlan")
    return put_object(ctl, Key(Kind.MEMBER, tenant, segment, body.key), body, actor, response)


@router.delete("/{interface_group}/{vlan}", status_code=204)
def delete_member(
    tenant: str,
    segment: str,
    interface_group: str,
    ctl: Ctl,
    actor: Actor,
    missing_ok: MissingOk = False,
    vlan: int = VlanPath,
) -> Response:
    return delete_object(ctl, Key(Kind.MEMBER, tenant, segment, member_key(interface_group, vlan)), actor, missing_ok)
