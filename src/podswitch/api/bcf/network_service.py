"""The networkService API (`/networkService/v2.0`) that networking-bigswitch's `ServerPool` speaks: each
request is one transaction on the intent (`neutron.py` says what a Neutron object becomes).

Consistency: a client that sends `X-BSN-BVS-HASH-MATCH` (networking-bigswitch 14 and older) gets 409 when
it is not the hash this fabric last agreed with its `Instance-ID`, and full-syncs (`POST /topology`, which
is always taken). Every answer carries the current hash; each write that changes something agrees on a new
one. The hashes live in the store, so every controller on it answers the same and a restart keeps them."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from ...controller import Controller, OperationError
from ...model import Intent, IntentError, InUse, Key, Kind, NotFound, Operation
from ..errors import Refused
from . import neutron
from .common import Ctl, User, commit, json_body, json_object
from .neutron import Origin
from .refusal import Refusal

log = logging.getLogger(__name__)

PREFIX = "/networkService/v2.0"
HASH_HEADER = "X-BSN-BVS-HASH-MATCH"
INSTANCE_HEADER = "Instance-ID"
TOPOLOGY = f"{PREFIX}/topology"
MEMBER_ORIGINATION_ENV = "PODSWITCH_BCF_MEMBER_ORIGINATION"
# Non-empty: networking-bigswitch 15 refuses to work with a controller that answers no capabilities.
CAPABILITIES = ["consistency"]

router = APIRouter(prefix=PREFIX, tags=["bcf networkService"], include_in_schema=False)

Id = Annotated[str, Path(max_length=255)]
_TOKEN = re.compile(r"[!-~]{1,128}")


def origin(request: Request) -> Origin:
    """Who writes: the Neutron server named by `Instance-ID` (the origination of all it writes)."""
    instance = request.headers.get(INSTANCE_HEADER, "")
    if not _TOKEN.fullmatch(instance):
        raise Refused(
            422,
            f"{INSTANCE_HEADER} must name the Neutron server (1-128 printable characters, no blank): its "
            "[RESTPROXY] neutron_id, the origination of everything it writes",
            field=INSTANCE_HEADER,
        )
    template: str = request.app.state.bcf_member_origination
    return Origin(instance, template.replace("{instance}", instance))


Who = Annotated[Origin, Depends(origin)]


def agreed(revision: int, instance: str) -> str:
    return hashlib.sha256(f"{instance}\0{revision}".encode()).hexdigest()[:40]


def _check_hash(ctl: Controller, request: Request, instance: str) -> None:
    sent = request.headers.get(HASH_HEADER, "").strip()
    if not sent or request.url.path == TOPOLOGY:
        return
    stored = ctl.consistency_hash(instance)
    if sent != stored:
        raise Refused(
            409,
            f"{HASH_HEADER} {sent[:64]} is not the consistency hash this fabric holds for {instance}: "
            "a full sync (POST /topology) is needed",
            field=HASH_HEADER,
        )


async def _write(
    ctl: Controller,
    request: Request,
    response: Response,
    who: Origin,
    actor: str,
    plan: Callable[[Intent], list[Operation]],
) -> dict[str, Any]:
    await run_in_threadpool(_check_hash, ctl, request, who.instance)
    try:
        outcome = await commit(ctl, plan, f"{actor}@{who.instance}")
    except (IntentError, InUse, NotFound, OperationError, Refusal) as exc:
        # networking-bigswitch 15 takes only 0, 3xx, 400-404 and 5xx for failures: a 409 or 422 leaves the
        # Neutron object as if it had been written. Said here, where an operator looks.
        log.warning("refused %s %s from %s: %s", request.method, request.url.path, who.instance, exc)
        raise
    await run_in_threadpool(_agree, ctl, response, who.instance, outcome.revision if outcome.changed else None)
    response.headers["X-Podswitch-Revision"] = str(outcome.revision)
    return {"status": "ok", "revision": outcome.revision, "changed": outcome.changed}


def _agree(ctl: Controller, response: Response, instance: str, revision: int | None) -> None:
    current = ctl.consistency_hash(instance)
    if revision is not None or current is None:
        current = agreed(revision if revision is not None else ctl.snapshot().revision, instance)
        ctl.agree_consistency(instance, current)
    response.headers[HASH_HEADER] = current


@router.get("/capabilities")
def capabilities(_: User) -> list[str]:
    return CAPABILITIES


@router.get("/health")
def health(ctl: Ctl, request: Request, response: Response, _: User) -> dict[str, str]:
    instance = request.headers.get(INSTANCE_HEADER, "")
    if _TOKEN.fullmatch(instance):
        _check_hash(ctl, request, instance)
        current = ctl.consistency_hash(instance)
        if current is not None:
            response.headers[HASH_HEADER] = current
    return {"status": "ok"}


@router.post("/topology")
async def topology(ctl: Ctl, request: Request, response: Response, who: Who, actor: User) -> dict[str, Any]:
    """Full sync: everything of this Instance-ID becomes what the body holds, in one transaction."""
    body = json_object(await json_body(request))
    return await _write(ctl, request, response, who, actor, lambda i: neutron.topology_ops(i, who, body))


@router.post("/tenants")
async def create_tenant(ctl: Ctl, request: Request, response: Response, who: Who, actor: User) -> dict[str, Any]:
    body = json_object(await json_body(request))
    return await _write(ctl, request, response, who, actor, lambda i: neutron.tenant_ops(i, who, body))


@router.delete("/tenants/{tenant_id}")
async def delete_tenant(
    ctl: Ctl, request: Request, response: Response, who: Who, actor: User, tenant_id: Id
) -> dict[str, Any]:
    return await _write(ctl, request, response, who, actor, lambda i: neutron.delete_tenant_ops(i, who, tenant_id))


@router.post("/tenants/{tenant_id}/networks")
async def create_network(
    ctl: Ctl, request: Request, response: Response, who: Who, actor: User, tenant_id: Id
) -> dict[str, Any]:
    body = json_object(await json_body(request))
    return await _write(
        ctl, request, response, who, actor, lambda i: neutron.network_ops(i, who, tenant_id, None, body)
    )


@router.put("/tenants/{tenant_id}/networks/{network_id}")
async def update_network(
    ctl: Ctl, request: Request, response: Response, who: Who, actor: User, tenant_id: Id, network_id: Id
) -> dict[str, Any]:
    body = json_object(await json_body(request))
    return await _write(
        ctl, request, response, who, actor, lambda i: neutron.network_ops(i, who, tenant_id, network_id, body)
    )


@router.delete("/tenants/{tenant_id}/networks/{network_id}")
async def delete_network(
    ctl: Ctl, request: Request, response: Response, who: Who, actor: User, tenant_id: Id, network_id: Id
) -> dict[str, Any]:
    return await _write(
        ctl, request, response, who, actor, lambda i: neutron.delete_network_ops(i, who, tenant_id, network_id)
    )


_ATTACHMENT = "/tenants/{tenant_id}/networks/{network_id}/ports/{port_id}/attachment"


@router.put(_ATTACHMENT)
async def put_port(
    ctl: Ctl, request: Request, response: Response, who: Who, actor: User, tenant_id: Id, network_id: Id, port_id: Id
) -> dict[str, Any]:
    body = json_object(await json_body(request))
    return await _write(
        ctl, request, response, who, actor, lambda i: neutron.port_ops(i, who, tenant_id, network_id, port_id, body)
    )


@router.delete(_ATTACHMENT)
async def delete_port(
    ctl: Ctl, request: Request, response: Response, who: Who, actor: User, tenant_id: Id, network_id: Id, port_id: Id
) -> dict[str, Any]:
    return await _write(
        ctl, request, response, who, actor, lambda i: neutron.delete_port_ops(i, who, tenant_id, network_id, port_id)
    )


@router.get(_ATTACHMENT)
def get_port(ctl: Ctl, who: Who, _: User, tenant_id: Id, network_id: Id, port_id: Id) -> dict[str, Any]:
    intent = ctl.snapshot().intent
    tname, sname = neutron.network_of(intent, who, tenant_id, network_id, missing=404)
    endpoint = intent.get(Key(Kind.ENDPOINT, tname, sname, port_id))
    if endpoint is None:
        raise Refused(404, f"port {port_id[:64]} is no endpoint of network {network_id[:64]}", object=port_id[:64])
    return endpoint.model_dump(mode="json", exclude_none=True)


@router.post("/tenants/{tenant_id}/routers")
async def create_router(
    ctl: Ctl, request: Request, response: Response, who: Who, actor: User, tenant_id: Id
) -> dict[str, Any]:
    body = json_object(await json_body(request))
    return await _write(ctl, request, response, who, actor, lambda i: neutron.router_ops(i, who, tenant_id, body))


@router.put("/tenants/{tenant_id}/routers/{router_id}")
async def update_router(
    ctl: Ctl, request: Request, response: Response, who: Who, actor: User, tenant_id: Id, router_id: Id
) -> dict[str, Any]:
    body = json_object(await json_body(request))
    return await _write(ctl, request, response, who, actor, lambda i: neutron.router_ops(i, who, tenant_id, body))


@router.delete("/tenants/{tenant_id}/routers/{router_id}")
async def delete_router(
    ctl: Ctl, request: Request, response: Response, who: Who, actor: User, tenant_id: Id, router_id: Id
) -> dict[str, Any]:
    return await _write(ctl, request, response, who, actor, lambda i: neutron.delete_router_ops(i, who, tenant_id))


@router.post("/tenants/{tenant_id}/routers/{router_id}/interfaces")
async def add_router_interface(
    ctl: Ctl, request: Request, response: Response, who: Who, actor: User, tenant_id: Id, router_id: Id
) -> dict[str, Any]:
    body = json_object(await json_body(request))
    return await _write(ctl, request, response, who, actor, lambda i: neutron.interface_ops(i, who, tenant_id, body))


@router.delete("/tenants/{tenant_id}/routers/{router_id}/interfaces/{subnet_id}")
def remove_router_interface(_: User, tenant_id: Id, router_id: Id, subnet_id: Id) -> None:
    raise Refused(
        404,
        "podswitch keeps no Neutron subnet ids: the gateway address stays until the next full sync or a "
        "change through the config-tree or native API (docs/bcf-compat.md)",
        object=subnet_id[:64],
    )


@router.put("/tenants/{tenant_id}/floatingips/{floatingip_id}")
def put_floatingip(_: User, tenant_id: Id, floatingip_id: Id) -> None:
    raise Refused(
        422,
        "podswitch does no NAT, so it keeps no floating IPs: the fabric routes tenant addresses as they are "
        "(the seed's P-Fabric; docs/bcf-compat.md)",
        field="floatingip",
    )


@router.delete("/tenants/{tenant_id}/floatingips/{floatingip_id}")
def delete_floatingip(_: User, tenant_id: Id, floatingip_id: Id) -> None:
    raise Refused(404, "podswitch keeps no floating IPs", object=floatingip_id[:64])


@router.post("/securitygroups")
def create_security_group(_: User) -> None:
    raise Refused(
        422,
        "podswitch keeps no security groups (set [RESTPROXY] sync_security_groups = False); policy-lists of "
        "the logical-router filter between segments",
        field="security-group",
    )


@router.delete("/securitygroups/{group_id}")
def delete_security_group(_: User, group_id: Id) -> None:
    raise Refused(404, "podswitch keeps no security groups", object=group_id[:64])


@router.get("/switches/{host}")
def get_switch(ctl: Ctl, _: User, host: Id) -> dict[str, Any]:
    switch = ctl.snapshot().intent.get(Key(Kind.SWITCH, name=host))
    if switch is None:
        raise Refused(404, f"{host[:64]} is not a switch of this fabric", object=host[:64])
    return switch.model_dump(mode="json", exclude_none=True)
