"""Switches: the topology object, its compiled desired state (what the agent fetches) and the status the
agent reports back (observed, never merged into intent)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import WithJsonSchema

from ...controller import Controller, metrics
from ...fabric import Compiled
from ...fabric.delta import DELTA_IM
from ...model import Key, Kind, Model, Switch
from ..admission import Admission
from ..bodies import SwitchBody
from ..push import revisions
from ..schemas import STORED, AgentStatus, Page, SwitchOut
from ..strict_json import StrictJSONRoute
from .common import Actor, Ctl, Limit, MissingOk, Offset, SwitchName, delete_object, found, page, put_object

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/switches", tags=["switches"])


def _out(ctl: Controller, sw: Switch, statuses: dict[str, dict]) -> SwitchOut:
    compiled = ctl.compiled()
    etag = compiled.etag(sw.name)
    raw = statuses.get(sw.name)
    status = AgentStatus.model_validate(raw["status"], context=STORED) if raw else None
    in_sync = bool(status is not None and etag is not None and status.etag == etag)
    metrics.SWITCH_IN_SYNC.labels(switch=sw.name).set(1 if in_sync else 0)
    # The loopback from the compiled underlay: parsing the switch's whole document (MBs on a large leaf)
    # for one address made listing 68 switches cost a second.
    loopback = compiled.underlay.loopback.get(sw.name) if compiled.underlay is not None else None
    return SwitchOut(
        name=sw.name,
        role=sw.role.value,
        management_address=str(sw.management_address) if sw.management_address else None,
        loopback=loopback,
        etag=etag,
        in_sync=in_sync,
        status=status,
        last_seen=datetime.fromisoformat(raw["seen"]) if raw else None,
    )


@router.get("", response_model=Page[SwitchOut])
def list_switches(ctl: Ctl, limit: Limit = 100, offset: Offset = 0) -> Page[SwitchOut]:
    switches = ctl.snapshot().intent.topology.switches
    statuses = ctl.switch_statuses()
    return page((_out(ctl, switches[n], statuses) for n in sorted(switches)), limit, offset)


@router.get("/{name}", response_model=SwitchOut)
def get_switch(name: SwitchName, ctl: Ctl) -> SwitchOut:
    sw = found(ctl.snapshot().intent.topology.switches.get(name), f"switch {name}")
    return _out(ctl, sw, ctl.switch_statuses())


@router.put("/{name}", response_model=Switch, responses={201: {"model": Switch}})
def put_switch(name: SwitchName, body: SwitchBody, ctl: Ctl, actor: Actor, response: Response) -> Model:
    """Create or replace the switch. The path names it."""
    return put_object(ctl, Key(Kind.SWITCH, name=name), body, actor, response)


@router.delete("/{name}", status_code=204)
def delete_switch(name: SwitchName, ctl: Ctl, actor: Actor, missing_ok: MissingOk = False) -> Response:
    """Refused while links or interface-groups use the switch."""
    return delete_object(ctl, Key(Kind.SWITCH, name=name), actor, missing_ok)


MAX_WAIT = 120.0  # s: the longest long-poll a request may ask for


@router.get(
    "/{name}/desired-state",
    responses={
        200: {"description": "the switch's DesiredState (JSON)", "content": {"application/json": {}}},
        226: {
            "description": "with `A-IM: podswitch-delta`: the change as a DesiredDelta against the state whose ETag "
            "is in If-None-Match (named in Delta-Base), when the controller still has it (RFC 3229)",
            "content": {"application/json": {}},
        },
        304: {"description": "unchanged since the ETag in If-None-Match (after waiting up to `wait` seconds)"},
        429: {"description": "too many documents being sent or agents waiting; retry after Retry-After"},
    },
)
async def desired_state(
    name: SwitchName,
    request: Request,
    ctl: Ctl,
    if_none_match: Annotated[
        str | None,
        Header(description="the ETag the agent holds: 304 while it is current"),
        WithJsonSchema({"type": "string"}),
    ] = None,
    a_im: Annotated[
        str | None,
        Header(
            description=f"`{DELTA_IM}`: answer a change as a delta against the state named in If-None-Match "
            "(226 IM Used) when the controller still has that state; else the whole document (200)"
        ),
        WithJsonSchema({"type": "string"}),
    ] = None,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT,
            description="long-poll: with If-None-Match, wait up to this many seconds for the state to change "
            "and answer the moment it does (304 if it did not)",
        ),
    ] = 0,
) -> Response:
    """What the switch's agent must program. Compiled once per revision and shared by every agent that
    asks; `If-None-Match` with the ETag the agent holds answers 304 until this switch's state changes, and
    with `wait` the answer comes the moment it changes (push). Admission control bounds the documents sent
    at once and the agents waiting: beyond either, 429 with Retry-After."""
    found(ctl.snapshot().intent.topology.switches.get(name), f"switch {name}")
    admission: Admission = request.app.state.admission
    held = {t.strip() for t in if_none_match.split(",")} if if_none_match else set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    with admission.long_poll() if wait > 0 and held else contextlib.nullcontext():
        while True:
            started = loop.time()
            compiled = await run_in_threadpool(ctl.compiled)
            timing = f"compile;dur={(loop.time() - started) * 1000:.1f}"  # 0 unless this revision is new
            etag = compiled.etag(name)
            document = compiled.document(name)
            if etag is None or document is None:
                found(None, f"desired state of switch {name}")
            quoted = f'"{etag}"'
            if quoted not in held:
                if a_im is not None and DELTA_IM in a_im:
                    delta = _delta(compiled, name, held)
                    if delta is not None:
                        metrics.DESIRED_STATE.labels(answer="226").inc()
                        headers = {"ETag": quoted, "IM": DELTA_IM, "Delta-Base": delta[0], "Server-Timing": timing}
                        return Response(delta[1], 226, headers, media_type="application/json")
                metrics.DESIRED_STATE.labels(answer="200").inc()
                return admission.full_state(document, {"ETag": quoted, "Server-Timing": timing})  # type: ignore[arg-type]
            remaining = deadline - loop.time()
            if remaining <= 0 or not await revisions(ctl).beyond(compiled.revision, remaining):
                metrics.DESIRED_STATE.labels(answer="304").inc()
                return Response(status_code=304, headers={"ETag": quoted})


def _delta(compiled: Compiled, name: str, held: set[str]) -> tuple[str, bytes] | None:
    """(the held ETag, the delta from its state) for the first held ETag the compiled result knows."""
    for tag in held:
        if tag.startswith('"') and tag.endswith('"') and len(tag) > 1:
            delta = compiled.delta(name, tag[1:-1])
            if delta is not None:
                return tag, delta
    return None


@router.put("/{name}/status", status_code=204)
def put_status(name: SwitchName, body: AgentStatus, ctl: Ctl, actor: Actor) -> Response:
    """The agent's report after each reconcile: applied revision/ETag, errors, link states."""
    found(ctl.snapshot().intent.topology.switches.get(name), f"switch {name}")
    ctl.report_status(name, {"status": body.model_dump(mode="json"), "seen": datetime.now(UTC).isoformat()})
    return Response(status_code=204)


@router.get("/{name}/status", response_model=AgentStatus)
def get_status(name: SwitchName, ctl: Ctl) -> AgentStatus:
    raw = found(ctl.switch_statuses().get(name), f"status of switch {name}")
    return AgentStatus.model_validate(raw["status"], context=STORED)
