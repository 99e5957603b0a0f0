"""`POST /v1/transactions`: many puts and deletes as one revision, all or nothing.

The body is parsed and validated in a worker thread, not on the event loop: a transaction can carry a whole
topology or a full Neutron sync (tens of MB), and `/healthz` and the agents must not wait behind it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ...controller import Delete, Operation, OperationError, Put
from ...model import IntentError, Problem
from ...model.paths import IDENTITY, PATH_FORMS, PathError, key_of, object_at
from ..errors import Refused
from ..limits import read_body
from ..schemas import PlanOut, WriteResult
from ..strict_json import StrictJSONRoute
from .common import CONDITIONAL, Actor, Ctl, DryRun, IfMatch, answer

router = APIRouter(route_class=StrictJSONRoute, tags=["transactions"])

# A full sync of the largest supported fabric (100,000 endpoints) is ~110,000 operations.
MAX_OPERATIONS = 250_000

_PATH_DOC = "the object's own path under /v1, one of: " + ", ".join(PATH_FORMS)


class PutOperation(BaseModel):
    """Create or replace the object at `path` with `body`: what `PUT /v1{path}` takes (the object without
    what its path names; for a link, its two ends). Putting exactly what is there changes nothing."""

    model_config = ConfigDict(extra="forbid")
    op: Literal["put"]
    path: str = Field(max_length=1024, description=_PATH_DOC)
    body: dict[str, Any] = Field(default_factory=dict)
    create_only: bool = Field(default=False, description="refuse (409) if the object exists")


class DeleteOperation(BaseModel):
    """Delete the object at `path` with everything below it."""

    model_config = ConfigDict(extra="forbid")
    op: Literal["delete"]
    path: str = Field(max_length=1024, description=_PATH_DOC)
    missing_ok: bool = Field(default=False, description="nothing to do when it is already gone (else 404)")


class TransactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operations: list[Annotated[PutOperation | DeleteOperation, Field(discriminator="op")]] = Field(
        min_length=1, max_length=MAX_OPERATIONS
    )


_ADAPTER = TypeAdapter(TransactionIn)
_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TransactionIn"}}},
    }
}


def parse_operations(raw: bytes) -> list[Operation]:
    """The operations of a transaction body; Refused (422) naming `operations.N.field` otherwise."""
    try:
        request = _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"] if p not in ("put", "delete"))
        raise Refused(422, f"{field or 'body'}: {err['msg']}", field=field or None) from None
    operations: list[Operation] = []
    for index, item in enumerate(request.operations):
        try:
            key = key_of(item.path)
        except PathError as exc:
            raise _refused(index, "path", str(exc)) from None
        if isinstance(item, DeleteOperation):
            operations.append(Delete(key, item.missing_ok))
            continue
        named = [f for f in IDENTITY[key.kind] if f in item.body]
        if named:
            raise _refused(index, f"body.{named[0]}", f"the path names the object; leave {named[0]} out of the body")
        try:
            operations.append(Put(key, object_at(key, item.body), item.create_only))
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise _refused(index, f"body.{loc}" if loc else "body", err["msg"]) from None
        except IntentError as exc:
            raise OperationError(index, exc) from None
    return operations


def _refused(index: int, field: str, message: str) -> OperationError:
    return OperationError(index, IntentError(Problem(f"operations.{index}", field, message)))


@router.post(
    "/v1/transactions",
    response_model=WriteResult | PlanOut,
    openapi_extra=_BODY_SCHEMA,
    responses=CONDITIONAL,
)
async def transaction(
    request: Request,
    ctl: Ctl,
    actor: Actor,
    response: Response,
    if_revision: IfMatch,
    dry_run: DryRun = False,
) -> WriteResult | PlanOut:
    """Apply the operations in order as ONE revision, all or nothing:

    `{"operations": [{"op": "put", "path": "/tenants/demo", "body": {"origination": "openstack"}},
    {"op": "delete", "path": "/tenants/demo/segments/old", "missing_ok": true}]}`

    Each `path` is the object's own path under `/v1` and each put's `body` what `PUT` on that path takes.
    Later operations see earlier ones (create a tenant, then its segments). Replays are safe: a put of
    exactly what is there and a `missing_ok` delete of what is gone change nothing, so a client may retry
    after a lost reply. A refused transaction changes nothing and answers 4xx with `error.operation`, the
    index of the operation at fault, and `error.field`. With `If-Match: "REV"`, only if the intent is still
    at REV (412 otherwise)."""
    raw = await read_body(request)
    operations = await run_in_threadpool(parse_operations, raw)
    outcome = await run_in_threadpool(ctl.transact, operations, actor=actor, if_revision=if_revision, dry_run=dry_run)
    return answer(outcome, response, dry_run)


def install_schema(app: FastAPI) -> None:
    """Put `TransactionIn` into the OpenAPI components (the route reads its body itself, off the loop)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            defs = _ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(defs.pop("$defs", {}))
            components["TransactionIn"] = defs
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
