from __future__ import annotations

from fastapi import APIRouter, Response

from ...model import Key, Kind, Model, Tenant
from ..bodies import TenantBody
from ..schemas import Page
from ..strict_json import StrictJSONRoute
from .common import Actor, Ctl, Limit, MissingOk, Offset, TenantName, delete_object, found, page, put_object

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/tenants", tags=["tenants"])


@router.get("", response_model=Page[Tenant])
def list_tenants(ctl: Ctl, limit: Limit = 100, offset: Offset = 0, origination: str | None = None) -> Page[Tenant]:
    tenants = ctl.snapshot().intent.tenants
    items = [tenants[n].tenant for n in sorted(tenants)]
    if origination is not None:
        items = [t for t in items if t.origination == origination]
    return page(items, limit, offset)


@router.post("", response_model=Tenant, status_code=201)
def create_tenant(body: Tenant, ctl: Ctl, actor: Actor, response: Response) -> Model:
    return put_object(ctl, Key(Kind.TENANT, body.name), body, actor, response, create_only=True)


@router.get("/{tenant}", response_model=Tenant)
def get_tenant(tenant: TenantName, ctl: Ctl) -> Model:
    return found(ctl.snapshot().intent.get(Key(Kind.TENANT, tenant)), f"tenant {tenant}")


@router.put("/{tenant}", response_model=Tenant, responses={201: {"model": Tenant}})
def put_tenant(tenant: TenantName, body: TenantBody, ctl: Ctl, actor: Actor, response: Response) -> Model:
    """Create or replace the tenant; its segments and router are kept. The path names it."""
    return put_object(ctl, Key(Kind.TENANT, tenant), body, actor, response)


@router.delete("/{tenant}", status_code=204)
def delete_tenant(tenant: TenantName, ctl: Ctl, actor: Actor, missing_ok: MissingOk = False) -> Response:
    """Deletes the tenant with its segments, endpoints and router; refused while another tenant refers
    to it."""
    return delete_object(ctl, Key(Kind.TENANT, tenant), actor, missing_ok)
