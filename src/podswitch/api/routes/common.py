"""What every resource route shares: the controller, paging, and answering a write."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, WithJsonSchema

from ...controller import Controller, Outcome
from ...model import Change, Key, Model
from ..auth import require_admin
from ..bodies import LINK_NAME_PATTERN, NAME_PATTERN, obj
from ..errors import Refused
from ..schemas import Page, PlanOut, WriteResult

T = TypeVar("T")
REVISION_HEADER = "X-Podswitch-Revision"

Actor = Annotated[str, Depends(require_admin)]
Limit = Annotated[int, Query(ge=1, le=10000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]
MissingOk = Annotated[bool, Query(description="answer 204 when it is already gone (idempotent delete)")]
DryRun = Annotated[bool, Query(description="only return the plan")]
CONDITIONAL: dict[int | str, dict[str, Any]] = {
    412: {"description": "If-Match names a revision that is no longer current; nothing changed"}
}

# Object names in paths, as the model writes them (the schema says exactly what the server takes).
TenantName = Annotated[str, Path(pattern=NAME_PATTERN, description="tenant name")]
SegmentName = Annotated[str, Path(pattern=NAME_PATTERN, description="segment name")]
SwitchName = Annotated[str, Path(pattern=NAME_PATTERN, description="switch name")]
EndpointId = Annotated[str, Path(pattern=NAME_PATTERN, description="endpoint id (a Neutron port id)")]
GroupName = Annotated[str, Path(pattern=NAME_PATTERN, description="interface-group name")]
LinkName = Annotated[
    str,
    Path(pattern=LINK_NAME_PATTERN, description="the link's two ends, SWITCH:INTERFACE-SWITCH:INTERFACE, in order"),
]
VlanNumber = Annotated[int, Path(ge=1, le=4094, description="VLAN tag on the interface-group's ports")]
# `*`, or one revision, quoted as an ETag or bare; around it only what HTTP calls blanks (space, tab).
IF_MATCH_PATTERN = r'^[ \t]*(\*|[0-9]{1,18}|"[0-9]{1,18}")[ \t]*$'


def if_match(
    if_match: Annotated[
        str | None,
        Header(
            pattern=IF_MATCH_PATTERN,
            description="only if the intent is still at this revision: the ETag of GET /v1/running-config or "
            'the revision of a dry-run plan, e.g. `"42"`; otherwise 412 and nothing changes',
        ),
        WithJsonSchema({"type": "string", "pattern": IF_MATCH_PATTERN}),  # a header is text or absent, never null
    ] = None,
) -> int | None:
    """The revision a conditional write expects (`*` or no header: unconditional)."""
    if if_match is None or if_match.strip(" \t") == "*":
        return None
    tag = if_match.strip(" \t")
    if tag.startswith('"') and tag.endswith('"') and len(tag) >= 2:
        tag = tag[1:-1]
    if not tag.isascii() or not tag.isdigit() or len(tag) > 18:
        raise Refused(
            422, f"If-Match must be one revision as an ETag, e.g. '\"42\"', not '{if_match[:40]}'", field="If-Match"
        )
    return int(tag)


IfMatch = Annotated[int | None, Depends(if_match)]


def etag(revision: int) -> str:
    return f'"{revision}"'


def controller(request: Request) -> Controller:
    """The controller, caught up with revisions other controller processes committed to a shared store
    (one cheap query for the head revision; nothing else when nothing changed)."""
    ctl: Controller = request.app.state.controller
    ctl.refresh()
    return ctl


Ctl = Annotated[Controller, Depends(controller)]


def page(items: Iterable[T], limit: int, offset: int, total: int | None = None) -> Page[T]:
    items = list(items)
    return Page(
        items=items[offset : offset + limit], total=len(items) if total is None else total, limit=limit, offset=offset
    )


def sorted_values(mapping: dict[str, T]) -> list[T]:
    return [mapping[k] for k in sorted(mapping)]


def found(obj: T | None, what: str) -> T:
    if obj is None:
        raise Refused(404, f"{what} does not exist", object=what)
    return obj


def counts(changes: list[Change]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for c in changes:
        per = out.setdefault(c.key.kind.value, {"created": 0, "updated": 0, "deleted": 0})
        per[c.operation + "d"] += 1
    return out


def answer(outcome: Outcome, response: Response, dry_run: bool) -> WriteResult | PlanOut:
    """A write's answer: its plan for a dry run, else what it did (with the revision as ETag too)."""
    if dry_run:
        assert outcome.plan is not None
        return PlanOut(
            revision=outcome.revision,
            empty=outcome.plan.is_empty,
            counts=counts(outcome.changes),
            diff=outcome.plan.text_diff,
        )
    response.headers["ETag"] = etag(outcome.revision)
    return written(outcome, response)


def written(outcome: Outcome, response: Response) -> WriteResult:
    response.headers[REVISION_HEADER] = str(outcome.revision)
    return WriteResult(
        revision=outcome.revision,
        changed=outcome.changed,
        summary=outcome.info.summary if outcome.info else "no change",
        counts=counts(outcome.changes),
    )


def put_object(
    ctl: Controller, key: Key, body: BaseModel, actor: str, response: Response, create_only: bool = False
) -> Model:
    """PUT is an idempotent upsert (201 when it created, 200 otherwise); POST creates only (409 if there).
    `body` is the object, or (PUT on the object's own path) the object without what its path names."""
    new = obj(key, body)
    outcome = ctl.put_object(key, new, actor=actor, create_only=create_only)
    response.headers[REVISION_HEADER] = str(outcome.revision)
    created = any(c.key == key and c.before is None for c in outcome.changes)
    response.status_code = 201 if created else 200
    return new


def delete_object(ctl: Controller, key: Key, actor: str, missing_ok: bool) -> Response:
    outcome = ctl.delete_object(key, actor=actor, missing_ok=missing_ok)
    return Response(status_code=204, headers={REVISION_HEADER: str(outcome.revision)})
