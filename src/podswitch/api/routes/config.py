"""The whole intent as running-config text: read it, replace it atomically, or plan a replacement."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from pydantic import WithJsonSchema

from ...config import decode, render
from ...model import unresolved
from ..admission import Admission
from ..errors import Refused
from ..limits import read_body
from ..push import revisions
from ..schemas import PlanOut, Unresolved, WriteResult, json_errors
from ..strict_json import StrictJSONRoute
from .common import CONDITIONAL, REVISION_HEADER, Actor, Ctl, DryRun, IfMatch, answer, etag

router = APIRouter(route_class=StrictJSONRoute, tags=["running-config"])

# The grammar of running-config text is no JSON Schema: the body has a format of our own, which names it
# (tests/strategies.py draws texts of it for the API fuzzer). What a schema can say, it says: the text is
# not empty or blank, which the server refuses on purpose (`!` removes everything deliberately).
RUNNING_CONFIG_SCHEMA = {
    "type": "string",
    "format": "running-config",
    "minLength": 1,
    "pattern": "[^\\t\\n\\v\\f\\r ]",
    "description": "format running-config: the whole intent as running-config text (docs/config-language.md): "
    "UTF-8, LF or CR LF line ends, two-space indentation, `!` closing a block; every object valid, every "
    "reference resolved (else 422 naming line:column, or 409). Not empty or blank: to remove all intent on "
    "purpose, send `!`.",
    "example": "tenant demo\n  origination openstack\n!\n",
}
TEXT_BODY = {"requestBody": {"required": True, "content": {"text/plain": {"schema": RUNNING_CONFIG_SCHEMA}}}}


@router.get(
    "/v1/running-config",
    response_class=PlainTextResponse,
    responses={
        **json_errors(e429="too many clients waiting; retry after Retry-After"),
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        304: {"description": "still at the revision in If-None-Match (after waiting up to `wait` seconds)"},
    },
)
async def get_running_config(
    request: Request,
    ctl: Ctl,
    if_none_match: Annotated[
        str | None,
        Header(description='the ETag of the revision the client holds, e.g. `"42"`: 304 while it is current'),
        WithJsonSchema({"type": "string"}),
    ] = None,
    wait: Annotated[
        float,
        Query(ge=0, le=120, description="with If-None-Match: wait up to this many seconds for the next revision"),
    ] = 0,
) -> Response:
    """The whole intent as running-config text, with its revision as ETag. With `If-None-Match` naming the
    current revision, 304; with `wait` as well, the answer comes the moment the intent changes (a watcher
    such as the lab follows the intent without polling)."""
    snap = ctl.snapshot()
    held = {t.strip() for t in if_none_match.split(",")} if if_none_match else set()
    if etag(snap.revision) in held:
        admission: Admission = request.app.state.admission
        with admission.long_poll() if wait > 0 else contextlib.nullcontext():
            if wait <= 0 or not await revisions(ctl).beyond(snap.revision, wait):
                return Response(status_code=304, headers={"ETag": etag(snap.revision)})
        snap = ctl.snapshot()
    text = await run_in_threadpool(render, snap.intent)  # 25 MB at the sized-for scale: not on the loop
    return PlainTextResponse(text, headers={REVISION_HEADER: str(snap.revision), "ETag": etag(snap.revision)})


@router.put(
    "/v1/running-config",
    response_model=WriteResult | PlanOut,
    openapi_extra=TEXT_BODY,
    responses=CONDITIONAL,
)
async def put_running_config(
    request: Request,
    ctl: Ctl,
    actor: Actor,
    response: Response,
    if_revision: IfMatch,
    dry_run: DryRun = False,
) -> WriteResult | PlanOut:
    """Replace ALL intent with the text, atomically: every object is validated first and either the whole
    text becomes the new revision or nothing changes. Errors give `line:column`.

    With `If-Match: "<revision>"` (the ETag of a GET, or the revision of a dry-run plan) the text is applied
    only if nobody changed the intent since — what you planned is exactly what is applied; otherwise 412."""
    raw = await read_body(request)
    if not raw.strip():
        raise Refused(
            422,
            "the body is empty: a running-config replaces ALL intent; to remove everything on purpose, send '!'",
            field="running-config",
        )
    # The one definition of running-config text (config/text.py), as `podswitch config check` reads a file:
    # strict UTF-8, LF or CR LF, ASCII space the only blank; anything else is an error at line:column.
    text = await run_in_threadpool(decode, raw)
    outcome = await run_in_threadpool(ctl.replace, text, actor=actor, dry_run=dry_run, if_revision=if_revision)
    return answer(outcome, response, dry_run)


@router.get("/v1/unresolved", response_model=list[Unresolved])
def get_unresolved(ctl: Ctl) -> list[Unresolved]:
    """References the fabric cannot realise yet, e.g. an interface-group Neutron bound before the topology
    has it. They resolve by themselves when the missing object appears."""
    return [Unresolved(object=p.object, field=p.field, message=p.message) for p in unresolved(ctl.snapshot().intent)]
