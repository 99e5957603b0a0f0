"""The controllers sharing this controller's database, and which of them runs the background duties."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ..strict_json import StrictJSONRoute
from .common import Ctl

router = APIRouter(route_class=StrictJSONRoute, tags=["cluster"])


class ControllerOut(BaseModel):
    id: str = Field(description="host, process id and a random suffix")
    address: str = Field(description="where it answers, as it was started (host:port)")
    revision: int = Field(description="the intent revision its snapshot was at when last seen")
    leader: bool = Field(description="it held the background duties lease when last seen")
    started_at: datetime
    seen_at: datetime
    seconds_since_seen: float = Field(description="a live controller refreshes this every second or so")


@router.get("/v1/controllers", response_model=list[ControllerOut])
def list_controllers(ctl: Ctl) -> list[ControllerOut]:
    """Every controller process announcing itself on this database (`podswitch serve`; an embedded or test
    controller without background duties is not listed). Exactly one live one is the leader."""
    now = datetime.now(UTC)
    return [
        ControllerOut(
            id=c.id,
            address=c.address,
            revision=c.revision,
            leader=c.leader,
            started_at=c.started_at,
            seen_at=c.seen_at,
            seconds_since_seen=round((now - c.seen_at).total_seconds(), 3),
        )
        for c in ctl.controllers()
    ]
