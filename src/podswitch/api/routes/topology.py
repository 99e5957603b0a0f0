from __future__ import annotations

from fastapi import APIRouter, Response

from ...model import InterfaceGroup, Key, Kind, Link, Model
from ..bodies import InterfaceGroupBody
from ..schemas import Page
from ..strict_json import StrictJSONRoute
from .common import (
    Actor,
    Ctl,
    GroupName,
    Limit,
    LinkName,
    MissingOk,
    Offset,
    delete_object,
    found,
    page,
    put_object,
    sorted_values,
)

router = APIRouter(route_class=StrictJSONRoute, tags=["topology"])


@router.get("/v1/links", response_model=Page[Link])
def list_links(ctl: Ctl, limit: Limit = 100, offset: Offset = 0) -> Page[Link]:
    return page(sorted_values(ctl.snapshot().intent.topology.links), limit, offset)


@router.post("/v1/links", response_model=Link, responses={200: {"model": Link}, 201: {"model": Link}})
def put_link(body: Link, ctl: Ctl, actor: Actor, response: Response) -> Model:
    """Cable a leaf port to a spine port (idempotent: 200 when the link is already there)."""
    return put_object(ctl, Key(Kind.LINK, name=body.key), body, actor, response)


@router.get("/v1/links/{link}", response_model=Link)
def get_link(link: LinkName, ctl: Ctl) -> Model:
    return found(ctl.snapshot().intent.topology.links.get(link), f"link {link}")


@router.delete("/v1/links/{link}", status_code=204)
def delete_link(link: LinkName, ctl: Ctl, actor: Actor, missing_ok: MissingOk = False) -> Response:
    return delete_object(ctl, Key(Kind.LINK, name=link), actor, missing_ok)


@router.get("/v1/interface-groups", response_model=Page[InterfaceGroup])
def list_groups(ctl: Ctl, limit: Limit = 100, offset: Offset = 0) -> Page[InterfaceGroup]:
    return page(sorted_values(ctl.snapshot().intent.topology.interface_groups), limit, offset)


@router.get("/v1/interface-groups/{name}", response_model=InterfaceGroup)
def get_group(name: GroupName, ctl: Ctl) -> Model:
    return found(ctl.snapshot().intent.topology.interface_groups.get(name), f"interface-group {name}")


@router.put("/v1/interface-groups/{name}", response_model=InterfaceGroup, responses={201: {"model": InterfaceGroup}})
def put_group(
    name: GroupName,
    body: InterfaceGroupBody,
    ctl: Ctl,
    actor: Actor,
    response: Response,
) -> Model:
    """Create or replace the interface-group. The path names it."""
    return put_object(ctl, Key(Kind.INTERFACE_GROUP, name=name), body, actor, response)


@router.delete("/v1/interface-groups/{name}", status_code=204)
def delete_group(name: GroupName, ctl: Ctl, actor: Actor, missing_ok: MissingOk = False) -> Response:
    """Refused while a segment member or endpoint attaches to the group."""
    return delete_object(ctl, Key(Kind.INTERFACE_GROUP, name=name), actor, missing_ok)
