"""Response shapes of the API that are not intent objects themselves (those are the model's own)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

T = TypeVar("T")
MAX_REVISION = 2**62  # revisions are 64-bit integers in every store
# The largest integer a JSON body carries: beyond 2**53, many JSON readers (and float-based generators)
# lose precision (I-JSON, RFC 7493).
MAX_JSON_INTEGER = 2**53 - 1


# A status is checked strictly when an agent reports it; one read back from the store (`STORED`) was
# checked when it was reported, perhaps by an older controller, and is shown as it is.
STORED = {"stored": True}


def _is_stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def _whole(low: int, high: int) -> Any:
    """What JSON Schema calls an integer, from low to high: an int, or a number without a fraction part
    (`3.0`); not a JSON boolean or a string of digits (which pydantic's lax int would take)."""

    def check(value: Any, info: ValidationInfo) -> Any:
        if _is_stored(info):
            return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise PydanticCustomError("whole", f"must be a whole number from {low} to {high}")
        return value

    return Annotated[int, BeforeValidator(check), WithJsonSchema({"type": "integer", "minimum": low, "maximum": high})]


# RFC 3339 `date-time` (JSON Schema's format) as pydantic reads it: `T` between date and time, seconds
# without a leap second (60), an offset or `Z`, no year 0. Pydantic alone would also take a bare date, no
# offset, a space for `T`, or a number of seconds since 1970.
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
_SECONDS = "[0-9]{2}:[0-9]{2}:[0-5][0-9](?:[.][0-9]+)?"
TIMESTAMP_PATTERN = f"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}[Tt]{_SECONDS}(?:[Zz]|[+-][0-9]{{2}}:[0-9]{{2}})$"
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


def _timestamp(value: Any, info: ValidationInfo) -> Any:
    if _is_stored(info) or isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        raise PydanticCustomError(
            "timestamp", "must be an RFC 3339 date-time with an offset, like 2024-05-01T12:00:00Z"
        )
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}),
]


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
        (503, "the database is unreachable, read-only or failing; retry after Retry-After"),
        (507, "the database is full; nothing was written"),
    )
}


def json_errors(**descriptions: str) -> dict[int | str, dict[str, Any]]:
    """The error answers for a route whose own answers are not JSON (running-config text): FastAPI would
    document its errors in the route's media type, but they are JSON like everywhere else. `descriptions`
    (`e429="..."`) says what a status means on that route."""
    schema = {"$ref": "#/components/schemas/ErrorResponse"}
    return {
        status: {
            "description": descriptions.get(f"e{status}", response["description"]),
            "content": {"application/json": {"schema": schema}},
        }
        for status, response in ERROR_RESPONSES.items()
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

    applied_revision: _whole(0, MAX_JSON_INTEGER) | None = None  # type: ignore[valid-type]
    etag: str | None = Field(default=None, max_length=128)
    errors: list[str] = Field(default_factory=list, max_length=1000)
    links: dict[str, str] = Field(default_factory=dict)
    writes: _whole(0, MAX_JSON_INTEGER) = 0  # type: ignore[valid-type]
    reconciled_at: Timestamp | None = None
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
