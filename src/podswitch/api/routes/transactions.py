"""`POST /v1/transactions`: many puts and deletes as one revision, all or nothing.

The body is parsed and validated in a worker thread, not on the event loop: a transaction can carry a whole
topology or a full Neutron sync (tens of MB), and `/healthz` and the agents must not wait behind it."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from ...controller import Delete, Operation, OperationError, Put
from ...model import IntentError, Key, Kind, Problem
from ...model.paths import IDENTITY, PATH_FORMS, PathError, key_of, object_at, path_of
from ..bodies import ANY_PATH_PATTERN, PATH_PATTERN, body
from ..errors import Refused
from ..limits import read_body
from ..schemas import PlanOut, WriteResult
from ..strict_json import StrictJSONRoute
from .common import CONDITIONAL, Actor, Ctl, DryRun, IfMatch, answer

router = APIRouter(route_class=StrictJSONRoute, tags=["transactions"])

# A full sync of the largest supported fabric (100,000 endpoints) is ~110,000 operations.
MAX_OPERATIONS = 250_000
MAX_PATH = 1024

_PATH_DOC = "the object's own path under /v1, one of: " + ", ".join(PATH_FORMS)
_PATHS = {kind: re.compile(pattern) for kind, pattern in PATH_PATTERN.items()}


class PutOperation(BaseModel):
    """Create or replace the object at `path` with `body`: what `PUT /v1{path}` takes (the object without
    what its path names; for a link, its two ends). Putting exactly what is there changes nothing."""

    model_config = ConfigDict(extra="forbid")
    op: Literal["put"]
    path: str = Field(max_length=MAX_PATH, description=_PATH_DOC)
    body: dict[str, Any] = Field(default_factory=dict)
    create_only: bool = Field(default=False, strict=True, description="refuse (409) if the object exists")


class DeleteOperation(BaseModel):
    """Delete the object at `path` with everything below it."""

    model_config = ConfigDict(extra="forbid")
    op: Literal["delete"]
    path: str = Field(
        max_length=MAX_PATH,
        description=_PATH_DOC,
        json_schema_extra={"pattern": ANY_PATH_PATTERN},
    )
    missing_ok: bool = Field(default=False, strict=True, description="nothing to do when it is already gone (else 404)")


class TransactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operations: list[Annotated[PutOperation | DeleteOperation, Field(discriminator="op")]] = Field(
        min_length=1, max_length=MAX_OPERATIONS
    )


def _put(kind: Kind) -> type[BaseModel]:
    """The schema of a put of one kind of object: its path's pattern and that kind's `PUT` body (the server
    reads every put as a `PutOperation` and checks the same, in `parse_operations`)."""
    model = body(kind)
    form = path_of(Key(kind, "T", "S", {Kind.LINK: "SWITCH:IF-SWITCH:IF", Kind.MEMBER: "GROUP:VLAN"}.get(kind, "NAME")))
    fields: dict[str, Any] = {
        "op": (Literal["put"], ...),
        "path": (str, Field(max_length=MAX_PATH, pattern=PATH_PATTERN[kind], description=f"{form}, under /v1")),
        # Without a body, the server reads `{}`: required where that is not a valid body.
        "body": (model, ...) if model.model_json_schema().get("required") else (model, Field(default_factory=dict)),
        "create_only": (bool, PutOperation.model_fields["create_only"]),
    }
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"Put{model.__name__.removesuffix('Body')}",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"Create or replace the {kind.value} at `path` with `body`, what `PUT /v1{form}` takes.",
        **fields,
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
        if not _PATHS[key.kind].match(item.path):
            raise _refused(
                index,
                "path",
                f"'{item.path[:200]}' is not an object's path: names are 1-64 letters, digits, '.', '-' or '_' "
                f"(use one of {', '.join(PATH_FORMS)})",
            )
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
    """Put the schema of `TransactionIn` into the OpenAPI components (the route reads its body itself, off
    the loop): each operation is one of a put of each kind (its path's pattern, its body) or a delete."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            puts = [_put(kind) for kind in Kind]
            exact = create_model(
                "TransactionIn",
                __config__=ConfigDict(extra="forbid"),
                __doc__=TransactionIn.__doc__,
                operations=(list[Union[*puts, DeleteOperation]], TransactionIn.model_fields["operations"]),  # type: ignore[valid-type]
            )
            defs = TypeAdapter(exact).json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(defs.pop("$defs", {}))
            items = defs["properties"]["operations"]["items"]
            items["oneOf"] = items.pop("anyOf")  # the path patterns of the kinds exclude each other
            components["TransactionIn"] = defs
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
