"""Object commands: the everyday operations of the seed, one object at a time."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .client import ApiFailure, Client
from .main import Token, Url, _client, _run, endpoint_app, router_app, segment_app, tenant_app
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


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _create(client: Client, collection: str, name: str, body: dict[str, Any], replace: bool) -> None:
    """POST (create only: 409 if it exists, so a typo cannot wipe an object's id or origination), or with
    --replace an idempotent PUT of the whole object."""

    def go() -> None:
        if replace:
            client.put(f"{collection}/{name}", body)
            return
        try:
            client.post(collection, body)
        except ApiFailure as exc:
            if exc.status == 409 and "already exists" in str(exc):
                raise ApiFailure(exc.status, f"{exc} (use --replace to overwrite it)", exc.body) from None
            raise

    _run(go)


@tenant_app.command("create")
def tenant_create(
    name: str,
    id: Id = None,
    origination: Origination = None,
    replace: Replace = False,
    url: Url = None,
    token: Token = None,
) -> None:
    client = _client(url, token)
    _create(client, "/v1/tenants", name, _drop_none({"name": name, "id": id, "origination": origination}), replace)
    _done(f"tenant {name}")


@tenant_app.command("delete")
def tenant_delete(name: str, missing_ok: MissingOk = False, url: Url = None, token: Token = None) -> None:
    """Delete a tenant with its segments, endpoints and router."""
    client = _client(url, token)
    _run(lambda: client.delete(f"/v1/tenants/{name}", missing_ok=str(missing_ok).lower()))
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
    client = _client(url, token)
    body = _drop_none({"name": name, "id": id, "origination": origination})
    _create(client, f"/v1/tenants/{tenant}/segments", name, body, replace)
    _done(f"tenant {tenant} segment {name}")


@segment_app.command("delete")
def segment_delete(tenant: str, name: str, missing_ok: MissingOk = False, url: Url = None, token: Token = None) -> None:
    client = _client(url, token)
    _run(lambda: client.delete(f"/v1/tenants/{tenant}/segments/{name}", missing_ok=str(missing_ok).lower()))
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
    client = _client(url, token)
    body = _drop_none({"interface_group": interface_group, "vlan": vlan, "origination": origination})
    _run(lambda: client.put(f"/v1/tenants/{tenant}/segments/{segment}/members/{interface_group}/{vlan}", body))
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
    client = _client(url, token)
    _run(
        lambda: client.delete(
            f"/v1/tenants/{tenant}/segments/{segment}/members/{interface_group}/{vlan}",
            missing_ok=str(missing_ok).lower(),
        )
    )
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
    body = _drop_none(
        {
            "id": id,
            "ips": ip or [],
            "mac": mac,
            "origination": origination,
            "attachment_point": {"interface_group": interface_group, "vlan": vlan} if interface_group else None,
        }
    )
    client = _client(url, token)
    _create(client, f"/v1/tenants/{tenant}/segments/{segment}/endpoints", id, body, replace)
    _done(f"endpoint {id}")


@endpoint_app.command("delete")
def endpoint_delete(
    tenant: str, segment: str, id: str, missing_ok: MissingOk = False, url: Url = None, token: Token = None
) -> None:
    client = _client(url, token)
    _run(
        lambda: client.delete(
            f"/v1/tenants/{tenant}/segments/{segment}/endpoints/{id}", missing_ok=str(missing_ok).lower()
        )
    )
    _done(f"endpoint {id} deleted")


def _edit_router(tenant: str, url: str | None, token: str | None, edit) -> None:  # type: ignore[no-untyped-def]
    """Read-modify-write of the tenant's router (the API takes the router as one object)."""
    client = _client(url, token)

    def go() -> None:
        try:
            router = client.get(f"/v1/tenants/{tenant}/logical-router")
        except ApiFailure as exc:  # a missing router starts empty
            if exc.status != 404:
                raise
            router = {}
        edit(router)
        client.put(f"/v1/tenants/{tenant}/logical-router", router)

    _run(go)


@router_app.command("interface-add")
def router_interface_add(
    tenant: str,
    segment: str,
    ip: Annotated[list[str], typer.Option("--ip", help="gateway, e.g. 10.66.16.1/24")],
    url: Url = None,
    token: Token = None,
) -> None:
    """interface segment S / ip address A/len (the anycast gateway on every leaf)."""

    def edit(r: dict) -> None:
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

    def edit(r: dict) -> None:
        r["routes"] = [*(x for x in r.get("routes", []) if x["prefix"] != prefix), {"prefix": prefix, "next_hop": hop}]

    _edit_router(tenant, url, token, edit)
    _done(f"route {prefix}")


@router_app.command("route-remove")
def router_route_remove(tenant: str, prefix: str, url: Url = None, token: Token = None) -> None:
    _edit_router(
        tenant, url, token, lambda r: r.update(routes=[x for x in r.get("routes", []) if x["prefix"] != prefix])
    )
    _done(f"route {prefix} removed")
