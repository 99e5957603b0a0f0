"""Response shapes of the API that are not intent objects themselves (those are the model's own)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class ErrorDetail(BaseModel):
    message: str
    object: str | None = Field(default=None, description="the object concerned, as the running-config names it")
    field: str | None = Field(default=None, description="the offending field")
    model_config = {"extra": "allow"}


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": why}
    for status, why in (
        (400, "the body is not well-formed JSON"),
        (401, "no bearer token on a write"),
        (403, "not the admin token"),
        (404, "no such object"),
        (409, "conflicts with other objects, or still referenced"),
        (413, "too large"),
        (422, "invalid input; names the field (or line:column of running-config text)"),
        (429, "too many requests; retry after Retry-After"),
    )
}


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class Revision(BaseModel):
    revision: int
    created_at: datetime
    actor: str
    operation: str
    summary: str
    change_count: int


class ChangeOut(BaseModel):
    kind: str
    object: str = Field(description="the object, as the running-config names it")
    key: dict[str, str]
    operation: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class RevisionDetail(Revision):
    changes: Page[ChangeOut]


class WriteResult(BaseModel):
    revision: int = Field(description="the revision the intent is at after this request")
    changed: bool = Field(description="false when the request matched what was already there")
    summary: str = ""
    counts: dict[str, dict[str, int]] = Field(default_factory=dict, description="kind -> {created, updated, deleted}")


class PlanOut(BaseModel):
    dry_run: bool = True
    revision: int = Field(description="the revision the plan was computed against")
    empty: bool
    counts: dict[str, dict[str, int]]
    diff: str = Field(description="unified diff of the running-config text")


class Unresolved(BaseModel):
    object: str
    field: str | None
    message: str


class AgentStatus(BaseModel):
    """What a switch agent reports after each reconcile."""

    applied_revision: int | None = None
    etag: str | None = Field(default=None, max_length=128)
    errors: list[str] = Field(default_factory=list, max_length=1000)
    links: dict[str, str] = Field(default_factory=dict)
    writes: int = Field(default=0, ge=0)
    reconciled_at: datetime | None = None
    agent: dict[str, Any] = Field(default_factory=dict)


class SwitchOut(BaseModel):
    name: str
    role: str
    management_address: str | None
    loopback: str | None = Field(description="VTEP address (leaves)")
    etag: str | None = Field(description="ETag of the desired state now")
    in_sync: bool = Field(description="the agent reports having applied the current desired state")
    status: AgentStatus | None
    last_seen: datetime | None
