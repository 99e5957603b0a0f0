"""Switches: the topology object, its compiled desired state (what the agent fetches) and the status the
agent reports back (observed, never merged into intent)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError, WithJsonSchema

from ...controller import (
    DELTA_IM,
    FORMAT,
    FORMAT_HEADER,
    MAX_LONG_POLL,
    MAX_STATUS_HEADER,
    STATUS_HEADER,
    STATUS_REPORT_HEADER,
    Controller,
    Delta,
    Served,
    StoreUnavailable,
    metrics,
    negotiate,
)
from ...model import Key, Kind, Model, Switch
from ..admission import Admission
from ..auth import admin_of
from ..bodies import SwitchBody
from ..errors import Refused
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


MAX_WAIT = MAX_LONG_POLL  # s: the longest long-poll a request may ask for (the agent contract's bound)


@router.get(
    "/{name}/desired-state",
    responses={
        200: {"description": "the switch's DesiredState (JSON)", "content": {"application/json": {}}},
        226: {
            "description": "with `A-IM: podswitch-delta`: the change as a DesiredDelta against the state whose ETag "
            "is in If-None-Match (named in Delta-Base), when the controller still has it and serves the agent "
            "its own format (RFC 3229)",
            "content": {"application/json": {}},
        },
        304: {"description": "unchanged since the ETag in If-None-Match (after waiting up to `wait` seconds)"},
        401: {"description": f"{STATUS_HEADER} without the admin token"},
        406: {"description": f"the agent reads (`{FORMAT_HEADER}`) a format older than every one served"},
        429: {"description": "too many documents being sent or agents waiting; retry after Retry-After"},
    },
)
async def desired_state(
    name: SwitchName,
    request: Request,
    if_none_match: Annotated[
        str | None,
        Header(description="the ETag the agent holds: 304 while it is current"),
        WithJsonSchema({"type": "string"}),
    ] = None,
    state_format: Annotated[
        int | None,
        Header(
            alias=FORMAT_HEADER,
            ge=1,
            description="the desired-state format the agent reads: it gets the newest format served that is "
            "not newer (406 when it is older than all of them); without it, the newest",
        ),
        WithJsonSchema({"type": "integer", "minimum": 1}),
    ] = None,
    a_im: Annotated[
        str | None,
        Header(
            description=f"`{DELTA_IM}`: answer a change as a delta against the state named in If-None-Match "
            "(226 IM Used) when the controller still has that state and serves the agent its own format; "
            "else the whole document (200)"
        ),
        WithJsonSchema({"type": "string"}),
    ] = None,
    status_report: Annotated[
        str | None,
        Header(
            alias=STATUS_HEADER,
            description="the agent's status report (an AgentStatus as JSON, as PUT to /status takes it), "
            "stored before the answer, which says so in "
            f"{STATUS_REPORT_HEADER} (`stored`, or `failed`: send it again); needs the admin token",
        ),
        WithJsonSchema({"type": "string", "maxLength": MAX_STATUS_HEADER}),
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
    """What the switch's agent must program, in the format it reads (`X-Podswitch-State-Format`; the answer
    names the format served in the same header). Compiled once per revision and shared by every agent that
    asks; `If-None-Match` with the ETag the agent holds answers 304 until this switch's state changes, and
    with `wait` the answer comes the moment it changes (push). The ETag differs per format. With
    `A-IM: podswitch-delta`, a change may come as a delta against the state held (226, `fabric.delta`).
    Admission control bounds the documents sent at once and the agents waiting: beyond either, 429 with
    Retry-After. `Server-Timing: compile;dur=` is how long the answer's trip to the compiled state took (a
    catch-up, and the compile when the revision is new). The agent's status report may ride along
    (`X-Podswitch-Status`, see `fabric.state.STATUS_HEADER`): one request per change instead of two."""
    ctl: Controller = request.app.state.controller
    served = negotiate(state_format)  # an agent too old for this controller: 406 at once, before any wait
    # Refused before anything is done (401/403/422): a report is a write, and a bad one changes nothing.
    report = await _carried(request, status_report) if status_report is not None else None
    reported = "none"
    held = {t.strip() for t in if_none_match.split(",")} if if_none_match else set()
    # A delta only in this release's format (the one it compiles; an older agent never asks anyway), against
    # a strong ETag the agent holds (`Controller.desired_delta` checks it names a document like the current).
    bases = [t[1:-1] for t in sorted(held) if len(t) > 1 and t[0] == t[-1] == '"'] if served == FORMAT else []
    deltas = bool(bases) and a_im is not None and DELTA_IM in {i.split(";")[0].strip() for i in a_im.split(",")}
    loop = asyncio.get_running_loop()

    def fetch(refresh: bool) -> tuple[Served | None, Delta | None]:
        if deltas:
            return ctl.desired_delta(name, bases, served, refresh=refresh)
        return ctl.desired_state(name, served, refresh=refresh), None

    def fetch_and_store(refresh: bool) -> tuple[Served | None, Delta | None]:
        nonlocal reported
        got = fetch(refresh)
        found(ctl.snapshot().intent.topology.switches.get(name), f"switch {name}")  # caught up: 404 is final
        if report is not None:
            try:
                _store(ctl, name, report, via="poll")
                reported = "stored"
            except StoreUnavailable:  # the request is still answered, as every agent's is while the store is down
                reported = "failed"
        return got

    async def answer(refresh: bool = False) -> tuple[Served | None, Delta | None, str]:
        """(the document, the delta or None, Server-Timing): one trip to a worker thread, whose time is the
        compile's when this revision is new to the controller (about 0 otherwise); the first trip also stores
        the report the request carries."""
        started = loop.time()
        document, delta = await run_in_threadpool(fetch_and_store if refresh else fetch, refresh)
        return document, delta, f"compile;dur={(loop.time() - started) * 1000:.1f}"

    # One trip to a worker thread, not two (the `Ctl` dependency's catch-up check, then the compile): in a
    # storm of a thousand agents, the thousand checks queued for the threads ahead of the one compile that
    # everyone waits for, and held it back by seconds.
    current, delta, timing = await answer(refresh=True)
    admission: Admission = request.app.state.admission
    deadline = loop.time() + wait
    with admission.long_poll() if wait > 0 and held else contextlib.nullcontext():
        while True:
            document = found(current, f"desired state of switch {name}")
            quoted = f'"{document.validator()}"'
            # Vary: caches (and people reading a capture) must not answer one format with another.
            headers = {"ETag": quoted, FORMAT_HEADER: str(served), "Vary": FORMAT_HEADER}
            headers[STATUS_REPORT_HEADER] = reported
            if quoted not in held:
                metrics.DESIRED_STATE_FORMATS.labels(format=str(served)).inc()
                if delta is not None:  # small (the few items that changed): no admission slot
                    metrics.DESIRED_STATE.labels(answer="226").inc()
                    more = {"IM": DELTA_IM, "Delta-Base": f'"{delta.base}"', "Server-Timing": timing}
                    return Response(delta.json, 226, headers | more, media_type="application/json")
                metrics.DESIRED_STATE.labels(answer="200").inc()
                return admission.full_state(document.json(), headers | {"Server-Timing": timing})
            remaining = deadline - loop.time()
            if remaining <= 0 or not await revisions(ctl).beyond(document.revision, remaining):
                metrics.DESIRED_STATE.labels(answer="304").inc()
                return Response(status_code=304, headers=headers)
            current, delta, timing = await answer()


async def _carried(request: Request, text: str) -> AgentStatus:
    """The status report a desired-state request carries, checked as the PUT's body is."""
    await admin_of(request)
    try:
        return AgentStatus.model_validate_json(text)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise Refused(
            422, f"{STATUS_HEADER}: {where + ': ' if where else ''}{first['msg']}", field=STATUS_HEADER
        ) from None


def _store(ctl: Controller, name: str, status: AgentStatus, via: str) -> None:
    """Store a switch's report, counted by `via` (how it came) and whether it was stored."""
    try:
        ctl.report_status(name, {"status": status.model_dump(mode="json"), "seen": datetime.now(UTC).isoformat()})
    except StoreUnavailable:
        metrics.STATUS_REPORTS.labels(via=via, result="failed").inc()
        raise
    metrics.STATUS_REPORTS.labels(via=via, result="stored").inc()


@router.put("/{name}/status", status_code=204)
def put_status(name: SwitchName, body: AgentStatus, ctl: Ctl, actor: Actor) -> Response:
    """The agent's report after each reconcile: applied revision/ETag, errors, link states. (An agent may
    carry it on its next desired-state request instead.)"""
    found(ctl.snapshot().intent.topology.switches.get(name), f"switch {name}")
    _store(ctl, name, body, via="put")
    return Response(status_code=204)


@router.get("/{name}/status", response_model=AgentStatus)
def get_status(name: SwitchName, ctl: Ctl) -> AgentStatus:
    raw = found(ctl.switch_statuses().get(name), f"status of switch {name}")
    return AgentStatus.model_validate(raw["status"], context=STORED)
