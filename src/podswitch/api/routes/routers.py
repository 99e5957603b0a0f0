from __future__ import annotations

from fastapi import APIRouter, Response

from ...model import Key, Kind, LogicalRouter, Model
from ..strict_json import StrictJSONRoute
from .common import Actor, Ctl, MissingOk, TenantName, delete_object, found, put_object

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/tenants/{tenant}/logical-router", tags=["logical-router"])


@router.get("", response_model=LogicalRouter)
def get_router(tenant: TenantName, ctl: Ctl) -> Model:
    key = Key(Kind.LOGICAL_ROUTER, tenant)
    return found(ctl.snapshot().intent.get(key), str(key))


@router.put("", response_model=LogicalRouter, responses={201: {"model": LogicalRouter}})
def put_router(tenant: TenantName, body: LogicalRouter, ctl: Ctl, actor: Actor, response: Response) -> Model:
    """The whole router: interfaces, routes, policy lists (replaces what was there)."""
    return put_object(ctl, Key(Kind.LOGICAL_ROUTER, tenant), body, actor, response)


@router.delete("", status_code=204)
def delete_router(tenant: TenantName, ctl: Ctl, actor: Actor, missing_ok: MissingOk = False) -> Response:
    return delete_object(ctl, Key(Kind.LOGICAL_ROUTER, tenant), actor, missing_ok)
