"""Object commands: the everyday operations of the seed, one object at a time.

Each command builds the intent object itself (so a bad value is refused before anything is sent, with the
same message the controller would give) and writes it through the client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from ..client import Client, Conflict, Missing, PreconditionFailed
from ..model import (
    Endpoint,
    Key,
    Kind,
    LogicalRouter,
    Member,
    Model,
    Put,
    Segment,
    Tenant,
    member_key,
)
from .app import Token, Url, client, endpoint_app, router_app, run_api, segment_app, tenant_app
from .output import console

Id = Annotated[str | None, typer.Option("--id", help="the orchestrator's id")]
Origination = Annotated[str | None, typer.Option("--origination", help="who owns it, e.g. openstack")]
MissingOk = Annotated[bool, typer.Option("--missing-ok", help="succeed if it is already gone")]
Replace = Annotated[
    bool,
    typer.Option(
        "--replace",
        help="overwrite it if it exists (its attributes become exactly these; without it, an existing one is an error)",
    ),
]


def _done(what: str) -> None:
    console.print(f"[green]ok[/green]: {what}")


def _create(api: Client, key: Key, obj: Model, replace: bool) -> None:
    """Create only (409 if it exists, so a typo cannot wipe an object's id or origination), or with --replace
    an idempotent put of the whole object."""
    if replace:
        api.put_object(key, obj)
        return
    try:
        api.transaction([Put(key, obj, create_only=True)])
    except Conflict as exc:
        if "already exists" in exc.message:
            exc.message = f"{key} already exists (use --replace to overwrite it)"
        raise


def _delete(url: str | None, token: str | None, key: Key, missing_ok: bool) -> None:
    api = client(url, token)
    run_api(lambda: api.delete_object(key, missing_ok=missing_ok))


@tenant_app.command("create")
def tenant_create(
    name: str,
    id: Id = None,
    origination: Origination = None,
    replace: Replace = False,
    url: Url = None,
    token: Token = None,
) -> None:
    api = client(url, token)
    run_api(lambda: _create(api, Key(Kind.TENANT, name), Tenant(name=name, id=id, origination=origination), replace))
    _done(f"tenant {name}")


@tenant_app.command("delete")
def tenant_delete(name: str, missing_ok: MissingOk = False, url: Url = None, token: Token = None) -> None:
    """Delete a tenant with its segments, endpoints and router."""
    _delete(url, token, Key(Kind.TENANT, name), missing_ok)
    _done(f"tenant {name} deleted")


@segment_app.command("create")
def segment_create(
    tenant: str,
    name: str,
    id: Id = None,
    origination: Origination = None,
    replace: Replace = False,
    url: Url = None,
    token: Token = None,
) -> None:
    api = client(url, token)
    key = Key(Kind.SEGMENT, tenant, name)
    run_api(lambda: _create(api, key, Segment(name=name, id=id, origination=origination), replace))
    _done(f"tenant {tenant} segment {name}")


@segment_app.command("delete")
def segment_delete(tenant: str, name: str, missing_ok: MissingOk = False, url: Url = None, token: Token = None) -> None:
    _delete(url, token, Key(Kind.SEGMENT, tenant, name), missing_ok)
    _done(f"tenant {tenant} segment {name} deleted")


@segment_app.command("member-add")
def member_add(
    tenant: str,
    segment: str,
    interface_group: str,
    vlan: int,
    origination: Origination = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """member interface-group G vlan V: G's ports carry the segment tagged V."""
    api = client(url, token)

    def go() -> None:
        member = Member(interface_group=interface_group, vlan=vlan, origination=origination)
        api.put_object(Key(Kind.MEMBER, tenant, segment, member.key), member)

    run_api(go)
    _done(f"member interface-group {interface_group} vlan {vlan}")


@segment_app.command("member-remove")
def member_remove(
    tenant: str,
    segment: str,
    interface_group: str,
    vlan: int,
    missing_ok: MissingOk = False,
    url: Url = None,
    token: Token = None,
) -> None:
    _delete(url, token, Key(Kind.MEMBER, tenant, segment, member_key(interface_group, vlan)), missing_ok)
    _done(f"member interface-group {interface_group} vlan {vlan} removed")


@endpoint_app.command("create")
def endpoint_create(
    tenant: str,
    segment: str,
    id: str,
    interface_group: Annotated[str | None, typer.Option("--interface-group", "-g")] = None,
    vlan: Annotated[int | None, typer.Option("--vlan")] = None,
    ip: Annotated[list[str] | None, typer.Option("--ip", help="repeat for several")] = None,
    mac: Annotated[str | None, typer.Option("--mac")] = None,
    origination: Origination = None,
    replace: Replace = False,
    url: Url = None,
    token: Token = None,
) -> None:
    """Create an endpoint (a Neutron port): where it attaches, its IPs and MAC. --replace changes an existing
    one (e.g. moves it to another interface-group)."""
    if (interface_group is None) != (vlan is None):
        raise typer.BadParameter("--interface-group and --vlan go together")
    api = client(url, token)

    def go() -> None:
        attachment = {"interface_group": interface_group, "vlan": vlan} if interface_group else None
        body = {"id": id, "ips": ip or [], "mac": mac, "origination": origination, "attachment_point": attachment}
        _create(api, Key(Kind.ENDPOINT, tenant, segment, id), Endpoint.model_validate(body), replace)

    run_api(go)
    _done(f"endpoint {id}")


@endpoint_app.command("delete")
def endpoint_delete(
    tenant: str, segment: str, id: str, missing_ok: MissingOk = False, url: Url = None, token: Token = None
) -> None:
    _delete(url, token, Key(Kind.ENDPOINT, tenant, segment, id), missing_ok)
    _done(f"endpoint {id} deleted")


def _edit_router(tenant: str, url: str | None, token: str | None, edit: Callable[[dict[str, Any]], None]) -> None:
    """Read-modify-write of the tenant's router (the API takes the router as one object), conditional on
    the revision it was read at: a change someone else makes in between is never overwritten (the edit is
    done again on the new router instead)."""
    api = client(url, token)
    key = Key(Kind.LOGICAL_ROUTER, tenant)

    def go() -> None:
        for _ in range(5):
            revision = api.revision()
            try:
                current = api.get_object(key).model_dump(mode="json")
            except Missing:  # a missing router starts empty (if the tenant is missing, the put says so)
                current = {}
            edit(current)
            try:
                api.transaction([Put(key, LogicalRouter.model_validate(current))], if_revision=revision)
                return
            except PreconditionFailed:
                continue
        raise PreconditionFailed(f"tenant {tenant}'s logical-router kept changing; nothing was changed, try again")

    run_api(go)


@router_app.command("interface-add")
def router_interface_add(
    tenant: str,
    segment: str,
    ip: Annotated[list[str], typer.Option("--ip", help="gateway, e.g. 10.66.16.1/24")],
    url: Url = None,
    token: Token = None,
) -> None:
    """interface segment S / ip address A/len (the anycast gateway on every leaf)."""

    def edit(r: dict[str, Any]) -> None:
        others = [i for i in r.get("interfaces", []) if i["segment"] != segment]
        r["interfaces"] = [*others, {"segment": segment, "ip_addresses": ip}]

    _edit_router(tenant, url, token, edit)
    _done(f"tenant {tenant} logical-router interface segment {segment}")


@router_app.command("interface-remove")
def router_interface_remove(tenant: str, segment: str, url: Url = None, token: Token = None) -> None:
    _edit_router(
        tenant,
        url,
        token,
        lambda r: r.update(interfaces=[i for i in r.get("interfaces", []) if i["segment"] != segment]),
    )
    _done(f"interface segment {segment} removed")


@router_app.command("link")
def router_link(
    tenant: str, peer: Annotated[str, typer.Argument()] = "system", url: Url = None, token: Token = None
) -> None:
    """interface tenant system: link the tenant's router to tenant system."""
    _edit_router(
        tenant, url, token, lambda r: r.update(tenant_interfaces=sorted({*r.get("tenant_interfaces", []), peer}))
    )
    _done(f"tenant {tenant} logical-router interface tenant {peer}")


@router_app.command("route-add")
def router_route_add(
    tenant: str,
    prefix: str,
    next_hop_tenant: Annotated[str | None, typer.Option("--next-hop-tenant")] = None,
    next_hop_ip: Annotated[str | None, typer.Option("--next-hop-ip")] = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """route PREFIX next-hop tenant T | next-hop ip A."""
    if (next_hop_tenant is None) == (next_hop_ip is None):
        raise typer.BadParameter("give exactly one of --next-hop-tenant and --next-hop-ip")
    hop = {"tenant": next_hop_tenant} if next_hop_tenant else {"ip": next_hop_ip}

    def edit(r: dict[str, Any]) -> None:
        r["routes"] = [*(x for x in r.get("routes", []) if x["prefix"] != prefix), {"prefix": prefix, "next_hop": hop}]

    _edit_router(tenant, url, token, edit)
    _done(f"route {prefix}")


@router_app.command("route-remove")
def router_route_remove(tenant: str, prefix: str, url: Url = None, token: Token = None) -> None:
    _edit_router(
        tenant, url, token, lambda r: r.update(routes=[x for x in r.get("routes", []) if x["prefix"] != prefix])
    )
    _done(f"route {prefix} removed")
